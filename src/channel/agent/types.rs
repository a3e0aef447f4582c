//! The agent's vocabulary towards the embedder: selections, clipboard types,
//! monitor layouts, display effects, transfer outcomes, the commands the
//! embedder queues ([`AgentCommand`]) and the events the machine emits
//! ([`AgentEvent`], carried by `SessionEvent::Agent`).

use crate::proto::vdagent::caps::{self as agent_caps, AgentCaps};
use crate::proto::vdagent::clipboard::{LineEnd, clip_type, selection};
use crate::proto::vdagent::{AudioVolumeSync, DisplayConfig, control::display_flag};

/// A clipboard selection (`VD_AGENT_CLIPBOARD_SELECTION_*`). PRIMARY and
/// SECONDARY need the CLIPBOARD_SELECTION capability on both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selection {
    /// The desktop clipboard (copy/paste).
    Clipboard,
    /// The X11 primary selection (select / middle-click).
    Primary,
    Secondary,
}

impl Selection {
    pub const ALL: [Self; 3] = [Self::Clipboard, Self::Primary, Self::Secondary];

    pub fn wire(self) -> u8 {
        match self {
            Self::Clipboard => selection::CLIPBOARD,
            Self::Primary => selection::PRIMARY,
            Self::Secondary => selection::SECONDARY,
        }
    }

    pub fn from_wire(v: u8) -> Option<Self> {
        match v {
            selection::CLIPBOARD => Some(Self::Clipboard),
            selection::PRIMARY => Some(Self::Primary),
            selection::SECONDARY => Some(Self::Secondary),
            _ => None,
        }
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.wire())
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Clipboard => "clipboard",
            Self::Primary => "primary",
            Self::Secondary => "secondary",
        }
    }
}

/// A clipboard data type (`VD_AGENT_CLIPBOARD_*`, NONE excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClipType {
    /// UTF-8 text. Line ends are LF on the embedder side; the machine
    /// converts to and from the guest's convention (GUEST_LINEEND_* caps).
    Text,
    Png,
    Bmp,
    Tiff,
    Jpeg,
    /// `"copy"|"cut"` then NUL-terminated paths in the WebDAV share
    /// (`proto::vdagent::clipboard::FileList`).
    FileList,
}

impl ClipType {
    pub const ALL: [Self; 6] = [Self::Text, Self::Png, Self::Bmp, Self::Tiff, Self::Jpeg, Self::FileList];

    pub fn wire(self) -> u32 {
        match self {
            Self::Text => clip_type::UTF8_TEXT,
            Self::Png => clip_type::IMAGE_PNG,
            Self::Bmp => clip_type::IMAGE_BMP,
            Self::Tiff => clip_type::IMAGE_TIFF,
            Self::Jpeg => clip_type::IMAGE_JPG,
            Self::FileList => clip_type::FILE_LIST,
        }
    }

    /// `None` for NONE and for numbers this client does not know.
    pub fn from_wire(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.wire() == v)
    }

    /// The MIME type desktops use for it (none for FILE_LIST).
    pub fn mime(self) -> Option<&'static str> {
        crate::proto::vdagent::clipboard::mime_type(self.wire())
    }

    /// The type of a desktop MIME type (text variants included).
    pub fn from_mime(mime: &str) -> Option<Self> {
        crate::proto::vdagent::clipboard::type_for_mime(mime).and_then(Self::from_wire)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Png => "png",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
            Self::Jpeg => "jpeg",
            Self::FileList => "file-list",
        }
    }
}

/// Identifies one clipboard request of the embedder ([`AgentEvent::ClipboardData`]
/// and [`AgentEvent::ClipboardFailed`] carry it back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Identifies one file transfer (the `id` of FILE_XFER_*), unique in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(pub u32);

impl std::fmt::Display for TransferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One guest monitor as the embedder wants it, in **device pixels** (a
/// window of 800×600 logical pixels at scale 2 is 1600×1200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonitorSpec {
    /// A disabled head keeps its place (its index) when the agent has
    /// SPARSE_MONITORS_CONFIG; otherwise it is left out of the message.
    pub enabled: bool,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// Physical size in millimetres (0 = unknown). Sent (PHYSICAL_SIZE) when
    /// any enabled head has one, so that the guest can choose its DPI.
    pub width_mm: u16,
    pub height_mm: u16,
}

