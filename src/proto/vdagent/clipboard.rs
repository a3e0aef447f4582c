//! Clipboard messages (GRAB, REQUEST, CLIPBOARD, RELEASE), their type and
//! selection numbers, and the helpers around clipboard payloads: MIME names,
//! the FILE_LIST format and line-end conversion for the guest.
//!
//! Layouts (reference §3.7, §4.3), every field little endian:
//! - with CLIPBOARD_SELECTION negotiated, every clipboard message starts with
//!   `u8 selection, u8 reserved[3]` (reserved bytes are written as zero and
//!   ignored when read); without it there is no prefix and the selection is
//!   CLIPBOARD;
//! - GRAB: `[prefix] [u32 serial, if CLIPBOARD_GRAB_SERIAL] u32 types[]`, the
//!   number of types given by the message size (a partial type is an error);
//! - REQUEST: `[prefix] u32 type` (exact size);
//! - CLIPBOARD: `[prefix] u32 type, data[]` (data = the rest);
//! - RELEASE: `[prefix]` (exact size: 0 or 4 bytes).

use super::caps::{self, AgentCaps};
use super::error::EncodeError;
use super::{Layout, as_u64};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// `VD_AGENT_CLIPBOARD_SELECTION_*`.
pub mod selection {
    pub const CLIPBOARD: u8 = 0;
    pub const PRIMARY: u8 = 1;
    pub const SECONDARY: u8 = 2;
}

/// `VD_AGENT_CLIPBOARD_*` data types.
pub mod clip_type {
    /// No data: the answer to a request that cannot be served.
    pub const NONE: u32 = 0;
    pub const UTF8_TEXT: u32 = 1;
    /// The image type every client with image support should offer.
    pub const IMAGE_PNG: u32 = 2;
    pub const IMAGE_BMP: u32 = 3;
    pub const IMAGE_TIFF: u32 = 4;
    pub const IMAGE_JPG: u32 = 5;
    /// `"copy"` or `"cut"`, then paths in the WebDAV share, each NUL-terminated.
    pub const FILE_LIST: u32 = 6;
}

/// Bytes of the selection prefix when CLIPBOARD_SELECTION is negotiated.
pub const SELECTION_PREFIX_LEN: usize = 4;

/// A selection's name, for logs.
pub fn selection_name(sel: u8) -> &'static str {
    match sel {
        selection::CLIPBOARD => "CLIPBOARD",
        selection::PRIMARY => "PRIMARY",
        selection::SECONDARY => "SECONDARY",
        _ => "?",
    }
}

/// A clipboard type's name, for logs.
pub fn type_name(t: u32) -> &'static str {
    match t {
        clip_type::NONE => "NONE",
        clip_type::UTF8_TEXT => "UTF8_TEXT",
        clip_type::IMAGE_PNG => "IMAGE_PNG",
        clip_type::IMAGE_BMP => "IMAGE_BMP",
        clip_type::IMAGE_TIFF => "IMAGE_TIFF",
        clip_type::IMAGE_JPG => "IMAGE_JPG",
        clip_type::FILE_LIST => "FILE_LIST",
        _ => "?",
    }
}

/// The MIME type a desktop clipboard uses for an agent clipboard type.
/// FILE_LIST has none (desktops offer file lists in several formats).
pub fn mime_type(t: u32) -> Option<&'static str> {
    match t {
        clip_type::UTF8_TEXT => Some("text/plain;charset=utf-8"),
        clip_type::IMAGE_PNG => Some("image/png"),
        clip_type::IMAGE_BMP => Some("image/bmp"),
        clip_type::IMAGE_TIFF => Some("image/tiff"),
        clip_type::IMAGE_JPG => Some("image/jpeg"),
        _ => None,
    }
}

/// The agent clipboard type for a desktop MIME type (text variants included).
pub fn type_for_mime(mime: &str) -> Option<u32> {
    match mime.to_ascii_lowercase().as_str() {
        "text/plain;charset=utf-8" | "text/plain" | "utf8_string" | "string" | "text" => Some(clip_type::UTF8_TEXT),
        "image/png" => Some(clip_type::IMAGE_PNG),
        "image/bmp" | "image/x-bmp" | "image/x-ms-bmp" => Some(clip_type::IMAGE_BMP),
        "image/tiff" => Some(clip_type::IMAGE_TIFF),
        "image/jpeg" | "image/jpg" => Some(clip_type::IMAGE_JPG),
        _ => None,
    }
}

