//! The pointer grab of SPICE's *server* mouse mode, and the X server's
//! keycode set.
//!
//! In server mode the guest moves its own pointer by the relative motions we
//! send, so (like remote-viewer) a click into the display **grabs** the
//! pointer: it is hidden, cannot leave the window, every motion is sent as a
//! delta and the pointer is warped back to the display's centre so it never
//! runs into a screen edge. The release hotkey (Ctrl+Alt by default, the one
//! that releases the keyboard) and focus loss end the grab. The click that
//! grabs is not sent to the guest.
//!
//! - **X11** (feature `x11`): the grab is an X pointer grab on a connection of
//!   our own ([`sumac_platform::x11::X11Pointer`]), confined to the toplevel's
//!   X window (`gdk4-x11` gives its id), with an invisible cursor. While it
//!   lasts the pointer events come to that connection instead of GTK's: a
//!   main-loop fd source reads them. The warp back to the centre is sent on
//!   the same connection; its request sequence number tells the motion the
//!   warp itself causes (ignored) from the user's ([`WarpTracker`]). The grab
//!   is taken once GTK's implicit grab of the click is over (retried for a
//!   few seconds while another client holds the pointer).
//! - **Wayland** (feature `wayland`): the pointer is locked over the
//!   toplevel's `wl_surface` (`zwp_pointer_constraints_v1.lock_pointer`,
//!   one-shot) and its motion comes from `zwp_relative_pointer_v1`
//!   ([`sumac_platform::wayland::PointerLock`], on GDK's own `wl_display`
//!   through `gdk4-wayland`, with an event queue of our own watched on the
//!   main loop: see that module for why this is safe next to GDK's reads).
//!   The guest gets the *unaccelerated* deltas (it accelerates them itself),
//!   in surface-local units scaled to guest pixels, fractions carried over
//!   ([`DeltaScaler`]). Buttons and the wheel still come through GTK. When
//!   the compositor ends the lock (focus moved away), the grab ends too.
//! - **Elsewhere** (a compositor without pointer constraints or relative
//!   pointer, another backend, or when the X grab fails): the cursor is hidden
//!   over the widget and deltas come from successive GTK motion positions.
//!   Nothing confines or warps the pointer: deltas stop at the screen edge
//!   and the pointer may leave the window.
//!
//! The decisions live in plain structs ([`PointerGrabState`], [`WarpTracker`],
//! [`DeltaScaler`], [`keycode_table_from_x11`], and the lock's
//! [`LockTracker`](sumac_platform::wayland::LockTracker) on Wayland) tested
//! without a display.

use super::input::GrabAction;
use crate::client::inputs::{MouseButton, ScrollDirection};
use std::collections::VecDeque;
use sumac_platform::keymap::KeycodeTable;

/// The pointer-grab state machine: a click grabs in server mode; the hotkey,
/// focus loss, a switch to client mode or the end of the session release.
#[derive(Debug, Default)]
pub(crate) struct PointerGrabState {
    grabbed: bool,
}

impl PointerGrabState {
    pub(crate) fn grabbed(&self) -> bool {
        self.grabbed
    }

    fn set(&mut self, grab: bool) -> GrabAction {
        match (self.grabbed, grab) {
            (false, true) => {
                self.grabbed = true;
                GrabAction::Grab
            }
            (true, false) => {
                self.grabbed = false;
                GrabAction::Ungrab
            }
            _ => GrabAction::None,
        }
    }

    /// A button went down on the display. Grabs in server mode only; a
    /// `Grab` answer means the click is the grabbing one (not for the guest).
    pub(crate) fn click(&mut self, server_mode: bool) -> GrabAction {
        if server_mode { self.set(true) } else { GrabAction::None }
    }

    /// The release hotkey was pressed.
    pub(crate) fn hotkey(&mut self) -> GrabAction {
        self.set(false)
    }

    /// The display lost the keyboard focus (window deactivated, focus moved).
    pub(crate) fn focus_out(&mut self) -> GrabAction {
        self.set(false)
    }

