//! A QUIC encoder: the same model as the decoder run forwards, producing the words
//! spice-common's `quic_encode` produces. It exists for tests (round trips), benches, fuzz
//! seeds and the test server; the client itself never encodes.

use super::{FAMILY_5BPC, FAMILY_8BPC, ImageType, MAGIC, Plane, VERSION};

/// Bytes per pixel of the packed input rows [`encode_for_tests`] takes.
pub fn bytes_per_pixel(ty: ImageType) -> usize {
    match ty {
        ImageType::Gray => 1,
        ImageType::Rgb16 => 2,
        ImageType::Rgb24 => 3,
        ImageType::Rgb32 | ImageType::Rgba => 4,
    }
}

/// Encodes `pixels`, rows packed top-down without padding, as a QUIC stream of type `ty`:
/// GRAY one byte per pixel; RGB16 a little-endian x555 word (red in bits 10..15); RGB24
/// B,G,R; RGB32 B,G,R,x (x ignored); RGBA B,G,R,A.
///
/// Returns `None` when the sizes are zero or do not match `pixels`.
#[doc(hidden)]
pub fn encode_for_tests(ty: ImageType, width: u32, height: u32, pixels: &[u8]) -> Option<Vec<u8>> {
    let w = usize::try_from(width).ok()?;
    let h = usize::try_from(height).ok()?;
    let stride = w.checked_mul(bytes_per_pixel(ty))?;
    if w == 0 || h == 0 || stride.checked_mul(h)? != pixels.len() {
        return None;
    }
    let mut out = BitWriter::with_capacity(pixels.len() / 2 + 64);
    for word in [MAGIC, VERSION, ty.to_wire(), width, height] {
        out.put(word >> 16, 16);
        out.put(word & 0xffff, 16);
    }
    let rows = pixels.chunks_exact(stride);
    match ty {
        ImageType::Gray => {
            let mut gray = Plane::<1>::new(&FAMILY_8BPC, w);
            for (y, row) in rows.enumerate() {
                gray.load(row.iter().map(|&v| [v]));
                gray.encode_row(&mut out, y == 0);
            }
        }
        ImageType::Rgb16 => {
            let mut rgb = Plane::<3>::new(&FAMILY_5BPC, w);
            for (y, row) in rows.enumerate() {
                rgb.load(row.chunks_exact(2).map(|p| {
                    let v = u16::from_le_bytes([p.first().copied().unwrap_or(0), p.get(1).copied().unwrap_or(0)]);
                    let c = |shift: u16| ((v >> shift) & 0x1f) as u8;
                    [c(10), c(5), c(0)]
                }));
                rgb.encode_row(&mut out, y == 0);
            }
        }
        ImageType::Rgb24 | ImageType::Rgb32 => {
            let mut rgb = Plane::<3>::new(&FAMILY_8BPC, w);
            for (y, row) in rows.enumerate() {
                rgb.load(row.chunks_exact(bytes_per_pixel(ty)).map(bgr));
                rgb.encode_row(&mut out, y == 0);
            }
        }
        ImageType::Rgba => {
            let mut rgb = Plane::<3>::new(&FAMILY_8BPC, w);
            let mut alpha = Plane::<1>::new(&FAMILY_8BPC, w);
            for (y, row) in rows.enumerate() {
                rgb.load(row.chunks_exact(4).map(bgr));
                rgb.encode_row(&mut out, y == 0);
                alpha.load(row.chunks_exact(4).map(|p| [p.get(3).copied().unwrap_or(0)]));
                alpha.encode_row(&mut out, y == 0);
            }
        }
    }
    Some(out.finish())
}

/// [R, G, B] of a B,G,R(,x) pixel.
fn bgr(p: &[u8]) -> [u8; 3] {
    match *p {
        [b, g, r, ..] => [r, g, b],
        _ => [0; 3],
    }
}