impl MonitorSpec {
    /// An enabled head at (x, y) of `width`×`height` device pixels.
    pub fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self {
            enabled: true,
            x,
            y,
            width,
            height,
            width_mm: 0,
            height_mm: 0,
        }
    }
}

/// Desktop effects and colour depth for the guest (`--spice-disable-effects`,
/// `--spice-color-depth`, the `.vv` keys `disable-effects` / `color-depth`);
/// only agents with the DISPLAY_CONFIG capability (Windows) act on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DisplayEffects {
    pub disable_wallpaper: bool,
    pub disable_font_smooth: bool,
    pub disable_animation: bool,
    /// Bits per pixel the guest should use (deprecated in spice-gtk, honoured here).
    pub color_depth: Option<u32>,
}

impl DisplayEffects {
    /// Nothing to ask for: no DISPLAY_CONFIG is sent.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The wire message.
    pub fn to_message(&self) -> DisplayConfig {
        let mut flags = 0;
        if self.disable_wallpaper {
            flags |= display_flag::DISABLE_WALLPAPER;
        }
        if self.disable_font_smooth {
            flags |= display_flag::DISABLE_FONT_SMOOTH;
        }
        if self.disable_animation {
            flags |= display_flag::DISABLE_ANIMATION;
        }
        let depth = match self.color_depth {
            Some(d) => {
                flags |= display_flag::SET_COLOR_DEPTH;
                d
            }
            None => 0,
        };
        DisplayConfig { flags, depth }
    }
}

/// What the agent machine is configured with (from `SessionOptions::agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentOptions {
    /// The largest clipboard payload accepted from the guest and sent to it,
    /// in bytes; announced in MAX_CLIPBOARD. `-1`: no limit but the wire's.
    /// Default 100 MiB (spice-gtk's; `SPICE_MAX_CLIPBOARD` in the tools).
    pub max_clipboard: i32,
    /// Sent once per agent connection, after its capabilities, when not empty.
    pub display: DisplayEffects,
}

/// spice-gtk's default `max-clipboard`: 100 MiB.
pub const DEFAULT_MAX_CLIPBOARD: i32 = 100 * 1024 * 1024;

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            max_clipboard: DEFAULT_MAX_CLIPBOARD,
            display: DisplayEffects::default(),
        }
    }
}

/// What the connected agent can do (after its ANNOUNCE_CAPABILITIES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// What the agent announced.
    pub agent_caps: AgentCaps,
    /// What both ends announced: the message layouts in use.
    pub negotiated: AgentCaps,
    /// The guest's text line ends (`None`: not announced, text is sent as is).
    pub line_end: Option<LineEnd>,
    /// The limit announced in MAX_CLIPBOARD (when the agent has the cap) and applied both ways.
    pub max_clipboard: i32,
}

impl AgentInfo {
    /// Clipboard sharing works (CLIPBOARD_BY_DEMAND on both ends).
    pub fn clipboard(&self) -> bool {
        self.negotiated.has(agent_caps::CLIPBOARD_BY_DEMAND)
    }

    /// Selections other than CLIPBOARD (PRIMARY) can be shared.
    pub fn selections(&self) -> bool {
        self.clipboard() && self.negotiated.has(agent_caps::CLIPBOARD_SELECTION)
    }

    /// Whether `selection` can be shared.
    pub fn supports(&self, sel: Selection) -> bool {
        match sel {
            Selection::Clipboard => self.clipboard(),
            Selection::Primary | Selection::Secondary => self.selections(),
        }
    }

    /// The agent takes MONITORS_CONFIG (guest resize).
    pub fn monitors_config(&self) -> bool {
        self.agent_caps.has(agent_caps::MONITORS_CONFIG)
    }

    /// Disabled heads may stay in place (0×0) in MONITORS_CONFIG.
    pub fn sparse_monitors(&self) -> bool {
        self.agent_caps.has(agent_caps::SPARSE_MONITORS_CONFIG)
    }