    /// The server switched the mouse mode.
    pub(crate) fn mode_changed(&mut self, server_mode: bool) -> GrabAction {
        if server_mode { GrabAction::None } else { self.set(false) }
    }

    /// The grab ended without us (session over, X server ended it).
    pub(crate) fn release(&mut self) -> GrabAction {
        self.set(false)
    }
}

/// Warps not yet seen come back within a few events; more means the events stopped.
#[cfg_attr(
    not(all(feature = "x11", unix, not(target_os = "macos"))),
    allow(dead_code, reason = "used by the X11 grab")
)]
const MAX_PENDING_WARPS: usize = 16;

/// Turns the positions of the grabbed pointer into deltas. A warp moves the
/// pointer without the user: the events the server generated after the warp
/// request (sequence number at or after the warp's, modulo 2^16) are measured
/// from the warp target, so the warp's own motion gives no delta and no user
/// motion is lost or counted twice, however events and warps interleave.
#[cfg_attr(
    not(all(feature = "x11", unix, not(target_os = "macos"))),
    allow(dead_code, reason = "used by the X11 grab")
)]
#[derive(Debug, Default)]
pub(crate) struct WarpTracker {
    /// Where the pointer is, as far as the events processed so far tell.
    last: Option<(i32, i32)>,
    /// Warps sent and not yet overtaken by an event: (sequence, target).
    warps: VecDeque<(u16, (i32, i32))>,
}

/// Whether sequence number `seq` is `reference` or later (16-bit wrap-around).
#[cfg_attr(
    not(all(feature = "x11", unix, not(target_os = "macos"))),
    allow(dead_code, reason = "used by the X11 grab")
)]
fn at_or_after(seq: u16, reference: u16) -> bool {
    // Half the sequence space ahead counts as "after", as in Xlib.
    seq.wrapping_sub(reference) < 0x8000
}

#[cfg_attr(
    not(all(feature = "x11", unix, not(target_os = "macos"))),
    allow(dead_code, reason = "used by the X11 grab")
)]
impl WarpTracker {
    /// Starts over with the pointer at `at` (its position when the grab began, if known).
    pub(crate) fn reset(&mut self, at: Option<(i32, i32)>) {
        self.last = at;
        self.warps.clear();
    }

    /// A warp to `target` was sent as request `sequence`.
    pub(crate) fn warped(&mut self, sequence: u16, target: (i32, i32)) {
        if self.warps.len() >= MAX_PENDING_WARPS {
            self.warps.pop_front();
        }
        self.warps.push_back((sequence, target));
    }

    /// A motion event to (`x`, `y`) generated with `sequence`; returns the
    /// user's delta (zero for the warp's own motion).
    pub(crate) fn motion(&mut self, sequence: u16, x: i32, y: i32) -> (i32, i32) {
        while let Some(&(warp_seq, target)) = self.warps.front() {
            if !at_or_after(sequence, warp_seq) {
                break;
            }
            self.last = Some(target);
            self.warps.pop_front();
        }
        let delta = match self.last {
            Some((lx, ly)) => (x.saturating_sub(lx), y.saturating_sub(ly)),
            None => (0, 0),
        };
        self.last = Some((x, y));
        delta
    }

    /// Whether a warp to `centre` is due: the pointer is elsewhere and no
    /// warp is on its way.
    pub(crate) fn needs_warp(&self, centre: (i32, i32)) -> bool {
        // Position unknown (grab just taken): warp too, its motion sets the origin.
        self.warps.is_empty() && self.last != Some(centre)
    }
}

/// Scales pointer deltas to guest pixels, keeping the fractions for the next motion.
#[derive(Debug, Default)]
pub(crate) struct DeltaScaler {
    remainder: (f64, f64),
}

