//! `sumac-cli`: headless SPICE tools built on Sumac's runtime (no GTK, no display).
//!
//! - `sumac-cli screenshot URI -o out.png`: the first complete frame, exactly the server's pixels.
//! - `sumac-cli stats URI --seconds N [--until-eof]`: bytes and messages per channel (like spicy-stats)
//!   and display/stream counters.
//! - `sumac-cli record URI -o s.spicerec` / `sumac-cli replay s.spicerec --screenshot out.png`.
//! - `sumac-cli qmp URI '{"execute":"query-status"}'`: QEMU's monitor over the QMP port channel.
//! - `sumac-cli console URI [--port NAME]`: standard input and output on a port (serial console).
//! - `sumac-cli share URI --spice-shared-dir DIR`: a session sharing a folder until stdin ends.

#[path = "sumac-cli/ports.rs"]
mod ports;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use sumac::client::config::{CaSource, SecureChannels};
use sumac::client::record::Recorder;
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::display::{DisplayEvent, DisplayState};
use sumac::proto::channel::display::image_compression;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Parser, Debug)]
#[command(name = "sumac-cli", version, about = "Headless SPICE client tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Connection options shared with the GUI (remote-viewer's `--spice-*` names).
#[derive(Args, Debug, Clone)]
struct ConnectArgs {
    /// spice://host:port, spice://host?port=..&tls-port=..&password=.., spice+tls://host:port, spice+unix:///path,
    /// a .vv connection file, or - (a .vv file on standard input). SPICE_PROXY=http://[user:pass@]host:port
    /// sets an HTTP CONNECT proxy (a .vv `proxy` key wins).
    #[arg(value_name = "URI|FILE.vv|-")]
    uri: String,
    /// CA certificate(s) to trust for TLS (PEM file).
    #[arg(long = "spice-ca-file", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Expected subject of the server certificate, e.g. "C=XX,O=Org,CN=host" (replaces the host-name check).
    #[arg(long = "spice-host-subject", value_name = "SUBJECT")]
    host_subject: Option<String>,
    /// Channels that must use TLS: main,display,inputs,cursor,playback,record,usbredir or all.
    #[arg(long = "spice-secure-channels", value_name = "LIST")]
    secure_channels: Option<String>,
    /// Image compression to ask the server for: auto-glz, auto-lz, quic, glz, lz, lz4 or off.
    #[arg(long = "spice-preferred-compression", value_name = "KIND")]
    preferred_compression: Option<String>,
    /// Share this folder with the guest (the webdav channel; spice-webdavd in the guest).
    #[arg(long = "spice-shared-dir", value_name = "DIR")]
    shared_dir: Option<PathBuf>,
    /// The shared folder is read-only for the guest.
    #[arg(long = "spice-shared-dir-ro")]
    shared_dir_read_only: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect, wait for the first complete frame of a monitor, save it as PNG.
    Screenshot {
        #[command(flatten)]
        connect: ConnectArgs,
        /// Output PNG file.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Monitor index (heads of display channel 0, then of the next channels).
        #[arg(long, default_value_t = 0)]
        monitor: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Record every message the server sends for N seconds into a .spicerec file.
    Record {
        #[command(flatten)]
        connect: ConnectArgs,
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Replay a .spicerec file through the display pipeline, without a server.
    Replay {
        recording: PathBuf,
        /// Save this monitor's image at the end (or after --mark) as PNG.
        #[arg(long, value_name = "FILE")]
        screenshot: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        monitor: usize,
        /// Stop after the N-th MARK of display channel 0.
        #[arg(long)]
        mark: Option<u64>,
    },
    /// Print bytes and messages per channel, and what the display channels drew, after N seconds
    /// (or when the server ends the session).
    Stats {
        #[command(flatten)]
        connect: ConnectArgs,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Also stop when standard input reaches end of file (lets a script end the run).
        #[arg(long)]
        until_eof: bool,
    },
    /// Run QMP commands over the port channel `org.qemu.monitor.qmp.0` (QEMU's monitor) and
    /// print each answer as one JSON line.
    Qmp {
        #[command(flatten)]
        connect: ConnectArgs,
        /// QMP commands, e.g. '{"execute":"query-status"}' (ids are added).
        #[arg(value_name = "JSON", required = true)]
        commands: Vec<String>,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Connect standard input and output to a port channel (a serial console, QEMU's HMP).
    Console {
        #[command(flatten)]
        connect: ConnectArgs,
        /// The port's name.
        #[arg(long, default_value = "org.qemu.console.serial.0")]
        port: String,
        /// Give up if the port does not appear within this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// After standard input ends, keep printing the port's output this many seconds.
        #[arg(long, default_value_t = 1)]
        linger: u64,
    },
    /// Keep a session that shares --spice-shared-dir with the guest, until standard input
    /// ends (or --seconds pass).
    Share {
        #[command(flatten)]
        connect: ConnectArgs,
        #[arg(long)]
        seconds: Option<u64>,
    },
}

fn parse_compression(s: &str) -> Result<u8> {
    Ok(match s {
        "auto-glz" => image_compression::AUTO_GLZ,
        "auto-lz" => image_compression::AUTO_LZ,
        "quic" => image_compression::QUIC,
        "glz" => image_compression::GLZ,
        "lz" => image_compression::LZ,
        "lz4" => image_compression::LZ4,
        "off" => image_compression::OFF,
        other => bail!("unknown compression {other:?}; use auto-glz, auto-lz, quic, glz, lz, lz4 or off"),
    })
}

/// The connection a URI, a `.vv` file or `-` (a `.vv` on stdin) names, and the
/// channels the `.vv` disables. A `.vv` with `delete-this-file=1` is deleted
/// once read (unless VIRT_VIEWER_KEEP_FILE is set).
fn connection_from(target: &str) -> Result<(ConnectionConfig, Vec<sumac::proto::ChannelType>)> {
    use sumac::client::vv::{VvFile, VvSource};
    let vv = match sumac::cli::Target::from_arg(target) {
        sumac::cli::Target::Uri(uri) => return Ok((ConnectionConfig::from_uri(&uri)?, Vec::new())),
        sumac::cli::Target::VvFile(path) => {
            VvFile::load(&VvSource::Path(path.clone())).with_context(|| format!("{}", path.display()))?
        }
        sumac::cli::Target::Stdin => VvFile::load(&VvSource::Stdin).context("standard input")?,
    };
    Ok((vv.connection, vv.disable_channels))
}

fn build(args: &ConnectArgs) -> Result<(ConnectionConfig, SessionOptions)> {
    let (mut cfg, disabled_channels) = connection_from(&args.uri)?;
    if let Some(f) = &args.ca_file {
        cfg.ca = Some(CaSource::File(f.clone()));
    }
    if let Some(s) = &args.host_subject {
        cfg.host_subject = Some(s.clone());
    }
    if let Some(list) = &args.secure_channels {
        cfg.secure_channels = SecureChannels::parse(list)?;
    }
    let mut opts = SessionOptions {
        disabled_channels,
        shared_folder: args
            .shared_dir
            .as_ref()
            .map(|d| sumac::client::sharing::SharedFolder::new(d, args.shared_dir_read_only)),
        ..SessionOptions::default()
    };
    if let Some(c) = &args.preferred_compression {
        opts.preferred_compression = Some(parse_compression(c)?);
    }
    Ok((cfg, opts))
}

fn next_event(rx: &mut UnboundedReceiver<SessionEvent>, deadline: Instant) -> Option<SessionEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .ok()?;
    let left = deadline.saturating_duration_since(Instant::now());
    rt.block_on(async { tokio::time::timeout(left, rx.recv()).await.ok().flatten() })
}

/// Monitor `index` counted over the display channels in id order (the heads of
/// channel 0 first); a channel without MONITORS_CONFIG counts as one monitor
/// showing its primary surface. Returns (width, height, RGB rows).
fn crop_monitor(states: &[(u8, &DisplayState)], index: usize) -> Result<(u32, u32, Vec<u8>)> {
    let mut seen = 0usize;
    for (ch, state) in states {
        let rects: Vec<(u32, u32, u32, u32, u32)> = if state.monitors().is_empty() {
            match state.primary() {
                Some((id, s)) => vec![(id, 0, 0, s.width, s.height)],
                None => vec![],
            }
        } else {
            state
                .monitors()
                .iter()
                .map(|h| (h.surface_id, h.x, h.y, h.width, h.height))
                .collect()
        };
        for (surface_id, x, y, w, h) in rects {
            if seen == index {
                let surface = state.surface(surface_id).ok_or_else(|| {
                    anyhow!("monitor {index} (display channel {ch}) shows surface {surface_id}, which does not exist")
                })?;
                let rgb = surface.to_rgb();
                let (sw, sh) = (surface.width, surface.height);
                let (x, y) = (x.min(sw), y.min(sh));
                let (w, h) = (w.min(sw - x), h.min(sh - y));
                let mut out = Vec::with_capacity(w as usize * h as usize * 3);
                for row in y..y + h {
                    let start = (row as usize * sw as usize + x as usize) * 3;
                    out.extend_from_slice(rgb.get(start..start + w as usize * 3).context("surface too small")?);
                }
                return Ok((w, h, out));
            }
            seen += 1;
        }
    }
    bail!("no monitor {index} (the server shows {seen})")
}

fn live_states(session: &SessionHandle) -> Vec<(u8, std::sync::Arc<std::sync::Mutex<DisplayState>>)> {
    (0..=u8::MAX)
        .filter_map(|ch| session.display(ch).map(|s| (ch, s)))
        .collect()
}

/// Runs `f` over the locked display states of a live session.
fn with_states<T>(session: &SessionHandle, f: impl FnOnce(&[(u8, &DisplayState)]) -> T) -> Result<T> {
    let states = live_states(session);
    let guards = states
        .iter()
        .map(|(ch, s)| {
            s.lock()
                .map(|g| (*ch, g))
                .map_err(|_| anyhow!("display state poisoned"))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<(u8, &DisplayState)> = guards.iter().map(|(ch, g)| (*ch, &**g)).collect();
    Ok(f(&refs))
}

fn screenshot(args: ConnectArgs, output: PathBuf, monitor: usize, timeout: u64) -> Result<()> {
    let (cfg, opts) = build(&args)?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    loop {
        let Some(ev) = next_event(&mut rx, deadline) else {
            bail!("no complete frame of monitor {monitor} within {timeout} s");
        };
        match ev {
            SessionEvent::Display {
                event: DisplayEvent::Mark,
                ..
            } => {
                // Not ready yet (monitor not configured or surface missing): wait for the next MARK.
                if let Ok((w, h, rgb)) = with_states(&session, |st| crop_monitor(st, monitor))? {
                    write_png(&output, w, h, &rgb)?;
                    session.disconnect();
                    return Ok(());
                }
            }
            SessionEvent::Disconnected { error } => {
                return Err(match error {
                    Some(e) => anyhow!("{e}"),
                    None => anyhow!("the session ended before a frame arrived"),
                });
            }
            SessionEvent::ChannelDown {
                channel,
                error: Some(e),
            } if channel.channel_type == sumac::proto::ChannelType::DISPLAY => {
                return Err(anyhow!("{e}"));
            }
            _ => {}
        }
    }
}

fn write_png(path: &PathBuf, w: u32, h: u32, rgb: &[u8]) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().context("PNG header")?;
    writer.write_image_data(rgb).context("PNG data")?;
    writer.finish().context("PNG finish")?;
    Ok(())
}

/// How long `stats` lets session events gather between two wakeups (the GTK
/// session's `EVENT_BATCH`).
const EVENT_BATCH: Duration = Duration::from_millis(2);

fn stats(args: ConnectArgs, seconds: u64, until_eof: bool) -> Result<()> {
    let (cfg, opts) = build(&args)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    // One runtime for the whole run: the loop wakes for every display event.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("tokio runtime")?;
    let (eof_tx, mut eof_rx) = tokio::sync::oneshot::channel::<()>();
    // Without --until-eof the sender is kept here, unused, so `eof_rx` never fires.
    let _unused_eof_tx = if until_eof {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = eof_tx.send(());
        });
        None
    } else {
        Some(eof_tx)
    };
    let error = rt.block_on(async {
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(SessionEvent::Disconnected { error }) => return error,
                    Some(_) => {}
                    None => return None,
                },
                () = &mut sleep => return None,
                _ = &mut eof_rx => return None,
            }
            // Consume like the GTK session does: everything queued in one
            // wakeup, then let the next events gather for EVENT_BATCH, so a
            // burst of draws costs one wakeup of this thread, not one each.
            loop {
                match rx.try_recv() {
                    Ok(SessionEvent::Disconnected { error }) => return error,
                    Ok(_) => {}
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return None,
                }
            }
            tokio::time::sleep(EVENT_BATCH).await;
        }
    });
    let snapshot = session.stats();
    println!(
        "{:<12} {:>3} {:>4} {:>14} {:>10} {:>14} {:>10} {:>8}",
        "channel", "id", "tls", "bytes-read", "msgs-read", "bytes-written", "msgs-sent", "skipped"
    );
    for s in snapshot {
        println!(
            "{:<12} {:>3} {:>4} {:>14} {:>10} {:>14} {:>10} {:>8}",
            s.key.channel_type.to_string(),
            s.key.id,
            if s.tls { "yes" } else { "no" },
            s.bytes_read,
            s.messages_read,
            s.bytes_written,
            s.messages_written,
            s.messages_skipped
        );
    }
    with_states(&session, |states| {
        for (ch, st) in states {
            let d = st.stats();
            let v = st.stream_stats();
            println!(
                "display {ch}: {} messages, {} draws applied, {} dropped, {} images decoded, {} errors; \
                 streams {} created, frames {} received, {} rendered, {} late, {} overflow, {} failed",
                d.messages,
                d.draws_applied,
                d.draws_dropped,
                d.images.decoded,
                d.total_errors(),
                v.created,
                v.frames_received,
                v.frames_rendered,
                v.frames_late,
                v.frames_overflow,
                v.frames_failed
            );
        }
        // One image cache per session: print it once.
        if let Some((_, st)) = states.first() {
            let i = &st.stats().images;
            let cache = st.image_cache();
            println!(
                "image cache: {} entries, {} bytes held (peak {}, budget {}), {} bytes of memory ({} packed, {} encoded); \
                 {} stored, {} replaced, {} hits, {} misses, {} invalidated, {} evicted",
                cache.len(),
                cache.used_bytes(),
                cache.peak_bytes(),
                cache.budget(),
                cache.memory_bytes(),
                cache.packed_count(),
                cache.encoded_count(),
                i.cache_inserts,
                i.cache_replaces,
                i.cache_hits,
                i.cache_misses,
                i.cache_invalidated,
                i.cache_evictions
            );
        }
    })?;
    session.disconnect();
    match error {
        Some(e) => Err(anyhow!("{e}")),
        None => Ok(()),
    }
}

