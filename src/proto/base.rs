//! Base messages every channel understands (numbers 1..=100).

use super::consts::{msg, msgc};
use super::cursor::{ReadCursor, WriteCursor, checked_array_len};
use super::error::{DecodeError, ProtoResult};

/// Most entries accepted in one `WAIT_FOR_CHANNELS`.
pub const MAX_WAIT_LIST: u64 = 255;
/// Largest NOTIFY text accepted.
pub const MAX_NOTIFY_LEN: u64 = 64 * 1024;

/// A message set of one direction of one channel.
pub trait Message: Sized {
    fn msg_type(&self) -> u16;
    fn encode_body(&self, w: &mut WriteCursor);
    fn decode(msg_type: u16, body: &[u8]) -> ProtoResult<Self>;

    fn to_body(&self) -> Vec<u8> {
        let mut w = WriteCursor::new();
        self.encode_body(&mut w);
        w.into_inner()
    }
}

/// One entry of `WAIT_FOR_CHANNELS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitForChannel {
    pub channel_type: u8,
    pub channel_id: u8,
    pub message_serial: u64,
}

/// Server-to-client base messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerBase {
    /// `SPICE_MSG_MIGRATE {flags}`.
    Migrate { flags: u32 },
    /// `SPICE_MSG_MIGRATE_DATA`: opaque.
    MigrateData(Vec<u8>),
    /// `SPICE_MSG_SET_ACK {generation, window}`.
    SetAck { generation: u32, window: u32 },
    /// `SPICE_MSG_PING {id, timestamp, data}`.
    Ping { id: u32, timestamp: u64, data: Vec<u8> },
    /// `SPICE_MSG_WAIT_FOR_CHANNELS`.
    WaitForChannels(Vec<WaitForChannel>),
    /// `SPICE_MSG_DISCONNECTING {time_stamp, reason}`.
    Disconnecting { time_stamp: u64, reason: u32 },
    /// `SPICE_MSG_NOTIFY`.
    Notify {
        time_stamp: u64,
        severity: u32,
        visibility: u32,
        what: u32,
        message: Vec<u8>,
    },
    /// `SPICE_MSG_LIST`: its content travels in the header's sub-message list.
    List,
}

impl ServerBase {
    pub fn msg_type(&self) -> u16 {
        match self {
            Self::Migrate { .. } => msg::MIGRATE,
            Self::MigrateData(_) => msg::MIGRATE_DATA,
            Self::SetAck { .. } => msg::SET_ACK,
            Self::Ping { .. } => msg::PING,
            Self::WaitForChannels(_) => msg::WAIT_FOR_CHANNELS,
            Self::Disconnecting { .. } => msg::DISCONNECTING,
            Self::Notify { .. } => msg::NOTIFY,
            Self::List => msg::LIST,
        }
    }