impl DeltaScaler {
    /// (`dx`, `dy`) times `scale` (guest pixels per unit of the input), as whole pixels.
    pub(crate) fn push(&mut self, dx: f64, dy: f64, scale: f64) -> (i32, i32) {
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        if !dx.is_finite() || !dy.is_finite() {
            return (0, 0);
        }
        let (rx, ry) = self.remainder;
        let (x, y) = (dx * scale + rx, dy * scale + ry);
        let (ix, iy) = (x.trunc(), y.trunc());
        self.remainder = (x - ix, y - iy);
        (clamp_i32(ix), clamp_i32(iy))
    }

    pub(crate) fn reset(&mut self) {
        self.remainder = (0.0, 0.0);
    }
}

fn clamp_i32(v: f64) -> i32 {
    // Clamped into range first: the cast cannot overflow.
    v.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

/// What an X button of the grabbed pointer means for the guest.
#[cfg_attr(
    not(all(feature = "x11", unix, not(target_os = "macos"))),
    allow(dead_code, reason = "used by the X11 grab")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XButton {
    Button(MouseButton),
    /// One wheel notch (sent on press only).
    Wheel(ScrollDirection),
}

/// Maps an X core button number (1-3, 4/5 wheel, 8/9 back/forward); `None`
/// for the horizontal wheel (6/7, no SPICE button) and unknown buttons.
#[cfg_attr(
    not(all(feature = "x11", unix, not(target_os = "macos"))),
    allow(dead_code, reason = "used by the X11 grab")
)]
pub(crate) fn x_button(button: u8) -> Option<XButton> {
    Some(match button {
        1 => XButton::Button(MouseButton::Left),
        2 => XButton::Button(MouseButton::Middle),
        3 => XButton::Button(MouseButton::Right),
        4 => XButton::Wheel(ScrollDirection::Up),
        5 => XButton::Wheel(ScrollDirection::Down),
        8 => XButton::Button(MouseButton::Side),
        9 => XButton::Button(MouseButton::Extra),
        _ => return None,
    })
}

/// The keycode table for an X server, from what asking it gave: its answer
/// when it has one, evdev (every current Xorg and Xwayland) when it has none
/// or the question failed.
#[cfg_attr(
    not(all(feature = "x11", unix, not(target_os = "macos"))),
    allow(dead_code, reason = "used by the X11 grab")
)]
pub(crate) fn keycode_table_from_x11<E: std::fmt::Display>(answer: Result<Option<KeycodeTable>, E>) -> KeycodeTable {
    match answer {
        Ok(Some(table)) => table,
        Ok(None) => KeycodeTable::X11Evdev,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the X server for its keycodes; assuming evdev");
            KeycodeTable::X11Evdev
        }
    }
}

#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub(crate) use x11::X11Grab;

/// The X11 side: our own connection, the grab and the warps.
#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
mod x11 {
    use super::WarpTracker;
    use gtk::prelude::*;
    use gtk::{gdk, gio, glib, graphene};
    use sumac_platform::keymap::KeycodeTable;
    use sumac_platform::x11::{GrabEvent, GrabStatus, X11Error, X11Pointer, XWindow};

    /// One display widget's X connection and grab.
    pub(crate) struct X11Grab {
        pointer: X11Pointer,
        /// The toplevel window grabbed, while grabbed.
        window: Option<XWindow>,
        tracker: WarpTracker,
    }

