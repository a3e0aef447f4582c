//! File transfer (client → guest): FILE_XFER_START, FILE_XFER_STATUS and
//! FILE_XFER_DATA (reference §4.5).
//!
//! - START: `u32 id` + a NUL-terminated GLib key file,
//!   `[vdagent-file-xfer]` with `name=` (the file's base name, key-file
//!   escaped) and `size=` (decimal bytes).
//! - STATUS: `u32 id, u32 result`, then, only when FILE_XFER_DETAILED_ERRORS
//!   is negotiated and the message is long enough, a detail: `u64 free bytes`
//!   for NOT_ENOUGH_SPACE, `{u8 error_type, u32 error_code}` for ERROR
//!   (type 0 = a GIO error code). Other trailing bytes are ignored.
//! - DATA: `u32 id, u64 size, data[size]`; `size` must be the rest of the message.

use super::error::EncodeError;
use super::{Layout, as_u64};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// `VD_AGENT_FILE_XFER_STATUS_*` result numbers.
pub mod xfer_status {
    pub const CAN_SEND_DATA: u32 = 0;
    pub const CANCELLED: u32 = 1;
    pub const ERROR: u32 = 2;
    pub const SUCCESS: u32 = 3;
    pub const NOT_ENOUGH_SPACE: u32 = 4;
    pub const SESSION_LOCKED: u32 = 5;
    pub const VDAGENT_NOT_CONNECTED: u32 = 6;
    pub const DISABLED: u32 = 7;
}

/// `VD_AGENT_FILE_XFER_STATUS_ERROR_*`: what `XferErrorDetail::code` means.
pub mod xfer_error_type {
    /// `code` is a GIO error (`GIOErrorEnum`).
    pub const GLIB_IO: u8 = 0;
}

/// The key-file group of FILE_XFER_START.
pub const KEY_FILE_GROUP: &str = "vdagent-file-xfer";
/// Bytes before the data of FILE_XFER_DATA (`u32 id, u64 size`).
pub const DATA_HEADER_LEN: usize = 12;
/// The file-data bytes spice-gtk puts in one FILE_XFER_DATA (32 × 2048).
pub const DATA_CHUNK: usize = 64 * 1024;

/// `VD_AGENT_FILE_XFER_START`: the client offers a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileXferStart {
    pub id: u32,
    /// Base name of the file (no NUL).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// The detail of a FILE_XFER_STATUS ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XferErrorDetail {
    /// `xfer_error_type::*`.
    pub error_type: u8,
    pub code: u32,
}

/// A FILE_XFER_STATUS result with its detail, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XferResult {
    /// The agent accepted the file: send DATA.
    CanSendData,
    /// Cancelled (the client also *sends* this to cancel).
    Cancelled,
    Error(Option<XferErrorDetail>),
    Success,
    /// Free bytes on the guest, when detailed.
    NotEnoughSpace(Option<u64>),
    SessionLocked,
    AgentNotConnected,
    Disabled,
    /// A result number this module does not know.
    Other(u32),
}

impl XferResult {
    /// The result number on the wire.
    pub fn code(&self) -> u32 {
        match self {
            Self::CanSendData => xfer_status::CAN_SEND_DATA,
            Self::Cancelled => xfer_status::CANCELLED,
            Self::Error(_) => xfer_status::ERROR,
            Self::Success => xfer_status::SUCCESS,
            Self::NotEnoughSpace(_) => xfer_status::NOT_ENOUGH_SPACE,
            Self::SessionLocked => xfer_status::SESSION_LOCKED,
            Self::AgentNotConnected => xfer_status::VDAGENT_NOT_CONNECTED,
            Self::Disabled => xfer_status::DISABLED,
            Self::Other(c) => *c,
        }
    }
}

/// `VD_AGENT_FILE_XFER_STATUS`, both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileXferStatus {
    pub id: u32,
    pub result: XferResult,
}

/// `VD_AGENT_FILE_XFER_DATA`: one piece of a file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileXferData {
    pub id: u32,
    pub data: Vec<u8>,
}

impl FileXferStart {
    pub(super) fn encode(&self, w: &mut WriteCursor) -> Result<(), EncodeError> {
        if self.name.contains('\0') {
            return Err(EncodeError::InteriorNul { what: "file name" });
        }
        w.write_u32(self.id);
        let text = format!(
            "[{KEY_FILE_GROUP}]\nname={}\nsize={}\n",
            escape_value(&self.name),
            self.size
        );
        w.write_slice(text.as_bytes());
        w.write_u8(0);
        Ok(())
    }

