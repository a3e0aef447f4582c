//! DRAW_STROKE: paths of lines and cubic béziers in 28.4 fixed point, drawn
//! as thin (zero-width) lines the way spice-common does: béziers are
//! flattened by its subdivision rule, points rounded with its `fix_to_int`,
//! and each line drawn with X11's zero-width Bresenham (default octant bias,
//! cap "not last").
//!
//! Styled (dashed) lines use spice-common's dash list: each 28.4 segment
//! length rounded by `fix_to_int` and kept to 8 bits, START_WITH_GAP rotating
//! the list and starting one dash in, the pattern running on along a
//! polyline and restarting at each subpath, even entries drawn. Dash
//! positions are measured along the line's Euclidean length. spice-common
//! draws dashed lines as one-pixel-wide polygons (X11's `miWideDash`): for
//! horizontal and vertical lines that covers exactly the thin line's pixels,
//! which is what is drawn here; on slanted lines the pixels at dash ends and
//! corners may differ from it.

use super::{Paint, PixBox, combine_row, extents};
use crate::display::{DisplayState, DrawResult, Rop};
use crate::proto::channel::display::{DisplayBase, PointFix, StrokeOp, line_flags, msg, path_flags, ropd};

/// Most points one stroke may produce after bézier flattening.
const MAX_POINTS: usize = 1 << 20;
/// Pixel visits allowed per pixel of the draw box (then the stroke stops).
const VISIT_FACTOR: u64 = 16;
/// Pixel visits always allowed.
const MIN_BUDGET: u64 = 1 << 16;
/// Deepest bézier subdivision (2¹² lines per curve at most).
const MAX_DEPTH: u32 = 12;

/// X11's default thin-line bias: octants 2, 3, 4 and 5 prefer the axial step.
const BIAS: u32 = (1 << 3) | (1 << 7) | (1 << 6) | (1 << 4);
const XDECREASING: u32 = 4;
const YDECREASING: u32 = 2;
const YMAJOR: u32 = 1;

/// spice-common's 28.4 → integer rounding (fractions above one half round up).
pub fn fix_to_int(v: i32) -> i32 {
    let val = v >> 4;
    if v & 0x0f > 8 { val.saturating_add(1) } else { val }
}

fn dot(x1: i64, y1: i64, x2: i64, y2: i64) -> i128 {
    (i128::from(x1) * i128::from(x2) + i128::from(y1) * i128::from(y2)) >> 4
}

type Fix = (i64, i64);

fn mid(a: Fix, b: Fix) -> Fix {
    ((a.0 + b.0) / 2, (a.1 + b.1) / 2)
}

fn fix_point(p: Fix) -> (i32, i32) {
    let c = |v: i64| fix_to_int(i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX }));
    (c(p.0), c(p.1))
}

/// Flattens one cubic curve, appending the end points of its lines.
fn subdivide(out: &mut Vec<(i32, i32)>, p: [Fix; 4], depth: u32) {
    let [p0, p1, p2, p3] = p;
    let a2 = dot(p1.0 - p0.0, p1.1 - p0.1, p1.0 - p0.0, p1.1 - p0.1);
    let b2 = dot(p3.0 - p0.0, p3.1 - p0.1, p3.0 - p0.0, p3.1 - p0.1);
    let c2 = dot(p2.0 - p3.0, p2.1 - p3.1, p2.0 - p3.0, p2.1 - p3.1);
    let ab = dot(p1.0 - p0.0, p1.1 - p0.1, p3.0 - p0.0, p3.1 - p0.1);
    let cb = dot(p2.0 - p3.0, p2.1 - p3.1, p0.0 - p3.0, p0.1 - p3.1);
    let h1 = (a2 * b2 - ab * ab) >> 3;
    let h2 = (c2 * b2 - cb * cb) >> 3;
    if (h1 < b2 && h2 < b2) || depth >= MAX_DEPTH || out.len() >= MAX_POINTS {
        out.push(fix_point(p3));
        return;
    }
    let (p01, p12, p23) = (mid(p0, p1), mid(p1, p2), mid(p2, p3));
    let (p012, p123) = (mid(p01, p12), mid(p12, p23));
    let p0123 = mid(p012, p123);
    subdivide(out, [p0, p01, p012, p0123], depth + 1);
    subdivide(out, [p0123, p123, p23, p3], depth + 1);
}

fn fix(p: &PointFix) -> (i32, i32) {
    (fix_to_int(p.x), fix_to_int(p.y))
}

