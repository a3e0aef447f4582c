//! Errors of the wire layer.

use thiserror::Error;

/// Result alias of the protocol layer.
pub type ProtoResult<T> = Result<T, DecodeError>;

/// A message or structure from the network could not be decoded.
///
/// Every variant names what was being read, so the message points at the
/// offending field rather than at a byte offset.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the structure did.
    #[error("{what}: need {expected} bytes, only {received} available")]
    NotEnoughBytes {
        what: &'static str,
        received: usize,
        expected: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{what}: invalid value {value}")]
    InvalidValue { what: &'static str, value: u64 },
    /// A size, count or dimension exceeds the cap Sumac enforces before allocating.
    #[error("{what}: {size} exceeds the limit of {max}")]
    TooLarge { what: &'static str, size: u64, max: u64 },
    /// Arithmetic on wire values overflowed.
    #[error("{what}: arithmetic overflow")]
    Overflow { what: &'static str },
    /// An offset points outside the message it belongs to.
    #[error("{what}: offset {offset} outside the {len}-byte message")]
    BadOffset {
        what: &'static str,
        offset: u64,
        len: usize,
    },
    /// Bytes were left over after a fixed-size structure.
    #[error("{what}: {extra} unexpected trailing bytes")]
    TrailingBytes { what: &'static str, extra: usize },
    /// The link header does not start with "REDQ".
    #[error("link header: bad magic {0:#010x}, the peer does not speak SPICE")]
    BadMagic(u32),
    /// The peer speaks a SPICE major version other than 2.
    #[error("link header: unsupported protocol version {major}.{minor} (Sumac speaks 2.x)")]
    VersionMismatch { major: u32, minor: u32 },
}

impl DecodeError {
    pub(crate) fn invalid(what: &'static str, value: impl Into<u64>) -> Self {
        Self::InvalidValue {
            what,
            value: value.into(),
        }
    }
}
