//! Errors of the agent protocol that are not plain decode errors: building a
//! message that the wire cannot carry, and framing violations seen by the
//! reassembler. Body decoding reports [`DecodeError`](crate::proto::DecodeError).

use thiserror::Error;

/// A message cannot be put on the wire as it stands.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A length or count does not fit its wire field.
    #[error("{what}: {len} does not fit the wire field (at most {max})")]
    TooLong { what: &'static str, len: usize, max: u64 },
    /// A clipboard message names a selection other than CLIPBOARD, but the
    /// CLIPBOARD_SELECTION capability is not negotiated, so the wire cannot say which.
    #[error("{what}: selection {selection} needs the CLIPBOARD_SELECTION capability")]
    SelectionWithoutCap { what: &'static str, selection: u8 },
    /// A string that travels NUL-terminated contains a NUL.
    #[error("{what}: contains a NUL character")]
    InteriorNul { what: &'static str },
}

/// The stream of agent messages carried by AGENT_DATA bodies is broken.
///
/// The reassembler reports these and carries on: see
/// [`Reassembler`](super::chunk::Reassembler) for how it resynchronises.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FramingError {
    /// A message header does not carry `VD_AGENT_PROTOCOL` (1).
    #[error("agent message header: protocol {protocol}, expected 1")]
    BadProtocol { protocol: u32 },
    /// A message declares more data than the limit for its type; its bytes are skipped.
    #[error("agent message type {msg_type}: {size} bytes exceed the limit of {max}")]
    TooLarge { msg_type: u32, size: u32, max: u32 },
    /// Strict framing: an AGENT_DATA body longer than `VD_AGENT_MAX_DATA_SIZE`.
    #[error("AGENT_DATA body of {len} bytes exceeds 2048")]
    BodyTooLong { len: usize },
    /// Strict framing: a body that starts a message does not hold its whole header.
    #[error("AGENT_DATA body of {len} bytes starts a message without a whole header")]
    SplitHeader { len: usize },
    /// Strict framing: a body carries bytes past the end of the message it belongs to.
    #[error("AGENT_DATA body of {len} bytes runs past the current message ({remaining} bytes left)")]
    Overrun { len: usize, remaining: u64 },
}
