//! Cursor channel messages (`channel CursorChannel` in spice.proto).
//!
//! The server sends the guest's pointer shape (`SpiceCursor`: flags, an
//! optional header, pixel data) and its position; the client only sends base
//! messages. Shape pixels stay raw bytes here: [`crate::cursor`] turns them
//! into RGBA and keeps the cursor cache.

use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::channel::display::Point16;
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// Widest or tallest cursor accepted (pixels). X cursor themes top out at
/// 256 pixels even at HiDPI scale 2; 1024 leaves room while bounding one
/// decoded shape to 4 MiB of RGBA.
pub const MAX_CURSOR_SIDE: u16 = 1024;

/// Server message numbers.
pub mod msg {
    pub const INIT: u16 = 101;
    pub const RESET: u16 = 102;
    pub const SET: u16 = 103;
    pub const MOVE: u16 = 104;
    pub const HIDE: u16 = 105;
    pub const TRAIL: u16 = 106;
    pub const INVAL_ONE: u16 = 107;
    pub const INVAL_ALL: u16 = 108;
}

/// `SpiceCursorFlags` (a flags16 on the wire).
pub mod flags {
    /// No cursor at all: no header and no data follow.
    pub const NONE: u16 = 1;
    /// The client must keep the shape under its unique id.
    pub const CACHE_ME: u16 = 2;
    /// The shape is the cached one with the header's unique id; no data follows.
    pub const FROM_CACHE: u16 = 4;
}

/// `SpiceCursorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CursorType {
    /// 32-bit ARGB (little endian) with a real alpha channel.
    Alpha,
    /// 1 bit per pixel: AND mask then XOR mask.
    Mono,
    /// 4-bit palette indices, a 16-entry palette, then the AND mask.
    Color4,
    /// 8-bit palette indices, a 256-entry palette, then the AND mask.
    Color8,
    /// x1r5g5b5 then the AND mask.
    Color16,
    /// 24-bit BGR then the AND mask.
    Color24,
    /// 32-bit xRGB then the AND mask.
    Color32,
}

impl CursorType {
    pub fn from_wire(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Alpha,
            1 => Self::Mono,
            2 => Self::Color4,
            3 => Self::Color8,
            4 => Self::Color16,
            5 => Self::Color24,
            6 => Self::Color32,
            _ => return None,
        })
    }

    pub fn to_wire(self) -> u8 {
        match self {
            Self::Alpha => 0,
            Self::Mono => 1,
            Self::Color4 => 2,
            Self::Color8 => 3,
            Self::Color16 => 4,
            Self::Color24 => 5,
            Self::Color32 => 6,
        }
    }

    /// Entries of the palette that follows the pixels (COLOR4/COLOR8 only).
    pub fn palette_entries(self) -> usize {
        match self {
            Self::Color4 => 16,
            Self::Color8 => 256,
            _ => 0,
        }
    }

    /// Bytes of one row of pixels (before the palette and the mask).
    pub fn pixel_row_bytes(self, width: u16) -> usize {
        let w = usize::from(width);
        match self {
            Self::Alpha | Self::Color32 => w * 4,
            Self::Mono => w.div_ceil(8),
            Self::Color4 => w.div_ceil(2),
            Self::Color8 => w,
            Self::Color16 => w * 2,
            Self::Color24 => w * 3,
        }
    }

    /// Exact data size of a `width` x `height` shape of this type:
    /// pixels, palette and masks (MONO: AND and XOR masks; COLORn: one AND
    /// mask; rows of masks are `ceil(width / 8)` bytes).
    pub fn data_size(self, width: u16, height: u16) -> usize {
        let h = usize::from(height);
        let mask = usize::from(width).div_ceil(8) * h;
        let pixels = self.pixel_row_bytes(width) * h;
        match self {
            Self::Alpha => pixels,
            Self::Mono => pixels + mask,
            _ => pixels + self.palette_entries() * 4 + mask,
        }
    }
}