fn record(args: ConnectArgs, output: PathBuf, seconds: u64) -> Result<()> {
    let (cfg, mut opts) = build(&args)?;
    let recorder =
        std::sync::Arc::new(Recorder::create(&output).with_context(|| format!("cannot create {}", output.display()))?);
    opts.recorder = Some(std::sync::Arc::clone(&recorder));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    let mut error = None;
    while let Some(ev) = next_event(&mut rx, deadline) {
        if let SessionEvent::Disconnected { error: e } = ev {
            error = e;
            break;
        }
    }
    session.disconnect();
    recorder.flush()?;
    eprintln!("recorded {} s into {}", seconds, output.display());
    match error {
        Some(e) => Err(anyhow!("{e}")),
        None => Ok(()),
    }
}

fn replay(recording: PathBuf, screenshot: Option<PathBuf>, monitor: usize, mark: Option<u64>) -> Result<()> {
    let file = std::fs::File::open(&recording).with_context(|| format!("cannot open {}", recording.display()))?;
    let r = sumac::client::replay::replay(std::io::BufReader::new(file), mark)?;
    println!(
        "replayed {} display messages, {} frames (MARK), {} undecodable",
        r.messages, r.marks, r.decode_errors
    );
    for (ch, st) in &r.displays {
        let s = st.stats();
        println!(
            "display {ch}: {} draws applied, {} dropped, {} errors",
            s.draws_applied,
            s.draws_dropped,
            s.total_errors()
        );
    }
    if let Some(path) = screenshot {
        let states: Vec<(u8, &DisplayState)> = r.displays.iter().map(|(ch, s)| (*ch, s)).collect();
        let (w, h, rgb) = crop_monitor(&states, monitor)?;
        write_png(&path, w, h, &rgb)?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Screenshot {
            connect,
            output,
            monitor,
            timeout,
        } => screenshot(connect, output, monitor, timeout),
        Command::Stats {
            connect,
            seconds,
            until_eof,
        } => stats(connect, seconds, until_eof),
        Command::Record {
            connect,
            output,
            seconds,
        } => record(connect, output, seconds),
        Command::Replay {
            recording,
            screenshot,
            monitor,
            mark,
        } => replay(recording, screenshot, monitor, mark),
        Command::Qmp {
            connect,
            commands,
            timeout,
        } => ports::qmp(connect, commands, timeout),
        Command::Console {
            connect,
            port,
            timeout,
            linger,
        } => ports::console(connect, port, timeout, linger),
        Command::Share { connect, seconds } => ports::share(connect, seconds),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sumac-cli: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