    impl std::fmt::Debug for X11Grab {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("X11Grab")
                .field("window", &self.window)
                .field("tracker", &self.tracker)
                .finish_non_exhaustive()
        }
    }

    /// The toplevel X window of `widget`, if GDK runs on X11 and it is realized.
    fn toplevel_xid(widget: &gtk::Widget) -> Option<XWindow> {
        let surface = widget.native()?.surface()?;
        let xid = surface.downcast_ref::<gdk4_x11::X11Surface>()?.xid();
        XWindow::try_from(xid).ok()
    }

    /// Where the centre of `widget` is in its toplevel X window, in X pixels.
    pub(crate) fn centre_in_toplevel(widget: &gtk::Widget) -> Option<(i32, i32)> {
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

    impl X11Grab {
        /// Opens our connection to the X server GDK uses; `None` when GDK is
        /// not on X11 (Wayland, ...) or the server cannot be reached.
        pub(crate) fn open(display: &gdk::Display) -> Option<Self> {
            display.downcast_ref::<gdk4_x11::X11Display>()?;
            let name = display.name();
            match X11Pointer::connect_to(name.as_str()) {
                Ok(pointer) => Some(Self {
                    pointer,
                    window: None,
                    tracker: WarpTracker::default(),
                }),
                Err(e) => {
                    tracing::warn!(display = %name, error = %e, "no X connection of our own: no pointer confinement");
                    None
                }
            }
        }

        /// The server's keycode set (`None`: nothing known).
        pub(crate) fn keycode_table(&self) -> Result<Option<KeycodeTable>, X11Error> {
            self.pointer.keycode_table()
        }

        pub(crate) fn is_grabbed(&self) -> bool {
            self.window.is_some()
        }

        /// Tries to grab the pointer into `widget`'s toplevel.
        pub(crate) fn grab(&mut self, widget: &gtk::Widget) -> Result<GrabStatus, X11Error> {
            let Some(window) = toplevel_xid(widget) else {
                return Ok(GrabStatus::NotViewable);
            };
            // Events left from an earlier grab (after its ungrab) are stale.
            while let Ok(Some(_)) = self.pointer.poll_event() {}
            let status = self.pointer.grab(window)?;
            if status == GrabStatus::Success {
                self.window = Some(window);
                self.tracker.reset(None);
            }
            Ok(status)
        }

        /// Ends our grab (if any).
        pub(crate) fn ungrab(&mut self) {
            if self.window.take().is_some()
                && let Err(e) = self.pointer.ungrab()
            {
                tracing::warn!(error = %e, "X pointer ungrab failed");
            }
            self.tracker.reset(None);
        }

        /// The next event of the grab, already turned into a delta for
        /// motions: `Ok(None)` when no more are waiting.
        pub(crate) fn next(&mut self) -> Result<Option<GrabInput>, X11Error> {
            Ok(self.pointer.poll_event()?.map(|event| match event {
                GrabEvent::Motion { x, y, sequence } => {
                    let (dx, dy) = self.tracker.motion(sequence, x, y);
                    GrabInput::Motion(dx, dy)
                }
                GrabEvent::Button { button, pressed } => GrabInput::Button(button, pressed),
                GrabEvent::Ended => GrabInput::Ended,
            }))
        }

        /// Warps the pointer back to `widget`'s centre unless it is there or a
        /// warp is on its way.
        pub(crate) fn recentre(&mut self, widget: &gtk::Widget) -> Result<(), X11Error> {
            let (Some(window), Some(centre)) = (self.window, centre_in_toplevel(widget)) else {
                return Ok(());
            };
            if self.tracker.needs_warp(centre) {
                let sequence = self.pointer.warp_in_nowait(window, centre.0, centre.1)?;
                self.tracker.warped(sequence, centre);
            }
            Ok(())
        }

        /// Watches our connection for input on the main loop (through a
        /// `GSocket` on a duplicate of its descriptor; x11rb's socket is
        /// non-blocking already, which the GSocket also wants).
        pub(crate) fn watch(
            &self,
            mut f: impl FnMut() -> glib::ControlFlow + 'static,
        ) -> Result<glib::SourceId, String> {
            let fd = self.pointer.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?;
            let socket = gio::Socket::from_fd(fd).map_err(|e| e.to_string())?;
            let source = gio::prelude::SocketExtManual::create_source(
                &socket,
                glib::IOCondition::IN | glib::IOCondition::ERR | glib::IOCondition::HUP,
                None::<&gio::Cancellable>,
                Some("sumac-x11-pointer-grab"),
                glib::Priority::DEFAULT,
                move |_, _| f(),
            );
            Ok(source.attach(None))
        }
    }

    /// One event of the X grab, for the input handler.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum GrabInput {
        /// The user moved the pointer by this many X pixels.
        Motion(i32, i32),
        /// X button number, pressed.
        Button(u8, bool),
        /// The X server ended the grab.
        Ended,
    }
}