/// `SpiceCursorHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorHeader {
    pub unique: u64,
    /// The raw `SpiceCursorType` (see [`CursorType::from_wire`]).
    pub cursor_type: u8,
    pub width: u16,
    pub height: u16,
    pub hot_spot_x: u16,
    pub hot_spot_y: u16,
}

impl CursorHeader {
    pub const WIRE_SIZE: usize = 17;

    fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            unique: r.read_u64("cursor unique")?,
            cursor_type: r.read_u8("cursor type")?,
            width: r.read_u16("cursor width")?,
            height: r.read_u16("cursor height")?,
            hot_spot_x: r.read_u16("cursor hot_spot_x")?,
            hot_spot_y: r.read_u16("cursor hot_spot_y")?,
        })
    }

    fn encode(&self, w: &mut WriteCursor) {
        w.write_u64(self.unique);
        w.write_u8(self.cursor_type);
        w.write_u16(self.width);
        w.write_u16(self.height);
        w.write_u16(self.hot_spot_x);
        w.write_u16(self.hot_spot_y);
    }
}

/// `SpiceCursor`: flags, the header unless `NONE`, then the data (the rest
/// of the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub flags: u16,
    pub header: Option<CursorHeader>,
    pub data: Vec<u8>,
}

impl Cursor {
    /// The "no cursor" value (`flags = NONE`).
    pub fn none() -> Self {
        Self {
            flags: flags::NONE,
            header: None,
            data: Vec::new(),
        }
    }

    /// Whether this carries no shape at all.
    pub fn is_none(&self) -> bool {
        self.flags & flags::NONE != 0
    }

    /// Whether the shape is to be taken from the cache.
    pub fn is_from_cache(&self) -> bool {
        !self.is_none() && self.flags & flags::FROM_CACHE != 0
    }

    fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        let flags = r.read_u16("cursor flags")?;
        let header = if flags & flags::NONE == 0 {
            Some(CursorHeader::decode(r)?)
        } else {
            None
        };
        let data = r.read_rest();
        let cursor_shape = header.filter(|_| flags & flags::FROM_CACHE == 0);
        if let Some(h) = cursor_shape {
            // A shape carried inline: its type must be known, its size bounded
            // and its data exactly the size the type implies.
            let ty = CursorType::from_wire(h.cursor_type).ok_or(DecodeError::invalid("cursor type", h.cursor_type))?;
            for (what, side) in [("cursor width", h.width), ("cursor height", h.height)] {
                if side > MAX_CURSOR_SIDE {
                    return Err(DecodeError::TooLarge {
                        what,
                        size: u64::from(side),
                        max: u64::from(MAX_CURSOR_SIDE),
                    });
                }
            }
            let expected = ty.data_size(h.width, h.height);
            if data.len() != expected {
                let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                return Err(DecodeError::invalid(
                    "cursor data size (must match its type and size)",
                    len,
                ));
            }
        }
        Ok(Self {
            flags,
            header,
            data: data.to_vec(),
        })
    }

    fn encode(&self, w: &mut WriteCursor) {
        w.write_u16(self.flags);
        if self.flags & flags::NONE == 0 {
            // A header is always on the wire unless NONE; a missing one encodes as zeros.
            self.header
                .unwrap_or(CursorHeader {
                    unique: 0,
                    cursor_type: 0,
                    width: 0,
                    height: 0,
                    hot_spot_x: 0,
                    hot_spot_y: 0,
                })
                .encode(w);
        }
        w.write_slice(&self.data);
    }
}

/// `SpiceMsgCursorInit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorInit {
    pub position: Point16,
    pub trail_length: u16,
    pub trail_frequency: u16,
    pub visible: u8,
    pub cursor: Cursor,
}

/// `SpiceMsgCursorSet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorSet {
    pub position: Point16,
    pub visible: u8,
    pub cursor: Cursor,
}

/// Cursor channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorServer {
    Base(ServerBase),
    Init(CursorInit),
    Reset,
    Set(CursorSet),
    Move { position: Point16 },
    Hide,
    Trail { length: u16, frequency: u16 },
    InvalOne { id: u64 },
    InvalAll,
    Unknown { msg_type: u16, data: Vec<u8> },
}

