//! AGENT_DATA framing: cutting agent messages into AGENT_DATA bodies and
//! putting them back together.
//!
//! # The framing on the main channel
//!
//! There is no `VDIChunkHeader` in AGENT_DATA, in either direction: chunk
//! headers only exist between the server and the guest's virtio port.
//!
//! - **Client → server** (spice-gtk `agent_msg_queue_many`): the header and
//!   data of one message form one byte string, cut into AGENT_DATA bodies of
//!   [`MAX_DATA_SIZE`] (2048) bytes, the last one shorter. The first body thus
//!   starts with the whole 20-byte header; a message never shares a body with
//!   another. spice-server enforces exactly that (`agent_msg_filter`): a body
//!   over 2048 bytes, a body that starts a message without a whole header, or
//!   a body running past the end of its message is a protocol error that
//!   disconnects the agent. [`chunk_bodies`] produces this framing and
//!   [`Reassembler::strict`] checks it (for the test server).
//! - **Server → client**: the server forwards what the agent writes in pieces
//!   of at most 2048 bytes, filtered by the same rules, so real servers send the
//!   same shape. The client does not rely on it: [`Reassembler::new`] reads
//!   the bodies as one byte stream (a header may be split, a body may hold
//!   several messages), so any split of a valid stream gives the same
//!   messages (chunk invariance).
//!
//! # Bounds
//!
//! A message whose header declares more data than [`AgentLimits`] allows for
//! its type is reported as [`FramingError::TooLarge`] as soon as its header is
//! complete, before anything is buffered; its data is then skipped as it
//! arrives, which keeps the stream in sync. The buffer of a partial message
//! grows only as its bytes arrive and never beyond its declared size, so the
//! memory held stays within the limit whatever the peer claims.

use super::error::FramingError;
use super::{AgentHeader, HEADER_SIZE, MAX_DATA_SIZE, PROTOCOL, RawAgentMessage, msg_type};

/// Cuts a framed message (header and data, e.g. from
/// [`AgentMessage::to_bytes`](super::AgentMessage::to_bytes)) into AGENT_DATA
/// bodies of at most [`MAX_DATA_SIZE`] bytes, in sending order.
pub fn chunk_bodies(framed: &[u8]) -> std::slice::Chunks<'_, u8> {
    framed.chunks(MAX_DATA_SIZE)
}

/// How many AGENT_DATA bodies (and so agent tokens) a framed message of
/// `framed_len` bytes takes.
pub fn body_count(framed_len: usize) -> usize {
    framed_len.div_ceil(MAX_DATA_SIZE)
}

/// The largest data a received message may declare, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    /// Clipboard payload bytes (CLIPBOARD messages may carry this plus
    /// [`CLIPBOARD_OVERHEAD`]). spice-gtk's default is 100 MiB; it is what the
    /// client announces in MAX_CLIPBOARD.
    pub clipboard: u32,
    /// Data bytes of every other message type, unknown types included.
    pub other: u32,
}

/// Bytes a CLIPBOARD message adds before its payload (selection prefix and type).
pub const CLIPBOARD_OVERHEAD: u32 = 8;

impl AgentLimits {
    /// spice-gtk's default `max-clipboard`.
    pub const DEFAULT_CLIPBOARD: u32 = 100 * 1024 * 1024;
    /// Room for every control message and for one 64 KiB FILE_XFER_DATA.
    pub const DEFAULT_OTHER: u32 = 256 * 1024;

    /// The limits of a client that announces `max` in MAX_CLIPBOARD: clipboard
    /// payloads up to `max`, the default for everything else. A negative `max`
    /// (spice-gtk's "no limit") gets `u32::MAX`, the wire's own bound; the
    /// buffer still grows only as the bytes actually arrive.
    pub fn from_max_clipboard(max: i32) -> Self {
        Self {
            clipboard: u32::try_from(max).unwrap_or(u32::MAX),
            other: Self::DEFAULT_OTHER,
        }
    }

