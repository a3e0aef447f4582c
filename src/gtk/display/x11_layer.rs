//! The X11 screen layer (feature `x11`): the guest monitor in a child X
//! window of the toplevel, painted by the X server from a pixmap
//! ([`sumac_platform::x11_screen`]).
//!
//! GSK is not involved in showing guest pixels: a damaged rectangle goes
//! from the shared surface to the X server once (`PutImage`, written from the
//! surface rows while the display state is locked) and the server copies it
//! into the window (scaled with XRender when the zoom is not 100 %). GTK
//! draws nothing per update; exposures are repainted by the server from the
//! pixmap. The cost of an update on the client is one copy of the changed
//! pixels into the socket, as for any X11 program. Moved pixels (COPY_BITS:
//! a scrolling terminal, a window dragged in the guest) are not sent again:
//! the layer follows the display state's journal and has the X server move
//! them in the pixmap (`CopyArea`).
//!
//! The window covers the part of the widget the guest image occupies, and is
//! unmapped while the overlay (connecting, error) shows or the widget is
//! unmapped. Pointer events pass through it to GTK (empty input shape).

use super::damage::{Area, Source, catch_up};
use super::imp::Sink;
use crate::client::events::CursorShape;
use crate::display::{DisplayState, JournalCursor, Surface};
use gtk::prelude::*;
use gtk::{gio, glib, graphene};
use std::sync::Arc;
use sumac_platform::x11_screen::{Dispatched, Rect, View, X11Screen};

/// The layer of one display widget.
#[derive(Debug, Default)]
pub(crate) struct X11Layer {
    /// The X side, once the widget is realized.
    screen: Option<X11Screen>,
    watch: Option<glib::SourceId>,
    /// The monitor rectangle (on the surface) the pixmap holds.
    rect: Option<Area>,
    /// Image rectangles sent since the last present.
    sent: Vec<Rect>,
    /// The cursor shape given to the screen (server mouse mode).
    cursor: Option<Arc<CursorShape>>,
    /// The first failure; the widget then falls back to cairo.
    failed: Option<String>,
    /// Where the pixmap is in the display state's journal (`None`: it must
    /// be sent whole).
    journal: Option<JournalCursor>,
}

/// Where the window goes and how the image is drawn in it, from the widget.
pub(crate) struct Geometry {
    pub(crate) window: Option<Rect>,
    pub(crate) view: View,
}

impl X11Layer {
    /// Whether `widget`'s display is an X11 one (the layer can work).
    pub(crate) fn available(widget: &gtk::Widget) -> bool {
        widget.display().downcast_ref::<gdk4_x11::X11Display>().is_some()
    }

    /// Creates the child window in `widget`'s toplevel (realized).
    pub(crate) fn realize(&mut self, widget: &gtk::Widget) -> Result<(), String> {
        if self.screen.is_some() {
            return Ok(());
        }
        let display = widget.display();
        if display.downcast_ref::<gdk4_x11::X11Display>().is_none() {
            return Err("GTK does not run on X11".to_owned());
        }
        let parent = widget
            .native()
            .and_then(|n| n.surface())
            .and_then(|s| s.downcast::<gdk4_x11::X11Surface>().ok())
            .map(|s| s.xid())
            .and_then(|xid| u32::try_from(xid).ok())
            .ok_or_else(|| "the toplevel has no X window yet".to_owned())?;
        let screen = X11Screen::new(display.name().as_str(), parent).map_err(|e| e.to_string())?;
        tracing::info!(
            window = screen.window(),
            parent,
            render = screen.can_scale(),
            shm = screen.uses_shm(),
            "X11 screen layer created"
        );
        self.screen = Some(screen);
        self.rect = None;
        self.cursor = None;
        self.journal = None;
        Ok(())
    }

    /// Destroys the window (the widget is unrealized).
    pub(crate) fn unrealize(&mut self) {
        if let Some(w) = self.watch.take() {
            w.remove();
        }
        self.screen = None;
        self.rect = None;
        self.sent.clear();
        self.cursor = None;
        self.journal = None;
    }

    pub(crate) fn is_realized(&self) -> bool {
        self.screen.is_some()
    }

    /// Whether the server can draw this geometry (scaling needs XRender).
    pub(crate) fn supports(&self, view: &View) -> bool {
        view.is_one_to_one() || self.screen.as_ref().is_some_and(X11Screen::can_scale)
    }

