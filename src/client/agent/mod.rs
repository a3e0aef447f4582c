//! The embedder's way to the guest agent: [`AgentHandle`].
//!
//! The agent (spice-vdagent in the guest) speaks over the main channel. The
//! handle exists from connect time ([`SessionHandle::agent`](super::SessionHandle::agent)),
//! is cheap to clone and `Send + Sync`, and its methods never block: they
//! queue a typed [`AgentCommand`] and wake the main channel's thread, whose
//! agent machine ([`crate::channel::agent`]) encodes it under the negotiated
//! capabilities, cuts it into AGENT_DATA messages and sends them as the
//! server's tokens allow. While no agent is connected, commands are refused
//! ([`AgentSendError::NotConnected`]); between the connection and the
//! agent's capabilities ([`AgentEvent::Ready`]) they wait.
//!
//! What comes back arrives as `SessionEvent::Agent(`[`AgentEvent`]`)` on the
//! session's event receiver (and `SessionEvent::AgentConnected(bool)` when
//! the agent comes and goes).
//!
//! # Clipboard (both ways, per selection)
//! - The guest copied: [`AgentEvent::ClipboardGrab`] lists its types. To
//!   paste, call [`clipboard_request`](AgentHandle::clipboard_request); the
//!   answer is [`AgentEvent::ClipboardData`] or [`AgentEvent::ClipboardFailed`]
//!   with the same [`RequestId`]. [`AgentEvent::ClipboardRelease`]: the guest
//!   clipboard is empty again.
//! - The client copied: [`clipboard_grab`](AgentHandle::clipboard_grab) with
//!   the types only; when the guest pastes, [`AgentEvent::ClipboardWanted`]
//!   asks for one type: answer with [`clipboard_data`](AgentHandle::clipboard_data)
//!   (or [`clipboard_no_data`](AgentHandle::clipboard_no_data)).
//!   [`clipboard_release`](AgentHandle::clipboard_release) when the local
//!   clipboard is emptied or taken by the guest's grab (no release is needed
//!   for the guest's own grab).
//! - Text is UTF-8 with LF line ends on this side; data over
//!   [`AgentInfo::max_clipboard`] is refused both ways with
//!   [`AgentEvent::ClipboardRefused`] (never truncated).
//! - After [`AgentEvent::Ready`] (a new agent), grab again if the local
//!   clipboard has something the guest should see.
//!
//! # Guest display
//! [`monitors_config`](AgentHandle::monitors_config) with the wanted layout
//! in device pixels (debounce it: a window resize sends many; a layout given
//! before the agent is ready is sent when it is).
//! [`display_config`](AgentHandle::display_config) for desktop effects.
//!
//! # Files
//! [`send_file`](AgentHandle::send_file) opens the file and returns its
//! [`TransferId`]; a thread reads it in 64 KiB pieces, at most
//! [`READ_AHEAD`](crate::channel::agent::file_xfer::READ_AHEAD) bytes ahead of what was sent.
//! Progress: [`AgentEvent::FileStarted`], [`AgentEvent::FileProgress`],
//! then exactly one [`AgentEvent::FileDone`] whose [`TransferOutcome`] is
//! `Success` only when the agent confirmed every byte.
//! [`cancel_file`](AgentHandle::cancel_file) cancels.

mod files;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::channel::agent::monitors::LayoutError;
pub use crate::channel::agent::{
    AgentCommand, AgentEvent, AgentInfo, AgentOptions, AgentStats, ClipType, ClipboardDirection, ClipboardFailure,
    DEFAULT_MAX_CLIPBOARD, DisplayEffects, MonitorSpec, ReplyTo, RequestId, Selection, TransferId, TransferOutcome,
};
pub use crate::proto::vdagent::AudioVolumeSync;
pub use files::SendFileError;

/// Most bytes of agent messages queued and not sent yet (embedder inbox and
/// token-starved chunks together); beyond that, new messages are refused.
/// File data is bounded separately (each transfer's read-ahead window).
pub const MAX_QUEUED_AGENT_BYTES: usize = 128 << 20;

