//! The decoder's hot path: a bit reader refilled eight bytes at a time and one loop per row
//! segment that keeps the model's per-pixel state in locals.
//!
//! Pixels are packed in a `u32`, channel `c` in bits `8c..8c + 8` (RGB: red, green, blue),
//! so that the run test compares two words and the output conversion is a byte swap. The
//! test encoder still runs the straightforward [`super::Plane`] model; the tests check this
//! decoder against it and against spice-common's output.

use super::model::{
    FAMILY_5BPC, FAMILY_8BPC, Family, MAX_BUCKETS, MAX_CODES, State, WAIT_MASK_INDEX_MAX, low_byte, low_mask,
};
use super::{CODEC, CodecError};

// ---------------------------------------------------------------------------------------------
// Bit input

/// Reads the stream's bits in order. The little-endian words are stored once with their bytes
/// swapped, so the bit string becomes a plain big-endian byte string and a refill is one
/// unaligned 8-byte load (the branch-free "refill to at least 56 bits" scheme). Past the last
/// whole word the stream reads as zeros, like spice-common's look-ahead word; whether the
/// 32-bit window reached past the end is checked by [`BitReader::check_not_past_end`].
pub(super) struct BitReader {
    /// The whole words, each byte-swapped, then 8 zero bytes.
    buf: Vec<u8>,
    /// Whole words in the stream.
    words: u64,
    st: BitState,
}

/// Where a [`BitReader`] is; copied into a [`Bits`] (a local) by the hot loops.
#[derive(Clone, Copy)]
struct BitState {
    /// Next byte of the buffer to load.
    pos: usize,
    /// The bits before `pos * 8` not consumed yet, MSB-aligned (the bits below them are the
    /// following stream bits, or zeros).
    acc: u64,
    /// How many bits of `acc` are valid: `56..=63` after a refill.
    valid: u32,
}

/// A [`BitReader`]'s buffer and state as one value the optimiser keeps in registers.
#[derive(Clone, Copy)]
pub(super) struct Bits<'a> {
    buf: &'a [u8],
    st: BitState,
}

/// Longest codeword of either family (checked by a test): two fit in one refill.
#[cfg(test)]
pub(super) const MAX_CODEWORD_LEN: u32 = 26;

impl BitReader {
    pub(super) fn new(data: &[u8]) -> Self {
        let whole = data.len() / 4 * 4;
        let mut buf = Vec::with_capacity(whole + 8);
        for w in data.chunks_exact(4) {
            if let &[a, b, c, d] = w {
                buf.extend_from_slice(&[d, c, b, a]);
            }
        }
        buf.extend_from_slice(&[0; 8]);
        let mut r = Self {
            buf,
            words: (whole / 4) as u64,
            st: BitState {
                pos: 0,
                acc: 0,
                valid: 0,
            },
        };
        let mut bits = r.bits();
        bits.refill();
        r.st = bits.st;
        r
    }

    pub(super) fn bits(&self) -> Bits<'_> {
        Bits {
            buf: &self.buf,
            st: self.st,
        }
    }

    pub(super) fn take32(&mut self) -> u32 {
        let mut bits = Bits {
            buf: &self.buf,
            st: self.st,
        };
        bits.refill();
        let v = bits.peek();
        bits.eat(32);
        self.st = bits.st;
        v
    }

    /// Fails when the 32-bit window reaches past the last whole word (spice-common's
    /// "no more words" error).
    pub(super) fn check_not_past_end(&self) -> Result<(), CodecError> {
        let consumed = (self.st.pos as u64 * 8).wrapping_sub(u64::from(self.st.valid));
        if consumed + 32 > self.words * 32 {
            Err(CodecError::truncated(CODEC))
        } else {
            Ok(())
        }
    }

    pub(super) fn has_words(&self) -> bool {
        self.words > 0
    }
}

