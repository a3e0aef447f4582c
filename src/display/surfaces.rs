//! Creating and destroying the surfaces of a [`DisplayState`]: the
//! limits, the session's memory budget, the primary surface's replacement.

use super::{DisplayError, DisplayEvent, DisplayState, Surface, SurfaceCreate, SurfaceFormat, relink, surface_flags};

impl DisplayState {
    pub(super) fn surface_create(&mut self, c: &SurfaceCreate, ev: &mut Vec<DisplayEvent>) {
        if let Err(e) = self.try_surface_create(c, ev) {
            self.error(e, ev);
        }
    }

    pub(super) fn try_surface_create(
        &mut self,
        c: &SurfaceCreate,
        ev: &mut Vec<DisplayEvent>,
    ) -> Result<(), DisplayError> {
        let (id, width, height) = (c.surface_id, c.width, c.height);
        let format =
            SurfaceFormat::from_wire(c.format).ok_or(DisplayError::BadSurfaceFormat { id, format: c.format })?;
        if self.stale_primary(c, format, ev) == relink::StalePrimary::Reused {
            return Ok(());
        }
        if self.surfaces.contains_key(&id) {
            return Err(DisplayError::DuplicateSurface { id });
        }
        if width == 0 || height == 0 {
            return Err(DisplayError::SurfaceEmpty { id, width, height });
        }
        let bytes = u64::from(width).saturating_mul(u64::from(height)).saturating_mul(4);
        let primary = c.flags & surface_flags::PRIMARY != 0;
        if primary && !self.fits_with_stale_picture(bytes) {
            // The earlier server's picture gives way to a surface that would not fit with it.
            self.drop_stale_picture();
        }
        let lim = &self.limits;
        if width > lim.max_surface_dim || height > lim.max_surface_dim || bytes > lim.max_surface_bytes {
            return Err(DisplayError::SurfaceTooLarge { id, width, height });
        }
        let replaced = if primary {
            self.primary.and_then(|p| Some((p, self.surfaces.get(&p)?.byte_size())))
        } else {
            None
        };
        let in_use = self.total_bytes.saturating_sub(replaced.map_or(0, |(_, b)| b));
        if in_use.saturating_add(bytes) > lim.max_total_bytes {
            return Err(DisplayError::SurfaceBudget {
                id,
                requested: bytes,
                in_use,
                max: lim.max_total_bytes,
            });
        }
        if let Some(r) = &mut self.surface_budget {
            // The old primary's pixels are given back below; count the new total now.
            let total = in_use.saturating_add(bytes).max(self.total_bytes);
            if let Err(e) = r.resize(total) {
                self.ready_surface = None;
                return Err(DisplayError::SurfaceBudget {
                    id,
                    requested: bytes,
                    in_use: e.used,
                    max: e.limit,
                });
            }
        }
        // Pixels allocated (and zeroed) by the decoder off the lock, if it could.
        let pixels = self.ready_surface.take();
        let surface = match Surface::with_pixels(id, width, height, format, primary, pixels) {
            Ok(s) => s,
            Err(e) => {
                self.fit_budget();
                return Err(e);
            }
        };
        if primary {
            self.journal.invalidate();
        }
        if let Some((old, _)) = replaced {
            self.remove_surface(old);
            ev.push(DisplayEvent::SurfaceDestroyed { id: old });
        }
        self.total_bytes = self.total_bytes.saturating_add(surface.byte_size());
        self.surfaces.insert(id, surface);
        self.fit_budget();
        if primary {
            self.primary = Some(id);
            self.paint_stale_picture(id);
        }
        ev.push(DisplayEvent::SurfaceCreated {
            id,
            width,
            height,
            format,
            primary,
        });
        Ok(())
    }

    /// Gives back what the surfaces no longer hold (shrinking never fails).
    pub(super) fn fit_budget(&mut self) {
        if let Some(r) = &mut self.surface_budget
            && r.bytes() != self.total_bytes
        {
            let _ = r.resize(self.total_bytes);
        }
    }

    pub(super) fn remove_surface(&mut self, id: u32) -> bool {
        let Some(s) = self.surfaces.remove(&id) else {
            return false;
        };
        self.total_bytes = self.total_bytes.saturating_sub(s.byte_size());
        self.fit_budget();
        if self.primary == Some(id) {
            self.primary = None;
            self.journal.invalidate();
        }
        true
    }

    pub(super) fn surface_destroy(&mut self, id: u32, ev: &mut Vec<DisplayEvent>) {
        if self.remove_surface(id) {
            ev.push(DisplayEvent::SurfaceDestroyed { id });
        } else {
            self.error(
                DisplayError::NoSuchSurface {
                    op: "surface_destroy",
                    id,
                },
                ev,
            );
        }
    }
}
