//! Surfaces: pixel storage and the colour conversions into it.

use super::DisplayError;
use crate::proto::channel::display::surface_fmt;

/// Bytes per stored pixel, whatever the wire format.
pub const BYTES_PER_PIXEL: usize = 4;

/// `surface_fmt`: the pixel format the server draws in.
///
/// Every format is *stored* as 32-bit B,G,R,A; the format says how colours
/// and palette entries sent for the surface are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SurfaceFormat {
    /// 1-bit alpha mask.
    A1,
    /// 8-bit alpha mask.
    A8,
    /// 16-bit x1r5g5b5.
    Rgb555,
    /// 16-bit r5g6b5.
    Rgb565,
    /// 32-bit x8r8g8b8; the stored 4th byte is unspecified and must be ignored.
    Xrgb32,
    /// 32-bit a8r8g8b8.
    Argb32,
}

impl SurfaceFormat {
    pub fn from_wire(v: u32) -> Option<Self> {
        Some(match v {
            surface_fmt::A1 => Self::A1,
            surface_fmt::A8 => Self::A8,
            surface_fmt::RGB16_555 => Self::Rgb555,
            surface_fmt::RGB16_565 => Self::Rgb565,
            surface_fmt::XRGB32 => Self::Xrgb32,
            surface_fmt::ARGB32 => Self::Argb32,
            _ => return None,
        })
    }

    pub fn to_wire(self) -> u32 {
        match self {
            Self::A1 => surface_fmt::A1,
            Self::A8 => surface_fmt::A8,
            Self::Rgb555 => surface_fmt::RGB16_555,
            Self::Rgb565 => surface_fmt::RGB16_565,
            Self::Xrgb32 => surface_fmt::XRGB32,
            Self::Argb32 => surface_fmt::ARGB32,
        }
    }

    /// Converts a colour in this format's native encoding (brush colours) to stored bytes.
    pub fn color_to_bgra(self, c: u32) -> [u8; 4] {
        match self {
            Self::Xrgb32 | Self::Argb32 => c.to_le_bytes(),
            Self::Rgb555 => rgb555_to_bgra(low16(c)),
            Self::Rgb565 => rgb565_to_bgra(low16(c)),
            Self::A8 => [low8(c); 4],
            Self::A1 => [if c & 1 != 0 { 0xff } else { 0 }; 4],
        }
    }

    /// Converts a palette entry to stored bytes: 16-bit x1r5g5b5 surfaces take
    /// 555 palettes (as spice-common does), all others xRGB ones.
    pub fn palette_to_bgra(self, e: u32) -> [u8; 4] {
        match self {
            Self::Rgb555 => rgb555_to_bgra(low16(e)),
            _ => xrgb_to_bgra(e),
        }
    }
}

fn low16(c: u32) -> u16 {
    u16::try_from(c & 0xffff).unwrap_or(0)
}

fn low8(c: u32) -> u8 {
    u8::try_from(c & 0xff).unwrap_or(0)
}

/// Widens a 5-bit channel to 8 bits by repeating its high bits (as pixman does).
fn expand5(v: u16) -> u8 {
    let v = v & 0x1f;
    u8::try_from((v << 3) | (v >> 2)).unwrap_or(0)
}

fn expand6(v: u16) -> u8 {
    let v = v & 0x3f;
    u8::try_from((v << 2) | (v >> 4)).unwrap_or(0)
}

/// x1r5g5b5 to opaque B,G,R,A.
pub fn rgb555_to_bgra(v: u16) -> [u8; 4] {
    [expand5(v), expand5(v >> 5), expand5(v >> 10), 0xff]
}

/// r5g6b5 to opaque B,G,R,A.
pub fn rgb565_to_bgra(v: u16) -> [u8; 4] {
    [expand5(v), expand6(v >> 5), expand5(v >> 11), 0xff]
}

/// xRGB to opaque B,G,R,A.
pub fn xrgb_to_bgra(v: u32) -> [u8; 4] {
    let [b, g, r, _] = v.to_le_bytes();
    [b, g, r, 0xff]
}

/// One drawing surface (the primary, or an off-screen one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    pub width: u32,
    pub height: u32,
    pub format: SurfaceFormat,
    pub primary: bool,
    pixels: Vec<u8>,
    stride: usize,
}

/// `len` zero bytes, written (so the memory is in place before a surface
/// uses it); `None` when the allocation fails.
pub(crate) fn zeroed_pixels(len: usize) -> Option<Vec<u8>> {
    let mut pixels = Vec::new();
    pixels.try_reserve_exact(len).ok()?;
    pixels.resize(len, 0);
    Some(pixels)
}