    pub fn encode_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Migrate { flags } => w.write_u32(*flags),
            Self::MigrateData(d) => w.write_slice(d),
            Self::SetAck { generation, window } => {
                w.write_u32(*generation);
                w.write_u32(*window);
            }
            Self::Ping { id, timestamp, data } => {
                w.write_u32(*id);
                w.write_u64(*timestamp);
                w.write_slice(data);
            }
            Self::WaitForChannels(list) => {
                w.write_u8(u8::try_from(list.len()).unwrap_or(u8::MAX));
                for c in list.iter().take(usize::from(u8::MAX)) {
                    w.write_u8(c.channel_type);
                    w.write_u8(c.channel_id);
                    w.write_u64(c.message_serial);
                }
            }
            Self::Disconnecting { time_stamp, reason } => {
                w.write_u64(*time_stamp);
                w.write_u32(*reason);
            }
            Self::Notify {
                time_stamp,
                severity,
                visibility,
                what,
                message,
            } => {
                w.write_u64(*time_stamp);
                w.write_u32(*severity);
                w.write_u32(*visibility);
                w.write_u32(*what);
                w.write_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
                w.write_slice(message);
                w.write_u8(0);
            }
            Self::List => {}
        }
    }

    /// Decodes a base message; `None` if `msg_type` is not a base message number.
    pub fn decode(msg_type: u16, body: &[u8]) -> ProtoResult<Option<Self>> {
        let mut r = ReadCursor::new(body);
        let m = match msg_type {
            msg::MIGRATE => Self::Migrate {
                flags: r.read_u32("migrate flags")?,
            },
            msg::MIGRATE_DATA => Self::MigrateData(body.to_vec()),
            msg::SET_ACK => Self::SetAck {
                generation: r.read_u32("set_ack generation")?,
                window: r.read_u32("set_ack window")?,
            },
            msg::PING => Self::Ping {
                id: r.read_u32("ping id")?,
                timestamp: r.read_u64("ping timestamp")?,
                data: r.read_rest().to_vec(),
            },
            msg::WAIT_FOR_CHANNELS => {
                let count = r.read_u8("wait_for_channels count")?;
                let bytes = checked_array_len("wait_for_channels list", u64::from(count), 10, MAX_WAIT_LIST * 10)?;
                r.ensure("wait_for_channels list", bytes)?;
                let mut list = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    list.push(WaitForChannel {
                        channel_type: r.read_u8("wait channel type")?,
                        channel_id: r.read_u8("wait channel id")?,
                        message_serial: r.read_u64("wait serial")?,
                    });
                }
                Self::WaitForChannels(list)
            }
            msg::DISCONNECTING => Self::Disconnecting {
                time_stamp: r.read_u64("disconnecting time_stamp")?,
                reason: r.read_u32("disconnecting reason")?,
            },
            msg::NOTIFY => {
                let time_stamp = r.read_u64("notify time_stamp")?;
                let severity = r.read_u32("notify severity")?;
                let visibility = r.read_u32("notify visibility")?;
                let what = r.read_u32("notify what")?;
                let len = r.read_u32("notify message_len")?;
                let len = checked_array_len("notify message", u64::from(len), 1, MAX_NOTIFY_LEN)?;
                let message = r.read_slice("notify message", len)?.to_vec();
                Self::Notify {
                    time_stamp,
                    severity,
                    visibility,
                    what,
                    message,
                }
            }
            msg::LIST => Self::List,
            t if t <= msg::BASE_LAST => {
                return Err(DecodeError::invalid("unknown base message type", t));
            }
            _ => return Ok(None),
        };
        Ok(Some(m))
    }
}

/// Client-to-server base messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientBase {
    AckSync { generation: u32 },
    Ack,
    Pong { id: u32, timestamp: u64 },
    MigrateFlushMark,
    MigrateData(Vec<u8>),
    Disconnecting { time_stamp: u64, reason: u32 },
}

impl ClientBase {
    pub fn msg_type(&self) -> u16 {
        match self {
            Self::AckSync { .. } => msgc::ACK_SYNC,
            Self::Ack => msgc::ACK,
            Self::Pong { .. } => msgc::PONG,
            Self::MigrateFlushMark => msgc::MIGRATE_FLUSH_MARK,
            Self::MigrateData(_) => msgc::MIGRATE_DATA,
            Self::Disconnecting { .. } => msgc::DISCONNECTING,
        }
    }

    pub fn encode_body(&self, w: &mut WriteCursor) {
        match self {
            Self::AckSync { generation } => w.write_u32(*generation),
            Self::Ack | Self::MigrateFlushMark => {}
            Self::Pong { id, timestamp } => {
                w.write_u32(*id);
                w.write_u64(*timestamp);
            }
            Self::MigrateData(d) => w.write_slice(d),
            Self::Disconnecting { time_stamp, reason } => {
                w.write_u64(*time_stamp);
                w.write_u32(*reason);
            }
        }
    }

    pub fn decode(msg_type: u16, body: &[u8]) -> ProtoResult<Option<Self>> {
        let mut r = ReadCursor::new(body);
        let m = match msg_type {
            msgc::ACK_SYNC => Self::AckSync {
                generation: r.read_u32("ack_sync generation")?,
            },
            msgc::ACK => Self::Ack,
            msgc::PONG => Self::Pong {
                id: r.read_u32("pong id")?,
                timestamp: r.read_u64("pong timestamp")?,
            },
            msgc::MIGRATE_FLUSH_MARK => Self::MigrateFlushMark,
            msgc::MIGRATE_DATA => Self::MigrateData(body.to_vec()),
            msgc::DISCONNECTING => Self::Disconnecting {
                time_stamp: r.read_u64("disconnecting time_stamp")?,
                reason: r.read_u32("disconnecting reason")?,
            },
            t if t <= msg::BASE_LAST => return Err(DecodeError::invalid("unknown base message type", t)),
            _ => return Ok(None),
        };
        Ok(Some(m))
    }
}