#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub(crate) use x11::GrabInput;

#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
pub(crate) use wayland::WaylandLock;

/// The Wayland side: the pointer lock on GDK's `wl_display`.
#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
mod wayland {
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
        pub(crate) fn watch(
            &self,
            mut f: impl FnMut() -> glib::ControlFlow + 'static,
        ) -> Result<glib::SourceId, String> {
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
}

#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
pub(crate) use wayland::is_wayland;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grabs_on_click_in_server_mode_only() {
        let mut g = PointerGrabState::default();
        assert_eq!(g.click(false), GrabAction::None, "client mode never grabs");
        assert!(!g.grabbed());
        assert_eq!(g.click(true), GrabAction::Grab);
        assert!(g.grabbed());
        assert_eq!(g.click(true), GrabAction::None, "clicks while grabbed go to the guest");
        assert_eq!(g.hotkey(), GrabAction::Ungrab);
        assert_eq!(g.hotkey(), GrabAction::None);
        assert_eq!(g.click(true), GrabAction::Grab);
        assert_eq!(g.focus_out(), GrabAction::Ungrab);
        assert_eq!(g.focus_out(), GrabAction::None);
        assert_eq!(g.click(true), GrabAction::Grab);
        assert_eq!(g.mode_changed(true), GrabAction::None);
        assert_eq!(g.mode_changed(false), GrabAction::Ungrab, "client mode releases");
        assert_eq!(g.click(true), GrabAction::Grab);
        assert_eq!(g.release(), GrabAction::Ungrab);
        assert!(!g.grabbed());
    }

    #[test]
    fn warp_echo_gives_no_delta() {
        let mut t = WarpTracker::default();
        t.reset(None);
        assert!(t.needs_warp((500, 400)), "unknown position: warp to the centre");
        // The first position only sets the origin.
        assert_eq!(t.motion(10, 500, 400), (0, 0));
        assert_eq!(t.motion(11, 510, 395), (10, -5));
        assert!(t.needs_warp((500, 400)));
        t.warped(12, (500, 400));
        assert!(!t.needs_warp((500, 400)), "one warp at a time");
        // The user moved again before the server processed the warp: counted from 510,395.
        assert_eq!(t.motion(11, 530, 405), (20, 10));
        // The warp's own motion: nothing.
        assert_eq!(t.motion(12, 500, 400), (0, 0));
        // Then the user's moves from the centre.
        assert_eq!(t.motion(12, 503, 401), (3, 1));
        assert_eq!(t.motion(13, 490, 401), (-13, 0));
        assert!(t.needs_warp((500, 400)));
    }

    #[test]
    fn warp_without_echo_and_overtaken_warps() {
        let mut t = WarpTracker::default();
        t.reset(Some((100, 100)));
        t.warped(5, (50, 50));
        t.warped(6, (60, 60));
        // The first event after both warps is a user move from the last target.
        assert_eq!(t.motion(7, 70, 65), (10, 5));
        // A warp whose echo never came (pointer already there) is overtaken by any later event.
        t.warped(8, (70, 65));
        assert_eq!(t.motion(9, 71, 65), (1, 0));
        // Sequence numbers wrap at 2^16.
        t.warped(0xfffe, (0, 0));
        assert_eq!(t.motion(0xfffd, 75, 65), (4, 0), "before the warp");
        assert_eq!(t.motion(0x0001, 2, 3), (2, 3), "after the warp, across the wrap");
        // Pending warps are capped.
        for s in 0..100u16 {
            t.warped(s.wrapping_add(10), (0, 0));
        }
        assert!(t.warps.len() <= MAX_PENDING_WARPS);
    }

