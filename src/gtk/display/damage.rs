//! What a [`Display`](super::Display) shows (its *source*: the primary
//! surface and the monitor rectangle on it), the damage accumulated between
//! two frames, and the bounded copy of damaged rectangles.

use crate::display::{DisplayState, Surface};
use crate::proto::channel::display::Rect;

/// More rectangles than this per frame are merged into their bounding box.
const MAX_RECTS: usize = 64;

/// A rectangle in surface pixels (non-empty when built through [`Area::clip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) w: u32,
    pub(crate) h: u32,
}

impl Area {
    /// `self ∩ other`, `None` when empty.
    pub(crate) fn intersect(&self, other: &Area) -> Option<Area> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = self.x.saturating_add(self.w).min(other.x.saturating_add(other.w));
        let y1 = self.y.saturating_add(self.h).min(other.y.saturating_add(other.h));
        (x1 > x0 && y1 > y0).then(|| Area {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }

    /// The smallest area holding both.
    pub(crate) fn union(&self, other: &Area) -> Area {
        let x0 = self.x.min(other.x);
        let y0 = self.y.min(other.y);
        let x1 = self.x.saturating_add(self.w).max(other.x.saturating_add(other.w));
        let y1 = self.y.saturating_add(self.h).max(other.y.saturating_add(other.h));
        Area {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    fn contains(&self, other: &Area) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.x.saturating_add(other.w) <= self.x.saturating_add(self.w)
            && other.y.saturating_add(other.h) <= self.y.saturating_add(self.h)
    }

    /// A wire rectangle (any coordinates, possibly inverted) as an area, if non-empty.
    pub(crate) fn from_rect(r: &Rect) -> Option<Area> {
        let x0 = u32::try_from(r.left.max(0)).ok()?;
        let y0 = u32::try_from(r.top.max(0)).ok()?;
        let x1 = u32::try_from(r.right.max(0)).ok()?;
        let y1 = u32::try_from(r.bottom.max(0)).ok()?;
        (x1 > x0 && y1 > y0).then(|| Area {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }
}

/// What a layer keeping its own copy of `source` must do to be up to date
/// (see [`catch_up`]).
pub(crate) struct CatchUp {
    /// Moves to replay on the copy first (monitor pixels).
    pub(crate) moves: Vec<crate::display::PlannedMove>,
    /// Then the surface areas to copy.
    pub(crate) areas: Vec<Area>,
    /// The copy's journal position once both are done.
    pub(crate) cursor: Option<crate::display::JournalCursor>,
}

/// Brings a copy of `source` that is at `cursor` in the display state's
/// journal up to date: the moves and drawn areas since, or, without a
/// cursor or when the journal cannot say, the whole monitor rectangle.
/// Call with the state locked.
pub(crate) fn catch_up(
    state: &mut crate::display::DisplayState,
    source: &Source,
    cursor: Option<crate::display::JournalCursor>,
) -> CatchUp {
    let monitor = crate::display::Patch {
        x: source.rect.x,
        y: source.rect.y,
        w: source.rect.w,
        h: source.rect.h,
    };
    match cursor.and_then(|c| state.journal_plan(c, monitor)) {
        Some((plan, next)) => CatchUp {
            areas: plan
                .dirty
                .iter()
                .filter_map(|p| {
                    Some(Area {
                        x: p.x.checked_add(source.rect.x)?,
                        y: p.y.checked_add(source.rect.y)?,
                        w: p.w,
                        h: p.h,
                    })
                })
                .collect(),
            moves: plan.moves,
            cursor: Some(next),
        },
        None => CatchUp {
            moves: Vec::new(),
            areas: vec![source.rect],
            cursor: state.journal_position(),
        },
    }
}

/// What one Display shows: a rectangle of a primary surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) surface_id: u32,
    pub(crate) surface_width: u32,
    pub(crate) surface_height: u32,
    /// The monitor's rectangle on the surface (the whole surface without MONITORS_CONFIG).
    pub(crate) rect: Area,
}

impl Source {
    /// Resolves monitor `monitor_id` of `state`: its head on the primary
    /// surface, clipped to the surface. Without monitor configuration,
    /// monitor 0 is the whole primary surface and others show nothing.
    pub(crate) fn resolve(state: &DisplayState, monitor_id: u32) -> Option<Source> {
        let (surface_id, surface) = state.primary()?;
        let whole = Area {
            x: 0,
            y: 0,
            w: surface.width,
            h: surface.height,
        };
        let heads = state.monitors();
        let rect = match heads.iter().find(|h| h.monitor_id == monitor_id) {
            Some(h) => whole.intersect(&Area {
                x: h.x,
                y: h.y,
                w: h.width,
                h: h.height,
            })?,
            None if heads.is_empty() && monitor_id == 0 => whole.intersect(&whole)?,
            None => return None,
        };
        Some(Source {
            surface_id,
            surface_width: surface.width,
            surface_height: surface.height,
            rect,
        })
    }
}

/// Damage accumulated between two frames.
#[derive(Debug, Default)]
pub(crate) struct Damage {
    rects: Vec<(u32, Area)>,
    full: bool,
}

impl Damage {
    /// Adds a damaged rectangle of surface `surface_id`.
    pub(crate) fn add(&mut self, surface_id: u32, area: Area) {
        if self.full {
            return;
        }
        if self.rects.iter().any(|(s, a)| *s == surface_id && a.contains(&area)) {
            return;
        }
        self.rects.retain(|(s, a)| !(*s == surface_id && area.contains(a)));
        if self.rects.len() >= MAX_RECTS {
            // Bound the work per frame: merge everything of this surface.
            let merged = self
                .rects
                .iter()
                .filter(|(s, _)| *s == surface_id)
                .fold(area, |acc, (_, a)| acc.union(a));
            self.rects.retain(|(s, _)| *s != surface_id);
            self.rects.push((surface_id, merged));
        } else {
            self.rects.push((surface_id, area));
        }
    }

    /// Everything must be redrawn (new surface, new monitor rectangle, new layer).
    pub(crate) fn set_full(&mut self) {
        self.full = true;
        self.rects.clear();
    }

    /// Whether everything must be redrawn.
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// Forgets the damage (a layer following the journal got it from there).
    pub(crate) fn clear(&mut self) {
        self.full = false;
        self.rects.clear();
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        !self.full && self.rects.is_empty()
    }

    /// Takes the damage of `source`: the rectangles clipped to its monitor
    /// rectangle (the whole rectangle after [`Self::set_full`]).
    pub(crate) fn take(&mut self, source: &Source) -> Vec<Area> {
        let full = std::mem::take(&mut self.full);
        let rects = std::mem::take(&mut self.rects);
        if full {
            return vec![source.rect];
        }
        rects
            .into_iter()
            .filter(|(s, _)| *s == source.surface_id)
            .filter_map(|(_, a)| a.intersect(&source.rect))
            .collect()
    }
}

/// Copies `area` of `surface` into `dst` at (`dst_x`, `dst_y`), `dst` having
/// rows of `dst_stride` bytes of 4-byte pixels. Returns false (copying
/// nothing more) when a row would fall outside either buffer.
pub(crate) fn copy_area(
    surface: &Surface,
    area: &Area,
    dst: &mut [u8],
    dst_stride: usize,
    dst_x: u32,
    dst_y: u32,
) -> bool {
    let inside = area.x.checked_add(area.w).is_some_and(|r| r <= surface.width)
        && area.y.checked_add(area.h).is_some_and(|b| b <= surface.height);
    if !inside {
        return false;
    }
    let src = surface.pixels_bgra();
    let src_stride = surface.stride();
    let (Ok(x), Ok(y), Ok(w), Ok(h), Ok(dx), Ok(dy)) = (
        usize::try_from(area.x),
        usize::try_from(area.y),
        usize::try_from(area.w),
        usize::try_from(area.h),
        usize::try_from(dst_x),
        usize::try_from(dst_y),
    ) else {
        return false;
    };
    let Some(row_bytes) = w.checked_mul(4) else {
        return false;
    };
    for row in 0..h {
        let s = y
            .checked_add(row)
            .and_then(|r| r.checked_mul(src_stride))
            .and_then(|o| o.checked_add(x.checked_mul(4)?));
        let d = dy
            .checked_add(row)
            .and_then(|r| r.checked_mul(dst_stride))
            .and_then(|o| o.checked_add(dx.checked_mul(4)?));
        let (Some(s), Some(d)) = (s, d) else { return false };
        let (Some(se), Some(de)) = (s.checked_add(row_bytes), d.checked_add(row_bytes)) else {
            return false;
        };
        let (Some(from), Some(to)) = (src.get(s..se), dst.get_mut(d..de)) else {
            return false;
        };
        to.copy_from_slice(from);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(x: u32, y: u32, w: u32, h: u32) -> Area {
        Area { x, y, w, h }
    }

    fn source() -> Source {
        Source {
            surface_id: 0,
            surface_width: 100,
            surface_height: 100,
            rect: a(0, 0, 100, 100),
        }
    }

    #[test]
    fn areas_from_wire_rects_are_clipped_and_non_empty() {
        let r = Rect {
            left: -5,
            top: 2,
            right: 10,
            bottom: 4,
        };
        assert_eq!(Area::from_rect(&r), Some(a(0, 2, 10, 2)));
        let inverted = Rect {
            left: 10,
            top: 0,
            right: 5,
            bottom: 5,
        };
        assert_eq!(Area::from_rect(&inverted), None);
        assert_eq!(a(0, 0, 10, 10).intersect(&a(5, 5, 10, 10)), Some(a(5, 5, 5, 5)));
        assert_eq!(a(0, 0, 10, 10).intersect(&a(10, 0, 10, 10)), None);
        assert_eq!(
            a(u32::MAX - 1, 0, 10, 1).intersect(&a(0, 0, u32::MAX, 1)),
            Some(a(u32::MAX - 1, 0, 1, 1))
        );
    }

    #[test]
    fn damage_drops_contained_rects_and_other_surfaces() {
        let mut d = Damage::default();
        d.add(0, a(10, 10, 5, 5));
        d.add(0, a(0, 0, 50, 50));
        d.add(0, a(1, 1, 2, 2));
        d.add(7, a(0, 0, 100, 100));
        d.add(0, a(90, 90, 20, 20));
        let taken = d.take(&source());
        assert_eq!(taken, vec![a(0, 0, 50, 50), a(90, 90, 10, 10)]);
        assert!(d.is_empty());
    }

    #[test]
    fn damage_is_bounded() {
        let mut d = Damage::default();
        for i in 0..200 {
            d.add(0, a(i % 100, i / 2, 1, 1));
        }
        assert!(d.rects.len() <= MAX_RECTS);
        let taken = d.take(&source());
        for i in 0..200u32 {
            let p = a(i % 100, i / 2, 1, 1);
            assert!(taken.iter().any(|t| t.contains(&p)), "{p:?} lost");
        }
    }

    #[test]
    fn full_damage_is_the_monitor_rect() {
        let mut d = Damage::default();
        d.add(0, a(1, 1, 1, 1));
        d.set_full();
        d.add(0, a(2, 2, 1, 1));
        let mut s = source();
        s.rect = a(10, 0, 50, 20);
        assert_eq!(d.take(&s), vec![a(10, 0, 50, 20)]);
        d.add(0, a(0, 0, 15, 5));
        assert_eq!(d.take(&s), vec![a(10, 0, 5, 5)]);
    }

    #[test]
    fn copy_area_copies_only_the_rect_and_refuses_overflow() {
        use crate::display::SurfaceFormat;
        let mut surface = Surface::new(0, 4, 3, SurfaceFormat::Xrgb32, true).unwrap();
        for (i, b) in surface.pixels_mut().iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap();
        }
        // A 2x2 destination receiving pixels (1,1)..(3,3).
        let mut dst = vec![0u8; 2 * 2 * 4];
        assert!(copy_area(&surface, &a(1, 1, 2, 2), &mut dst, 8, 0, 0));
        let row1: Vec<u8> = (20..28).collect();
        let row2: Vec<u8> = (36..44).collect();
        assert_eq!(&dst[..8], &row1[..]);
        assert_eq!(&dst[8..], &row2[..]);
        // Outside the source or the destination: refused, nothing written out of bounds.
        let mut small = vec![0u8; 4];
        assert!(!copy_area(&surface, &a(3, 2, 2, 1), &mut small, 4, 0, 0));
        assert!(!copy_area(&surface, &a(0, 0, 2, 1), &mut small, 4, 0, 0));
    }
}
