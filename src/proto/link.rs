//! Link phase structures: `SpiceLinkHeader`, `SpiceLinkMess`, `SpiceLinkReply`,
//! `SpiceLinkAuthMechanism` and the encrypted ticket.

use super::caps::{CapSet, Caps};
use super::consts::{
    ChannelType, LinkErr, SPICE_MAGIC, SPICE_TICKET_PUBKEY_BYTES, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR,
};
use super::cursor::{ReadCursor, WriteCursor};
use super::error::{DecodeError, ProtoResult};

/// Largest link message or reply body Sumac accepts (hostile-inputs row 3).
pub const MAX_LINK_BODY: u32 = 64 * 1024;

/// `SpiceLinkHeader`: magic, version and the size of what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkHeader {
    pub major: u32,
    pub minor: u32,
    pub size: u32,
}

impl LinkHeader {
    pub const SIZE: usize = 4 /* magic */ + 4 /* major */ + 4 /* minor */ + 4 /* size */;

    pub fn new(size: u32) -> Self {
        Self {
            major: SPICE_VERSION_MAJOR,
            minor: SPICE_VERSION_MINOR,
            size,
        }
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(SPICE_MAGIC);
        w.write_u32(self.major);
        w.write_u32(self.minor);
        w.write_u32(self.size);
    }

    /// Decodes and validates: magic, major version 2, and `min_body <= size <= MAX_LINK_BODY`.
    pub fn decode(r: &mut ReadCursor<'_>, min_body: u32) -> ProtoResult<Self> {
        r.ensure("link header", Self::SIZE)?;
        let magic = r.read_u32("link magic")?;
        if magic != SPICE_MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        let major = r.read_u32("link major")?;
        let minor = r.read_u32("link minor")?;
        if major != SPICE_VERSION_MAJOR {
            return Err(DecodeError::VersionMismatch { major, minor });
        }
        let size = r.read_u32("link size")?;
        if size > MAX_LINK_BODY {
            return Err(DecodeError::TooLarge {
                what: "link body",
                size: u64::from(size),
                max: u64::from(MAX_LINK_BODY),
            });
        }
        if size < min_body {
            return Err(DecodeError::NotEnoughBytes {
                what: "link body (declared size)",
                received: size as usize,
                expected: min_body as usize,
            });
        }
        Ok(Self { major, minor, size })
    }
}

/// Reads `num_common` then `num_channel` words at `caps_offset` of `body`.
fn decode_caps(
    body: &[u8],
    what: &'static str,
    num_common: u32,
    num_channel: u32,
    caps_offset: u32,
) -> ProtoResult<Caps> {
    let mut r = ReadCursor::at_offset(body, what, caps_offset)?;
    let total = u64::from(num_common) + u64::from(num_channel);
    let bytes = super::cursor::checked_array_len(what, total, 4, u64::from(MAX_LINK_BODY))?;
    r.ensure(what, bytes)?;
    let common = CapSet::decode(&mut r, what, num_common)?;
    let channel = CapSet::decode(&mut r, what, num_channel)?;
    Ok(Caps { common, channel })
}

/// `SpiceLinkMess`: what a client asks for when it opens a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkMess {
    pub connection_id: u32,
    pub channel_type: ChannelType,
    pub channel_id: u8,
    pub caps: Caps,
}

impl LinkMess {
    pub const FIXED_SIZE: usize = 4 /* connection_id */ + 1 /* type */ + 1 /* id */ + 4 /* num_common_caps */
        + 4 /* num_channel_caps */ + 4 /* caps_offset */;

    /// Where the caps words start, relative to the body.
    pub const CAPS_OFFSET: u32 = 18;

    /// Header + body, ready to send.
    pub fn encode_with_header(&self) -> Vec<u8> {
        let mut body = WriteCursor::new();
        body.write_u32(self.connection_id);
        body.write_u8(self.channel_type.0);
        body.write_u8(self.channel_id);
        body.write_u32(self.caps.common.word_count());
        body.write_u32(self.caps.channel.word_count());
        body.write_u32(Self::CAPS_OFFSET);
        self.caps.common.encode(&mut body);
        self.caps.channel.encode(&mut body);
        let body = body.into_inner();
        let mut w = WriteCursor::with_capacity(LinkHeader::SIZE + body.len());
        LinkHeader::new(u32::try_from(body.len()).unwrap_or(u32::MAX)).encode(&mut w);
        w.write_slice(&body);
        w.into_inner()
    }

    /// Decodes a body whose header was already read.
    pub fn decode_body(body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        r.ensure("link message", Self::FIXED_SIZE)?;
        let connection_id = r.read_u32("connection_id")?;
        let channel_type = ChannelType(r.read_u8("channel_type")?);
        let channel_id = r.read_u8("channel_id")?;
        let num_common = r.read_u32("num_common_caps")?;
        let num_channel = r.read_u32("num_channel_caps")?;
        let caps_offset = r.read_u32("caps_offset")?;
        let caps = decode_caps(body, "link message caps", num_common, num_channel, caps_offset)?;
        Ok(Self {
            connection_id,
            channel_type,
            channel_id,
            caps,
        })
    }
}

/// `SpiceLinkReply`: the server's answer with its ticket key and capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReply {
    pub error: LinkErr,
    pub pub_key: [u8; SPICE_TICKET_PUBKEY_BYTES],
    pub caps: Caps,
}

impl LinkReply {
    pub const FIXED_SIZE: usize = 4 /* error */ + SPICE_TICKET_PUBKEY_BYTES + 4 /* num_common_caps */
        + 4 /* num_channel_caps */ + 4 /* caps_offset */;

    /// Where the caps words start, relative to the body.
    pub const CAPS_OFFSET: u32 = 178;

