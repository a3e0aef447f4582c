//! The windowing systems under a [`Display`](super::Display): pointer lock
//! and keyboard grab, the one place that knows which windowing system GDK
//! runs on (spicec's platform folders).
//!
//! One file per windowing system, the same names in each: a `Backend`
//! with `Backend::open(&gdk::Display) -> Option<Backend>` that implements
//! [`WindowingSystem`]:
//!
//! - `x11.rs` (feature `x11`): an X pointer grab on a connection of our own,
//!   confined to the toplevel and warped back to the centre; the X server's
//!   keycode set.
//! - `wayland.rs` (feature `wayland`): `zwp_pointer_constraints_v1` lock and
//!   `zwp_relative_pointer_v1` motion on GDK's `wl_display`.
//! - `other.rs`: anything else (or when the above cannot be set up): the
//!   pointer is only hidden and GTK's positions give the deltas.
//!
//! The keyboard grab is GDK's `inhibit_system_shortcuts` on the toplevel on
//! every windowing system (an active keyboard grab on X11, the
//! keyboard-shortcuts-inhibit protocol on Wayland). *When* to grab is not
//! decided here but in the input layer's grab policy
//! ([`GrabState`](super::input::GrabState)): only over a live guest display.
//! The widget calls these through the trait and has no `cfg` of its own for
//! them; the `cfg` lines are here, in [`open`].

use crate::client::inputs::{MouseButton, ScrollDirection};
use gtk::gdk;
use gtk::prelude::*;
use std::rc::Rc;
use sumac_platform::keymap::KeycodeTable;

mod other;
#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
mod wayland;
#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
mod x11;

/// Called by a backend (from a main-loop source, never from inside one of
/// its own methods) when [`WindowingSystem::poll`] has something to give.
pub(crate) type Wake = Rc<dyn Fn()>;

/// What the locked pointer did.
#[cfg_attr(
    not(all(any(feature = "x11", feature = "wayland"), unix, not(target_os = "macos"))),
    allow(dead_code, reason = "only the X11 and Wayland backends lock the pointer")
)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PointerEvent {
    /// Relative motion, in device pixels (`logical: false`) or in logical
    /// (surface-local) units.
    Motion { dx: f64, dy: f64, logical: bool },
    /// A button went down (`true`) or up.
    Button(MouseButton, bool),
    /// One wheel notch.
    Wheel(ScrollDirection),
    /// The windowing system ended the lock (focus moved, grab broken).
    Ended,
}

/// Pointer lock and keyboard grab on one windowing system.
pub(crate) trait WindowingSystem {
    /// For the logs: `x11`, `wayland`, `other`.
    fn name(&self) -> &'static str;

    /// The keycode set key events carry (`None`: the platform's native one).
    fn keycode_table(&self) -> Option<KeycodeTable> {
        None
    }

    /// Sends the keyboard's system shortcuts (Alt+Tab, ...) to `widget`'s
    /// toplevel instead of the desktop; whether it is done.
    fn grab_keyboard(&mut self, widget: &gtk::Widget) -> bool {
        match toplevel(widget) {
            Some(t) => {
                t.inhibit_system_shortcuts(None::<&gdk::Event>);
                true
            }
            None => false,
        }
    }

    /// Gives the system shortcuts back to the desktop.
    fn ungrab_keyboard(&mut self, widget: &gtk::Widget) {
        if let Some(t) = toplevel(widget) {
            t.restore_system_shortcuts();
        }
    }

    /// Starts locking the pointer into `widget`'s window (it may take effect
    /// later: `wake` is called whenever [`Self::poll`] should be called).
    fn lock_pointer(&mut self, widget: &gtk::Widget, wake: Wake);

    /// Ends the lock (if any).
    fn unlock_pointer(&mut self);

    /// Whether the lock gives the pointer's motion now (GTK's is then ignored).
    fn pointer_locked(&self) -> bool;

    /// What the locked pointer did since the last call (without blocking).
    fn poll(&mut self, widget: &gtk::Widget) -> Vec<PointerEvent>;
}

/// The toplevel surface of `widget`, once realized.
fn toplevel(widget: &gtk::Widget) -> Option<gdk::Toplevel> {
    widget.native()?.surface()?.downcast::<gdk::Toplevel>().ok()
}

/// The backend for the windowing system `display` runs on.
pub(crate) fn open(display: &gdk::Display) -> Box<dyn WindowingSystem> {
    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    if let Some(backend) = x11::Backend::open(display) {
        return Box::new(backend);
    }
    #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
    if let Some(backend) = wayland::Backend::open(display) {
        return Box::new(backend);
    }
    Box::new(other::Backend::open(display).unwrap_or_default())
}

/// The part of `monitor` windows may cover (without panels and docks) where
/// the windowing system says (X11's `_NET_WORKAREA`), else the whole monitor.
pub fn work_area(monitor: &gdk::Monitor) -> gdk::Rectangle {
    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    if let Some(area) = x11::work_area(monitor) {
        return area;
    }
    monitor.geometry()
}
