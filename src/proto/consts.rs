//! Numbers from spice-protocol's `enums.h` and `protocol.h`.

/// `SPICE_MAGIC`: "REDQ" read as a little-endian u32.
pub const SPICE_MAGIC: u32 = u32::from_le_bytes(*b"REDQ");
pub const SPICE_VERSION_MAJOR: u32 = 2;
pub const SPICE_VERSION_MINOR: u32 = 2;
/// `SPICE_TICKET_PUBKEY_BYTES`: DER SubjectPublicKeyInfo of an RSA-1024 key.
pub const SPICE_TICKET_PUBKEY_BYTES: usize = 162;
/// Size of the RSA-1024 encrypted ticket.
pub const SPICE_TICKET_BYTES: usize = 128;
/// `SPICE_MAX_PASSWORD_LENGTH`.
pub const SPICE_MAX_PASSWORD_LENGTH: usize = 60;

/// Channel types (`SPICE_CHANNEL_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelType(pub u8);

impl ChannelType {
    pub const MAIN: Self = Self(1);
    pub const DISPLAY: Self = Self(2);
    pub const INPUTS: Self = Self(3);
    pub const CURSOR: Self = Self(4);
    pub const PLAYBACK: Self = Self(5);
    pub const RECORD: Self = Self(6);
    pub const TUNNEL: Self = Self(7);
    pub const SMARTCARD: Self = Self(8);
    pub const USBREDIR: Self = Self(9);
    pub const PORT: Self = Self(10);
    pub const WEBDAV: Self = Self(11);

    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "main",
            2 => "display",
            3 => "inputs",
            4 => "cursor",
            5 => "playback",
            6 => "record",
            7 => "tunnel",
            8 => "smartcard",
            9 => "usbredir",
            10 => "port",
            11 => "webdav",
            _ => "unknown",
        }
    }

    /// Parses a channel name as used by `--spice-secure-channels`.
    pub fn from_name(name: &str) -> Option<Self> {
        (1..=11u8).map(Self).find(|t| t.name() == name)
    }
}

/// Identifies a channel of a session in messages: "display channel 0".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey {
    pub channel_type: ChannelType,
    pub id: u8,
}

impl ChannelKey {
    pub const fn new(channel_type: ChannelType, id: u8) -> Self {
        Self { channel_type, id }
    }
}

impl std::fmt::Display for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} channel {}", self.channel_type, self.id)
    }
}

impl std::fmt::Display for ChannelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            "unknown" => write!(f, "channel-type-{}", self.0),
            n => f.write_str(n),
        }
    }
}

/// `SpiceLinkErr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkErr {
    Ok,
    Error,
    InvalidMagic,
    InvalidData,
    VersionMismatch,
    NeedSecured,
    NeedUnsecured,
    PermissionDenied,
    BadConnectionId,
    ChannelNotAvailable,
    Other(u32),
}

impl LinkErr {
    pub fn from_u32(v: u32) -> Self {
        match v {
            0 => Self::Ok,
            1 => Self::Error,
            2 => Self::InvalidMagic,
            3 => Self::InvalidData,
            4 => Self::VersionMismatch,
            5 => Self::NeedSecured,
            6 => Self::NeedUnsecured,
            7 => Self::PermissionDenied,
            8 => Self::BadConnectionId,
            9 => Self::ChannelNotAvailable,
            v => Self::Other(v),
        }
    }

    pub fn to_u32(self) -> u32 {
        match self {
            Self::Ok => 0,
            Self::Error => 1,
            Self::InvalidMagic => 2,
            Self::InvalidData => 3,
            Self::VersionMismatch => 4,
            Self::NeedSecured => 5,
            Self::NeedUnsecured => 6,
            Self::PermissionDenied => 7,
            Self::BadConnectionId => 8,
            Self::ChannelNotAvailable => 9,
            Self::Other(v) => v,
        }
    }
}

impl std::fmt::Display for LinkErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Self::Ok => "ok",
            Self::Error => "generic error",
            Self::InvalidMagic => "invalid magic",
            Self::InvalidData => "invalid data",
            Self::VersionMismatch => "version mismatch",
            Self::NeedSecured => "channel requires TLS",
            Self::NeedUnsecured => "channel requires a plain connection",
            Self::PermissionDenied => "permission denied (wrong or expired password?)",
            Self::BadConnectionId => "bad connection id",
            Self::ChannelNotAvailable => "channel not available",
            Self::Other(v) => return write!(f, "unknown link error {v}"),
        };
        f.write_str(s)
    }
}

/// Auth mechanisms of `SpiceLinkAuthMechanism`.
pub const SPICE_COMMON_CAP_AUTH_SPICE_MECH: u32 = 1;
pub const SPICE_COMMON_CAP_AUTH_SASL_MECH: u32 = 2;

/// Base message numbers shared by every channel, server to client.
pub mod msg {
    pub const MIGRATE: u16 = 1;
    pub const MIGRATE_DATA: u16 = 2;
    pub const SET_ACK: u16 = 3;
    pub const PING: u16 = 4;
    pub const WAIT_FOR_CHANNELS: u16 = 5;
    pub const DISCONNECTING: u16 = 6;
    pub const NOTIFY: u16 = 7;
    pub const LIST: u16 = 8;
    pub const BASE_LAST: u16 = 100;
}

/// Base message numbers shared by every channel, client to server.
pub mod msgc {
    pub const ACK_SYNC: u16 = 1;
    pub const ACK: u16 = 2;
    pub const PONG: u16 = 3;
    pub const MIGRATE_FLUSH_MARK: u16 = 4;
    pub const MIGRATE_DATA: u16 = 5;
    pub const DISCONNECTING: u16 = 6;
}

/// Mouse modes.
pub mod mouse_mode {
    pub const SERVER: u32 = 1;
    pub const CLIENT: u32 = 2;
}
