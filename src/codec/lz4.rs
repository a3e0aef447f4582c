//! LZ4 images (`SPICE_IMAGE_TYPE_LZ4`).
//!
//! Payload layout, as the server's `lz4-encoder.c` writes it and spice-common's
//! `canvas_get_lz4` reads it:
//!
//! ```text
//! u8  top_down            non-zero: the first row is the top row
//! u8  format              bitmap_fmt: 16BIT (x1r5g5b5), 24BIT (B,G,R), 32BIT (B,G,R,X), RGBA (B,G,R,A)
//! repeat until the end:
//!   u32 block_size        BIG endian
//!   block_size bytes      one LZ4 block
//! ```
//!
//! The blocks form one LZ4 *stream* (`LZ4_compress_fast_continue`): a match
//! may reach back into the output of earlier blocks, up to 64 KiB. Rows are
//! packed (`width · bytes_per_pixel`); a stride padded to 4 bytes is also
//! accepted. The image size comes from the image descriptor: the caller sizes
//! `out` with [`ImageBuf::reset`] before calling [`decode`].
//!
//! Decoding is in place: the pixel bytes are decompressed into the tail of
//! `out.data`, then widened to B,G,R,A front to back (the write position never
//! passes the read position), so nothing is allocated per image.

use super::{CodecError, ImageBuf};
use crate::proto::channel::display::bitmap_fmt;

const CODEC: &str = "lz4";
/// LZ4's match window: how far back a match offset can reach.
const WINDOW: usize = 64 * 1024;

/// Source pixel layouts the server sends with LZ4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Rgb555,
    Bgr24,
    Xrgb32,
    Bgra32,
}

impl Format {
    fn from_wire(v: u8) -> Option<Self> {
        Some(match v {
            bitmap_fmt::BIT16 => Self::Rgb555,
            bitmap_fmt::BIT24 => Self::Bgr24,
            bitmap_fmt::BIT32 => Self::Xrgb32,
            bitmap_fmt::RGBA => Self::Bgra32,
            _ => return None,
        })
    }

    fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgb555 => 2,
            Self::Bgr24 => 3,
            Self::Xrgb32 | Self::Bgra32 => 4,
        }
    }
}

fn invalid(what: &'static str) -> CodecError {
    CodecError::invalid(CODEC, what)
}

