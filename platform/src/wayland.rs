//! Wayland pointer lock for SPICE's *server* mouse mode (feature `wayland`).
//!
//! The Wayland counterpart of the X11 grab ([`crate::x11::X11Pointer::grab`]):
//! the pointer is locked in place over the caller's surface with
//! `zwp_pointer_constraints_v1.lock_pointer`, and its motion arrives as
//! `zwp_relative_pointer_v1.relative_motion` events, which keep coming where
//! an absolute position would stop (screen edges). No warping is needed.
//!
//! # Sharing the toolkit's connection
//!
//! [`PointerLock`] works on the `wl_display` the toolkit (GDK) already has,
//! through libwayland (`wayland-client`'s `system` backend): a second
//! connection could not name the toolkit's `wl_surface` and `wl_pointer`.
//! Its objects live on an **event queue of their own**, never on the
//! toolkit's default queue, whose dispatching the toolkit owns.
//!
//! libwayland lets any queue's owner read the socket, and a read sorts every
//! event into the queue of its object. So the toolkit's own reads also fill
//! our queue, and our reads fill the toolkit's. The rules this module relies
//! on, for a single-threaded GLib main loop where GDK is the other reader:
//!
//! * GDK holds a *prepared read* (`wl_display_prepare_read`) only between
//!   its source's `prepare` and `check`, i.e. across the main loop's poll;
//!   callbacks run after every `check`, when nobody holds one. [`PointerLock::dispatch`]
//!   must therefore be called from a main-loop callback (never from a
//!   source's `prepare`/`check`, where taking a second prepared read on the
//!   same thread would block libwayland forever): it prepares, reads without
//!   blocking (libwayland reads with `MSG_DONTWAIT`) and dispatches in one go.
//! * The caller watches [`PointerLock::watch_fd`] (a duplicate of the display
//!   socket) for input. When the socket becomes readable, GDK's source and
//!   the caller's both wake in the same main-loop iteration: if GDK's `check`
//!   already read our events, [`PointerLock::dispatch`] finds them queued
//!   (libwayland then refuses the prepared read and we dispatch the queue).
//!   If we read first, the events for GDK sit in its queue and GDK's next
//!   `prepare` sees them and dispatches them.
//! * Events that GDK reads outside its poll (its own synchronous
//!   roundtrips) wait in our queue until the socket is next readable, or the
//!   caller calls [`PointerLock::dispatch`] again for any other reason.
//!
//! Dispatching on GDK's own queue instead would mean C listeners registered
//! behind libwayland's back (raw FFI and `unsafe` for every event); a queue of
//! our own keeps the whole module safe Rust.
//!
//! # Which deltas
//!
//! [`RelativeMotion::for_guest`] gives the **unaccelerated** deltas
//! (`dx_unaccel`, `dy_unaccel`): in server mouse mode the guest OS applies its
//! own pointer acceleration to what it receives, so sending the compositor's
//! accelerated motion would accelerate twice (as remote-viewer does, Sumac
//! sends the motion before acceleration). Both are in surface-local units,
//! the unit of `wl_pointer.motion`; the caller scales them to guest pixels and
//! carries the fractions over to the next event.

use std::os::fd::{AsFd as _, OwnedFd};

use wayland_client::globals::{BindError, GlobalError, GlobalList, GlobalListContents, registry_queue_init};
use wayland_client::protocol::wl_display::WlDisplay;
use wayland_client::protocol::wl_pointer::WlPointer;
use wayland_client::protocol::wl_registry::{self, WlRegistry};
use wayland_client::protocol::wl_surface::WlSurface;
use wayland_client::{Connection, Dispatch, DispatchError, EventQueue, Proxy, QueueHandle};
use wayland_protocols::wp::pointer_constraints::zv1::client::zwp_locked_pointer_v1::{self, ZwpLockedPointerV1};
use wayland_protocols::wp::pointer_constraints::zv1::client::zwp_pointer_constraints_v1::{
    self, Lifetime, ZwpPointerConstraintsV1,
};
use wayland_protocols::wp::relative_pointer::zv1::client::zwp_relative_pointer_manager_v1::{
    self, ZwpRelativePointerManagerV1,
};
use wayland_protocols::wp::relative_pointer::zv1::client::zwp_relative_pointer_v1::{self, ZwpRelativePointerV1};

