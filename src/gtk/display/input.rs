//! Keyboard and mouse of a [`Display`](super::Display): GTK event controllers
//! feeding the session's [`InputsHandle`].
//!
//! - Keyboard: GDK hardware keycodes → PC XT scancodes
//!   ([`sumac_platform::keymap`]) → KEY_DOWN/KEY_UP, whenever the display has
//!   the keyboard focus. The keyboard's *system shortcuts* (Alt+Tab, ...) go
//!   to the guest only under the grab policy of [`GrabState`]: a live guest
//!   screen, the focus, an active window, and the pointer over the display
//!   (or grabbed in server mouse mode), until the release hotkey
//!   ([`Display::set_release_hotkey`](super::Display::set_release_hotkey)).
//!   Leaving the display, losing the focus, a window switch, minimising and
//!   the end of the session release it. Focus loss releases every key the
//!   guest sees held. On focus-in the guest's Caps/Num/Scroll lock follow
//!   the local keyboard (always sent: the server's reports are not reliable
//!   enough to skip it). The keycode set comes from the windowing system
//!   when the widget is realized (the X server's: evdev, or the old xfree86
//!   one, ...).
//! - Mouse: client mode sends absolute positions (through `to_guest`). Server
//!   mode grabs the pointer on a click and sends relative deltas in guest
//!   pixels until the hotkey or a focus loss releases it (the pointer lock of
//!   the windowing system, [`super::platform`]). Buttons left, middle,
//!   right, back/forward; discrete and smooth scrolling (smooth deltas
//!   accumulate into wheel steps).
//!
//! The decisions (grab policy, hotkey detection, scroll accumulation) live in
//! plain structs tested without a display; what differs between windowing
//! systems is behind [`super::platform::WindowingSystem`].

use super::platform::{self, PointerEvent, WindowingSystem};
use super::pointer_grab::{DeltaScaler, PointerGrabState};
use crate::client::inputs::{InputsHandle, LockModifiers, MouseButton, MouseMode, ScrollDirection};
use gtk::prelude::*;
use gtk::{gdk, glib};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use sumac_platform::keymap::KeycodeTable;

mod pointer;
mod state;
#[cfg(test)]
mod tests;

pub(crate) use state::*;

/// A cursor showing nothing (the grabbed pointer).
fn blank_cursor() -> Option<gdk::Cursor> {
    gdk::Cursor::from_name("none", None)
}

/// Input handling of one monitor widget.
pub(crate) struct InputHandler {
    inputs: InputsHandle,
    display_id: u8,
    keymap: Cell<KeycodeTable>,
    grab: RefCell<GrabState>,
    scroll: RefCell<ScrollAccumulator>,
    /// Last pointer position in widget coordinates (server-mode deltas).
    last: Cell<Option<(f64, f64)>>,
    /// Server-mode deltas in guest pixels, with their sub-pixel remainder.
    scaler: RefCell<DeltaScaler>,
    widget: RefCell<Option<glib::WeakRef<gtk::Widget>>>,
    on_grab_changed: RefCell<Option<GrabCallback>>,
    /// The server-mode pointer grab.
    pointer: RefCell<PointerGrabState>,
    on_pointer_grab_changed: RefCell<Option<GrabCallback>>,
    /// The GDK button whose press grabbed the pointer: its release is not the guest's.
    swallow_release: Cell<Option<u32>>,
    /// `realize` handler (keycodes, window watches).
    realize_handler: RefCell<Option<glib::SignalHandlerId>>,
    /// The windowing system's pointer lock and keyboard grab (opened on first use).
    platform: RefCell<Option<Box<dyn WindowingSystem>>>,
    /// Watches of the window (`is-active`) and of its surface (minimised).
    window_watches: RefCell<Vec<(glib::WeakRef<glib::Object>, glib::SignalHandlerId)>>,
}

