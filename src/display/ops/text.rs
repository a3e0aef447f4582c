//! DRAW_TEXT: the back brush fills `back_area` (COPY), then the glyphs
//! (A1, A4 or A8, rows bottom-up as spice-common reads them) are merged
//! into one alpha mask (maximum where glyphs overlap) through which the
//! fore brush is composited with pixman OVER.

use super::blend::over;
use super::{Paint, PixBox, extents, paint_region};
use crate::display::surface::{BYTES_PER_PIXEL, SurfaceFormat};
use crate::display::{DisplayError, DisplayState, DrawResult, Rop};
use crate::proto::channel::display::{Brush, DisplayBase, RasterGlyph, TextOp, glyph_row_bytes, ropd};

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The glyph box `[x0, x1) × [y0, y1)` in surface coordinates.
fn glyph_box(g: &RasterGlyph) -> (i64, i64, i64, i64) {
    let x0 = i64::from(g.render_pos.x) + i64::from(g.glyph_origin.x);
    let y0 = i64::from(g.render_pos.y) + i64::from(g.glyph_origin.y);
    (x0, y0, x0 + i64::from(g.width), y0 + i64::from(g.height))
}

/// Coverage of glyph pixel `j` in a glyph row, as pixman reads it.
fn coverage(row: &[u8], j: usize, bpp: u32) -> u8 {
    match bpp {
        1 => {
            let byte = row.get(j / 8).copied().unwrap_or(0);
            if (byte >> (7 - (j % 8))) & 1 != 0 { 0xff } else { 0 }
        }
        4 => {
            let byte = row.get(j / 2).copied().unwrap_or(0);
            if j.is_multiple_of(2) { byte & 0xf0 } else { byte << 4 }
        }
        _ => row.get(j).copied().unwrap_or(0),
    }
}

/// An alpha mask over the pixel box `area`.
struct GlyphMask {
    area: PixBox,
    alpha: Vec<u8>,
}

impl GlyphMask {
    fn new(area: PixBox) -> Result<Self, DisplayError> {
        let n = area.width().saturating_mul(area.y1.saturating_sub(area.y0));
        let mut alpha = Vec::new();
        alpha.try_reserve_exact(n).map_err(|_| DisplayError::SurfaceAlloc {
            id: u32::MAX,
            bytes: u64::try_from(n).unwrap_or(u64::MAX),
        })?;
        alpha.resize(n, 0);
        Ok(Self { area, alpha })
    }

    /// Merges one glyph, visiting only its rows and columns inside the area.
    fn put(&mut self, g: &RasterGlyph, bpp: u32) {
        let (gx0, gy0, gx1, gy1) = glyph_box(g);
        let a = self.area;
        let (ax0, ay0, ax1, ay1) = (to_i64(a.x0), to_i64(a.y0), to_i64(a.x1), to_i64(a.y1));
        let (x0, x1) = (gx0.max(ax0), gx1.min(ax1));
        let (y0, y1) = (gy0.max(ay0), gy1.min(ay1));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let stride = glyph_row_bytes(g.width, bpp);
        let h = i64::from(g.height);
        let aw = a.width();
        for y in y0..y1 {
            // Row 0 of the glyph data is its bottom row.
            let src_row = usize::try_from(h - 1 - (y - gy0)).unwrap_or(0);
            let start = src_row.saturating_mul(stride);
            let row = g.data.get(start..start.saturating_add(stride)).unwrap_or_default();
            let my = usize::try_from(y - ay0).unwrap_or(0);
            for x in x0..x1 {
                let j = usize::try_from(x - gx0).unwrap_or(0);
                let mx = usize::try_from(x - ax0).unwrap_or(0);
                let at = my.saturating_mul(aw).saturating_add(mx);
                if let Some(m) = self.alpha.get_mut(at) {
                    *m = (*m).max(coverage(row, j, bpp));
                }
            }
        }
    }

