//! The decoder as it was before the fast path (decode.rs): a direct transcription of
//! spice-common's loops over the shared [`Plane`] model. Test-only: the tests decode every
//! stream with both and require the same pixels and the same verdict.

use super::{
    CODEC, CodecError, FAMILY_5BPC, FAMILY_8BPC, Family, ImageBuf, ImageType, Plane, low_byte, low_mask,
    parse_header_words,
};

impl Family {
    /// Decodes the codeword at the start of `window` with code `l`: (value, length).
    fn decode_codeword(&self, code: u32, window: u32) -> (u32, u32) {
        let l = (code & 7) as usize;
        let gr_threshold = self.gr_threshold.get(l).copied().unwrap_or(0);
        if window > gr_threshold {
            let zeros = window.leading_zeros();
            let l = code & 7;
            let len = zeros + 1 + l;
            ((zeros << l) | ((window >> (32 - len)) & low_mask(l)), len)
        } else {
            let esc_len = self.esc_len.get(l).copied().unwrap_or(1).max(1);
            let gr = self.gr_values.get(l).copied().unwrap_or(0);
            let esc_mask = self.esc_suffix_mask.get(l).copied().unwrap_or(0);
            (gr + ((window >> (32 - esc_len)) & esc_mask), esc_len)
        }
    }

    fn unfold(&self, v: u8) -> u32 {
        u32::from(self.unfold.get(usize::from(v)).copied().unwrap_or(0))
    }
}

fn internal() -> CodecError {
    CodecError::invalid(CODEC, "internal index error")
}

/// Decodes the QUIC stream `data` into `out` (B,G,R,A, top-down). RGB types and GRAY give
/// opaque pixels (`has_alpha == false`); RGB16 channels are widened as `(v << 3) | (v >> 2)`.
/// Trailing bytes that do not make a whole word are ignored, like spice-gtk does. The caller
/// compares the size with the image descriptor. On error the content of `out` is unspecified
/// (the draw must be dropped).
pub(super) fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let mut r = BitReader::new(data);
    let header = parse_header_words(std::array::from_fn(|_| r.take32()), r.words)?;
    // The header alone must leave a whole word of look-ahead, as in spice-common.
    r.check_not_past_end()?;
    out.reset(CODEC, header.width, header.height)?;
    let width = header.width as usize;
    match header.image_type {
        ImageType::Rgb32 | ImageType::Rgb24 => {
            let mut rgb = Plane::<3>::new(&FAMILY_8BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                write_rgb(row, &rgb.cur, |v| v);
                Ok(())
            })
        }
        ImageType::Rgb16 => {
            let mut rgb = Plane::<3>::new(&FAMILY_5BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                write_rgb(row, &rgb.cur, |v| (v << 3) | (v >> 2));
                Ok(())
            })
        }
        ImageType::Rgba => {
            let mut rgb = Plane::<3>::new(&FAMILY_8BPC, width);
            let mut alpha = Plane::<1>::new(&FAMILY_8BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                rgb.decode_row(r, first)?;
                alpha.decode_row(r, first)?;
                for ((px, c), a) in row.chunks_exact_mut(4).zip(&rgb.cur).zip(&alpha.cur) {
                    let [red, green, blue] = *c;
                    px.copy_from_slice(&[blue, green, red, a[0]]);
                }
                Ok(())
            })?;
            out.has_alpha = true;
            Ok(())
        }
        ImageType::Gray => {
            let mut gray = Plane::<1>::new(&FAMILY_8BPC, width);
            decode_rows(&mut r, out, |r, first, row| {
                gray.decode_row(r, first)?;
                for (px, g) in row.chunks_exact_mut(4).zip(&gray.cur) {
                    let v = g[0];
                    px.copy_from_slice(&[v, v, v, 0xff]);
                }
                Ok(())
            })
        }
    }
}