/// Errors of the Wayland pointer lock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaylandError {
    /// The compositor does not offer a protocol the lock needs.
    #[error("the compositor has no {0}")]
    Unsupported(&'static str),
    /// The display's connection is closed.
    #[error("the Wayland connection is closed")]
    Closed,
    /// Listing the compositor's globals failed.
    #[error("cannot list the Wayland globals: {0}")]
    Globals(#[from] GlobalError),
    /// Reading or writing the socket failed, or the compositor sent a protocol error.
    #[error("Wayland connection error: {0}")]
    Connection(#[from] wayland_client::backend::WaylandError),
    /// Dispatching our queue failed.
    #[error("Wayland dispatch error: {0}")]
    Dispatch(#[from] DispatchError),
}

/// `Result` of the Wayland helpers.
pub type Result<T> = std::result::Result<T, WaylandError>;

/// One `zwp_relative_pointer_v1.relative_motion`, in surface-local units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RelativeMotion {
    /// Accelerated motion, as the compositor would move its pointer.
    pub dx: f64,
    /// Accelerated motion, vertical.
    pub dy: f64,
    /// Motion before acceleration.
    pub dx_unaccel: f64,
    /// Motion before acceleration, vertical.
    pub dy_unaccel: f64,
    /// Timestamp in microseconds (the compositor's clock).
    pub time_usec: u64,
}

impl RelativeMotion {
    /// The deltas the guest gets: the unaccelerated ones (see the module's
    /// documentation: the guest accelerates them itself).
    pub fn for_guest(&self) -> (f64, f64) {
        (self.dx_unaccel, self.dy_unaccel)
    }
}

/// What the lock reports to its owner, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LockEvent {
    /// The compositor activated the lock: the pointer no longer moves.
    Locked,
    /// The pointer moved by these deltas (from [`RelativeMotion::for_guest`]).
    Motion {
        /// Horizontal delta, surface-local units.
        dx: f64,
        /// Vertical delta, surface-local units.
        dy: f64,
    },
    /// The compositor ended the lock (focus moved to another surface, ...).
    /// A one-shot lock does not come back: the grab is over.
    Ended,
}

/// Where a lock is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockPhase {
    /// No lock asked for.
    #[default]
    Idle,
    /// Asked for; the compositor activates it once the pointer is over the
    /// surface and the surface has the focus. Relative motion flows already.
    Requested,
    /// Active: the pointer is held in place.
    Active,
    /// The compositor ended it; the objects wait to be destroyed.
    Ended,
}

/// The lock's state machine, apart from any connection: which events pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockTracker {
    phase: LockPhase,
}

impl LockTracker {
    /// The current phase.
    pub fn phase(&self) -> LockPhase {
        self.phase
    }

    /// A lock is being asked for: whether new protocol objects are due (not
    /// when one is already asked for or active).
    pub fn request(&mut self) -> bool {
        match self.phase {
            LockPhase::Idle | LockPhase::Ended => {
                self.phase = LockPhase::Requested;
                true
            }
            LockPhase::Requested | LockPhase::Active => false,
        }
    }

    /// `locked` arrived: what to report.
    pub fn locked(&mut self) -> Option<LockEvent> {
        (self.phase == LockPhase::Requested).then(|| {
            self.phase = LockPhase::Active;
            LockEvent::Locked
        })
    }

    /// `unlocked` arrived: what to report (the end, once).
    pub fn unlocked(&mut self) -> Option<LockEvent> {
        matches!(self.phase, LockPhase::Requested | LockPhase::Active).then(|| {
            self.phase = LockPhase::Ended;
            LockEvent::Ended
        })
    }

    /// A relative motion arrived: what to report. Motion counts from the
    /// request on (the lock may activate a little later; the pointer moved
    /// all the same) and stops with the end.
    pub fn motion(&self, motion: &RelativeMotion) -> Option<LockEvent> {
        let (dx, dy) = motion.for_guest();
        let live = matches!(self.phase, LockPhase::Requested | LockPhase::Active);
        (live && dx.is_finite() && dy.is_finite() && (dx, dy) != (0.0, 0.0)).then_some(LockEvent::Motion { dx, dy })
    }

    /// The owner lets go: whether there were objects to destroy.
    pub fn release(&mut self) -> bool {
        std::mem::take(&mut self.phase) != LockPhase::Idle
    }
}

/// The dispatch state of our event queue.
#[derive(Debug)]
struct State {
    constraints: ZwpPointerConstraintsV1,
    relative_manager: ZwpRelativePointerManagerV1,
    locked: Option<ZwpLockedPointerV1>,
    relative: Option<ZwpRelativePointerV1>,
    tracker: LockTracker,
    events: Vec<LockEvent>,
}