/// Defines the server and client message enums of one channel: base messages
/// plus the channel's own, with an `Unknown` arm for forward compatibility.
#[macro_export]
#[doc(hidden)]
macro_rules! channel_messages {
    ($server:ident, $client:ident) => {
        impl $crate::proto::base::Message for $server {
            fn msg_type(&self) -> u16 {
                match self {
                    Self::Base(b) => b.msg_type(),
                    Self::Unknown { msg_type, .. } => *msg_type,
                    // Unreachable for a direction with no messages of its own (playback's client side).
                    #[allow(unreachable_patterns)]
                    other => other.channel_msg_type(),
                }
            }
            fn encode_body(&self, w: &mut $crate::proto::cursor::WriteCursor) {
                match self {
                    Self::Base(b) => b.encode_body(w),
                    Self::Unknown { data, .. } => w.write_slice(data),
                    #[allow(unreachable_patterns)]
                    other => other.encode_channel_body(w),
                }
            }
            fn decode(msg_type: u16, body: &[u8]) -> $crate::proto::ProtoResult<Self> {
                if let Some(b) = $crate::proto::base::ServerBase::decode(msg_type, body)? {
                    return Ok(Self::Base(b));
                }
                Self::decode_channel(msg_type, body)
            }
        }
        impl $crate::proto::base::Message for $client {
            fn msg_type(&self) -> u16 {
                match self {
                    Self::Base(b) => b.msg_type(),
                    Self::Unknown { msg_type, .. } => *msg_type,
                    // Unreachable for a direction with no messages of its own (playback's client side).
                    #[allow(unreachable_patterns)]
                    other => other.channel_msg_type(),
                }
            }
            fn encode_body(&self, w: &mut $crate::proto::cursor::WriteCursor) {
                match self {
                    Self::Base(b) => b.encode_body(w),
                    Self::Unknown { data, .. } => w.write_slice(data),
                    #[allow(unreachable_patterns)]
                    other => other.encode_channel_body(w),
                }
            }
            fn decode(msg_type: u16, body: &[u8]) -> $crate::proto::ProtoResult<Self> {
                if let Some(b) = $crate::proto::base::ClientBase::decode(msg_type, body)? {
                    return Ok(Self::Base(b));
                }
                Self::decode_channel(msg_type, body)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt_server(m: ServerBase) {
        let mut w = WriteCursor::new();
        m.encode_body(&mut w);
        assert_eq!(ServerBase::decode(m.msg_type(), w.as_slice()).unwrap(), Some(m));
    }

    fn rt_client(m: ClientBase) {
        let mut w = WriteCursor::new();
        m.encode_body(&mut w);
        assert_eq!(ClientBase::decode(m.msg_type(), w.as_slice()).unwrap(), Some(m));
    }

    #[test]
    fn server_round_trips() {
        rt_server(ServerBase::Migrate { flags: 3 });
        rt_server(ServerBase::MigrateData(vec![1, 2]));
        rt_server(ServerBase::SetAck {
            generation: 1,
            window: 20,
        });
        rt_server(ServerBase::Ping {
            id: 5,
            timestamp: 99,
            data: vec![0; 100],
        });
        rt_server(ServerBase::WaitForChannels(vec![WaitForChannel {
            channel_type: 2,
            channel_id: 1,
            message_serial: 42,
        }]));
        rt_server(ServerBase::Disconnecting {
            time_stamp: 1,
            reason: 2,
        });
        rt_server(ServerBase::Notify {
            time_stamp: 1,
            severity: 2,
            visibility: 1,
            what: 7,
            message: b"hello".to_vec(),
        });
        rt_server(ServerBase::List);
    }

    #[test]
    fn client_round_trips() {
        rt_client(ClientBase::AckSync { generation: 9 });
        rt_client(ClientBase::Ack);
        rt_client(ClientBase::Pong { id: 1, timestamp: 2 });
        rt_client(ClientBase::MigrateFlushMark);
        rt_client(ClientBase::MigrateData(vec![3]));
        rt_client(ClientBase::Disconnecting {
            time_stamp: 4,
            reason: 5,
        });
    }

    #[test]
    fn hostile_base() {
        // notify length beyond the body
        let mut w = WriteCursor::new();
        w.write_u64(0);
        w.write_u32(0);
        w.write_u32(0);
        w.write_u32(0);
        w.write_u32(u32::MAX);
        assert!(ServerBase::decode(msg::NOTIFY, w.as_slice()).is_err());
        // wait list count larger than present
        assert!(ServerBase::decode(msg::WAIT_FOR_CHANNELS, &[5, 1, 2]).is_err());
        // unknown base number
        assert!(ServerBase::decode(50, &[]).is_err());
        // channel numbers are not base messages
        assert_eq!(ServerBase::decode(101, &[]).unwrap(), None);
    }
}
