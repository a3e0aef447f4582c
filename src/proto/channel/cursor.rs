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
mod tests {
    use super::*;
    use crate::proto::base::Message;

    fn rt<M: Message + PartialEq + std::fmt::Debug>(m: M) {
        let body = m.to_body();
        assert_eq!(M::decode(m.msg_type(), &body).unwrap(), m);
    }

    fn header(ty: CursorType, w: u16, h: u16) -> CursorHeader {
        CursorHeader {
            unique: 0x1122_3344_5566_7788,
            cursor_type: ty.to_wire(),
            width: w,
            height: h,
            hot_spot_x: 1,
            hot_spot_y: 2,
        }
    }

    fn shape(ty: CursorType, w: u16, h: u16, extra_flags: u16) -> Cursor {
        Cursor {
            flags: extra_flags,
            header: Some(header(ty, w, h)),
            data: (0..ty.data_size(w, h)).map(|i| (i % 251) as u8).collect(),
        }
    }

    #[test]
    fn data_sizes_follow_the_type() {
        // 5 x 3: mask rows are 1 byte.
        assert_eq!(CursorType::Alpha.data_size(5, 3), 60);
        assert_eq!(CursorType::Mono.data_size(5, 3), 6);
        assert_eq!(CursorType::Color4.data_size(5, 3), 9 + 64 + 3);
        assert_eq!(CursorType::Color8.data_size(5, 3), 15 + 1024 + 3);
        assert_eq!(CursorType::Color16.data_size(5, 3), 30 + 3);
        assert_eq!(CursorType::Color24.data_size(5, 3), 45 + 3);
        assert_eq!(CursorType::Color32.data_size(5, 3), 60 + 3);
        assert_eq!(CursorType::Mono.data_size(0, 0), 0);
        for v in 0..=6 {
            assert_eq!(CursorType::from_wire(v).unwrap().to_wire(), v);
        }
        assert!(CursorType::from_wire(7).is_none());
    }

    #[test]
    fn server_round_trips() {
        rt(CursorServer::Base(ServerBase::SetAck {
            generation: 1,
            window: 20,
        }));
        for (i, ty) in [
            CursorType::Alpha,
            CursorType::Mono,
            CursorType::Color4,
            CursorType::Color8,
            CursorType::Color16,
            CursorType::Color24,
            CursorType::Color32,
        ]
        .into_iter()
        .enumerate()
        {
            rt(CursorServer::Init(CursorInit {
                position: Point16 { x: -3, y: 700 },
                trail_length: 2,
                trail_frequency: 3,
                visible: 1,
                cursor: shape(ty, 7, 5, flags::CACHE_ME),
            }));
            rt(CursorServer::Set(CursorSet {
                position: Point16 { x: i as i16, y: 9 },
                visible: 0,
                cursor: shape(ty, 33, 2, 0),
            }));
        }
        rt(CursorServer::Set(CursorSet {
            position: Point16 { x: 1, y: 2 },
            visible: 1,
            cursor: Cursor {
                flags: flags::FROM_CACHE,
                header: Some(header(CursorType::Alpha, 32, 32)),
                data: Vec::new(),
            },
        }));
        rt(CursorServer::Set(CursorSet {
            position: Point16 { x: 1, y: 2 },
            visible: 1,
            cursor: Cursor::none(),
        }));
        rt(CursorServer::Reset);
        rt(CursorServer::Move {
            position: Point16 { x: -1, y: 32767 },
        });
        rt(CursorServer::Hide);
        rt(CursorServer::Trail {
            length: 4,
            frequency: 5,
        });
        rt(CursorServer::InvalOne { id: u64::MAX });
        rt(CursorServer::InvalAll);
        rt(CursorServer::Unknown {
            msg_type: 150,
            data: vec![1, 2],
        });
        rt(CursorClient::Base(ClientBase::Pong { id: 1, timestamp: 2 }));
    }

    #[test]
    fn wire_layout_of_set() {
        let m = CursorServer::Set(CursorSet {
            position: Point16 { x: 0x0102, y: -2 },
            visible: 1,
            cursor: Cursor {
                flags: flags::CACHE_ME,
                header: Some(CursorHeader {
                    unique: 9,
                    cursor_type: CursorType::Mono.to_wire(),
                    width: 8,
                    height: 1,
                    hot_spot_x: 3,
                    hot_spot_y: 0,
                }),
                data: vec![0xf0, 0x0f],
            },
        });
        assert_eq!(m.msg_type(), 103);
        assert_eq!(
            m.to_body(),
            [
                0x02, 0x01, 0xfe, 0xff, 1, // position, visible
                2, 0, // flags
                9, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 1, 0, 3, 0, 0, 0, // header
                0xf0, 0x0f
            ]
        );
    }

    #[test]
    fn hostile_shapes_are_refused() {
        let set = |c: Cursor| {
            CursorServer::Set(CursorSet {
                position: Point16::default(),
                visible: 1,
                cursor: c,
            })
            .to_body()
        };
        // Data one byte short and one byte long.
        let mut c = shape(CursorType::Color32, 4, 4, 0);
        c.data.pop();
        assert!(CursorServer::decode(msg::SET, &set(c.clone())).is_err());
        c.data.extend_from_slice(&[0, 0]);
        assert!(CursorServer::decode(msg::SET, &set(c)).is_err());
        // Huge dimensions with no data: refused on the size, nothing allocated.
        let mut c = shape(CursorType::Alpha, 0, 0, 0);
        if let Some(h) = c.header.as_mut() {
            h.width = u16::MAX;
            h.height = u16::MAX;
        }
        assert!(matches!(
            CursorServer::decode(msg::SET, &set(c)),
            Err(DecodeError::TooLarge { .. })
        ));
        // Unknown type.
        let mut c = shape(CursorType::Alpha, 1, 1, 0);
        if let Some(h) = c.header.as_mut() {
            h.cursor_type = 7;
        }
        assert!(matches!(
            CursorServer::decode(msg::SET, &set(c)),
            Err(DecodeError::InvalidValue { .. })
        ));
        // Truncated header.
        let body = set(shape(CursorType::Alpha, 1, 1, 0));
        assert!(CursorServer::decode(msg::SET, &body[..10]).is_err());
        assert!(CursorServer::decode(msg::INIT, &[0; 8]).is_err());
        assert!(CursorServer::decode(msg::INVAL_ONE, &[0; 7]).is_err());
        // FROM_CACHE of a huge cached shape is fine: nothing is decoded here.
        let c = Cursor {
            flags: flags::FROM_CACHE,
            header: Some(header(CursorType::Alpha, u16::MAX, u16::MAX)),
            data: Vec::new(),
        };
        assert!(CursorServer::decode(msg::SET, &set(c)).is_ok());
    }
}
