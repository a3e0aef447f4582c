//! The receive buffer of a channel: bytes read from the socket in large
//! chunks, split into messages in place.
//!
//! One `recv` brings as many messages as the socket holds (a scrolling
//! terminal sends thousands of small draws per second), and a message is
//! handed to its handler as a slice of this buffer: no read per header, no
//! allocation per message. A header is checked (size cap) as soon as its
//! bytes are here. Room for the rest of the message is then made at once up
//! to [`AHEAD`] (a 600 KB image needs one allocation, not a doubling series
//! whose copies raise the peak); beyond that the buffer grows only as the
//! body's bytes arrive (at most doubling per read), never to the size a
//! header announces.
//!
//! Public (hidden) for the `channel_framing` fuzz target only.

use crate::budget::{OverBudget, Reservation};
use crate::proto::ReadCursor;
use crate::proto::error::{DecodeError, ProtoResult};
use crate::proto::frame::{DataHeader, HeaderKind};

/// Spare room made for one read when no larger message is pending.
pub const READ_CHUNK: usize = 64 << 10;
/// Most room made for a message beyond what has arrived of it (the reader
/// task this replaced allocated up to this much of an announced body too).
pub const AHEAD: usize = 1 << 20;
/// An empty buffer larger than this is given back (a big image passed by).
const KEEP_CAPACITY: usize = 1 << 20;

/// One complete message in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed {
    pub header: DataHeader,
    /// Body bytes: `start..end` of the buffer.
    start: usize,
    end: usize,
}

impl Framed {
    /// Header plus body bytes.
    pub fn wire_len(&self, kind: HeaderKind) -> usize {
        kind.header_len().saturating_add(self.end.saturating_sub(self.start))
    }
}

/// Why the buffer cannot take the next read.
#[derive(Debug, thiserror::Error)]
pub enum InBufError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Budget(#[from] OverBudget),
}

/// Received bytes not handled yet. Its capacity is reserved from the
/// session's memory budget: a message the budget cannot hold is refused
/// before its room is made.
#[derive(Debug)]
pub struct InBuf {
    data: Vec<u8>,
    /// First byte not consumed.
    pos: usize,
    budget: Reservation,
}

impl InBuf {
    pub fn new(mut budget: Reservation) -> Self {
        let data = match budget.resize(READ_CHUNK as u64) {
            Ok(()) => Vec::with_capacity(READ_CHUNK),
            // Not even one chunk: reads of a few bytes still work (the
            // first real message is refused when its room is asked for).
            Err(_) => Vec::new(),
        };
        Self { data, pos: 0, budget }
    }

    /// Grows the buffer's capacity by `room` beyond what it holds, within the budget.
    fn grow(&mut self, room: usize) -> Result<(), OverBudget> {
        let have = self.data.len();
        let capacity = have.saturating_add(room).max(self.data.capacity());
        self.budget.resize(capacity as u64)?;
        // Exact: `reserve` would round a big message up to twice its size.
        self.data.reserve_exact(room);
        // What the allocator gave may be a little more: count it.
        let _ = self.budget.resize(self.data.capacity() as u64);
        Ok(())
    }

    /// Bytes received and not consumed (a partial message after [`Self::next`] returned `None`).
    pub fn pending(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The header of the next message, when its bytes are here (checked against `max_size`).
    fn header(&self, kind: HeaderKind, max_size: u32) -> ProtoResult<Option<DataHeader>> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.len() < kind.header_len() {
            return Ok(None);
        }
        DataHeader::decode(kind, &mut ReadCursor::new(rest), max_size).map(Some)
    }

    /// The next complete message, or `None` when more bytes are needed.
    /// Consumes it: its body stays readable through [`Self::body`] until the
    /// next [`Self::prepare_read`].
    pub fn next(&mut self, kind: HeaderKind, max_size: u32) -> ProtoResult<Option<Framed>> {
        let Some(header) = self.header(kind, max_size)? else {
            return Ok(None);
        };
        let start = self.pos.saturating_add(kind.header_len());
        // `size` ≤ max_size (a u32): no overflow on 64-bit, checked anyway.
        let Some(end) = usize::try_from(header.size).ok().and_then(|n| start.checked_add(n)) else {
            return Ok(None);
        };
        if end > self.data.len() {
            return Ok(None);
        }
        self.pos = end;
        Ok(Some(Framed { header, start, end }))
    }