impl Bits<'_> {
    /// The 8 bytes at `pos`, zeros past the end: the buffer ends with 8 zero bytes, so a
    /// position past them reads the same as the last 8.
    #[inline(always)]
    fn load(&self) -> u64 {
        let last = self.buf.len().saturating_sub(8);
        let p = self.st.pos.min(last);
        match self.buf.get(p..p + 8) {
            Some(&[a, b, c, d, e, f, g, h]) => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
            _ => 0,
        }
    }

    /// Makes at least 56 bits valid.
    #[inline(always)]
    pub(super) fn refill(&mut self) {
        // `valid <= 63` always (at most two codewords, or 32 run bits, between refills).
        let chunk = self.load();
        let st = &mut self.st;
        st.acc |= chunk >> (st.valid & 63);
        st.pos = st.pos.wrapping_add(((63u32.wrapping_sub(st.valid) >> 3) & 7) as usize);
        st.valid |= 56;
    }

    /// The next 32 bits (valid after a refill, until 24 more bits are consumed).
    #[inline(always)]
    pub(super) fn peek(&self) -> u32 {
        (self.st.acc >> 32) as u32
    }

    /// Drops `n` bits; `n` must not exceed the valid bits (two codewords after a refill).
    #[inline(always)]
    pub(super) fn eat(&mut self, n: u32) {
        self.st.acc <<= n & 63;
        self.st.valid = self.st.valid.wrapping_sub(n);
    }
}

// ---------------------------------------------------------------------------------------------
// Model

/// The code tables of channels of `BPC` bits (5 or 8): constants for the optimiser, so that
/// masked lookups need no bounds check.
struct Tables<const BPC: u32>;

impl<const BPC: u32> Tables<BPC> {
    const MASK: u32 = low_mask(BPC);
    const FAMILY: &'static Family = if BPC == 5 { &FAMILY_5BPC } else { &FAMILY_8BPC };

    /// By code: `acc` above this starts with a Golomb-Rice codeword (the 32-bit threshold
    /// with all low bits set).
    const THRESHOLDS: [u64; MAX_CODES] = thresholds(Self::FAMILY);
    /// By bucket: the contexts it covers (contiguous), as `start..end`.
    const BUCKET_RANGES: [(u16, u16); MAX_BUCKETS] = bucket_ranges(Self::FAMILY);

    /// Decodes the codeword at the start of `acc` (at least 26 valid bits) with code `l < 8`:
    /// (value, length).
    #[inline(always)]
    fn codeword(l: u32, acc: u64) -> (u32, u32) {
        let l = l & 7;
        let threshold = Self::THRESHOLDS.get(l as usize).copied().unwrap_or(u64::MAX);
        if acc > threshold {
            // `zeros` zeros, a one, then the `l` low bits: the top `len` bits are
            // `(1 << l) + low`, and the value `(zeros << l) + low`. `len <= 26`.
            let zeros = acc.leading_zeros();
            let len = zeros + 1 + l;
            let top = ((acc >> 32) as u32) >> ((32 - len) & 31);
            (top.wrapping_add(zeros.wrapping_sub(1) << l), len)
        } else {
            Self::escape(l as usize, (acc >> 32) as u32)
        }
    }

    #[inline(always)]
    fn escape(l: usize, window: u32) -> (u32, u32) {
        let f = Self::FAMILY;
        let esc_len = f.esc_len.get(l).copied().unwrap_or(1).clamp(1, 32);
        let gr = f.gr_values.get(l).copied().unwrap_or(0);
        let esc_mask = f.esc_suffix_mask.get(l).copied().unwrap_or(0);
        (gr + ((window >> (32 - esc_len)) & esc_mask), esc_len)
    }

    /// Bucket of a context (spice-common masks it to the channel depth).
    #[inline(always)]
    fn bucket(context: u32) -> usize {
        let b = Self::FAMILY
            .bucket_of
            .get((context & Self::MASK) as usize)
            .copied()
            .unwrap_or(0);
        usize::from(b) & (MAX_BUCKETS - 1)
    }

    /// Folded value -> unsigned error; zero past the channel range.
    #[inline(always)]
    fn unfold(f: u32) -> u32 {
        u32::from(Self::FAMILY.unfold.get((f & 0xff) as usize).copied().unwrap_or(0))
    }
}

/// Evaluated at compile time: an index out of range would fail the build.
#[allow(clippy::indexing_slicing)]
const fn thresholds(f: &Family) -> [u64; MAX_CODES] {
    let mut t = [0u64; MAX_CODES];
    let mut l = 0;
    while l < MAX_CODES {
        t[l] = ((f.gr_threshold[l] as u64) << 32) | 0xffff_ffff;
        l += 1;
    }
    t
}

