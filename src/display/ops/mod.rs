//! The draw operations: DRAW_FILL and DRAW_COPY with masks and pattern
//! brushes, and OPAQUE, BLEND, BLACKNESS, WHITENESS, INVERS, ROP3, STROKE,
//! TEXT, TRANSPARENT, ALPHA_BLEND and COMPOSITE, rendered like spice-common's
//! software canvas (pixman) does.
//!
//! Every op first computes its region (box ∩ surface ∩ clip, then ∩ mask)
//! as disjoint pixel boxes and only ever writes row slices of those boxes.
//! Images reach the ops through [`DisplayState::resolve_image`] (and masks
//! through [`DisplayState::masked_region`]) only, prepared before the
//! state lock was taken (`super::image`).

mod blend;
mod combine;
mod combine_float;
mod composite;
mod mask;
mod rop;
mod stroke;
mod text;

use super::bitmap::Source;
use super::region::{PixBox, extents};
use super::surface::{BYTES_PER_PIXEL, Surface, SurfaceFormat};
use super::{DisplayError, DisplayState, DrawResult, Rop, Unsupported, canvas, image};
use crate::proto::channel::display::{Brush, DisplayBase, DisplayServer, FillOp, Image, ImageKind, QMask, Rect, ropd};

#[cfg(test)]
pub(super) use rop::rop3_apply;

/// Where resolved pixels came from: decides how their 4th byte is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A bitmap: the converted alpha is meaningful (opaque unless RGBA).
    Bitmap,
    /// A snapshot of a surface of this format.
    Surface(SurfaceFormat),
}

/// A resolved image: rows of B,G,R,A and the area to draw from.
pub(super) struct Resolved<'i> {
    pub src: Source<'i>,
    pub area: Rect,
    pub origin: Origin,
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_usize(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}

fn bad(op: &'static str, reason: &'static str) -> DisplayError {
    DisplayError::BadBitmap { op, reason }
}

fn unsupported(op: &'static str, what: Unsupported) -> DisplayError {
    DisplayError::Unsupported { op, what }
}

/// Makes the 4th byte of converted pixels what pixman would read:
/// 0xff for opaque formats, the grey value as alpha (colour 0) for A8/A1.
pub(super) fn fix_alpha(origin: Origin, has_alpha: bool, row: &mut [u8]) {
    match origin {
        Origin::Bitmap => {}
        Origin::Surface(SurfaceFormat::A8 | SurfaceFormat::A1) => {
            for px in row.chunks_exact_mut(BYTES_PER_PIXEL) {
                if let [b, g, r, a] = px {
                    *a = *b;
                    (*b, *g, *r) = (0, 0, 0);
                }
            }
        }
        Origin::Surface(SurfaceFormat::Argb32) if has_alpha => {}
        Origin::Surface(_) => row.iter_mut().skip(3).step_by(BYTES_PER_PIXEL).for_each(|a| *a = 0xff),
    }
}

/// Nearest source coordinate of destination coordinate `v` (pixel centres),
/// the mapping DRAW_COPY uses when `src_area` and the box differ in size.
fn nearest(v: i64, dst_start: i32, dst_len: i64, src_start: i32, src_len: i64) -> i64 {
    let u = i128::from(v) - i128::from(dst_start);
    let s = (2 * u + 1) * i128::from(src_len) / (2 * i128::from(dst_len).max(1));
    i64::try_from(i128::from(src_start) + s).unwrap_or(-1)
}

/// Reads source pixels for destination rows: `src_area` of the image is
/// mapped onto `bbox` (nearest sampling when the sizes differ).
pub(super) struct Sampler<'s, 'i> {
    res: &'s Resolved<'i>,
    bbox: Rect,
    scaled: bool,
    line: Vec<u8>,
    xs: Vec<usize>,
}

impl<'s, 'i> Sampler<'s, 'i> {
    pub fn new(res: &'s Resolved<'i>, bbox: &Rect) -> Self {
        let a = &res.area;
        Self {
            res,
            bbox: *bbox,
            scaled: a.width() != bbox.width() || a.height() != bbox.height(),
            line: Vec::new(),
            xs: Vec::new(),
        }
    }

