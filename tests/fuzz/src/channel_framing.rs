//! `channel_framing`: the runtime's receive path across several channels
//! sharing one small session budget: each channel's [`InBuf`] is read the
//! way the channel loop reads its socket (make room, read at most that room,
//! take every complete message out, hand each body on).
//!
//! Input: byte 0 = bit 0 full headers (else mini), bits 1..4 the number of
//! channels − 1 (1..8); byte 1 = the budget in 16 KiB units (0..4 MiB);
//! byte 2 = the message cap, `1 << (8 + b % 20)` (256 B .. 128 MiB); then
//! operations `channel: u8, length: u16 LE, bytes` — what the socket of that
//! channel delivers next (what does not fit the room waits for the next
//! operation on that channel).
//!
//! Oracle: every message taken out equals what a plain parser of the same
//! channel's bytes reads (header and body, in order); a header over the cap
//! is an error in both; a refusal for the budget only happens when the bytes
//! asked for do not fit; the budget is never exceeded, each buffer's
//! allocation is within its reservation, the reservations add up to what
//! the budget counts, and everything comes back once the channels are gone.
//! Accepted: no channel ended with an error.

use sumac::budget::MemoryBudget;
use sumac::client::inbuf::{InBuf, InBufError};
use sumac::proto::Message;
use sumac::proto::ReadCursor;
use sumac::proto::channel::display::DisplayServer;
use sumac::proto::channel::main::MainServer;
use sumac::proto::frame::{DataHeader, HeaderKind};

/// One channel: its buffer and the model of its byte stream.
struct Chan {
    buf: Option<InBuf>,
    /// Every byte handed to the buffer, and how far the model parsed them.
    fed: Vec<u8>,
    parsed: usize,
    /// Bytes "in the socket": delivered, not read yet.
    waiting: Vec<u8>,
}

/// The next message of the model, if its bytes are all there.
fn model_next(c: &mut Chan, kind: HeaderKind, max: u32) -> Result<Option<(DataHeader, Vec<u8>)>, ()> {
    let rest = c.fed.get(c.parsed..).unwrap_or_default();
    if rest.len() < kind.header_len() {
        return Ok(None);
    }
    let h = DataHeader::decode(kind, &mut ReadCursor::new(rest), max).map_err(|_| ())?;
    let end = kind.header_len() + h.size as usize;
    if rest.len() < end {
        return Ok(None);
    }
    let body = rest[kind.header_len()..end].to_vec();
    c.parsed += end;
    Ok(Some((h, body)))
}

fn check_budget(budget: &MemoryBudget, chans: &[Chan]) {
    assert!(budget.used() <= budget.limit(), "budget exceeded");
    let mut sum = 0;
    for b in chans.iter().filter_map(|c| c.buf.as_ref()) {
        assert!(b.capacity() as u64 <= b.reserved(), "allocation beyond its reservation");
        sum += b.reserved();
    }
    assert_eq!(sum, budget.used(), "reservations and the budget disagree");
}

/// Reads channel `c` as the channel loop does; false when it ended with an error.
fn step(c: &mut Chan, idx: usize, kind: HeaderKind, max: u32, budget: &MemoryBudget) -> bool {
    let Some(mut buf) = c.buf.take() else { return true };
    let alive = read(&mut buf, c, idx, kind, max, budget);
    if alive {
        c.buf = Some(buf);
    }
    alive
}

/// One read of `buf` (the buffer of `c`, taken out of it); false when the channel ends.
fn read(buf: &mut InBuf, c: &mut Chan, idx: usize, kind: HeaderKind, max: u32, budget: &MemoryBudget) -> bool {
    match buf.prepare_read(kind, max) {
        Ok(()) => {}
        Err(InBufError::Decode(_)) => {
            assert!(
                model_next(c, kind, max).is_err(),
                "InBuf refused a header the model accepts"
            );
            return false;
        }
        Err(InBufError::Budget(e)) => {
            assert!(
                e.used.saturating_add(e.requested) > e.limit,
                "refused bytes that fit: {e}"
            );
            assert_eq!(e.limit, budget.limit());
            return false;
        }
    }
    let room = buf.capacity() - buf.vec_mut().len();
    assert!(room > 0, "prepare_read made no room");
    let n = room.min(c.waiting.len());
    let read: Vec<u8> = c.waiting.drain(..n).collect();
    buf.vec_mut().extend_from_slice(&read);
    c.fed.extend_from_slice(&read);
    loop {
        let got = buf.next(kind, max);
        let want = model_next(c, kind, max);
        match (got, want) {
            (Ok(None), Ok(None)) => return true,
            (Ok(Some(m)), Ok(Some((h, body)))) => {
                assert_eq!(m.header, h, "header differs from the model");
                let b = buf.body(&m);
                assert_eq!(b, &body[..], "body differs from the model");
                assert_eq!(m.wire_len(kind), kind.header_len() + body.len());
                // What the channel's machine does next: decode the body.
                if idx == 0 {
                    let _ = MainServer::decode(h.msg_type, b);
                } else {
                    let _ = DisplayServer::decode(h.msg_type, b);
                }
            }
            (Err(_), Err(())) => return false,
            (got, want) => panic!("InBuf {got:?}, model {want:?}"),
        }
    }
}

pub fn fuzz(data: &[u8]) -> bool {
    let Some(([flags, units, cap], mut ops)) = data.split_first_chunk::<3>().map(|(h, r)| (*h, r)) else {
        return false;
    };
    let kind = if flags & 1 == 1 {
        HeaderKind::Full
    } else {
        HeaderKind::Mini
    };
    let n = 1 + usize::from((flags >> 1) & 7);
    let budget = MemoryBudget::new(u64::from(units) * (16 << 10));
    let max = 1u32 << (8 + cap % 20);
    let mut chans: Vec<Chan> = (0..n)
        .map(|_| Chan {
            buf: Some(InBuf::new(budget.empty())),
            fed: Vec::new(),
            parsed: 0,
            waiting: Vec::new(),
        })
        .collect();
    check_budget(&budget, &chans);
    let mut clean = true;
    while let Some(([ch, lo, hi], rest)) = ops.split_first_chunk::<3>().map(|(h, r)| (*h, r)) {
        let len = usize::from(u16::from_le_bytes([lo, hi])).min(rest.len());
        let (bytes, rest) = rest.split_at(len);
        ops = rest;
        let idx = usize::from(ch) % n;
        let c = &mut chans[idx];
        c.waiting.extend_from_slice(bytes);
        // One read per operation, as one wakeup of the channel's loop.
        clean &= step(c, idx, kind, max, &budget);
        check_budget(&budget, &chans);
    }
    // The sockets drain: each channel reads until nothing waits.
    for idx in 0..n {
        let mut reads = 0;
        while chans[idx].buf.is_some() && !chans[idx].waiting.is_empty() && reads < 4096 {
            clean &= step(&mut chans[idx], idx, kind, max, &budget);
            check_budget(&budget, &chans);
            reads += 1;
        }
    }
    drop(chans);
    assert_eq!(budget.used(), 0, "every reservation came back");
    clean
}