/// Evaluated at compile time: an index out of range would fail the build; contexts are
/// below 256.
#[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
const fn bucket_ranges(f: &Family) -> [(u16, u16); MAX_BUCKETS] {
    let mut r = [(0u16, 0u16); MAX_BUCKETS];
    let mut v = 0;
    while v <= f.mask as usize {
        let b = f.bucket_of[v] as usize;
        if r[b].1 == 0 {
            r[b].0 = v as u16;
        }
        r[b].1 = v as u16 + 1;
        v += 1;
    }
    r
}

/// Adaptation state of a plane (model-update spacing, run coding) and its cost counters.
struct Model<const N: usize> {
    /// Cost counters by channel, bucket and code.
    counters: [[[u32; MAX_CODES]; MAX_BUCKETS]; N],
    /// The code each bucket picks, by channel.
    best: [[u8; MAX_BUCKETS]; N],
    /// The same by context (the folded error on the left), by channel: one lookup per
    /// codeword instead of two.
    code_of: [[u8; 256]; N],
    /// Model-update spacing and run-coding state, as the reference decoder's.
    s: State,
}

impl<const N: usize> Model<N> {
    fn new(bpc: u32) -> Self {
        let start = u8::try_from(bpc - 1).unwrap_or(0);
        Self {
            counters: [[[0; MAX_CODES]; MAX_BUCKETS]; N],
            best: [[start; MAX_BUCKETS]; N],
            code_of: [[start; 256]; N],
            s: State::new(),
        }
    }

    /// spice-common's `update_model`: every channel's bucket of `ctx` is charged the length
    /// `folded` would have had with each code, and picks the cheapest (the highest code on
    /// a tie); counters are halved once the best passes the trigger.
    #[inline(never)]
    fn update<const BPC: u32>(&mut self, ctx: u32, folded: u32) {
        let trigger = self.s.trigger;
        let top = BPC as usize - 1;
        let channels = self
            .counters
            .iter_mut()
            .zip(self.best.iter_mut())
            .zip(self.code_of.iter_mut());
        for (((counters, best), code_of), c) in channels.zip(0u32..) {
            let b = Tables::<BPC>::bucket(ctx >> (8 * c));
            let v = usize::from(low_byte(folded >> (8 * c)));
            let (Some(counters), Some(best), Some(lens)) = (
                counters.get_mut(b),
                best.get_mut(b),
                Tables::<BPC>::FAMILY.code_len.get(v),
            ) else {
                continue;
            };
            // Codes past `bpc` have length 0 and stay at 0: they are never compared.
            for (k, &len) in counters.iter_mut().zip(lens) {
                *k = k.wrapping_add(u32::from(len));
            }
            let mut code = top;
            let mut code_len = counters.get(top).copied().unwrap_or(0);
            for l in (0..top).rev() {
                let k = counters.get(l).copied().unwrap_or(u32::MAX);
                if k < code_len {
                    code = l;
                    code_len = k;
                }
            }
            let code = u8::try_from(code).unwrap_or(0);
            if *best != code {
                *best = code;
                let (start, end) = Tables::<BPC>::BUCKET_RANGES.get(b).copied().unwrap_or((0, 0));
                if let Some(slots) = code_of.get_mut(usize::from(start)..usize::from(end)) {
                    slots.fill(code);
                }
            }
            if code_len > trigger {
                for k in counters.iter_mut() {
                    *k >>= 1;
                }
            }
        }
    }

    /// Reads a MELCODE run length; fails if it passes `max` (the rest of the row).
    pub(super) fn decode_run(&mut self, r: &mut Bits<'_>, max: usize) -> Result<usize, CodecError> {
        let max = max as u64;
        let too_long = || CodecError::invalid(CODEC, "RLE run past the end of the row");
        let mut len: u64 = 0;
        loop {
            r.refill();
            let ones = r.peek().leading_ones();
            for _ in 0..ones {
                len += u64::from(self.s.melc_order);
                self.s.melc_up();
            }
            if len > max {
                return Err(too_long());
            }
            if ones < 32 {
                r.eat(ones + 1);
                break;
            }
            r.eat(32);
        }
        let bits = self.s.melc_len;
        if bits > 0 {
            r.refill();
            len += u64::from(r.peek() >> (32 - bits));
            r.eat(bits);
        }
        self.s.melc_down();
        if len > max {
            return Err(too_long());
        }
        usize::try_from(len).map_err(|_| too_long())
    }
}

