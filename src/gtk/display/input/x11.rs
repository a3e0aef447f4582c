//! The X11 side of the pointer grab (feature `x11`), and its absence elsewhere.

use super::*;

/// The X11 pointer grab (feature `x11`).
#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
impl InputHandler {
    /// Opens our X connection once; whether there is one.
    pub(super) fn ensure_x11(&self, widget: &gtk::Widget) -> bool {
        if !self.x11_tried.replace(true) {
            *self.x11.borrow_mut() = X11Grab::open(&widget.display());
        }
        self.x11.borrow().is_some()
    }

    pub(super) fn x11_grab_active(&self) -> bool {
        self.x11.borrow().as_ref().is_some_and(X11Grab::is_grabbed)
    }

    pub(super) fn start_x11_grab(self: &Rc<Self>) {
        let Some(widget) = self.widget() else { return };
        if self.ensure_x11(&widget) {
            self.try_x11_grab(0);
        } else {
            tracing::info!("no X11: the pointer is hidden but not confined");
        }
    }

    pub(super) fn try_x11_grab(self: &Rc<Self>, attempt: u32) {
        if let Some(source) = self.grab_retry.take() {
            source.remove();
        }
        let Some(widget) = self.widget() else { return };
        if !self.pointer.borrow().grabbed() {
            return;
        }
        let status = match self.x11.borrow_mut().as_mut() {
            Some(x) => x.grab(&widget),
            None => return,
        };
        match status {
            Ok(sumac_platform::x11::GrabStatus::Success) => {
                tracing::debug!(attempt, "X pointer grab taken");
                let weak = Rc::downgrade(self);
                let watch = self.x11.borrow().as_ref().map(|x| {
                    x.watch(move || match weak.upgrade() {
                        Some(this) => {
                            this.drain_x11();
                            glib::ControlFlow::Continue
                        }
                        None => glib::ControlFlow::Break,
                    })
                });
                match watch {
                    Some(Ok(id)) => {
                        if let Some(old) = self.x11_watch.replace(Some(id)) {
                            old.remove();
                        }
                    }
                    Some(Err(e)) => {
                        // Without a watch the grab would swallow every pointer event.
                        tracing::warn!(error = %e, "cannot watch the X connection: pointer not confined");
                        if let Some(x) = self.x11.borrow_mut().as_mut() {
                            x.ungrab();
                        }
                        return;
                    }
                    None => return,
                }
                // Events read while waiting for the grab's reply do not wake the watch.
                self.drain_x11();
            }
            Ok(status) if attempt < GRAB_RETRIES => {
                tracing::trace!(?status, attempt, "X pointer grab refused; retrying");
                let weak = Rc::downgrade(self);
                let source = glib::timeout_add_local_once(GRAB_RETRY_INTERVAL, move || {
                    if let Some(this) = weak.upgrade() {
                        // This source is over: forget its id before trying again.
                        this.grab_retry.take();
                        this.try_x11_grab(attempt.saturating_add(1));
                    }
                });
                *self.grab_retry.borrow_mut() = Some(source);
            }
            Ok(status) => {
                tracing::warn!(
                    ?status,
                    "X pointer grab refused: the pointer is hidden but not confined"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "X pointer grab failed: the pointer is hidden but not confined");
            }
        }
    }

    pub(super) fn stop_x11_grab(&self) {
        for source in [self.x11_watch.take(), self.grab_retry.take()].into_iter().flatten() {
            source.remove();
        }
        if let Some(x) = self.x11.borrow_mut().as_mut() {
            x.ungrab();
        }
    }

    /// Sends what the X grab received: deltas, buttons, wheel notches; then
    /// warps the pointer back to the centre.
    pub(super) fn drain_x11(self: &Rc<Self>) {
        loop {
            let next = match self.x11.borrow_mut().as_mut() {
                Some(x) if x.is_grabbed() => x.next(),
                _ => return,
            };
            match next {
                Ok(Some(GrabInput::Motion(dx, dy))) => {
                    let scale = self.guest_pixels_per_device_pixel();
                    let (gx, gy) = self.scaler.borrow_mut().push(f64::from(dx), f64::from(dy), scale);
                    tracing::trace!(dx, dy, gx, gy, "grabbed pointer moved");
                    self.inputs.mouse_motion(gx, gy);
                }
                Ok(Some(GrabInput::Button(button, pressed))) => match x_button(button) {
                    Some(XButton::Button(b)) if pressed => self.inputs.button_press(b),
                    Some(XButton::Button(b)) => self.inputs.button_release(b),
                    Some(XButton::Wheel(direction)) if pressed => self.inputs.scroll(direction, 1),
                    _ => {}
                },
                Ok(Some(GrabInput::Ended)) => {
                    tracing::info!("the X server ended the pointer grab");
                    let action = self.pointer.borrow_mut().release();
                    self.apply_pointer(action);
                    return;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "X pointer grab broke");
                    let action = self.pointer.borrow_mut().release();
                    self.apply_pointer(action);
                    return;
                }
            }
        }
        let Some(widget) = self.widget() else { return };
        let recentred = match self.x11.borrow_mut().as_mut() {
            Some(x) => x.recentre(&widget),
            None => Ok(()),
        };
        if let Err(e) = recentred {
            tracing::warn!(error = %e, "cannot warp the pointer back");
        }
    }
}

/// Without X11 the grab is the hidden cursor alone.
#[cfg(not(all(feature = "x11", unix, not(target_os = "macos"))))]
impl InputHandler {
    pub(super) fn x11_grab_active(&self) -> bool {
        false
    }

    pub(super) fn start_x11_grab(self: &Rc<Self>) {
        tracing::info!("no X11: the pointer is hidden but not confined");
    }

    pub(super) fn stop_x11_grab(&self) {}
}
