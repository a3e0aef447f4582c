//! The input handler's pointer side: the widget's scale factors and the
//! platform's pointer lock, polled and applied.

use super::*;

impl InputHandler {
    pub(super) fn widget(&self) -> Option<gtk::Widget> {
        self.widget.borrow().as_ref().and_then(glib::WeakRef::upgrade)
    }

    /// Guest pixels per device pixel of the monitor shown (1 before the guest size is known).
    pub(super) fn guest_pixels_per_device_pixel(&self) -> f64 {
        self.widget()
            .and_then(|w| w.downcast::<super::super::Display>().ok())
            .and_then(|d| d.placement())
            .map_or(1.0, |p| f64::from(p.guest_width) / p.device_width.max(1) as f64)
    }

    pub(super) fn device_pixels_per_logical_pixel(&self) -> f64 {
        self.widget().map_or(1.0, |w| f64::from(w.scale_factor().max(1)))
    }

    /// Whether the windowing system's pointer lock gives the motion now.
    pub(super) fn platform_locked(&self) -> bool {
        self.platform.borrow().as_ref().is_some_and(|p| p.pointer_locked())
    }

    /// Sends what the windowing system's pointer lock received (deltas in
    /// guest pixels, buttons, wheel); ends the grab when the lock ended.
    /// Also called before a GTK button or wheel event is sent, so the guest
    /// sees the motion that came first.
    pub(super) fn poll_platform(self: &Rc<Self>) {
        if !self.pointer.borrow().grabbed() {
            return;
        }
        let events = self.with_platform(|p, w| p.poll(w)).unwrap_or_default();
        for event in events {
            match event {
                PointerEvent::Motion { dx, dy, logical } => {
                    let mut scale = self.guest_pixels_per_device_pixel();
                    if logical {
                        scale *= self.device_pixels_per_logical_pixel();
                    }
                    let (gx, gy) = self.scaler.borrow_mut().push(dx, dy, scale);
                    if logical {
                        tracing::trace!(dx, dy, gx, gy, "locked pointer moved");
                    } else {
                        tracing::trace!(dx, dy, gx, gy, "grabbed pointer moved");
                    }
                    if (gx, gy) != (0, 0) {
                        self.inputs.mouse_motion(gx, gy);
                    }
                }
                PointerEvent::Button(b, true) => self.inputs.button_press(b),
                PointerEvent::Button(b, false) => self.inputs.button_release(b),
                PointerEvent::Wheel(direction) => self.inputs.scroll(direction, 1),
                PointerEvent::Ended => {
                    let action = self.pointer.borrow_mut().release();
                    self.apply_pointer(action);
                    return;
                }
            }
        }
    }

    /// Grabs or releases the pointer (server mouse mode), and with it the
    /// keyboard (an explicit grab).
    pub(super) fn apply_pointer(self: &Rc<Self>, action: GrabAction) {
        let grab = match action {
            GrabAction::None => return,
            GrabAction::Grab => true,
            GrabAction::Ungrab => false,
        };
        self.last.set(None);
        self.scaler.borrow_mut().reset();
        let widget = self.widget();
        if grab {
            tracing::debug!("pointer grabbed");
            if let Some(w) = &widget {
                w.set_cursor(blank_cursor().as_ref());
            }
            let weak = Rc::downgrade(self);
            let wake: platform::Wake = Rc::new(move || {
                if let Some(this) = weak.upgrade() {
                    this.poll_platform();
                }
            });
            self.with_platform(|p, w| p.lock_pointer(w, wake));
        } else {
            tracing::debug!("pointer released");
            self.swallow_release.set(None);
            self.with_platform(|p, _| p.unlock_pointer());
            if let Some(w) = &widget {
                // Server mode shows the local pointer when not grabbed; in
                // client mode the cursor layer sets the guest's shape again.
                w.set_cursor(None);
            }
        }
        let keyboard = self.grab.borrow_mut().set_explicit(grab);
        self.apply_grab(keyboard);
        if let Some(f) = self.on_pointer_grab_changed.borrow().as_ref() {
            f(grab);
        }
    }
}
