//! The input decisions as plain data: the grab hotkey, the keyboard grab
//! state, wheel accumulation and button mapping (tested without a display).

use super::*;

/// Left/right variants of the modifier keys, as XT scancodes.
pub(crate) const CTRL: [u16; 2] = [0x1d, 0x11d];
pub(crate) const ALT: [u16; 2] = [0x38, 0x138];
pub(crate) const SHIFT: [u16; 2] = [0x2a, 0x36];
pub(crate) const SUPER: [u16; 2] = [0x15b, 0x15c];

/// A key combination: every group must have one of its keys held, and no
/// other key may be held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hotkey {
    pub(super) groups: Vec<Vec<u16>>,
}

impl Default for Hotkey {
    /// Shift+F12, remote-viewer's release-cursor hotkey.
    fn default() -> Self {
        Self {
            groups: vec![SHIFT.to_vec(), vec![F12]],
        }
    }
}

/// The F12 key's scancode.
const F12: u16 = 0x58;

impl Hotkey {
    /// Parses remote-viewer's notation: `ctrl+alt`, `shift+f12`, `super+ctrl+a`...
    /// (see [`Hotkey::from_spec`] for the keys it knows). `None` for anything else.
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Self::from_spec(&crate::client::vv::Hotkey::parse(text).ok()?)
    }

    /// The combination `spec` names, as the keys to watch: its modifiers
    /// (either side; Meta is taken as Super) and at most one key, matched by
    /// its position on a US keyboard (the guest gets scancodes, so the local
    /// layout plays no part): letters, digits, F1–F12, the editing and arrow
    /// keys, Escape, Tab, Return, space, BackSpace, Print, Pause, Menu, the
    /// keypad's + and −, and the punctuation keys of the main block. `None`
    /// for anything else (Hyper, F13 and above, `plus`, ...).
    pub(crate) fn from_spec(spec: &crate::client::vv::Hotkey) -> Option<Self> {
        use crate::client::vv::Modifiers;
        let mut groups = Vec::new();
        for (modifier, keys) in [
            (Modifiers::CONTROL, CTRL),
            (Modifiers::ALT, ALT),
            (Modifiers::SHIFT, SHIFT),
            (Modifiers::SUPER, SUPER),
        ] {
            if spec.modifiers.contains(modifier) {
                groups.push(keys.to_vec());
            }
        }
        if spec.modifiers.contains(Modifiers::META) && !spec.modifiers.contains(Modifiers::SUPER) {
            groups.push(SUPER.to_vec());
        }
        if spec.modifiers.contains(Modifiers::HYPER) {
            return None;
        }
        if let Some(key) = &spec.key {
            groups.push(vec![key_scancode(key)?]);
        }
        (!groups.is_empty()).then_some(Self { groups })
    }

    pub(super) fn matches(&self, held: &BTreeSet<u16>) -> bool {
        let all_groups = self.groups.iter().all(|g| g.iter().any(|k| held.contains(k)));
        let nothing_else = held.iter().all(|k| self.groups.iter().any(|g| g.contains(k)));
        all_groups && nothing_else
    }
}

/// The XT scancode of the key a GDK key name (as [`crate::client::vv::Hotkey`]
/// spells it) is on, on a US keyboard.
fn key_scancode(name: &str) -> Option<u16> {
    const ROWS: [(&str, u16); 4] = [
        ("1234567890", 0x02),
        ("qwertyuiop", 0x10),
        ("asdfghjkl", 0x1e),
        ("zxcvbnm", 0x2c),
    ];
    const NAMED: &[(&str, u16)] = &[
        ("Escape", 0x01),
        ("minus", 0x0c),
        ("-", 0x0c),
        ("equal", 0x0d),
        ("=", 0x0d),
        ("BackSpace", 0x0e),
        ("Tab", 0x0f),
        ("[", 0x1a),
        ("]", 0x1b),
        ("Return", 0x1c),
        (";", 0x27),
        ("'", 0x28),
        ("`", 0x29),
        ("\\", 0x2b),
        (",", 0x33),
        (".", 0x34),
        ("/", 0x35),
        ("space", 0x39),
        ("KP_Subtract", 0x4a),
        ("KP_Add", 0x4e),
        ("F11", 0x57),
        ("F12", 0x58),
        ("Print", 0x137),
        ("Pause", 0x146),
        ("Home", 0x147),
        ("Up", 0x148),
        ("Page_Up", 0x149),
        ("Left", 0x14b),
        ("Right", 0x14d),
        ("End", 0x14f),
        ("Down", 0x150),
        ("Page_Down", 0x151),
        ("Insert", 0x152),
        ("Delete", 0x153),
        ("Menu", 0x15d),
    ];
    if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == name) {
        return Some(*code);
    }
    if let Some(n) = name.strip_prefix('F').and_then(|n| n.parse::<u16>().ok()) {
        // F1..F10 are consecutive; F11 and F12 are in the table.
        return (1..=10).contains(&n).then(|| 0x3a + n);
    }
    let mut chars = name.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let c = c.to_ascii_lowercase();
    ROWS.iter().find_map(|(row, first)| {
        let i = row.find(c)?;
        Some(first + u16::try_from(i).ok()?)
    })
}

