//! A display state that outlives its server: when the session moves to
//! another server (semi-seamless migration, switch-host, automatic
//! reconnect) the new server creates its surfaces from scratch. Everything
//! but the primary surface is dropped; the primary one stays on screen
//! until the new server's SURFACE_CREATE, which reuses it when its size and
//! format match (as spice-gtk does), so the picture never goes black. When
//! they do not (QEMU's destination announces 640×480 for a moment after a
//! live migration), the old picture is kept aside and painted into every new
//! primary surface (top-left, clipped) until the new server draws on it or
//! sends MARK: the window shows the old picture, not black, until the new
//! server's first frame. A
//! display channel that starts over on the same machine (semi-seamless
//! migration) forgets the old server's streams and palettes in its decoder
//! too ([`DisplayDecoder::forget_server`]).

use super::{DisplayDecoder, DisplayEvent, DisplayState, SurfaceFormat};
use crate::proto::channel::display::{DisplayServer, SurfaceCreate, surface_flags};

impl DisplayDecoder {
    /// The server went away but this channel goes on (semi-seamless
    /// migration): its video streams, palettes and surfaces but the primary
    /// one are the old server's.
    pub fn forget_server(&mut self) {
        self.streams
            .handle(&DisplayServer::StreamDestroyAll, &self.surfaces, &self.limits);
        self.palettes.clear();
        self.surfaces.retain(|_, s| s.primary);
    }
}

/// What a SURFACE_CREATE does with a primary surface kept from the old server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StalePrimary {
    /// None is kept: create as usual.
    None,
    /// It matches: keep its pixels, nothing to create.
    Reused,
    /// It does not match: it was removed, create as usual.
    Removed,
}

impl DisplayState {
    /// The server went away: drop every surface but the primary one, which
    /// is kept as stale (the decoder holds the streams and palettes).
    pub fn forget_server(&mut self) {
        let keep = self.primary;
        let gone: Vec<u32> = self.surfaces.keys().copied().filter(|id| Some(*id) != keep).collect();
        for id in gone {
            self.remove_surface(id);
        }
        self.marked = false;
        self.stale_primary = keep.is_some();
        if keep.is_some() {
            self.drop_stale_picture();
        }
    }

    /// Whether a primary surface from an earlier server is on screen.
    pub fn has_stale_primary(&self) -> bool {
        self.stale_primary
    }

    /// A SURFACE_CREATE while a stale primary surface is kept.
    pub(super) fn stale_primary(
        &mut self,
        c: &SurfaceCreate,
        format: SurfaceFormat,
        ev: &mut Vec<DisplayEvent>,
    ) -> StalePrimary {
        if !self.stale_primary || c.flags & surface_flags::PRIMARY == 0 {
            return StalePrimary::None;
        }
        self.stale_primary = false;
        let Some(id) = self.primary else {
            return StalePrimary::None;
        };
        let same = self
            .surfaces
            .get(&id)
            .is_some_and(|s| id == c.surface_id && s.width == c.width && s.height == c.height && s.format == format);
        if same {
            self.journal.invalidate();
            // Pixels the decoder allocated for it are not needed.
            self.ready_surface = None;
            // The new server's decoder learns the surface from this event.
            ev.push(DisplayEvent::SurfaceCreated {
                id,
                width: c.width,
                height: c.height,
                format,
                primary: true,
            });
            return StalePrimary::Reused;
        }
        // Kept aside (still counted) for the new primary surfaces.
        if let Some(old) = self.surfaces.remove(&id) {
            self.primary = None;
            self.journal.invalidate();
            self.stale_picture = Some(old);
            ev.push(DisplayEvent::SurfaceDestroyed { id });
        }
        StalePrimary::Removed
    }

    /// Whether a new primary surface of `bytes` fits with the kept picture.
    pub(super) fn fits_with_stale_picture(&self, bytes: u64) -> bool {
        let total = self.total_bytes.saturating_add(bytes);
        total <= self.limits.max_total_bytes && self.surface_budget.as_ref().is_none_or(|r| total <= r.room())
    }

    /// The new server drew (or sent MARK): the old picture is not needed.
    pub(super) fn drop_stale_picture(&mut self) {
        if let Some(old) = self.stale_picture.take() {
            self.total_bytes = self.total_bytes.saturating_sub(old.byte_size());
            self.fit_budget();
        }
    }

