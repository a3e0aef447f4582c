//! LZ decoder (spice-common `lz.c` format) for LZ_RGB and LZ_PLT images, and the LZ alpha plane of JPEG_ALPHA.
//!
//! # Format
//!
//! A header of seven big-endian `u32`: magic `"  ZL"` (0x20205a4c), version 1.1, image type
//! ([`LzType`]), width, height, stride (bytes per row of the source image) and `top_down`
//! (0 means the first encoded row is the bottom one). Then the pixels as one stream of tokens
//! over all rows:
//!
//! * `ctrl < 32`: `ctrl + 1` literal units follow (a unit is 1 byte for palette, alpha and A8
//!   images, 2 bytes (big-endian 555) for RGB16, 3 bytes B,G,R for RGB24/RGB32/RGBA);
//! * `ctrl >= 32`: a back-reference. `ctrl >> 5` is the length field (7 = more length bytes
//!   follow, each added, until one is not 255); then the low byte of the distance, whose high 5
//!   bits are `ctrl & 31`; high bits 31 with a low byte 255 announce a far distance in the next
//!   two bytes (plus 8191). Distances are biased by one, lengths by the smallest match of the unit type.
//!
//! RGBA images are an RGB32 stream followed by an alpha stream over the same pixels; XXXA is the
//! alpha stream alone. Palette images are decoded as bytes (`stride` per row, padding bits
//! included), then expanded through the palette.
//!
//! Everything read from the stream is checked: sizes before allocating, every copy against both
//! ends of the output, so hostile data ends in a [`CodecError`], never a panic.

use super::{CodecError, ImageBuf};

#[doc(hidden)]
pub mod encode;

const CODEC: &str = "lz";

/// Header magic, ASCII `"  ZL"` read as a big-endian word.
pub const MAGIC: u32 = 0x2020_5a4c;
/// Format version 1.1.
pub const VERSION: u32 = 0x0001_0001;
/// spice-common's `SPICE_MAX_IMAGE_SIZE`: `stride * height` must stay below 1 GiB.
const MAX_IMAGE_SIZE: u64 = (1 << 30) - 1;
/// Biased distances below this are "near" (13 bits); the far form adds it.
pub(crate) const MAX_NEAR_DISTANCE: usize = 8191;
/// Most literal units after one control byte.
pub(crate) const MAX_COPY: usize = 32;

/// LZ image types (`LzImageType` in spice-common `lz_common.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzType {
    Plt1Le = 1,
    Plt1Be = 2,
    Plt4Le = 3,
    Plt4Be = 4,
    Plt8 = 5,
    Rgb16 = 6,
    Rgb24 = 7,
    Rgb32 = 8,
    Rgba = 9,
    Xxxa = 10,
    A8 = 11,
}

impl LzType {
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Plt1Le,
            2 => Self::Plt1Be,
            3 => Self::Plt4Le,
            4 => Self::Plt4Be,
            5 => Self::Plt8,
            6 => Self::Rgb16,
            7 => Self::Rgb24,
            8 => Self::Rgb32,
            9 => Self::Rgba,
            10 => Self::Xxxa,
            11 => Self::A8,
            _ => return None,
        })
    }

    /// Pixels per stream byte of palette types, `None` for the others.
    pub fn plt_pixels_per_byte(self) -> Option<u32> {
        match self {
            Self::Plt1Le | Self::Plt1Be => Some(8),
            Self::Plt4Le | Self::Plt4Be => Some(2),
            Self::Plt8 => Some(1),
            _ => None,
        }
    }

    /// Bytes per pixel of the source image (`RGB_BYTES_PER_PIXEL`) for the non-palette types.
    pub fn bytes_per_pixel(self) -> u32 {
        match self {
            Self::Rgb16 => 2,
            Self::Rgb24 => 3,
            Self::Rgb32 | Self::Rgba | Self::Xxxa => 4,
            _ => 1,
        }
    }

    /// The only stride this decoder accepts for `width`: whole bytes per palette row, or
    /// `width * bytes_per_pixel`.
    pub fn stride_for(self, width: u32) -> Option<u32> {
        match self.plt_pixels_per_byte() {
            Some(ppb) => Some(width.div_ceil(ppb)),
            None => width.checked_mul(self.bytes_per_pixel()),
        }
    }
}

