//! The bounded stream parser: bytes from the peer in, packets out.

use super::codec::{self, MAX_TYPE_HEADER};
use super::packet::Packet;
use super::packet_type as ty;
use super::{Caps, Context, MAX_PACKET_SIZE, ProtoError, Role};

/// Size limits of a [`Parser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest packet `length` accepted (type header and data); longer
    /// packets are skipped and reported as [`ProtoError::TooLong`].
    pub max_packet: u32,
}

impl Default for Limits {
    /// libusbredirparser's limit, [`MAX_PACKET_SIZE`].
    fn default() -> Self {
        Self {
            max_packet: MAX_PACKET_SIZE,
        }
    }
}

/// A packet from the peer with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: u64,
    pub packet: Packet,
}

/// What one [`Parser::parse`] call did.
#[derive(Debug)]
pub struct Parsed {
    /// Bytes of the input used; the caller passes the rest again.
    pub consumed: usize,
    /// A packet, a rejected packet (already skipped or being skipped), or
    /// nothing when the input ran out first.
    pub item: Option<Result<Received, ProtoError>>,
}

/// Largest header (64-bit ids) plus the largest type header.
const HEAD_MAX: usize = 16 + MAX_TYPE_HEADER;
/// Capability bytes of a hello kept (one word; the rest is skipped unread).
const HELLO_CAPS_KEPT: usize = 4;
/// First allocation for packet data, grown by doubling up to the packet's size.
const DATA_CHUNK: usize = 4096;

#[derive(Debug)]
enum State {
    /// Collecting the header into `head`.
    Header,
    /// Collecting the type header after it.
    TypeHeader {
        ty: u32,
        id: u64,
        length: u32,
        th_len: usize,
    },
    /// Collecting `remaining` data bytes; only the first `keep` are stored.
    Data {
        ty: u32,
        id: u64,
        th_len: usize,
        remaining: usize,
        keep: usize,
        data: Vec<u8>,
    },
    /// Discarding the rest of a rejected packet.
    Skip { remaining: u64 },
}

/// Parses the byte stream of one usbredir connection as sent by the peer.
///
/// [`Parser::parse`] consumes input up to the end of at most one packet, so
/// a caller that stops calling it stops the flow (back-pressure). The only
/// buffers are a fixed header area and the data of the packet in progress,
/// which grows as its bytes arrive and never beyond the packet's announced
/// length (itself capped by [`Limits::max_packet`]); nothing can panic.
#[derive(Debug)]
pub struct Parser {
    ctx: Context,
    limits: Limits,
    state: State,
    head: [u8; HEAD_MAX],
    head_len: usize,
}

impl Parser {
    /// A parser for a connection of `role` announcing `ours`, default limits.
    pub fn new(role: Role, ours: Caps) -> Self {
        Self::with_context(Context::new(role, ours), Limits::default())
    }

    /// A parser starting from `ctx` (e.g. with the peer's caps already known).
    pub fn with_context(ctx: Context, limits: Limits) -> Self {
        Self {
            ctx,
            limits,
            state: State::Header,
            head: [0; HEAD_MAX],
            head_len: 0,
        }
    }

    /// The negotiation state; the peer's caps are set by its first hello.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Encodes a packet we send (see [`Context::encode`]).
    pub fn encode(&self, id: u64, packet: &Packet) -> Result<Vec<u8>, ProtoError> {
        self.ctx.encode(id, packet)
    }

