//! Packet boundaries of a usbredir byte stream, without buffering packet bodies.
//!
//! A SPICE usbredir channel carries one usbredir connection for its whole
//! life while devices come and go on it: the channel's endpoint must know
//! where each packet starts so that a packet goes whole to the device that
//! was attached when it started (or to nobody), whatever the chunking of
//! the SpiceVMC data. [`Framer`] reads only the packet headers (12 bytes, or
//! 16 once both sides announced 64-bit ids) and counts the bodies through.
//! A header announcing more than [`MAX_PACKET_SIZE`] is an error the stream
//! cannot recover from (libusbredirparser stops there too).

use super::proto::MAX_PACKET_SIZE;

/// The header of a packet, once all of it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHead {
    pub packet_type: u32,
    /// Bytes after the header (type header and data).
    pub length: u32,
    pub id: u64,
}

/// One piece of input, all inside one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// How many bytes of the input this piece covers (at least 1 when the input was not empty).
    pub len: usize,
    /// The piece begins at the packet's first byte.
    pub starts: bool,
    /// The header completed inside this piece.
    pub head: Option<PacketHead>,
    /// The piece ends the packet.
    pub ends: bool,
}

/// The stream announced a packet longer than the protocol allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("usbredir packet length {length} exceeds {max}")]
pub struct FrameError {
    pub length: u32,
    pub max: u32,
}

/// Splits a stream at packet boundaries; see the module documentation.
#[derive(Debug, Clone)]
pub struct Framer {
    head: [u8; 16],
    head_have: usize,
    header_len: usize,
    /// Body bytes left in the current packet (once its header is complete).
    body_left: Option<u64>,
    max_packet: u32,
    broken: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer for 32-bit ids (as every stream starts, with the hello).
    pub fn new() -> Self {
        Self {
            head: [0; 16],
            head_have: 0,
            header_len: 12,
            body_left: None,
            max_packet: MAX_PACKET_SIZE,
            broken: false,
        }
    }

    /// Packets from now on have 64-bit ids (both hellos announced them).
    pub fn set_ids64(&mut self, ids64: bool) {
        self.header_len = if ids64 { 16 } else { 12 };
    }

    /// Whether the stream is between packets.
    pub fn at_boundary(&self) -> bool {
        self.head_have == 0 && self.body_left.is_none()
    }

    /// Whether a [`FrameError`] was seen (every later call fails).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The next piece of `input` (which must not be empty).
    pub fn next(&mut self, input: &[u8]) -> Result<Chunk, FrameError> {
        if self.broken {
            return Err(FrameError {
                length: 0,
                max: self.max_packet,
            });
        }
        let starts = self.at_boundary();
        let mut used = 0;
        let mut head = None;
        if self.body_left.is_none() {
            let want = self.header_len.saturating_sub(self.head_have);
            let take = want.min(input.len());
            if let (Some(dst), Some(src)) = (
                self.head.get_mut(self.head_have..self.head_have + take),
                input.get(..take),
            ) {
                dst.copy_from_slice(src);
            }
            self.head_have += take;
            used = take;
            if self.head_have < self.header_len {
                return Ok(Chunk {
                    len: used,
                    starts,
                    head: None,
                    ends: false,
                });
            }
            let h = self.parse_head();
            if h.length > self.max_packet {
                self.broken = true;
                return Err(FrameError {
                    length: h.length,
                    max: self.max_packet,
                });
            }
            head = Some(h);
            self.body_left = Some(u64::from(h.length));
        }
        let left = self.body_left.unwrap_or(0);
        let rest = input.len().saturating_sub(used) as u64;
        let take = left.min(rest);
        used += usize::try_from(take).unwrap_or(usize::MAX);
        let left = left - take;
        let ends = left == 0;
        if ends {
            self.body_left = None;
            self.head_have = 0;
        } else {
            self.body_left = Some(left);
        }
        Ok(Chunk {
            len: used,
            starts,
            head,
            ends,
        })
    }