/// A bounds-checked big-endian reader over compressed data.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    codec: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], codec: &'static str) -> Self {
        Self { data, pos: 0, codec }
    }

    #[inline(always)]
    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.data.get(self.pos).ok_or(CodecError::truncated(self.codec))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::truncated(self.codec))?;
        let s = self.data.get(self.pos..end).ok_or(CodecError::truncated(self.codec))?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn be32(&mut self) -> Result<u32, CodecError> {
        let s = self.take(4)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(s);
        Ok(u32::from_be_bytes(w))
    }

    pub(crate) fn be64(&mut self) -> Result<u64, CodecError> {
        let hi = u64::from(self.be32()?);
        let lo = u64::from(self.be32()?);
        Ok(hi << 32 | lo)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn codec(&self) -> &'static str {
        self.codec
    }
}

/// How one stream unit is read and stored.
/// Copies the `ctrl + 1` literal units starting at unit `op` (of `n`) from
/// the stream into `out`; returns how many units were written. Shared by the
/// LZ and GLZ decoders, whose literal runs are identical.
pub(crate) fn literal_run<U: Unit>(
    codec: &'static str,
    r: &mut Reader<'_>,
    out: &mut [u8],
    ctrl: usize,
    op: usize,
    n: usize,
) -> Result<usize, CodecError> {
    let count = ctrl + 1;
    if count > n - op {
        return Err(CodecError::invalid(codec, "literals run past the end of the image"));
    }
    let src = r.take(count * U::IN)?;
    let dst = out
        .get_mut(op * U::OUT..(op + count) * U::OUT)
        .ok_or(CodecError::invalid(codec, "literals outside the image"))?;
    U::literals(src, dst);
    Ok(count)
}

pub(crate) trait Unit {
    /// Bytes of one literal in the stream.
    const IN: usize;
    /// Bytes of one decoded unit in the output.
    const OUT: usize;
    /// Added to the length field: a match is at least `BASE + 1` units.
    const BASE: usize;
    /// Converts `dst.len() / OUT` literals from `src`.
    fn literals(src: &[u8], dst: &mut [u8]);
}

/// Palette indices, alpha and A8 bytes: copied as they are.
pub(crate) struct ByteUnit;
/// RGB16 (big-endian x555 in the stream) widened to B,G,R,255.
pub(crate) struct Rgb16Unit;
/// RGB24/RGB32/RGBA colour pass: B,G,R in the stream, stored as B,G,R,255.
pub(crate) struct Rgb32Unit;

impl Unit for ByteUnit {
    const IN: usize = 1;
    const OUT: usize = 1;
    const BASE: usize = 2;
    #[inline(always)]
    fn literals(src: &[u8], dst: &mut [u8]) {
        if let Some(s) = src.get(..dst.len()) {
            dst.copy_from_slice(s);
        }
    }
}

/// 5-bit channel to 8 bits, as spice-common does: `(v << 3) | (v >> 2)`.
#[inline(always)]
pub(crate) fn widen5(v: u16) -> u8 {
    let v = (v & 31) as u8;
    (v << 3) | (v >> 2)
}

impl Unit for Rgb16Unit {
    const IN: usize = 2;
    const OUT: usize = 4;
    const BASE: usize = 1;
    #[inline(always)]
    fn literals(src: &[u8], dst: &mut [u8]) {
        for (s, d) in src.chunks_exact(2).zip(dst.chunks_exact_mut(4)) {
            let v = u16::from_be_bytes([s.first().copied().unwrap_or(0), s.get(1).copied().unwrap_or(0)]);
            d.copy_from_slice(&[widen5(v), widen5(v >> 5), widen5(v >> 10), 255]);
        }
    }
}

impl Unit for Rgb32Unit {
    const IN: usize = 3;
    const OUT: usize = 4;
    const BASE: usize = 0;
    #[inline(always)]
    fn literals(src: &[u8], dst: &mut [u8]) {
        for (s, d) in src.chunks_exact(3).zip(dst.chunks_exact_mut(4)) {
            if let [b, g, r] = *s {
                d.copy_from_slice(&[b, g, r, 255]);
            }
        }
    }
}

