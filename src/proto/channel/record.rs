//! Record channel messages (`channel RecordChannel` in spice.proto): the
//! server starts and stops capture and sets its volume; the client sends
//! MODE and START_MARK once, then DATA frames.

use super::playback::{decode_volume, encode_volume};
use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::ProtoResult;

pub use super::playback::{format, mode};

/// Server message numbers.
pub mod msg {
    pub const START: u16 = 101;
    pub const STOP: u16 = 102;
    pub const VOLUME: u16 = 103;
    pub const MUTE: u16 = 104;
}

/// Client message numbers.
pub mod msgc {
    pub const DATA: u16 = 101;
    pub const MODE: u16 = 102;
    pub const START_MARK: u16 = 103;
}

/// RECORD_START: `{u32 channels, u16 format, u32 frequency}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStart {
    pub channels: u32,
    pub format: u16,
    pub frequency: u32,
}

/// Record channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordServer {
    Base(ServerBase),
    Start(RecordStart),
    Stop,
    Volume(Vec<u16>),
    Mute(bool),
    Unknown { msg_type: u16, data: Vec<u8> },
}

impl RecordServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Start(_) => msg::START,
            Self::Stop => msg::STOP,
            Self::Volume(_) => msg::VOLUME,
            Self::Mute(_) => msg::MUTE,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Start(s) => {
                w.write_u32(s.channels);
                w.write_u16(s.format);
                w.write_u32(s.frequency);
            }
            Self::Volume(v) => encode_volume(w, v),
            Self::Mute(m) => w.write_u8(u8::from(*m)),
            Self::Stop | Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::START => Self::Start(RecordStart {
                channels: r.read_u32("record_start channels")?,
                format: r.read_u16("record_start format")?,
                frequency: r.read_u32("record_start frequency")?,
            }),
            msg::STOP => Self::Stop,
            msg::VOLUME => Self::Volume(decode_volume(&mut r)?),
            msg::MUTE => Self::Mute(r.read_u8("record mute")? != 0),
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

/// Record channel, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordClient {
    Base(ClientBase),
    /// `RECORD_DATA {u32 time, data}`: one frame, raw S16LE or one Opus packet.
    Data {
        time: u32,
        data: Vec<u8>,
    },
    /// `RECORD_MODE {u32 time, u16 mode, data}`.
    Mode {
        time: u32,
        mode: u16,
        data: Vec<u8>,
    },
    /// `RECORD_START_MARK {u32 time}`.
    StartMark {
        time: u32,
    },
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl RecordClient {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Data { .. } => msgc::DATA,
            Self::Mode { .. } => msgc::MODE,
            Self::StartMark { .. } => msgc::START_MARK,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Data { time, data } => {
                w.write_u32(*time);
                w.write_slice(data);
            }
            Self::Mode { time, mode, data } => {
                w.write_u32(*time);
                w.write_u16(*mode);
                w.write_slice(data);
            }
            Self::StartMark { time } => w.write_u32(*time),
            Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msgc::DATA => Self::Data {
                time: r.read_u32("record_data time")?,
                data: r.read_rest().to_vec(),
            },
            msgc::MODE => Self::Mode {
                time: r.read_u32("record_mode time")?,
                mode: r.read_u16("record_mode mode")?,
                data: r.read_rest().to_vec(),
            },
            msgc::START_MARK => Self::StartMark {
                time: r.read_u32("record_start_mark time")?,
            },
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

channel_messages!(RecordServer, RecordClient);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::base::Message;

    fn rt<M: Message + PartialEq + std::fmt::Debug>(m: M) {
        let body = m.to_body();
        assert_eq!(M::decode(m.msg_type(), &body).unwrap(), m);
    }

    #[test]
    fn round_trips() {
        rt(RecordServer::Start(RecordStart {
            channels: 2,
            format: format::S16,
            frequency: 48000,
        }));
        rt(RecordServer::Stop);
        rt(RecordServer::Volume(vec![1, 2, 3]));
        rt(RecordServer::Mute(true));
        rt(RecordServer::Base(ServerBase::SetAck {
            generation: 2,
            window: 3,
        }));
        rt(RecordClient::Data {
            time: 5,
            data: vec![9; 100],
        });
        rt(RecordClient::Mode {
            time: 0,
            mode: mode::OPUS,
            data: vec![],
        });
        rt(RecordClient::StartMark { time: 77 });
        rt(RecordClient::Base(ClientBase::Pong { id: 1, timestamp: 2 }));
    }

    #[test]
    fn wire_layouts_match_spice_proto() {
        let s = RecordServer::Start(RecordStart {
            channels: 2,
            format: 1,
            frequency: 44100,
        });
        assert_eq!(
            (s.msg_type(), s.to_body()),
            (101, vec![2, 0, 0, 0, 1, 0, 0x44, 0xac, 0, 0])
        );
        let m = RecordClient::Mode {
            time: 0,
            mode: 1,
            data: vec![],
        };
        assert_eq!((m.msg_type(), m.to_body()), (102, vec![0, 0, 0, 0, 1, 0]));
        let mark = RecordClient::StartMark { time: 2 };
        assert_eq!((mark.msg_type(), mark.to_body()), (103, vec![2, 0, 0, 0]));
    }

    #[test]
    fn hostile_bodies_are_errors() {
        assert!(RecordServer::decode(msg::START, &[1, 0, 0, 0, 1, 0, 0]).is_err());
        assert!(RecordServer::decode(msg::VOLUME, &[3, 0, 0, 0, 0]).is_err());
        assert!(RecordServer::decode(msg::MUTE, &[]).is_err());
        assert!(RecordClient::decode(msgc::DATA, &[0, 0]).is_err());
        assert!(RecordClient::decode(msgc::START_MARK, &[0, 0, 0]).is_err());
    }
}
