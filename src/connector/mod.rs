//! L0 sans-IO link handshakes: the client side ([`client::ClientLink`]) and the
//! server side ([`acceptor::ServerLink`], used by the test server).
//!
//! Both are state machines fed with exactly [`wants`](client::ClientLink::wants)
//! bytes at a time; they never touch a socket, so the same code runs over TCP,
//! TLS, Unix sockets or a byte vector in a unit test.

pub mod acceptor;
pub mod client;
pub mod ticket;

use crate::proto::DecodeError;
use crate::proto::consts::LinkErr;
use thiserror::Error;

/// Why a link handshake failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LinkError {
    #[error("malformed link data from the server: {0}")]
    Decode(#[from] DecodeError),
    #[error("the server requires TLS for this channel (NEED_SECURED)")]
    NeedSecured,
    #[error("authentication failed: the server refused the password (permission denied)")]
    PermissionDenied,
    #[error("the server refused the link: {0}")]
    Refused(LinkErr),
    #[error("the server's ticket key is not a usable RSA-1024 public key: {0}")]
    BadServerKey(String),
    #[error("the password is {len} bytes long; SPICE allows at most 60")]
    PasswordTooLong { len: usize },
    #[error(
        "the server requires SASL authentication, which Sumac does not support yet; ask for a SPICE password (ticket) instead"
    )]
    SaslRequired,
    #[error("could not encrypt the ticket: {0}")]
    Crypto(String),
    #[error("link state machine fed in the wrong state")]
    WrongState,
}
