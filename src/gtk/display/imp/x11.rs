//! The X11 screen layer's plumbing in the widget: realize/unrealize of the
//! child window, presents scheduled on the frame clock, exposures and errors
//! read from its X connection. Without the `x11` feature (or off Unix) these
//! do nothing and `is_x11` is false.

use super::*;

/// Shortest interval between two presents of the X11 layer (60 per second).
const X11_FRAME: std::time::Duration = std::time::Duration::from_millis(16);

/// The X11 screen layer's plumbing; without the `x11` feature (or off
/// Unix) these do nothing.
impl Display {
    pub(super) fn is_x11(&self) -> bool {
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        if matches!(*self.screen.borrow(), Screen::X11(_)) {
            return true;
        }
        false
    }

    /// Schedules a present of the X11 layer: at once when the last one is a
    /// frame (16 ms) old, else when it will be. A plain main-loop timeout,
    /// not the frame clock: GTK has nothing to lay out or paint for it, and
    /// a frame-clock tick would run GTK's frame phases for the whole window.
    pub(super) fn queue_x11_present(&self) {
        if !self.is_x11() || self.x11_pending.replace(true) {
            return;
        }
        let obj = self.obj();
        if !obj.is_mapped() {
            // Presented again when mapped.
            self.x11_pending.set(false);
            return;
        }
        let delay = self
            .x11_last
            .get()
            .map_or(std::time::Duration::ZERO, |t| X11_FRAME.saturating_sub(t.elapsed()));
        let weak = obj.downgrade();
        glib::timeout_add_local_once(delay, move || {
            if let Some(d) = weak.upgrade() {
                d.imp().x11_last.set(Some(std::time::Instant::now()));
                d.imp().x11_present();
            }
        });
    }

    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    pub(super) fn use_x11(&self) {
        self.teardown_screen();
        self.screen.replace(Screen::X11(Box::default()));
        self.damage.borrow_mut().set_full();
        if self.obj().is_realized() {
            self.x11_realize();
        }
    }

    pub(super) fn x11_realize(&self) {
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        {
            let obj = self.obj();
            let result = match &mut *self.screen.borrow_mut() {
                Screen::X11(layer) => {
                    let weak = obj.downgrade();
                    layer.realize(obj.upcast_ref()).and_then(|()| {
                        layer.watch(move || match weak.upgrade() {
                            Some(d) => {
                                d.imp().x11_dispatch();
                                glib::ControlFlow::Continue
                            }
                            None => glib::ControlFlow::Break,
                        })
                    })
                }
                _ => return,
            };
            match result {
                Ok(()) => {
                    self.set_active(Renderer::X11);
                    self.damage.borrow_mut().set_full();
                    self.queue_x11_present();
                }
                Err(why) => self.fall_back_later(why),
            }
        }
    }

    pub(super) fn x11_unrealize(&self) {
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        if let Screen::X11(layer) = &mut *self.screen.borrow_mut() {
            layer.unrealize();
            // Everything is sent again to the next window.
            self.damage.borrow_mut().set_full();
        }
        self.x11_pending.set(false);
    }

    /// Hides the child window (the widget is unmapped).
    pub(super) fn x11_hide(&self) {
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        if let Screen::X11(layer) = &mut *self.screen.borrow_mut() {
            let hidden = crate::gtk::display::x11_layer::Geometry {
                window: None,
                view: Default::default(),
            };
            layer.present(&hidden, None);
        }
        self.x11_pending.set(false);
    }

    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    pub(super) fn x11_dispatch(&self) {
        let failure = match &mut *self.screen.borrow_mut() {
            Screen::X11(layer) => {
                layer.dispatch();
                layer.failure().map(str::to_owned)
            }
            _ => None,
        };
        if let Some(why) = failure {
            self.fall_back_later(why);
        }
    }

    /// Sends the damaged rectangles to the X server and places the window.
    pub(super) fn x11_present(&self) {
        self.x11_pending.set(false);
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        {
            let obj = self.obj();
            let overlay_shown = self.overlay.borrow().as_ref().is_some_and(|o| o.widget().is_visible());
            let placement = self.placement(f64::from(obj.width()), f64::from(obj.height()));
            let cursor = self.cursor.borrow().drawn();
            let mut screen = self.screen.borrow_mut();
            let Screen::X11(layer) = &mut *screen else { return };
            if !layer.is_realized() {
                return;
            }
            self.pull(&mut **layer);
            let geometry = if overlay_shown {
                crate::gtk::display::x11_layer::Geometry {
                    window: None,
                    view: Default::default(),
                }
            } else {
                crate::gtk::display::x11_layer::X11Layer::geometry(obj.upcast_ref(), placement.as_ref())
            };
            let failure = if layer.supports(&geometry.view) {
                layer.present(&geometry, cursor);
                layer.failure().map(str::to_owned)
            } else {
                Some("the X server cannot scale the image (no XRender)".to_owned())
            };
            drop(screen);
            if let Some(why) = failure {
                self.fall_back_later(why);
            }
        }
    }
}
