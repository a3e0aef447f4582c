//! Main channel messages (`channel MainChannel` in spice.proto).

use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::ProtoResult;

pub use super::migration::MigrationDst;

/// Most channels a CHANNELS_LIST may announce.
pub const MAX_CHANNELS: u64 = 1024;
/// Longest server name accepted.
pub const MAX_NAME_LEN: u64 = 4096;

/// Server message numbers.
pub mod msg {
    pub const MIGRATE_BEGIN: u16 = 101;
    pub const MIGRATE_CANCEL: u16 = 102;
    pub const INIT: u16 = 103;
    pub const CHANNELS_LIST: u16 = 104;
    pub const MOUSE_MODE: u16 = 105;
    pub const MULTI_MEDIA_TIME: u16 = 106;
    pub const AGENT_CONNECTED: u16 = 107;
    pub const AGENT_DISCONNECTED: u16 = 108;
    pub const AGENT_DATA: u16 = 109;
    pub const AGENT_TOKEN: u16 = 110;
    pub const MIGRATE_SWITCH_HOST: u16 = 111;
    pub const MIGRATE_END: u16 = 112;
    pub const NAME: u16 = 113;
    pub const UUID: u16 = 114;
    pub const AGENT_CONNECTED_TOKENS: u16 = 115;
    pub const MIGRATE_BEGIN_SEAMLESS: u16 = 116;
    pub const MIGRATE_DST_SEAMLESS_ACK: u16 = 117;
    pub const MIGRATE_DST_SEAMLESS_NACK: u16 = 118;
}

/// Client message numbers.
pub mod msgc {
    pub const CLIENT_INFO: u16 = 101;
    pub const MIGRATE_CONNECTED: u16 = 102;
    pub const MIGRATE_CONNECT_ERROR: u16 = 103;
    pub const ATTACH_CHANNELS: u16 = 104;
    pub const MOUSE_MODE_REQUEST: u16 = 105;
    pub const AGENT_START: u16 = 106;
    pub const AGENT_DATA: u16 = 107;
    pub const AGENT_TOKEN: u16 = 108;
    pub const MIGRATE_END: u16 = 109;
    pub const MIGRATE_DST_DO_SEAMLESS: u16 = 110;
    pub const MIGRATE_CONNECTED_SEAMLESS: u16 = 111;
    pub const QUALITY_INDICATOR: u16 = 112;
}

/// `SpiceMsgMainInit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MainInit {
    pub session_id: u32,
    pub display_channels_hint: u32,
    pub supported_mouse_modes: u32,
    pub current_mouse_mode: u32,
    pub agent_connected: u32,
    pub agent_tokens: u32,
    pub multi_media_time: u32,
    pub ram_hint: u32,
}

/// One `SpiceChannelId` of CHANNELS_LIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelId {
    pub channel_type: u8,
    pub id: u8,
}