    #[test]
    fn deltas_scale_and_keep_fractions() {
        let mut s = DeltaScaler::default();
        assert_eq!(s.push(10.0, -4.0, 1.0), (10, -4));
        assert_eq!(s.push(1.0, 1.0, 0.5), (0, 0));
        assert_eq!(s.push(1.0, 1.0, 0.5), (1, 1));
        assert_eq!(s.push(3.0, 0.0, 2.0), (6, 0));
        assert_eq!(s.push(f64::NAN, 1.0, 1.0), (0, 0));
        assert_eq!(s.push(1.0, 0.0, f64::INFINITY), (1, 0), "a bad scale counts as 1");
        assert_eq!(s.push(1e300, -1e300, 1.0), (i32::MAX, i32::MIN));
        s.reset();
        assert_eq!(s.push(0.4, 0.0, 1.0), (0, 0));
    }

    #[test]
    fn wayland_fixed_point_fractions_add_up() {
        // Relative motion comes in wl_fixed (1/256) surface-local units: a slow
        // hand sends fractions that must add up, never be dropped.
        let mut s = DeltaScaler::default();
        let mut sum = (0, 0);
        for _ in 0..256 {
            let (x, y) = s.push(1.0 / 256.0, -3.0 / 256.0, 1.0);
            sum = (sum.0 + x, sum.1 + y);
        }
        assert_eq!(sum, (1, -3));
        // HiDPI (2 device pixels per surface unit) at 100 % zoom, then a 50 % zoom.
        s.reset();
        assert_eq!(s.push(0.75, 0.25, 2.0), (1, 0), "1.5 and 0.5 pixels: the halves wait");
        assert_eq!(s.push(0.75, 0.25, 2.0), (2, 1), "3 and 1 pixels in all");
        s.reset();
        let mut sum = 0;
        for _ in 0..10 {
            sum += s.push(0.3, 0.0, 0.5).0;
        }
        assert_eq!(sum, 1, "0.3 × 10 × 0.5 = 1.5: one pixel sent, half a pixel kept");
    }

    #[test]
    fn x_buttons_map_to_spice() {
        assert_eq!(x_button(1), Some(XButton::Button(MouseButton::Left)));
        assert_eq!(x_button(2), Some(XButton::Button(MouseButton::Middle)));
        assert_eq!(x_button(3), Some(XButton::Button(MouseButton::Right)));
        assert_eq!(x_button(4), Some(XButton::Wheel(ScrollDirection::Up)));
        assert_eq!(x_button(5), Some(XButton::Wheel(ScrollDirection::Down)));
        assert_eq!(x_button(6), None);
        assert_eq!(x_button(8), Some(XButton::Button(MouseButton::Side)));
        assert_eq!(x_button(9), Some(XButton::Button(MouseButton::Extra)));
        assert_eq!(x_button(0), None);
    }

    #[test]
    fn keycode_table_selection() {
        assert_eq!(
            keycode_table_from_x11::<String>(Ok(Some(KeycodeTable::X11Xfree86))),
            KeycodeTable::X11Xfree86
        );
        assert_eq!(
            keycode_table_from_x11::<String>(Ok(Some(KeycodeTable::X11Xquartz))),
            KeycodeTable::X11Xquartz
        );
        assert_eq!(keycode_table_from_x11::<String>(Ok(None)), KeycodeTable::X11Evdev);
        assert_eq!(keycode_table_from_x11(Err("broken pipe")), KeycodeTable::X11Evdev);
        // From the XKB names X servers report.
        let from_name =
            |n: &str| keycode_table_from_x11::<String>(Ok(sumac_platform::keymap::keycode_table_for_x11(n)));
        assert_eq!(from_name("xfree86+aliases(qwerty)"), KeycodeTable::X11Xfree86);
        assert_eq!(from_name("evdev+aliases(qwerty)"), KeycodeTable::X11Evdev);
        assert_eq!(from_name("sun(type6)"), KeycodeTable::X11Evdev);
    }
}