impl Drop for InputHandler {
    fn drop(&mut self) {
        for (object, id) in self.window_watches.take() {
            if let Some(o) = object.upgrade() {
                o.disconnect(id);
            }
        }
        let widget = self.widget.borrow().as_ref().and_then(glib::WeakRef::upgrade);
        if let Some(w) = widget {
            if let Some(id) = self.realize_handler.take() {
                w.disconnect(id);
            }
            if let Some(p) = self.platform.borrow_mut().as_mut() {
                if self.grab.borrow().grabbed() {
                    p.ungrab_keyboard(&w);
                }
                p.unlock_pointer();
            }
            if self.pointer.borrow().grabbed() {
                w.set_cursor(None);
            }
        }
    }
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
            scaler: RefCell::new(DeltaScaler::default()),
            widget: RefCell::new(None),
            on_grab_changed: RefCell::new(None),
            pointer: RefCell::new(PointerGrabState::default()),
            on_pointer_grab_changed: RefCell::new(None),
            swallow_release: Cell::new(None),
            realize_handler: RefCell::new(None),
            platform: RefCell::new(None),
            window_watches: RefCell::new(Vec::new()),
        })
    }

    /// Whether the pointer is grabbed now (server mouse mode).
    pub(crate) fn pointer_grabbed(&self) -> bool {
        self.pointer.borrow().grabbed()
    }

    /// Called with the new state whenever the pointer grab changes.
    pub(crate) fn connect_pointer_grab_changed(&self, f: impl Fn(bool) + 'static) {
        *self.on_pointer_grab_changed.borrow_mut() = Some(Box::new(f));
    }

    /// The server switched the mouse mode: client mode releases the pointer.
    pub(crate) fn mouse_mode_changed(self: &Rc<Self>, client: bool) {
        let action = self.pointer.borrow_mut().mode_changed(!client);
        self.apply_pointer(action);
    }

    /// Releases the pointer (the session ended).
    pub(crate) fn release_pointer(self: &Rc<Self>) {
        let action = self.pointer.borrow_mut().release();
        self.apply_pointer(action);
    }

    /// Whether the keyboard is grabbed now.
    pub(crate) fn keyboard_grabbed(&self) -> bool {
        self.grab.borrow().grabbed()
    }

    /// Sets the combination that releases the keyboard and pointer grabs.
    pub(crate) fn set_grab_hotkey(&self, hotkey: Hotkey) {
        self.grab.borrow_mut().set_hotkey(hotkey);
    }

    /// The embedder's toolbar covers the display under the pointer (or no longer does).
    pub(crate) fn set_covered(&self, covered: bool) {
        let action = self.grab.borrow_mut().set_covered(covered);
        self.apply_grab(action);
    }

    /// Enables or disables the keyboard grab (`grab-keyboard`).
    #[allow(
        dead_code,
        reason = "seam for the app: --hotkeys, send-key menus, grab-keyboard setting"
    )]
    pub(crate) fn set_grab_enabled(&self, enabled: bool) {
        let action = self.grab.borrow_mut().set_enabled(enabled);
        self.apply_grab(action);
    }

    /// The guest's screen is shown (`true`), or the connecting/error screen:
    /// nothing is grabbed without a live session.
    pub(crate) fn set_live(self: &Rc<Self>, live: bool) {
        let action = self.grab.borrow_mut().set_live(live);
        self.apply_grab(action);
        if !live {
            let action = self.pointer.borrow_mut().release();
            self.apply_pointer(action);
        }
    }

    /// Called with the new state whenever the keyboard grab changes.
    pub(crate) fn connect_grab_changed(&self, f: impl Fn(bool) + 'static) {
        *self.on_grab_changed.borrow_mut() = Some(Box::new(f));
    }

    /// Selects the keycode table (e.g. from the X server's XKB keycodes name).
    pub(crate) fn set_keycode_table(&self, table: KeycodeTable) {
        self.keymap.set(table);
    }

    /// The keycode table in use.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the tests"))]
    pub(crate) fn keycode_table(&self) -> KeycodeTable {
        self.keymap.get()
    }

    /// Runs `f` on the windowing system of the widget (opened on first use);
    /// `None` without a widget.
    fn with_platform<R>(&self, f: impl FnOnce(&mut dyn WindowingSystem, &gtk::Widget) -> R) -> Option<R> {
        let widget = self.widget()?;
        let mut slot = self.platform.borrow_mut();
        let platform = slot.get_or_insert_with(|| {
            let p = platform::open(&widget.display());
            tracing::debug!(windowing = p.name(), "input platform");
            p
        });
        Some(f(platform.as_mut(), &widget))
    }

    /// On realize: the keycode set of the windowing system, and watches of
    /// the window (active or not, minimised).
    fn realized(self: &Rc<Self>, widget: &gtk::Widget) {
        if let Some(Some(table)) = self.with_platform(|p, _| p.keycode_table()) {
            tracing::info!(?table, "keycode table of the windowing system");
            self.set_keycode_table(table);
        }
        self.watch_window(widget);
    }

    /// Follows the window's `is-active` and its surface's minimised state.
    fn watch_window(self: &Rc<Self>, widget: &gtk::Widget) {
        for (object, id) in self.window_watches.take() {
            if let Some(o) = object.upgrade() {
                o.disconnect(id);
            }
        }
        let mut watches = Vec::new();
        if let Some(window) = widget.root().and_then(|r| r.downcast::<gtk::Window>().ok()) {
            let weak = Rc::downgrade(self);
            let id = window.connect_is_active_notify(move |w| {
                if let Some(this) = weak.upgrade() {
                    this.window_active(w.is_active());
                }
            });
            watches.push((window.upcast_ref::<glib::Object>().downgrade(), id));
            self.window_active(window.is_active());
        }
        if let Some(toplevel) = widget
            .native()
            .and_then(|n| n.surface())
            .and_then(|s| s.downcast::<gdk::Toplevel>().ok())
        {
            let weak = Rc::downgrade(self);
            let id = toplevel.connect_state_notify(move |t| {
                if let Some(this) = weak.upgrade()
                    && t.state().contains(gdk::ToplevelState::MINIMIZED)
                {
                    this.window_active(false);
                }
            });
            watches.push((toplevel.upcast_ref::<glib::Object>().downgrade(), id));
        }
        *self.window_watches.borrow_mut() = watches;
    }

    fn window_active(self: &Rc<Self>, active: bool) {
        let was = self.grab.borrow().active;
        let action = self.grab.borrow_mut().set_active(active);
        if was && !active {
            // A window switch: nothing stays pressed in the guest.
            self.inputs.release_all_keys();
            let pointer = self.pointer.borrow_mut().focus_out();
            self.apply_pointer(pointer);
        }
        self.apply_grab(action);
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
        if widget.is_realized() {
            self.realized(widget);
        }
        let weak = Rc::downgrade(self);
        let id = widget.connect_realize(move |w| {
            if let Some(this) = weak.upgrade() {
                this.realized(w);
            }
        });
        if let Some(old) = self.realize_handler.replace(Some(id)) {
            widget.disconnect(old);
        }

        let keys = gtk::EventControllerKey::new();
        let this = Rc::clone(self);
        keys.connect_key_pressed(move |ctrl, _keyval, keycode, _state| {
            // Keys for a child (the overlay's entry and buttons: Tab moves between them)
            // are theirs, not the guest's.
            if ctrl.widget().is_some_and(|w| !w.has_focus()) {
                return glib::Propagation::Proceed;
            }
            this.key(keycode, true);
            glib::Propagation::Stop
        });
        let this = Rc::clone(self);
        keys.connect_key_released(move |ctrl, _keyval, keycode, _state| {
            if ctrl.widget().is_some_and(|w| !w.has_focus()) {
                return;
            }
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
        motion.connect_enter(move |_, x, y| this.pointer_enter(x, y));
        let this = Rc::clone(self);
        motion.connect_leave(move |_| this.pointer_leave());
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
            // Motion of a locked pointer that came first goes first.
            this.poll_platform();
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

    fn key(self: &Rc<Self>, keycode: u32, press: bool) {
        let Some(sc) = self.keymap.get().to_xt(keycode) else {
            tracing::debug!(keycode, "no scancode for this keycode");
            return;
        };
        if press {
            let action = self.grab.borrow_mut().key_press(sc);
            // The same hotkey releases the pointer, even with the keyboard not grabbed.
            let release_pointer = self.pointer.borrow().grabbed() && self.grab.borrow().hotkey_held();
            self.inputs.key_press(sc);
            if action == GrabAction::Ungrab || release_pointer {
                // The guest must not keep the hotkey pressed once the grab is gone.
                self.grab.borrow_mut().fired = true;
                self.inputs.release_all_keys();
                self.apply_grab(action);
            }
            if release_pointer {
                let action = self.pointer.borrow_mut().hotkey();
                self.apply_pointer(action);
            }
        } else {
            let swallowed = self.grab.borrow().fired;
            self.grab.borrow_mut().key_release(sc);
            if !swallowed {
                self.inputs.key_release(sc);
            }
        }
    }

    fn focus_in(self: &Rc<Self>) {
        let active = self
            .widget()
            .and_then(|w| w.root())
            .and_then(|r| r.downcast::<gtk::Window>().ok())
            .is_none_or(|w| w.is_active());
        let action = {
            let mut g = self.grab.borrow_mut();
            g.active = active;
            g.focus_in()
        };
        self.apply_grab(action);
        // Always sent, whatever the server last reported: Xspice does not report every
        // LED change (a Caps Lock typed through us then toggled back locally stayed on in
        // the guest), and spice-server only pushes scancodes for locks that differ from
        // the guest's own LED state, so an unneeded message changes nothing.
        if let Some(local) = self.local_locks() {
            self.inputs.set_lock_modifiers(local);
        }
    }

    fn focus_out(self: &Rc<Self>) {
        let action = self.grab.borrow_mut().focus_out();
        self.inputs.release_all_keys();
        self.apply_grab(action);
        let action = self.pointer.borrow_mut().focus_out();
        self.apply_pointer(action);
    }

    fn pointer_enter(&self, x: f64, y: f64) {
        self.last.set(Some((x, y)));
        let action = self.grab.borrow_mut().enter();
        self.apply_grab(action);
    }

    fn pointer_leave(&self) {
        self.last.set(None);
        let action = self.grab.borrow_mut().leave();
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
        if !self.grab.borrow().inside {
            // The pointer was over the widget before it could tell (realized under it).
            let action = self.grab.borrow_mut().enter();
            self.apply_grab(action);
        }
        match self.inputs.mouse_mode() {
            Some(MouseMode::Server) => {
                // Deltas only while grabbed, and from GTK only when the windowing
                // system's lock does not give them (no lock support, or not taken yet).
                if self.pointer.borrow().grabbed()
                    && !self.platform_locked()
                    && let Some((lx, ly)) = self.last.get()
                {
                    let scale = self.guest_pixels_per_device_pixel() * self.device_pixels_per_logical_pixel();
                    let (dx, dy) = self.scaler.borrow_mut().push(x - lx, y - ly, scale);
                    self.inputs.mouse_motion(dx, dy);
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
        self: &Rc<Self>,
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
        // Motion of a locked pointer that came first goes first.
        self.poll_platform();
        if !press && self.swallow_release.get() == Some(button) {
            self.swallow_release.set(None);
            return glib::Propagation::Stop;
        }
        if press {
            if let Some(w) = ctrl.widget() {
                w.grab_focus();
            }
            let action = self.grab.borrow_mut().click();
            self.apply_grab(action);
            // Server mode: the first click on the live guest grabs the pointer and is
            // not the guest's.
            let server = self.inputs.mouse_mode() == Some(MouseMode::Server) && self.grab.borrow().live;
            let action = self.pointer.borrow_mut().click(server);
            if action == GrabAction::Grab {
                self.swallow_release.set(Some(button));
                self.apply_pointer(action);
                return glib::Propagation::Stop;
            }
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
        let done = self.with_platform(|p, w| {
            if grab {
                p.grab_keyboard(w)
            } else {
                p.ungrab_keyboard(w);
                true
            }
        });
        if grab {
            tracing::debug!(done = done.unwrap_or(false), "keyboard grabbed");
        } else {
            tracing::debug!("keyboard released");
        }
        if let Some(f) = self.on_grab_changed.borrow().as_ref() {
            f(grab);
        }
    }
}