    fn row(&self, y: usize, x0: usize, x1: usize) -> &[u8] {
        let base = y.saturating_sub(self.area.y0).saturating_mul(self.area.width());
        let lo = base.saturating_add(x0.saturating_sub(self.area.x0));
        let hi = base.saturating_add(x1.saturating_sub(self.area.x0));
        self.alpha.get(lo..hi).unwrap_or_default()
    }
}

impl DisplayState {
    pub(super) fn draw_text(&mut self, base: &DisplayBase, t: &TextOp) -> DrawResult {
        const OP: &str = "draw_text";
        let (format, region) = self.masked_region(OP, base, None)?;
        let mut damage: Vec<PixBox> = Vec::new();
        if !t.back_area.is_empty() {
            // spice-common only knows an opaque box under PUT text.
            if t.fore_mode != ropd::OP_PUT {
                return Ok(None);
            }
            let (w, h) = self.surface(base.surface_id).map_or((0, 0), |s| s.dims());
            if let Some(back) = PixBox::from_rect(&t.back_area, w, h) {
                let back_region: Vec<PixBox> = region.iter().filter_map(|b| b.intersect(&back)).collect();
                let paint = self.resolve_brush(OP, &t.back_brush, format)?;
                paint_region(self.surface_mut(OP, base.surface_id)?, &back_region, &paint, Rop::Copy);
                damage.extend(extents(&back_region));
            }
        }
        let glyphs = &t.string.glyphs;
        let (Some(bpp), Some(first)) = (t.string.bpp(), glyphs.first()) else {
            return Ok(extents(&damage));
        };
        if matches!(t.fore_brush, Brush::None) {
            return Ok(extents(&damage));
        }
        // The string's bounds, limited to what the region can show.
        let mut bounds = glyph_box(first);
        for g in glyphs.iter().skip(1) {
            let b = glyph_box(g);
            bounds = (
                bounds.0.min(b.0),
                bounds.1.min(b.1),
                bounds.2.max(b.2),
                bounds.3.max(b.3),
            );
        }
        let (Some(ext), Some(sw), Some(sh)) = (
            extents(&region),
            self.surface(base.surface_id).map(|s| s.dims().0),
            self.surface(base.surface_id).map(|s| s.dims().1),
        ) else {
            return Ok(extents(&damage));
        };
        let Some(area) =
            PixBox::clipped(bounds.0, bounds.1, bounds.2, bounds.3, sw, sh).and_then(|b| b.intersect(&ext))
        else {
            return Ok(extents(&damage));
        };
        let mut mask = GlyphMask::new(area)?;
        for g in glyphs {
            mask.put(g, bpp);
        }
        let mut paint = self.resolve_brush(OP, &t.fore_brush, format)?;
        // pixman makes solid brushes opaque.
        if let Paint::Solid(c) = &mut paint
            && let Some(a) = c.get_mut(3)
        {
            *a = 0xff;
        }
        let opaque_dest = format != SurfaceFormat::Argb32;
        let surface = self.surface_mut(OP, base.surface_id)?;
        let mut src = Vec::new();
        for b in region.iter().filter_map(|b| b.intersect(&area)) {
            for y in b.y0..b.y1 {
                paint.row(y, b.x0, b.x1, &mut src);
                let m = mask.row(y, b.x0, b.x1);
                let Some(dst) = surface.row_mut(y, b.x0, b.x1) else {
                    continue;
                };
                let it = dst
                    .chunks_exact_mut(BYTES_PER_PIXEL)
                    .zip(src.chunks_exact(BYTES_PER_PIXEL))
                    .zip(m);
                for ((d, s), &mv) in it {
                    if mv != 0 {
                        if opaque_dest && let Some(a) = d.get_mut(3) {
                            *a = 0xff;
                        }
                        over(d, s, mv);
                    }
                }
            }
            damage.push(b);
        }
        Ok(extents(&damage))
    }
}