fn read_point(r: &mut ReadCursor<'_>) -> ProtoResult<Point16> {
    Ok(Point16 {
        x: r.read_i16("cursor position x")?,
        y: r.read_i16("cursor position y")?,
    })
}

fn write_point(w: &mut WriteCursor, p: Point16) {
    w.write_i16(p.x);
    w.write_i16(p.y);
}

impl CursorServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Init(_) => msg::INIT,
            Self::Reset => msg::RESET,
            Self::Set(_) => msg::SET,
            Self::Move { .. } => msg::MOVE,
            Self::Hide => msg::HIDE,
            Self::Trail { .. } => msg::TRAIL,
            Self::InvalOne { .. } => msg::INVAL_ONE,
            Self::InvalAll => msg::INVAL_ALL,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Init(i) => {
                write_point(w, i.position);
                w.write_u16(i.trail_length);
                w.write_u16(i.trail_frequency);
                w.write_u8(i.visible);
                i.cursor.encode(w);
            }
            Self::Set(s) => {
                write_point(w, s.position);
                w.write_u8(s.visible);
                s.cursor.encode(w);
            }
            Self::Move { position } => write_point(w, *position),
            Self::Trail { length, frequency } => {
                w.write_u16(*length);
                w.write_u16(*frequency);
            }
            Self::InvalOne { id } => w.write_u64(*id),
            Self::Reset | Self::Hide | Self::InvalAll | Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::INIT => Self::Init(CursorInit {
                position: read_point(&mut r)?,
                trail_length: r.read_u16("cursor init trail_length")?,
                trail_frequency: r.read_u16("cursor init trail_frequency")?,
                visible: r.read_u8("cursor init visible")?,
                cursor: Cursor::decode(&mut r)?,
            }),
            msg::RESET => Self::Reset,
            msg::SET => Self::Set(CursorSet {
                position: read_point(&mut r)?,
                visible: r.read_u8("cursor set visible")?,
                cursor: Cursor::decode(&mut r)?,
            }),
            msg::MOVE => Self::Move {
                position: read_point(&mut r)?,
            },
            msg::HIDE => Self::Hide,
            msg::TRAIL => Self::Trail {
                length: r.read_u16("cursor trail length")?,
                frequency: r.read_u16("cursor trail frequency")?,
            },
            msg::INVAL_ONE => Self::InvalOne {
                id: r.read_u64("cursor inval_one id")?,
            },
            msg::INVAL_ALL => Self::InvalAll,
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

/// Cursor channel, client to server: base messages only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorClient {
    Base(ClientBase),
    Unknown { msg_type: u16, data: Vec<u8> },
}

impl crate::proto::base::Message for CursorServer {
    fn msg_type(&self) -> u16 {
        match self {
            Self::Base(b) => b.msg_type(),
            Self::Unknown { msg_type, .. } => *msg_type,
            other => other.channel_msg_type(),
        }
    }
    fn encode_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Base(b) => b.encode_body(w),
            Self::Unknown { data, .. } => w.write_slice(data),
            other => other.encode_channel_body(w),
        }
    }
    fn decode(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        if let Some(b) = ServerBase::decode(msg_type, body)? {
            return Ok(Self::Base(b));
        }
        Self::decode_channel(msg_type, body)
    }
}

impl crate::proto::base::Message for CursorClient {
    fn msg_type(&self) -> u16 {
        match self {
            Self::Base(b) => b.msg_type(),
            Self::Unknown { msg_type, .. } => *msg_type,
        }
    }
    fn encode_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Base(b) => b.encode_body(w),
            Self::Unknown { data, .. } => w.write_slice(data),
        }
    }
    fn decode(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        if let Some(b) = ClientBase::decode(msg_type, body)? {
            return Ok(Self::Base(b));
        }
        Ok(Self::Unknown {
            msg_type,
            data: body.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests;