    /// File transfer is possible (the agent did not announce FILE_XFER_DISABLED).
    pub fn file_transfer(&self) -> bool {
        !self.agent_caps.has(agent_caps::FILE_XFER_DISABLED)
    }

    pub fn display_config(&self) -> bool {
        self.agent_caps.has(agent_caps::DISPLAY_CONFIG)
    }

    pub fn volume_sync(&self) -> bool {
        self.agent_caps.has(agent_caps::AUDIO_VOLUME_SYNC)
    }

    /// The names of the agent's capabilities, for logs and `sumac-cli agent`.
    pub fn describe(&self) -> Vec<String> {
        agent_caps::describe(&self.agent_caps)
    }
}

/// Which way clipboard data was going when it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipboardDirection {
    /// Guest → client.
    FromGuest,
    /// Client → guest.
    ToGuest,
}

/// Why a clipboard request of the embedder got no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClipboardFailure {
    /// No answer within [`CLIPBOARD_TIMEOUT`](super::clipboard::CLIPBOARD_TIMEOUT) of agent silence.
    #[error("the guest did not answer the clipboard request")]
    Timeout,
    /// The agent went away (or the session ended) before answering.
    #[error("the guest agent went away")]
    AgentGone,
    /// The guest answered with no data: its clipboard is empty or cannot
    /// give that type, or (agents with MAX_CLIPBOARD) the data is larger
    /// than `limit`, which agents answer with nothing.
    #[error(
        "the guest sent no clipboard data: it is empty{}",
        .limit.map(|l| format!(", or larger than the limit of {l} bytes")).unwrap_or_default()
    )]
    NoData { limit: Option<u32> },
    /// The data is larger than the limit: it was refused, never truncated.
    #[error("the guest's clipboard data ({size} bytes) exceeds the limit of {max} bytes")]
    TooLarge { size: u64, max: u32 },
    /// Too many requests are waiting for the guest already.
    #[error("too many clipboard requests are pending")]
    TooManyRequests,
    /// The agent cannot share this selection (capabilities).
    #[error("the guest agent does not support this clipboard selection")]
    Unsupported,
    /// The agent's message stream broke (bad protocol number): its answer is lost.
    #[error("the guest agent's messages were garbled")]
    Protocol,
}

/// How a file transfer ended. Only [`Success`](Self::Success) means the
/// file arrived: the agent said so after every byte was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferOutcome {
    Success,
    /// Cancelled by the embedder ([`AgentCommand::CancelFile`]).
    Cancelled,
    /// The guest cancelled it (STATUS CANCELLED).
    CancelledByGuest,
    /// STATUS ERROR; with FILE_XFER_DETAILED_ERRORS, a GIO error code (`GIOErrorEnum`).
    GuestError {
        gio_code: Option<u32>,
    },
    /// STATUS NOT_ENOUGH_SPACE, with the guest's free bytes when detailed.
    NotEnoughSpace {
        free: Option<u64>,
    },
    /// The guest session is locked.
    SessionLocked,
    /// The guest's agent daemon has no session agent to write the file.
    GuestAgentNotConnected,
    /// The guest refuses file transfers (STATUS DISABLED or FILE_XFER_DISABLED).
    Disabled,
    /// A result number this client does not know.
    UnknownStatus(u32),
    /// Reading the file on the client failed (the guest was told CANCELLED).
    ReadError(String),
    /// The agent went away (or the session ended) first.
    AgentGone,
    /// The agent stayed silent for [`TRANSFER_TIMEOUT`](super::file_xfer::TRANSFER_TIMEOUT) while it had to answer.
    TimedOut,
    /// The agent said SUCCESS before all the data was sent.
    PrematureSuccess {
        sent: u64,
    },
    /// Too many transfers are queued already.
    TooManyTransfers,
}

impl TransferOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
}