/// Copies `len` units found `dist` units before `op` to `op` (all in units of `unit` bytes),
/// with LZ semantics: an overlapping source repeats its first `dist` units. `None` when the
/// copy leaves `out`.
#[inline(always)]
pub(crate) fn copy_back(out: &mut [u8], op: usize, dist: usize, len: usize, unit: usize) -> Option<()> {
    let dst = op.checked_mul(unit)?;
    let d = dist.checked_mul(unit)?;
    let n = len.checked_mul(unit)?;
    let src = dst.checked_sub(d)?;
    if d == 0 || dst.checked_add(n)? > out.len() {
        return None;
    }
    if d >= n {
        out.copy_within(src..src + n, dst);
        return Some(());
    }
    // Overlap: out[src..dst] is one period; copy whole periods, doubling each time.
    let mut done = 0;
    while done < n {
        let chunk = (d + done).min(n - done);
        out.copy_within(src..src + chunk, dst + done);
        done += chunk;
    }
    Some(())
}

#[inline(always)]
fn read_len<U: Unit>(r: &mut Reader<'_>, field: usize) -> Result<usize, CodecError> {
    let mut len = field;
    if len == 7 {
        loop {
            let code = r.u8()?;
            len = len.saturating_add(usize::from(code));
            if code != 255 {
                break;
            }
        }
    }
    Ok(len.saturating_add(U::BASE))
}

/// Decodes one LZ token stream filling all of `out` (`out.len() / U::OUT` units).
pub(crate) fn decode_stream<U: Unit>(r: &mut Reader<'_>, out: &mut [u8]) -> Result<(), CodecError> {
    let codec = r.codec();
    let n = out.len() / U::OUT;
    let mut op = 0usize;
    while op < n {
        let ctrl = usize::from(r.u8()?);
        if ctrl >= MAX_COPY {
            let len = read_len::<U>(r, ctrl >> 5)?;
            let code = usize::from(r.u8()?);
            let mut ofs = ((ctrl & 31) << 8) + code;
            if code == 255 && ctrl & 31 == 31 {
                let hi = usize::from(r.u8()?);
                let lo = usize::from(r.u8()?);
                ofs = (hi << 8 | lo) + MAX_NEAR_DISTANCE;
            }
            let dist = ofs + 1;
            if len > n - op {
                return Err(CodecError::invalid(codec, "match runs past the end of the image"));
            }
            if dist > op {
                return Err(CodecError::invalid(codec, "match starts before the image"));
            }
            copy_back(out, op, dist, len, U::OUT).ok_or(CodecError::invalid(codec, "match outside the image"))?;
            op += len;
        } else {
            op += literal_run::<U>(codec, r, out, ctrl, op, n)?;
        }
    }
    Ok(())
}

/// A validated LZ header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub ty: LzType,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub top_down: bool,
}

/// A header word that the reference decoder reads as a C `int`: negative values are invalid.
fn non_negative(v: u32, what: &'static str) -> Result<u32, CodecError> {
    if v > i32::MAX as u32 {
        Err(CodecError::invalid(CODEC, what))
    } else {
        Ok(v)
    }
}

fn read_header(r: &mut Reader<'_>) -> Result<Header, CodecError> {
    if r.be32()? != MAGIC {
        return Err(CodecError::invalid(CODEC, "bad magic"));
    }
    if r.be32()? != VERSION {
        return Err(CodecError::invalid(CODEC, "unsupported version"));
    }
    let ty = LzType::from_u32(r.be32()?).ok_or(CodecError::invalid(CODEC, "unknown image type"))?;
    let width = non_negative(r.be32()?, "negative width")?;
    let height = non_negative(r.be32()?, "negative height")?;
    let stride = non_negative(r.be32()?, "negative stride")?;
    let top_down = r.be32()? != 0;
    if width == 0 || height == 0 {
        return Err(CodecError::invalid(CODEC, "empty image"));
    }
    if ty.stride_for(width) != Some(stride) {
        return Err(CodecError::invalid(CODEC, "stride does not match the width"));
    }
    if u64::from(stride) * u64::from(height) > MAX_IMAGE_SIZE {
        return Err(CodecError::TooLarge {
            codec: CODEC,
            width: u64::from(width),
            height: u64::from(height),
        });
    }
    Ok(Header {
        ty,
        width,
        height,
        stride,
        top_down,
    })
}

