//! Rectangles and the image-to-window mapping of the X11 screen layer
//! (plain math, tested without an X server).

use x11rb::protocol::render::Transform;

/// A rectangle in window or image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left.
    pub x: i32,
    /// Top.
    pub y: i32,
    /// Width (a rectangle with 0 width or height is empty).
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// A rectangle from its corners (empty when inverted).
    pub(super) fn from_edges(x0: i64, y0: i64, x1: i64, y1: i64) -> Option<Rect> {
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        Some(Rect {
            x: i32::try_from(x0).ok()?,
            y: i32::try_from(y0).ok()?,
            w: u32::try_from(x1 - x0).ok()?,
            h: u32::try_from(y1 - y0).ok()?,
        })
    }

    pub(super) fn right(&self) -> i64 {
        i64::from(self.x) + i64::from(self.w)
    }

    pub(super) fn bottom(&self) -> i64 {
        i64::from(self.y) + i64::from(self.h)
    }

    /// `self ∩ other`, `None` when empty.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        Rect::from_edges(
            i64::from(self.x.max(other.x)),
            i64::from(self.y.max(other.y)),
            self.right().min(other.right()),
            self.bottom().min(other.bottom()),
        )
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        Rect::from_edges(
            i64::from(self.x.min(other.x)),
            i64::from(self.y.min(other.y)),
            self.right().max(other.right()),
            self.bottom().max(other.bottom()),
        )
        .unwrap_or(*self)
    }

    /// As the protocol's 16-bit rectangle, `None` if it does not fit.
    pub(super) fn to_x(self) -> Option<(i16, i16, u16, u16)> {
        Some((
            i16::try_from(self.x).ok()?,
            i16::try_from(self.y).ok()?,
            u16::try_from(self.w).ok()?,
            u16::try_from(self.h).ok()?,
        ))
    }
}

/// Where the guest image is drawn in the window: its top-left corner in
/// window pixels (may be negative when zoomed past the window) and how many
/// window pixels one image pixel takes on each axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Image origin, window x.
    pub origin_x: i32,
    /// Image origin, window y.
    pub origin_y: i32,
    /// Window pixels per image pixel, horizontally.
    pub scale_x: f64,
    /// Window pixels per image pixel, vertically.
    pub scale_y: f64,
}

impl Default for View {
    fn default() -> Self {
        View {
            origin_x: 0,
            origin_y: 0,
            scale_x: 1.0,
            scale_y: 1.0,
        }
    }
}

impl View {
    /// One image pixel per window pixel.
    pub fn is_one_to_one(&self) -> bool {
        (self.scale_x - 1.0).abs() < 1e-9 && (self.scale_y - 1.0).abs() < 1e-9
    }

    /// The window pixels an image rectangle covers (with one more pixel
    /// around it when scaled: the filter reads neighbours).
    pub fn image_to_window(&self, r: &Rect) -> Option<Rect> {
        if self.is_one_to_one() {
            return Rect::from_edges(
                i64::from(self.origin_x) + i64::from(r.x),
                i64::from(self.origin_y) + i64::from(r.y),
                i64::from(self.origin_x) + r.right(),
                i64::from(self.origin_y) + r.bottom(),
            );
        }
        let map = |o: i32, v: i64, s: f64| f64::from(o) + v as f64 * s;
        let x0 = map(self.origin_x, i64::from(r.x), self.scale_x).floor() - 1.0;
        let y0 = map(self.origin_y, i64::from(r.y), self.scale_y).floor() - 1.0;
        let x1 = map(self.origin_x, r.right(), self.scale_x).ceil() + 1.0;
        let y1 = map(self.origin_y, r.bottom(), self.scale_y).ceil() + 1.0;
        if ![x0, y0, x1, y1].iter().all(|v| v.is_finite() && v.abs() < 1e9) {
            return None;
        }
        // Finite and far inside i64 (checked just above).
        Rect::from_edges(x0 as i64, y0 as i64, x1 as i64, y1 as i64)
    }

