//! Draw sources: uncompressed `BITMAP` images and surface snapshots, converted
//! row by row to stored B,G,R,A; and the palette cache.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::region::PixBox;
use super::surface::{BYTES_PER_PIXEL, Surface, SurfaceFormat, rgb555_to_bgra};
use super::{DisplayError, Unsupported};
use crate::budget::{MemoryBudget, Meter};
use crate::proto::channel::display::{Bitmap, Rect, bitmap_flags, bitmap_fmt};

/// Palettes kept for `PAL_FROM_CACHE` (spice-gtk's cache is unbounded).
pub const MAX_CACHED_PALETTES: usize = 4096;
/// Entries an 8-bit index can reach; longer palettes are cut when cached.
const MAX_USABLE_ENTRIES: usize = 256;

/// Palettes sent with `PAL_CACHE_ME`, by their `unique` id.
#[derive(Debug, Default)]
pub struct PaletteCache {
    map: HashMap<u64, Vec<u32>>,
    /// Bytes of the entries held, counted against the session's budget.
    bytes: u64,
    meter: Meter,
}

fn palette_bytes(p: &[u32]) -> u64 {
    (p.len() as u64).saturating_mul(4)
}

impl PaletteCache {
    /// Counts the palettes held against the session's memory `budget`.
    pub fn attach_budget(&mut self, budget: &Arc<MemoryBudget>) {
        self.meter.attach(budget, self.bytes);
    }

    /// Stores a palette; when full, an arbitrary entry is evicted first. A
    /// palette the session's budget cannot hold is not stored (a draw that
    /// refers to it fails).
    pub fn insert(&mut self, id: u64, entries: &[u32]) {
        self.remove(id);
        if self.map.len() >= MAX_CACHED_PALETTES
            && let Some(victim) = self.map.keys().next().copied()
        {
            self.remove(victim);
        }
        let kept = entries.get(..MAX_USABLE_ENTRIES).unwrap_or(entries);
        let bytes = self.bytes.saturating_add(palette_bytes(kept));
        if self.meter.set(bytes).is_ok() {
            self.bytes = bytes;
            self.map.insert(id, kept.to_vec());
        }
    }

    pub fn get(&self, id: u64) -> Option<&[u32]> {
        self.map.get(&id).map(Vec::as_slice)
    }

    pub fn remove(&mut self, id: u64) {
        if let Some(p) = self.map.remove(&id) {
            self.bytes = self.bytes.saturating_sub(palette_bytes(&p));
            let _ = self.meter.set(self.bytes);
        }
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
        let _ = self.meter.set(0);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// How source pixels are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Bit1 {
        msb_first: bool,
    },
    Bit4 {
        high_first: bool,
    },
    Bit8,
    Rgb555,
    Bgr24,
    /// 32BIT: B,G,R,X; stored with an opaque alpha.
    Xrgb32,
    /// RGBA bitmaps and surface snapshots: copied as they are.
    Bgra32,
    /// Decoded video frames in R,G,B,A order: red and blue swapped while
    /// copied (never from the wire).
    Rgba32,
}

impl Layout {
    fn from_bitmap(format: u8) -> Option<Self> {
        Some(match format {
            bitmap_fmt::BIT1_LE => Self::Bit1 { msb_first: false },
            bitmap_fmt::BIT1_BE => Self::Bit1 { msb_first: true },
            bitmap_fmt::BIT4_LE => Self::Bit4 { high_first: false },
            bitmap_fmt::BIT4_BE => Self::Bit4 { high_first: true },
            bitmap_fmt::BIT8 => Self::Bit8,
            bitmap_fmt::BIT16 => Self::Rgb555,
            bitmap_fmt::BIT24 => Self::Bgr24,
            bitmap_fmt::BIT32 => Self::Xrgb32,
            bitmap_fmt::RGBA => Self::Bgra32,
            _ => return None,
        })
    }

