//! QUIC decoder (the lossless image codec of spice-common's `quic.c`, derived from SFALIC):
//! RGB32, RGB24, RGB16, RGBA and GRAY images, decoded to top-down B,G,R,A.
//!
//! # Format
//!
//! The stream is a sequence of little-endian 32-bit words read as one big-endian bit string
//! (most significant bit of each word first). Five whole words open it: the magic `"QUIC"`,
//! the version (0), the image type, the width and the height. Pixels follow, row by row.
//!
//! Every colour channel is predicted from its neighbours (left `a`, above `b`): `a` on the
//! first row, `b` for the first pixel of the other rows, `(a + b) / 2` elsewhere. The
//! prediction error, folded to an unsigned value, is coded with one of `bpc` Golomb-Rice codes
//! (with an escape for long codewords). Which code is used depends on the bucket that the
//! folded error of the pixel on the left falls into; each bucket keeps per-code cost counters
//! that are updated at pseudo-random intervals (a fixed "chaos" table drives them, and the
//! interval mask grows every 2048 pixels). On rows after the first, a pixel whose left
//! neighbours match, above a pair of equal pixels, starts a run whose length is coded with an
//! adaptive MELCODE. RGB images share one interval/run state among the three channels; the
//! alpha plane of RGBA images and GRAY images have their own.
//!
//! Decoding is bit-exact with spice-common, including its quirks: the folded-error history of
//! the pixels covered by a run is left as it was on an earlier row, and escape codewords may
//! decode to values above the channel range, which are truncated to a byte.
//!
//! Hostile input (hostile-inputs row 20, CVE-2020-14355) is rejected with a [`CodecError`]:
//! empty or truncated streams, sizes of zero, negative (as `int`), or above the limits, runs
//! past the end of the row. Work is bounded by the size of the output.

use super::{CodecError, ImageBuf};

pub mod encode;
mod model;
pub(crate) use model::*;

const CODEC: &str = "quic";

/// `"QUIC"` read as a little-endian word.
pub const MAGIC: u32 = 0x4349_5551;
/// The only version there is (major 0, minor 0).
pub const VERSION: u32 = 0;
/// spice-common refuses images of more pixels than this.
const MAX_PIXELS: u64 = 512 * 1024 * 1024 - 1;

/// The image types of the QUIC header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// One 8-bit channel.
    Gray,
    /// Three 5-bit channels (x555).
    Rgb16,
    /// Three 8-bit channels, packed B,G,R on the sender's side.
    Rgb24,
    /// Three 8-bit channels, B,G,R,x on the sender's side.
    Rgb32,
    /// Three 8-bit colour channels, then an 8-bit alpha plane.
    Rgba,
}

impl ImageType {
    /// The type from its header value (0 is spice-common's "invalid").
    pub fn from_wire(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Gray,
            2 => Self::Rgb16,
            3 => Self::Rgb24,
            4 => Self::Rgb32,
            5 => Self::Rgba,
            _ => return None,
        })
    }

    pub fn to_wire(self) -> u32 {
        match self {
            Self::Gray => 1,
            Self::Rgb16 => 2,
            Self::Rgb24 => 3,
            Self::Rgb32 => 4,
            Self::Rgba => 5,
        }
    }
}

/// The header of a QUIC stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub image_type: ImageType,
    pub width: u32,
    pub height: u32,
}

/// Reads and checks the five header words (magic, version, type, sizes) without decoding.
pub fn read_header(data: &[u8]) -> Result<Header, CodecError> {
    let mut r = BitReader::new(data);
    let h = parse_header(&mut r)?;
    r.check_not_past_end()?;
    Ok(h)
}

fn parse_header(r: &mut BitReader<'_>) -> Result<Header, CodecError> {
    if r.words == 0 {
        return Err(CodecError::truncated(CODEC));
    }
    let magic = r.take32();
    let version = r.take32();
    let ty = r.take32();
    let width = r.take32();
    let height = r.take32();
    if magic != MAGIC {
        return Err(CodecError::invalid(CODEC, "bad magic"));
    }
    if version != VERSION {
        return Err(CodecError::invalid(CODEC, "unsupported version"));
    }
    // spice-common reads the sizes as `int` and wants them positive.
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(CodecError::invalid(CODEC, "zero or negative image size"));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CodecError::TooLarge {
            codec: CODEC,
            width: u64::from(width),
            height: u64::from(height),
        });
    }
    let image_type = ImageType::from_wire(ty).ok_or(CodecError::invalid(CODEC, "unknown image type"))?;
    Ok(Header {
        image_type,
        width,
        height,
    })
}

/// Decodes the QUIC stream `data` into `out` (B,G,R,A, top-down). RGB types and GRAY give
/// opaque pixels (`has_alpha == false`); RGB16 channels are widened as `(v << 3) | (v >> 2)`.
/// Trailing bytes that do not make a whole word are ignored, like spice-gtk does. The caller
/// compares the size with the image descriptor. On error the content of `out` is unspecified
/// (the draw must be dropped).
pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let mut r = BitReader::new(data);
    let header = parse_header(&mut r)?;
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

fn internal() -> CodecError {
    CodecError::invalid(CODEC, "internal index error")
}

// ---------------------------------------------------------------------------------------------
// Bit input

/// Reads the word stream MSB first. Like spice-common's decoder it always holds the next 32
/// bits; spice-common fails as soon as that window would reach past the last word, which
/// [`BitReader::check_not_past_end`] reproduces (words past the end read as zeros meanwhile).
struct BitReader<'a> {
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
    fn new(data: &'a [u8]) -> Self {
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
    fn decode_run(&mut self, r: &mut BitReader<'_>, max: usize) -> Result<usize, CodecError> {
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

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::indexing_slicing)]
mod tests;