/// Main channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MainServer {
    Base(ServerBase),
    /// MIGRATE_BEGIN (semi-seamless): where to link the session's channels.
    MigrateBegin(MigrationDst),
    MigrateCancel,
    Init(MainInit),
    ChannelsList(Vec<ChannelId>),
    MouseMode {
        supported: u16,
        current: u16,
    },
    MultiMediaTime {
        time: u32,
    },
    AgentConnected,
    AgentDisconnected {
        error_code: u32,
    },
    AgentData(Vec<u8>),
    AgentToken {
        num_tokens: u32,
    },
    /// MIGRATE_SWITCH_HOST: relink everything to another host.
    MigrateSwitchHost(MigrationDst),
    MigrateEnd,
    Name(Vec<u8>),
    Uuid([u8; 16]),
    AgentConnectedTokens {
        num_tokens: u32,
    },
    /// MIGRATE_BEGIN_SEAMLESS: `DstInfo` and the source's migration protocol version.
    MigrateBeginSeamless {
        dst: MigrationDst,
        src_mig_version: u32,
    },
    MigrateDstSeamlessAck,
    MigrateDstSeamlessNack,
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl MainServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::MigrateBegin(_) => msg::MIGRATE_BEGIN,
            Self::MigrateCancel => msg::MIGRATE_CANCEL,
            Self::Init(_) => msg::INIT,
            Self::ChannelsList(_) => msg::CHANNELS_LIST,
            Self::MouseMode { .. } => msg::MOUSE_MODE,
            Self::MultiMediaTime { .. } => msg::MULTI_MEDIA_TIME,
            Self::AgentConnected => msg::AGENT_CONNECTED,
            Self::AgentDisconnected { .. } => msg::AGENT_DISCONNECTED,
            Self::AgentData(_) => msg::AGENT_DATA,
            Self::AgentToken { .. } => msg::AGENT_TOKEN,
            Self::MigrateSwitchHost(_) => msg::MIGRATE_SWITCH_HOST,
            Self::MigrateEnd => msg::MIGRATE_END,
            Self::Name(_) => msg::NAME,
            Self::Uuid(_) => msg::UUID,
            Self::AgentConnectedTokens { .. } => msg::AGENT_CONNECTED_TOKENS,
            Self::MigrateBeginSeamless { .. } => msg::MIGRATE_BEGIN_SEAMLESS,
            Self::MigrateDstSeamlessAck => msg::MIGRATE_DST_SEAMLESS_ACK,
            Self::MigrateDstSeamlessNack => msg::MIGRATE_DST_SEAMLESS_NACK,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::MigrateBegin(d) | Self::MigrateSwitchHost(d) => d.encode_with(w, &[]),
            Self::MigrateBeginSeamless { dst, src_mig_version } => dst.encode_with(w, &[*src_mig_version]),
            Self::AgentData(d) => w.write_slice(d),
            Self::Init(i) => {
                for v in [
                    i.session_id,
                    i.display_channels_hint,
                    i.supported_mouse_modes,
                    i.current_mouse_mode,
                    i.agent_connected,
                    i.agent_tokens,
                    i.multi_media_time,
                    i.ram_hint,
                ] {
                    w.write_u32(v);
                }
            }
            Self::ChannelsList(list) => {
                w.write_u32(u32::try_from(list.len()).unwrap_or(u32::MAX));
                for c in list {
                    w.write_u8(c.channel_type);
                    w.write_u8(c.id);
                }
            }
            Self::MouseMode { supported, current } => {
                w.write_u16(*supported);
                w.write_u16(*current);
            }
            Self::MultiMediaTime { time } => w.write_u32(*time),
            Self::AgentDisconnected { error_code } => w.write_u32(*error_code),
            Self::AgentToken { num_tokens } | Self::AgentConnectedTokens { num_tokens } => w.write_u32(*num_tokens),
            Self::Name(n) => {
                w.write_u32(u32::try_from(n.len() + 1).unwrap_or(u32::MAX));
                w.write_slice(n);
                w.write_u8(0);
            }
            Self::Uuid(u) => w.write_slice(u),
            Self::MigrateCancel
            | Self::AgentConnected
            | Self::MigrateEnd
            | Self::MigrateDstSeamlessAck
            | Self::MigrateDstSeamlessNack
            | Self::Base(_)
            | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::MIGRATE_BEGIN => Self::MigrateBegin(MigrationDst::decode_prefix(body)?.0),
            msg::MIGRATE_CANCEL => Self::MigrateCancel,
            msg::INIT => Self::Init(MainInit {
                session_id: r.read_u32("init session_id")?,
                display_channels_hint: r.read_u32("init display_channels_hint")?,
                supported_mouse_modes: r.read_u32("init supported_mouse_modes")?,
                current_mouse_mode: r.read_u32("init current_mouse_mode")?,
                agent_connected: r.read_u32("init agent_connected")?,
                agent_tokens: r.read_u32("init agent_tokens")?,
                multi_media_time: r.read_u32("init multi_media_time")?,
                ram_hint: r.read_u32("init ram_hint")?,
            }),
            msg::CHANNELS_LIST => {
                let n = r.read_u32("channels_list count")?;
                let bytes = checked_array_len("channels_list", u64::from(n), 2, MAX_CHANNELS * 2)?;
                r.ensure("channels_list entries", bytes)?;
                let mut list = Vec::with_capacity(bytes / 2);
                for _ in 0..n {
                    list.push(ChannelId {
                        channel_type: r.read_u8("channel type")?,
                        id: r.read_u8("channel id")?,
                    });
                }
                Self::ChannelsList(list)
            }
            msg::MOUSE_MODE => Self::MouseMode {
                supported: r.read_u16("mouse_mode supported")?,
                current: r.read_u16("mouse_mode current")?,
            },
            msg::MULTI_MEDIA_TIME => Self::MultiMediaTime {
                time: r.read_u32("multi_media_time")?,
            },
            msg::AGENT_CONNECTED => Self::AgentConnected,
            msg::AGENT_DISCONNECTED => Self::AgentDisconnected {
                error_code: r.read_u32("agent_disconnected error")?,
            },
            msg::AGENT_DATA => Self::AgentData(body.to_vec()),
            msg::AGENT_TOKEN => Self::AgentToken {
                num_tokens: r.read_u32("agent_token")?,
            },
            msg::MIGRATE_SWITCH_HOST => Self::MigrateSwitchHost(MigrationDst::decode_prefix(body)?.0),
            msg::MIGRATE_END => Self::MigrateEnd,
            msg::NAME => {
                let len = r.read_u32("name length")?;
                let len = checked_array_len("name", u64::from(len), 1, MAX_NAME_LEN)?;
                let raw = r.read_slice("name", len)?;
                // The length includes the terminating NUL; keep the text before it.
                let text = raw.split(|&b| b == 0).next().unwrap_or(&[]);
                checked_array_len("name and its NUL", text.len() as u64 + 1, 1, MAX_NAME_LEN)?;
                Self::Name(text.to_vec())
            }
            msg::UUID => Self::Uuid(r.read_array::<16>("uuid")?),
            msg::AGENT_CONNECTED_TOKENS => Self::AgentConnectedTokens {
                num_tokens: r.read_u32("agent_connected_tokens")?,
            },
            msg::MIGRATE_BEGIN_SEAMLESS => {
                let (dst, mut r) = MigrationDst::decode_prefix(body)?;
                Self::MigrateBeginSeamless {
                    dst,
                    src_mig_version: r.read_u32("migrate_begin_seamless src_mig_version")?,
                }
            }
            msg::MIGRATE_DST_SEAMLESS_ACK => Self::MigrateDstSeamlessAck,
            msg::MIGRATE_DST_SEAMLESS_NACK => Self::MigrateDstSeamlessNack,
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

