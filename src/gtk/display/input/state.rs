//! The input decisions as plain data: the grab hotkey, the keyboard grab
//! state, wheel accumulation and button mapping (tested without a display).

use super::*;

/// Left/right variants of the modifier keys, as XT scancodes.
pub(crate) const CTRL: [u16; 2] = [0x1d, 0x11d];
pub(crate) const ALT: [u16; 2] = [0x38, 0x138];
#[allow(
    dead_code,
    reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
)]
pub(crate) const SHIFT: [u16; 2] = [0x2a, 0x36];
#[allow(
    dead_code,
    reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
)]
pub(crate) const SUPER: [u16; 2] = [0x15b, 0x15c];

/// A key combination: every group must have one of its keys held, and no
/// other key may be held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hotkey {
    pub(super) groups: Vec<Vec<u16>>,
}

impl Default for Hotkey {
    /// Ctrl+Alt, remote-viewer's default "release cursor" combination.
    fn default() -> Self {
        Self {
            groups: vec![CTRL.to_vec(), ALT.to_vec()],
        }
    }
}

impl Hotkey {
    /// Parses remote-viewer's notation: `ctrl+alt`, `shift+f12`, `super+ctrl+a`...
    /// Keys: ctrl, alt, shift, super, f1..f12, a..z. `None` for anything else.
    #[allow(
        dead_code,
        reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
    )]
    pub(crate) fn parse(text: &str) -> Option<Self> {
        const LETTERS: &[(char, u16)] = &[
            ('q', 0x10),
            ('w', 0x11),
            ('e', 0x12),
            ('r', 0x13),
            ('t', 0x14),
            ('y', 0x15),
            ('u', 0x16),
            ('i', 0x17),
            ('o', 0x18),
            ('p', 0x19),
            ('a', 0x1e),
            ('s', 0x1f),
            ('d', 0x20),
            ('f', 0x21),
            ('g', 0x22),
            ('h', 0x23),
            ('j', 0x24),
            ('k', 0x25),
            ('l', 0x26),
            ('z', 0x2c),
            ('x', 0x2d),
            ('c', 0x2e),
            ('v', 0x2f),
            ('b', 0x30),
            ('n', 0x31),
            ('m', 0x32),
        ];
        let mut groups = Vec::new();
        for part in text.split('+') {
            let p = part.trim().to_ascii_lowercase();
            let group = match p.as_str() {
                "ctrl" | "control" => CTRL.to_vec(),
                "alt" => ALT.to_vec(),
                "shift" => SHIFT.to_vec(),
                "super" | "meta" | "win" => SUPER.to_vec(),
                _ => {
                    if let Some(n) = p.strip_prefix('f').and_then(|n| n.parse::<u16>().ok()) {
                        match n {
                            1..=10 => vec![0x3a + n],
                            11 => vec![0x57],
                            12 => vec![0x58],
                            _ => return None,
                        }
                    } else {
                        let mut chars = p.chars();
                        let (Some(c), None) = (chars.next(), chars.next()) else {
                            return None;
                        };
                        vec![LETTERS.iter().find(|(l, _)| *l == c)?.1]
                    }
                }
            };
            groups.push(group);
        }
        (!groups.is_empty()).then_some(Self { groups })
    }

    pub(super) fn matches(&self, held: &BTreeSet<u16>) -> bool {
        let all_groups = self.groups.iter().all(|g| g.iter().any(|k| held.contains(k)));
        let nothing_else = held.iter().all(|k| self.groups.iter().any(|g| g.contains(k)));
        all_groups && nothing_else
    }
}

/// What the keyboard grab should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrabAction {
    None,
    Grab,
    Ungrab,
}

/// The keyboard-grab state machine: grabbed while focused, until the hotkey;
/// a click grabs again.
#[derive(Debug, Default)]
pub(crate) struct GrabState {
    pub(super) enabled: bool,
    pub(super) focused: bool,
    pub(super) grabbed: bool,
    pub(super) hotkey: Hotkey,
    pub(super) held: BTreeSet<u16>,
    /// The hotkey fired and its keys are still down: their releases are not the guest's business.
    pub(super) fired: bool,
}

