//! Errors of the client runtime.

use crate::connector::LinkError;
use crate::proto::DecodeError;
use thiserror::Error;

use super::config::ConfigError;
use super::tls::TlsError;

pub use crate::proto::ChannelKey;

/// Why a channel or the whole session failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("invalid connection settings: {0}")]
    Config(#[from] ConfigError),
    #[error("TLS setup failed: {0}")]
    TlsSetup(#[from] TlsError),
    #[error("{channel}: cannot connect to {endpoint}: {source}")]
    Connect {
        channel: ChannelKey,
        endpoint: String,
        source: std::io::Error,
    },
    #[error("{channel}: {source}")]
    Proxy {
        channel: ChannelKey,
        source: super::proxy::ProxyError,
    },
    #[error("{channel}: connecting to {endpoint} timed out")]
    ConnectTimeout { channel: ChannelKey, endpoint: String },
    #[error("{channel}: {endpoint} accepted the connection but did not answer the link within {secs} s")]
    LinkTimeout {
        channel: ChannelKey,
        endpoint: String,
        secs: u64,
    },
    #[error("{channel}: the server sent nothing for {secs} s after the link")]
    NoResponse { channel: ChannelKey, secs: u64 },
    #[error("{channel}: TLS handshake with {endpoint} failed: {reason}")]
    Tls {
        channel: ChannelKey,
        endpoint: String,
        reason: String,
    },
    #[error("{channel}: {source}")]
    Link { channel: ChannelKey, source: LinkError },
    #[error("{channel}: the server requires TLS but no tls-port is known; use spice+tls:// or give tls-port")]
    NeedSecuredNoTls { channel: ChannelKey },
    #[error("{channel}: the server asked for TLS again after the TLS upgrade")]
    NeedSecuredLoop { channel: ChannelKey },
    #[error("{channel}: the server closed the connection{}", if *.mid_message { " in the middle of a message" } else { "" })]
    UnexpectedEof { channel: ChannelKey, mid_message: bool },
    #[error("{channel}: network error: {source}")]
    Io {
        channel: ChannelKey,
        source: std::io::Error,
    },
    #[error("{channel}: protocol violation: {source}")]
    Protocol { channel: ChannelKey, source: DecodeError },
    #[error("{channel}: {source}")]
    OverBudget {
        channel: ChannelKey,
        source: crate::budget::OverBudget,
    },
    #[error("{channel}: {source}")]
    Machine {
        channel: ChannelKey,
        source: crate::channel::ChannelError,
    },
    #[error("{channel}: migration failed: {reason}")]
    Migration { channel: ChannelKey, reason: &'static str },
    #[error("{channel}: the server disconnected (reason {reason})")]
    ServerDisconnected { channel: ChannelKey, reason: u32 },
    #[error("the session was not established within {secs} s")]
    Timeout { secs: u64 },
    #[error("could not start a thread for {channel}: {source}")]
    Thread {
        channel: ChannelKey,
        source: std::io::Error,
    },
}

impl ClientError {
    /// True when the error is the server refusing the password.
    pub fn is_auth_error(&self) -> bool {
        matches!(
            self,
            Self::Link {
                source: LinkError::PermissionDenied,
                ..
            }
        )
    }
}