/// Decodes an LZ4 image into `out`, whose `width`×`height` (from the image
/// descriptor) must already be set with [`ImageBuf::reset`].
///
/// Errors: empty size, header missing, unknown format, a block size pointing
/// past the data, an LZ4 block that is corrupt, overruns the image or matches
/// before the start of the stream, and a total decompressed size that is not
/// exactly `height` rows.
pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let (width, height) = (out.width, out.height);
    if width == 0 || height == 0 {
        return Err(invalid("empty image size"));
    }
    let Some((&[top_down, format], mut rest)) = data.split_first_chunk::<2>() else {
        return Err(CodecError::truncated(CODEC));
    };
    let format = Format::from_wire(format).ok_or_else(|| invalid("unsupported bitmap format"))?;
    let bpp = format.bytes_per_pixel();
    let w = usize::try_from(width).map_err(|_| invalid("width overflows"))?;
    let h = usize::try_from(height).map_err(|_| invalid("height overflows"))?;
    let row_bytes = w.checked_mul(bpp).ok_or_else(|| invalid("row size overflows"))?;
    let out_stride = out.stride();
    if out.data.len()
        != out_stride
            .checked_mul(h)
            .ok_or_else(|| invalid("image size overflows"))?
    {
        return Err(invalid("output buffer not sized for the image"));
    }
    // Rows may be padded to a multiple of 4 bytes; never more than the output stride.
    let max_stride = row_bytes.next_multiple_of(4).min(out_stride);
    let capacity = max_stride
        .checked_mul(h)
        .ok_or_else(|| invalid("image size overflows"))?;
    // Decompress into the tail of the output buffer.
    let start = out
        .data
        .len()
        .checked_sub(capacity)
        .ok_or_else(|| invalid("image size overflows"))?;
    let area = out
        .data
        .get_mut(start..)
        .ok_or_else(|| invalid("image size overflows"))?;
    let mut pos = 0usize;
    while !rest.is_empty() {
        let Some((&size, tail)) = rest.split_first_chunk::<4>() else {
            return Err(CodecError::truncated(CODEC));
        };
        let size = usize::try_from(u32::from_be_bytes(size)).map_err(|_| invalid("block size"))?;
        if size > tail.len() {
            return Err(CodecError::truncated(CODEC));
        }
        let (block, after) = tail.split_at(size);
        rest = after;
        let (done, free) = area.split_at_mut(pos);
        let dict = done.get(pos.saturating_sub(WINDOW)..).unwrap_or_default();
        let n = lz4_flex::block::decompress_into_with_dict(block, free, dict).map_err(|e| match e {
            lz4_flex::block::DecompressError::OutputTooSmall { .. } => invalid("blocks decompress past the image"),
            lz4_flex::block::DecompressError::OffsetOutOfBounds => invalid("match offset before the start"),
            _ => invalid("corrupt LZ4 block"),
        })?;
        if n == 0 {
            return Err(invalid("empty LZ4 block"));
        }
        pos = pos.checked_add(n).ok_or_else(|| invalid("image size overflows"))?;
    }
    // The decompressed size must be exactly `height` rows of packed or padded stride.
    let stride = if pos
        == row_bytes
            .checked_mul(h)
            .ok_or_else(|| invalid("image size overflows"))?
    {
        row_bytes
    } else if pos == capacity && max_stride > row_bytes {
        max_stride
    } else {
        return Err(CodecError::SizeMismatch {
            codec: CODEC,
            width,
            height,
            got_width: u32::try_from(pos / h.max(1) / bpp).unwrap_or(u32::MAX),
            got_height: height,
        });
    };
    // Move the rows, packed, to the very end of the buffer so the widening
    // pass below always reads ahead of where it writes. Targets lie at or
    // after the sources, so rows move bottom row first.
    let packed = row_bytes.saturating_mul(h);
    let src0 = out
        .data
        .len()
        .checked_sub(packed)
        .ok_or_else(|| invalid("image size overflows"))?;
    if stride == row_bytes {
        if src0 != start {
            out.data.copy_within(start..start.saturating_add(packed), src0);
        }
    } else {
        for y in (0..h).rev() {
            let from = start.saturating_add(y.saturating_mul(stride));
            out.data.copy_within(
                from..from.saturating_add(row_bytes),
                src0.saturating_add(y.saturating_mul(row_bytes)),
            );
        }
    }
    widen(&mut out.data, src0, row_bytes, out_stride, h, format);
    if top_down == 0 {
        flip_rows(&mut out.data, out_stride);
    }
    out.has_alpha = format == Format::Bgra32;
    Ok(())
}

/// Converts `h` packed rows of `row_bytes` starting at `src0` (the tail of
/// `buf`) into B,G,R,A rows of `out_stride` bytes starting at 0, front to
/// back. Safe in place: for row `y` the source starts
/// `(h − y)·(out_stride − row_bytes) ≥ (4 − bpp)·width` bytes after the
/// destination, which is exactly how far a widened row runs ahead.
fn widen(buf: &mut [u8], src0: usize, row_bytes: usize, out_stride: usize, h: usize, format: Format) {
    for y in 0..h {
        let src = src0.saturating_add(y.saturating_mul(row_bytes));
        let dst = y.saturating_mul(out_stride);
        match format {
            Format::Bgra32 | Format::Xrgb32 => {
                if src != dst && src.saturating_add(row_bytes) <= buf.len() {
                    buf.copy_within(src..src.saturating_add(row_bytes), dst);
                }
                if format == Format::Xrgb32
                    && let Some(row) = buf.get_mut(dst..dst.saturating_add(out_stride))
                {
                    row.iter_mut().skip(3).step_by(4).for_each(|a| *a = 0xff);
                }
            }
            Format::Bgr24 => widen_row::<3>(buf, src, dst, row_bytes / 3, |p| [p[0], p[1], p[2], 0xff]),
            Format::Rgb555 => widen_row::<2>(buf, src, dst, row_bytes / 2, |p| {
                let v = u16::from_le_bytes(p);
                let c = |s: u16| {
                    let v = (v >> s) & 0x1f;
                    u8::try_from((v << 3) | (v >> 2)).unwrap_or(0)
                };
                [c(0), c(5), c(10), 0xff]
            }),
        }
    }
}