    fn src_y(&self, y: usize) -> Option<usize> {
        let (b, a) = (&self.bbox, &self.res.area);
        let sy = if self.scaled {
            if b.height() <= 0 || a.height() <= 0 {
                return None;
            }
            nearest(to_i64(y), b.top, b.height(), a.top, a.height())
        } else {
            to_i64(y) - i64::from(b.top) + i64::from(a.top)
        };
        to_usize(sy).filter(|&v| v < self.res.src.height)
    }

    /// Fills `out` with the source pixels of destination pixels `x0..x1` of
    /// row `y` and returns the sub-range that has a source (`None`: none).
    pub fn row(&mut self, y: usize, x0: usize, x1: usize, out: &mut Vec<u8>) -> Option<(usize, usize)> {
        let sy = self.src_y(y)?;
        let (b, a) = (&self.bbox, &self.res.area);
        let w = self.res.src.width;
        if !self.scaled {
            let ox = i64::from(b.left) - i64::from(a.left);
            let lo = to_i64(x0).max(ox);
            let hi = to_i64(x1).min(ox.saturating_add(to_i64(w)));
            if lo >= hi {
                return None;
            }
            let (xa, xb) = (to_usize(lo)?, to_usize(hi)?);
            let (ia, ib) = (to_usize(lo - ox)?, to_usize(hi - ox)?);
            out.resize(ib.saturating_sub(ia).saturating_mul(BYTES_PER_PIXEL), 0);
            self.res.src.convert(sy, ia, ib, out);
            return Some((xa, xb));
        }
        if b.width() <= 0 || a.width() <= 0 {
            return None;
        }
        self.xs.clear();
        let mut first = None;
        for x in x0..x1 {
            match to_usize(nearest(to_i64(x), b.left, b.width(), a.left, a.width())).filter(|&s| s < w) {
                Some(s) => {
                    first.get_or_insert(x);
                    self.xs.push(s);
                }
                None if first.is_some() => break,
                None => {}
            }
        }
        let xa = first?;
        let (&lo, &hi) = (self.xs.iter().min()?, self.xs.iter().max()?);
        self.line.resize(
            hi.saturating_sub(lo).saturating_add(1).saturating_mul(BYTES_PER_PIXEL),
            0,
        );
        self.res.src.convert(sy, lo, hi.saturating_add(1), &mut self.line);
        out.clear();
        for &s in &self.xs {
            let at = s.saturating_sub(lo).saturating_mul(BYTES_PER_PIXEL);
            out.extend_from_slice(self.line.get(at..at.saturating_add(BYTES_PER_PIXEL)).unwrap_or(&[0; 4]));
        }
        Some((xa, xa.saturating_add(self.xs.len())))
    }
}

/// A brush ready to paint: a colour in stored bytes, or a tiled image.
pub(super) enum Paint<'i> {
    Solid([u8; 4]),
    Tile { res: Resolved<'i>, x: i64, y: i64 },
}

impl Paint<'_> {
    /// The brush pixels of destination pixels `x0..x1` of row `y` into `out`.
    pub fn row(&self, y: usize, x0: usize, x1: usize, out: &mut Vec<u8>) {
        let n = x1.saturating_sub(x0);
        out.resize(n.saturating_mul(BYTES_PER_PIXEL), 0);
        match self {
            Self::Solid(c) => out.chunks_exact_mut(BYTES_PER_PIXEL).for_each(|p| p.copy_from_slice(c)),
            Self::Tile { res, x, y: py } => {
                let (tw, th) = (res.src.width, res.src.height);
                if tw == 0 || th == 0 {
                    return;
                }
                let ty = (to_i64(y) - py).rem_euclid(to_i64(th));
                let Some(ty) = to_usize(ty) else { return };
                let mut tx = to_usize((to_i64(x0) - x).rem_euclid(to_i64(tw))).unwrap_or(0);
                let mut at = 0usize;
                while at < n {
                    let run = tw.saturating_sub(tx).min(n - at).max(1);
                    let lo = at.saturating_mul(BYTES_PER_PIXEL);
                    let hi = at.saturating_add(run).saturating_mul(BYTES_PER_PIXEL);
                    if let Some(piece) = out.get_mut(lo..hi) {
                        res.src.convert(ty, tx, tx.saturating_add(run), piece);
                        fix_alpha(res.origin, true, piece);
                    }
                    at = at.saturating_add(run);
                    tx = 0;
                }
            }
        }
    }
}

