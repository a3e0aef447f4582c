//! Keyboard and mouse of a [`Display`](super::Display): GTK event controllers
//! feeding the session's [`InputsHandle`].
//!
//! - Keyboard: GDK hardware keycodes → PC XT scancodes
//!   ([`sumac_platform::keymap`]) → KEY_DOWN/KEY_UP. While the widget has the
//!   focus the keyboard is grabbed (`gdk::Toplevel::inhibit_system_shortcuts`)
//!   until the release hotkey (default Ctrl+Alt, spice-gtk's grab sequence;
//!   [`Display::set_release_hotkey`](super::Display::set_release_hotkey)) is pressed; a
//!   click grabs it again. Focus loss releases every key the guest sees held.
//!   On focus-in the guest's Caps/Num/Scroll lock follow the local keyboard
//!   (always sent: the server's reports are not reliable enough to skip it).
//!   Under X11 the keycode set is asked from the X server when the widget is
//!   realized (evdev, or the old xfree86 one, ...: [`super::pointer_grab`]).
//! - Mouse: client mode sends absolute positions (through `to_guest`). Server
//!   mode grabs the pointer on a click and sends relative deltas in guest
//!   pixels until the hotkey or a focus loss releases it (confined and warped
//!   back to the centre on X11, locked with relative motion on Wayland:
//!   [`super::pointer_grab`]). Buttons left,
//!   middle, right, back/forward; discrete and smooth scrolling (smooth deltas
//!   accumulate into wheel steps).
//!
//! The decisions (grab state, hotkey detection, scroll accumulation) live in
//! plain structs tested without a display.

use super::pointer_grab::{DeltaScaler, PointerGrabState};
#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
use super::pointer_grab::{GrabInput, X11Grab, XButton, keycode_table_from_x11, x_button};
#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
use super::pointer_grab::{WaylandLock, is_wayland};
use crate::client::inputs::{InputsHandle, LockModifiers, MouseButton, MouseMode, ScrollDirection};
use gtk::prelude::*;
use gtk::{gdk, glib};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use sumac_platform::keymap::KeycodeTable;
#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
use sumac_platform::wayland::LockEvent;

mod state;
#[cfg(test)]
mod tests;
mod wayland;
mod x11;

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
    /// `realize` handler asking the X server for its keycodes.
    realize_handler: RefCell<Option<glib::SignalHandlerId>>,
    /// Our X connection (opened once, when GDK is on X11).
    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    x11: RefCell<Option<X11Grab>>,
    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    x11_tried: Cell<bool>,
    /// Main-loop watch of our X connection while it holds the grab.
    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    x11_watch: RefCell<Option<glib::SourceId>>,
    /// Pending retry of the X grab.
    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    grab_retry: RefCell<Option<glib::SourceId>>,
    /// The Wayland pointer lock (set up once, when GDK is on Wayland and
    /// the compositor has pointer constraints and relative pointer).
    #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
    wayland: RefCell<Option<WaylandLock>>,
    #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
    wayland_tried: Cell<bool>,
    /// Main-loop watch of the Wayland socket while the lock is asked for.
    #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
    wayland_watch: RefCell<Option<glib::SourceId>>,
}

