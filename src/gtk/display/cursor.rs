//! The guest cursor on a [`Display`](super::Display).
//!
//! Client mouse mode: the local pointer *is* the guest pointer, so the guest's
//! shape becomes the widget's `GdkCursor` (a texture with its hot spot),
//! scaled like the guest image. Server mouse mode: the guest moves its own
//! pointer; the layer draws the shape at the guest position in the widget's
//! snapshot (the widget hides or shows the local pointer as it grabs it).
//!
//! Shapes arrive decoded (straight RGBA, [`crate::cursor`]) and shared
//! through `Arc`; a texture is built once per shape and scale.

use crate::client::events::{CursorEvent, CursorShape};
use gtk::prelude::*;
use gtk::{gdk, glib, graphene};
use std::sync::Arc;

/// Largest side of a scaled cursor texture, in device pixels.
const MAX_SCALED_SIDE: f64 = 512.0;

/// The guest cursor state of one display widget.
pub(crate) struct CursorLayer {
    /// The shape last set (kept while hidden, for a later SET FROM_CACHE or mode switch).
    shape: Option<Arc<CursorShape>>,
    /// Texture of `shape` at scale 1, for the snapshot (server mode).
    texture: Option<gdk::MemoryTexture>,
    /// Guest position of the hot spot.
    position: (i32, i32),
    visible: bool,
    /// After RESET: the default pointer, no guest shape.
    reset: bool,
    client_mode: bool,
    /// Guest pixels to logical pixels (the display's zoom), for client mode.
    guest_scale: f64,
}

impl std::fmt::Debug for CursorLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorLayer")
            .field("shape", &self.shape)
            .field("position", &self.position)
            .field("visible", &self.visible)
            .field("client_mode", &self.client_mode)
            .finish_non_exhaustive()
    }
}

impl Default for CursorLayer {
    fn default() -> Self {
        Self::new()
    }
}

/// Nearest-neighbour resampling of straight RGBA by `scale`; returns the new
/// pixels and size, or `None` when nothing needs to change.
fn scale_rgba(rgba: &[u8], width: u16, height: u16, scale: f64) -> Option<(Vec<u8>, usize, usize)> {
    if !scale.is_finite() || (scale - 1.0).abs() < 1e-3 {
        return None;
    }
    let side = |v: u16| -> usize {
        let s = (f64::from(v) * scale).round().clamp(1.0, MAX_SCALED_SIDE);
        // Clamped to 1..=512 just above: the cast cannot truncate or lose a sign.
        s as usize
    };
    let (w, h) = (side(width), side(height));
    let (sw, sh) = (usize::from(width), usize::from(height));
    let mut out = vec![0u8; w * h * 4];
    for (y, row) in out.chunks_exact_mut(w * 4).enumerate() {
        let src_y = (y * sh / h).min(sh.saturating_sub(1));
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            let src_x = (x * sw / w).min(sw.saturating_sub(1));
            let at = (src_y * sw + src_x) * 4;
            if let Some(src) = rgba.get(at..at + 4) {
                px.copy_from_slice(src);
            }
        }
    }
    Some((out, w, h))
}

fn texture(rgba: Vec<u8>, width: usize, height: usize) -> Option<gdk::MemoryTexture> {
    if width == 0 || height == 0 {
        return None;
    }
    let (w, h) = (i32::try_from(width).ok()?, i32::try_from(height).ok()?);
    let bytes = glib::Bytes::from_owned(rgba);
    Some(gdk::MemoryTexture::new(
        w,
        h,
        gdk::MemoryFormat::R8g8b8a8,
        &bytes,
        width * 4,
    ))
}

fn shape_texture(shape: &CursorShape) -> Option<gdk::MemoryTexture> {
    texture(shape.rgba.clone(), usize::from(shape.width), usize::from(shape.height))
}

/// A cursor showing nothing.
fn blank_cursor() -> Option<gdk::Cursor> {
    gdk::Cursor::from_name("none", None)
}

