//! The guest-agent (vdagent) protocol carried by MAIN AGENT_DATA, sans-IO:
//! every `vd_agent.h` message with its encoder and decoder, the capability
//! bitmap, and the framing that cuts messages into AGENT_DATA bodies and puts
//! them back together ([`chunk`]).
//!
//! Every agent message is a 20-byte [`AgentHeader`] `{u32 protocol = 1,
//! u32 type, u64 opaque, u32 size}` followed by `size` bytes of data, all
//! little endian. The same layouts are used in both directions, so one
//! [`AgentMessage`] type serves the client (which decodes what the guest
//! sends) and the test server (which plays the agent and decodes what the
//! client sends).
//!
//! Some layouts depend on negotiated capabilities (the intersection of both
//! ANNOUNCE_CAPABILITIES): the clipboard selection prefix
//! (CLIPBOARD_SELECTION), the grab serial (CLIPBOARD_GRAB_SERIAL) and the
//! file-transfer error details (FILE_XFER_DETAILED_ERRORS). Encoding and
//! decoding therefore take the negotiated [`AgentCaps`].
//!
//! Decoders never panic, and allocate only in proportion to the body they are
//! given (every count is checked against the bytes present before anything is
//! reserved for it); the size a body may have is bounded earlier, by the
//! reassembler's [`AgentLimits`].

#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

pub mod caps;
pub mod chunk;
pub mod clipboard;
pub mod control;
pub mod error;
pub mod file_xfer;
#[cfg(test)]
mod tests;

pub use caps::AgentCaps;
pub use chunk::{AgentLimits, Reassembler, chunk_bodies};
pub use clipboard::{Clipboard, ClipboardGrab};
pub use control::{AudioVolumeSync, DeviceDisplayInfo, DisplayConfig, MonConfig, MonitorsConfig, MouseState, Reply};
pub use error::{EncodeError, FramingError};
pub use file_xfer::{FileXferData, FileXferStart, FileXferStatus, XferErrorDetail, XferResult};

use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// `VD_AGENT_PROTOCOL`: the only protocol number of the agent header.
pub const PROTOCOL: u32 = 1;
/// `VD_AGENT_MAX_DATA_SIZE`: the largest AGENT_DATA body, header included.
pub const MAX_DATA_SIZE: usize = 2048;
/// Bytes of `VDAgentMessage` without its data.
pub const HEADER_SIZE: usize = 20;

/// `VDP_*_PORT`: the `port` of a `VDIChunkHeader {u32 port, u32 size}`.
///
/// Chunk headers exist only between the server and the guest's virtio port;
/// they never appear in AGENT_DATA (the server adds them towards the guest
/// and strips them towards the client), so this module does not frame them.
pub mod port {
    pub const CLIENT: u32 = 1;
    pub const SERVER: u32 = 2;
}

/// `VD_AGENT_*` message types.
pub mod msg_type {
    pub const MOUSE_STATE: u32 = 1;
    pub const MONITORS_CONFIG: u32 = 2;
    pub const REPLY: u32 = 3;
    pub const CLIPBOARD: u32 = 4;
    pub const DISPLAY_CONFIG: u32 = 5;
    pub const ANNOUNCE_CAPABILITIES: u32 = 6;
    pub const CLIPBOARD_GRAB: u32 = 7;
    pub const CLIPBOARD_REQUEST: u32 = 8;
    pub const CLIPBOARD_RELEASE: u32 = 9;
    pub const FILE_XFER_START: u32 = 10;
    pub const FILE_XFER_STATUS: u32 = 11;
    pub const FILE_XFER_DATA: u32 = 12;
    pub const CLIENT_DISCONNECTED: u32 = 13;
    pub const MAX_CLIPBOARD: u32 = 14;
    pub const AUDIO_VOLUME_SYNC: u32 = 15;
    pub const GRAPHICS_DEVICE_INFO: u32 = 16;
}

/// A message type's name, for logs.
pub fn msg_type_name(t: u32) -> &'static str {
    match t {
        msg_type::MOUSE_STATE => "MOUSE_STATE",
        msg_type::MONITORS_CONFIG => "MONITORS_CONFIG",
        msg_type::REPLY => "REPLY",
        msg_type::CLIPBOARD => "CLIPBOARD",
        msg_type::DISPLAY_CONFIG => "DISPLAY_CONFIG",
        msg_type::ANNOUNCE_CAPABILITIES => "ANNOUNCE_CAPABILITIES",
        msg_type::CLIPBOARD_GRAB => "CLIPBOARD_GRAB",
        msg_type::CLIPBOARD_REQUEST => "CLIPBOARD_REQUEST",
        msg_type::CLIPBOARD_RELEASE => "CLIPBOARD_RELEASE",
        msg_type::FILE_XFER_START => "FILE_XFER_START",
        msg_type::FILE_XFER_STATUS => "FILE_XFER_STATUS",
        msg_type::FILE_XFER_DATA => "FILE_XFER_DATA",
        msg_type::CLIENT_DISCONNECTED => "CLIENT_DISCONNECTED",
        msg_type::MAX_CLIPBOARD => "MAX_CLIPBOARD",
        msg_type::AUDIO_VOLUME_SYNC => "AUDIO_VOLUME_SYNC",
        msg_type::GRAPHICS_DEVICE_INFO => "GRAPHICS_DEVICE_INFO",
        _ => "?",
    }
}