impl State {
    fn destroy_objects(&mut self) {
        if let Some(locked) = self.locked.take() {
            locked.destroy();
        }
        if let Some(relative) = self.relative.take() {
            relative.destroy();
        }
    }
}

/// Pointer lock and relative motion on a `wl_display` shared with the toolkit.
pub struct PointerLock {
    conn: Connection,
    queue: EventQueue<State>,
    state: State,
    /// Keeps the registry (and its global list) of our queue alive.
    _globals: GlobalList,
}

impl std::fmt::Debug for PointerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointerLock")
            .field("phase", &self.state.tracker.phase())
            .finish_non_exhaustive()
    }
}

fn bind_error(name: &'static str, error: BindError) -> WaylandError {
    match error {
        BindError::NotPresent | BindError::UnsupportedVersion => WaylandError::Unsupported(name),
    }
}

impl PointerLock {
    /// Binds `zwp_pointer_constraints_v1` and `zwp_relative_pointer_manager_v1`
    /// on `display`'s connection, on a queue of our own (one blocking
    /// roundtrip). [`WaylandError::Unsupported`] when the compositor lacks one.
    pub fn new(display: &WlDisplay) -> Result<Self> {
        let backend = display.backend().upgrade().ok_or(WaylandError::Closed)?;
        Self::with_connection(Connection::from_backend(backend))
    }

    /// [`Self::new`] on a connection of the caller's (tests, other toolkits).
    pub fn with_connection(conn: Connection) -> Result<Self> {
        let (globals, queue) = registry_queue_init::<State>(&conn)?;
        let qh = queue.handle();
        let constraints = globals
            .bind::<ZwpPointerConstraintsV1, _, _>(&qh, 1..=1, ())
            .map_err(|e| bind_error("zwp_pointer_constraints_v1", e))?;
        let relative_manager = match globals.bind::<ZwpRelativePointerManagerV1, _, _>(&qh, 1..=1, ()) {
            Ok(manager) => manager,
            Err(e) => {
                constraints.destroy();
                return Err(bind_error("zwp_relative_pointer_manager_v1", e));
            }
        };
        Ok(Self {
            conn,
            queue,
            state: State {
                constraints,
                relative_manager,
                locked: None,
                relative: None,
                tracker: LockTracker::default(),
                events: Vec::new(),
            },
            _globals: globals,
        })
    }

    /// The lock's phase.
    pub fn phase(&self) -> LockPhase {
        self.state.tracker.phase()
    }

    /// Asks to lock `pointer` over `surface` (a one-shot lock: when the
    /// compositor ends it, [`LockEvent::Ended`] says the grab is over) and
    /// starts relative motion. Nothing happens while a lock is asked for or active.
    pub fn lock(&mut self, surface: &WlSurface, pointer: &WlPointer) -> Result<()> {
        if !self.state.tracker.request() {
            return Ok(());
        }
        // A lock the compositor ended leaves defunct objects behind.
        self.state.destroy_objects();
        let qh = self.queue.handle();
        self.state.relative = Some(self.state.relative_manager.get_relative_pointer(pointer, &qh, ()));
        self.state.locked =
            Some(
                self.state
                    .constraints
                    .lock_pointer(surface, pointer, None, Lifetime::Oneshot, &qh, ()),
            );
        self.conn.flush()?;
        Ok(())
    }

    /// Ends the lock and relative motion (nothing happens without one).
    pub fn unlock(&mut self) -> Result<()> {
        if self.state.tracker.release() {
            self.state.destroy_objects();
            self.conn.flush()?;
        }
        // Events of the destroyed objects still queued are dropped by
        // wayland-client; earlier ones must not be reported any more.
        self.state.events.clear();
        Ok(())
    }

    /// Reads what the socket has (without blocking) and dispatches our queue;
    /// returns what happened since the last call. Call it from a main-loop
    /// callback only (see the module documentation).
    pub fn dispatch(&mut self) -> Result<Vec<LockEvent>> {
        if let Some(guard) = self.conn.prepare_read() {
            match guard.read() {
                Ok(_) => {}
                Err(wayland_client::backend::WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.queue.dispatch_pending(&mut self.state)?;
        Ok(std::mem::take(&mut self.state.events))
    }

    /// A duplicate of the display socket, to watch for input (readable: call
    /// [`Self::dispatch`]). Reading it is libwayland's business only.
    pub fn watch_fd(&self) -> std::io::Result<OwnedFd> {
        self.conn.backend().poll_fd().as_fd().try_clone_to_owned()
    }
}

impl Drop for PointerLock {
    fn drop(&mut self) {
        self.state.destroy_objects();
        self.state.constraints.destroy();
        self.state.relative_manager.destroy();
        let _ = self.conn.flush();
    }
}

impl Dispatch<WlRegistry, GlobalListContents> for State {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // The global list keeps itself up to date; both globals are bound already.
    }
}

impl Dispatch<ZwpPointerConstraintsV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZwpPointerConstraintsV1,
        _: zwp_pointer_constraints_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // The interface has no events.
    }
}