/// Runs `row_fn` on every output row, checking after each that the stream did not end early.
fn decode_rows(
    r: &mut BitReader<'_>,
    out: &mut ImageBuf,
    mut row_fn: impl FnMut(&mut BitReader<'_>, bool, &mut [u8]) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let stride = out.stride();
    for (y, row) in out.data.chunks_exact_mut(stride).enumerate() {
        row_fn(r, y == 0, row)?;
        r.check_not_past_end()?;
    }
    Ok(())
}

fn write_rgb(row: &mut [u8], cur: &[[u8; 3]], widen: impl Fn(u8) -> u8) {
    for (px, c) in row.chunks_exact_mut(4).zip(cur) {
        let [red, green, blue] = *c;
        px.copy_from_slice(&[widen(blue), widen(green), widen(red), 0xff]);
    }
}

// ---------------------------------------------------------------------------------------------
// Bit input

/// Reads the word stream MSB first. Like spice-common's decoder it always holds the next 32
/// bits; spice-common fails as soon as that window would reach past the last word, which
/// [`BitReader::check_not_past_end`] reproduces (words past the end read as zeros meanwhile).
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    /// Whole words in `data`.
    words: u64,
    /// Byte offset of the next word to load (may pass the end: zeros are loaded).
    next: usize,
    /// Valid bits, MSB-aligned; `bits >= 32` between calls.
    acc: u64,
    bits: u32,
    /// Words loaded so far, including zero words past the end.
    loaded: u64,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        let mut r = Self {
            data,
            words: (data.len() / 4) as u64,
            next: 0,
            acc: 0,
            bits: 0,
            loaded: 0,
        };
        r.refill();
        r.refill();
        r
    }

    #[inline(always)]
    fn refill(&mut self) {
        let w = match self.data.get(self.next..self.next.wrapping_add(4)) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        };
        self.next = self.next.saturating_add(4);
        self.loaded += 1;
        self.acc |= u64::from(w) << (32 - self.bits);
        self.bits += 32;
    }

    /// The next 32 bits.
    #[inline(always)]
    fn peek(&self) -> u32 {
        (self.acc >> 32) as u32
    }

    /// Drops `n <= 32` bits.
    #[inline(always)]
    fn eat(&mut self, n: u32) {
        debug_assert!(n <= 32);
        self.acc <<= n;
        self.bits -= n;
        if self.bits < 32 {
            self.refill();
        }
    }

    fn take32(&mut self) -> u32 {
        let v = self.peek();
        self.eat(32);
        v
    }

    /// Fails when the 32-bit window reaches past the last whole word (spice-common's
    /// "no more words" error).
    fn check_not_past_end(&self) -> Result<(), CodecError> {
        let consumed = self.loaded * 32 - u64::from(self.bits);
        if consumed + 32 > self.words * 32 {
            Err(CodecError::truncated(CODEC))
        } else {
            Ok(())
        }
    }
}

impl<const N: usize> Plane<N> {
    // ---- decoding ----

    fn decode_row(&mut self, r: &mut BitReader<'_>, first: bool) -> Result<(), CodecError> {
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.start_row(first);
        if first {
            self.for_each_segment(|p, start, end, mask| p.decode_segment::<true>(r, start, end, mask))
        } else {
            self.for_each_segment(|p, start, end, mask| p.decode_segment::<false>(r, start, end, mask))
        }
    }