/// `VDAgentMessage` without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentHeader {
    /// Must be [`PROTOCOL`]; the reassembler rejects anything else.
    pub protocol: u32,
    pub msg_type: u32,
    /// Opaque to the protocol; spice-gtk always sends 0.
    pub opaque: u64,
    /// Bytes of data after the header.
    pub size: u32,
}

impl AgentHeader {
    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.protocol);
        w.write_u32(self.msg_type);
        w.write_u64(self.opaque);
        w.write_u32(self.size);
    }

    /// Reads the fields as they are (the protocol number is not checked here).
    pub fn decode(bytes: &[u8; HEADER_SIZE]) -> Self {
        let mut r = ReadCursor::new(bytes);
        // Cannot fail: the array holds exactly the five fields.
        Self {
            protocol: r.read_u32("agent protocol").unwrap_or_default(),
            msg_type: r.read_u32("agent type").unwrap_or_default(),
            opaque: r.read_u64("agent opaque").unwrap_or_default(),
            size: r.read_u32("agent size").unwrap_or_default(),
        }
    }
}

/// A whole agent message as framed: type, opaque and undecoded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAgentMessage {
    pub msg_type: u32,
    pub opaque: u64,
    pub data: Vec<u8>,
}

impl RawAgentMessage {
    /// Its header (protocol 1); fails if the data is longer than `u32::MAX`.
    pub fn header(&self) -> Result<AgentHeader, EncodeError> {
        Ok(AgentHeader {
            protocol: PROTOCOL,
            msg_type: self.msg_type,
            opaque: self.opaque,
            size: wire_count("agent message data", self.data.len())?,
        })
    }

    /// Header and data, ready for [`chunk_bodies`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let header = self.header()?;
        let mut w = WriteCursor::with_capacity(HEADER_SIZE.saturating_add(self.data.len()));
        header.encode(&mut w);
        w.write_slice(&self.data);
        Ok(w.into_inner())
    }

    /// Decodes the data under the negotiated capabilities.
    pub fn decode(&self, caps: &AgentCaps) -> ProtoResult<AgentMessage> {
        AgentMessage::decode(self.msg_type, &self.data, caps)
    }

    /// Like [`decode`](Self::decode), but moves the payload of CLIPBOARD and
    /// FILE_XFER_DATA instead of copying it (clipboard data may be 100 MB).
    pub fn into_message(self, caps: &AgentCaps) -> ProtoResult<AgentMessage> {
        let layout = Layout::from_caps(caps);
        let mut data = self.data;
        match self.msg_type {
            msg_type::CLIPBOARD => {
                let (selection, clip_type) = Clipboard::decode_head(&data, layout)?;
                data.drain(..clipboard::clipboard_header_len(layout).min(data.len()));
                Ok(AgentMessage::Clipboard(Clipboard {
                    selection,
                    clip_type,
                    data,
                }))
            }
            msg_type::FILE_XFER_DATA => {
                let id = FileXferData::decode_head(&data)?;
                data.drain(..file_xfer::DATA_HEADER_LEN.min(data.len()));
                Ok(AgentMessage::FileXferData(FileXferData { id, data }))
            }
            other => AgentMessage::decode(other, &data, caps),
        }
    }
}

/// The capability-dependent parts of the layouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Layout {
    selection: bool,
    grab_serial: bool,
    detailed_errors: bool,
}

impl Layout {
    fn from_caps(caps: &AgentCaps) -> Self {
        Self {
            selection: caps.has(caps::CLIPBOARD_SELECTION),
            grab_serial: caps.has(caps::CLIPBOARD_GRAB_SERIAL),
            detailed_errors: caps.has(caps::FILE_XFER_DETAILED_ERRORS),
        }
    }
}