    /// The first error met, if any (the widget should switch to cairo).
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn fail(&mut self, what: &str, e: impl std::fmt::Display) {
        if self.failed.is_none() {
            self.failed = Some(format!("X11 screen layer: {what}: {e}"));
        }
    }

    /// Watches the X connection on the main loop: `f` runs when the server
    /// sent something (exposures, errors).
    pub(crate) fn watch(&mut self, mut f: impl FnMut() -> glib::ControlFlow + 'static) -> Result<(), String> {
        let Some(screen) = &self.screen else { return Ok(()) };
        let fd = screen.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?;
        let socket = gio::Socket::from_fd(fd).map_err(|e| e.to_string())?;
        let source = gio::prelude::SocketExtManual::create_source(
            &socket,
            glib::IOCondition::IN | glib::IOCondition::ERR | glib::IOCondition::HUP,
            None::<&gio::Cancellable>,
            Some("sumac-x11-screen"),
            glib::Priority::DEFAULT,
            move |_, _| f(),
        );
        if let Some(old) = self.watch.replace(source.attach(None)) {
            old.remove();
        }
        Ok(())
    }

    /// Handles what the server sent (exposures are repainted there); records
    /// an X error as the layer's failure.
    pub(crate) fn dispatch(&mut self) {
        let Some(screen) = &mut self.screen else { return };
        match screen.dispatch() {
            Ok(Dispatched { error: Some(e), .. }) => self.fail("the X server refused a request", e),
            Ok(_) => {
                if let Err(e) = screen.flush() {
                    self.fail("flush", e);
                }
            }
            Err(e) => self.fail("connection", e),
        }
    }

    /// Applies the widget's geometry and the drawn cursor, shows what was
    /// sent since the last call and flushes.
    pub(crate) fn present(&mut self, geometry: &Geometry, cursor: Option<(Arc<CursorShape>, (i32, i32))>) {
        let Some(screen) = &mut self.screen else { return };
        let rect = self.rect;
        let result = (|| {
            screen.set_geometry(geometry.window, geometry.view)?;
            let shape = cursor.as_ref().map(|(s, _)| s);
            let same = match (shape, &self.cursor) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                screen.set_cursor(shape.map(|s| (&s.rgba[..], u32::from(s.width), u32::from(s.height))))?;
                self.cursor = shape.cloned();
            }
            // Cursor positions are on the surface; the image starts at the monitor's corner.
            let at = cursor.as_ref().map(|(_, (x, y))| {
                let (ox, oy) = rect.map_or((0, 0), |r| (r.x, r.y));
                (
                    x.saturating_sub(i32::try_from(ox).unwrap_or(i32::MAX)),
                    y.saturating_sub(i32::try_from(oy).unwrap_or(i32::MAX)),
                )
            });
            screen.move_cursor(at)?;
            if screen.is_shown() {
                screen.present(&self.sent)?;
            }
            self.sent.clear();
            screen.flush()
        })();
        if let Err(e) = result {
            self.fail("drawing", e);
        }
        self.dispatch();
    }

    /// Where the window goes in the toplevel for `widget`, with the guest
    /// image placed at `placement` (device pixels relative to the widget);
    /// `None` hides it.
    pub(crate) fn geometry(widget: &gtk::Widget, placement: Option<&super::scaling::Placement>) -> Geometry {
        let hidden = Geometry {
            window: None,
            view: View::default(),
        };
        let Some(p) = placement else { return hidden };
        if !widget.is_mapped() || p.guest_width == 0 || p.guest_height == 0 {
            return hidden;
        }
        let Some(native) = widget.native() else { return hidden };
        let (tx, ty) = native.surface_transform();
        let Some(origin) = widget.compute_point(native.upcast_ref::<gtk::Widget>(), &graphene::Point::new(0.0, 0.0))
        else {
            return hidden;
        };
        let scale = f64::from(widget.scale_factor().max(1));
        let ox = ((f64::from(origin.x()) + tx) * scale).round();
        let oy = ((f64::from(origin.y()) + ty) * scale).round();
        let ww = (f64::from(widget.width()) * scale).round();
        let wh = (f64::from(widget.height()) * scale).round();
        let finite = [ox, oy, ww, wh].iter().all(|v| v.is_finite() && v.abs() < 1e6);
        if !finite {
            return hidden;
        }
        // Rounded and bounded just above: exact in i64.
        let (ox, oy, ww, wh) = (ox as i64, oy as i64, ww as i64, wh as i64);
        let image_x0 = ox.saturating_add(p.device_x);
        let image_y0 = oy.saturating_add(p.device_y);
        let x0 = ox.max(image_x0);
        let y0 = oy.max(image_y0);
        let x1 = (ox + ww).min(image_x0.saturating_add(p.device_width));
        let y1 = (oy + wh).min(image_y0.saturating_add(p.device_height));
        let window = (x1 > x0 && y1 > y0)
            .then(|| {
                Some(Rect {
                    x: i32::try_from(x0).ok()?,
                    y: i32::try_from(y0).ok()?,
                    w: u32::try_from(x1 - x0).ok()?,
                    h: u32::try_from(y1 - y0).ok()?,
                })
            })
            .flatten();
        let Some(window) = window else { return hidden };
        let view = View {
            origin_x: i32::try_from(image_x0 - x0).unwrap_or(0),
            origin_y: i32::try_from(image_y0 - y0).unwrap_or(0),
            scale_x: p.device_width as f64 / f64::from(p.guest_width),
            scale_y: p.device_height as f64 / f64::from(p.guest_height),
        };
        Geometry {
            window: Some(window),
            view,
        }
    }
}