    /// The most data a message of `msg_type` may declare.
    pub fn max_data(&self, msg_type: u32) -> u32 {
        if msg_type == msg_type::CLIPBOARD {
            self.clipboard.saturating_add(CLIPBOARD_OVERHEAD)
        } else {
            self.other
        }
    }
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            clipboard: Self::DEFAULT_CLIPBOARD,
            other: Self::DEFAULT_OTHER,
        }
    }
}

/// The first allocation for a message's data; it then doubles, up to the declared size.
const INITIAL_RESERVE: usize = 64 * 1024;

#[derive(Debug)]
enum State {
    /// Between messages, or inside a header split across bodies.
    Header { buf: [u8; HEADER_SIZE], have: usize },
    /// Inside the data of an accepted message.
    Data { header: AgentHeader, data: Vec<u8> },
    /// Inside the data of a rejected (too large) message.
    Skip { left: u32 },
}

impl State {
    fn idle() -> Self {
        Self::Header {
            buf: [0; HEADER_SIZE],
            have: 0,
        }
    }
}

/// Puts agent messages back together from AGENT_DATA bodies (sans-IO: feed
/// each body in arrival order, get the completed messages).
///
/// Errors are reported in the output and the reassembler carries on:
/// - [`FramingError::TooLarge`]: the message's data is skipped, the stream stays in sync;
/// - [`FramingError::BadProtocol`]: the framing is lost, so the reassembler
///   resets and drops the rest of that body; the next body is read as the
///   start of a message (where every real peer starts one). The caller should
///   treat it as the agent channel being broken (reset its agent state);
/// - strict mode only (`BodyTooLong`, `SplitHeader`, `Overrun`): the body is
///   dropped whole and the reassembler resets.
#[derive(Debug)]
pub struct Reassembler {
    limits: AgentLimits,
    strict: bool,
    state: State,
}

impl Reassembler {
    /// A reassembler that accepts any split of the stream into bodies (the client's).
    pub fn new(limits: AgentLimits) -> Self {
        Self {
            limits,
            strict: false,
            state: State::idle(),
        }
    }

    /// A reassembler that also enforces spice-server's rules on what a client
    /// sends: bodies of at most 2048 bytes, each message starting a body with
    /// its whole header, no body running past the end of its message.
    pub fn strict(limits: AgentLimits) -> Self {
        Self {
            strict: true,
            ..Self::new(limits)
        }
    }

    pub fn limits(&self) -> AgentLimits {
        self.limits
    }

    /// New limits apply from the next message header on.
    pub fn set_limits(&mut self, limits: AgentLimits) {
        self.limits = limits;
    }