    /// The body of a message returned by [`Self::next`].
    pub fn body(&self, m: &Framed) -> &[u8] {
        self.data.get(m.start..m.end).unwrap_or_default()
    }

    /// Drops the consumed bytes and makes room for the next read: at least
    /// [`READ_CHUNK`], the rest of a pending message when it is larger, but
    /// never more than [`AHEAD`] or (past that) what is already here.
    pub fn prepare_read(&mut self, kind: HeaderKind, max_size: u32) -> Result<(), InBufError> {
        if self.pos >= self.data.len() {
            self.data.clear();
            self.pos = 0;
            if self.data.capacity() > KEEP_CAPACITY {
                self.data = Vec::with_capacity(READ_CHUNK);
                let _ = self.budget.resize(self.data.capacity() as u64);
            }
        } else if self.pos > 0 {
            // A partial message: move it to the front (it is small, or its
            // first bytes only; the rest is read in place).
            self.data.drain(..self.pos);
            self.pos = 0;
        }
        let have = self.data.len();
        let wanted = match self.header(kind, max_size)? {
            Some(h) => kind
                .header_len()
                .saturating_add(usize::try_from(h.size).unwrap_or(usize::MAX))
                .saturating_sub(have),
            None => kind.header_len().saturating_sub(have),
        };
        let room = wanted.clamp(READ_CHUNK, have.max(AHEAD));
        if self.data.capacity().saturating_sub(have) < room {
            self.grow(room)?;
        }
        Ok(())
    }