    fn bits(self) -> u64 {
        match self {
            Self::Bit1 { .. } => 1,
            Self::Bit4 { .. } => 4,
            Self::Bit8 => 8,
            Self::Rgb555 => 16,
            Self::Bgr24 => 24,
            Self::Xrgb32 | Self::Bgra32 | Self::Rgba32 => 32,
        }
    }

    fn palette_size(self) -> Option<usize> {
        match self {
            Self::Bit1 { .. } => Some(2),
            Self::Bit4 { .. } => Some(16),
            Self::Bit8 => Some(256),
            _ => None,
        }
    }
}

/// A validated image ready to be read row by row.
#[derive(Debug)]
pub struct Source<'a> {
    layout: Layout,
    pub width: usize,
    pub height: usize,
    stride: usize,
    top_down: bool,
    data: Cow<'a, [u8]>,
    /// Palette converted to stored bytes (palettised layouts only).
    lut: Vec<[u8; 4]>,
}

fn bad(op: &'static str, reason: &'static str) -> DisplayError {
    DisplayError::BadBitmap { op, reason }
}

impl<'a> Source<'a> {
    /// Validates a bitmap: format, stride, data length, palette presence and
    /// every palette index of its pixels (hostile-inputs row 19).
    pub fn bitmap(
        op: &'static str,
        b: &'a Bitmap,
        palette: Option<&[u32]>,
        dest: SurfaceFormat,
    ) -> Result<Self, DisplayError> {
        let (mut src, row_bytes) = Self::bitmap_with(op, b, Vec::new())?;
        if let Some(max) = src.layout.palette_size() {
            let entries = palette.ok_or(DisplayError::NoPalette { op })?;
            src.lut = entries.iter().take(max).map(|&e| dest.palette_to_bgra(e)).collect();
        }
        src.check_indices(op, row_bytes)?;
        Ok(src)
    }

    /// A bitmap [`Self::bitmap`] validated before (when its image was
    /// prepared, off the state lock), with the palette it converted then:
    /// the sizes are checked again (cheap), the palette indices are not.
    pub(crate) fn bitmap_prevalidated(op: &'static str, b: &'a Bitmap, lut: &[[u8; 4]]) -> Result<Self, DisplayError> {
        let (src, _) = Self::bitmap_with(op, b, lut.to_vec())?;
        Ok(src)
    }

    /// The same 32-bit pixels read as R,G,B,A (a decoded video frame that
    /// left red first): red and blue are swapped as they are copied.
    pub(crate) fn red_first(mut self) -> Self {
        if self.layout == Layout::Bgra32 {
            self.layout = Layout::Rgba32;
        }
        self
    }

    /// The palette converted to stored bytes (palettised layouts only).
    pub(crate) fn lut(&self) -> &[[u8; 4]] {
        &self.lut
    }

    /// Format, stride and data length checks of a bitmap; the source and the
    /// bytes one row of its pixels takes.
    fn bitmap_with(op: &'static str, b: &'a Bitmap, lut: Vec<[u8; 4]>) -> Result<(Self, usize), DisplayError> {
        let layout = Layout::from_bitmap(b.format).ok_or(DisplayError::Unsupported {
            op,
            what: Unsupported::BitmapFormat(b.format),
        })?;
        let width = usize::try_from(b.width).map_err(|_| bad(op, "width overflows"))?;
        let height = usize::try_from(b.height).map_err(|_| bad(op, "height overflows"))?;
        let stride = usize::try_from(b.stride).map_err(|_| bad(op, "stride overflows"))?;
        let row_bits = u64::from(b.width)
            .checked_mul(layout.bits())
            .ok_or_else(|| bad(op, "row size overflows"))?;
        let row_bytes = usize::try_from(row_bits.div_ceil(8)).map_err(|_| bad(op, "row size overflows"))?;
        if stride < row_bytes {
            return Err(bad(op, "stride shorter than a row"));
        }
        let needed = stride.checked_mul(height).ok_or_else(|| bad(op, "size overflows"))?;
        if b.data.len() < needed {
            return Err(bad(op, "pixel data shorter than stride × height"));
        }
        let src = Self {
            layout,
            width,
            height,
            stride,
            top_down: b.flags & bitmap_flags::TOP_DOWN != 0,
            data: Cow::Borrowed(&b.data),
            lut,
        };
        Ok((src, row_bytes))
    }

