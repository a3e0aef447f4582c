//! Data-phase framing: `SpiceMiniDataHeader`, `SpiceDataHeader` and the
//! sub-message lists a full header may point to.

use super::consts::msg;
use super::cursor::{ReadCursor, WriteCursor};
use super::error::{DecodeError, ProtoResult};

/// Default cap on one message body (hostile-inputs row 8): 128 MiB.
pub const DEFAULT_MAX_MESSAGE: u32 = 128 * 1024 * 1024;
/// Most sub-messages one list may carry.
pub const MAX_SUB_MESSAGES: u16 = 4096;

/// Which data header the link negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// `SpiceMiniDataHeader {u16 type, u32 size}` (both sides have MINI_HEADER).
    Mini,
    /// `SpiceDataHeader {u64 serial, u16 type, u32 size, u32 sub_list}`.
    Full,
}

impl HeaderKind {
    pub const fn header_len(self) -> usize {
        match self {
            // type u16 + size u32
            Self::Mini => 2 + 4,
            // serial u64 + type u16 + size u32 + sub_list u32
            Self::Full => 8 + 2 + 4 + 4,
        }
    }
}

/// A decoded data header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader {
    pub serial: u64,
    pub msg_type: u16,
    pub size: u32,
    pub sub_list: u32,
}

impl DataHeader {
    /// Decodes a header and refuses sizes above `max_size` before anything is allocated.
    pub fn decode(kind: HeaderKind, r: &mut ReadCursor<'_>, max_size: u32) -> ProtoResult<Self> {
        r.ensure("data header", kind.header_len())?;
        let h = match kind {
            HeaderKind::Mini => {
                let msg_type = r.read_u16("message type")?;
                let size = r.read_u32("message size")?;
                Self {
                    serial: 0,
                    msg_type,
                    size,
                    sub_list: 0,
                }
            }
            HeaderKind::Full => {
                let serial = r.read_u64("message serial")?;
                let msg_type = r.read_u16("message type")?;
                let size = r.read_u32("message size")?;
                let sub_list = r.read_u32("message sub_list")?;
                Self {
                    serial,
                    msg_type,
                    size,
                    sub_list,
                }
            }
        };
        if h.size > max_size {
            return Err(DecodeError::TooLarge {
                what: "message body",
                size: u64::from(h.size),
                max: u64::from(max_size),
            });
        }
        Ok(h)
    }

    pub fn encode(&self, kind: HeaderKind, w: &mut WriteCursor) {
        match kind {
            HeaderKind::Mini => {
                w.write_u16(self.msg_type);
                w.write_u32(self.size);
            }
            HeaderKind::Full => {
                w.write_u64(self.serial);
                w.write_u16(self.msg_type);
                w.write_u32(self.size);
                w.write_u32(self.sub_list);
            }
        }
    }
}

/// Frames one message: header then body.
pub fn encode_message(kind: HeaderKind, serial: u64, msg_type: u16, body: &[u8]) -> Vec<u8> {
    let mut w = WriteCursor::with_capacity(kind.header_len() + body.len());
    DataHeader {
        serial,
        msg_type,
        size: u32::try_from(body.len()).unwrap_or(u32::MAX),
        sub_list: 0,
    }
    .encode(kind, &mut w);
    w.write_slice(body);
    w.into_inner()
}

/// One sub-message of a list: its type and its body, borrowed from the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubMessage<'a> {
    pub msg_type: u16,
    pub body: &'a [u8],
}

/// Splits the `SpiceSubMessageList` found at `sub_list` inside `body`.
///
/// Every offset and size is checked against the parent; a nested list or any
/// entry pointing outside rejects the whole list (hostile-inputs row 10).
pub fn sub_messages(body: &[u8], sub_list: u32) -> ProtoResult<Vec<SubMessage<'_>>> {
    let mut r = ReadCursor::at_offset(body, "sub-message list", sub_list)?;
    let count = r.read_u16("sub-message count")?;
    if count > MAX_SUB_MESSAGES {
        return Err(DecodeError::TooLarge {
            what: "sub-message count",
            size: u64::from(count),
            max: u64::from(MAX_SUB_MESSAGES),
        });
    }
    r.ensure("sub-message offsets", usize::from(count) * 4)?;
    let mut out = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let off = r.read_u32("sub-message offset")?;
        let mut s = ReadCursor::at_offset(body, "sub-message", off)?;
        let msg_type = s.read_u16("sub-message type")?;
        let size = s.read_u32("sub-message size")?;
        if msg_type == msg::LIST {
            return Err(DecodeError::invalid("nested sub-message list", msg_type));
        }
        let len = usize::try_from(size).map_err(|_| DecodeError::Overflow {
            what: "sub-message size",
        })?;
        let data = s.read_slice("sub-message body", len)?;
        out.push(SubMessage { msg_type, body: data });
    }
    Ok(out)
}

