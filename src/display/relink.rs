//! A display state that outlives its server: when the session moves to
//! another server (semi-seamless migration, switch-host, automatic
//! reconnect) the new server creates its surfaces from scratch. Everything
//! but the primary surface is dropped; the primary one stays on screen
//! until the new server's SURFACE_CREATE, which reuses it when its size and
//! format match (as spice-gtk does), so the picture never goes black. A
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
        if self.remove_surface(id) {
            ev.push(DisplayEvent::SurfaceDestroyed { id });
        }
        StalePrimary::Removed
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
}
