//! X11 (feature `x11`): the pointer lock is an X pointer grab on a
//! connection of our own ([`sumac_platform::x11::X11Pointer`]), confined to
//! the toplevel's X window (`gdk4-x11` gives its id), with an invisible
//! cursor. While it lasts the pointer events come to that connection
//! instead of GTK's: a main-loop fd source wakes the input layer, which
//! polls them. After each batch the pointer is warped back to the centre;
//! the warp's request sequence number tells its echo from the user's motion
//! ([`logic::WarpTracker`]). The grab is taken once GTK's implicit grab of
//! the click is over (retried for a few seconds while another client holds
//! the pointer). The same connection asks the X server for its keycode set.

use super::{PointerEvent, Wake, WindowingSystem};
use gtk::prelude::*;
use gtk::{gdk, gio, glib, graphene};
use logic::{WarpTracker, XButton, keycode_table_from_x11, x_button};
use std::rc::Rc;
use sumac_platform::keymap::KeycodeTable;
use sumac_platform::x11::{GrabEvent, GrabStatus, X11Error, X11Pointer, XWindow};

mod logic;

/// How long the pointer grab is retried while another client holds the
/// pointer (GTK's implicit grab lasts until the click's button is released).
const GRAB_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);
const GRAB_RETRIES: u32 = 150;

/// Our X connection and its grab.
pub(crate) struct Backend {
    pointer: X11Pointer,
    /// The toplevel window grabbed, while grabbed.
    window: Option<XWindow>,
    tracker: WarpTracker,
    /// Set between `lock_pointer` and `unlock_pointer`.
    wake: Option<Wake>,
    /// Grab attempts made for the current lock.
    attempts: u32,
    /// Main-loop watch of the connection while it holds the grab.
    watch: Option<glib::SourceId>,
    /// Pending retry of the grab.
    retry: Option<glib::SourceId>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("x11::Backend")
            .field("window", &self.window)
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Closing the connection ends its grab.
        self.stop_sources();
    }
}

/// The toplevel X window of `widget`, if GDK runs on X11 and it is realized.
fn toplevel_xid(widget: &gtk::Widget) -> Option<XWindow> {
    let surface = widget.native()?.surface()?;
    let xid = surface.downcast_ref::<gdk4_x11::X11Surface>()?.xid();
    XWindow::try_from(xid).ok()
}

/// Where the centre of `widget` is in its toplevel X window, in X pixels.
fn centre_in_toplevel(widget: &gtk::Widget) -> Option<(i32, i32)> {
    let native = widget.native()?;
    let (sx, sy) = native.surface_transform();
    let mid = graphene::Point::new(widget.width() as f32 / 2.0, widget.height() as f32 / 2.0);
    let p = widget.compute_point(native.upcast_ref::<gtk::Widget>(), &mid)?;
    let scale = f64::from(native.surface()?.scale_factor().max(1));
    let x = ((f64::from(p.x()) + sx) * scale).round();
    let y = ((f64::from(p.y()) + sy) * scale).round();
    // Window coordinates of a realized widget: far inside the i32 range.
    Some((x as i32, y as i32))
}

impl Backend {
    /// Opens our connection to the X server GDK uses; `None` when GDK is
    /// not on X11 (Wayland, ...) or the server cannot be reached.
    pub(crate) fn open(display: &gdk::Display) -> Option<Backend> {
        display.downcast_ref::<gdk4_x11::X11Display>()?;
        let name = display.name();
        match X11Pointer::connect_to(name.as_str()) {
            Ok(pointer) => Some(Backend {
                pointer,
                window: None,
                tracker: WarpTracker::default(),
                wake: None,
                attempts: 0,
                watch: None,
                retry: None,
            }),
            Err(e) => {
                tracing::warn!(display = %name, error = %e, "no X connection of our own: no pointer confinement");
                None
            }
        }
    }

    fn stop_sources(&mut self) {
        for source in [self.watch.take(), self.retry.take()].into_iter().flatten() {
            source.remove();
        }
    }