/// Widens one row of `n` pixels of `N` bytes at `src` into 4-byte pixels at
/// `dst ≤ src`. Pixel `i` is read (at `src + N·i`) before anything at or past
/// `dst + 4·i + 4` is written, and `dst + 4·i ≤ src + N·i` holds by the
/// layout, so each read sees original bytes. Processed in chunks through a
/// stack buffer to keep the loop branch-light.
#[inline]
fn widen_row<const N: usize>(buf: &mut [u8], src: usize, dst: usize, n: usize, f: impl Fn([u8; N]) -> [u8; 4]) {
    const CHUNK: usize = 64;
    let mut tmp = [0u8; CHUNK * 4];
    let mut i = 0;
    while i < n {
        let k = CHUNK.min(n - i);
        let s = src.saturating_add(i.saturating_mul(N));
        let Some(input) = buf.get(s..s.saturating_add(k.saturating_mul(N))) else {
            return;
        };
        for (o, p) in tmp.chunks_exact_mut(4).zip(input.chunks_exact(N)) {
            let mut px = [0u8; N];
            px.copy_from_slice(p);
            o.copy_from_slice(&f(px));
        }
        let d = dst.saturating_add(i.saturating_mul(4));
        let (Some(out), Some(t)) = (buf.get_mut(d..d.saturating_add(k.saturating_mul(4))), tmp.get(..k * 4)) else {
            return;
        };
        out.copy_from_slice(t);
        i += k;
    }
}

/// Reverses the order of the rows of a buffer in place.
fn flip_rows(buf: &mut [u8], stride: usize) {
    if stride == 0 {
        return;
    }
    let rows = buf.len() / stride;
    let (mut top, mut bottom) = (0, rows);
    while top + 1 < bottom {
        bottom -= 1;
        let (head, tail) = buf.split_at_mut(bottom.saturating_mul(stride));
        if let (Some(a), Some(b)) = (head.get_mut(top * stride..(top + 1) * stride), tail.get_mut(..stride)) {
            a.swap_with_slice(b);
        }
        top += 1;
    }
}

/// Encodes `h` rows of packed pixels the way the server does (one block per
/// `rows_per_block` rows, chained as an LZ4 stream). For tests, benches and
/// the test server.
pub fn encode(pixels: &[u8], row_bytes: usize, rows_per_block: usize, top_down: bool, format: u8) -> Vec<u8> {
    let mut out = vec![u8::from(top_down), format];
    let chunk = row_bytes.saturating_mul(rows_per_block.max(1)).max(1);
    let mut pos = 0;
    while pos < pixels.len() {
        let end = pos.saturating_add(chunk).min(pixels.len());
        let dict = pixels.get(pos.saturating_sub(WINDOW)..pos).unwrap_or_default();
        let block = lz4_flex::block::compress_with_dict(pixels.get(pos..end).unwrap_or_default(), dict);
        out.extend_from_slice(&u32::try_from(block.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&block);
        pos = end;
    }
    out
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::unwrap_used
)]
mod tests {
    use super::*;

    fn pattern(w: usize, h: usize, bpp: usize) -> Vec<u8> {
        (0..w * h * bpp).map(|i| ((i * 7) ^ (i / 13)) as u8).collect()
    }

    fn run(data: &[u8], w: u32, h: u32) -> Result<ImageBuf, CodecError> {
        let mut out = ImageBuf::new();
        out.reset(CODEC, w, h)?;
        decode(data, &mut out).map(|()| out)
    }

    #[test]
    fn rgba_top_down_is_lossless() {
        let (w, h) = (37, 23);
        let px = pattern(w, h, 4);
        for rows in [1, 3, 100] {
            let img = run(&encode(&px, w * 4, rows, true, bitmap_fmt::RGBA), w as u32, h as u32).unwrap();
            assert_eq!(img.data, px);
            assert!(img.has_alpha);
        }
    }