/// Why an agent command was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentSendError {
    #[error("no guest agent is connected")]
    NotConnected,
    #[error("too much agent data is waiting to be sent")]
    QueueFull,
    /// The agent announced it cannot do this.
    #[error("the guest agent does not support {0}")]
    Unsupported(&'static str),
    #[error("invalid monitor layout: {0}")]
    Layout(#[from] LayoutError),
    #[error("a clipboard grab needs at least one type")]
    NoTypes,
}

/// A command in the inbox, with the bytes it counts against the queue limit.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) cmd: AgentCommand,
    pub(crate) counted: usize,
}

/// The inbox and the state shared by the handle(s), the reader threads and
/// the main channel's agent machine.
#[derive(Debug, Default)]
pub(crate) struct AgentShared {
    queue: Mutex<VecDeque<Queued>>,
    queued_bytes: AtomicU64,
    notify: Arc<tokio::sync::Notify>,
    /// An agent is connected (AGENT_CONNECTED / MAIN_INIT) and takes commands.
    up: AtomicBool,
    /// The agent's capabilities, once announced.
    info: Mutex<Option<AgentInfo>>,
    stats: Mutex<AgentStats>,
    next_request: AtomicU64,
    next_transfer: AtomicU32,
    readers: files::Readers,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AgentShared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn notify(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.notify)
    }

    /// Queues one command; `counted` bytes count against the queue limit.
    pub(crate) fn push_command(&self, cmd: AgentCommand, counted: usize) -> Result<(), AgentSendError> {
        if !self.up.load(Ordering::Acquire) {
            return Err(AgentSendError::NotConnected);
        }
        let len = counted as u64;
        if len > 0 {
            let queued = self.queued_bytes.load(Ordering::Relaxed);
            if queued.saturating_add(len) > MAX_QUEUED_AGENT_BYTES as u64 {
                return Err(AgentSendError::QueueFull);
            }
            self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        }
        lock(&self.queue).push_back(Queued { cmd, counted });
        self.notify.notify_one();
        Ok(())
    }

    /// Queues one encoded agent message (VDAgentMessage header + body).
    #[cfg(test)]
    pub(crate) fn push(&self, message: Vec<u8>) -> Result<(), AgentSendError> {
        let n = message.len();
        self.push_command(AgentCommand::Raw(message), n)
    }

    /// Takes the queued commands (their counted bytes stay counted until
    /// [`sent`](Self::sent)).
    pub(crate) fn take(&self) -> VecDeque<Queued> {
        std::mem::take(&mut *lock(&self.queue))
    }

    /// `n` counted bytes went out (or were dropped).
    pub(crate) fn sent(&self, n: usize) {
        if n == 0 {
            return;
        }
        let n = n as u64;
        let _ = self
            .queued_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| Some(q.saturating_sub(n)));
    }

    /// `n` bytes of chunks now count against the limit.
    pub(crate) fn add_queued(&self, n: usize) {
        self.queued_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        if !up {
            let stale = std::mem::take(&mut *lock(&self.queue));
            self.sent(stale.iter().map(|q| q.counted).sum());
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn queued_bytes(&self) -> u64 {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn set_info(&self, info: Option<AgentInfo>) {
        *lock(&self.info) = info;
    }

    pub(crate) fn info(&self) -> Option<AgentInfo> {
        lock(&self.info).clone()
    }

    pub(crate) fn set_stats(&self, stats: AgentStats) {
        *lock(&self.stats) = stats;
    }

    /// Lets transfer `id`'s reader read `n` more bytes.
    pub(crate) fn grant(&self, id: TransferId, n: u64) {
        self.readers.grant(id, n);
    }

    /// Transfer `id` is over: its reader stops.
    pub(crate) fn finish_reader(&self, id: TransferId) {
        self.readers.finish(id);
    }

    pub(crate) fn finish_all_readers(&self) {
        self.readers.finish_all();
    }
}

/// What the guest agent is asked for (DISPLAY_CONFIG) from `disable-effects`
/// and `color-depth` (command line or `.vv`; a depth of 0 leaves it alone).
pub fn display_effects(effects: &[crate::client::vv::Effect], color_depth: Option<u32>) -> DisplayEffects {
    use crate::client::vv::Effect;
    let has = |e: Effect| effects.contains(&e) || effects.contains(&Effect::All);
    DisplayEffects {
        disable_wallpaper: has(Effect::Wallpaper),
        disable_font_smooth: has(Effect::FontSmooth),
        disable_animation: has(Effect::Animation),
        color_depth: color_depth.filter(|&d| d > 0),
    }
}

/// `SPICE_MAX_CLIPBOARD` (bytes, -1 for no limit), as spice-gtk reads it.
pub fn max_clipboard_from_env() -> Option<i32> {
    std::env::var("SPICE_MAX_CLIPBOARD").ok()?.trim().parse().ok()
}

/// Talks to the guest agent. Cheap to clone; every method returns at once.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    shared: Arc<AgentShared>,
}

impl AgentHandle {
    pub(crate) fn new(shared: Arc<AgentShared>) -> Self {
        Self { shared }
    }

    /// Whether a guest agent is connected.
    pub fn is_connected(&self) -> bool {
        self.shared.is_up()
    }

    /// What the agent can do, once it announced its capabilities.
    pub fn info(&self) -> Option<AgentInfo> {
        if self.is_connected() { self.shared.info() } else { None }
    }

    /// The machine's counters (dropped messages, stale grabs...).
    pub fn stats(&self) -> AgentStats {
        *lock(&self.shared.stats)
    }

    /// Bytes queued and not sent yet.
    pub fn queued_bytes(&self) -> u64 {
        self.shared.queued_bytes()
    }

    fn push(&self, cmd: AgentCommand) -> Result<(), AgentSendError> {
        self.shared.push_command(cmd, 0)
    }

    /// Fails when the agent announced it cannot share `selection`.
    fn check_selection(&self, selection: Selection) -> Result<(), AgentSendError> {
        match self.shared.info() {
            Some(info) if !info.supports(selection) => Err(AgentSendError::Unsupported(match selection {
                Selection::Clipboard => "clipboard sharing",
                _ => "this clipboard selection",
            })),
            _ => Ok(()),
        }
    }

    /// Queues one encoded agent message (`VDAgentMessage` header and body), sent as is.
    pub fn send_raw(&self, message: Vec<u8>) -> Result<(), AgentSendError> {
        let n = message.len();
        self.shared.push_command(AgentCommand::Raw(message), n)
    }

    /// The client's clipboard (`selection`) now holds data of these types;
    /// the data itself is asked for later ([`AgentEvent::ClipboardWanted`]).
    pub fn clipboard_grab(&self, selection: Selection, types: &[ClipType]) -> Result<(), AgentSendError> {
        if types.is_empty() {
            return Err(AgentSendError::NoTypes);
        }
        self.check_selection(selection)?;
        self.push(AgentCommand::ClipboardGrab {
            selection,
            types: types.to_vec(),
        })
    }

    /// The client's clipboard no longer offers anything.
    pub fn clipboard_release(&self, selection: Selection) -> Result<(), AgentSendError> {
        self.check_selection(selection)?;
        self.push(AgentCommand::ClipboardRelease { selection })
    }

    /// Asks for the guest's clipboard data of one type; the answer carries the returned id.
    pub fn clipboard_request(&self, selection: Selection, clip_type: ClipType) -> Result<RequestId, AgentSendError> {
        self.check_selection(selection)?;
        let id = RequestId(self.shared.next_request.fetch_add(1, Ordering::Relaxed).wrapping_add(1));
        self.push(AgentCommand::ClipboardRequest {
            id,
            selection,
            clip_type,
        })?;
        Ok(id)
    }

    /// Answers the oldest [`AgentEvent::ClipboardWanted`] of this selection
    /// and type (text: UTF-8 with LF line ends).
    pub fn clipboard_data(
        &self,
        selection: Selection,
        clip_type: ClipType,
        data: Vec<u8>,
    ) -> Result<(), AgentSendError> {
        let n = data.len();
        self.shared.push_command(
            AgentCommand::ClipboardData {
                selection,
                clip_type,
                data,
            },
            n,
        )
    }

    /// Answers the oldest [`AgentEvent::ClipboardWanted`] of this selection with nothing.
    pub fn clipboard_no_data(&self, selection: Selection) -> Result<(), AgentSendError> {
        self.push(AgentCommand::ClipboardNoData { selection })
    }

    /// The wanted guest monitor layout, in device pixels (index = guest head).
    pub fn monitors_config(&self, heads: &[MonitorSpec]) -> Result<(), AgentSendError> {
        crate::channel::agent::monitors::check_layout(heads)?;
        if self.shared.info().is_some_and(|i| !i.monitors_config()) {
            return Err(AgentSendError::Unsupported("monitors config"));
        }
        self.push(AgentCommand::MonitorsConfig(heads.to_vec()))
    }

    /// Desktop effects and colour depth (agents with DISPLAY_CONFIG, i.e. Windows).
    pub fn display_config(&self, effects: DisplayEffects) -> Result<(), AgentSendError> {
        if self.shared.info().is_some_and(|i| !i.display_config()) {
            return Err(AgentSendError::Unsupported("display config"));
        }
        self.push(AgentCommand::DisplayConfig(effects))
    }

    /// The client's playback or record volume for the guest mixer
    /// (AUDIO_VOLUME_SYNC; dropped by agents without the capability).
    pub fn volume_sync(&self, sync: AudioVolumeSync) -> Result<(), AgentSendError> {
        if sync.volumes.len() > usize::from(u8::MAX) {
            return Err(AgentSendError::Unsupported("more than 255 volume channels"));
        }
        self.push(AgentCommand::VolumeSync(sync))
    }

    /// Offers a file to the guest (its base name, its bytes read on a thread
    /// of its own). Errors only for what is known now: no agent, an
    /// unreadable path, a directory; everything later is a [`AgentEvent::FileDone`].
    pub fn send_file(&self, path: &Path) -> Result<TransferId, SendFileError> {
        files::send_file(&self.shared, path)
    }

    /// Cancels a transfer (the guest gets STATUS CANCELLED; `FileDone` says `Cancelled`).
    pub fn cancel_file(&self, id: TransferId) -> Result<(), AgentSendError> {
        self.push(AgentCommand::CancelFile { id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_refused_without_an_agent_and_bounded() {
        let s = AgentShared::new();
        let h = AgentHandle::new(Arc::clone(&s));
        assert_eq!(h.send_raw(vec![1; 10]), Err(AgentSendError::NotConnected));
        s.set_up(true);
        h.send_raw(vec![1; 10]).unwrap();
        assert_eq!(h.queued_bytes(), 10);
        assert_eq!(
            h.send_raw(vec![0; MAX_QUEUED_AGENT_BYTES]),
            Err(AgentSendError::QueueFull)
        );
        let taken = s.take();
        assert_eq!(taken.len(), 1);
        s.sent(10);
        assert_eq!(h.queued_bytes(), 0);
        // Going down drops what is queued.
        h.send_raw(vec![1; 7]).unwrap();
        s.set_up(false);
        assert_eq!(h.queued_bytes(), 0);
        assert!(s.take().is_empty());
    }

    #[test]
    fn commands_are_checked_against_what_the_agent_announced() {
        use crate::proto::vdagent::caps::{self as c, AgentCaps};
        let s = AgentShared::new();
        let h = AgentHandle::new(Arc::clone(&s));
        s.set_up(true);
        assert_eq!(
            h.clipboard_grab(Selection::Clipboard, &[]),
            Err(AgentSendError::NoTypes)
        );
        // Not announced yet: queued, checked by the machine later.
        h.clipboard_grab(Selection::Primary, &[ClipType::Text]).unwrap();
        let caps = AgentCaps::from_bits(&[c::CLIPBOARD_BY_DEMAND]);
        s.set_info(Some(AgentInfo {
            negotiated: caps.intersect(&c::client_caps()),
            agent_caps: caps,
            line_end: None,
            max_clipboard: DEFAULT_MAX_CLIPBOARD,
        }));
        assert!(matches!(
            h.clipboard_grab(Selection::Primary, &[ClipType::Text]),
            Err(AgentSendError::Unsupported(_))
        ));
        h.clipboard_grab(Selection::Clipboard, &[ClipType::Text]).unwrap();
        assert_eq!(
            h.monitors_config(&[MonitorSpec::new(0, 0, 800, 600)]),
            Err(AgentSendError::Unsupported("monitors config"))
        );
        assert!(matches!(h.monitors_config(&[]), Err(AgentSendError::Layout(_))));
        let a = h.clipboard_request(Selection::Clipboard, ClipType::Png).unwrap();
        let b = h.clipboard_request(Selection::Clipboard, ClipType::Png).unwrap();
        assert_ne!(a, b);
        assert_eq!(s.take().len(), 4);
    }
}