/// One agent message, decoded. The same type serves both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage {
    /// Server → agent (server mouse mode through the agent).
    MouseState(MouseState),
    /// Client → agent: the wanted guest monitor layout.
    MonitorsConfig(MonitorsConfig),
    /// Agent → client: the answer to MONITORS_CONFIG or DISPLAY_CONFIG.
    Reply(Reply),
    /// Both directions: clipboard data.
    Clipboard(Clipboard),
    /// Client → agent: desktop effects and colour depth (Windows guests).
    DisplayConfig(DisplayConfig),
    /// Both directions: `{u32 request, u32 caps[]}`. `request` asks the
    /// peer to announce its own; the caps fill the message (whole words).
    AnnounceCapabilities { request: bool, caps: AgentCaps },
    /// Both directions.
    ClipboardGrab(ClipboardGrab),
    /// Both directions: `[prefix] u32 type`.
    ClipboardRequest { selection: u8, clip_type: u32 },
    /// Both directions: `[prefix]`.
    ClipboardRelease { selection: u8 },
    /// Client → agent.
    FileXferStart(FileXferStart),
    /// Both directions (the client sends CANCELLED to cancel).
    FileXferStatus(FileXferStatus),
    /// Client → agent.
    FileXferData(FileXferData),
    /// Server → agent: the client went away (empty).
    ClientDisconnected,
    /// Client → agent: `{i32 max}`, the largest clipboard data the client
    /// accepts (spice-gtk: 100 MiB by default, -1 for no limit); see
    /// [`AgentLimits::from_max_clipboard`].
    MaxClipboard { max: i32 },
    /// Client → agent.
    AudioVolumeSync(AudioVolumeSync),
    /// Server → agent: which guest device output shows each (channel, monitor).
    GraphicsDeviceInfo(Vec<DeviceDisplayInfo>),
    /// A type this module does not know, kept as received.
    Unknown { msg_type: u32, data: Vec<u8> },
}

impl AgentMessage {
    pub fn msg_type(&self) -> u32 {
        match self {
            Self::MouseState(_) => msg_type::MOUSE_STATE,
            Self::MonitorsConfig(_) => msg_type::MONITORS_CONFIG,
            Self::Reply(_) => msg_type::REPLY,
            Self::Clipboard(_) => msg_type::CLIPBOARD,
            Self::DisplayConfig(_) => msg_type::DISPLAY_CONFIG,
            Self::AnnounceCapabilities { .. } => msg_type::ANNOUNCE_CAPABILITIES,
            Self::ClipboardGrab(_) => msg_type::CLIPBOARD_GRAB,
            Self::ClipboardRequest { .. } => msg_type::CLIPBOARD_REQUEST,
            Self::ClipboardRelease { .. } => msg_type::CLIPBOARD_RELEASE,
            Self::FileXferStart(_) => msg_type::FILE_XFER_START,
            Self::FileXferStatus(_) => msg_type::FILE_XFER_STATUS,
            Self::FileXferData(_) => msg_type::FILE_XFER_DATA,
            Self::ClientDisconnected => msg_type::CLIENT_DISCONNECTED,
            Self::MaxClipboard { .. } => msg_type::MAX_CLIPBOARD,
            Self::AudioVolumeSync(_) => msg_type::AUDIO_VOLUME_SYNC,
            Self::GraphicsDeviceInfo(_) => msg_type::GRAPHICS_DEVICE_INFO,
            Self::Unknown { msg_type, .. } => *msg_type,
        }
    }

    /// The message data (without header) under the negotiated capabilities.
    pub fn encode_body(&self, caps: &AgentCaps) -> Result<Vec<u8>, EncodeError> {
        let layout = Layout::from_caps(caps);
        let mut w = WriteCursor::new();
        match self {
            Self::MouseState(m) => m.encode(&mut w),
            Self::MonitorsConfig(m) => m.encode(&mut w)?,
            Self::Reply(r) => {
                w.write_u32(r.msg_type);
                w.write_u32(r.error);
            }
            Self::Clipboard(c) => c.encode(&mut w, layout)?,
            Self::DisplayConfig(d) => {
                w.write_u32(d.flags);
                w.write_u32(d.depth);
            }
            Self::AnnounceCapabilities { request, caps } => {
                w.write_u32(u32::from(*request));
                caps.encode(&mut w);
            }
            Self::ClipboardGrab(g) => g.encode(&mut w, layout)?,
            Self::ClipboardRequest { selection, clip_type } => {
                clipboard::encode_request(&mut w, layout, *selection, *clip_type)?
            }
            Self::ClipboardRelease { selection } => clipboard::encode_release(&mut w, layout, *selection)?,
            Self::FileXferStart(s) => s.encode(&mut w)?,
            Self::FileXferStatus(s) => s.encode(&mut w, layout),
            Self::FileXferData(d) => d.encode(&mut w),
            Self::ClientDisconnected => {}
            Self::MaxClipboard { max } => w.write_i32(*max),
            Self::AudioVolumeSync(a) => a.encode(&mut w)?,
            Self::GraphicsDeviceInfo(infos) => control::encode_device_info(&mut w, infos)?,
            Self::Unknown { data, .. } => w.write_slice(data),
        }
        Ok(w.into_inner())
    }