    #[test]
    fn xrgb_bottom_up_sets_alpha_and_flips() {
        let (w, h) = (5, 4);
        let px = pattern(w, h, 4);
        let img = run(&encode(&px, w * 4, 2, false, bitmap_fmt::BIT32), w as u32, h as u32).unwrap();
        for y in 0..h {
            let src = &px[(h - 1 - y) * w * 4..][..w * 4];
            let dst = img.row(y as u32).unwrap();
            for x in 0..w {
                assert_eq!(dst[x * 4..x * 4 + 3], src[x * 4..x * 4 + 3]);
                assert_eq!(dst[x * 4 + 3], 0xff);
            }
        }
        assert!(!img.has_alpha);
    }

    #[test]
    fn rgb24_and_rgb16_widen() {
        let (w, h) = (9, 7);
        let px = pattern(w, h, 3);
        let img = run(&encode(&px, w * 3, 4, true, bitmap_fmt::BIT24), w as u32, h as u32).unwrap();
        for (i, p) in px.chunks_exact(3).enumerate() {
            assert_eq!(img.data[i * 4..i * 4 + 4], [p[0], p[1], p[2], 0xff]);
        }
        let px16: Vec<u8> = [0x7c00u16, 0x03e0, 0x001f, 0x7fff]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let img = run(&encode(&px16, 8, 1, true, bitmap_fmt::BIT16), 4, 1).unwrap();
        assert_eq!(
            img.data,
            [
                0, 0, 0xff, 0xff, 0, 0xff, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff
            ]
        );
    }

    #[test]
    fn padded_rows_are_accepted() {
        // 3 px of 24 bits = 9 bytes, padded to 12.
        let (w, h) = (3, 2);
        let mut px = Vec::new();
        for y in 0..h {
            for x in 0..w * 3 {
                px.push((y * 16 + x) as u8);
            }
            px.extend_from_slice(&[0xee; 3]);
        }
        let img = run(&encode(&px, 12, 1, true, bitmap_fmt::BIT24), w as u32, h as u32).unwrap();
        assert_eq!(img.row(1).unwrap()[..3], [16, 17, 18]);
    }

    #[test]
    fn blocks_may_match_into_previous_blocks() {
        let (w, h) = (64, 64);
        let row: Vec<u8> = (0..w * 4).map(|i| (i * 31) as u8).collect();
        let px: Vec<u8> = row.iter().cycle().take(w * h * 4).copied().collect();
        let data = encode(&px, w * 4, 1, true, bitmap_fmt::RGBA);
        assert!(data.len() < px.len() / 8, "later blocks should reference earlier ones");
        assert_eq!(run(&data, w as u32, h as u32).unwrap().data, px);
    }

    #[test]
    fn hostile_row_24() {
        let (w, h) = (8usize, 8usize);
        let px = pattern(w, h, 4);
        let good = encode(&px, w * 4, 8, true, bitmap_fmt::RGBA);
        // Declared size larger or smaller than the data.
        assert!(run(&good, 8, 9).is_err());
        assert!(matches!(run(&good, 8, 7), Err(CodecError::Invalid { .. })));
        assert!(run(&good, 7, 8).is_err());
        // Truncated input: header, block size, block.
        assert!(matches!(run(&good[..1], 8, 8), Err(CodecError::Truncated { .. })));
        assert!(matches!(run(&good[..4], 8, 8), Err(CodecError::Truncated { .. })));
        assert!(run(&good[..good.len() - 1], 8, 8).is_err());
        // Header only: no pixels at all.
        assert!(matches!(run(&good[..2], 8, 8), Err(CodecError::SizeMismatch { .. })));
        // A block size past the end.
        let mut big = good.clone();
        big[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(run(&big, 8, 8), Err(CodecError::Truncated { .. })));
        // A match offset before the start: literal 'a', then a match at offset 2.
        let block = [0x10, b'a', 0x02, 0x00, 0x00];
        let mut bad = vec![1, bitmap_fmt::RGBA];
        bad.extend_from_slice(&(block.len() as u32).to_be_bytes());
        bad.extend_from_slice(&block);
        assert!(matches!(run(&bad, 8, 8), Err(CodecError::Invalid { .. })));
        // Unknown format, empty output.
        let mut fmt = good.clone();
        fmt[1] = bitmap_fmt::BIT8;
        assert!(run(&fmt, 8, 8).is_err());
        let mut empty = ImageBuf::new();
        assert!(decode(&good, &mut empty).is_err());
    }
}
