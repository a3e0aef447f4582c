//! The software screen layer: a persistent `cairo::ImageSurface` holding the
//! monitor's pixels, updated only in damaged rectangles and drawn scaled
//! into the widget's snapshot (nearest filtering at 1:1).

use super::damage::{Area, Source, copy_area};
use super::scaling::Placement;
use crate::display::Surface;
use gtk::prelude::*;
use gtk::{cairo, graphene};

/// Pixels of one monitor rectangle, in cairo's RGB24 (B,G,R,X in memory:
/// the layout of [`Surface::pixels_bgra`]).
#[derive(Debug, Default)]
pub(crate) struct CairoLayer {
    image: Option<cairo::ImageSurface>,
    /// The monitor rectangle the image holds (its origin is image (0, 0)).
    rect: Option<Area>,
}

impl CairoLayer {
    /// Makes the image match `source`'s monitor rectangle; returns true when
    /// it was (re)allocated, i.e. everything must be copied again.
    pub(crate) fn prepare(&mut self, source: &Source) -> Result<bool, cairo::Error> {
        if self.rect == Some(source.rect) && self.image.is_some() {
            return Ok(false);
        }
        let w = i32::try_from(source.rect.w).map_err(|_| cairo::Error::InvalidSize)?;
        let h = i32::try_from(source.rect.h).map_err(|_| cairo::Error::InvalidSize)?;
        self.image = None;
        self.rect = None;
        self.image = Some(cairo::ImageSurface::create(cairo::Format::Rgb24, w, h)?);
        self.rect = Some(source.rect);
        Ok(true)
    }

    /// Copies the damaged `areas` (surface coordinates, inside the monitor
    /// rectangle) from `surface` (the caller holds the display-state lock).
    pub(crate) fn update(&mut self, surface: &Surface, areas: &[Area]) {
        let (Some(image), Some(rect)) = (self.image.as_mut(), self.rect) else {
            return;
        };
        let stride = usize::try_from(image.stride()).unwrap_or(0);
        let written = match image.data() {
            // Nobody else holds the image: write straight into it.
            Ok(mut data) => {
                for a in areas {
                    copy_area(
                        surface,
                        a,
                        &mut data,
                        stride,
                        a.x.saturating_sub(rect.x),
                        a.y.saturating_sub(rect.y),
                    );
                }
                true
            }
            Err(_) => false,
        };
        if !written {
            // A previous frame's render node still references the image:
            // paint the rectangles through cairo, which keeps that frame intact.
            for a in areas {
                if let Err(e) = paint_area(image, surface, a, &rect) {
                    tracing::warn!(error = %e, "cairo layer: cannot update a damaged rectangle");
                }
            }
        }
    }

    /// Appends the image at `placement` (logical widget coordinates).
    pub(crate) fn snapshot(&self, snapshot: &gtk::Snapshot, placement: &Placement) {
        let (Some(image), Some(rect)) = (self.image.as_ref(), self.rect) else {
            return;
        };
        let (x, y, w, h) = placement.logical_rect();
        let cr = snapshot.append_cairo(&graphene::Rect::new(x as f32, y as f32, w as f32, h as f32));
        cr.translate(x, y);
        cr.scale(w / f64::from(rect.w.max(1)), h / f64::from(rect.h.max(1)));
        if cr.set_source_surface(image, 0.0, 0.0).is_err() {
            return;
        }
        let filter = if placement.is_one_to_one() {
            cairo::Filter::Nearest
        } else {
            cairo::Filter::Good
        };
        cr.source().set_filter(filter);
        // Pixels beyond the edge are not sampled as transparent when scaling.
        cr.source().set_extend(cairo::Extend::Pad);
        cr.rectangle(0.0, 0.0, f64::from(rect.w), f64::from(rect.h));
        if let Err(e) = cr.fill() {
            tracing::warn!(error = %e, "cairo layer: drawing failed");
        }
    }
}

/// Copies one damaged area into `image` through a small temporary surface.
fn paint_area(image: &cairo::ImageSurface, surface: &Surface, a: &Area, rect: &Area) -> Result<(), cairo::Error> {
    let w = i32::try_from(a.w).map_err(|_| cairo::Error::InvalidSize)?;
    let h = i32::try_from(a.h).map_err(|_| cairo::Error::InvalidSize)?;
    let mut tmp = cairo::ImageSurface::create(cairo::Format::Rgb24, w, h)?;
    let stride = usize::try_from(tmp.stride()).map_err(|_| cairo::Error::InvalidStride)?;
    {
        let mut data = tmp.data().map_err(|_| cairo::Error::SurfaceTypeMismatch)?;
        copy_area(surface, a, &mut data, stride, 0, 0);
    }
    let cr = cairo::Context::new(image)?;
    cr.set_operator(cairo::Operator::Source);
    cr.set_source_surface(
        &tmp,
        f64::from(a.x.saturating_sub(rect.x)),
        f64::from(a.y.saturating_sub(rect.y)),
    )?;
    cr.rectangle(
        f64::from(a.x.saturating_sub(rect.x)),
        f64::from(a.y.saturating_sub(rect.y)),
        f64::from(a.w),
        f64::from(a.h),
    );
    cr.fill()
}