// ---------------------------------------------------------------------------------------------
// Planes

/// One plane (RGB, alpha or gray) being decoded: model and rows of packed pixels.
pub(super) struct DecodePlane<const N: usize, const BPC: u32> {
    m: Model<N>,
    /// Folded errors; entry `k` is spice-common's `correlate_row[k - 1]`. Kept across rows.
    corr: Vec<u32>,
    prev: Vec<u32>,
    /// The row just decoded, packed.
    pub(super) cur: Vec<u32>,
}

fn internal() -> CodecError {
    CodecError::invalid(CODEC, "internal index error")
}

impl<const N: usize, const BPC: u32> DecodePlane<N, BPC> {
    pub(super) fn new(width: usize) -> Self {
        Self {
            m: Model::new(BPC),
            corr: vec![0; width + 1],
            prev: vec![0; width],
            cur: vec![0; width],
        }
    }

    pub(super) fn decode_row(&mut self, r: &mut BitReader, first: bool) -> Result<(), CodecError> {
        std::mem::swap(&mut self.prev, &mut self.cur);
        // Context of pixel 0 (`correlate_row[-1]`): 0 on the first row, else the folded
        // error of pixel 0 of the row before.
        let head = if first {
            0
        } else {
            self.corr.get(1).copied().unwrap_or(0)
        };
        if let Some(c) = self.corr.first_mut() {
            *c = head;
        }
        // Segments end where the wait mask grows.
        let mut pos = 0usize;
        let mut left = self.cur.len();
        while self.m.s.wm_index < WAIT_MASK_INDEX_MAX && self.m.s.wm_left as usize <= left {
            let n = self.m.s.wm_left as usize;
            if n > 0 {
                self.segment(r, first, pos, pos + n, low_mask(self.m.s.wm_index))?;
                left -= n;
                pos += n;
            }
            self.m.s.next_wait_mask();
        }
        if left > 0 {
            self.segment(r, first, pos, pos + left, low_mask(self.m.s.wm_index))?;
            if self.m.s.wm_index < WAIT_MASK_INDEX_MAX {
                self.m.s.wm_left = self.m.s.wm_left.saturating_sub(u32::try_from(left).unwrap_or(u32::MAX));
            }
        }
        Ok(())
    }

    fn segment(
        &mut self,
        r: &mut BitReader,
        first: bool,
        start: usize,
        end: usize,
        wait_mask: u32,
    ) -> Result<(), CodecError> {
        if first {
            self.decode_segment::<true>(r, start, end, wait_mask)
        } else {
            self.decode_segment::<false>(r, start, end, wait_mask)
        }
    }