/// Builds a body carrying `subs` as a sub-message list (test server helper).
/// Returns the body and the `sub_list` offset to put in the full header.
pub fn build_sub_list(main_body: &[u8], subs: &[(u16, &[u8])]) -> (Vec<u8>, u32) {
    let mut w = WriteCursor::new();
    w.write_slice(main_body);
    let mut offsets = Vec::with_capacity(subs.len());
    for (ty, data) in subs {
        offsets.push(u32::try_from(w.len()).unwrap_or(u32::MAX));
        w.write_u16(*ty);
        w.write_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
        w.write_slice(data);
    }
    let list_off = u32::try_from(w.len()).unwrap_or(u32::MAX);
    w.write_u16(u16::try_from(subs.len()).unwrap_or(u16::MAX));
    for o in offsets {
        w.write_u32(o);
    }
    (w.into_inner(), list_off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mini_round_trip() {
        let bytes = encode_message(HeaderKind::Mini, 0, 103, &[1, 2, 3]);
        let mut r = ReadCursor::new(&bytes);
        let h = DataHeader::decode(HeaderKind::Mini, &mut r, DEFAULT_MAX_MESSAGE).unwrap();
        assert_eq!((h.msg_type, h.size), (103, 3));
        assert_eq!(r.remaining(), &[1, 2, 3]);
    }

    #[test]
    fn full_round_trip() {
        let bytes = encode_message(HeaderKind::Full, 77, 4, &[9; 10]);
        let mut r = ReadCursor::new(&bytes);
        let h = DataHeader::decode(HeaderKind::Full, &mut r, DEFAULT_MAX_MESSAGE).unwrap();
        assert_eq!((h.serial, h.msg_type, h.size, h.sub_list), (77, 4, 10, 0));
    }

    #[test]
    fn huge_size_refused() {
        let mut w = WriteCursor::new();
        w.write_u16(101);
        w.write_u32(u32::MAX);
        let e = DataHeader::decode(
            HeaderKind::Mini,
            &mut ReadCursor::new(w.as_slice()),
            DEFAULT_MAX_MESSAGE,
        );
        assert!(matches!(e, Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn sub_list_round_trip() {
        let (body, off) = build_sub_list(&[], &[(3, &[1, 0, 0, 0, 2, 0, 0, 0]), (4, &[5; 12])]);
        let subs = sub_messages(&body, off).unwrap();
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].msg_type, 3);
        assert_eq!(subs[1].body, &[5; 12]);
    }

    #[test]
    fn sub_list_hostile() {
        let (mut body, off) = build_sub_list(&[], &[(3, &[0; 8])]);
        // list offset outside
        assert!(sub_messages(&body, off + 100).is_err());
        // sub-message size past the end
        body[2..6].copy_from_slice(&1000u32.to_le_bytes());
        assert!(sub_messages(&body, off).is_err());
        // entry offset outside
        let (mut body, off) = build_sub_list(&[], &[(3, &[0; 8])]);
        let o = off as usize + 2;
        body[o..o + 4].copy_from_slice(&9999u32.to_le_bytes());
        assert!(sub_messages(&body, off).is_err());
        // count larger than the offsets present
        let (mut body, off) = build_sub_list(&[], &[(3, &[0; 8])]);
        let o = off as usize;
        body[o..o + 2].copy_from_slice(&500u16.to_le_bytes());
        assert!(sub_messages(&body, off).is_err());
        // nested list
        let (body, off) = build_sub_list(&[], &[(msg::LIST, &[])]);
        assert!(sub_messages(&body, off).is_err());
    }
}