    /// Where a read appends (its spare capacity is the room [`Self::prepare_read`] made).
    pub fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// Bytes of room the buffer has (its allocation).
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Bytes of the session's budget the buffer holds (at least its capacity).
    pub fn reserved(&self) -> u64 {
        self.budget.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::MemoryBudget;
    use crate::proto::frame::encode_message;

    const MAX: u32 = 1 << 30;

    impl InBuf {
        fn unbounded() -> Self {
            Self::new(MemoryBudget::unlimited().empty())
        }
    }

    fn feed(b: &mut InBuf, bytes: &[u8]) {
        b.prepare_read(HeaderKind::Mini, MAX).unwrap();
        b.vec_mut().extend_from_slice(bytes);
    }

    fn drain(b: &mut InBuf) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(m) = b.next(HeaderKind::Mini, MAX).unwrap() {
            out.push((m.header.msg_type, b.body(&m).to_vec()));
        }
        out
    }

    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let mut wire = Vec::new();
        for i in 0..50u16 {
            wire.extend(encode_message(
                HeaderKind::Mini,
                0,
                100 + i,
                &vec![i as u8; usize::from(i) * 7],
            ));
        }
        for cut in [1, 2, 5, 6, 7, 13, 100, 4096] {
            let mut b = InBuf::unbounded();
            let mut got = Vec::new();
            for chunk in wire.chunks(cut) {
                feed(&mut b, chunk);
                got.extend(drain(&mut b));
            }
            assert_eq!(got.len(), 50, "cut {cut}");
            for (i, (ty, body)) in got.iter().enumerate() {
                assert_eq!(*ty, 100 + i as u16);
                assert_eq!(body, &vec![i as u8; i * 7]);
            }
            assert_eq!(b.pending(), 0);
        }
    }

    #[test]
    fn full_headers_with_serials() {
        let mut wire = encode_message(HeaderKind::Full, 7, 101, b"abc");
        wire.extend(encode_message(HeaderKind::Full, 8, 102, b""));
        let mut b = InBuf::unbounded();
        b.prepare_read(HeaderKind::Full, MAX).unwrap();
        b.vec_mut().extend_from_slice(&wire);
        let m = b.next(HeaderKind::Full, MAX).unwrap().unwrap();
        assert_eq!((m.header.serial, m.header.msg_type, b.body(&m)), (7, 101, &b"abc"[..]));
        assert_eq!(m.wire_len(HeaderKind::Full), 18 + 3);
        let m = b.next(HeaderKind::Full, MAX).unwrap().unwrap();
        assert_eq!((m.header.serial, b.body(&m)), (8, &b""[..]));
        assert!(b.next(HeaderKind::Full, MAX).unwrap().is_none());
    }

    #[test]
    fn a_huge_announced_body_is_not_allocated_up_front() {
        // The header announces 512 MiB; 10 bytes of it arrive.
        let mut b = InBuf::unbounded();
        let mut wire = Vec::new();
        wire.extend_from_slice(&101u16.to_le_bytes());
        wire.extend_from_slice(&(512u32 << 20).to_le_bytes());
        wire.extend_from_slice(&[0; 10]);
        feed(&mut b, &wire);
        assert!(b.next(HeaderKind::Mini, MAX).unwrap().is_none());
        b.prepare_read(HeaderKind::Mini, MAX).unwrap();
        assert!(b.capacity() <= 2 * AHEAD, "capacity {}", b.capacity());
        // Growth follows what arrives: never more than about twice the data held.
        for _ in 0..8 {
            let room = b.capacity() - b.pending();
            b.vec_mut().extend(std::iter::repeat_n(0u8, room));
            b.prepare_read(HeaderKind::Mini, MAX).unwrap();
            assert!(
                b.capacity() <= 2 * b.pending().max(AHEAD),
                "{} for {}",
                b.capacity(),
                b.pending()
            );
        }
    }

    #[test]
    fn a_mid_size_message_gets_its_room_at_once() {
        let mut b = InBuf::unbounded();
        let wire = encode_message(HeaderKind::Mini, 0, 101, &vec![7u8; 600_000]);
        feed(&mut b, &wire[..1000]);
        assert!(b.next(HeaderKind::Mini, MAX).unwrap().is_none());
        b.prepare_read(HeaderKind::Mini, MAX).unwrap();
        assert_eq!(b.capacity(), wire.len(), "exactly the message");
        b.vec_mut().extend_from_slice(&wire[1000..]);
        assert_eq!(drain(&mut b).len(), 1);
    }

    #[test]
    fn a_header_over_the_cap_is_refused_before_its_body() {
        let mut b = InBuf::unbounded();
        let mut wire = Vec::new();
        wire.extend_from_slice(&101u16.to_le_bytes());
        wire.extend_from_slice(&1000u32.to_le_bytes());
        feed(&mut b, &wire);
        assert!(b.next(HeaderKind::Mini, 999).is_err());
        assert!(b.prepare_read(HeaderKind::Mini, 999).is_err());
    }

    #[test]
    fn buffers_stay_within_the_session_budget() {
        let budget = MemoryBudget::new(4 << 20);
        let mut a = InBuf::new(budget.empty());
        let mut b = InBuf::new(budget.empty());
        // A 3 MiB message on each of two channels: the first fits, the second is refused.
        let wire = encode_message(HeaderKind::Mini, 0, 101, &vec![7u8; 3 << 20]);
        for chunk in wire.chunks(READ_CHUNK) {
            a.prepare_read(HeaderKind::Mini, MAX).unwrap();
            a.vec_mut().extend_from_slice(chunk);
        }
        assert!(budget.used() <= 4 << 20);
        feed(&mut b, &wire[..READ_CHUNK]);
        let mut refused = false;
        for chunk in wire[READ_CHUNK..].chunks(READ_CHUNK) {
            match b.prepare_read(HeaderKind::Mini, MAX) {
                Ok(()) => b.vec_mut().extend_from_slice(chunk),
                Err(InBufError::Budget(_)) => {
                    refused = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused, "the second message must not fit");
        assert!(budget.peak() <= 4 << 20);
        // Once the first message is handled, its room goes back.
        assert_eq!(drain(&mut a).len(), 1);
        a.prepare_read(HeaderKind::Mini, MAX).unwrap();
        drop(b);
        assert!(budget.used() <= 2 * READ_CHUNK as u64, "{}", budget.used());
    }

    #[test]
    fn a_big_buffer_is_given_back_once_empty() {
        let mut b = InBuf::unbounded();
        let body = vec![1u8; 3 << 20];
        let wire = encode_message(HeaderKind::Mini, 0, 101, &body);
        for chunk in wire.chunks(READ_CHUNK) {
            feed(&mut b, chunk);
        }
        assert_eq!(drain(&mut b).len(), 1);
        b.prepare_read(HeaderKind::Mini, MAX).unwrap();
        assert!(b.capacity() <= 2 * READ_CHUNK);
    }
}