/// What the keyboard grab should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrabAction {
    None,
    Grab,
    Ungrab,
}

/// The keyboard-grab policy (remote-viewer's): the keyboard's system
/// shortcuts go to the guest only while
///
/// - the session is **live** (the guest's screen is shown: never on the
///   "Connecting…" or error screens),
/// - the display has the keyboard focus and its window is **active** (not
///   minimised, not switched away from),
/// - and the pointer is **over the display**, or the user grabbed it
///   **explicitly** (server mouse mode: the pointer grab),
///
/// and the release hotkey has not released it since. After the hotkey the
/// grab comes back when the pointer leaves the display and enters it again,
/// or on a click. Every condition is an input; [`GrabState::wanted`] is the
/// policy, in one place.
#[derive(Debug, Default)]
pub(crate) struct GrabState {
    pub(super) enabled: bool,
    pub(super) live: bool,
    pub(super) focused: bool,
    pub(super) active: bool,
    pub(super) inside: bool,
    pub(super) explicit: bool,
    /// The hotkey released the grab (until the pointer leaves or a click).
    pub(super) released: bool,
    pub(super) grabbed: bool,
    pub(super) hotkey: Hotkey,
    pub(super) held: BTreeSet<u16>,
    /// The hotkey fired and its keys are still down: their releases are not the guest's business.
    pub(super) fired: bool,
    /// The embedder shows a toolbar over the display (the app's full-screen
    /// toolbar): the pointer is on it, whatever crossing events say.
    pub(super) covered: bool,
}

impl GrabState {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            active: true,
            ..Self::default()
        }
    }

    pub(crate) fn grabbed(&self) -> bool {
        self.grabbed
    }

    pub(crate) fn set_hotkey(&mut self, hotkey: Hotkey) {
        self.hotkey = hotkey;
    }

    /// The policy: whether the keyboard should be grabbed now.
    pub(crate) fn wanted(&self) -> bool {
        self.enabled
            && self.live
            && self.focused
            && self.active
            && (self.inside || self.explicit)
            && !self.released
            && !self.covered
    }

    /// The embedder's toolbar covers the display (or no longer does).
    pub(crate) fn set_covered(&mut self, covered: bool) -> GrabAction {
        self.covered = covered;
        self.update()
    }

    /// Brings the grab in line with [`Self::wanted`].
    pub(super) fn update(&mut self) -> GrabAction {
        match (self.grabbed, self.wanted()) {
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

    pub(crate) fn set_enabled(&mut self, enabled: bool) -> GrabAction {
        self.enabled = enabled;
        self.update()
    }

    /// The guest's screen is shown (`true`) or the connecting/error screen.
    pub(crate) fn set_live(&mut self, live: bool) -> GrabAction {
        self.live = live;
        self.update()
    }

    pub(crate) fn focus_in(&mut self) -> GrabAction {
        self.focused = true;
        self.update()
    }

    pub(crate) fn focus_out(&mut self) -> GrabAction {
        self.focused = false;
        self.held.clear();
        self.fired = false;
        self.update()
    }

    /// The window became active or inactive (window switch, minimised).
    pub(crate) fn set_active(&mut self, active: bool) -> GrabAction {
        self.active = active;
        if !active {
            self.held.clear();
            self.fired = false;
        }
        self.update()
    }

    /// The pointer entered the display (or moved over it).
    pub(crate) fn enter(&mut self) -> GrabAction {
        self.inside = true;
        self.update()
    }

    /// The pointer left the display: the grab goes, and a hotkey release is forgotten.
    pub(crate) fn leave(&mut self) -> GrabAction {
        self.inside = false;
        self.released = false;
        self.update()
    }

    /// The pointer grab (server mouse mode) began or ended.
    pub(crate) fn set_explicit(&mut self, explicit: bool) -> GrabAction {
        self.explicit = explicit;
        self.update()
    }

    /// A click into the display: takes the grab back after the hotkey.
    pub(crate) fn click(&mut self) -> GrabAction {
        self.released = false;
        self.inside = true;
        self.update()
    }

    /// A key went down; returns the grab change (the hotkey ungrabs).
    pub(crate) fn key_press(&mut self, scancode: u16) -> GrabAction {
        self.held.insert(scancode);
        if self.grabbed && self.hotkey.matches(&self.held) {
            self.fired = true;
            self.released = true;
            return self.update();
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