/// `VD_AGENT_CLIPBOARD`: clipboard data, both directions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clipboard {
    /// `selection::*` (CLIPBOARD when the selection capability is not negotiated).
    pub selection: u8,
    /// `clip_type::*`; NONE answers a request that cannot be served.
    pub clip_type: u32,
    pub data: Vec<u8>,
}

/// `VD_AGENT_CLIPBOARD_GRAB`: the sender owns the clipboard and offers these types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipboardGrab {
    pub selection: u8,
    /// On the wire only with CLIPBOARD_GRAB_SERIAL; decoded as 0 and not sent otherwise.
    pub serial: u32,
    pub types: Vec<u32>,
}

fn write_prefix(w: &mut WriteCursor, layout: Layout, what: &'static str, sel: u8) -> Result<(), EncodeError> {
    if layout.selection {
        w.write_slice(&[sel, 0, 0, 0]);
    } else if sel != selection::CLIPBOARD {
        return Err(EncodeError::SelectionWithoutCap { what, selection: sel });
    }
    Ok(())
}

fn read_prefix(r: &mut ReadCursor<'_>, layout: Layout, what: &'static str) -> ProtoResult<u8> {
    if !layout.selection {
        return Ok(selection::CLIPBOARD);
    }
    let prefix = r.read_array::<SELECTION_PREFIX_LEN>(what)?;
    Ok(prefix[0])
}

/// Bytes before the data of a CLIPBOARD message under `layout`.
pub(super) fn clipboard_header_len(layout: Layout) -> usize {
    if layout.selection { SELECTION_PREFIX_LEN + 4 } else { 4 }
}

impl Clipboard {
    pub(super) fn encode(&self, w: &mut WriteCursor, layout: Layout) -> Result<(), EncodeError> {
        write_prefix(w, layout, "clipboard", self.selection)?;
        w.write_u32(self.clip_type);
        w.write_slice(&self.data);
        Ok(())
    }

    /// Decodes the selection and type; the data is `body[clipboard_header_len(layout)..]`.
    pub(super) fn decode_head(body: &[u8], layout: Layout) -> ProtoResult<(u8, u32)> {
        let mut r = ReadCursor::new(body);
        let selection = read_prefix(&mut r, layout, "clipboard selection")?;
        let clip_type = r.read_u32("clipboard type")?;
        Ok((selection, clip_type))
    }

    pub(super) fn decode(body: &[u8], layout: Layout) -> ProtoResult<Self> {
        let (selection, clip_type) = Self::decode_head(body, layout)?;
        let data = body.get(clipboard_header_len(layout)..).unwrap_or_default().to_vec();
        Ok(Self {
            selection,
            clip_type,
            data,
        })
    }
}

impl ClipboardGrab {
    pub(super) fn encode(&self, w: &mut WriteCursor, layout: Layout) -> Result<(), EncodeError> {
        write_prefix(w, layout, "clipboard grab", self.selection)?;
        if layout.grab_serial {
            w.write_u32(self.serial);
        }
        for &t in &self.types {
            w.write_u32(t);
        }
        Ok(())
    }

    pub(super) fn decode(body: &[u8], layout: Layout) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let selection = read_prefix(&mut r, layout, "clipboard grab selection")?;
        let serial = if layout.grab_serial {
            r.read_u32("clipboard grab serial")?
        } else {
            0
        };
        let types = read_u32_array(&mut r, "clipboard grab types")?;
        Ok(Self {
            selection,
            serial,
            types,
        })
    }
}

/// Reads u32 words up to the end; a partial trailing word is an error.
pub(super) fn read_u32_array(r: &mut ReadCursor<'_>, what: &'static str) -> ProtoResult<Vec<u32>> {
    let extra = r.len_remaining() % 4;
    if extra != 0 {
        return Err(DecodeError::TrailingBytes { what, extra });
    }
    let mut out = Vec::with_capacity(r.len_remaining() / 4);
    while !r.is_empty() {
        out.push(r.read_u32(what)?);
    }
    Ok(out)
}