/// The polylines of a path, in drawing order; `false` when spice would stop
/// early (a bézier segment whose point count is not a multiple of 3).
fn polylines(stroke: &StrokeOp) -> (Vec<Vec<(i32, i32)>>, bool) {
    let mut out = Vec::new();
    let mut cur: Vec<(i32, i32)> = Vec::new();
    let mut total = 0usize;
    for seg in &stroke.path {
        let mut pts = seg.points.as_slice();
        if seg.flags & path_flags::BEGIN != 0 {
            total = total.saturating_add(cur.len());
            out.push(std::mem::take(&mut cur));
            if let Some((first, rest)) = pts.split_first() {
                cur.push(fix(first));
                pts = rest;
            }
        }
        if seg.flags & path_flags::BEZIER != 0 {
            if !pts.len().is_multiple_of(3) {
                out.push(cur);
                return (out, false);
            }
            for c in pts.chunks_exact(3) {
                let (Some(&(x0, y0)), [a, b, e]) = (cur.last(), c) else {
                    continue;
                };
                let f = |p: &PointFix| (i64::from(p.x), i64::from(p.y));
                let start = (i64::from(x0) << 4, i64::from(y0) << 4);
                subdivide(&mut cur, [start, f(a), f(b), f(e)], 0);
            }
        } else {
            cur.extend(pts.iter().map(fix));
        }
        if seg.flags & path_flags::END != 0 {
            if seg.flags & path_flags::CLOSE != 0
                && let Some(&p) = cur.first()
            {
                cur.push(p);
            }
            total = total.saturating_add(cur.len());
            out.push(std::mem::take(&mut cur));
        }
        if total.saturating_add(cur.len()) >= MAX_POINTS {
            break;
        }
    }
    out.push(cur);
    (out, true)
}

/// Whether pixel (x, y) is in a banded region (boxes sorted by rows).
fn contains(region: &[PixBox], x: usize, y: usize) -> bool {
    let start = region.partition_point(|b| b.y1 <= y);
    region
        .iter()
        .skip(start)
        .take_while(|b| b.y0 <= y)
        .any(|b| b.y0 <= y && y < b.y1 && b.x0 <= x && x < b.x1)
}

/// Smallest `i` in `lo..hi` with `pred(i)` for a monotonic `pred` (or `hi`).
fn first_true(mut lo: i64, mut hi: i64, pred: impl Fn(i64) -> bool) -> i64 {
    while lo < hi {
        let m = lo + (hi - lo) / 2;
        if pred(m) { hi = m } else { lo = m + 1 }
    }
    lo
}

/// Pixels of the zero-width line `a → b` (end point excluded) that lie in
/// `ext`, in drawing order, handed to `put`. Returns the pixels visited.
fn zero_line(a: (i32, i32), b: (i32, i32), ext: &PixBox, put: &mut impl FnMut(usize, usize, i64)) -> u64 {
    let (x1, y1, x2, y2) = (i64::from(a.0), i64::from(a.1), i64::from(b.0), i64::from(b.1));
    let (adx, ady) = ((x2 - x1).abs(), (y2 - y1).abs());
    let (sx, sy) = (if x2 < x1 { -1 } else { 1 }, if y2 < y1 { -1 } else { 1 });
    let mut octant = 0;
    if x2 < x1 {
        octant |= XDECREASING;
    }
    if y2 < y1 {
        octant |= YDECREASING;
    }
    let x_major = adx > ady;
    if !x_major {
        octant |= YMAJOR;
    }
    let fixup = i64::from((BIAS >> octant) & 1);
    let (major, minor) = if x_major { (adx, ady) } else { (ady, adx) };
    if major == 0 {
        return 0;
    }
    let (m0, n0, sm, sn) = if x_major { (x1, y1, sx, sy) } else { (y1, x1, sy, sx) };
    let to_i = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    let (mlo, mhi, nlo, nhi) = if x_major {
        (to_i(ext.x0), to_i(ext.x1), to_i(ext.y0), to_i(ext.y1))
    } else {
        (to_i(ext.y0), to_i(ext.y1), to_i(ext.x0), to_i(ext.x1))
    };
    // Bresenham in closed form: the minor coordinate of step i.
    let e0 = -major - fixup;
    let e1 = 2 * minor;
    let minor_at = |i: i64| n0 + sn * ((e0 + i * e1).div_euclid(2 * major) + 1);
    // Steps whose major coordinate is inside the box.
    let (ilo, ihi) = if sm > 0 {
        (mlo - m0, mhi - m0)
    } else {
        (m0 - mhi + 1, m0 - mlo + 1)
    };
    let (mut ilo, mut ihi) = (ilo.max(0), ihi.min(major));
    if ilo >= ihi {
        return 0;
    }
    // The minor coordinate is monotonic in i: narrow to the box's rows too.
    if sn > 0 {
        ilo = first_true(ilo, ihi, |i| minor_at(i) >= nlo);
        ihi = first_true(ilo, ihi, |i| minor_at(i) >= nhi);
    } else {
        ilo = first_true(ilo, ihi, |i| minor_at(i) < nhi);
        ihi = first_true(ilo, ihi, |i| minor_at(i) < nlo);
    }
    for i in ilo..ihi {
        let (m, n) = (m0 + sm * i, minor_at(i));
        let (x, y) = if x_major { (m, n) } else { (n, m) };
        if let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) {
            put(x, y, i);
        }
    }
    u64::try_from(ihi - ilo).unwrap_or(0)
}

