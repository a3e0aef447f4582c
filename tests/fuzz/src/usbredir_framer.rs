//! `usbredir_framer` oracle: the packet boundaries a SPICE usbredir channel finds in the guest's
//! stream (`sumac::usbredir::framer`). Input: one byte of chunk size (1–256), one byte whose
//! bit 0 turns on 64-bit ids after the first packet, then the stream. Properties: every piece is
//! non-empty and inside one packet; the boundaries, packet heads and the error (a length beyond
//! the protocol's) are the same whatever the chunking; nothing is buffered but the header.

use sumac::usbredir::framer::{Framer, PacketHead};

#[derive(Debug, PartialEq, Eq)]
struct Split {
    /// (end offset, head) of every complete packet.
    packets: Vec<(usize, PacketHead)>,
    /// The framing broke on the header after the last complete packet (how many of its
    /// bytes the framer took before saying so depends on the chunking, so no offset here).
    broken: bool,
}

fn split(stream: &[u8], step: usize, ids64: bool) -> Split {
    let mut f = Framer::new();
    let mut packets = Vec::new();
    let mut head = None;
    let mut offset = 0;
    let mut first = true;
    for piece in stream.chunks(step.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            let c = match f.next(rest) {
                Ok(c) => c,
                Err(_) => {
                    assert!(f.is_broken());
                    return Split { packets, broken: true };
                }
            };
            assert!(
                c.len > 0 && c.len <= rest.len(),
                "piece of {} bytes out of {}",
                c.len,
                rest.len()
            );
            if c.starts {
                assert!(head.is_none() || c.head.is_some(), "a packet started inside another");
            }
            if let Some(h) = c.head {
                head = Some(h);
            }
            offset += c.len;
            rest = rest.get(c.len..).unwrap_or_default();
            if c.ends {
                let h = head.take().expect("a packet ended without a complete header");
                packets.push((offset, h));
                if first {
                    first = false;
                    f.set_ids64(ids64);
                }
                assert!(f.at_boundary());
            }
        }
    }
    Split { packets, broken: false }
}

pub fn fuzz(data: &[u8]) -> bool {
    let (Some(&step), Some(&flags), Some(stream)) = (data.first(), data.get(1), data.get(2..)) else {
        return false;
    };
    let ids64 = flags & 1 != 0;
    let whole = split(stream, stream.len().max(1), ids64);
    let pieces = split(stream, usize::from(step) + 1, ids64);
    assert_eq!(whole, pieces, "boundaries depend on the chunking");
    !whole.broken
}