impl Sink for X11Layer {
    fn prepare(&mut self, source: &Source) -> bool {
        let Some(screen) = &mut self.screen else { return false };
        if self.rect.is_some_and(|r| (r.w, r.h) == (source.rect.w, source.rect.h)) {
            self.rect = Some(source.rect);
            return false;
        }
        if let Err(e) = screen.set_image_size(source.rect.w, source.rect.h) {
            self.fail("image size", e);
        }
        self.rect = Some(source.rect);
        self.sent.clear();
        self.journal = None;
        true
    }

    fn follows_journal(&self) -> bool {
        self.screen.is_some()
    }

    /// Replays the moves since the last sync on the pixmap (the X server
    /// copies; a scrolling terminal costs one `CopyArea` per frame instead
    /// of sending the terminal again), then sends what was drawn.
    fn sync(&mut self, source: &Source, state: &mut DisplayState, full: bool) {
        let step = catch_up(state, source, self.journal.filter(|_| !full));
        self.journal = step.cursor;
        if let Some(screen) = &mut self.screen {
            for m in &step.moves {
                let boxes: Vec<Rect> = m
                    .boxes
                    .iter()
                    .filter_map(|b| {
                        Some(Rect {
                            x: i32::try_from(b.x).ok()?,
                            y: i32::try_from(b.y).ok()?,
                            w: b.w,
                            h: b.h,
                        })
                    })
                    .collect();
                if let Err(e) = screen.copy(&boxes, m.dx, m.dy) {
                    self.failed
                        .get_or_insert_with(|| format!("X11 screen layer: moving pixels: {e}"));
                    return;
                }
                self.sent.extend(boxes);
            }
        }
        if let Some(surface) = state.surface(source.surface_id) {
            self.copy(source, surface, &step.areas);
        }
    }

    fn copy(&mut self, _source: &Source, surface: &Surface, areas: &[Area]) {
        let (Some(screen), Some(rect)) = (&mut self.screen, self.rect) else {
            return;
        };
        let stride = surface.stride();
        let pixels = surface.pixels_bgra();
        for a in areas {
            let Some(a) = a.intersect(&rect) else { continue };
            let offset = usize::try_from(a.y)
                .ok()
                .and_then(|y| y.checked_mul(stride))
                .and_then(|o| o.checked_add(usize::try_from(a.x).ok()?.checked_mul(4)?));
            let Some(rows) = offset.and_then(|o| pixels.get(o..)) else {
                continue;
            };
            let (x, y) = (a.x - rect.x, a.y - rect.y);
            if let Err(e) = screen.put(x, y, a.w, a.h, rows, stride) {
                self.failed
                    .get_or_insert_with(|| format!("X11 screen layer: sending pixels: {e}"));
                return;
            }
            if let (Ok(x), Ok(y)) = (i32::try_from(x), i32::try_from(y)) {
                self.sent.push(Rect { x, y, w: a.w, h: a.h });
            }
        }
    }
}
