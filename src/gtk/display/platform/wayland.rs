//! Wayland (feature `wayland`): the pointer is locked over the toplevel's
//! `wl_surface` (`zwp_pointer_constraints_v1.lock_pointer`, one-shot) and
//! its motion comes from `zwp_relative_pointer_v1`
//! ([`sumac_platform::wayland::PointerLock`], on GDK's own `wl_display`
//! through `gdk4-wayland`, with an event queue of our own watched on the
//! main loop: see that module for why this is safe next to GDK's reads).
//! The guest gets the *unaccelerated* deltas (it accelerates them itself),
//! in surface-local units. Buttons and the wheel still come through GTK.
//! When the compositor ends the lock (focus moved away), the grab ends too.

use super::{PointerEvent, Wake, WindowingSystem};
use gdk4_wayland::prelude::*;
use gtk::prelude::*;
use gtk::{gdk, gio, glib};
use sumac_platform::wayland::{LockEvent, LockPhase, PointerLock, WaylandError};

/// Whether the "no pointer lock" message was logged (once per process).
static FALLBACK_LOGGED: std::sync::Once = std::sync::Once::new();

/// The pointer lock of one display widget.
#[derive(Debug)]
pub(crate) struct Backend {
    lock: PointerLock,
    /// Main-loop watch of the Wayland socket while the lock is asked for.
    watch: Option<glib::SourceId>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Dropping the lock destroys its objects, which ends the lock.
        if let Some(source) = self.watch.take() {
            source.remove();
        }
    }
}

impl Backend {
    /// Binds the compositor's pointer-constraints and relative-pointer
    /// globals; `None` when GDK is not on Wayland or the compositor lacks
    /// one of them (logged once, at info level: the grab then only hides
    /// the pointer).
    pub(crate) fn open(display: &gdk::Display) -> Option<Backend> {
        let wl_display = display.downcast_ref::<gdk4_wayland::WaylandDisplay>()?.wl_display()?;
        match PointerLock::new(&wl_display) {
            Ok(lock) => Some(Backend { lock, watch: None }),
            Err(e @ WaylandError::Unsupported(_)) => {
                FALLBACK_LOGGED.call_once(|| {
                    tracing::info!(
                        reason = %e,
                        "no Wayland pointer lock: the grabbed pointer is hidden but neither locked nor confined"
                    );
                });
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot set up the Wayland pointer lock");
                None
            }
        }
    }

    /// Asks to lock the pointer over `widget`'s toplevel; `Ok(false)`
    /// when the surface or the seat's pointer is not known (yet).
    fn lock(&mut self, widget: &gtk::Widget) -> Result<bool, WaylandError> {
        let surface = widget
            .native()
            .and_then(|n| n.surface())
            .and_then(|s| s.downcast::<gdk4_wayland::WaylandSurface>().ok())
            .and_then(|s| s.wl_surface());
        let pointer = widget
            .display()
            .default_seat()
            .and_then(|seat| seat.pointer())
            .and_then(|p| p.downcast::<gdk4_wayland::WaylandDevice>().ok())
            .and_then(|p| p.wl_pointer());
        let (Some(surface), Some(pointer)) = (surface, pointer) else {
            return Ok(false);
        };
        self.lock.lock(&surface, &pointer)?;
        Ok(true)
    }

    /// Watches the display socket for input on the main loop (a `GSocket`
    /// on a duplicate of the descriptor; GSocket makes the shared file
    /// description non-blocking, which changes nothing for libwayland: it
    /// passes `MSG_DONTWAIT` on every read and write). `wake` runs as a
    /// main-loop callback, where [`WindowingSystem::poll`] may read.
    fn watch_socket(&self, wake: Wake) -> Result<glib::SourceId, String> {
        let fd = self.lock.watch_fd().map_err(|e| e.to_string())?;
        let socket = gio::Socket::from_fd(fd).map_err(|e| e.to_string())?;
        let source = gio::prelude::SocketExtManual::create_source(
            &socket,
            glib::IOCondition::IN | glib::IOCondition::ERR | glib::IOCondition::HUP,
            None::<&gio::Cancellable>,
            Some("sumac-wayland-pointer-lock"),
            glib::Priority::DEFAULT,
            move |_, _| {
                wake();
                glib::ControlFlow::Continue
            },
        );
        Ok(source.attach(None))
    }
}

impl WindowingSystem for Backend {
    fn name(&self) -> &'static str {
        "wayland"
    }

    fn lock_pointer(&mut self, widget: &gtk::Widget, wake: Wake) {
        match self.lock(widget) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("no wl_surface or wl_pointer yet: the pointer is hidden but not locked");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Wayland pointer lock failed: the pointer is hidden but not locked");
                self.unlock_pointer();
                return;
            }
        }
        match self.watch_socket(std::rc::Rc::clone(&wake)) {
            Ok(id) => {
                if let Some(old) = self.watch.replace(id) {
                    old.remove();
                }
            }
            Err(e) => {
                // Without a watch no relative motion would ever be read.
                tracing::warn!(error = %e, "cannot watch the Wayland socket: the pointer is hidden but not locked");
                self.unlock_pointer();
                return;
            }
        }
        tracing::debug!("Wayland pointer lock asked for");
        // Events read by GDK meanwhile wait in our queue already.
        glib::idle_add_local_once(move || wake());
    }

    fn unlock_pointer(&mut self) {
        if let Some(source) = self.watch.take() {
            source.remove();
        }
        if let Err(e) = self.lock.unlock() {
            tracing::warn!(error = %e, "Wayland pointer unlock failed");
        }
    }

    fn pointer_locked(&self) -> bool {
        matches!(self.lock.phase(), LockPhase::Requested | LockPhase::Active)
    }

    fn poll(&mut self, _widget: &gtk::Widget) -> Vec<PointerEvent> {
        if !self.pointer_locked() {
            return Vec::new();
        }
        let events = match self.lock.dispatch() {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "Wayland pointer lock broke");
                self.unlock_pointer();
                return vec![PointerEvent::Ended];
            }
        };
        let mut out = Vec::new();
        for event in events {
            match event {
                LockEvent::Locked => tracing::debug!("Wayland pointer locked"),
                LockEvent::Motion { dx, dy } => out.push(PointerEvent::Motion { dx, dy, logical: true }),
                LockEvent::Ended => {
                    tracing::info!("the compositor ended the pointer lock");
                    self.unlock_pointer();
                    out.push(PointerEvent::Ended);
                    break;
                }
            }
        }
        out
    }
}