    /// True between messages (nothing partial is held).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header { have: 0, .. })
    }

    /// Forgets any partial message (e.g. when the agent disconnects).
    pub fn reset(&mut self) {
        self.state = State::idle();
    }

    /// Bytes allocated for the partial message (never more than its declared
    /// size, so never more than the limit for its type).
    pub fn held_bytes(&self) -> usize {
        match &self.state {
            State::Data { data, .. } => data.capacity(),
            State::Header { .. } | State::Skip { .. } => 0,
        }
    }

    /// Feeds one AGENT_DATA body; returns the messages it completes and the
    /// framing errors it reveals, in stream order.
    pub fn feed(&mut self, body: &[u8]) -> Vec<Result<RawAgentMessage, FramingError>> {
        let mut out = Vec::new();
        if self.strict
            && let Err(e) = self.check_strict(body)
        {
            self.reset();
            out.push(Err(e));
            return out;
        }
        let mut rest = body;
        while !rest.is_empty() {
            match std::mem::replace(&mut self.state, State::idle()) {
                State::Header { buf, have } => match self.take_header(buf, have, rest, &mut out) {
                    Some(tail) => rest = tail,
                    None => break,
                },
                State::Data { header, data } => rest = self.take_data(header, data, rest, &mut out),
                State::Skip { left } => {
                    let (skipped, tail) = split(rest, usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left.saturating_sub(u32::try_from(skipped.len()).unwrap_or(u32::MAX));
                    if left > 0 {
                        self.state = State::Skip { left };
                    }
                    rest = tail;
                }
            }
        }
        out
    }

    /// Adds header bytes; on a complete header starts the message. `None`
    /// means the rest of the body is dropped (bad protocol).
    fn take_header<'a>(
        &mut self,
        mut buf: [u8; HEADER_SIZE],
        have: usize,
        rest: &'a [u8],
        out: &mut Vec<Result<RawAgentMessage, FramingError>>,
    ) -> Option<&'a [u8]> {
        let (head, tail) = split(rest, HEADER_SIZE.saturating_sub(have));
        let have_now = have.saturating_add(head.len());
        if let Some(dst) = buf.get_mut(have..have_now) {
            dst.copy_from_slice(head);
        }
        if have_now < HEADER_SIZE {
            self.state = State::Header { buf, have: have_now };
            return Some(tail);
        }
        let header = AgentHeader::decode(&buf);
        if header.protocol != PROTOCOL {
            out.push(Err(FramingError::BadProtocol {
                protocol: header.protocol,
            }));
            return None;
        }
        let max = self.limits.max_data(header.msg_type);
        if header.size > max {
            out.push(Err(FramingError::TooLarge {
                msg_type: header.msg_type,
                size: header.size,
                max,
            }));
            self.state = State::Skip { left: header.size };
        } else if header.size == 0 {
            out.push(Ok(RawAgentMessage {
                msg_type: header.msg_type,
                opaque: header.opaque,
                data: Vec::new(),
            }));
        } else {
            let size = usize::try_from(header.size).unwrap_or(usize::MAX);
            self.state = State::Data {
                header,
                data: Vec::with_capacity(size.min(INITIAL_RESERVE)),
            };
        }
        Some(tail)
    }

    fn take_data<'a>(
        &mut self,
        header: AgentHeader,
        mut data: Vec<u8>,
        rest: &'a [u8],
        out: &mut Vec<Result<RawAgentMessage, FramingError>>,
    ) -> &'a [u8] {
        let size = usize::try_from(header.size).unwrap_or(usize::MAX);
        let (piece, tail) = split(rest, size.saturating_sub(data.len()));
        let need = data.len().saturating_add(piece.len());
        if need > data.capacity() {
            // Double, but never past the declared size: capacity stays within the limit.
            let target = need.max(data.capacity().saturating_mul(2)).min(size);
            data.reserve_exact(target.saturating_sub(data.len()));
        }
        data.extend_from_slice(piece);
        if data.len() >= size {
            out.push(Ok(RawAgentMessage {
                msg_type: header.msg_type,
                opaque: header.opaque,
                data,
            }));
        } else {
            self.state = State::Data { header, data };
        }
        tail
    }

    fn check_strict(&self, body: &[u8]) -> Result<(), FramingError> {
        let len = body.len();
        if len > MAX_DATA_SIZE {
            return Err(FramingError::BodyTooLong { len });
        }
        let remaining = match &self.state {
            State::Header { have: 0, .. } => {
                let Some(size) = body.get(16..HEADER_SIZE).and_then(|s| <[u8; 4]>::try_from(s).ok()) else {
                    return Err(FramingError::SplitHeader { len });
                };
                let size = u64::from(u32::from_le_bytes(size));
                size.saturating_add(HEADER_SIZE as u64)
            }
            State::Header { .. } => return Err(FramingError::SplitHeader { len }),
            State::Data { header, data } => {
                u64::from(header.size).saturating_sub(u64::try_from(data.len()).unwrap_or(u64::MAX))
            }
            State::Skip { left } => u64::from(*left),
        };
        if u64::try_from(len).unwrap_or(u64::MAX) > remaining {
            return Err(FramingError::Overrun { len, remaining });
        }
        Ok(())
    }
}

/// `(s[..n], s[n..])`, or `(s, [])` when `n >= s.len()`.
fn split(s: &[u8], n: usize) -> (&[u8], &[u8]) {
    s.split_at_checked(n).unwrap_or((s, &[]))
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