impl Surface {
    /// Allocates a zeroed surface; the caller has checked the limits, but an
    /// allocation failure is still reported rather than aborting.
    #[cfg(all(test, feature = "gtk"))]
    pub(crate) fn new(
        id: u32,
        width: u32,
        height: u32,
        format: SurfaceFormat,
        primary: bool,
    ) -> Result<Self, DisplayError> {
        Self::with_pixels(id, width, height, format, primary, None)
    }

    /// A zeroed surface made of `zeroed` when it has the surface's size
    /// (allocated and zeroed earlier, see [`zeroed_pixels`]), else of a new
    /// allocation.
    pub(crate) fn with_pixels(
        id: u32,
        width: u32,
        height: u32,
        format: SurfaceFormat,
        primary: bool,
        zeroed: Option<Vec<u8>>,
    ) -> Result<Self, DisplayError> {
        let too_large = || DisplayError::SurfaceTooLarge { id, width, height };
        let w = usize::try_from(width).map_err(|_| too_large())?;
        let h = usize::try_from(height).map_err(|_| too_large())?;
        let stride = w.checked_mul(BYTES_PER_PIXEL).ok_or_else(too_large)?;
        let len = stride.checked_mul(h).ok_or_else(too_large)?;
        let pixels = match zeroed {
            Some(p) if p.len() == len => p,
            _ => zeroed_pixels(len).ok_or(DisplayError::SurfaceAlloc {
                id,
                bytes: u64::try_from(len).unwrap_or(u64::MAX),
            })?,
        };
        Ok(Self {
            width,
            height,
            format,
            primary,
            pixels,
            stride,
        })
    }

    /// Stored pixels: rows of `stride()` bytes, each pixel B,G,R,A (or B,G,R,X
    /// for [`SurfaceFormat::Xrgb32`]), i.e. cairo/pixman ARGB32 in little endian.
    pub fn pixels_bgra(&self) -> &[u8] {
        &self.pixels
    }

    /// Bytes per row of [`Self::pixels_bgra`].
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Bytes of pixel storage (counted against the surface budget).
    pub fn byte_size(&self) -> u64 {
        u64::try_from(self.pixels.len()).unwrap_or(u64::MAX)
    }

    /// The stored B,G,R,A bytes of one pixel.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let start = usize::try_from(y)
            .ok()?
            .checked_mul(self.stride)?
            .checked_add(usize::try_from(x).ok()?.checked_mul(BYTES_PER_PIXEL)?)?;
        let px = self.pixels.get(start..start.checked_add(BYTES_PER_PIXEL)?)?;
        let mut out = [0u8; 4];
        out.copy_from_slice(px);
        Some(out)
    }

    /// Tightly packed RGB8 rows (for PNG).
    pub fn to_rgb(&self) -> Vec<u8> {
        let w = usize::try_from(self.width).unwrap_or(0);
        let h = usize::try_from(self.height).unwrap_or(0);
        let mut out = Vec::with_capacity(w.saturating_mul(h).saturating_mul(3));
        if self.stride == 0 {
            return out;
        }
        for row in self.pixels.chunks_exact(self.stride) {
            for px in row.chunks_exact(BYTES_PER_PIXEL) {
                if let [b, g, r, _] = px {
                    out.extend_from_slice(&[*r, *g, *b]);
                }
            }
        }
        out
    }

    /// Sets every byte to 0.
    pub(crate) fn clear(&mut self) {
        self.pixels.fill(0);
    }

    pub(crate) fn pixels_mut(&mut self) -> &mut [u8] {
        &mut self.pixels
    }

    /// Byte range of pixels `x0..x1` of row `y` (unchecked against the buffer).
    pub(crate) fn span(&self, y: usize, x0: usize, x1: usize) -> std::ops::Range<usize> {
        let row = y.saturating_mul(self.stride);
        row.saturating_add(x0.saturating_mul(BYTES_PER_PIXEL))..row.saturating_add(x1.saturating_mul(BYTES_PER_PIXEL))
    }

    /// Pixels `x0..x1` of row `y`, if inside the surface.
    pub(crate) fn row_mut(&mut self, y: usize, x0: usize, x1: usize) -> Option<&mut [u8]> {
        let r = self.span(y, x0, x1);
        self.pixels.get_mut(r)
    }

    pub(crate) fn row(&self, y: usize, x0: usize, x1: usize) -> Option<&[u8]> {
        self.pixels.get(self.span(y, x0, x1))
    }

    /// Width and height as usize.
    pub(crate) fn dims(&self) -> (usize, usize) {
        (
            usize::try_from(self.width).unwrap_or(0),
            usize::try_from(self.height).unwrap_or(0),
        )
    }
}