    /// spice-common's `uncompress_row0_seg` (`FIRST`) and `uncompress_row_seg` as one loop:
    /// the model update is a countdown per coded pixel, run pixels do not count.
    #[inline(always)]
    fn decode_segment<const FIRST: bool>(
        &mut self,
        r: &mut BitReader,
        start: usize,
        end: usize,
        wait_mask: u32,
    ) -> Result<(), CodecError> {
        let width = self.cur.len();
        if end > width || start >= end || self.prev.len() != width || self.corr.len() != width + 1 {
            return Err(internal());
        }
        let m = &mut self.m;
        let mut bits = Bits { buf: &r.buf, st: r.st };
        let cur = self.cur.as_mut_slice();
        let prev = self.prev.as_slice();
        let corr = self.corr.as_mut_slice();
        let mut waitcnt = m.s.waitcnt;
        let mut i = start;
        let mut ctx = corr.get(i).copied().ok_or_else(internal)?;
        // Left and above-left neighbours; on row 0 pixel 0 predicts 0, on other rows
        // pixel 0 predicts from above only.
        let mut left = match i.checked_sub(1) {
            Some(k) => cur.get(k).copied().ok_or_else(internal)?,
            None if FIRST => 0,
            None => prev.first().copied().ok_or_else(internal)?,
        };
        let mut above_left = if FIRST {
            0
        } else {
            match i.checked_sub(1) {
                Some(k) => prev.get(k).copied().ok_or_else(internal)?,
                None => 0,
            }
        };
        let mut left2 = match i.checked_sub(2) {
            Some(k) => cur.get(k).copied().ok_or_else(internal)?,
            None => 0,
        };
        let mut run_index = 0usize;
        while i < end {
            let above = if FIRST {
                left
            } else {
                prev.get(i).copied().ok_or_else(internal)?
            };
            if !FIRST && i > 2 && run_index != i && above_left == above && left == left2 {
                // A run: pixels equal to the left one; the model is not charged for them and
                // their folded errors stay as an earlier row left them.
                run_index = i;
                // Through a copy: `bits` itself never has its address taken, so that it
                // stays in registers in this loop.
                let mut run_bits = bits;
                let len = m.decode_run(&mut run_bits, end - i)?;
                bits = run_bits;
                cur.get_mut(i..i + len).ok_or_else(internal)?.fill(left);
                i += len;
                if i == end {
                    m.s.waitcnt = waitcnt;
                    r.st = bits.st;
                    return Ok(());
                }
                ctx = corr.get(i).copied().ok_or_else(internal)?;
                above_left = prev.get(i - 1).copied().ok_or_else(internal)?;
                left2 = if len > 0 {
                    left
                } else {
                    cur.get(i - 2).copied().ok_or_else(internal)?
                };
                continue;
            }
            // Two codewords per refill.
            bits.refill();
            let mut unfolded = 0u32;
            let mut folded = 0u32;
            for (codes, c) in m.code_of.iter().zip(0u32..) {
                if c == 2 {
                    bits.refill();
                }
                let shift = 8 * c;
                let context = (ctx >> shift) & Tables::<BPC>::MASK;
                let l = u32::from(codes.get(context as usize).copied().unwrap_or(0));
                let (value, len) = Tables::<BPC>::codeword(l, bits.st.acc);
                bits.eat(len);
                // spice-common stores the decoded value in a byte: escape codewords past the
                // range wrap.
                let f = value & 0xff;
                unfolded |= Tables::<BPC>::unfold(f) << shift;
                folded |= f << shift;
            }
            // Every channel at once: the prediction `(a + b) / 2` (left, above), plus the
            // error, modulo the channel range.
            let pred = (left & above) + (((left ^ above) & 0xfefe_fefe) >> 1);
            let px = if BPC == 8 {
                ((unfolded & 0x7f7f_7f7f) + (pred & 0x7f7f_7f7f)) ^ ((unfolded ^ pred) & 0x8080_8080)
            } else {
                (unfolded + pred) & (Tables::<BPC>::MASK * 0x0001_0101)
            };
            *cur.get_mut(i).ok_or_else(internal)? = px;
            *corr.get_mut(i + 1).ok_or_else(internal)? = folded;
            if waitcnt == 0 {
                m.update::<BPC>(ctx, folded);
                waitcnt = m.s.next_random() & wait_mask;
            } else {
                waitcnt -= 1;
            }
            ctx = folded;
            left2 = left;
            left = px;
            above_left = above;
            i += 1;
        }
        m.s.waitcnt = waitcnt;
        r.st = bits.st;
        Ok(())
    }
}

/// Packs a pixel of `Plane<3>` (red, green, blue) as B,G,R,x bytes (little-endian).
#[inline(always)]
pub(super) fn rgb_to_bgrx(p: u32) -> u32 {
    p.swap_bytes() >> 8
}

#[cfg(test)]
impl<const N: usize, const BPC: u32> DecodePlane<N, BPC> {
    pub(super) fn decode_run_for_tests(&mut self, r: &mut BitReader, max: usize) -> Result<usize, CodecError> {
        let mut bits = r.bits();
        let got = self.m.decode_run(&mut bits, max);
        r.st = bits.st;
        got
    }
}

#[cfg(test)]
pub(super) fn bucket_ranges_for_tests<const BPC: u32>() -> [(u16, u16); MAX_BUCKETS] {
    Tables::<BPC>::BUCKET_RANGES
}