pub(super) fn encode_request(w: &mut WriteCursor, layout: Layout, sel: u8, clip_type: u32) -> Result<(), EncodeError> {
    write_prefix(w, layout, "clipboard request", sel)?;
    w.write_u32(clip_type);
    Ok(())
}

pub(super) fn decode_request(body: &[u8], layout: Layout) -> ProtoResult<(u8, u32)> {
    let mut r = ReadCursor::new(body);
    let sel = read_prefix(&mut r, layout, "clipboard request selection")?;
    let clip_type = r.read_u32("clipboard request type")?;
    r.expect_end("clipboard request")?;
    Ok((sel, clip_type))
}

pub(super) fn encode_release(w: &mut WriteCursor, layout: Layout, sel: u8) -> Result<(), EncodeError> {
    write_prefix(w, layout, "clipboard release", sel)
}

pub(super) fn decode_release(body: &[u8], layout: Layout) -> ProtoResult<u8> {
    let mut r = ReadCursor::new(body);
    let sel = read_prefix(&mut r, layout, "clipboard release selection")?;
    r.expect_end("clipboard release")?;
    Ok(sel)
}

/// What the receiver of a FILE_LIST does with the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileListAction {
    Copy,
    Cut,
}

/// The payload of a FILE_LIST clipboard: an action and absolute paths inside
/// the WebDAV share (`org.spice-space.webdav.0`), all UTF-8.
///
/// Wire form: every item NUL-terminated, the action first (`"copy"` or
/// `"cut"`). A missing terminator after the last item is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileList {
    pub action: FileListAction,
    pub paths: Vec<String>,
}

impl FileList {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = match self.action {
            FileListAction::Copy => b"copy\0".to_vec(),
            FileListAction::Cut => b"cut\0".to_vec(),
        };
        for p in &self.paths {
            if p.contains('\0') {
                return Err(EncodeError::InteriorNul { what: "file list path" });
            }
            out.extend_from_slice(p.as_bytes());
            out.push(0);
        }
        Ok(out)
    }

    pub fn decode(data: &[u8]) -> ProtoResult<Self> {
        let data = data.strip_suffix(&[0]).unwrap_or(data);
        let mut items = data.split(|&b| b == 0);
        let action = match items.next() {
            Some(b"copy") => FileListAction::Copy,
            Some(b"cut") => FileListAction::Cut,
            _ => return Err(DecodeError::invalid("file list action", 0u32)),
        };
        let paths = items
            .map(|p| {
                String::from_utf8(p.to_vec())
                    .map_err(|e| DecodeError::invalid("file list path (UTF-8)", as_u64(e.utf8_error().valid_up_to())))
            })
            .collect::<ProtoResult<Vec<_>>>()?;
        Ok(Self { action, paths })
    }
}

/// The guest's text line-end convention, from its announced capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    Lf,
    CrLf,
}

impl LineEnd {
    /// What the agent announced (GUEST_LINEEND_CRLF wins if both are set);
    /// `None` when it announced neither (then text is sent unchanged).
    pub fn of_guest(agent_caps: &AgentCaps) -> Option<Self> {
        if agent_caps.has(caps::GUEST_LINEEND_CRLF) {
            Some(Self::CrLf)
        } else if agent_caps.has(caps::GUEST_LINEEND_LF) {
            Some(Self::Lf)
        } else {
            None
        }
    }
}

/// Client text (LF line ends) as the guest wants it: for a CR LF guest every
/// LF not already preceded by CR becomes CR LF.
pub fn text_to_guest(text: &str, guest: Option<LineEnd>) -> String {
    if guest != Some(LineEnd::CrLf) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().saturating_add(text.len() / 16));
    let mut prev = '\0';
    for c in text.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

/// Guest text as the client wants it (LF line ends): for a CR LF guest every
/// CR LF becomes LF; a lone CR is kept.
pub fn text_from_guest(text: &str, guest: Option<LineEnd>) -> String {
    if guest != Some(LineEnd::CrLf) {
        return text.to_owned();
    }
    text.replace("\r\n", "\n")
}