impl Dispatch<ZwpRelativePointerManagerV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZwpRelativePointerManagerV1,
        _: zwp_relative_pointer_manager_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // The interface has no events.
    }
}

impl Dispatch<ZwpLockedPointerV1, ()> for State {
    fn event(
        state: &mut Self,
        proxy: &ZwpLockedPointerV1,
        event: zwp_locked_pointer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // Only the current lock's events count.
        if state.locked.as_ref().map(Proxy::id) != Some(proxy.id()) {
            return;
        }
        let out = match event {
            zwp_locked_pointer_v1::Event::Locked => state.tracker.locked(),
            zwp_locked_pointer_v1::Event::Unlocked => state.tracker.unlocked(),
            _ => None,
        };
        state.events.extend(out);
    }
}

impl Dispatch<ZwpRelativePointerV1, ()> for State {
    fn event(
        state: &mut Self,
        proxy: &ZwpRelativePointerV1,
        event: zwp_relative_pointer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if state.relative.as_ref().map(Proxy::id) != Some(proxy.id()) {
            return;
        }
        if let zwp_relative_pointer_v1::Event::RelativeMotion {
            utime_hi,
            utime_lo,
            dx,
            dy,
            dx_unaccel,
            dy_unaccel,
        } = event
        {
            let motion = RelativeMotion {
                dx,
                dy,
                dx_unaccel,
                dy_unaccel,
                time_usec: (u64::from(utime_hi) << 32) | u64::from(utime_lo),
            };
            state.events.extend(state.tracker.motion(&motion));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motion(dx: f64, dy: f64, dx_unaccel: f64, dy_unaccel: f64) -> RelativeMotion {
        RelativeMotion {
            dx,
            dy,
            dx_unaccel,
            dy_unaccel,
            time_usec: 0,
        }
    }

    #[test]
    fn the_guest_gets_the_unaccelerated_motion() {
        assert_eq!(motion(7.5, -3.0, 3.0, -1.25).for_guest(), (3.0, -1.25));
    }

    #[test]
    fn lock_life() {
        let mut t = LockTracker::default();
        let m = motion(4.0, 4.0, 2.0, 1.0);
        assert_eq!(t.phase(), LockPhase::Idle);
        assert_eq!(t.motion(&m), None, "no motion before a lock is asked for");
        assert_eq!(t.locked(), None);
        assert_eq!(t.unlocked(), None);
        assert!(t.request());
        assert!(!t.request(), "one lock at a time");
        assert_eq!(
            t.motion(&m),
            Some(LockEvent::Motion { dx: 2.0, dy: 1.0 }),
            "counts before activation"
        );
        assert_eq!(t.locked(), Some(LockEvent::Locked));
        assert_eq!(t.phase(), LockPhase::Active);
        assert_eq!(t.locked(), None, "reported once");
        assert_eq!(t.motion(&m), Some(LockEvent::Motion { dx: 2.0, dy: 1.0 }));
        assert_eq!(
            t.motion(&motion(1.0, 0.0, 0.0, 0.0)),
            None,
            "no unaccelerated motion: nothing"
        );
        assert_eq!(t.motion(&motion(0.0, 0.0, f64::NAN, 1.0)), None);
        assert_eq!(t.unlocked(), Some(LockEvent::Ended));
        assert_eq!(t.phase(), LockPhase::Ended);
        assert_eq!(t.unlocked(), None, "ended once");
        assert_eq!(t.motion(&m), None, "nothing after the end");
        assert!(t.release(), "the ended lock's objects are destroyed");
        assert!(!t.release());
        // A new lock after the end, and one the owner lets go of before activation.
        assert!(t.request());
        assert!(t.release());
        assert_eq!(t.phase(), LockPhase::Idle);
        assert!(t.request());
        assert_eq!(t.unlocked(), Some(LockEvent::Ended), "refused before activation");
        assert!(t.request(), "a lock can be asked for again after the end");
    }
}
