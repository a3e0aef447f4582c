//! Smartcard channel messages (8): SMARTCARD_DATA (101) both ways, each
//! carrying one VSCard message `{u32 type, u32 reader_id, u32 length,
//! u8 data[length]}` (little-endian on the SPICE wire; spice-server converts
//! to and from the network order of QEMU's `ccid-card-passthru`).
//!
//! A `length` beyond the body, or beyond [`MAX_VSC_DATA`], is refused;
//! bytes after `length` are ignored.

use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// Server message numbers.
pub mod msg {
    pub const DATA: u16 = 101;
}

/// Client message numbers.
pub mod msgc {
    pub const DATA: u16 = 101;
}

/// `VSCMsgType`.
pub mod vsc {
    pub const INIT: u32 = 1;
    pub const ERROR: u32 = 2;
    pub const READER_ADD: u32 = 3;
    pub const READER_REMOVE: u32 = 4;
    pub const ATR: u32 = 5;
    pub const CARD_REMOVE: u32 = 6;
    pub const APDU: u32 = 7;
    pub const FLUSH: u32 = 8;
    pub const FLUSH_COMPLETE: u32 = 9;
}

/// `VSCErrorCode`.
pub mod vsc_error {
    pub const SUCCESS: u32 = 0;
    pub const GENERAL_ERROR: u32 = 1;
    pub const CANNOT_ADD_MORE_READERS: u32 = 2;
    pub const CARD_ALREADY_INSERTED: u32 = 3;
}

/// `VSCARD_UNDEFINED_READER_ID`: a reader the server has not numbered yet.
pub const UNDEFINED_READER: u32 = 0xffff_ffff;
/// Largest VSCard payload accepted: an extended-length APDU (65,545 bytes) and some.
pub const MAX_VSC_DATA: u32 = 66_000;

/// One VSCard message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VscMessage {
    pub vsc_type: u32,
    pub reader_id: u32,
    pub data: Vec<u8>,
}

impl VscMessage {
    pub fn new(vsc_type: u32, reader_id: u32, data: Vec<u8>) -> Self {
        Self {
            vsc_type,
            reader_id,
            data,
        }
    }

    fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.vsc_type);
        w.write_u32(self.reader_id);
        w.write_u32(u32::try_from(self.data.len()).unwrap_or(u32::MAX));
        w.write_slice(&self.data);
    }

    fn decode(body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        let vsc_type = r.read_u32("vsc type")?;
        let reader_id = r.read_u32("vsc reader_id")?;
        let length = r.read_u32("vsc length")?;
        if length > MAX_VSC_DATA {
            return Err(DecodeError::TooLarge {
                what: "vsc data",
                size: u64::from(length),
                max: u64::from(MAX_VSC_DATA),
            });
        }
        let data = r
            .read_slice("vsc data", usize::try_from(length).unwrap_or(usize::MAX))?
            .to_vec();
        Ok(Self {
            vsc_type,
            reader_id,
            data,
        })
    }

    /// The `u32` code of a VSC_Error message (little-endian), if it has one.
    pub fn error_code(&self) -> Option<u32> {
        let b: [u8; 4] = self.data.get(..4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }
}

/// Smartcard channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmartcardServer {
    Base(ServerBase),
    Data(VscMessage),
    Unknown { msg_type: u16, data: Vec<u8> },
}

impl SmartcardServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Data(_) => msg::DATA,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        if let Self::Data(m) = self {
            m.encode(w);
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        Ok(match msg_type {
            msg::DATA => Self::Data(VscMessage::decode(body)?),
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

/// Smartcard channel, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmartcardClient {
    Base(ClientBase),
    Data(VscMessage),
    Unknown { msg_type: u16, data: Vec<u8> },
}

impl SmartcardClient {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Data(_) => msgc::DATA,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        if let Self::Data(m) = self {
            m.encode(w);
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        Ok(match msg_type {
            msgc::DATA => Self::Data(VscMessage::decode(body)?),
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

channel_messages!(SmartcardServer, SmartcardClient);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Message;

    #[test]
    fn round_trips_and_lying_lengths() {
        let m = SmartcardServer::Data(VscMessage::new(vsc::APDU, 0, vec![0, 0xa4, 4, 0]));
        assert_eq!(SmartcardServer::decode(msg::DATA, &m.to_body()).unwrap(), m);
        let c = SmartcardClient::Data(VscMessage::new(vsc::READER_ADD, UNDEFINED_READER, b"reader".to_vec()));
        let body = c.to_body();
        assert_eq!(&body[..12], &[3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 6, 0, 0, 0]);
        assert_eq!(SmartcardClient::decode(msgc::DATA, &body).unwrap(), c);
        // length past the body, 4 GiB, a truncated header: refused without panic.
        assert!(SmartcardServer::decode(msg::DATA, &[7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1]).is_err());
        assert!(SmartcardServer::decode(msg::DATA, &[7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(SmartcardServer::decode(msg::DATA, &[7, 0, 0]).is_err());
        // Bytes after `length` are ignored.
        let short =
            SmartcardServer::decode(msg::DATA, &[2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 9]).unwrap();
        let SmartcardServer::Data(e) = short else { panic!() };
        assert_eq!((e.vsc_type, e.reader_id, e.error_code()), (vsc::ERROR, 1, Some(0)));
    }
}
