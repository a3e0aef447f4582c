//! Keyboard and mouse of a [`Display`](super::Display): GTK event controllers
//! feeding the session's [`InputsHandle`].
//!
//! - Keyboard: GDK hardware keycodes → PC XT scancodes
//!   ([`sumac_platform::keymap`]) → KEY_DOWN/KEY_UP. While the widget has the
//!   focus the keyboard is grabbed (`gdk::Toplevel::inhibit_system_shortcuts`)
//!   until the grab hotkey (default Ctrl+Alt, as remote-viewer) is pressed; a
//!   click grabs it again. Focus loss releases every key the guest sees held.
//!   On focus-in the guest's Caps/Num/Scroll lock follow the local keyboard
//!   (always sent: the server's reports are not reliable enough to skip it).
//! - Mouse: client mode sends absolute positions (through `to_guest`), server
//!   mode sends relative deltas of successive motion events. Buttons left,
//!   middle, right, back/forward; discrete and smooth scrolling (smooth deltas
//!   accumulate into wheel steps).
//!
//! Known gap: in server mouse mode the pointer is neither confined nor warped
//! back to the widget's centre (that needs the X11 window id of the surface,
//! which needs `gdk4-x11`); deltas stop at the screen edge.
//!
//! The decisions (grab state, hotkey detection, scroll accumulation) live in
//! plain structs tested without a display.

use crate::client::inputs::{InputsHandle, LockModifiers, MouseButton, MouseMode, ScrollDirection};
use gtk::prelude::*;
use gtk::{gdk, glib};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use sumac_platform::keymap::KeycodeTable;

/// Left/right variants of the modifier keys, as XT scancodes.
const CTRL: [u16; 2] = [0x1d, 0x11d];
const ALT: [u16; 2] = [0x38, 0x138];
#[allow(
    dead_code,
    reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
)]
const SHIFT: [u16; 2] = [0x2a, 0x36];
#[allow(
    dead_code,
    reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
)]
const SUPER: [u16; 2] = [0x15b, 0x15c];

