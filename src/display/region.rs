//! Draw regions: the destination box clipped to the surface and to the clip
//! rectangles, as a list of disjoint pixel boxes.

use super::DisplayError;
use crate::proto::channel::display::{Clip, Rect};

/// A non-empty box of pixels `x0..x1` × `y0..y1` inside a surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixBox {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl PixBox {
    /// The part of the box `[l, r) × [t, b)` (any i64 coordinates) inside
    /// `0..w` × `0..h`; `None` when empty.
    pub fn clipped(l: i64, t: i64, r: i64, b: i64, w: usize, h: usize) -> Option<Self> {
        let w = i64::try_from(w).unwrap_or(i64::MAX);
        let h = i64::try_from(h).unwrap_or(i64::MAX);
        let (l, t, r, b) = (l.max(0), t.max(0), r.min(w), b.min(h));
        if l >= r || t >= b {
            return None;
        }
        Some(Self {
            x0: usize::try_from(l).ok()?,
            y0: usize::try_from(t).ok()?,
            x1: usize::try_from(r).ok()?,
            y1: usize::try_from(b).ok()?,
        })
    }

    /// A wire rectangle clipped to `w` × `h`.
    pub fn from_rect(r: &Rect, w: usize, h: usize) -> Option<Self> {
        Self::clipped(
            i64::from(r.left),
            i64::from(r.top),
            i64::from(r.right),
            i64::from(r.bottom),
            w,
            h,
        )
    }

    pub fn intersect(&self, o: &Self) -> Option<Self> {
        let b = Self {
            x0: self.x0.max(o.x0),
            y0: self.y0.max(o.y0),
            x1: self.x1.min(o.x1),
            y1: self.y1.min(o.y1),
        };
        (b.x0 < b.x1 && b.y0 < b.y1).then_some(b)
    }

    pub fn width(&self) -> usize {
        self.x1.saturating_sub(self.x0)
    }

    /// Back to a wire rectangle (for damage reports).
    pub fn to_rect(self) -> Rect {
        let c = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
        Rect::ltrb(c(self.x0), c(self.y0), c(self.x1), c(self.y1))
    }
}

/// Bounding box of a region.
pub fn extents(region: &[PixBox]) -> Option<PixBox> {
    let first = region.first()?;
    Some(region.iter().fold(*first, |a, b| PixBox {
        x0: a.x0.min(b.x0),
        y0: a.y0.min(b.y0),
        x1: a.x1.max(b.x1),
        y1: a.y1.max(b.y1),
    }))
}

/// `bbox ∩ surface ∩ clip` as disjoint boxes, sorted by rows then columns.
///
/// More than `max_rects` clip rectangles is an error: it bounds the work a
/// hostile clip list can cause (hostile-inputs row 17).
pub fn draw_region(
    op: &'static str,
    bbox: &Rect,
    clip: &Clip,
    w: usize,
    h: usize,
    max_rects: usize,
) -> Result<Vec<PixBox>, DisplayError> {
    let Some(area) = PixBox::from_rect(bbox, w, h) else {
        return Ok(Vec::new());
    };
    match clip {
        Clip::None => Ok(vec![area]),
        Clip::Rects(rects) if rects.len() > max_rects => Err(DisplayError::TooManyClipRects {
            op,
            count: rects.len(),
            max: max_rects,
        }),
        Clip::Rects(rects) => {
            let parts: Vec<PixBox> = rects
                .iter()
                .filter_map(|r| PixBox::from_rect(r, w, h)?.intersect(&area))
                .collect();
            Ok(disjoint_union(parts))
        }
    }
}

/// Turns possibly overlapping boxes into disjoint ones covering the same
/// pixels (horizontal bands, vertically merged when they repeat), so that
/// non-idempotent ROPs such as XOR touch every pixel once.
pub fn disjoint_union(mut boxes: Vec<PixBox>) -> Vec<PixBox> {
    if boxes.len() <= 1 {
        return boxes;
    }
    boxes.sort_unstable_by_key(|b| (b.y0, b.x0));
    let mut ys: Vec<usize> = boxes.iter().flat_map(|b| [b.y0, b.y1]).collect();
    ys.sort_unstable();
    ys.dedup();

    let mut out: Vec<PixBox> = Vec::new();
    let mut prev_spans: Vec<(usize, usize)> = Vec::new();
    let mut prev_start = 0usize;
    let mut prev_end_y = usize::MAX;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    // Boxes covering the current band: every y0 and y1 is a band edge, so a
    // box that started at or before `ya` and ends after it spans the band.
    let mut active: Vec<PixBox> = Vec::new();
    let mut pending = boxes.iter().peekable();
    for pair in ys.windows(2) {
        let &[ya, yb] = pair else { continue };
        active.retain(|b| b.y1 > ya);
        while let Some(b) = pending.next_if(|b| b.y0 <= ya) {
            active.push(*b);
        }
        spans.clear();
        spans.extend(active.iter().map(|b| (b.x0, b.x1)));
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for &(a, b) in &spans {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        if !merged.is_empty() && merged == prev_spans && prev_end_y == ya {
            for b in out.iter_mut().skip(prev_start) {
                b.y1 = yb;
            }
        } else {
            prev_start = out.len();
            out.extend(merged.iter().map(|&(x0, x1)| PixBox { x0, y0: ya, x1, y1: yb }));
            prev_spans = merged;
        }
        prev_end_y = yb;
    }
    out
}
