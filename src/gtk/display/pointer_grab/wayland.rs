use gdk4_wayland::prelude::*;
use gtk::prelude::*;
use gtk::{gdk, gio, glib};
use sumac_platform::wayland::{LockEvent, LockPhase, PointerLock, WaylandError};

/// Whether the "no pointer lock" message was logged (once per process).
static FALLBACK_LOGGED: std::sync::Once = std::sync::Once::new();

/// One display widget's pointer lock.
#[derive(Debug)]
pub(crate) struct WaylandLock {
    lock: PointerLock,
}

/// Whether GDK runs on Wayland.
pub(crate) fn is_wayland(display: &gdk::Display) -> bool {
    display.downcast_ref::<gdk4_wayland::WaylandDisplay>().is_some()
}

impl WaylandLock {
    /// Binds the compositor's pointer-constraints and relative-pointer
    /// globals; `None` when GDK is not on Wayland or the compositor lacks
    /// one of them (logged once, at info level: the grab then only hides
    /// the pointer).
    pub(crate) fn open(display: &gdk::Display) -> Option<Self> {
        let wl_display = display.downcast_ref::<gdk4_wayland::WaylandDisplay>()?.wl_display()?;
        match PointerLock::new(&wl_display) {
            Ok(lock) => Some(Self { lock }),
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

    /// Whether a lock is asked for or active (its motion replaces GTK's).
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.lock.phase(), LockPhase::Requested | LockPhase::Active)
    }

    /// Asks to lock the pointer over `widget`'s toplevel; `Ok(false)`
    /// when the surface or the seat's pointer is not known (yet).
    pub(crate) fn lock(&mut self, widget: &gtk::Widget) -> Result<bool, WaylandError> {
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

    /// Ends the lock (if any).
    pub(crate) fn unlock(&mut self) {
        if let Err(e) = self.lock.unlock() {
            tracing::warn!(error = %e, "Wayland pointer unlock failed");
        }
    }

    /// What happened since the last call (reads the socket without blocking).
    pub(crate) fn dispatch(&mut self) -> Result<Vec<LockEvent>, WaylandError> {
        self.lock.dispatch()
    }

    /// Watches the display socket for input on the main loop (a `GSocket`
    /// on a duplicate of the descriptor; GSocket makes the shared file
    /// description non-blocking, which changes nothing for libwayland: it
    /// passes `MSG_DONTWAIT` on every read and write). `f` runs as a
    /// main-loop callback, where [`Self::dispatch`] may read.
    pub(crate) fn watch(&self, mut f: impl FnMut() -> glib::ControlFlow + 'static) -> Result<glib::SourceId, String> {
        let fd = self.lock.watch_fd().map_err(|e| e.to_string())?;
        let socket = gio::Socket::from_fd(fd).map_err(|e| e.to_string())?;
        let source = gio::prelude::SocketExtManual::create_source(
            &socket,
            glib::IOCondition::IN | glib::IOCondition::ERR | glib::IOCondition::HUP,
            None::<&gio::Cancellable>,
            Some("sumac-wayland-pointer-lock"),
            glib::Priority::DEFAULT,
            move |_, _| f(),
        );
        Ok(source.attach(None))
    }
}