impl CursorLayer {
    pub(crate) fn new() -> Self {
        Self {
            shape: None,
            texture: None,
            position: (0, 0),
            visible: false,
            reset: true,
            client_mode: false,
            guest_scale: 1.0,
        }
    }

    /// The guest shape to show now, if any.
    fn shown(&self) -> Option<&Arc<CursorShape>> {
        self.shape.as_ref().filter(|_| self.visible && !self.reset)
    }

    /// Device pixels per guest pixel for a GdkCursor texture on this widget.
    /// X11 cursors are in device pixels; other backends scale cursor
    /// textures by the surface scale themselves.
    fn cursor_scale(&self, widget: &gtk::Widget) -> f64 {
        let device = if widget.display().type_().name() == "GdkX11Display" {
            f64::from(widget.scale_factor().max(1))
        } else {
            1.0
        };
        self.guest_scale * device
    }

    /// Sets the widget's GdkCursor from the state (client mode only).
    fn apply_cursor(&self, widget: &gtk::Widget) {
        if !self.client_mode {
            return;
        }
        if self.reset {
            widget.set_cursor(None);
            return;
        }
        let Some(shape) = self.shown() else {
            widget.set_cursor(blank_cursor().as_ref());
            return;
        };
        let scale = self.cursor_scale(widget);
        let scaled = scale_rgba(&shape.rgba, shape.width, shape.height, scale);
        let (tex, hot_x, hot_y) = match scaled {
            Some((rgba, w, h)) => {
                let hx = (f64::from(shape.hot_x) * scale).round().clamp(0.0, w as f64);
                let hy = (f64::from(shape.hot_y) * scale).round().clamp(0.0, h as f64);
                // Clamped to the (≤ 512) texture size just above.
                (texture(rgba, w, h), hx as i32, hy as i32)
            }
            None => (self.texture.clone(), i32::from(shape.hot_x), i32::from(shape.hot_y)),
        };
        match tex {
            Some(t) => widget.set_cursor(Some(&gdk::Cursor::from_texture(&t, hot_x, hot_y, None))),
            None => widget.set_cursor(blank_cursor().as_ref()),
        }
    }

    /// Applies a cursor event. In client mouse mode sets the widget's
    /// GdkCursor (texture + hotspot, right at HiDPI scale); returns true when
    /// the widget must redraw (server mode: the layer draws the cursor).
    pub(crate) fn handle(&mut self, event: &CursorEvent, widget: &gtk::Widget) -> bool {
        let was_drawn = self.shown().is_some();
        match event {
            CursorEvent::Set {
                shape, x, y, visible, ..
            } => {
                if !self.shape.as_ref().is_some_and(|s| Arc::ptr_eq(s, shape)) {
                    self.texture = shape_texture(shape);
                    self.shape = Some(Arc::clone(shape));
                }
                self.position = (*x, *y);
                self.visible = *visible;
                self.reset = false;
                self.apply_cursor(widget);
            }
            CursorEvent::Move { x, y } => {
                self.position = (*x, *y);
                // The local pointer is the guest's in client mode: nothing to do.
                return !self.client_mode && was_drawn;
            }
            CursorEvent::Hide => {
                self.visible = false;
                self.apply_cursor(widget);
            }
            CursorEvent::Reset => {
                self.shape = None;
                self.texture = None;
                self.visible = false;
                self.reset = true;
                self.apply_cursor(widget);
            }
            CursorEvent::Trail { .. } => return false,
            // Future event kinds change nothing drawn here.
            #[allow(unreachable_patterns)]
            _ => return false,
        }
        !self.client_mode && (was_drawn || self.shown().is_some())
    }

    /// Switches between client mode (GdkCursor) and server mode (drawn).
    pub(crate) fn set_client_mode(&mut self, client: bool, widget: &gtk::Widget) {
        if self.client_mode == client {
            return;
        }
        self.client_mode = client;
        if client {
            self.apply_cursor(widget);
        } else {
            // The layer draws the guest cursor now; the local pointer is the
            // widget's business (hidden while grabbed).
            widget.set_cursor(None);
            widget.queue_draw();
        }
    }