    /// One attempt at the grab; on refusal a retry is scheduled (it wakes
    /// the input layer, whose poll tries again).
    fn try_grab(&mut self, widget: &gtk::Widget) {
        let Some(wake) = self.wake.clone() else { return };
        let status = match toplevel_xid(widget) {
            None => Ok(GrabStatus::NotViewable),
            Some(window) => {
                // Events left from an earlier grab (after its ungrab) are stale.
                while let Ok(Some(_)) = self.pointer.poll_event() {}
                self.pointer.grab(window).inspect(|status| {
                    if *status == GrabStatus::Success {
                        self.window = Some(window);
                        self.tracker.reset(None);
                    }
                })
            }
        };
        let attempt = self.attempts;
        self.attempts = self.attempts.saturating_add(1);
        match status {
            Ok(GrabStatus::Success) => {
                tracing::debug!(attempt, "X pointer grab taken");
                match self.watch_connection(Rc::clone(&wake)) {
                    Ok(id) => self.watch = Some(id),
                    Err(e) => {
                        // Without a watch the grab would swallow every pointer event.
                        tracing::warn!(error = %e, "cannot watch the X connection: pointer not confined");
                        self.ungrab();
                        return;
                    }
                }
                // Events read while waiting for the grab's reply do not wake the watch.
                glib::idle_add_local_once(move || wake());
            }
            Ok(status) if attempt < GRAB_RETRIES => {
                tracing::trace!(?status, attempt, "X pointer grab refused; retrying");
                self.retry = Some(glib::timeout_add_local_once(GRAB_RETRY_INTERVAL, move || wake()));
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

    fn ungrab(&mut self) {
        if self.window.take().is_some()
            && let Err(e) = self.pointer.ungrab()
        {
            tracing::warn!(error = %e, "X pointer ungrab failed");
        }
        self.tracker.reset(None);
    }

    /// Watches our connection for input on the main loop (through a
    /// `GSocket` on a duplicate of its descriptor; x11rb's socket is
    /// non-blocking already, which the GSocket also wants).
    fn watch_connection(&self, wake: Wake) -> Result<glib::SourceId, String> {
        let fd = self.pointer.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?;
        let socket = gio::Socket::from_fd(fd).map_err(|e| e.to_string())?;
        let source = gio::prelude::SocketExtManual::create_source(
            &socket,
            glib::IOCondition::IN | glib::IOCondition::ERR | glib::IOCondition::HUP,
            None::<&gio::Cancellable>,
            Some("sumac-x11-pointer-grab"),
            glib::Priority::DEFAULT,
            move |_, _| {
                wake();
                glib::ControlFlow::Continue
            },
        );
        Ok(source.attach(None))
    }

    /// Warps the pointer back to `widget`'s centre unless it is there or a
    /// warp is on its way.
    fn recentre(&mut self, widget: &gtk::Widget) -> Result<(), X11Error> {
        let (Some(window), Some(centre)) = (self.window, centre_in_toplevel(widget)) else {
            return Ok(());
        };
        if self.tracker.needs_warp(centre) {
            let sequence = self.pointer.warp_in_nowait(window, centre.0, centre.1)?;
            self.tracker.warped(sequence, centre);
        }
        Ok(())
    }

    /// The grab ended (by the X server or broken): forget it.
    fn ended(&mut self) -> Vec<PointerEvent> {
        self.stop_sources();
        self.window = None;
        self.wake = None;
        vec![PointerEvent::Ended]
    }
}

impl WindowingSystem for Backend {
    fn name(&self) -> &'static str {
        "x11"
    }

    fn keycode_table(&self) -> Option<KeycodeTable> {
        Some(keycode_table_from_x11(self.pointer.keycode_table()))
    }

    fn lock_pointer(&mut self, widget: &gtk::Widget, wake: Wake) {
        self.stop_sources();
        self.ungrab();
        self.wake = Some(wake);
        self.attempts = 0;
        self.try_grab(widget);
    }

    fn unlock_pointer(&mut self) {
        self.stop_sources();
        self.wake = None;
        self.ungrab();
    }

    fn pointer_locked(&self) -> bool {
        self.window.is_some()
    }

    fn poll(&mut self, widget: &gtk::Widget) -> Vec<PointerEvent> {
        if self.wake.is_none() {
            return Vec::new();
        }
        if self.window.is_none() {
            // A retry is due (or a poll before it: try now, the retry is replaced).
            if let Some(source) = self.retry.take() {
                source.remove();
            }
            self.try_grab(widget);
            return Vec::new();
        }
        let mut events = Vec::new();
        loop {
            match self.pointer.poll_event() {
                Ok(Some(GrabEvent::Motion { x, y, sequence })) => {
                    let (dx, dy) = self.tracker.motion(sequence, x, y);
                    events.push(PointerEvent::Motion {
                        dx: f64::from(dx),
                        dy: f64::from(dy),
                        logical: false,
                    });
                }
                Ok(Some(GrabEvent::Button { button, pressed })) => match x_button(button) {
                    Some(XButton::Button(b)) => events.push(PointerEvent::Button(b, pressed)),
                    Some(XButton::Wheel(direction)) if pressed => events.push(PointerEvent::Wheel(direction)),
                    _ => {}
                },
                Ok(Some(GrabEvent::Ended)) => {
                    tracing::info!("the X server ended the pointer grab");
                    events.extend(self.ended());
                    return events;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "X pointer grab broke");
                    events.extend(self.ended());
                    return events;
                }
            }
        }
        if let Err(e) = self.recentre(widget) {
            tracing::warn!(error = %e, "cannot warp the pointer back");
        }
        events
    }
}

/// The work area of an X11 monitor (`None` on another windowing system).
pub(super) fn work_area(monitor: &gdk::Monitor) -> Option<gdk::Rectangle> {
    Some(monitor.downcast_ref::<gdk4_x11::X11Monitor>()?.workarea())
}