/// A dash pattern (X11 on/off dashes as spice-common sets them up).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Dashes {
    /// Lengths in pixels; even entries are drawn.
    lens: Vec<u32>,
    total: u32,
    /// Where each polyline starts in the pattern.
    offset: u32,
}

impl Dashes {
    /// The pattern of a STYLED line (`None`: one spice-common cannot draw,
    /// an empty list or one whose dashes are all empty).
    pub(super) fn new(style: &[i32], start_with_gap: bool) -> Option<Self> {
        // spice-common keeps each length in an unsigned char.
        let mut lens: Vec<u32> = style
            .iter()
            .map(|&v| u32::from(fix_to_int(v).to_le_bytes()[0]))
            .collect();
        if lens.is_empty() {
            // spice-common would index the list at -1 with START_WITH_GAP.
            return None;
        }
        let mut offset = 0;
        if start_with_gap {
            lens.rotate_left(1);
            offset = *lens.first()?;
        }
        let total: u32 = lens.iter().sum();
        (total > 0).then(|| Self {
            offset: offset % total,
            lens,
            total,
        })
    }

    /// Whether the point `pos` pixels into the pattern is in a drawn dash.
    pub(super) fn on(&self, pos: f64) -> bool {
        let total = f64::from(self.total);
        let mut q = pos.rem_euclid(total);
        for (i, &len) in self.lens.iter().enumerate() {
            let len = f64::from(len);
            if q < len {
                return i % 2 == 0;
            }
            q -= len;
        }
        false
    }
}

impl DisplayState {
    pub(super) fn draw_stroke(&mut self, base: &DisplayBase, s: &StrokeOp) -> DrawResult {
        const OP: &str = "draw_stroke";
        let (format, region) = self.masked_region(OP, base, None)?;
        let Some(ext) = extents(&region) else {
            return Ok(None);
        };
        let dashes = if s.attr.flags & line_flags::STYLED != 0 {
            let gap = s.attr.flags & line_flags::START_WITH_GAP != 0;
            Some(Dashes::new(&s.attr.style, gap).ok_or_else(|| Self::unsupported_op(OP, msg::DRAW_STROKE))?)
        } else {
            None
        };
        let rop = Rop::from_descriptor(s.fore_mode, ropd::INVERS_BRUSH);
        let paint: Paint<'_> = self.resolve_brush(OP, &s.brush, format)?;
        let (lines, _complete) = polylines(s);
        let surface = self.surface_mut(OP, base.surface_id)?;
        let mut buf = Vec::new();
        let mut drawn: Option<PixBox> = None;
        // Step `i` of a line starting `dash_pos` into the dash pattern, each
        // Bresenham step going `step` along it.
        let mut put = |x: usize, y: usize, i: i64, dash_pos: f64, step: f64| {
            #[allow(clippy::cast_precision_loss)]
            let at = dash_pos + i as f64 * step;
            if dashes.as_ref().is_some_and(|d| !d.on(at)) || !contains(&region, x, y) {
                return;
            }
            paint.row(y, x, x.saturating_add(1), &mut buf);
            if let Some(dst) = surface.row_mut(y, x, x.saturating_add(1)) {
                combine_row(dst, &buf, rop);
                let p = PixBox {
                    x0: x,
                    y0: y,
                    x1: x.saturating_add(1),
                    y1: y.saturating_add(1),
                };
                drawn = Some(drawn.map_or(p, |d| extents(&[d, p]).unwrap_or(d)));
            }
        };
        // Each line visits at most the box's longer side; the budget bounds
        // a flood of lines crossing the same box.
        let area = u64::try_from(ext.width().saturating_mul(ext.y1.saturating_sub(ext.y0))).unwrap_or(u64::MAX);
        let budget = area.saturating_mul(VISIT_FACTOR).max(MIN_BUDGET);
        let mut spent = 0u64;
        'lines: for line in &lines {
            let mut dash_pos = dashes.as_ref().map_or(0.0, |d| f64::from(d.offset));
            for pair in line.windows(2) {
                if let [a, b] = pair {
                    let (dx, dy) = (f64::from(b.0) - f64::from(a.0), f64::from(b.1) - f64::from(a.1));
                    let major = dx.abs().max(dy.abs());
                    let len = if dx == 0.0 || dy == 0.0 { major } else { dx.hypot(dy) };
                    let step = if major > 0.0 { len / major } else { 1.0 };
                    let (p, st) = (dash_pos, step);
                    spent = spent
                        .saturating_add(zero_line(*a, *b, &ext, &mut |x, y, i| put(x, y, i, p, st)))
                        .saturating_add(1);
                    dash_pos += len;
                    if spent > budget {
                        break 'lines;
                    }
                }
            }
        }
        Ok(drawn)
    }
}