    /// Paints the kept picture into the new primary surface `id` (top-left, clipped).
    pub(super) fn paint_stale_picture(&mut self, id: u32) {
        let (Some(old), Some(new)) = (self.stale_picture.as_ref(), self.surfaces.get_mut(&id)) else {
            return;
        };
        if old.format != new.format {
            return;
        }
        let ((ow, oh), (nw, nh)) = (old.dims(), new.dims());
        let w = ow.min(nw);
        for y in 0..oh.min(nh) {
            if let (Some(src), Some(dst)) = (old.row(y, 0, w), new.row_mut(y, 0, w)) {
                dst.copy_from_slice(src);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Limits;

    fn create(id: u32, w: u32, h: u32, primary: bool) -> DisplayServer {
        DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id: id,
            width: w,
            height: h,
            format: SurfaceFormat::Xrgb32.to_wire(),
            flags: if primary { surface_flags::PRIMARY } else { 0 },
        })
    }

    #[test]
    fn the_primary_surface_survives_a_new_server_of_the_same_size() {
        let mut s = DisplayState::new(Limits::default());
        s.handle(&create(0, 64, 32, true));
        s.handle(&create(5, 8, 8, false));
        s.forget_server();
        assert!(s.has_stale_primary());
        assert_eq!(s.surface_ids().collect::<Vec<_>>(), [0]);
        // Same size: the same surface, announced again (no destroy), no error.
        let ev = s.handle(&create(0, 64, 32, true));
        assert!(
            matches!(
                ev.as_slice(),
                [DisplayEvent::SurfaceCreated {
                    id: 0,
                    primary: true,
                    ..
                }]
            ),
            "{ev:?}"
        );
        assert_eq!(s.stats().total_errors(), 0);
        assert!(!s.has_stale_primary());
        // Another size: the old one goes, the new one comes.
        s.forget_server();
        let ev = s.handle(&create(0, 80, 40, true));
        assert!(
            matches!(ev.first(), Some(DisplayEvent::SurfaceDestroyed { id: 0 })),
            "{ev:?}"
        );
        assert_eq!(s.primary().map(|(_, p)| (p.width, p.height)), Some((80, 40)));
        assert_eq!(s.stats().total_errors(), 0);
        // Without forget_server a duplicate is still an error.
        s.handle(&create(0, 80, 40, true));
        assert_eq!(s.stats().total_errors(), 1);
    }

    fn fill(s: &mut DisplayState, w: i32, h: i32, color: u32) {
        use crate::proto::channel::display::{Brush, Clip, DisplayBase, FillOp, QMask, Rect, ropd};
        let ev = s.handle(&DisplayServer::DrawFill {
            base: DisplayBase {
                surface_id: 0,
                bbox: Rect::ltrb(0, 0, w, h),
                clip: Clip::None,
            },
            fill: FillOp {
                brush: Brush::Solid(color),
                rop_descriptor: ropd::OP_PUT,
                mask: QMask::default(),
            },
        });
        assert!(!ev.iter().any(|e| matches!(e, DisplayEvent::Error { .. })), "{ev:?}");
    }

    fn px(s: &DisplayState, x: u32, y: u32) -> Option<[u8; 4]> {
        s.primary().and_then(|(_, p)| p.pixel(x, y))
    }

    #[test]
    fn the_old_picture_stays_until_the_new_server_draws() {
        let budget = crate::budget::MemoryBudget::new(1 << 20);
        let mut s = DisplayState::new(Limits::default());
        s.set_budget(&budget);
        s.handle(&create(0, 64, 32, true));
        fill(&mut s, 64, 32, 0x00ff_0000);
        let red = px(&s, 1, 1).unwrap();
        assert_ne!(red, [0, 0, 0, 0]);
        s.forget_server();
        // The new server announces another mode first (QEMU's 640×480 after
        // a live migration): the old picture is painted into it, clipped.
        s.handle(&create(0, 40, 40, true));
        assert_eq!(s.primary().map(|(_, p)| (p.width, p.height)), Some((40, 40)));
        assert_eq!(px(&s, 1, 1), Some(red));
        assert_eq!(px(&s, 39, 31), Some(red));
        assert_eq!(px(&s, 1, 35), Some([0, 0, 0, 0]), "outside the old picture");
        // Then its real mode, before drawing anything: still the old picture.
        s.handle(&DisplayServer::SurfaceDestroy { surface_id: 0 });
        s.handle(&create(0, 80, 40, true));
        assert_eq!(px(&s, 63, 31), Some(red));
        assert_eq!(budget.used(), (64 * 32 + 80 * 40) * 4, "the kept picture is counted");
        // Its first draw: the old picture is let go.
        fill(&mut s, 8, 8, 0x0000_ff00);
        assert_eq!(budget.used(), 80 * 40 * 4);
        s.handle(&DisplayServer::SurfaceDestroy { surface_id: 0 });
        s.handle(&create(0, 80, 40, true));
        assert_eq!(px(&s, 20, 20), Some([0, 0, 0, 0]));
        // MARK lets it go too.
        fill(&mut s, 80, 40, 0x00ff_0000);
        s.forget_server();
        s.handle(&create(0, 16, 16, true));
        assert_eq!(px(&s, 1, 1), Some(red));
        s.handle(&DisplayServer::Mark);
        assert_eq!(budget.used(), 16 * 16 * 4);
        // A picture that would not fit the budget with the new surface gives way.
        s.forget_server();
        s.handle(&create(0, 512, 512, true));
        assert!(s.primary().is_some(), "created: {:?}", s.stats());
        assert_eq!(budget.used(), 512 * 512 * 4);
    }
}