/// Reads and validates only the header of an LZ image.
pub fn header(data: &[u8]) -> Result<Header, CodecError> {
    read_header(&mut Reader::new(data, CODEC))
}

fn expect_end(r: &Reader<'_>) -> Result<(), CodecError> {
    if r.remaining() != 0 {
        return Err(CodecError::invalid(CODEC, "data after the end of the image"));
    }
    Ok(())
}

/// Output row of stream row `s`.
#[inline(always)]
fn out_row(h: &Header, s: u32) -> u32 {
    if h.top_down { s } else { h.height - 1 - s }
}

/// Reverses the row order of `data` in place (rows of `stride` bytes).
pub(crate) fn flip_rows(data: &mut [u8], stride: usize) {
    if stride == 0 {
        return;
    }
    let rows = data.len() / stride;
    for i in 0..rows / 2 {
        let (top, bottom) = data.split_at_mut((rows - 1 - i) * stride);
        if let (Some(a), Some(b)) = (top.get_mut(i * stride..(i + 1) * stride), bottom.get_mut(..stride)) {
            a.swap_with_slice(b);
        }
    }
}

/// Most units one input byte can produce (a length-extension byte adds at most 255): images
/// that `remaining` bytes cannot fill are refused before anything is allocated.
pub(crate) const MAX_UNITS_PER_BYTE: u64 = 255;

/// Fails unless `remaining` stream bytes could describe `units` units.
pub(crate) fn check_fillable(codec: &'static str, units: u64, remaining: usize) -> Result<(), CodecError> {
    if units > (remaining as u64).saturating_mul(MAX_UNITS_PER_BYTE) {
        return Err(CodecError::truncated(codec));
    }
    Ok(())
}

/// Decodes the byte plane (palette indices or alpha) of `h` into a new buffer.
fn decode_plane(r: &mut Reader<'_>, h: &Header) -> Result<Vec<u8>, CodecError> {
    let bytes = usize::try_from(u64::from(h.stride) * u64::from(h.height))
        .map_err(|_| CodecError::invalid(CODEC, "image too large"))?;
    let mut plane = vec![0u8; bytes];
    decode_stream::<ByteUnit>(r, &mut plane)?;
    Ok(plane)
}

/// Palette entries (xRGB) as stored B,G,R,255 bytes.
fn palette_lut(palette: &[u32]) -> Vec<[u8; 4]> {
    palette
        .iter()
        .take(256)
        .map(|&e| {
            let [b, g, r, _] = e.to_le_bytes();
            [b, g, r, 255]
        })
        .collect()
}

