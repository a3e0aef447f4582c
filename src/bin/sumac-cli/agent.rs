//! `sumac-cli` subcommands for the guest agent: `agent`, `clipboard get|set`,
//! `send-file` and `resize`. Each connects, waits for the agent's
//! capabilities, does one thing and exits 0, or 1 with one line saying why.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use sumac::client::agent::{
    AgentEvent, AgentHandle, AgentInfo, ClipType, MonitorSpec, Selection, TransferId, TransferOutcome,
};
use sumac::client::{SessionEvent, SessionHandle};
use sumac::display::DisplayEvent;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{ConnectArgs, build, next_event};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SelectionArg {
    Clipboard,
    Primary,
    Secondary,
}

impl SelectionArg {
    fn get(self) -> Selection {
        match self {
            Self::Clipboard => Selection::Clipboard,
            Self::Primary => Selection::Primary,
            Self::Secondary => Selection::Secondary,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TypeArg {
    Text,
    Png,
    Bmp,
    Tiff,
    Jpeg,
}

impl TypeArg {
    fn get(self) -> ClipType {
        match self {
            Self::Text => ClipType::Text,
            Self::Png => ClipType::Png,
            Self::Bmp => ClipType::Bmp,
            Self::Tiff => ClipType::Tiff,
            Self::Jpeg => ClipType::Jpeg,
        }
    }
}

/// Options of every agent subcommand.
#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Largest clipboard payload accepted and sent, in bytes (-1: no limit);
    /// default SPICE_MAX_CLIPBOARD or 100 MiB.
    #[arg(long = "max-clipboard", value_name = "BYTES", allow_hyphen_values = true)]
    max_clipboard: Option<i32>,
}

#[derive(Subcommand, Debug)]
pub enum ClipboardAction {
    /// Wait for the guest to copy (or take what it holds with --no-wait-grab) and write the data.
    Get {
        #[command(flatten)]
        agent: AgentArgs,
        #[arg(long, value_enum, default_value = "clipboard")]
        selection: SelectionArg,
        #[arg(long = "type", value_enum, default_value = "text")]
        clip_type: TypeArg,
        /// Output file (default: standard output).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Ask at once instead of waiting for the guest's next copy.
        #[arg(long)]
        no_wait_grab: bool,
    },
    /// Put FILE (or standard input) on the guest clipboard and serve the guest's pastes.
    Set {
        #[command(flatten)]
        agent: AgentArgs,
        #[arg(long, value_enum, default_value = "clipboard")]
        selection: SelectionArg,
        #[arg(long = "type", value_enum, default_value = "text")]
        clip_type: TypeArg,
        /// The data (default or `-`: standard input).
        file: Option<PathBuf>,
        /// Exit after serving this many pastes (0: until the timeout or the guest copies).
        #[arg(long, default_value_t = 1)]
        serve: u32,
    },
}

#[derive(Args, Debug)]
pub struct SendFileArgs {
    #[command(flatten)]
    agent: AgentArgs,
    /// Files to send (they land in the guest agent's transfer directory).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ResizeArgs {
    #[command(flatten)]
    agent: AgentArgs,
    /// Monitors: WxH[+X+Y], comma-separated (heads left to right when no position is given).
    layout: String,
}

impl AgentArgs {
    /// The target and `--spice-*` options.
    pub fn connect(&self) -> &ConnectArgs {
        &self.connect
    }
}

impl ClipboardAction {
    /// The options every agent subcommand has.
    pub fn agent(&self) -> &AgentArgs {
        match self {
            Self::Get { agent, .. } | Self::Set { agent, .. } => agent,
        }
    }
}

impl SendFileArgs {
    /// The options every agent subcommand has.
    pub fn agent(&self) -> &AgentArgs {
        &self.agent
    }
}

impl ResizeArgs {
    /// The options every agent subcommand has.
    pub fn agent(&self) -> &AgentArgs {
        &self.agent
    }
}

/// Parses `1280x800,1024x768+1280+0`.
pub fn parse_layout(s: &str) -> Result<Vec<MonitorSpec>> {
    let mut heads = Vec::new();
    let mut next_x = 0i32;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (size, pos) = match part.split_once('+') {
            Some((size, pos)) => (size, Some(pos)),
            None => (part, None),
        };
        let (w, h) = size
            .split_once(['x', 'X'])
            .ok_or_else(|| anyhow!("{part:?}: expected WxH[+X+Y]"))?;
        let w: u32 = w.parse().with_context(|| format!("{part:?}: width"))?;
        let h: u32 = h.parse().with_context(|| format!("{part:?}: height"))?;
        let (x, y) = match pos {
            Some(pos) => {
                let (x, y) = pos.split_once('+').ok_or_else(|| anyhow!("{part:?}: expected +X+Y"))?;
                (
                    x.parse().with_context(|| format!("{part:?}: x"))?,
                    y.parse().with_context(|| format!("{part:?}: y"))?,
                )
            }
            None => (next_x, 0),
        };
        next_x = x.saturating_add(i32::try_from(w).unwrap_or(i32::MAX));
        heads.push(MonitorSpec::new(x, y, w, h));
    }
    if heads.is_empty() {
        bail!("no monitor in {s:?}");
    }
    Ok(heads)
}

/// A connected session whose agent is ready.
struct Ready {
    session: SessionHandle,
    rx: UnboundedReceiver<SessionEvent>,
    agent: AgentHandle,
    info: AgentInfo,
    deadline: Instant,
}

impl Ready {
    fn connect(args: &AgentArgs) -> Result<Self> {
        let (cfg, mut opts) = build(&args.connect)?;
        if let Some(max) = args.max_clipboard.or_else(sumac::client::agent::max_clipboard_from_env) {
            opts.agent.max_clipboard = max;
        }
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        let (session, mut rx) = sumac::client::connect(cfg, opts)?;
        let agent = session.agent();
        loop {
            match next_event(&mut rx, deadline) {
                Some(SessionEvent::Agent(AgentEvent::Ready(info))) => {
                    return Ok(Self {
                        session,
                        rx,
                        agent,
                        info,
                        deadline,
                    });
                }
                Some(SessionEvent::Disconnected { error }) => {
                    bail!(
                        "the session ended: {}",
                        error.map_or("closed".into(), |e| e.to_string())
                    )
                }
                Some(_) => {}
                None => bail!("no guest agent within {} s", args.timeout),
            }
        }
    }