/// Combines `src` into `dst` with a binary ROP.
pub(super) fn combine_row(dst: &mut [u8], src: &[u8], rop: Rop) {
    match rop {
        Rop::Noop => {}
        Rop::Copy if dst.len() == src.len() => dst.copy_from_slice(src),
        _ => dst.iter_mut().zip(src).for_each(|(d, s)| *d = rop.apply(*s, *d)),
    }
}

/// Paints `region` with a brush and a binary ROP.
pub(super) fn paint_region(surface: &mut Surface, region: &[PixBox], paint: &Paint<'_>, rop: Rop) {
    if let Paint::Solid(c) = paint {
        canvas::fill(surface, region, *c, rop);
        return;
    }
    let mut buf = Vec::new();
    for b in region {
        for y in b.y0..b.y1 {
            paint.row(y, b.x0, b.x1, &mut buf);
            if let Some(dst) = surface.row_mut(y, b.x0, b.x1) {
                combine_row(dst, &buf, rop);
            }
        }
    }
}

impl DisplayState {
    /// The one place where draw ops get pixels out of an [`Image`] (as the
    /// channel's decoder prepared it): `area` is the part wanted (`None`:
    /// the whole image). The pixels of `area` are copied out (so that two
    /// images, e.g. a source and a pattern, can be held at once); the
    /// returned area is in the copy's coordinates.
    pub(super) fn resolve_image<'i>(
        &self,
        op: &'static str,
        image: &'i Image,
        area: Option<&Rect>,
    ) -> Result<Resolved<'i>, DisplayError> {
        let (origin, whole) = match &image.kind {
            ImageKind::Surface { surface_id } => {
                let s = self
                    .surfaces
                    .get(surface_id)
                    .ok_or(DisplayError::NoSuchSurface { op, id: *surface_id })?;
                let (w, h) = s.dims();
                (Origin::Surface(s.format), Rect::ltrb(0, 0, clamp_i32(w), clamp_i32(h)))
            }
            _ => {
                let d = &image.descriptor;
                let c = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                (Origin::Bitmap, Rect::ltrb(0, 0, c(d.width), c(d.height)))
            }
        };
        let want = area.copied().unwrap_or(whole);
        let ready = image::find(&self.ready, &self.ready_at, op, image)?;
        let (src, got) = ready.source(op, image, &want, &self.surfaces)?;
        // Copy out the part of the image under the area (all of it for tiles).
        let crop = PixBox::from_rect(&got, src.width, src.height);
        let (x0, y0, w, h) = crop.map_or((0, 0, 0, 0), |b| (b.x0, b.y0, b.width(), b.y1.saturating_sub(b.y0)));
        let row = w.saturating_mul(BYTES_PER_PIXEL);
        let mut data = Vec::new();
        data.try_reserve_exact(row.saturating_mul(h))
            .map_err(|_| DisplayError::SurfaceAlloc {
                id: u32::MAX,
                bytes: u64::try_from(row.saturating_mul(h)).unwrap_or(u64::MAX),
            })?;
        data.resize(row.saturating_mul(h), 0);
        if row > 0 {
            for (iy, out) in (y0..).zip(data.chunks_exact_mut(row)) {
                src.convert(iy, x0, x0.saturating_add(w), out);
            }
        }
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        let owned = Source::bgra(op, c(w), c(h), data)?;
        let (dx, dy) = (clamp_i32(x0), clamp_i32(y0));
        let area = Rect::ltrb(
            got.left.saturating_sub(dx),
            got.top.saturating_sub(dy),
            got.right.saturating_sub(dx),
            got.bottom.saturating_sub(dy),
        );
        Ok(Resolved {
            src: owned,
            area,
            origin,
        })
    }

    /// The brush as something to paint with.
    pub(super) fn resolve_brush<'i>(
        &self,
        op: &'static str,
        brush: &'i Brush,
        dest: SurfaceFormat,
    ) -> Result<Paint<'i>, DisplayError> {
        match brush {
            Brush::None => Ok(Paint::Solid(dest.color_to_bgra(0))),
            Brush::Solid(c) => Ok(Paint::Solid(dest.color_to_bgra(*c))),
            Brush::Pattern { image, pos } => {
                let res = self.resolve_image(op, image, None)?;
                if res.src.width == 0 || res.src.height == 0 {
                    return Err(bad(op, "empty pattern"));
                }
                Ok(Paint::Tile {
                    res,
                    x: i64::from(pos.x),
                    y: i64::from(pos.y),
                })
            }
        }
    }

    /// Draw ops other than FILL and COPY; returns `false` for other messages.
    pub(super) fn handle_draw_op(&mut self, m: &DisplayServer) -> Option<(u32, DrawResult)> {
        Some(match m {
            DisplayServer::DrawOpaque { base, opaque } => (base.surface_id, self.draw_opaque(base, opaque)),
            DisplayServer::DrawBlend { base, blend } => (base.surface_id, self.draw_copy(base, blend)),
            DisplayServer::DrawBlackness { base, mask } => (
                base.surface_id,
                self.draw_mask_fill("draw_blackness", base, mask, Rop::Clear),
            ),
            DisplayServer::DrawWhiteness { base, mask } => (
                base.surface_id,
                self.draw_mask_fill("draw_whiteness", base, mask, Rop::Set),
            ),
            DisplayServer::DrawInvers { base, mask } => (
                base.surface_id,
                self.draw_mask_fill("draw_invers", base, mask, Rop::Invert),
            ),
            DisplayServer::DrawRop3 { base, rop3 } => (base.surface_id, self.draw_rop3(base, rop3)),
            DisplayServer::DrawStroke { base, stroke } => (base.surface_id, self.draw_stroke(base, stroke)),
            DisplayServer::DrawText { base, text } => (base.surface_id, self.draw_text(base, text)),
            DisplayServer::DrawTransparent { base, transparent } => {
                (base.surface_id, self.draw_transparent(base, transparent))
            }
            DisplayServer::DrawAlphaBlend { base, alpha_blend } => {
                (base.surface_id, self.draw_alpha_blend(base, alpha_blend))
            }
            DisplayServer::DrawComposite { base, composite } => (base.surface_id, self.draw_composite(base, composite)),
            _ => return None,
        })
    }

    /// DRAW_FILL: the brush (solid or pattern) combined with the ROP, masked.
    pub(super) fn draw_fill(&mut self, base: &DisplayBase, fill: &FillOp) -> DrawResult {
        const OP: &str = "draw_fill";
        let (format, region) = self.masked_region(OP, base, Some(&fill.mask))?;
        let rop = Rop::from_descriptor(fill.rop_descriptor, ropd::INVERS_BRUSH);
        let paint = self.resolve_brush(OP, &fill.brush, format)?;
        paint_region(self.surface_mut(OP, base.surface_id)?, &region, &paint, rop);
        Ok(extents(&region))
    }

    /// DRAW_OPAQUE: the source is copied, then the brush is combined into it
    /// with the ROP (brush as source operand, the copied image as
    /// destination: `INVERS_BRUSH` and `INVERS_SRC` pick the inversions).
    fn draw_opaque(&mut self, base: &DisplayBase, o: &crate::proto::channel::display::OpaqueOp) -> DrawResult {
        const OP: &str = "draw_opaque";
        let (format, region) = self.masked_region(OP, base, Some(&o.mask))?;
        let rop = rop::opaque_rop(o.rop_descriptor);
        // Images are resolved even when nothing is drawn: they may be CACHE_ME.
        let image = o.src_bitmap.as_ref().ok_or(DisplayError::NoSourceImage { op: OP })?;
        let res = self.resolve_image(OP, image, Some(&o.src_area))?;
        let paint = self.resolve_brush(OP, &o.brush, format)?;
        if rop == Rop::Noop {
            return Ok(None);
        }
        let surface = self.surface_mut(OP, base.surface_id)?;
        canvas::blit(surface, &region, &res.src, &base.bbox, &res.area, Rop::Copy);
        paint_region(surface, &region, &paint, rop);
        Ok(extents(&region))
    }

    /// BLACKNESS, WHITENESS, INVERS: a constant ROP over the masked region.
    fn draw_mask_fill(&mut self, op: &'static str, base: &DisplayBase, mask: &QMask, rop: Rop) -> DrawResult {
        let (_, region) = self.masked_region(op, base, Some(mask))?;
        canvas::fill(self.surface_mut(op, base.surface_id)?, &region, [0; 4], rop);
        Ok(extents(&region))
    }

    /// A draw op (or part of one) this build cannot render.
    pub(super) fn unsupported_op(op: &'static str, t: u16) -> DisplayError {
        unsupported(op, Unsupported::DrawOp(t))
    }
}

fn clamp_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}