/// Expands one row of palette indices into `dst` (width pixels).
fn expand_plt_row(ty: LzType, src: &[u8], dst: &mut [u8], lut: &[[u8; 4]]) -> Result<(), CodecError> {
    let bad = CodecError::invalid(CODEC, "palette index outside the palette");
    let mut px = dst.chunks_exact_mut(4);
    let mut put = |idx: u8| -> Result<bool, CodecError> {
        match px.next() {
            Some(d) => {
                d.copy_from_slice(lut.get(usize::from(idx)).ok_or(bad.clone())?);
                Ok(true)
            }
            None => Ok(false),
        }
    };
    'row: for &byte in src {
        match ty {
            LzType::Plt8 => {
                if !put(byte)? {
                    break 'row;
                }
            }
            LzType::Plt4Le | LzType::Plt4Be => {
                let (a, b) = if ty == LzType::Plt4Le {
                    (byte & 15, byte >> 4)
                } else {
                    (byte >> 4, byte & 15)
                };
                if !put(a)? || !put(b)? {
                    break 'row;
                }
            }
            _ => {
                for i in 0..8 {
                    let bit = if ty == LzType::Plt1Le { i } else { 7 - i };
                    if !put((byte >> bit) & 1)? {
                        break 'row;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Decodes an LZ_RGB image, or an LZ_PLT image with `palette` (xRGB entries).
///
/// Output: B,G,R,A top-down. RGB16/24/32 and palette images are opaque (`has_alpha` false);
/// RGBA keeps its alpha; A8 and XXXA give black pixels carrying the alpha values.
pub fn decode(data: &[u8], palette: Option<&[u32]>, out: &mut ImageBuf) -> Result<(), CodecError> {
    let mut r = Reader::new(data, CODEC);
    let h = read_header(&mut r)?;
    let pixels = u64::from(h.width) * u64::from(h.height);
    let units = match h.ty {
        LzType::Plt1Le | LzType::Plt1Be | LzType::Plt4Le | LzType::Plt4Be | LzType::Plt8 => {
            u64::from(h.stride) * u64::from(h.height)
        }
        LzType::Rgba => pixels * 2,
        _ => pixels,
    };
    check_fillable(CODEC, units, r.remaining())?;
    if h.ty.plt_pixels_per_byte().is_some() {
        let palette = palette.ok_or(CodecError::invalid(CODEC, "palette image without a palette"))?;
        let lut = palette_lut(palette);
        let plane = decode_plane(&mut r, &h)?;
        expect_end(&r)?;
        out.reset(CODEC, h.width, h.height)?;
        let stride = h.stride as usize;
        for (s, row) in (0..h.height).zip(plane.chunks_exact(stride.max(1))) {
            let dst = out
                .row_mut(out_row(&h, s))
                .ok_or(CodecError::invalid(CODEC, "row outside"))?;
            expand_plt_row(h.ty, row, dst, &lut)?;
        }
        return Ok(());
    }
    out.reset(CODEC, h.width, h.height)?;
    let stride = out.stride();
    match h.ty {
        LzType::Rgb16 => decode_stream::<Rgb16Unit>(&mut r, &mut out.data)?,
        LzType::Rgb24 | LzType::Rgb32 => decode_stream::<Rgb32Unit>(&mut r, &mut out.data)?,
        LzType::Rgba => {
            decode_stream::<Rgb32Unit>(&mut r, &mut out.data)?;
            let alpha = decode_plane(&mut r, &h_alpha(&h))?;
            for (px, a) in out.data.chunks_exact_mut(4).zip(alpha) {
                if let Some(d) = px.get_mut(3) {
                    *d = a;
                }
            }
            out.has_alpha = true;
        }
        _ => {
            // XXXA and A8: an alpha plane over black.
            let alpha = decode_plane(&mut r, &h_alpha(&h))?;
            for (px, a) in out.data.chunks_exact_mut(4).zip(alpha) {
                px.copy_from_slice(&[0, 0, 0, a]);
            }
            out.has_alpha = true;
        }
    }
    expect_end(&r)?;
    if !h.top_down {
        flip_rows(&mut out.data, stride);
    }
    Ok(())
}

/// The header of the alpha plane of `h` (one byte per pixel).
fn h_alpha(h: &Header) -> Header {
    Header { stride: h.width, ..*h }
}

/// Decodes an LZ alpha plane (type XXXA) into the alpha bytes of `out`, whose size must match.
/// Colour bytes are left untouched; `has_alpha` is set. On error `out` is unchanged.
pub fn decode_alpha(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let mut r = Reader::new(data, CODEC);
    let h = read_header(&mut r)?;
    if h.ty != LzType::Xxxa {
        return Err(CodecError::invalid(CODEC, "alpha plane is not of type XXXA"));
    }
    if h.width != out.width || h.height != out.height || out.data.len() != out.stride() * out.height as usize {
        return Err(CodecError::SizeMismatch {
            codec: CODEC,
            width: out.width,
            height: out.height,
            got_width: h.width,
            got_height: h.height,
        });
    }
    check_fillable(CODEC, u64::from(h.width) * u64::from(h.height), r.remaining())?;
    let alpha = decode_plane(&mut r, &h_alpha(&h))?;
    expect_end(&r)?;
    let w = h.width as usize;
    for (s, row) in (0..h.height).zip(alpha.chunks_exact(w)) {
        let dst = out
            .row_mut(out_row(&h, s))
            .ok_or(CodecError::invalid(CODEC, "row outside"))?;
        for (px, &a) in dst.chunks_exact_mut(4).zip(row) {
            if let Some(d) = px.get_mut(3) {
                *d = a;
            }
        }
    }
    out.has_alpha = true;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