    /// The next agent event (others are skipped); `None` at the deadline.
    fn next(&mut self) -> Result<Option<AgentEvent>> {
        loop {
            match next_event(&mut self.rx, self.deadline) {
                Some(SessionEvent::Agent(e)) => return Ok(Some(e)),
                Some(SessionEvent::AgentConnected(false)) => bail!("the guest agent went away"),
                Some(SessionEvent::Disconnected { error }) => {
                    bail!(
                        "the session ended: {}",
                        error.map_or("closed".into(), |e| e.to_string())
                    )
                }
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }
}

pub fn info(args: AgentArgs) -> Result<()> {
    let r = Ready::connect(&args)?;
    println!("capabilities: {}", r.info.describe().join(" "));
    println!(
        "clipboard: {}, selections: {}, monitors config: {}, file transfer: {}, line ends: {:?}",
        r.info.clipboard(),
        r.info.selections(),
        r.info.monitors_config(),
        r.info.file_transfer(),
        r.info.line_end
    );
    r.session.disconnect();
    Ok(())
}

pub fn clipboard(action: ClipboardAction) -> Result<()> {
    match action {
        ClipboardAction::Get {
            agent,
            selection,
            clip_type,
            output,
            no_wait_grab,
        } => clipboard_get(&agent, selection.get(), clip_type.get(), output, no_wait_grab),
        ClipboardAction::Set {
            agent,
            selection,
            clip_type,
            file,
            serve,
        } => clipboard_set(&agent, selection.get(), clip_type.get(), file, serve),
    }
}

fn clipboard_get(
    args: &AgentArgs,
    selection: Selection,
    clip_type: ClipType,
    output: Option<PathBuf>,
    no_wait_grab: bool,
) -> Result<()> {
    let mut r = Ready::connect(args)?;
    if !r.info.supports(selection) {
        bail!("the guest agent cannot share the {} selection", selection.name());
    }
    if !no_wait_grab {
        loop {
            match r.next()? {
                Some(AgentEvent::ClipboardGrab { selection: s, types }) if s == selection => {
                    if types.contains(&clip_type) {
                        break;
                    }
                    eprintln!(
                        "the guest offers {:?}, not {}; waiting",
                        types.iter().map(|t| t.name()).collect::<Vec<_>>(),
                        clip_type.name()
                    );
                }
                Some(_) => {}
                None => bail!(
                    "the guest did not copy to {} within {} s",
                    selection.name(),
                    args.timeout
                ),
            }
        }
    }
    let started = Instant::now();
    let id = r.agent.clipboard_request(selection, clip_type)?;
    let data = loop {
        match r.next()? {
            Some(AgentEvent::ClipboardData { request, data, .. }) if request == id => break data,
            Some(AgentEvent::ClipboardFailed { request, reason, .. }) if request == id => bail!("{reason}"),
            Some(AgentEvent::ClipboardRefused { size, max, .. }) => {
                eprintln!("refused: the guest's clipboard data ({size} bytes) exceeds the limit of {max} bytes")
            }
            Some(_) => {}
            None => bail!("no clipboard data within {} s", args.timeout),
        }
    };
    eprintln!(
        "{} bytes of {} in {:.1} ms",
        data.len(),
        clip_type.name(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    match output {
        Some(path) => std::fs::write(&path, &data).with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(&data)?,
    }
    r.session.disconnect();
    Ok(())
}

fn clipboard_set(
    args: &AgentArgs,
    selection: Selection,
    clip_type: ClipType,
    file: Option<PathBuf>,
    serve: u32,
) -> Result<()> {
    let data = match file.as_deref() {
        Some(p) if p.as_os_str() != "-" => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        _ => {
            let mut v = Vec::new();
            std::io::stdin().lock().read_to_end(&mut v)?;
            v
        }
    };
    let mut r = Ready::connect(args)?;
    if !r.info.supports(selection) {
        bail!("the guest agent cannot share the {} selection", selection.name());
    }
    r.agent.clipboard_grab(selection, &[clip_type])?;
    let mut served = 0u32;
    let mut refused = None;
    loop {
        match r.next()? {
            Some(AgentEvent::ClipboardWanted {
                selection: s,
                clip_type: t,
            }) if s == selection => {
                if t == clip_type {
                    r.agent.clipboard_data(selection, t, data.clone())?;
                    served += 1;
                } else {
                    r.agent.clipboard_no_data(selection)?;
                }
                if serve > 0 && served >= serve {
                    // Let the data go out before the session closes.
                    while r.agent.queued_bytes() > 0 && Instant::now() < r.deadline {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    break;
                }
            }
            Some(AgentEvent::ClipboardRefused { size, max, .. }) => refused = Some((size, max)),
            Some(AgentEvent::ClipboardGrab { selection: s, .. }) if s == selection => {
                eprintln!("the guest copied to {} itself", selection.name());
                break;
            }
            Some(_) => {}
            None if serve == 0 => break,
            None => bail!("the guest did not paste within {} s", args.timeout),
        }
    }
    eprintln!("served {served} paste(s) of {} bytes", data.len());
    r.session.disconnect();
    if let Some((size, max)) = refused {
        bail!("refused: {size} bytes exceed the clipboard limit of {max} bytes");
    }
    Ok(())
}

pub fn send_files(args: SendFileArgs) -> Result<()> {
    let mut r = Ready::connect(&args.agent)?;
    if !r.info.file_transfer() {
        bail!("the guest agent refuses file transfers");
    }
    let started = Instant::now();
    let mut running: Vec<(TransferId, String, u64)> = Vec::new();
    for path in &args.files {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let id = r.agent.send_file(path)?;
        running.push((id, path.display().to_string(), size));
    }
    let total: u64 = running.iter().map(|(_, _, s)| s).sum();
    let mut failed = 0usize;
    let mut left = running.len();
    while left > 0 {
        match r.next()? {
            Some(AgentEvent::FileProgress { id, sent, total }) => {
                if let Some((_, name, _)) = running.iter().find(|(i, _, _)| *i == id) {
                    eprintln!("{name}: {sent}/{total}");
                }
            }
            Some(AgentEvent::FileDone { id, outcome }) => {
                if let Some((_, name, _)) = running.iter().find(|(i, _, _)| *i == id) {
                    println!("{name}: {outcome}");
                }
                if outcome != TransferOutcome::Success {
                    failed += 1;
                }
                left -= 1;
            }
            Some(_) => {}
            None => bail!("{left} transfer(s) not finished within {} s", args.agent.timeout),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} file(s), {total} bytes in {secs:.2} s ({:.2} MB/s)",
        running.len(),
        total as f64 / secs.max(1e-9) / 1e6
    );
    r.session.disconnect();
    if failed > 0 {
        bail!("{failed} of {} transfer(s) failed", running.len());
    }
    Ok(())
}

pub fn resize(args: ResizeArgs) -> Result<()> {
    let heads = parse_layout(&args.layout)?;
    let mut r = Ready::connect(&args.agent)?;
    if !r.info.monitors_config() {
        bail!("the guest agent does not take monitor layouts");
    }
    let (w, h) = (heads[0].width, heads[0].height);
    r.agent.monitors_config(&heads)?;
    // Done when the agent replies or the first display shows the wanted size.
    loop {
        match next_event(&mut r.rx, r.deadline) {
            Some(SessionEvent::Agent(AgentEvent::Reply { success, .. })) => {
                println!("the agent {} the layout", if success { "accepted" } else { "refused" });
                if !success {
                    bail!("the guest agent refused the layout");
                }
            }
            Some(SessionEvent::Monitors { channel_id: 0, heads }) => {
                if let Some(first) = heads.first() {
                    eprintln!("display 0 head 0: {}x{}", first.width, first.height);
                    if (first.width, first.height) == (w, h) {
                        println!("guest display is {w}x{h}");
                        break;
                    }
                }
            }
            Some(SessionEvent::Display {
                channel_id: 0,
                event:
                    DisplayEvent::SurfaceCreated {
                        width,
                        height,
                        primary: true,
                        ..
                    },
            }) => {
                eprintln!("display 0 primary surface: {width}x{height}");
                if (width, height) == (w, h) {
                    println!("guest display is {w}x{h}");
                    break;
                }
            }
            Some(SessionEvent::Disconnected { error }) => {
                bail!(
                    "the session ended: {}",
                    error.map_or("closed".into(), |e| e.to_string())
                )
            }
            Some(_) => {}
            None => bail!(
                "the guest display did not become {w}x{h} within {} s",
                args.agent.timeout
            ),
        }
    }
    r.session.disconnect();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse() {
        let l = parse_layout("1280x800,1024x768").unwrap();
        assert_eq!(
            l,
            vec![MonitorSpec::new(0, 0, 1280, 800), MonitorSpec::new(1280, 0, 1024, 768)]
        );
        let l = parse_layout("800x600+10+20").unwrap();
        assert_eq!(l, vec![MonitorSpec::new(10, 20, 800, 600)]);
        assert!(parse_layout("").is_err());
        assert!(parse_layout("800").is_err());
        assert!(parse_layout("axb").is_err());
    }
}
