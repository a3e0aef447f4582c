//! `sumac-cli`: headless SPICE tools built on Sumac's runtime (no GTK, no display).
//!
//! - `sumac-cli screenshot URI -o out.png`: the first complete frame, exactly the server's pixels.
//! - `sumac-cli stats URI --seconds N`: bytes and messages per channel (like spicy-stats).

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use sumac::client::config::{CaSource, SecureChannels};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::display::DisplayEvent;
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
    /// spice://host:port, spice://host?port=..&tls-port=..&password=.., spice+tls://host:port, spice+unix:///path
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
    /// Print bytes and messages per channel after N seconds (or when the server ends the session).
    Stats {
        #[command(flatten)]
        connect: ConnectArgs,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
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

fn build(args: &ConnectArgs) -> Result<(ConnectionConfig, SessionOptions)> {
    let mut cfg = ConnectionConfig::from_uri(&args.uri)?;
    if let Some(f) = &args.ca_file {
        cfg.ca = Some(CaSource::File(f.clone()));
    }
    if let Some(s) = &args.host_subject {
        cfg.host_subject = Some(s.clone());
    }
    if let Some(list) = &args.secure_channels {
        cfg.secure_channels = SecureChannels::parse(list)?;
    }
    let mut opts = SessionOptions::default();
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

/// The rectangle of monitor `index` on its display channel: (channel, surface, x, y, w, h).
fn monitor_rect(session: &SessionHandle, index: usize) -> Option<(u8, u32, u32, u32, u32, u32)> {
    let mut seen = 0usize;
    for ch in 0..=u8::MAX {
        let Some(state) = session.display(ch) else { continue };
        let state = state.lock().ok()?;
        let heads = state.monitors();
        if heads.is_empty() {
            if seen == index {
                let (id, s) = state.primary()?;
                return Some((ch, id, 0, 0, s.width, s.height));
            }
            seen += 1;
            continue;
        }
        for h in heads {
            if seen == index {
                return Some((ch, h.surface_id, h.x, h.y, h.width, h.height));
            }
            seen += 1;
        }
    }
    None
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
                if let Some((ch, surface_id, x, y, w, h)) = monitor_rect(&session, monitor) {
                    let state = session.display(ch).ok_or_else(|| anyhow!("display channel vanished"))?;
                    let state = state.lock().map_err(|_| anyhow!("display state poisoned"))?;
                    let surface = state
                        .surface(surface_id)
                        .ok_or_else(|| anyhow!("monitor {monitor} shows surface {surface_id}, which does not exist"))?;
                    let rgb = surface.to_rgb();
                    let (sw, sh) = (surface.width, surface.height);
                    let (x, y) = (x.min(sw), y.min(sh));
                    let (w, h) = (w.min(sw - x), h.min(sh - y));
                    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
                    for row in y..y + h {
                        let start = (row as usize * sw as usize + x as usize) * 3;
                        out.extend_from_slice(rgb.get(start..start + w as usize * 3).context("surface too small")?);
                    }
                    drop(state);
                    write_png(&output, w, h, &out)?;
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

fn stats(args: ConnectArgs, seconds: u64) -> Result<()> {
    let (cfg, opts) = build(&args)?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    let mut error = None;
    while let Some(ev) = next_event(&mut rx, deadline) {
        if let SessionEvent::Disconnected { error: e } = ev {
            error = e;
            break;
        }
    }
    let snapshot = session.stats();
    session.disconnect();
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
    match error {
        Some(e) => Err(anyhow!("{e}")),
        None => Ok(()),
    }
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
        Command::Stats { connect, seconds } => stats(connect, seconds),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sumac-cli: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