    fn parse_head(&self) -> PacketHead {
        let u32_at = |at: usize| {
            self.head
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes)
        };
        let id = if self.header_len == 16 {
            self.head
                .get(8..16)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_le_bytes)
        } else {
            u64::from(u32_at(8))
        };
        PacketHead {
            packet_type: u32_at(0),
            length: u32_at(4),
            id,
        }
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn packet(ty: u32, id: u64, body: &[u8], ids64: bool) -> Vec<u8> {
        let mut v = ty.to_le_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        if ids64 {
            v.extend_from_slice(&id.to_le_bytes());
        } else {
            v.extend_from_slice(&(id as u32).to_le_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    /// Splits `stream` fed in pieces of `step` bytes; returns the packets as (head, bytes).
    fn split(f: &mut Framer, stream: &[u8], step: usize) -> Vec<(PacketHead, Vec<u8>)> {
        let mut out = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        let mut head = None;
        for piece in stream.chunks(step) {
            let mut rest = piece;
            while !rest.is_empty() {
                let c = f.next(rest).unwrap();
                assert!(c.len > 0);
                if c.starts {
                    assert!(cur.is_empty());
                }
                if c.head.is_some() {
                    head = c.head;
                }
                cur.extend_from_slice(&rest[..c.len]);
                if c.ends {
                    out.push((head.take().unwrap(), std::mem::take(&mut cur)));
                }
                rest = &rest[c.len..];
            }
        }
        out
    }

    #[test]
    fn packets_are_found_whatever_the_chunking() {
        let mut stream = packet(0, 0, &[7; 70], false);
        stream.extend(packet(101, 5, &[1; 1000], false));
        stream.extend(packet(3, 6, &[], false));
        for step in [1, 2, 11, 12, 13, 500, 5000] {
            let mut f = Framer::new();
            let got = split(&mut f, &stream, step);
            assert_eq!(got.len(), 3, "step {step}");
            assert_eq!(
                got[1].0,
                PacketHead {
                    packet_type: 101,
                    length: 1000,
                    id: 5
                }
            );
            assert_eq!(got[1].1.len(), 1012);
            assert_eq!(got[2].1.len(), 12);
            assert!(f.at_boundary());
        }
    }

    #[test]
    fn ids_widen_after_the_hello() {
        let mut f = Framer::new();
        let hello = packet(0, 0, &[0; 68], false);
        assert_eq!(split(&mut f, &hello, 7).len(), 1);
        f.set_ids64(true);
        let p = packet(101, 1 << 40, &[9; 3], true);
        let got = split(&mut f, &p, 3);
        assert_eq!(got[0].0.id, 1 << 40);
        assert_eq!(got[0].1.len(), 19);
    }

    #[test]
    fn a_lying_length_breaks_the_stream() {
        let mut f = Framer::new();
        let mut bad = 101u32.to_le_bytes().to_vec();
        bad.extend_from_slice(&(MAX_PACKET_SIZE + 1).to_le_bytes());
        bad.extend_from_slice(&0u32.to_le_bytes());
        assert!(f.next(&bad).is_err());
        assert!(f.is_broken());
        assert!(f.next(&[0]).is_err());
        // The largest allowed packet is counted through without being stored.
        let mut f = Framer::new();
        let mut big = 101u32.to_le_bytes().to_vec();
        big.extend_from_slice(&MAX_PACKET_SIZE.to_le_bytes());
        big.extend_from_slice(&0u32.to_le_bytes());
        let c = f.next(&big).unwrap();
        assert!(c.starts && !c.ends && c.head.is_some());
        let chunk = vec![0u8; 1 << 20];
        let mut left = u64::from(MAX_PACKET_SIZE);
        while left > 0 {
            let c = f.next(&chunk).unwrap();
            left -= c.len as u64;
            assert_eq!(c.ends, left == 0);
        }
        assert!(f.at_boundary());
    }
}