    /// Decodes the data of a message of type `msg_type` under the negotiated
    /// capabilities. Unknown types give [`AgentMessage::Unknown`].
    pub fn decode(msg_type: u32, body: &[u8], caps: &AgentCaps) -> ProtoResult<Self> {
        let layout = Layout::from_caps(caps);
        Ok(match msg_type {
            msg_type::MOUSE_STATE => Self::MouseState(MouseState::decode(body)?),
            msg_type::MONITORS_CONFIG => Self::MonitorsConfig(MonitorsConfig::decode(body)?),
            msg_type::REPLY => {
                let (msg_type, error) = control::decode_u32_pair(body, "reply")?;
                Self::Reply(Reply { msg_type, error })
            }
            msg_type::CLIPBOARD => Self::Clipboard(Clipboard::decode(body, layout)?),
            msg_type::DISPLAY_CONFIG => {
                let (flags, depth) = control::decode_u32_pair(body, "display config")?;
                Self::DisplayConfig(DisplayConfig { flags, depth })
            }
            msg_type::ANNOUNCE_CAPABILITIES => {
                let mut r = ReadCursor::new(body);
                let request = r.read_u32("announce capabilities request")? != 0;
                let words = clipboard::read_u32_array(&mut r, "announce capabilities caps")?;
                Self::AnnounceCapabilities {
                    request,
                    caps: AgentCaps::from_words(words),
                }
            }
            msg_type::CLIPBOARD_GRAB => Self::ClipboardGrab(ClipboardGrab::decode(body, layout)?),
            msg_type::CLIPBOARD_REQUEST => {
                let (selection, clip_type) = clipboard::decode_request(body, layout)?;
                Self::ClipboardRequest { selection, clip_type }
            }
            msg_type::CLIPBOARD_RELEASE => Self::ClipboardRelease {
                selection: clipboard::decode_release(body, layout)?,
            },
            msg_type::FILE_XFER_START => Self::FileXferStart(FileXferStart::decode(body)?),
            msg_type::FILE_XFER_STATUS => Self::FileXferStatus(FileXferStatus::decode(body, layout)?),
            msg_type::FILE_XFER_DATA => Self::FileXferData(FileXferData::decode(body)?),
            msg_type::CLIENT_DISCONNECTED => {
                ReadCursor::new(body).expect_end("client disconnected")?;
                Self::ClientDisconnected
            }
            msg_type::MAX_CLIPBOARD => {
                let mut r = ReadCursor::new(body);
                let max = r.read_i32("max clipboard")?;
                r.expect_end("max clipboard")?;
                Self::MaxClipboard { max }
            }
            msg_type::AUDIO_VOLUME_SYNC => Self::AudioVolumeSync(AudioVolumeSync::decode(body)?),
            msg_type::GRAPHICS_DEVICE_INFO => Self::GraphicsDeviceInfo(control::decode_device_info(body)?),
            other => Self::Unknown {
                msg_type: other,
                data: body.to_vec(),
            },
        })
    }

    /// The framed message (opaque 0, as spice-gtk sends).
    pub fn to_raw(&self, caps: &AgentCaps) -> Result<RawAgentMessage, EncodeError> {
        Ok(RawAgentMessage {
            msg_type: self.msg_type(),
            opaque: 0,
            data: self.encode_body(caps)?,
        })
    }

    /// Header and data (opaque 0), ready for [`chunk_bodies`].
    pub fn to_bytes(&self, caps: &AgentCaps) -> Result<Vec<u8>, EncodeError> {
        self.to_raw(caps)?.to_bytes()
    }

    /// The AGENT_DATA bodies that carry this message, each at most
    /// [`MAX_DATA_SIZE`] bytes; each costs one agent token to send.
    pub fn to_agent_data(&self, caps: &AgentCaps) -> Result<Vec<Vec<u8>>, EncodeError> {
        Ok(chunk_bodies(&self.to_bytes(caps)?).map(<[u8]>::to_vec).collect())
    }
}

/// `n` as u64 (lossless on every supported target; saturates otherwise).
fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A length or count as its u32 wire field.
fn wire_count(what: &'static str, len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::TooLong {
        what,
        len,
        max: u64::from(u32::MAX),
    })
}

/// Checks that `count` elements of `elem` bytes are present before anything
/// is allocated for them; returns `count` as usize.
fn count_fits(r: &ReadCursor<'_>, what: &'static str, count: u32, elem: usize) -> ProtoResult<usize> {
    let n = usize::try_from(count).map_err(|_| DecodeError::Overflow { what })?;
    let total = n.checked_mul(elem).ok_or(DecodeError::Overflow { what })?;
    r.ensure(what, total)?;
    Ok(n)
}
