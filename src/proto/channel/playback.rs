//! Playback channel messages (`channel PlaybackChannel` in spice.proto), and
//! the audio structures the record channel shares (volume, mute, modes).
//!
//! DATA and MODE carry audio as an opaque tail (raw S16LE or one Opus
//! packet); what it means is the channel machine's business
//! ([`crate::channel::playback`]). VOLUME's count is checked against its
//! body before anything is read.

use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::ProtoResult;

/// Server message numbers.
pub mod msg {
    pub const DATA: u16 = 101;
    pub const MODE: u16 = 102;
    pub const START: u16 = 103;
    pub const STOP: u16 = 104;
    pub const VOLUME: u16 = 105;
    pub const MUTE: u16 = 106;
    pub const LATENCY: u16 = 107;
}

/// `SPICE_AUDIO_DATA_MODE_*`.
pub mod mode {
    pub const INVALID: u16 = 0;
    pub const RAW: u16 = 1;
    /// Deprecated (CELT 0.5.1): never advertised, never decoded.
    pub const CELT_0_5_1: u16 = 2;
    pub const OPUS: u16 = 3;
}

/// `SPICE_AUDIO_FMT_*`.
pub mod format {
    pub const INVALID: u16 = 0;
    pub const S16: u16 = 1;
}

/// Most volume entries one VOLUME carries (its count is a `u8`).
pub const MAX_VOLUME_CHANNELS: u64 = 255;

/// PLAYBACK_START: `{u32 channels, u16 format, u32 frequency, u32 time}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackStart {
    pub channels: u32,
    pub format: u16,
    pub frequency: u32,
    /// Multimedia time of the first packet.
    pub time: u32,
}

/// `AudioVolume {u8 nchannels, u16 volume[nchannels]}` (65535 = 100 %).
pub(crate) fn encode_volume(w: &mut WriteCursor, volume: &[u16]) {
    let n = volume.len().min(MAX_VOLUME_CHANNELS as usize);
    w.write_u8(u8::try_from(n).unwrap_or(u8::MAX));
    for v in volume.iter().take(n) {
        w.write_u16(*v);
    }
}

/// Decodes `AudioVolume`; a count larger than the body is an error.
pub(crate) fn decode_volume(r: &mut ReadCursor<'_>) -> ProtoResult<Vec<u16>> {
    let n = r.read_u8("audio volume nchannels")?;
    let bytes = checked_array_len("audio volume", u64::from(n), 2, MAX_VOLUME_CHANNELS * 2)?;
    r.ensure("audio volume", bytes)?;
    (0..n).map(|_| r.read_u16("audio volume entry")).collect()
}

/// Playback channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackServer {
    Base(ServerBase),
    /// `PLAYBACK_DATA {u32 time, data}`: one packet stamped with its multimedia time.
    Data {
        time: u32,
        data: Vec<u8>,
    },
    /// `PLAYBACK_MODE {u32 time, u16 mode, data}`: how the next DATA is encoded.
    Mode {
        time: u32,
        mode: u16,
        data: Vec<u8>,
    },
    Start(PlaybackStart),
    Stop,
    Volume(Vec<u16>),
    Mute(bool),
    /// `PLAYBACK_LATENCY {u32 latency_ms}`: the server's wish for the client's buffering.
    Latency(u32),
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl PlaybackServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Data { .. } => msg::DATA,
            Self::Mode { .. } => msg::MODE,
            Self::Start(_) => msg::START,
            Self::Stop => msg::STOP,
            Self::Volume(_) => msg::VOLUME,
            Self::Mute(_) => msg::MUTE,
            Self::Latency(_) => msg::LATENCY,
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
            Self::Start(s) => {
                w.write_u32(s.channels);
                w.write_u16(s.format);
                w.write_u32(s.frequency);
                w.write_u32(s.time);
            }
            Self::Volume(v) => encode_volume(w, v),
            Self::Mute(m) => w.write_u8(u8::from(*m)),
            Self::Latency(ms) => w.write_u32(*ms),
            Self::Stop | Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::DATA => Self::Data {
                time: r.read_u32("playback_data time")?,
                data: r.read_rest().to_vec(),
            },
            msg::MODE => Self::Mode {
                time: r.read_u32("playback_mode time")?,
                mode: r.read_u16("playback_mode mode")?,
                data: r.read_rest().to_vec(),
            },
            msg::START => Self::Start(PlaybackStart {
                channels: r.read_u32("playback_start channels")?,
                format: r.read_u16("playback_start format")?,
                frequency: r.read_u32("playback_start frequency")?,
                time: r.read_u32("playback_start time")?,
            }),
            msg::STOP => Self::Stop,
            msg::VOLUME => Self::Volume(decode_volume(&mut r)?),
            msg::MUTE => Self::Mute(r.read_u8("playback mute")? != 0),
            msg::LATENCY => Self::Latency(r.read_u32("playback latency")?),
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }

    /// The time stamp of a DATA body without copying its audio (`None` if too short).
    pub fn data_time(body: &[u8]) -> Option<u32> {
        ReadCursor::new(body).read_u32("playback_data time").ok()
    }
}

