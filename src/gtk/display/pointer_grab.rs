//! The pointer grab of SPICE's *server* mouse mode, as plain state.
//!
//! In server mode the guest moves its own pointer by the relative motions we
//! send, so (like remote-viewer) a click into the live display **grabs** the
//! pointer: it is hidden, cannot leave the window, every motion is sent as a
//! delta. The release hotkey (the one that releases the keyboard), focus
//! loss, a window switch and the end of the session end the grab. The click
//! that grabs is not sent to the guest. How the pointer is locked is the
//! windowing system's business ([`super::platform`]); deltas are scaled to
//! guest pixels with the fractions kept ([`DeltaScaler`]).

use super::input::GrabAction;

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

#[cfg(test)]
mod tests;