/// A key combination: every group must have one of its keys held, and no
/// other key may be held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hotkey {
    groups: Vec<Vec<u16>>,
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

    fn matches(&self, held: &BTreeSet<u16>) -> bool {
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
    enabled: bool,
    focused: bool,
    grabbed: bool,
    hotkey: Hotkey,
    held: BTreeSet<u16>,
    /// The hotkey fired and its keys are still down: their releases are not the guest's business.
    fired: bool,
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
    acc: f64,
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
const CONTROLLER_NAME: &str = "sumac-input";

/// Logical pixels of smooth (touchpad) scrolling per wheel step.
const SURFACE_PIXELS_PER_STEP: f64 = 20.0;

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
type GuestMap = dyn Fn(f64, f64) -> Option<(i32, i32)>;
/// Told whether the keyboard is grabbed.
type GrabCallback = Box<dyn Fn(bool)>;

/// Input handling of one monitor widget.
pub(crate) struct InputHandler {
    inputs: InputsHandle,
    display_id: u8,
    keymap: Cell<KeycodeTable>,
    grab: RefCell<GrabState>,
    scroll: RefCell<ScrollAccumulator>,
    /// Last pointer position in widget coordinates (server-mode deltas).
    last: Cell<Option<(f64, f64)>>,
    /// Sub-pixel remainder of server-mode deltas.
    remainder: Cell<(f64, f64)>,
    widget: RefCell<Option<glib::WeakRef<gtk::Widget>>>,
    on_grab_changed: RefCell<Option<GrabCallback>>,
}

impl InputHandler {
    pub(crate) fn new(inputs: InputsHandle, display_id: u32) -> Rc<Self> {
        Rc::new(Self {
            inputs,
            display_id: u8::try_from(display_id).unwrap_or(u8::MAX),
            keymap: Cell::new(KeycodeTable::native()),
            grab: RefCell::new(GrabState::new(true)),
            scroll: RefCell::new(ScrollAccumulator::default()),
            last: Cell::new(None),
            remainder: Cell::new((0.0, 0.0)),
            widget: RefCell::new(None),
            on_grab_changed: RefCell::new(None),
        })
    }

    /// Whether the keyboard is grabbed now.
    pub(crate) fn keyboard_grabbed(&self) -> bool {
        self.grab.borrow().grabbed()
    }

    /// Sets the combination that releases the keyboard grab.
    #[allow(
        dead_code,
        reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
    )]
    pub(crate) fn set_grab_hotkey(&self, hotkey: Hotkey) {
        self.grab.borrow_mut().set_hotkey(hotkey);
    }

    /// Enables or disables grabbing the keyboard while focused (`grab-keyboard`).
    #[allow(
        dead_code,
        reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
    )]
    pub(crate) fn set_grab_enabled(&self, enabled: bool) {
        let action = {
            let mut g = self.grab.borrow_mut();
            g.enabled = enabled;
            if enabled { g.click() } else { g.set(false) }
        };
        self.apply_grab(action);
    }

    /// Called with the new state whenever the keyboard grab changes.
    pub(crate) fn connect_grab_changed(&self, f: impl Fn(bool) + 'static) {
        *self.on_grab_changed.borrow_mut() = Some(Box::new(f));
    }

    /// Selects the keycode table (e.g. from the X server's XKB keycodes name).
    #[allow(
        dead_code,
        reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
    )]
    pub(crate) fn set_keycode_table(&self, table: KeycodeTable) {
        self.keymap.set(table);
    }

    /// Presses `keys` in order and releases them in reverse (menu "Send key").
    #[allow(
        dead_code,
        reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
    )]
    pub(crate) fn send_keys(&self, keys: &[u16]) {
        self.inputs.send_keys(keys);
    }

    /// Installs key, motion, click, scroll and focus controllers on `widget`.
    /// `to_guest` maps widget coordinates (logical px) to guest pixels of this monitor (None outside it).
    ///
    /// Attaching again (to this or another handler) first removes the
    /// controllers a previous [`attach`](Self::attach) installed on `widget`.
    pub(crate) fn attach(self: &Rc<Self>, widget: &gtk::Widget, to_guest: Rc<GuestMap>) {
        Self::detach(widget);
        widget.set_focusable(true);
        widget.set_can_focus(true);
        *self.widget.borrow_mut() = Some(widget.downgrade());

        let keys = gtk::EventControllerKey::new();
        let this = Rc::clone(self);
        keys.connect_key_pressed(move |_, _keyval, keycode, _state| {
            this.key(keycode, true);
            glib::Propagation::Stop
        });
        let this = Rc::clone(self);
        keys.connect_key_released(move |_, _keyval, keycode, _state| {
            this.key(keycode, false);
        });
        keys.set_name(Some(CONTROLLER_NAME));
        widget.add_controller(keys);

        let focus = gtk::EventControllerFocus::new();
        let this = Rc::clone(self);
        focus.connect_enter(move |_| this.focus_in());
        let this = Rc::clone(self);
        focus.connect_leave(move |_| this.focus_out());
        focus.set_name(Some(CONTROLLER_NAME));
        widget.add_controller(focus);

        let motion = gtk::EventControllerMotion::new();
        let this = Rc::clone(self);
        let map = Rc::clone(&to_guest);
        motion.connect_motion(move |_, x, y| this.motion(x, y, map.as_ref()));
        let this = Rc::clone(self);
        motion.connect_enter(move |_, x, y| this.last.set(Some((x, y))));
        let this = Rc::clone(self);
        motion.connect_leave(move |_| this.last.set(None));
        motion.set_name(Some(CONTROLLER_NAME));
        widget.add_controller(motion);

        // Raw button events: a gesture may be cancelled mid-click, a release must never be lost.
        let buttons = gtk::EventControllerLegacy::new();
        let this = Rc::clone(self);
        let map = Rc::clone(&to_guest);
        buttons.connect_event(move |ctrl, event| this.button_event(ctrl, event, map.as_ref()));
        buttons.set_name(Some(CONTROLLER_NAME));
        widget.add_controller(buttons);

        let scroll = gtk::EventControllerScroll::new(gtk::EventControllerScrollFlags::VERTICAL);
        let this = Rc::clone(self);
        scroll.connect_scroll(move |ctrl, _dx, dy| {
            let steps = match ctrl.unit() {
                gdk::ScrollUnit::Surface => dy / SURFACE_PIXELS_PER_STEP,
                _ => dy,
            };
            if let Some((dir, n)) = this.scroll.borrow_mut().push(steps) {
                this.inputs.scroll(dir, n);
            }
            glib::Propagation::Stop
        });
        let this = Rc::clone(self);
        scroll.connect_scroll_end(move |_| this.scroll.borrow_mut().reset());
        scroll.set_name(Some(CONTROLLER_NAME));
        widget.add_controller(scroll);
    }

    /// Removes the controllers installed by [`attach`](Self::attach) (whichever handler did it).
    pub(crate) fn detach(widget: &gtk::Widget) {
        let ours: Vec<gtk::EventController> = widget
            .observe_controllers()
            // GTK 4.8's list model reports GObject as its item type: iterate
            // objects and downcast (asking for EventController panics there).
            .iter::<glib::Object>()
            .filter_map(Result::ok)
            .filter_map(|o| o.downcast::<gtk::EventController>().ok())
            .filter(|c| c.name().as_deref() == Some(CONTROLLER_NAME))
            .collect();
        for c in ours {
            widget.remove_controller(&c);
        }
    }

    fn key(&self, keycode: u32, press: bool) {
        let Some(sc) = self.keymap.get().to_xt(keycode) else {
            tracing::debug!(keycode, "no scancode for this keycode");
            return;
        };
        if press {
            let action = self.grab.borrow_mut().key_press(sc);
            self.inputs.key_press(sc);
            if action == GrabAction::Ungrab {
                // The guest must not keep Ctrl+Alt pressed once the grab is gone.
                self.inputs.release_all_keys();
                self.apply_grab(action);
            }
        } else {
            let swallowed = self.grab.borrow().fired;
            self.grab.borrow_mut().key_release(sc);
            if !swallowed {
                self.inputs.key_release(sc);
            }
        }
    }

    fn focus_in(&self) {
        let action = self.grab.borrow_mut().focus_in();
        self.apply_grab(action);
        // Always sent, whatever the server last reported: Xspice does not report every
        // LED change (a Caps Lock typed through us then toggled back locally stayed on in
        // the guest), and spice-server only pushes scancodes for locks that differ from
        // the guest's own LED state, so an unneeded message changes nothing.
        if let Some(local) = self.local_locks() {
            self.inputs.set_lock_modifiers(local);
        }
    }

    fn focus_out(&self) {
        let action = self.grab.borrow_mut().focus_out();
        self.inputs.release_all_keys();
        self.apply_grab(action);
    }

    fn local_locks(&self) -> Option<LockModifiers> {
        let widget = self.widget.borrow().as_ref()?.upgrade()?;
        let keyboard = widget.display().default_seat()?.keyboard()?;
        Some(LockModifiers {
            caps_lock: keyboard.is_caps_locked(),
            num_lock: keyboard.is_num_locked(),
            scroll_lock: keyboard.is_scroll_locked(),
        })
    }

    fn motion(&self, x: f64, y: f64, to_guest: &dyn Fn(f64, f64) -> Option<(i32, i32)>) {
        match self.inputs.mouse_mode() {
            Some(MouseMode::Server) => {
                if let Some((lx, ly)) = self.last.get() {
                    let (rx, ry) = self.remainder.get();
                    let (dx, dy) = (x - lx + rx, y - ly + ry);
                    let (ix, iy) = (dx.trunc(), dy.trunc());
                    self.remainder.set((dx - ix, dy - iy));
                    self.inputs.mouse_motion(clamp_i32(ix), clamp_i32(iy));
                }
            }
            Some(MouseMode::Client) | None => {
                if let Some((gx, gy)) = to_guest(x, y) {
                    self.inputs.mouse_position(
                        u32::try_from(gx).unwrap_or(0),
                        u32::try_from(gy).unwrap_or(0),
                        self.display_id,
                    );
                }
            }
        }
        self.last.set(Some((x, y)));
    }

    fn button_event(
        &self,
        ctrl: &gtk::EventControllerLegacy,
        event: &gdk::Event,
        to_guest: &dyn Fn(f64, f64) -> Option<(i32, i32)>,
    ) -> glib::Propagation {
        let press = match event.event_type() {
            gdk::EventType::ButtonPress => true,
            gdk::EventType::ButtonRelease => false,
            _ => return glib::Propagation::Proceed,
        };
        let Some(button) = event.downcast_ref::<gdk::ButtonEvent>().map(gdk::ButtonEvent::button) else {
            return glib::Propagation::Proceed;
        };
        if press {
            if let Some(w) = ctrl.widget() {
                w.grab_focus();
            }
            let action = self.grab.borrow_mut().click();
            self.apply_grab(action);
            // In client mode, make sure the click lands where the pointer is.
            if self.inputs.mouse_mode() != Some(MouseMode::Server)
                && let Some((x, y)) = self.last.get()
                && let Some((gx, gy)) = to_guest(x, y)
            {
                self.inputs.mouse_position(
                    u32::try_from(gx).unwrap_or(0),
                    u32::try_from(gy).unwrap_or(0),
                    self.display_id,
                );
            }
        }
        let Some(b) = spice_button(button) else {
            return glib::Propagation::Proceed;
        };
        if press {
            self.inputs.button_press(b);
        } else {
            self.inputs.button_release(b);
        }
        glib::Propagation::Stop
    }

    fn apply_grab(&self, action: GrabAction) {
        let grab = match action {
            GrabAction::None => return,
            GrabAction::Grab => true,
            GrabAction::Ungrab => false,
        };
        let toplevel = self
            .widget
            .borrow()
            .as_ref()
            .and_then(glib::WeakRef::upgrade)
            .and_then(|w| w.native())
            .and_then(|n| n.surface())
            .and_then(|s| s.downcast::<gdk::Toplevel>().ok());
        if let Some(t) = toplevel {
            if grab {
                t.inhibit_system_shortcuts(None::<&gdk::Event>);
            } else {
                t.restore_system_shortcuts();
            }
        }
        if let Some(f) = self.on_grab_changed.borrow().as_ref() {
            f(grab);
        }
    }
}

