//! The guest cursor of server mouse mode, drawn over the window: an ARGB
//! picture composited after the image ([`X11Screen::set_cursor`],
//! [`X11Screen::move_cursor`]).

use x11rb::connection::Connection as _;
use x11rb::protocol::render::{self, ConnectionExt as _, PictOp, Picture};
use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, ImageFormat, Pixmap};

use super::{BPP, Rect, X11Screen, set_scale};
use crate::x11::X11Error;

/// The guest cursor drawn over the window (server mouse mode).
#[derive(Debug)]
pub(super) struct Cursor {
    pub(super) pixmap: Pixmap,
    pub(super) picture: Picture,
    pub(super) width: u32,
    pub(super) height: u32,
    /// Top-left corner in image pixels (position minus hot spot).
    pub(super) at: Option<(i32, i32)>,
    pub(super) scaled: Option<(f64, f64)>,
}

impl X11Screen {
    /// The window rectangle the cursor covers, if shown.
    pub(super) fn cursor_window_rect(&self) -> Option<Rect> {
        let c = self.cursor.as_ref()?;
        let (x, y) = c.at?;
        self.view.image_to_window(&Rect {
            x,
            y,
            w: c.width,
            h: c.height,
        })
    }

    pub(super) fn draw_cursor(&mut self, within: &Rect) -> Result<(), X11Error> {
        let (Some(c), Some(dst), Some(cr)) = (&self.cursor, self.window_picture, self.cursor_window_rect()) else {
            return Ok(());
        };
        let Some((x, y)) = c.at else { return Ok(()) };
        let Some(d) = cr.intersect(within) else { return Ok(()) };
        let Some((dx, dy, dw, dh)) = d.to_x() else {
            return Ok(());
        };
        // The cursor's top-left corner in window pixels.
        let cx = f64::from(self.view.origin_x) + f64::from(x) * self.view.scale_x;
        let cy = f64::from(self.view.origin_y) + f64::from(y) * self.view.scale_y;
        let (Ok(sx), Ok(sy)) = (
            i16::try_from(i64::from(d.x) - cx.round() as i64),
            i16::try_from(i64::from(d.y) - cy.round() as i64),
        ) else {
            return Ok(());
        };
        self.conn
            .render_composite(PictOp::OVER, c.picture, x11rb::NONE, dst, sx, sy, 0, 0, dx, dy, dw, dh)?;
        Ok(())
    }

    /// Sets the drawn cursor: `rgba` straight (non-premultiplied) RGBA rows
    /// of `width` × 4 bytes; `None` removes it. Needs XRender.
    pub fn set_cursor(&mut self, shape: Option<(&[u8], u32, u32)>) -> Result<(), X11Error> {
        let old = self.cursor_window_rect();
        if let Some(c) = self.cursor.take() {
            self.conn.render_free_picture(c.picture)?;
            self.conn.free_pixmap(c.pixmap)?;
        }
        if let (Some((rgba, width, height)), Some(f)) = (shape, self.formats)
            && width > 0
            && height > 0
        {
            let (w, h) = (
                u16::try_from(width).map_err(|_| X11Error::TooLarge(width, height))?,
                u16::try_from(height).map_err(|_| X11Error::TooLarge(width, height))?,
            );
            let px = usize::from(w) * usize::from(h);
            let mut argb = Vec::with_capacity(px * BPP);
            for p in rgba.chunks_exact(4).take(px) {
                if let [r, g, b, a] = *p {
                    let pm = |c: u8| u8::try_from((u32::from(c) * u32::from(a) + 127) / 255).unwrap_or(u8::MAX);
                    argb.extend_from_slice(&[pm(b), pm(g), pm(r), a]);
                }
            }
            if argb.len() != px * BPP {
                return Err(X11Error::ShortImage);
            }
            let pixmap = self.conn.generate_id()?;
            self.conn.create_pixmap(32, pixmap, self.window, w, h)?;
            let gc = self.conn.generate_id()?;
            self.conn.create_gc(gc, pixmap, &CreateGCAux::new())?;
            self.conn
                .put_image(ImageFormat::Z_PIXMAP, pixmap, gc, w, h, 0, 0, 0, 32, &argb)?;
            self.conn.free_gc(gc)?;
            let picture = self.conn.generate_id()?;
            self.conn
                .render_create_picture(picture, pixmap, f.argb, &render::CreatePictureAux::new())?;
            let want = (!self.view.is_one_to_one()).then_some((self.view.scale_x, self.view.scale_y));
            set_scale(&self.conn, picture, want)?;
            self.cursor = Some(Cursor {
                pixmap,
                picture,
                width,
                height,
                at: None,
                scaled: want,
            });
        }
        if let Some(r) = old {
            self.present_window(&r)?;
        }
        Ok(())
    }

    /// Moves the drawn cursor's top-left corner to image pixel `at` (`None`:
    /// hidden), repainting where it was and where it is.
    pub fn move_cursor(&mut self, at: Option<(i32, i32)>) -> Result<(), X11Error> {
        let Some(c) = &mut self.cursor else { return Ok(()) };
        if c.at == at {
            return Ok(());
        }
        let old = self.cursor_window_rect();
        if let Some(c) = &mut self.cursor {
            c.at = at;
        }
        let new = self.cursor_window_rect();
        let dirty = match (old, new) {
            (Some(a), Some(b)) if a.intersect(&b).is_some() => vec![a.union(&b)],
            (a, b) => a.into_iter().chain(b).collect(),
        };
        for r in dirty {
            self.present_window(&r)?;
        }
        Ok(())
    }
}
