//! The Wayland side of the pointer grab (feature `wayland`), and its absence elsewhere.

use super::*;

/// The Wayland pointer lock (feature `wayland`).
#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
impl InputHandler {
    /// Sets the lock up once; whether there is one.
    fn ensure_wayland(&self, widget: &gtk::Widget) -> bool {
        if !self.wayland_tried.replace(true) {
            *self.wayland.borrow_mut() = WaylandLock::open(&widget.display());
        }
        self.wayland.borrow().is_some()
    }

    /// Whether the lock gives the deltas now (GTK's motion is then ignored).
    pub(super) fn wayland_lock_active(&self) -> bool {
        self.wayland.borrow().as_ref().is_some_and(WaylandLock::is_live)
    }

    /// Locks the pointer when GDK runs on Wayland; whether it does (then the
    /// X grab is not tried; without lock support the pointer is only hidden).
    pub(super) fn start_wayland_lock(self: &Rc<Self>) -> bool {
        let Some(widget) = self.widget() else { return false };
        if !is_wayland(&widget.display()) {
            return false;
        }
        if !self.ensure_wayland(&widget) {
            // WaylandLock::open said why, once.
            return true;
        }
        let asked = match self.wayland.borrow_mut().as_mut() {
            Some(lock) => lock.lock(&widget),
            None => return true,
        };
        match asked {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("no wl_surface or wl_pointer yet: the pointer is hidden but not locked");
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Wayland pointer lock failed: the pointer is hidden but not locked");
                self.stop_wayland_lock();
                return true;
            }
        }
        let weak = Rc::downgrade(self);
        let watch = self.wayland.borrow().as_ref().map(|lock| {
            lock.watch(move || match weak.upgrade() {
                Some(this) => {
                    this.drain_wayland();
                    glib::ControlFlow::Continue
                }
                None => glib::ControlFlow::Break,
            })
        });
        match watch {
            Some(Ok(id)) => {
                if let Some(old) = self.wayland_watch.replace(Some(id)) {
                    old.remove();
                }
            }
            Some(Err(e)) => {
                // Without a watch no relative motion would ever be read.
                tracing::warn!(error = %e, "cannot watch the Wayland socket: the pointer is hidden but not locked");
                self.stop_wayland_lock();
                return true;
            }
            None => return true,
        }
        tracing::debug!("Wayland pointer lock asked for");
        // Events read by GDK meanwhile wait in our queue already.
        self.drain_wayland();
        true
    }

    pub(super) fn stop_wayland_lock(&self) {
        if let Some(source) = self.wayland_watch.take() {
            source.remove();
        }
        if let Some(lock) = self.wayland.borrow_mut().as_mut() {
            lock.unlock();
        }
    }

    /// Sends what the lock received: deltas in guest pixels; ends the grab
    /// when the compositor ended the lock. Also called before a button or
    /// wheel event is sent, so the guest sees the motion that came first.
    pub(super) fn drain_wayland(self: &Rc<Self>) {
        let events = match self.wayland.borrow_mut().as_mut() {
            Some(lock) if lock.is_live() => lock.dispatch(),
            _ => return,
        };
        let events = match events {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "Wayland pointer lock broke");
                let action = self.pointer.borrow_mut().release();
                self.apply_pointer(action);
                return;
            }
        };
        for event in events {
            match event {
                LockEvent::Locked => tracing::debug!("Wayland pointer locked"),
                LockEvent::Motion { dx, dy } => {
                    // Surface-local units, like GTK's positions.
                    let scale = self.guest_pixels_per_device_pixel() * self.device_pixels_per_logical_pixel();
                    let (gx, gy) = self.scaler.borrow_mut().push(dx, dy, scale);
                    tracing::trace!(dx, dy, gx, gy, "locked pointer moved");
                    if (gx, gy) != (0, 0) {
                        self.inputs.mouse_motion(gx, gy);
                    }
                }
                LockEvent::Ended => {
                    tracing::info!("the compositor ended the pointer lock");
                    let action = self.pointer.borrow_mut().release();
                    self.apply_pointer(action);
                    return;
                }
            }
        }
    }
}

/// Without Wayland support the grab never locks the pointer.
#[cfg(not(all(feature = "wayland", unix, not(target_os = "macos"))))]
impl InputHandler {
    pub(super) fn wayland_lock_active(&self) -> bool {
        false
    }

    pub(super) fn start_wayland_lock(self: &Rc<Self>) -> bool {
        false
    }

    pub(super) fn stop_wayland_lock(&self) {}

    pub(super) fn drain_wayland(self: &Rc<Self>) {}
}