    /// Top-down B,G,R,A rows of `width × 4` bytes (decoded or cached images),
    /// borrowed or owned; copied as they are.
    pub fn bgra(
        op: &'static str,
        width: u32,
        height: u32,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<Self, DisplayError> {
        let data = data.into();
        let width = usize::try_from(width).map_err(|_| bad(op, "width overflows"))?;
        let height = usize::try_from(height).map_err(|_| bad(op, "height overflows"))?;
        let stride = width
            .checked_mul(BYTES_PER_PIXEL)
            .ok_or_else(|| bad(op, "row size overflows"))?;
        if stride.checked_mul(height).is_none_or(|n| data.len() < n) {
            return Err(bad(op, "pixel data shorter than width × height"));
        }
        Ok(Self {
            layout: Layout::Bgra32,
            width,
            height,
            stride,
            top_down: true,
            data,
            lut: Vec::new(),
        })
    }

    /// A decoded video frame: rows of B,G,R,A bytes, `width × 4` each,
    /// `stride` bytes apart (`stride × height` bytes in all), borrowed.
    pub(crate) fn frame(
        op: &'static str,
        width: u32,
        height: u32,
        stride: usize,
        top_down: bool,
        data: &'a [u8],
    ) -> Result<Self, DisplayError> {
        let width = usize::try_from(width).map_err(|_| bad(op, "width overflows"))?;
        let height = usize::try_from(height).map_err(|_| bad(op, "height overflows"))?;
        let row = width
            .checked_mul(BYTES_PER_PIXEL)
            .ok_or_else(|| bad(op, "row size overflows"))?;
        if stride < row {
            return Err(bad(op, "stride shorter than a row"));
        }
        if stride.checked_mul(height).is_none_or(|n| data.len() < n) {
            return Err(bad(op, "pixel data shorter than stride × height"));
        }
        Ok(Self {
            layout: Layout::Bgra32,
            width,
            height,
            stride,
            top_down,
            data: Cow::Borrowed(data),
            lut: Vec::new(),
        })
    }

    /// Palette indices packed by the image cache ([`super::compact`]): `bits`
    /// 1 or 4 per pixel, leftmost pixel in the high bits, top-down rows of
    /// `ceil(width × bits / 8)` bytes; `lut` holds stored B,G,R,A bytes.
    pub(crate) fn indexed(
        op: &'static str,
        width: u32,
        height: u32,
        bits: u8,
        lut: &[[u8; 4]],
        data: &'a [u8],
    ) -> Result<Self, DisplayError> {
        let layout = match bits {
            1 => Layout::Bit1 { msb_first: true },
            4 => Layout::Bit4 { high_first: true },
            _ => return Err(bad(op, "packed image of an unknown depth")),
        };
        let width = usize::try_from(width).map_err(|_| bad(op, "width overflows"))?;
        let height = usize::try_from(height).map_err(|_| bad(op, "height overflows"))?;
        let stride = width.div_ceil(8 / usize::from(bits));
        if stride.checked_mul(height).is_none_or(|n| data.len() < n) {
            return Err(bad(op, "packed data shorter than its rows"));
        }
        Ok(Self {
            layout,
            width,
            height,
            stride,
            top_down: true,
            data: Cow::Borrowed(data),
            lut: lut.to_vec(),
        })
    }

    /// Snapshot of the part of `surface` under `src_area`; returns the source
    /// and `src_area` translated into the snapshot's coordinates.
    pub fn from_surface(op: &'static str, surface: &Surface, src_area: &Rect) -> Result<(Self, Rect), DisplayError> {
        let (w, h) = surface.dims();
        let Some(area) = PixBox::from_rect(src_area, w, h) else {
            let empty = Self {
                layout: Layout::Bgra32,
                width: 0,
                height: 0,
                stride: 0,
                top_down: true,
                data: Cow::Owned(Vec::new()),
                lut: Vec::new(),
            };
            return Ok((empty, *src_area));
        };
        let width = area.width();
        let stride = width.saturating_mul(BYTES_PER_PIXEL);
        let height = area.y1.saturating_sub(area.y0);
        let mut data = Vec::new();
        data.try_reserve_exact(stride.saturating_mul(height))
            .map_err(|_| DisplayError::SurfaceAlloc {
                id: u32::MAX,
                bytes: u64::try_from(stride.saturating_mul(height)).unwrap_or(u64::MAX),
            })?;
        for y in area.y0..area.y1 {
            let row = surface
                .row(y, area.x0, area.x1)
                .ok_or_else(|| bad(op, "surface snapshot out of bounds"))?;
            data.extend_from_slice(row);
        }
        let dx = i32::try_from(area.x0).unwrap_or(i32::MAX);
        let dy = i32::try_from(area.y0).unwrap_or(i32::MAX);
        let moved = Rect::ltrb(
            src_area.left.saturating_sub(dx),
            src_area.top.saturating_sub(dy),
            src_area.right.saturating_sub(dx),
            src_area.bottom.saturating_sub(dy),
        );
        let src = Self {
            layout: Layout::Bgra32,
            width,
            height,
            stride,
            top_down: true,
            data: Cow::Owned(data),
            lut: Vec::new(),
        };
        Ok((src, moved))
    }

    /// The stored bytes of row `iy` (counted from the top of the image).
    fn raw_row(&self, iy: usize) -> &[u8] {
        let row = if self.top_down {
            iy
        } else {
            self.height.saturating_sub(1).saturating_sub(iy)
        };
        let start = row.saturating_mul(self.stride);
        self.data
            .get(start..start.saturating_add(self.stride))
            .unwrap_or_default()
    }

    /// Rejects any pixel whose palette index is outside the palette.
    fn check_indices(&self, op: &'static str, row_bytes: usize) -> Result<(), DisplayError> {
        let n = self.lut.len();
        let Some(max) = self.layout.palette_size() else {
            return Ok(());
        };
        if n >= max || self.width == 0 {
            return Ok(());
        }
        let err = |index: usize| DisplayError::PaletteIndex {
            op,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            len: n,
        };
        for iy in 0..self.height {
            let row = self.raw_row(iy).get(..row_bytes).unwrap_or_default();
            match self.layout {
                Layout::Bit8 => {
                    if let Some(&i) = row.iter().find(|&&i| usize::from(i) >= n) {
                        return Err(err(usize::from(i)));
                    }
                }
                Layout::Bit4 { high_first } => {
                    for x in 0..self.width {
                        let i = nibble(row, x, high_first);
                        if usize::from(i) >= n {
                            return Err(err(usize::from(i)));
                        }
                    }
                }
                Layout::Bit1 { msb_first } => {
                    for x in 0..self.width {
                        let i = bit(row, x, msb_first);
                        if usize::from(i) >= n {
                            return Err(err(usize::from(i)));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Converts pixels `x0..x1` of row `iy` into `out` as B,G,R,A; `out`
    /// holds `4 · (x1 − x0)` bytes (a destination row slice or a scratch
    /// buffer). Pixels the source cannot supply (only on a validation bug)
    /// are left as they were.
    pub fn convert(&self, iy: usize, x0: usize, x1: usize, out: &mut [u8]) {
        let row = self.raw_row(iy);
        let bytes = |bpp: usize| {
            row.get(x0.saturating_mul(bpp)..x1.saturating_mul(bpp))
                .unwrap_or_default()
        };
        let lut = |i: u8| self.lut.get(usize::from(i)).copied().unwrap_or_default();
        let pixels = out.chunks_exact_mut(BYTES_PER_PIXEL);
        match self.layout {
            Layout::Bgra32 | Layout::Xrgb32 => {
                let src = bytes(4);
                if src.len() == out.len() {
                    out.copy_from_slice(src);
                }
                if self.layout == Layout::Xrgb32 {
                    out.iter_mut().skip(3).step_by(BYTES_PER_PIXEL).for_each(|a| *a = 0xff);
                }
            }
            Layout::Rgba32 => {
                let src = bytes(4);
                if src.len() == out.len() {
                    swap_red_blue(src, out);
                }
            }
            Layout::Bgr24 => {
                for (d, s) in pixels.zip(bytes(3).chunks_exact(3)) {
                    if let [b, g, r] = s {
                        d.copy_from_slice(&[*b, *g, *r, 0xff]);
                    }
                }
            }
            Layout::Rgb555 => {
                for (d, s) in pixels.zip(bytes(2).chunks_exact(2)) {
                    if let [lo, hi] = s {
                        d.copy_from_slice(&rgb555_to_bgra(u16::from_le_bytes([*lo, *hi])));
                    }
                }
            }
            Layout::Bit8 => {
                for (d, &i) in pixels.zip(bytes(1)) {
                    d.copy_from_slice(&lut(i));
                }
            }
            Layout::Bit4 { high_first } => {
                for (d, x) in pixels.zip(x0..x1) {
                    d.copy_from_slice(&lut(nibble(row, x, high_first)));
                }
            }
            Layout::Bit1 { msb_first } => {
                for (d, x) in pixels.zip(x0..x1) {
                    d.copy_from_slice(&lut(bit(row, x, msb_first)));
                }
            }
        }
    }
}

/// Copies R,G,B,A pixels into B,G,R,A ones (in words, so that the compiler
/// vectorises it).
fn swap_red_blue(src: &[u8], out: &mut [u8]) {
    for (d, s) in out.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
        if let (Ok(d), Ok(s)) = (<&mut [u8; 4]>::try_from(d), <[u8; 4]>::try_from(s)) {
            let v = u32::from_le_bytes(s);
            *d = ((v & 0xff00_ff00) | ((v >> 16) & 0xff) | ((v & 0xff) << 16)).to_le_bytes();
        }
    }
}

/// Pixel `x` of a 4-bit row; `high_first` means the high nibble is the left pixel.
fn nibble(row: &[u8], x: usize, high_first: bool) -> u8 {
    let byte = row.get(x / 2).copied().unwrap_or(0);
    if x.is_multiple_of(2) == high_first {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// Pixel `x` of a 1-bit row; `msb_first` means bit 7 is the left pixel.
fn bit(row: &[u8], x: usize, msb_first: bool) -> u8 {
    let byte = row.get(x / 8).copied().unwrap_or(0);
    let shift = if msb_first { 7 - (x % 8) } else { x % 8 };
    (byte >> shift) & 1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn red_first_pixels_are_copied_with_red_and_blue_swapped() {
        let rgba: Vec<u8> = (1..=12).collect();
        let mut out = vec![0u8; 8];
        Source::bgra("t", 3, 1, &rgba[..])
            .unwrap()
            .red_first()
            .convert(0, 1, 3, &mut out);
        assert_eq!(out, [7, 6, 5, 8, 11, 10, 9, 12]);
        // Without it the bytes are copied as they are.
        Source::bgra("t", 3, 1, &rgba[..]).unwrap().convert(0, 1, 3, &mut out);
        assert_eq!(out, [5, 6, 7, 8, 9, 10, 11, 12]);
    }
}
