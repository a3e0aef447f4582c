//! Masks (`QMask`): the draw region narrowed to the set bits of a 1-bit
//! mask, prepared by the channel's decoder (a BITMAP, or a mask cached
//! earlier), or read from an A1 surface.

use super::{bad, to_i64, to_usize, unsupported};
use crate::display::image::{self, Ready};
use crate::display::region::PixBox;
use crate::display::surface::SurfaceFormat;
use crate::display::{DisplayError, DisplayState, Unsupported};
use crate::proto::channel::display::{DisplayBase, ImageKind, QMask, Rect, mask_flags};

/// Keeps the pixels of `region` whose mask bit is set (clear with INVERS);
/// pixels outside the mask image are dropped either way, as spice does.
fn mask_region(
    region: Vec<PixBox>,
    bbox: &Rect,
    pos: (i64, i64),
    invert: bool,
    bits: &dyn Fn(usize, usize) -> bool,
    mw: usize,
    mh: usize,
) -> Vec<PixBox> {
    let mut out = Vec::new();
    let dx = pos.0 - i64::from(bbox.left);
    let dy = pos.1 - i64::from(bbox.top);
    for b in region {
        for y in b.y0..b.y1 {
            let Some(my) = to_usize(to_i64(y) + dy).filter(|&v| v < mh) else {
                continue;
            };
            let mut run: Option<usize> = None;
            for x in b.x0..=b.x1 {
                let on = x < b.x1
                    && to_usize(to_i64(x) + dx)
                        .filter(|&mx| mx < mw)
                        .is_some_and(|mx| bits(mx, my) != invert);
                match (on, run) {
                    (true, None) => run = Some(x),
                    (false, Some(x0)) => {
                        out.push(PixBox {
                            x0,
                            y0: y,
                            x1: x,
                            y1: y.saturating_add(1),
                        });
                        run = None;
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

impl DisplayState {
    /// The draw region, narrowed by the mask when there is one.
    pub(in crate::display) fn masked_region(
        &self,
        op: &'static str,
        base: &DisplayBase,
        mask: Option<&QMask>,
    ) -> Result<(SurfaceFormat, Vec<PixBox>), DisplayError> {
        let surface = self.surface(base.surface_id).ok_or(DisplayError::NoSuchSurface {
            op,
            id: base.surface_id,
        })?;
        let format = surface.format;
        let region = self.region(op, base, surface)?;
        let Some((mask, image)) = mask.and_then(|m| Some((m, m.bitmap.as_ref()?))) else {
            return Ok((format, region));
        };
        let invert = mask.flags & mask_flags::INVERS != 0;
        let pos = (i64::from(mask.pos.x), i64::from(mask.pos.y));
        let region = match image::find(&self.ready, &self.ready_at, op, image)? {
            Ready::Mask(bits) => {
                let get = |x: usize, y: usize| bits.get(x, y);
                mask_region(region, &base.bbox, pos, invert, &get, bits.width, bits.height)
            }
            Ready::Surface => {
                let ImageKind::Surface { surface_id } = &image.kind else {
                    return Err(bad(op, "surface mask without a surface"));
                };
                let s = self
                    .surface(*surface_id)
                    .ok_or(DisplayError::NoSuchSurface { op, id: *surface_id })?;
                if s.format != SurfaceFormat::A1 {
                    return Err(unsupported(op, Unsupported::Mask));
                }
                let (w, h) = s.dims();
                let get = |x: usize, y: usize| {
                    s.row(y, x, x.saturating_add(1))
                        .and_then(|p| p.first())
                        .is_some_and(|&v| v != 0)
                };
                mask_region(region, &base.bbox, pos, invert, &get, w, h)
            }
            _ => return Err(image::not_prepared(op)),
        };
        Ok((format, region))
    }
}