    pub fn encode_with_header(&self) -> Vec<u8> {
        let mut body = WriteCursor::new();
        body.write_u32(self.error.to_u32());
        body.write_slice(&self.pub_key);
        body.write_u32(self.caps.common.word_count());
        body.write_u32(self.caps.channel.word_count());
        body.write_u32(Self::CAPS_OFFSET);
        self.caps.common.encode(&mut body);
        self.caps.channel.encode(&mut body);
        let body = body.into_inner();
        let mut w = WriteCursor::with_capacity(LinkHeader::SIZE + body.len());
        LinkHeader::new(u32::try_from(body.len()).unwrap_or(u32::MAX)).encode(&mut w);
        w.write_slice(&body);
        w.into_inner()
    }

    /// Decodes a reply body. An error reply may be shorter than a full reply
    /// (only the error word is meaningful then).
    pub fn decode_body(body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let error = LinkErr::from_u32(r.read_u32("link reply error")?);
        if error != LinkErr::Ok && body.len() < Self::FIXED_SIZE {
            return Ok(Self {
                error,
                pub_key: [0; SPICE_TICKET_PUBKEY_BYTES],
                caps: Caps::default(),
            });
        }
        r.ensure("link reply", Self::FIXED_SIZE - 4)?;
        let pub_key = r.read_array::<SPICE_TICKET_PUBKEY_BYTES>("link reply pub_key")?;
        let num_common = r.read_u32("num_common_caps")?;
        let num_channel = r.read_u32("num_channel_caps")?;
        let caps_offset = r.read_u32("caps_offset")?;
        let caps = decode_caps(body, "link reply caps", num_common, num_channel, caps_offset)?;
        Ok(Self { error, pub_key, caps })
    }
}

/// `SpiceLinkAuthMechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthMechanism(pub u32);

impl AuthMechanism {
    pub const SPICE: Self = Self(1);
    pub const SASL: Self = Self(2);
    pub const SIZE: usize = 4;

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.0);
    }

    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self(r.read_u32("auth mechanism")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::caps::common;

    fn sample_reply() -> LinkReply {
        let mut key = [0u8; SPICE_TICKET_PUBKEY_BYTES];
        key.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        LinkReply {
            error: LinkErr::Ok,
            pub_key: key,
            caps: Caps::new(&[common::PROTOCOL_AUTH_SELECTION, common::MINI_HEADER], &[1, 2, 40]),
        }
    }

    #[test]
    fn link_mess_round_trip() {
        let m = LinkMess {
            connection_id: 0x1234,
            channel_type: ChannelType::DISPLAY,
            channel_id: 1,
            caps: Caps::new(&[0, 1, 3], &[0, 5, 9]),
        };
        let bytes = m.encode_with_header();
        let mut r = ReadCursor::new(&bytes);
        let h = LinkHeader::decode(&mut r, LinkMess::CAPS_OFFSET).unwrap();
        assert_eq!(h.size as usize, bytes.len() - LinkHeader::SIZE);
        assert_eq!(LinkMess::decode_body(r.remaining()).unwrap(), m);
    }

    #[test]
    fn link_reply_round_trip() {
        let rep = sample_reply();
        let bytes = rep.encode_with_header();
        let mut r = ReadCursor::new(&bytes);
        LinkHeader::decode(&mut r, LinkReply::CAPS_OFFSET).unwrap();
        assert_eq!(LinkReply::decode_body(r.remaining()).unwrap(), rep);
    }

    #[test]
    fn truncated_header() {
        let bytes = sample_reply().encode_with_header();
        let mut r = ReadCursor::new(&bytes[..10]);
        assert!(matches!(
            LinkHeader::decode(&mut r, 0),
            Err(DecodeError::NotEnoughBytes { .. })
        ));
    }

    #[test]
    fn bad_magic_and_version() {
        let mut bytes = sample_reply().encode_with_header();
        bytes[0] = b'X';
        assert!(matches!(
            LinkHeader::decode(&mut ReadCursor::new(&bytes), 0),
            Err(DecodeError::BadMagic(_))
        ));
        let mut bytes = sample_reply().encode_with_header();
        bytes[4] = 1;
        assert!(matches!(
            LinkHeader::decode(&mut ReadCursor::new(&bytes), 0),
            Err(DecodeError::VersionMismatch { major: 1, .. })
        ));
    }

    #[test]
    fn size_bounds() {
        let mut w = WriteCursor::new();
        LinkHeader::new(u32::MAX).encode(&mut w);
        assert!(matches!(
            LinkHeader::decode(&mut ReadCursor::new(w.as_slice()), 0),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut w = WriteCursor::new();
        LinkHeader::new(4).encode(&mut w);
        assert!(LinkHeader::decode(&mut ReadCursor::new(w.as_slice()), LinkReply::CAPS_OFFSET).is_err());
    }

    #[test]
    fn caps_pointing_outside() {
        let bytes = sample_reply().encode_with_header();
        let mut body = bytes[LinkHeader::SIZE..].to_vec();
        // caps_offset past the end
        let off = 4 + SPICE_TICKET_PUBKEY_BYTES + 8;
        body[off..off + 4].copy_from_slice(&5000u32.to_le_bytes());
        assert!(LinkReply::decode_body(&body).is_err());
        // num_common_caps huge: overflow of count*4 must be refused
        let mut body = bytes[LinkHeader::SIZE..].to_vec();
        let off = 4 + SPICE_TICKET_PUBKEY_BYTES;
        body[off..off + 4].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        body[off + 4..off + 8].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        assert!(LinkReply::decode_body(&body).is_err());
    }

    #[test]
    fn short_error_reply() {
        let body = 7u32.to_le_bytes();
        let r = LinkReply::decode_body(&body).unwrap();
        assert_eq!(r.error, LinkErr::PermissionDenied);
    }
}