impl std::fmt::Display for TransferOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Success => write!(f, "sent"),
            Self::Cancelled => write!(f, "cancelled"),
            Self::CancelledByGuest => write!(f, "cancelled by the guest"),
            Self::GuestError { gio_code: Some(c) } => write!(f, "the guest failed to write the file (GIO error {c})"),
            Self::GuestError { gio_code: None } => write!(f, "the guest failed to write the file"),
            Self::NotEnoughSpace { free: Some(b) } => write!(f, "not enough space in the guest ({b} bytes free)"),
            Self::NotEnoughSpace { free: None } => write!(f, "not enough space in the guest"),
            Self::SessionLocked => write!(f, "the guest session is locked"),
            Self::GuestAgentNotConnected => write!(f, "no guest session agent to receive the file"),
            Self::Disabled => write!(f, "the guest does not accept files"),
            Self::UnknownStatus(c) => write!(f, "the guest answered with unknown status {c}"),
            Self::ReadError(e) => write!(f, "reading the file failed: {e}"),
            Self::AgentGone => write!(f, "the guest agent went away"),
            Self::TimedOut => write!(f, "the guest agent did not answer"),
            Self::PrematureSuccess { sent } => write!(f, "the guest reported success after only {sent} bytes"),
            Self::TooManyTransfers => write!(f, "too many transfers are queued"),
        }
    }
}

/// Which message a REPLY answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    MonitorsConfig,
    DisplayConfig,
    Other(u32),
}

/// What the agent machine tells the embedder (`SessionEvent::Agent`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// The agent announced its capabilities: it is ready. Sent again when it
    /// re-announces. (Connection and loss are `SessionEvent::AgentConnected`.)
    Ready(AgentInfo),
    /// The guest owns `selection` and offers these types (known types only,
    /// each once; may be empty). Replaces any earlier grab of the selection.
    ClipboardGrab { selection: Selection, types: Vec<ClipType> },
    /// The guest no longer owns `selection` (also sent for guest-owned
    /// selections when the agent goes away). Without CLIPBOARD_NO_RELEASE_ON_REGRAB
    /// the machine holds a guest release 0.5 s and drops it if a grab follows.
    ClipboardRelease { selection: Selection },
    /// The data asked for with [`AgentCommand::ClipboardRequest`] (text with LF line ends).
    ClipboardData {
        request: RequestId,
        selection: Selection,
        clip_type: ClipType,
        data: Vec<u8>,
    },
    /// A request of the embedder got no data.
    ClipboardFailed {
        request: RequestId,
        selection: Selection,
        clip_type: ClipType,
        reason: ClipboardFailure,
    },
    /// The guest pastes from the client's grab: answer with
    /// [`AgentCommand::ClipboardData`] (or [`AgentCommand::ClipboardNoData`])
    /// for this selection and type. Unanswered requests get an empty answer
    /// after [`CLIPBOARD_TIMEOUT`](super::clipboard::CLIPBOARD_TIMEOUT).
    ClipboardWanted { selection: Selection, clip_type: ClipType },
    /// Clipboard data larger than the limit was refused (never truncated);
    /// for the UI to say so. `size` is the data's size as far as it is known.
    ClipboardRefused {
        selection: Option<Selection>,
        direction: ClipboardDirection,
        size: u64,
        max: u32,
    },
    /// The agent answered MONITORS_CONFIG or DISPLAY_CONFIG. (With QEMU's
    /// qxl device the server applies MONITORS_CONFIG itself and no reply comes.)
    Reply { to: ReplyTo, success: bool },
    /// A transfer was offered to the agent (FILE_XFER_START sent): for a progress panel.
    FileStarted { id: TransferId, name: String, size: u64 },
    /// Bytes of a file handed to the server so far (at most every 1 MiB and at the end).
    FileProgress { id: TransferId, sent: u64, total: u64 },
    /// A transfer is over.
    FileDone { id: TransferId, outcome: TransferOutcome },
}