    /// Sets how many logical pixels a guest pixel takes (the display's zoom),
    /// so the client-mode cursor has the size of the guest's.
    pub(crate) fn set_guest_scale(&mut self, scale: f64, widget: &gtk::Widget) {
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        if (self.guest_scale - scale).abs() > 1e-3 {
            self.guest_scale = scale;
            self.apply_cursor(widget);
        }
    }

    /// Server mode: the shape to draw and its top-left corner in guest
    /// pixels (position minus hot spot); `None` in client mode or hidden.
    #[cfg_attr(not(all(feature = "x11", unix, not(target_os = "macos"))), allow(dead_code))]
    pub(crate) fn drawn(&self) -> Option<(Arc<CursorShape>, (i32, i32))> {
        if self.client_mode {
            return None;
        }
        let shape = self.shown()?;
        let x = self.position.0.saturating_sub(i32::from(shape.hot_x));
        let y = self.position.1.saturating_sub(i32::from(shape.hot_y));
        Some((Arc::clone(shape), (x, y)))
    }

    /// Server mode: draws the guest cursor at its guest position mapped by
    /// `guest_to_widget` and scaled by `scale`.
    pub(crate) fn snapshot(
        &self,
        snapshot: &gtk::Snapshot,
        guest_to_widget: &dyn Fn(f64, f64) -> (f64, f64),
        scale: f64,
    ) {
        if self.client_mode {
            return;
        }
        let (Some(shape), Some(tex)) = (self.shown(), self.texture.as_ref()) else {
            return;
        };
        // The position is the hot spot's: the shape's corner is hot spot pixels up and left.
        let gx = f64::from(self.position.0) - f64::from(shape.hot_x);
        let gy = f64::from(self.position.1) - f64::from(shape.hot_y);
        let (x, y) = guest_to_widget(gx, gy);
        let (w, h) = (f64::from(shape.width) * scale, f64::from(shape.height) * scale);
        let rect = graphene::Rect::new(x as f32, y as f32, w as f32, h as f32);
        snapshot.append_texture(tex, &rect);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::decode_shape;
    use crate::proto::channel::cursor::{CursorHeader, CursorType};

    #[test]
    fn nearest_scaling_keeps_pixels() {
        // 2 x 1: red, green → x2 = 4 x 2.
        let rgba = [255, 0, 0, 255, 0, 255, 0, 255];
        let (out, w, h) = scale_rgba(&rgba, 2, 1, 2.0).unwrap();
        assert_eq!((w, h), (4, 2));
        assert_eq!(&out[0..4], &[255, 0, 0, 255]);
        assert_eq!(&out[4..8], &[255, 0, 0, 255]);
        assert_eq!(&out[8..12], &[0, 255, 0, 255]);
        assert_eq!(&out[16..20], &[255, 0, 0, 255]);
        assert!(scale_rgba(&rgba, 2, 1, 1.0).is_none());
        assert!(scale_rgba(&rgba, 2, 1, f64::NAN).is_none());
        // Tiny scales never reach zero pixels; huge ones are capped.
        assert_eq!(scale_rgba(&rgba, 2, 1, 0.01).map(|(_, w, h)| (w, h)), Some((1, 1)));
        assert_eq!(scale_rgba(&rgba, 2, 1, 1e9).map(|(_, w, h)| (w, h)), Some((512, 512)));
    }

    fn shape() -> Arc<CursorShape> {
        // 3 x 2 ALPHA, hot spot (1, 1).
        let header = CursorHeader {
            unique: 1,
            cursor_type: CursorType::Alpha.to_wire(),
            width: 3,
            height: 2,
            hot_spot_x: 1,
            hot_spot_y: 1,
        };
        Arc::new(decode_shape(&header, &[0xff; 24]).unwrap())
    }

    /// Runs the GTK part in a child process of its own (GTK binds to the
    /// first thread that initialises it); true in that child.
    fn isolated(test: &str) -> bool {
        if std::env::var_os("SUMAC_GTK_ISOLATED").is_some() {
            return true;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env("SUMAC_GTK_ISOLATED", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "isolated run of {test} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        false
    }

    #[test]
    fn client_mode_sets_the_gdk_cursor_and_server_mode_draws() {
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs a display (xvfb-run) for GTK tests"
            );
            eprintln!("skipping: no display (run under xvfb-run)");
            return;
        }
        if !isolated("gtk::display::cursor::tests::client_mode_sets_the_gdk_cursor_and_server_mode_draws") {
            return;
        }
        crate::gtk::init().expect("GTK initialises");
        let widget: gtk::Widget = gtk::DrawingArea::new().upcast();
        let mut layer = CursorLayer::new();
        let s = shape();

        // Client mode: SET gives the widget a texture cursor with the shape's size and hot spot.
        layer.set_client_mode(true, &widget);
        assert!(widget.cursor().is_none(), "default pointer before any SET");
        let set = CursorEvent::Set {
            shape: Arc::clone(&s),
            x: 10,
            y: 20,
            visible: true,
        };
        assert!(!layer.handle(&set, &widget), "client mode never redraws");
        let c = widget.cursor().expect("a GdkCursor after SET");
        let t = c.texture().expect("a texture cursor");
        let device = if widget.display().type_().name() == "GdkX11Display" {
            widget.scale_factor()
        } else {
            1
        };
        assert_eq!((t.width(), t.height()), (3 * device, 2 * device));
        assert_eq!((c.hotspot_x(), c.hotspot_y()), (device, device));
        // Zoom 2: twice the size, hot spot scaled.
        layer.set_guest_scale(2.0, &widget);
        let c = widget.cursor().unwrap();
        assert_eq!(
            c.texture().map(|t| (t.width(), t.height())),
            Some((6 * device, 4 * device))
        );
        assert_eq!((c.hotspot_x(), c.hotspot_y()), (2 * device, 2 * device));
        layer.set_guest_scale(1.0, &widget);
        // HIDE: a blank cursor; RESET: the default pointer.
        assert!(!layer.handle(&CursorEvent::Hide, &widget));
        assert_eq!(widget.cursor().and_then(|c| c.name()).as_deref(), Some("none"));
        assert!(!layer.handle(&CursorEvent::Move { x: 1, y: 1 }, &widget));
        layer.handle(&CursorEvent::Reset, &widget);
        assert!(widget.cursor().is_none());

        // Server mode: SET and MOVE ask for a redraw; the snapshot draws the
        // texture with the hot spot at the mapped guest position.
        layer.set_client_mode(false, &widget);
        assert!(widget.cursor().is_none());
        assert!(layer.handle(&set, &widget));
        assert!(layer.handle(&CursorEvent::Move { x: 50, y: 40 }, &widget));
        let snapshot = gtk::Snapshot::new();
        layer.snapshot(&snapshot, &|x, y| (100.0 + x * 2.0, 5.0 + y * 2.0), 2.0);
        let node = snapshot.to_node().expect("the cursor is drawn");
        let b = node.bounds();
        // Corner = (50 - 1, 40 - 1) guest → (198, 83) widget; size 3x2 x 2.
        assert_eq!((b.x(), b.y(), b.width(), b.height()), (198.0, 83.0, 6.0, 4.0));
        // Hidden: nothing drawn, one last redraw to erase it.
        assert!(layer.handle(&CursorEvent::Hide, &widget));
        let snapshot = gtk::Snapshot::new();
        layer.snapshot(&snapshot, &|x, y| (x, y), 1.0);
        assert!(snapshot.to_node().is_none());
        assert!(
            !layer.handle(&CursorEvent::Move { x: 1, y: 1 }, &widget),
            "hidden: moves need no redraw"
        );
    }
}