/// Writes bits MSB first into little-endian words.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    fn with_capacity(n: usize) -> Self {
        Self {
            out: Vec::with_capacity(n),
            acc: 0,
            bits: 0,
        }
    }

    /// Appends the `len <= 32` low bits of `v`.
    #[inline(always)]
    fn put(&mut self, v: u32, len: u32) {
        if len == 0 {
            return;
        }
        self.acc = (self.acc << len) | u64::from(v);
        self.bits += len;
        if self.bits >= 32 {
            self.bits -= 32;
            let word = u32::try_from((self.acc >> self.bits) & 0xffff_ffff).unwrap_or(0);
            self.out.extend_from_slice(&word.to_le_bytes());
            self.acc &= (1u64 << self.bits) - 1;
        }
    }

    /// Pads the last word with zeros and appends one zero word, as spice-common's `flush`.
    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.put(0, 32 - self.bits);
        }
        self.put(0, 32);
        self.out
    }
}

impl<const N: usize> Plane<N> {
    /// Starts a row: the current row becomes the previous one, `pixels` the current one.
    fn load(&mut self, pixels: impl Iterator<Item = [u8; N]>) {
        std::mem::swap(&mut self.prev, &mut self.cur);
        for (dst, src) in self.cur.iter_mut().zip(pixels) {
            *dst = src;
        }
    }

    fn encode_row(&mut self, out: &mut BitWriter, first: bool) {
        self.start_row(first);
        let done: Result<(), ()> = if first {
            self.for_each_segment(|p, start, end, mask| {
                p.encode_segment::<true>(out, start, end, mask);
                Ok(())
            })
        } else {
            self.for_each_segment(|p, start, end, mask| {
                p.encode_segment::<false>(out, start, end, mask);
                Ok(())
            })
        };
        let _ = done;
    }

    #[inline(always)]
    fn encode_pixel<const FIRST: bool>(&mut self, out: &mut BitWriter, i: usize) {
        let pred = self.predict::<FIRST>(i);
        let (Some(ctx), Some(px)) = (self.corr.get(i).copied(), self.cur.get(i).copied()) else {
            return;
        };
        let mut folded = [0u8; N];
        for c in 0..N {
            let (Some(&context), Some(&v), Some(&p), Some(f)) = (ctx.get(c), px.get(c), pred.get(c), folded.get_mut(c))
            else {
                return;
            };
            *f = self.fam.fold(u32::from(v).wrapping_sub(p));
            let l = self.code_for(c, context);
            let (code, len) = self.fam.codeword(*f, l);
            out.put(code, len);
        }
        if let Some(dst) = self.corr.get_mut(i + 1) {
            *dst = folded;
        }
    }

    /// spice-common's `compress_row0_seg` (`FIRST`) and `compress_row_seg`.
    fn encode_segment<const FIRST: bool>(&mut self, out: &mut BitWriter, start: usize, end: usize, wait_mask: u32) {
        let mut i = start;
        if i == 0 {
            self.encode_pixel::<FIRST>(out, 0);
            if self.state.waitcnt > 0 {
                self.state.waitcnt -= 1;
            } else {
                self.state.waitcnt = self.state.next_random() & wait_mask;
                self.update_model(0);
            }
            i = 1;
        }
        let mut stop = i + self.state.waitcnt as usize;
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
                        self.encode_pixel::<FIRST>(out, i);
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
                    self.encode_pixel::<FIRST>(out, i);
                    i += 1;
                }
            }
            if !run {
                self.state.waitcnt = u32::try_from(stop - end).unwrap_or(0);
                return;
            }
            self.state.waitcnt = u32::try_from(stop - i).unwrap_or(0);
            run_index = i;
            let mut len = 0u32;
            while i < end && self.cur.get(i) == self.cur.get(i - 1) {
                len += 1;
                i += 1;
            }
            self.encode_run(out, len);
            if i == end {
                return;
            }
            stop = i + self.state.waitcnt as usize;
        }
    }

    /// MELCODE of a run of `len` pixels: one `1` per full run of the current order, then a
    /// `0` and the remainder on `melc_len` bits.
    fn encode_run(&mut self, out: &mut BitWriter, mut len: u32) {
        let mut hits = 0u32;
        while len >= self.state.melc_order {
            hits += 1;
            len -= self.state.melc_order;
            self.state.melc_up();
        }
        while hits >= 32 {
            out.put(u32::MAX, 32);
            hits -= 32;
        }
        out.put((1u32 << hits) - 1, hits);
        out.put(len, self.state.melc_len + 1);
        self.state.melc_down();
    }
}