/// A command of the embedder for the agent machine (queued by `AgentHandle`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentCommand {
    /// One encoded agent message (header and data), sent as is.
    Raw(Vec<u8>),
    /// The client owns `selection` with these types; data is asked for later.
    ClipboardGrab {
        selection: Selection,
        types: Vec<ClipType>,
    },
    ClipboardRelease {
        selection: Selection,
    },
    /// Ask the guest for the data of its grab.
    ClipboardRequest {
        id: RequestId,
        selection: Selection,
        clip_type: ClipType,
    },
    /// The answer to [`AgentEvent::ClipboardWanted`] (text with LF line ends).
    ClipboardData {
        selection: Selection,
        clip_type: ClipType,
        data: Vec<u8>,
    },
    /// No data for the oldest [`AgentEvent::ClipboardWanted`] of `selection`.
    ClipboardNoData {
        selection: Selection,
    },
    /// The wanted guest monitor layout (the last one of a batch wins).
    MonitorsConfig(Vec<MonitorSpec>),
    DisplayConfig(DisplayEffects),
    VolumeSync(AudioVolumeSync),
    /// Offer a file; its bytes follow as [`FileData`](Self::FileData).
    FileStart {
        id: TransferId,
        name: String,
        size: u64,
    },
    /// The next bytes of a file (at most 64 KiB), in order.
    FileData {
        id: TransferId,
        data: Vec<u8>,
    },
    /// Reading the file failed: the transfer is cancelled.
    FileReadError {
        id: TransferId,
        error: String,
    },
    CancelFile {
        id: TransferId,
    },
}

impl AgentCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Raw(_) => "raw",
            Self::ClipboardGrab { .. } => "clipboard grab",
            Self::ClipboardRelease { .. } => "clipboard release",
            Self::ClipboardRequest { .. } => "clipboard request",
            Self::ClipboardData { .. } => "clipboard data",
            Self::ClipboardNoData { .. } => "clipboard no data",
            Self::MonitorsConfig(_) => "monitors config",
            Self::DisplayConfig(_) => "display config",
            Self::VolumeSync(_) => "volume sync",
            Self::FileStart { .. } => "file start",
            Self::FileData { .. } => "file data",
            Self::FileReadError { .. } => "file read error",
            Self::CancelFile { .. } => "cancel file",
        }
    }
}

/// Counters of what the agent machine saw, for diagnostics and tests
/// (`AgentHandle::stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Whole agent messages received and decoded.
    pub messages_received: u64,
    /// Agent messages sent (each cut into AGENT_DATA bodies).
    pub messages_sent: u64,
    /// AGENT_DATA bodies sent.
    pub chunks_sent: u64,
    /// Broken framing (bad protocol number): the reassembler resynchronised.
    pub framing_errors: u64,
    /// Messages declaring more data than the limits: skipped unbuffered.
    pub oversize_messages: u64,
    /// Messages whose body did not decode.
    pub undecodable: u64,
    /// Messages of a type the client does not take (or before the agent's capabilities).
    pub unexpected: u64,
    /// AGENT_DATA while no agent is connected.
    pub data_without_agent: u64,
    /// Clipboard data nobody asked for (dropped).
    pub unsolicited_clipboard: u64,
    /// Guest grabs with a stale serial (dropped).
    pub stale_grabs: u64,
    /// Clipboard messages naming an unknown selection (dropped).
    pub unknown_selection: u64,
    /// Guest clipboard requests answered with NONE at once.
    pub unserved_guest_requests: u64,
    /// FILE_XFER_STATUS for a transfer that is not running (ignored).
    pub unknown_transfer_status: u64,
    /// Messages the client could not encode (dropped).
    pub encode_errors: u64,
}

impl AgentStats {
    pub(crate) fn add(&mut self, d: &Self) {
        self.messages_received += d.messages_received;
        self.messages_sent += d.messages_sent;
        self.chunks_sent += d.chunks_sent;
        self.framing_errors += d.framing_errors;
        self.oversize_messages += d.oversize_messages;
        self.undecodable += d.undecodable;
        self.unexpected += d.unexpected;
        self.data_without_agent += d.data_without_agent;
        self.unsolicited_clipboard += d.unsolicited_clipboard;
        self.stale_grabs += d.stale_grabs;
        self.unknown_selection += d.unknown_selection;
        self.unserved_guest_requests += d.unserved_guest_requests;
        self.unknown_transfer_status += d.unknown_transfer_status;
        self.encode_errors += d.encode_errors;
    }
}