    /// Decodes pixel `i` of the row: its folded errors go to `corr[i + 1]`, its value to `cur[i]`.
    #[inline(always)]
    fn decode_pixel<const FIRST: bool>(&mut self, r: &mut BitReader<'_>, i: usize) -> Result<(), CodecError> {
        let ctx = self.corr.get(i).copied().ok_or_else(internal)?;
        // Prediction: left on the first row, above at the start of the others, else their mean.
        let (left, above) = match i.checked_sub(1) {
            Some(k) => {
                let left = self.cur.get(k).copied().ok_or_else(internal)?;
                let above = if FIRST {
                    left
                } else {
                    self.prev.get(i).copied().ok_or_else(internal)?
                };
                (left, above)
            }
            None if FIRST => ([0; N], [0; N]),
            None => {
                let above = self.prev.first().copied().ok_or_else(internal)?;
                (above, above)
            }
        };
        let mut folded = [0u8; N];
        let mut px = [0u8; N];
        let fam = self.fam;
        let channels = folded
            .iter_mut()
            .zip(px.iter_mut())
            .zip(ctx.iter().zip(left.iter().zip(above.iter())));
        for (c, ((f, v), (&context, (&a, &b)))) in channels.enumerate() {
            let l = self.code_for(c, context);
            let (value, len) = fam.decode_codeword(l, r.peek());
            r.eat(len);
            // spice-common stores the decoded value in a byte: escape codewords past the
            // range wrap.
            *f = low_byte(value);
            let pred = (u32::from(a) + u32::from(b)) >> 1;
            *v = low_byte((fam.unfold(*f) + pred) & fam.mask);
        }
        *self.corr.get_mut(i + 1).ok_or_else(internal)? = folded;
        *self.cur.get_mut(i).ok_or_else(internal)? = px;
        Ok(())
    }

    /// spice-common's `uncompress_row0_seg` (`FIRST`) and `uncompress_row_seg`.
    fn decode_segment<const FIRST: bool>(
        &mut self,
        r: &mut BitReader<'_>,
        start: usize,
        end: usize,
        wait_mask: u32,
    ) -> Result<(), CodecError> {
        let mut i = start;
        let mut stop;
        if i == 0 {
            self.decode_pixel::<FIRST>(r, 0)?;
            if self.state.waitcnt > 0 {
                self.state.waitcnt -= 1;
            } else {
                self.state.waitcnt = self.state.next_random() & wait_mask;
                self.update_model(0);
            }
            i = 1;
        }
        stop = i + self.state.waitcnt as usize;
        let mut run_index = 0;
        loop {
            let mut run = false;
            'coded: {
                while stop < end {
                    while i <= stop {
                        if !FIRST && self.run_starts(i, run_index) {
                            run = true;
                            break 'coded;
                        }
                        self.decode_pixel::<FIRST>(r, i)?;
                        i += 1;
                    }
                    self.update_model(stop);
                    stop = i + (self.state.next_random() & wait_mask) as usize;
                }
                while i < end {
                    if !FIRST && self.run_starts(i, run_index) {
                        run = true;
                        break 'coded;
                    }
                    self.decode_pixel::<FIRST>(r, i)?;
                    i += 1;
                }
            }
            if !run {
                self.state.waitcnt = u32::try_from(stop - end).map_err(|_| internal())?;
                return Ok(());
            }
            self.state.waitcnt = u32::try_from(stop - i).map_err(|_| internal())?;
            run_index = i;
            let len = self.decode_run(r, end - i)?;
            let fill = self.cur.get(i - 1).copied().ok_or_else(internal)?;
            self.cur.get_mut(i..i + len).ok_or_else(internal)?.fill(fill);
            i += len;
            if i == end {
                return Ok(());
            }
            stop = i + self.state.waitcnt as usize;
        }
    }

    /// Reads a MELCODE run length; fails if it passes `max` (the rest of the row).
    pub(super) fn decode_run(&mut self, r: &mut BitReader<'_>, max: usize) -> Result<usize, CodecError> {
        let max = max as u64;
        let too_long = || CodecError::invalid(CODEC, "RLE run past the end of the row");
        let mut len: u64 = 0;
        loop {
            let ones = r.peek().leading_ones();
            for _ in 0..ones {
                len += u64::from(self.state.melc_order);
                self.state.melc_up();
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
        let bits = self.state.melc_len;
        if bits > 0 {
            len += u64::from(r.peek() >> (32 - bits));
            r.eat(bits);
        }
        self.state.melc_down();
        if len > max {
            return Err(too_long());
        }
        usize::try_from(len).map_err(|_| too_long())
    }
}