impl Drop for InputHandler {
    fn drop(&mut self) {
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        {
            for source in [self.x11_watch.take(), self.grab_retry.take()].into_iter().flatten() {
                source.remove();
            }
            // Closing our connection ends its grab.
        }
        #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
        if let Some(source) = self.wayland_watch.take() {
            source.remove();
        }
        // Dropping the Wayland lock destroys its objects, which ends the lock.
        let widget = self.widget.borrow().as_ref().and_then(glib::WeakRef::upgrade);
        if let Some(w) = widget {
            if let Some(id) = self.realize_handler.take() {
                w.disconnect(id);
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
            #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
            x11: RefCell::new(None),
            #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
            x11_tried: Cell::new(false),
            #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
            x11_watch: RefCell::new(None),
            #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
            grab_retry: RefCell::new(None),
            #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
            wayland: RefCell::new(None),
            #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
            wayland_tried: Cell::new(false),
            #[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
            wayland_watch: RefCell::new(None),
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
    #[cfg_attr(
        not(all(feature = "x11", unix, not(target_os = "macos"))),
        allow(dead_code, reason = "used by the X11 grab")
    )]
    pub(crate) fn set_keycode_table(&self, table: KeycodeTable) {
        self.keymap.set(table);
    }

    /// The keycode table in use.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the tests"))]
    pub(crate) fn keycode_table(&self) -> KeycodeTable {
        self.keymap.get()
    }

    /// Asks the X server GDK runs on which keycodes it uses (evdev when it
    /// cannot tell); other backends keep the platform's table.
    fn detect_keycodes(&self, widget: &gtk::Widget) {
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        if self.ensure_x11(widget) {
            let answer = self.x11.borrow().as_ref().map(X11Grab::keycode_table);
            if let Some(answer) = answer {
                let table = keycode_table_from_x11(answer);
                tracing::info!(?table, "keycode table of the X server");
                self.set_keycode_table(table);
            }
        }
        #[cfg(not(all(feature = "x11", unix, not(target_os = "macos"))))]
        let _ = widget;
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
            self.detect_keycodes(widget);
        }
        let weak = Rc::downgrade(self);
        let id = widget.connect_realize(move |w| {
            if let Some(this) = weak.upgrade() {
                this.detect_keycodes(w);
            }
        });
        if let Some(old) = self.realize_handler.replace(Some(id)) {
            widget.disconnect(old);
        }

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
            // Motion of a locked pointer that came first goes first.
            this.drain_wayland();
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
                // The guest must not keep Ctrl+Alt pressed once the grab is gone.
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

    fn focus_out(self: &Rc<Self>) {
        let action = self.grab.borrow_mut().focus_out();
        self.inputs.release_all_keys();
        self.apply_grab(action);
        let action = self.pointer.borrow_mut().focus_out();
        self.apply_pointer(action);
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
                // Deltas only while grabbed, and from GTK only when neither the X grab
                // nor the Wayland lock gives them (no lock support, or the X grab not
                // taken yet).
                if self.pointer.borrow().grabbed()
                    && !self.x11_grab_active()
                    && !self.wayland_lock_active()
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
        self.drain_wayland();
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
            // Server mode: the first click grabs the pointer and is not the guest's.
            let server = self.inputs.mouse_mode() == Some(MouseMode::Server);
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

impl InputHandler {
    fn widget(&self) -> Option<gtk::Widget> {
        self.widget.borrow().as_ref().and_then(glib::WeakRef::upgrade)
    }

    /// Guest pixels per device pixel of the monitor shown (1 before the guest size is known).
    fn guest_pixels_per_device_pixel(&self) -> f64 {
        self.widget()
            .and_then(|w| w.downcast::<super::Display>().ok())
            .and_then(|d| d.placement())
            .map_or(1.0, |p| f64::from(p.guest_width) / p.device_width.max(1) as f64)
    }

    fn device_pixels_per_logical_pixel(&self) -> f64 {
        self.widget().map_or(1.0, |w| f64::from(w.scale_factor().max(1)))
    }

    /// Grabs or releases the pointer (server mouse mode).
    fn apply_pointer(self: &Rc<Self>, action: GrabAction) {
        let grab = match action {
            GrabAction::None => return,
            GrabAction::Grab => true,
            GrabAction::Ungrab => false,
        };
        self.last.set(None);
        self.scaler.borrow_mut().reset();
        let widget = self.widget();
        if grab {
            tracing::debug!("pointer grabbed");
            if let Some(w) = &widget {
                w.set_cursor(blank_cursor().as_ref());
            }
            // On Wayland the lock; elsewhere the X grab (which says when there is no X11).
            if !self.start_wayland_lock() {
                self.start_x11_grab();
            }
        } else {
            tracing::debug!("pointer released");
            self.swallow_release.set(None);
            self.stop_wayland_lock();
            self.stop_x11_grab();
            if let Some(w) = &widget {
                // Server mode shows the local pointer when not grabbed; in
                // client mode the cursor layer sets the guest's shape again.
                w.set_cursor(None);
            }
        }
        if let Some(f) = self.on_pointer_grab_changed.borrow().as_ref() {
            f(grab);
        }
    }
}
