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
mod x11;

#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub(crate) use x11::GrabInput;

#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
pub(crate) use wayland::WaylandLock;

/// The Wayland side: the pointer lock on GDK's `wl_display`.
#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
mod wayland;

#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
pub(crate) use wayland::is_wayland;

#[cfg(test)]
mod tests;