/// Main channel, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MainClient {
    Base(ClientBase),
    ClientInfo { cache_size: u64 },
    MigrateConnected,
    MigrateConnectError,
    AttachChannels,
    MouseModeRequest { mode: u16 },
    AgentStart { num_tokens: u32 },
    AgentData(Vec<u8>),
    AgentToken { num_tokens: u32 },
    MigrateEnd,
    MigrateDstDoSeamless { src_version: u32 },
    MigrateConnectedSeamless,
    QualityIndicator(Vec<u8>),
    Unknown { msg_type: u16, data: Vec<u8> },
}

impl MainClient {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::ClientInfo { .. } => msgc::CLIENT_INFO,
            Self::MigrateConnected => msgc::MIGRATE_CONNECTED,
            Self::MigrateConnectError => msgc::MIGRATE_CONNECT_ERROR,
            Self::AttachChannels => msgc::ATTACH_CHANNELS,
            Self::MouseModeRequest { .. } => msgc::MOUSE_MODE_REQUEST,
            Self::AgentStart { .. } => msgc::AGENT_START,
            Self::AgentData(_) => msgc::AGENT_DATA,
            Self::AgentToken { .. } => msgc::AGENT_TOKEN,
            Self::MigrateEnd => msgc::MIGRATE_END,
            Self::MigrateDstDoSeamless { .. } => msgc::MIGRATE_DST_DO_SEAMLESS,
            Self::MigrateConnectedSeamless => msgc::MIGRATE_CONNECTED_SEAMLESS,
            Self::QualityIndicator(_) => msgc::QUALITY_INDICATOR,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::ClientInfo { cache_size } => w.write_u64(*cache_size),
            Self::MouseModeRequest { mode } => w.write_u16(*mode),
            Self::AgentStart { num_tokens } | Self::AgentToken { num_tokens } => w.write_u32(*num_tokens),
            Self::AgentData(d) | Self::QualityIndicator(d) => w.write_slice(d),
            Self::MigrateDstDoSeamless { src_version } => w.write_u32(*src_version),
            Self::MigrateConnected
            | Self::MigrateConnectError
            | Self::AttachChannels
            | Self::MigrateEnd
            | Self::MigrateConnectedSeamless
            | Self::Base(_)
            | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msgc::CLIENT_INFO => Self::ClientInfo {
                cache_size: r.read_u64("client_info cache_size")?,
            },
            msgc::MIGRATE_CONNECTED => Self::MigrateConnected,
            msgc::MIGRATE_CONNECT_ERROR => Self::MigrateConnectError,
            msgc::ATTACH_CHANNELS => Self::AttachChannels,
            msgc::MOUSE_MODE_REQUEST => Self::MouseModeRequest {
                mode: r.read_u16("mouse_mode_request")?,
            },
            msgc::AGENT_START => Self::AgentStart {
                num_tokens: r.read_u32("agent_start")?,
            },
            msgc::AGENT_DATA => Self::AgentData(body.to_vec()),
            msgc::AGENT_TOKEN => Self::AgentToken {
                num_tokens: r.read_u32("agent_token")?,
            },
            msgc::MIGRATE_END => Self::MigrateEnd,
            msgc::MIGRATE_DST_DO_SEAMLESS => Self::MigrateDstDoSeamless {
                src_version: r.read_u32("src_version")?,
            },
            msgc::MIGRATE_CONNECTED_SEAMLESS => Self::MigrateConnectedSeamless,
            msgc::QUALITY_INDICATOR => Self::QualityIndicator(body.to_vec()),
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

channel_messages!(MainServer, MainClient);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::base::Message;

