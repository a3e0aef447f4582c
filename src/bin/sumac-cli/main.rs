//! `sumac-cli`: headless SPICE tools built on Sumac's runtime (no GTK, no display).
//!
//! - `sumac-cli screenshot URI -o out.png`: the first complete frame, exactly the server's pixels.
//! - `sumac-cli stats URI --seconds N [--until-eof] [--audio-wav FILE | --audio-device]`: bytes and
//!   messages per channel (like spicy-stats), display/stream and audio counters, the decoder of each
//!   video stream (feature `gst`; `SUMAC_GST=0` decodes MJPEG only); the playback saved as a WAV
//!   file or played on the sound device.
//! - `sumac-cli record URI -o s.spicerec` / `sumac-cli replay s.spicerec --screenshot out.png`.
//! - The guest agent (`agent.rs`): `agent URI` (capabilities), `clipboard get|set URI`,
//!   `send-file URI FILE...`, `resize URI WxH[+X+Y][,...]`.
//! - Port channels (`ports.rs`): `qmp URI '{"execute":"query-status"}'` (QEMU's monitor over the
//!   QMP port), `console URI [--port NAME]` (standard input and output on a port: a serial
//!   console, HMP), `share URI --spice-shared-dir DIR [--spice-shared-dir-ro]` (a session that
//!   shares a folder until standard input ends).
//!
//! The subcommands that connect take a URI, a `.vv` file or `-` and the same
//! `--spice-*` options as `sumac` ([`sumac::cli::SpiceArgs`]), merged the same
//! way ([`sumac::client::launch`]).

mod agent;
mod connect;
mod ports;
mod record;
mod screenshot;
mod stats;

use anyhow::Result;
use clap::{Parser, Subcommand};
use connect::{ConnectArgs, build, next_event};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "sumac-cli", version, about = "Headless SPICE client tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect, wait for the first complete frame of a monitor, save it as PNG (or PPM: `-o x.ppm`).
    Screenshot {
        #[command(flatten)]
        connect: ConnectArgs,
        /// Output file: PNG, or binary PPM when the name ends in .ppm.
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
        /// Save this monitor's image at the end (or after --mark) as PNG (PPM for a .ppm name).
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
    /// Print the guest agent's capabilities.
    Agent(agent::AgentArgs),
    /// The guest clipboard: `get` (guest → file) or `set` (file → guest), with xclip-like options.
    Clipboard {
        #[command(subcommand)]
        action: agent::ClipboardAction,
    },
    /// Send files to the guest (the agent's transfer directory); exits 0 only if all arrived.
    SendFile(agent::SendFileArgs),
    /// Ask the guest for a monitor layout (MONITORS_CONFIG) and wait until display 0 shows it.
    Resize(agent::ResizeArgs),
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

impl Command {
    fn connect_args(&self) -> Option<&ConnectArgs> {
        match self {
            Self::Screenshot { connect, .. }
            | Self::Record { connect, .. }
            | Self::Stats { connect, .. }
            | Self::Qmp { connect, .. }
            | Self::Console { connect, .. }
            | Self::Share { connect, .. } => Some(connect),
            Self::Agent(a) => Some(a.connect()),
            Self::Clipboard { action } => Some(action.agent().connect()),
            Self::SendFile(a) => Some(a.agent().connect()),
            Self::Resize(a) => Some(a.agent().connect()),
            Self::Replay { .. } => None,
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Screenshot {
            connect,
            output,
            monitor,
            timeout,
        } => screenshot::screenshot(&connect, &output, monitor, timeout),
        Command::Stats {
            connect,
            seconds,
            until_eof,
        } => stats::stats(&connect, seconds, until_eof),
        Command::Record {
            connect,
            output,
            seconds,
        } => record::record(&connect, &output, seconds),
        Command::Replay {
            recording,
            screenshot,
            monitor,
            mark,
        } => record::replay(&recording, screenshot.as_deref(), monitor, mark),
        Command::Agent(args) => agent::info(args),
        Command::Clipboard { action } => agent::clipboard(action),
        Command::SendFile(args) => agent::send_files(args),
        Command::Resize(args) => agent::resize(args),
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
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let spice = cli.command.connect_args().map(|c| &c.spice);
    if spice.is_some_and(|s| s.spice_gtk_version) {
        print!("{}", sumac::cli::spice_version_text("sumac-cli"));
        return std::process::ExitCode::SUCCESS;
    }
    // `--spice-debug` as in `sumac`; RUST_LOG wins.
    let default_filter = if spice.is_some_and(|s| s.spice_debug) {
        "sumac=debug,info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sumac-cli: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
