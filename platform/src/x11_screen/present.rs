//! Painting the window from the pixmap: `CopyArea` at 100 %, an XRender
//! `Composite` through a scale transform otherwise, black where the image
//! does not reach, then the cursor over it.

use x11rb::protocol::render::{ConnectionExt as _, PictOp, Picture};
use x11rb::protocol::xproto::{ConnectionExt as _, Rectangle};
use x11rb::rust_connection::RustConnection;

use super::geometry::scale_transform;
use super::{Rect, X11Screen};
use crate::x11::X11Error;

impl X11Screen {
    pub(super) fn update_transforms(&mut self) -> Result<(), X11Error> {
        let (sx, sy) = (self.view.scale_x, self.view.scale_y);
        let want = (!self.view.is_one_to_one()).then_some((sx, sy));
        if let Some(image) = &mut self.image
            && let Some(p) = image.picture
            && image.scaled != want
        {
            set_scale(&self.conn, p, want)?;
            image.scaled = want;
        }
        if let Some(c) = &mut self.cursor
            && c.scaled != want
        {
            set_scale(&self.conn, c.picture, want)?;
            c.scaled = want;
        }
        Ok(())
    }

    /// Repaints the window where the image rectangles `areas` are drawn.
    pub fn present(&mut self, areas: &[Rect]) -> Result<(), X11Error> {
        for a in areas {
            if let Some(r) = self.view.image_to_window(a) {
                self.present_window(&r)?;
            }
        }
        Ok(())
    }

    /// Repaints window rectangle `r` from the pixmap, then the cursor over it.
    pub(super) fn present_window(&mut self, r: &Rect) -> Result<(), X11Error> {
        let (Some(geometry), Some(image)) = (
            self.geometry,
            self.image.as_ref().map(|i| (i.pixmap, i.picture, i.width, i.height)),
        ) else {
            return Ok(());
        };
        let (pixmap, picture, width, height) = image;
        let window_rect = Rect {
            x: 0,
            y: 0,
            w: geometry.w,
            h: geometry.h,
        };
        let Some(r) = r.intersect(&window_rect) else {
            return Ok(());
        };
        // Parts of the window the image does not cover (rounding at the
        // edges): black.
        let bounds = self.view.image_bounds(width, height);
        let inside = bounds.and_then(|b| b.intersect(&r));
        if inside != Some(r) {
            self.fill_black_outside(&r, inside.as_ref())?;
        }
        let Some(d) = inside else { return Ok(()) };
        let Some((dx, dy, dw, dh)) = d.to_x() else {
            return Ok(());
        };
        let sx = i64::from(d.x) - i64::from(self.view.origin_x);
        let sy = i64::from(d.y) - i64::from(self.view.origin_y);
        let (Ok(sx), Ok(sy)) = (i16::try_from(sx), i16::try_from(sy)) else {
            return Ok(());
        };
        match (self.view.is_one_to_one(), picture, self.window_picture) {
            (true, _, _) => {
                self.conn
                    .copy_area(pixmap, self.window, self.gc, sx, sy, dx, dy, dw, dh)?;
            }
            (false, Some(src), Some(dst)) => {
                self.conn
                    .render_composite(PictOp::SRC, src, x11rb::NONE, dst, sx, sy, 0, 0, dx, dy, dw, dh)?;
            }
            // Scaled without XRender: the caller does not use this screen then.
            (false, _, _) => {}
        }
        self.draw_cursor(&d)
    }

    pub(super) fn fill_black_outside(&mut self, r: &Rect, inside: Option<&Rect>) -> Result<(), X11Error> {
        let mut rects = Vec::with_capacity(4);
        let push = |v: &mut Vec<Rectangle>, x0: i64, y0: i64, x1: i64, y1: i64| {
            if let Some((x, y, width, height)) = Rect::from_edges(x0, y0, x1, y1).and_then(Rect::to_x) {
                v.push(Rectangle { x, y, width, height });
            }
        };
        match inside {
            None => push(&mut rects, r.x.into(), r.y.into(), r.right(), r.bottom()),
            Some(i) => {
                push(&mut rects, r.x.into(), r.y.into(), r.right(), i.y.into());
                push(&mut rects, r.x.into(), i.bottom(), r.right(), r.bottom());
                push(&mut rects, r.x.into(), i.y.into(), i.x.into(), i.bottom());
                push(&mut rects, i.right(), i.y.into(), r.right(), i.bottom());
            }
        }
        if !rects.is_empty() {
            self.conn.poly_fill_rectangle(self.window, self.gc, &rects)?;
        }
        Ok(())
    }
}

/// Sets `picture`'s transform and filter: scaled by `scale` with a bilinear
/// filter, or 1:1 with the nearest one.
pub(super) fn set_scale(conn: &RustConnection, picture: Picture, scale: Option<(f64, f64)>) -> Result<(), X11Error> {
    match scale {
        Some((sx, sy)) => {
            conn.render_set_picture_transform(picture, scale_transform(sx, sy))?;
            conn.render_set_picture_filter(picture, b"bilinear", &[])?;
        }
        None => {
            conn.render_set_picture_transform(picture, scale_transform(1.0, 1.0))?;
            conn.render_set_picture_filter(picture, b"nearest", &[])?;
        }
    }
    Ok(())
}