impl GrabState {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    pub(crate) fn grabbed(&self) -> bool {
        self.grabbed
    }

    #[allow(
        dead_code,
        reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
    )]
    pub(crate) fn set_hotkey(&mut self, hotkey: Hotkey) {
        self.hotkey = hotkey;
    }

    pub(super) fn set(&mut self, grab: bool) -> GrabAction {
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

    pub(crate) fn focus_in(&mut self) -> GrabAction {
        self.focused = true;
        self.set(self.enabled)
    }

    pub(crate) fn focus_out(&mut self) -> GrabAction {
        self.focused = false;
        self.held.clear();
        self.fired = false;
        self.set(false)
    }

    pub(crate) fn click(&mut self) -> GrabAction {
        self.set(self.enabled && self.focused)
    }

    /// A key went down; returns the grab change (the hotkey ungrabs).
    pub(crate) fn key_press(&mut self, scancode: u16) -> GrabAction {
        self.held.insert(scancode);
        if self.grabbed && self.hotkey.matches(&self.held) {
            self.fired = true;
            return self.set(false);
        }
        GrabAction::None
    }

    /// Whether exactly the hotkey's keys are held now (whatever the grab).
    pub(crate) fn hotkey_held(&self) -> bool {
        self.hotkey.matches(&self.held)
    }

    pub(crate) fn key_release(&mut self, scancode: u16) {
        self.held.remove(&scancode);
        if self.held.is_empty() {
            self.fired = false;
        }
    }
}

/// Turns smooth scroll deltas into wheel steps, keeping the remainder.
#[derive(Debug, Default)]
pub(crate) struct ScrollAccumulator {
    pub(super) acc: f64,
}

impl ScrollAccumulator {
    /// Adds `dy` (in steps; positive = down) and returns the whole steps to send.
    pub(crate) fn push(&mut self, dy: f64) -> Option<(ScrollDirection, u32)> {
        if !dy.is_finite() {
            return None;
        }
        // A change of direction drops what was left of the other one.
        if self.acc * dy < 0.0 {
            self.acc = 0.0;
        }
        self.acc += dy;
        let whole = self.acc.trunc();
        if whole == 0.0 {
            return None;
        }
        self.acc -= whole;
        let steps = whole.abs().min(f64::from(u32::MAX)) as u32;
        let dir = if whole > 0.0 {
            ScrollDirection::Down
        } else {
            ScrollDirection::Up
        };
        Some((dir, steps))
    }

    pub(crate) fn reset(&mut self) {
        self.acc = 0.0;
    }
}

/// How long the pointer grab is retried while another client holds the
/// pointer (GTK's implicit grab lasts until the click's button is released).
#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub(crate) const GRAB_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);
#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub(crate) const GRAB_RETRIES: u32 = 150;

/// Name of every controller [`InputHandler::attach`] installs.
pub(crate) const CONTROLLER_NAME: &str = "sumac-input";

/// Logical pixels of smooth (touchpad) scrolling per wheel step.
pub(crate) const SURFACE_PIXELS_PER_STEP: f64 = 20.0;

/// A GDK button number to a SPICE button (8/9 are back/forward on X11 and Wayland).
pub(crate) fn spice_button(gdk_button: u32) -> Option<MouseButton> {
    Some(match gdk_button {
        1 => MouseButton::Left,
        2 => MouseButton::Middle,
        3 => MouseButton::Right,
        8 => MouseButton::Side,
        9 => MouseButton::Extra,
        _ => return None,
    })
}

/// Maps widget coordinates (logical px) to guest pixels of the monitor.
pub(crate) type GuestMap = dyn Fn(f64, f64) -> Option<(i32, i32)>;
/// Told whether the keyboard (or the pointer) is grabbed.
pub(crate) type GrabCallback = Box<dyn Fn(bool)>;