    /// The window rectangle the whole `w` × `h` image covers.
    pub fn image_bounds(&self, w: u32, h: u32) -> Option<Rect> {
        let x1 = f64::from(self.origin_x) + f64::from(w) * self.scale_x;
        let y1 = f64::from(self.origin_y) + f64::from(h) * self.scale_y;
        if !(x1.is_finite() && y1.is_finite() && x1.abs() < 1e9 && y1.abs() < 1e9) {
            return None;
        }
        Rect::from_edges(
            i64::from(self.origin_x),
            i64::from(self.origin_y),
            x1.round() as i64,
            y1.round() as i64,
        )
    }
}

/// A 16.16 fixed-point value as XRender wants it.
fn fixed(v: f64) -> i32 {
    let f = (v * 65536.0).round();
    if f.is_finite() {
        // Clamped to the i32 range just before: the cast is exact.
        f.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
    } else {
        0
    }
}

/// The transform sampling an image scaled by (`sx`, `sy`): window → image.
pub(super) fn scale_transform(sx: f64, sy: f64) -> Transform {
    let one = fixed(1.0);
    Transform {
        matrix11: fixed(1.0 / sx),
        matrix12: 0,
        matrix13: 0,
        matrix21: 0,
        matrix22: fixed(1.0 / sy),
        matrix23: 0,
        matrix31: 0,
        matrix32: 0,
        matrix33: one,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_one_maps_exactly() {
        let v = View {
            origin_x: 10,
            origin_y: -5,
            ..View::default()
        };
        assert!(v.is_one_to_one());
        let r = v.image_to_window(&Rect { x: 3, y: 4, w: 5, h: 6 }).unwrap();
        assert_eq!(
            r,
            Rect {
                x: 13,
                y: -1,
                w: 5,
                h: 6
            }
        );
        assert_eq!(
            v.image_bounds(100, 50),
            Some(Rect {
                x: 10,
                y: -5,
                w: 100,
                h: 50
            })
        );
    }

    #[test]
    fn scaled_rects_grow_by_the_filter_reach() {
        let v = View {
            origin_x: 0,
            origin_y: 0,
            scale_x: 0.5,
            scale_y: 2.0,
        };
        let r = v
            .image_to_window(&Rect {
                x: 10,
                y: 10,
                w: 10,
                h: 10,
            })
            .unwrap();
        // x: 5..10 → 4..11; y: 20..40 → 19..41.
        assert_eq!(
            r,
            Rect {
                x: 4,
                y: 19,
                w: 7,
                h: 22
            }
        );
        assert_eq!(
            v.image_bounds(640, 480),
            Some(Rect {
                x: 0,
                y: 0,
                w: 320,
                h: 960
            })
        );
        let nan = View { scale_x: f64::NAN, ..v };
        assert_eq!(nan.image_to_window(&Rect { x: 0, y: 0, w: 1, h: 1 }), None);
    }

    #[test]
    fn rect_ops() {
        let a = Rect {
            x: 0,
            y: 0,
            w: 10,
            h: 10,
        };
        let b = Rect {
            x: 5,
            y: 5,
            w: 10,
            h: 10,
        };
        assert_eq!(a.intersect(&b), Some(Rect { x: 5, y: 5, w: 5, h: 5 }));
        assert_eq!(
            a.union(&b),
            Rect {
                x: 0,
                y: 0,
                w: 15,
                h: 15
            }
        );
        assert_eq!(
            a.intersect(&Rect {
                x: 10,
                y: 0,
                w: 3,
                h: 3
            }),
            None
        );
        assert_eq!(
            Rect {
                x: 40000,
                y: 0,
                w: 1,
                h: 1
            }
            .to_x(),
            None
        );
    }

    #[test]
    fn fixed_point() {
        assert_eq!(fixed(1.0), 65536);
        assert_eq!(fixed(0.5), 32768);
        assert_eq!(fixed(f64::INFINITY), 0);
        let t = scale_transform(2.0, 0.5);
        assert_eq!((t.matrix11, t.matrix22, t.matrix33), (32768, 131072, 65536));
    }
}