    fn rt<M: Message + PartialEq + std::fmt::Debug>(m: M) {
        let body = m.to_body();
        assert_eq!(M::decode(m.msg_type(), &body).unwrap(), m);
    }

    #[test]
    fn server_round_trips() {
        rt(MainServer::Base(ServerBase::SetAck {
            generation: 1,
            window: 10,
        }));
        let dst = MigrationDst {
            port: 1,
            sport: 2,
            host: b"dst".to_vec(),
            cert_subject: Some(b"CN=dst".to_vec()),
        };
        rt(MainServer::MigrateBegin(dst.clone()));
        rt(MainServer::MigrateCancel);
        rt(MainServer::Init(MainInit {
            session_id: 0xdead,
            display_channels_hint: 1,
            supported_mouse_modes: 3,
            current_mouse_mode: 1,
            agent_connected: 1,
            agent_tokens: 10,
            multi_media_time: 1234,
            ram_hint: 0,
        }));
        rt(MainServer::ChannelsList(vec![
            ChannelId { channel_type: 2, id: 0 },
            ChannelId { channel_type: 3, id: 0 },
        ]));
        rt(MainServer::MouseMode {
            supported: 3,
            current: 2,
        });
        rt(MainServer::MultiMediaTime { time: 5 });
        rt(MainServer::AgentConnected);
        rt(MainServer::AgentDisconnected { error_code: 1 });
        rt(MainServer::AgentData(vec![9; 30]));
        rt(MainServer::AgentToken { num_tokens: 4 });
        rt(MainServer::MigrateSwitchHost(MigrationDst {
            cert_subject: None,
            ..dst.clone()
        }));
        rt(MainServer::MigrateEnd);
        rt(MainServer::Name(b"my vm".to_vec()));
        rt(MainServer::Uuid([3; 16]));
        rt(MainServer::AgentConnectedTokens { num_tokens: 8 });
        rt(MainServer::MigrateBeginSeamless {
            dst,
            src_mig_version: 1,
        });
        rt(MainServer::MigrateDstSeamlessAck);
        rt(MainServer::MigrateDstSeamlessNack);
        rt(MainServer::Unknown {
            msg_type: 999,
            data: vec![1],
        });
    }

    #[test]
    fn client_round_trips() {
        rt(MainClient::Base(ClientBase::Pong { id: 1, timestamp: 2 }));
        rt(MainClient::ClientInfo { cache_size: 1 << 30 });
        rt(MainClient::MigrateConnected);
        rt(MainClient::MigrateConnectError);
        rt(MainClient::AttachChannels);
        rt(MainClient::MouseModeRequest { mode: 2 });
        rt(MainClient::AgentStart { num_tokens: u32::MAX });
        rt(MainClient::AgentData(vec![1, 2]));
        rt(MainClient::AgentToken { num_tokens: 3 });
        rt(MainClient::MigrateEnd);
        rt(MainClient::MigrateDstDoSeamless { src_version: 1 });
        rt(MainClient::MigrateConnectedSeamless);
        rt(MainClient::QualityIndicator(vec![5]));
    }

    #[test]
    fn channels_list_overflow_is_refused() {
        // CVE-2017-12194: count 0x80000002 with a tiny body
        let mut body = 0x8000_0002u32.to_le_bytes().to_vec();
        body.extend_from_slice(&[2, 0, 3, 0]);
        assert!(MainServer::decode(msg::CHANNELS_LIST, &body).is_err());
        // count slightly larger than the entries present
        let mut body = 3u32.to_le_bytes().to_vec();
        body.extend_from_slice(&[2, 0, 3, 0]);
        assert!(MainServer::decode(msg::CHANNELS_LIST, &body).is_err());
    }

    #[test]
    fn truncated_init_is_an_error() {
        assert!(MainServer::decode(msg::INIT, &[0; 31]).is_err());
        assert!(MainServer::decode(msg::NAME, &[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