    /// The key file ends at the first NUL (or at the end of the message);
    /// it must be UTF-8 and give `name` and a decimal `size` in its group.
    pub(super) fn decode(body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let id = r.read_u32("file xfer start id")?;
        let rest = r.read_rest();
        let raw = rest.split(|&b| b == 0).next().unwrap_or_default();
        let text = std::str::from_utf8(raw)
            .map_err(|e| DecodeError::invalid("file xfer key file (UTF-8)", as_u64(e.valid_up_to())))?;
        let (mut name, mut size) = (None, None);
        let mut in_group = false;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line).trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(group) = line.strip_prefix('[') {
                in_group = group.trim_end().strip_suffix(']') == Some(KEY_FILE_GROUP);
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if !in_group {
                continue;
            }
            let value = value.trim_start_matches([' ', '\t']);
            match key.trim_end() {
                "name" => name = Some(unescape_value(value)),
                "size" => size = Some(value.trim()),
                _ => {}
            }
        }
        let name = name.ok_or(DecodeError::invalid("file xfer key file: no name", 0u32))?;
        let size = size
            .ok_or(DecodeError::invalid("file xfer key file: no size", 0u32))?
            .parse::<u64>()
            .map_err(|_| DecodeError::invalid("file xfer key file: size", 0u32))?;
        Ok(Self { id, name, size })
    }
}

/// GLib key-file value escaping: backslash, newline, CR and tab anywhere,
/// and a leading space (which a reader would otherwise strip).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' if i == 0 => out.push_str("\\s"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape_value`]; an unknown escape is kept as written.
pub fn unescape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('s') => out.push(' '),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

impl FileXferStatus {
    pub(super) fn encode(&self, w: &mut WriteCursor, layout: Layout) {
        w.write_u32(self.id);
        w.write_u32(self.result.code());
        if !layout.detailed_errors {
            return;
        }
        match self.result {
            XferResult::NotEnoughSpace(Some(free)) => w.write_u64(free),
            XferResult::Error(Some(d)) => {
                w.write_u8(d.error_type);
                w.write_u32(d.code);
            }
            _ => {}
        }
    }

    pub(super) fn decode(body: &[u8], layout: Layout) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let id = r.read_u32("file xfer status id")?;
        let code = r.read_u32("file xfer status result")?;
        let detailed = layout.detailed_errors;
        let result = match code {
            xfer_status::CAN_SEND_DATA => XferResult::CanSendData,
            xfer_status::CANCELLED => XferResult::Cancelled,
            xfer_status::ERROR => XferResult::Error(if detailed && r.len_remaining() >= 5 {
                Some(XferErrorDetail {
                    error_type: r.read_u8("file xfer error type")?,
                    code: r.read_u32("file xfer error code")?,
                })
            } else {
                None
            }),
            xfer_status::SUCCESS => XferResult::Success,
            xfer_status::NOT_ENOUGH_SPACE => XferResult::NotEnoughSpace(if detailed && r.len_remaining() >= 8 {
                Some(r.read_u64("file xfer free space")?)
            } else {
                None
            }),
            xfer_status::SESSION_LOCKED => XferResult::SessionLocked,
            xfer_status::VDAGENT_NOT_CONNECTED => XferResult::AgentNotConnected,
            xfer_status::DISABLED => XferResult::Disabled,
            other => XferResult::Other(other),
        };
        Ok(Self { id, result })
    }
}

impl FileXferData {
    pub(super) fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.id);
        w.write_u64(as_u64(self.data.len()));
        w.write_slice(&self.data);
    }

    /// Decodes the id and checks the declared size against the body; the
    /// data is `body[DATA_HEADER_LEN..]`.
    pub(super) fn decode_head(body: &[u8]) -> ProtoResult<u32> {
        let mut r = ReadCursor::new(body);
        let id = r.read_u32("file xfer data id")?;
        let size = r.read_u64("file xfer data size")?;
        let have = as_u64(r.len_remaining());
        if size > have {
            return Err(DecodeError::NotEnoughBytes {
                what: "file xfer data",
                received: r.len_remaining(),
                expected: usize::try_from(size).unwrap_or(usize::MAX),
            });
        }
        if size < have {
            return Err(DecodeError::TrailingBytes {
                what: "file xfer data",
                extra: usize::try_from(have - size).unwrap_or(usize::MAX),
            });
        }
        Ok(id)
    }

    pub(super) fn decode(body: &[u8]) -> ProtoResult<Self> {
        let id = Self::decode_head(body)?;
        let data = body.get(DATA_HEADER_LEN..).unwrap_or_default().to_vec();
        Ok(Self { id, data })
    }
}