    /// Whether the parser is between packets.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header) && self.head_len == 0
    }

    /// Bytes of memory held for the packet in progress.
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Data { data, .. } => data.capacity(),
            _ => 0,
        }
    }

    /// Consumes `input` up to the end of the next packet.
    pub fn parse(&mut self, input: &[u8]) -> Parsed {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            match &mut self.state {
                State::Skip { remaining } => {
                    let n = rest.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    pos += n;
                    *remaining -= n as u64;
                    if *remaining > 0 {
                        return Parsed {
                            consumed: pos,
                            item: None,
                        };
                    }
                    self.state = State::Header;
                }
                State::Header => {
                    let header_len = self.ctx.header_len();
                    pos += self.fill_head(header_len, rest);
                    if self.head_len < header_len {
                        return Parsed {
                            consumed: pos,
                            item: None,
                        };
                    }
                    let (ty, length, id) = self.header_fields();
                    match self.check_header(ty, length) {
                        Ok(th_len) => self.state = State::TypeHeader { ty, id, length, th_len },
                        Err(e) => {
                            self.head_len = 0;
                            self.state = State::Skip {
                                remaining: u64::from(length),
                            };
                            return Parsed {
                                consumed: pos,
                                item: Some(Err(e)),
                            };
                        }
                    }
                }
                &mut State::TypeHeader { ty, id, length, th_len } => {
                    let want = self.ctx.header_len() + th_len;
                    pos += self.fill_head(want, rest);
                    if self.head_len < want {
                        return Parsed {
                            consumed: pos,
                            item: None,
                        };
                    }
                    // check_header made sure th_len <= length.
                    let data_len = usize::try_from(length).unwrap_or(usize::MAX).saturating_sub(th_len);
                    let keep = if ty == ty::HELLO {
                        data_len.min(HELLO_CAPS_KEPT)
                    } else {
                        data_len
                    };
                    self.state = State::Data {
                        ty,
                        id,
                        th_len,
                        remaining: data_len,
                        keep,
                        data: Vec::new(),
                    };
                }
                State::Data {
                    remaining, keep, data, ..
                } => {
                    let n = rest.len().min(*remaining);
                    let stored = n.min(keep.saturating_sub(data.len()));
                    if stored > 0 {
                        grow(data, stored, *keep);
                        data.extend_from_slice(rest.get(..stored).unwrap_or_default());
                    }
                    pos += n;
                    *remaining -= n;
                    if *remaining > 0 {
                        return Parsed {
                            consumed: pos,
                            item: None,
                        };
                    }
                    let item = self.finish();
                    return Parsed {
                        consumed: pos,
                        item: Some(item),
                    };
                }
            }
        }
    }

    /// Parses all of `input`, handing every packet or error to `sink`.
    pub fn parse_all(&mut self, mut input: &[u8], mut sink: impl FnMut(Result<Received, ProtoError>)) {
        loop {
            let Parsed { consumed, item } = self.parse(input);
            input = input.get(consumed..).unwrap_or_default();
            match item {
                Some(item) => sink(item),
                None if input.is_empty() => return,
                None => {}
            }
        }
    }

    /// Copies bytes of `rest` into `head` until it holds `want`; returns how many.
    fn fill_head(&mut self, want: usize, rest: &[u8]) -> usize {
        let n = want.saturating_sub(self.head_len).min(rest.len());
        if let (Some(dst), Some(src)) = (self.head.get_mut(self.head_len..self.head_len + n), rest.get(..n)) {
            dst.copy_from_slice(src);
            self.head_len += n;
            n
        } else {
            0
        }
    }

    fn head_u32(&self, at: usize) -> u32 {
        self.head
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes)
    }

    fn header_fields(&self) -> (u32, u32, u64) {
        let id = if self.ctx.header_len() == 16 {
            self.head
                .get(8..16)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_le_bytes)
        } else {
            u64::from(self.head_u32(8))
        };
        (self.head_u32(0), self.head_u32(4), id)
    }

    /// libusbredirparser's header checks, in its order: type and sender,
    /// length cap, length against the type header. Returns the type header size.
    fn check_header(&self, ty: u32, length: u32) -> Result<usize, ProtoError> {
        let th_len = codec::type_header_len(&self.ctx, ty, self.ctx.role().peer())?;
        if length > self.limits.max_packet {
            return Err(ProtoError::TooLong {
                ty,
                length,
                max: self.limits.max_packet,
            });
        }
        let length_usize = usize::try_from(length).unwrap_or(usize::MAX);
        if length_usize < th_len || (length_usize > th_len && !codec::may_carry_data(ty)) {
            return Err(ProtoError::BadLength {
                ty,
                length,
                header: th_len,
            });
        }
        Ok(th_len)
    }

    /// Decodes the completed packet and returns to [`State::Header`].
    fn finish(&mut self) -> Result<Received, ProtoError> {
        let state = std::mem::replace(&mut self.state, State::Header);
        let header_len = self.ctx.header_len();
        self.head_len = 0;
        let State::Data {
            ty, id, th_len, data, ..
        } = state
        else {
            return Err(ProtoError::UnknownType(u32::MAX));
        };
        let th = self.head.get(header_len..header_len + th_len).unwrap_or_default();
        let packet = codec::decode(&self.ctx, self.ctx.role().peer(), ty, th, data)?;
        if let Packet::Hello(hello) = &packet {
            if self.ctx.peer().is_some() {
                return Err(ProtoError::DuplicateHello);
            }
            self.ctx.set_peer(hello.caps);
        }
        Ok(Received { id, packet })
    }
}

/// Makes room for `n` more bytes in `data`, never beyond `cap_max` in total.
fn grow(data: &mut Vec<u8>, n: usize, cap_max: usize) {
    let need = data.len() + n;
    if need <= data.capacity() {
        return;
    }
    let target = need.max(data.capacity().saturating_mul(2)).max(DATA_CHUNK).min(cap_max);
    data.reserve_exact(target.max(need) - data.len());
}