fn clamp_i32(v: f64) -> i32 {
    v.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grab_follows_focus_hotkey_and_click() {
        let mut g = GrabState::new(true);
        assert_eq!(g.focus_in(), GrabAction::Grab);
        assert!(g.grabbed());
        // Ctrl alone, then 'a': no hotkey.
        assert_eq!(g.key_press(0x1d), GrabAction::None);
        assert_eq!(g.key_press(0x1e), GrabAction::None);
        g.key_release(0x1e);
        // Right Alt with Left Ctrl: Ctrl+Alt in any variant releases the grab.
        assert_eq!(g.key_press(0x138), GrabAction::Ungrab);
        assert!(!g.grabbed());
        assert!(g.fired);
        g.key_release(0x138);
        g.key_release(0x1d);
        assert!(!g.fired);
        assert_eq!(g.click(), GrabAction::Grab);
        assert_eq!(g.click(), GrabAction::None);
        assert_eq!(g.focus_out(), GrabAction::Ungrab);
        // Not focused: a click does not grab.
        assert_eq!(g.click(), GrabAction::None);
    }

    #[test]
    fn hotkey_needs_exactly_its_keys() {
        let mut g = GrabState::new(true);
        g.focus_in();
        g.key_press(0x2a); // Shift held first
        g.key_press(0x1d);
        assert_eq!(g.key_press(0x38), GrabAction::None, "Shift+Ctrl+Alt is not Ctrl+Alt");
        let mut off = GrabState::new(false);
        assert_eq!(off.focus_in(), GrabAction::None);
        assert_eq!(off.click(), GrabAction::None);
    }

    #[test]
    fn hotkey_parsing() {
        assert_eq!(Hotkey::parse("ctrl+alt"), Some(Hotkey::default()));
        let h = Hotkey::parse("Shift + F12").unwrap();
        assert_eq!(h.groups, vec![SHIFT.to_vec(), vec![0x58]]);
        assert_eq!(Hotkey::parse("f1").unwrap().groups, vec![vec![0x3b]]);
        assert_eq!(
            Hotkey::parse("super+a").unwrap().groups,
            vec![SUPER.to_vec(), vec![0x1e]]
        );
        assert_eq!(Hotkey::parse("ctrl+f13"), None);
        assert_eq!(Hotkey::parse("ctrl+é"), None);
        assert_eq!(Hotkey::parse("ctrl+ab"), None);
    }

    #[test]
    fn smooth_scroll_accumulates_into_steps() {
        let mut s = ScrollAccumulator::default();
        assert_eq!(s.push(0.4), None);
        assert_eq!(s.push(0.4), None);
        assert_eq!(s.push(0.4), Some((ScrollDirection::Down, 1)));
        assert_eq!(s.push(2.9), Some((ScrollDirection::Down, 3)));
        // Direction change drops the leftover.
        assert_eq!(s.push(-0.5), None);
        assert_eq!(s.push(-0.5), Some((ScrollDirection::Up, 1)));
        assert_eq!(s.push(f64::NAN), None);
        assert_eq!(s.push(-1e300), Some((ScrollDirection::Up, u32::MAX)));
        s.reset();
        assert_eq!(s.push(1.0), Some((ScrollDirection::Down, 1)));
    }

    #[test]
    fn gdk_buttons_map_to_spice() {
        assert_eq!(spice_button(1), Some(MouseButton::Left));
        assert_eq!(spice_button(2), Some(MouseButton::Middle));
        assert_eq!(spice_button(3), Some(MouseButton::Right));
        assert_eq!(spice_button(8), Some(MouseButton::Side));
        assert_eq!(spice_button(9), Some(MouseButton::Extra));
        assert_eq!(spice_button(4), None);
    }
}
