//! The X11 backend's plain parts, tested without an X server: the warp
//! tracker that tells the user's motion from the warp's echo, X buttons,
//! and the keycode set from the X server's answer.

use crate::client::inputs::{MouseButton, ScrollDirection};
use std::collections::VecDeque;
use sumac_platform::keymap::KeycodeTable;

/// Warps not yet seen come back within a few events; more means the events stopped.
const MAX_PENDING_WARPS: usize = 16;

/// Turns the positions of the grabbed pointer into deltas. A warp moves the
/// pointer without the user: the events the server generated after the warp
/// request (sequence number at or after the warp's, modulo 2^16) are measured
/// from the warp target, so the warp's own motion gives no delta and no user
/// motion is lost or counted twice, however events and warps interleave.
#[derive(Debug, Default)]
pub(crate) struct WarpTracker {
    /// Where the pointer is, as far as the events processed so far tell.
    last: Option<(i32, i32)>,
    /// Warps sent and not yet overtaken by an event: (sequence, target).
    warps: VecDeque<(u16, (i32, i32))>,
}

/// Whether sequence number `seq` is `reference` or later (16-bit wrap-around).
fn at_or_after(seq: u16, reference: u16) -> bool {
    // Half the sequence space ahead counts as "after", as in Xlib.
    seq.wrapping_sub(reference) < 0x8000
}

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

/// What an X button of the grabbed pointer means for the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XButton {
    Button(MouseButton),
    /// One wheel notch (sent on press only).
    Wheel(ScrollDirection),
}

/// Maps an X core button number (1-3, 4/5 wheel, 8/9 back/forward); `None`
/// for the horizontal wheel (6/7, no SPICE button) and unknown buttons.
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

#[cfg(test)]
mod tests;