/// Playback channel, client to server: base messages only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackClient {
    Base(ClientBase),
    Unknown { msg_type: u16, data: Vec<u8> },
}

impl PlaybackClient {
    fn channel_msg_type(&self) -> u16 {
        0
    }

    fn encode_channel_body(&self, _w: &mut WriteCursor) {}

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        Ok(Self::Unknown {
            msg_type,
            data: body.to_vec(),
        })
    }
}

channel_messages!(PlaybackServer, PlaybackClient);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::DecodeError;
    use crate::proto::base::Message;

    fn rt<M: Message + PartialEq + std::fmt::Debug>(m: M) {
        let body = m.to_body();
        assert_eq!(M::decode(m.msg_type(), &body).unwrap(), m);
    }

    #[test]
    fn server_round_trips() {
        rt(PlaybackServer::Base(ServerBase::SetAck {
            generation: 1,
            window: 10,
        }));
        rt(PlaybackServer::Data {
            time: 7,
            data: vec![1, 2, 3],
        });
        rt(PlaybackServer::Data {
            time: u32::MAX,
            data: vec![],
        });
        rt(PlaybackServer::Mode {
            time: 9,
            mode: mode::OPUS,
            data: vec![],
        });
        rt(PlaybackServer::Start(PlaybackStart {
            channels: 2,
            format: format::S16,
            frequency: 48000,
            time: 1234,
        }));
        rt(PlaybackServer::Stop);
        rt(PlaybackServer::Volume(vec![0, 65535]));
        rt(PlaybackServer::Volume(vec![]));
        rt(PlaybackServer::Mute(true));
        rt(PlaybackServer::Mute(false));
        rt(PlaybackServer::Latency(200));
        rt(PlaybackServer::Unknown {
            msg_type: 150,
            data: vec![1],
        });
        rt(PlaybackClient::Base(ClientBase::Ack));
    }

    #[test]
    fn wire_layouts_match_spice_proto() {
        let start = PlaybackServer::Start(PlaybackStart {
            channels: 2,
            format: 1,
            frequency: 48000,
            time: 0x0102_0304,
        });
        assert_eq!(start.msg_type(), 103);
        assert_eq!(start.to_body(), vec![2, 0, 0, 0, 1, 0, 0x80, 0xbb, 0, 0, 4, 3, 2, 1]);
        let mode = PlaybackServer::Mode {
            time: 1,
            mode: 3,
            data: vec![],
        };
        assert_eq!((mode.msg_type(), mode.to_body()), (102, vec![1, 0, 0, 0, 3, 0]));
        assert_eq!(
            PlaybackServer::Volume(vec![0x1234, 5]).to_body(),
            vec![2, 0x34, 0x12, 5, 0]
        );
        assert_eq!(PlaybackServer::data_time(&[1, 0, 0, 0, 9, 9]), Some(1));
        assert_eq!(PlaybackServer::data_time(&[1, 0, 0]), None);
    }

    #[test]
    fn hostile_bodies_are_errors() {
        // A VOLUME claiming more entries than its body holds.
        assert!(matches!(
            PlaybackServer::decode(msg::VOLUME, &[200, 1, 0]),
            Err(DecodeError::NotEnoughBytes { .. })
        ));
        assert!(PlaybackServer::decode(msg::VOLUME, &[]).is_err());
        assert!(PlaybackServer::decode(msg::START, &[2, 0, 0, 0, 1, 0]).is_err());
        assert!(PlaybackServer::decode(msg::DATA, &[1, 2]).is_err());
        assert!(PlaybackServer::decode(msg::MODE, &[1, 2, 3, 4, 5]).is_err());
        assert!(PlaybackServer::decode(msg::MUTE, &[]).is_err());
        assert!(PlaybackServer::decode(msg::LATENCY, &[1, 2, 3]).is_err());
    }
}
