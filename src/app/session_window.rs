//! A session window: one guest monitor in a [`Display`], a header bar with
//! the main menu (`ui/session-menu.ui`), the window actions behind the menu
//! and the hotkeys, and the Reconnect button on the display's error overlay.
//! Kiosk mode: fullscreen, no header bar, no close.

use super::controller::Controller;
use super::dialogs;
use super::keys::{combo_by_id, send_key_combos};
use crate::client::vv::hotkey::{Hotkey, HotkeyAction, Hotkeys, Modifiers};
use crate::gtk::display::{Display, OverlayState};
use crate::i18n::{gettext, gettext_f};
use gtk::prelude::*;
use gtk::{gio, glib};
use std::cell::Cell;
use std::rc::{Rc, Weak};

/// Zoom step of Zoom In/Out, in percent (remote-viewer's).
pub const ZOOM_STEP: u32 = 10;
pub const ZOOM_MIN: u32 = 10;
pub const ZOOM_MAX: u32 = 400;

/// Next zoom level for a zoom-in (`+1`) or zoom-out (`-1`) from `current`.
pub fn step_zoom(current: u32, direction: i32) -> u32 {
    let next = if direction >= 0 {
        current.saturating_add(ZOOM_STEP)
    } else {
        current.saturating_sub(ZOOM_STEP)
    };
    next.clamp(ZOOM_MIN, ZOOM_MAX)
}

/// The window title for monitor `monitor_index` (0-based): the `-t`/`.vv`
/// title with `%d` = monitor number (1-based, as remote-viewer), else the
/// guest name (or address) plus " – Sumac", with the monitor number when the
/// guest has several.
pub fn window_title(template: Option<&str>, name: &str, monitor_index: u32, monitors: usize) -> String {
    if let Some(t) = template.filter(|t| !t.is_empty()) {
        return crate::client::vv::title_for_monitor(t, usize::try_from(monitor_index).unwrap_or(usize::MAX));
    }
    let number = monitor_index.saturating_add(1).to_string();
    if monitors > 1 {
        format!("{name} ({number}) – Sumac")
    } else {
        format!("{name} – Sumac")
    }
}

/// When a mapped window is fitted to the guest again (see `connect_map`).
const REFIT_AFTER_MAP: std::time::Duration = std::time::Duration::from_millis(250);

/// One window of a session.
pub struct SessionWindow {
    pub window: gtk::ApplicationWindow,
    pub display: Display,
    header: gtk::HeaderBar,
    reconnect: gtk::Button,
    kiosk: bool,
    /// Set by the controller when closing is allowed in kiosk mode.
    allow_close: Cell<bool>,
    /// Set when the controller closes the window (not the user).
    closing_by_controller: Cell<bool>,
    /// The window is closed (by anyone).
    closed: Cell<bool>,
    /// The guest size the window was last sized for ([`SessionWindow::fit_to_guest`]).
    fitted: Cell<Option<(u32, u32)>>,
    /// What the title says while the pointer is grabbed ([`grab_hint`]).
    grab_hint: String,
}

impl std::fmt::Debug for SessionWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindow")
            .field("kiosk", &self.kiosk)
            .finish_non_exhaustive()
    }
}

impl SessionWindow {
    /// A window showing `display` for `controller`.
    pub fn new(
        app: &adw::Application,
        controller: &Rc<Controller>,
        display: Display,
        hotkeys: &Hotkeys,
        release: &Hotkey,
        kiosk: bool,
    ) -> Rc<Self> {
        let window = gtk::ApplicationWindow::builder()
            .application(app)
            .default_width(1024)
            .default_height(768)
            .build();
        window.add_css_class("sumac-session-window");
        let header = gtk::HeaderBar::new();
        let menu_button = gtk::MenuButton::builder()
            .icon_name("open-menu-symbolic")
            .tooltip_text(gettext("Main Menu"))
            .primary(true)
            .build();
        let builder = gtk::Builder::from_string(include_str!("../../ui/session-menu.ui"));
        if let Some(section) = builder.object::<gio::Menu>("send_keys") {
            for combo in send_key_combos() {
                let item = gio::MenuItem::new(Some(&combo.label), None);
                item.set_action_and_target_value(Some("win.send-key"), Some(&combo.id.to_variant()));
                section.append_item(&item);
            }
        }
        if let Some(menu) = builder.object::<gio::MenuModel>("menu") {
            menu_button.set_menu_model(Some(&menu));
        }
        header.pack_end(&menu_button);
        let fullscreen_button = gtk::Button::builder()
            .icon_name("view-fullscreen-symbolic")
            .tooltip_text(gettext("Fullscreen"))
            .action_name("win.fullscreen")
            .build();
        header.pack_end(&fullscreen_button);
        let cad = gtk::Button::builder()
            .icon_name("input-keyboard-symbolic")
            .tooltip_text(gettext("Send Ctrl+Alt+Del"))
            .action_name("win.send-key")
            .action_target(&"ctrl-alt-del".to_variant())
            .build();
        header.pack_start(&cad);
        header.pack_start(&usb_button(&display));
        if !kiosk {
            window.set_titlebar(Some(&header));
        } else {
            window.set_decorated(false);
        }
        window.set_child(Some(&display));
        window.set_help_overlay(Some(&dialogs::shortcuts_window_for(hotkeys)));

        let reconnect = gtk::Button::builder()
            .label(gettext("_Reconnect"))
            .use_underline(true)
            .build();
        reconnect.add_css_class("suggested-action");
        reconnect.add_css_class("pill");
        reconnect.set_widget_name("sumac-reconnect");
        let this = Rc::new(Self {
            window,
            display,
            header,
            reconnect,
            kiosk,
            allow_close: Cell::new(!kiosk),
            closing_by_controller: Cell::new(false),
            closed: Cell::new(false),
            fitted: Cell::new(None),
            grab_hint: grab_hint(release),
        });
        this.install_actions(controller);
        {
            // "(Press Ctrl+Alt to release pointer)" in the title while grabbed, as remote-viewer.
            let weak = Rc::downgrade(&this);
            this.display.connect_mouse_grabbed_notify(move |d| {
                if let Some(this) = weak.upgrade() {
                    let title = this.window.title().map(|t| t.to_string()).unwrap_or_default();
                    let title = with_grab_hint(&title, &this.grab_hint, d.mouse_grabbed());
                    this.window.set_title(Some(&title));
                }
            });
        }
        {
            let controller = Rc::downgrade(controller);
            this.reconnect.connect_clicked(move |_| {
                if let Some(c) = controller.upgrade() {
                    c.reconnect();
                }
            });
        }
        {
            let weak = Rc::downgrade(&this);
            this.window.connect_fullscreened_notify(move |w| {
                if let Some(this) = weak.upgrade()
                    && !this.kiosk
                {
                    // No header bar over a fullscreen guest (the menu stays on F10 / hotkeys).
                    this.header.set_visible(!w.is_fullscreen());
                }
            });
        }
        {
            let weak = Rc::downgrade(&this);
            let controller: Weak<Controller> = Rc::downgrade(controller);
            this.window.connect_close_request(move |_| {
                let Some(this) = weak.upgrade() else {
                    return glib::Propagation::Proceed;
                };
                if !this.allow_close.get() {
                    tracing::debug!("kiosk mode: close refused");
                    return glib::Propagation::Stop;
                }
                this.closed.set(true);
                if !this.closing_by_controller.get()
                    && let Some(c) = controller.upgrade()
                {
                    // The user closed a window: the session ends.
                    glib::idle_add_local_once(move || c.user_closed());
                }
                glib::Propagation::Proceed
            });
        }
        {
            // The guest size is known once the first frame is complete, and
            // changes with the monitors config (displays refresh before the signal).
            let weak = Rc::downgrade(&this);
            this.display.connect_ready_notify(move |_| {
                if let Some(this) = weak.upgrade() {
                    this.fit_to_guest();
                }
            });
            if let Some(session) = this.display.session() {
                if !kiosk {
                    super::audio_controls::attach(&this.header, &session);
                }
                let weak = Rc::downgrade(&this);
                session.connect_monitors_changed(move |_, _| {
                    if let Some(this) = weak.upgrade() {
                        this.fit_to_guest();
                    }
                });
            }
        }
        {
            // A fit made while the window is being mapped can be undone: the
            // first ConfigureNotify of the new window (its initial size)
            // may arrive after it, and GTK takes the configured size as the
            // default size. Fit again once that has settled.
            let weak = Rc::downgrade(&this);
            this.window.connect_map(move |_| {
                let weak = weak.clone();
                glib::timeout_add_local_once(REFIT_AFTER_MAP, move || {
                    if let Some(this) = weak.upgrade() {
                        this.fitted.set(None);
                        this.fit_to_guest();
                    }
                });
            });
        }
        if kiosk {
            this.window.fullscreen();
        }
        // A window opened for a monitor that is already showing (a second head).
        this.fit_to_guest();
        this
    }

    /// Sizes the window so that the guest shows 1:1, one guest pixel per
    /// device pixel (at 2x HiDPI the window is half the guest's size in
    /// logical pixels), as remote-viewer does: when the guest size is first
    /// known and whenever it changes, unless fullscreen or maximized.
    fn fit_to_guest(&self) {
        let Some(size) = self.display.guest_size() else { return };
        if self.closed.get() || self.fitted.replace(Some(size)) == Some(size) {
            return;
        }
        if self.window.is_fullscreen() || self.window.is_maximized() {
            return;
        }
        tracing::debug!(
            width = size.0,
            height = size.1,
            scale = self.window.scale_factor(),
            mapped = self.window.is_mapped(),
            "sizing the window to the guest"
        );
        // -1 = the window's natural size: the header bar over the display at
        // its natural size, which is the guest at 100 % in device pixels
        // (or at the `-z` zoom). GTK keeps it within the monitor's work area,
        // where fit-to-window then scales the guest down. The display queues
        // its own resize later (from an idle): drop its cached size request
        // now, or the window would take the previous guest size.
        self.display.queue_resize();
        self.window.set_default_size(-1, -1);
    }

    fn install_actions(self: &Rc<Self>, controller: &Rc<Controller>) {
        let group = &self.window;
        let weak = Rc::downgrade(self);
        let ctl = Rc::downgrade(controller);

        let fullscreen = gio::SimpleAction::new("fullscreen", None);
        {
            let weak = weak.clone();
            fullscreen.connect_activate(move |_, _| {
                if let Some(this) = weak.upgrade() {
                    if this.kiosk {
                        return;
                    }
                    if this.window.is_fullscreen() {
                        this.window.unfullscreen();
                    } else {
                        this.window.fullscreen();
                    }
                }
            });
        }
        group.add_action(&fullscreen);

        for (name, dir) in [("zoom-in", 1), ("zoom-out", -1), ("zoom-reset", 0)] {
            let action = gio::SimpleAction::new(name, None);
            let weak = weak.clone();
            action.connect_activate(move |_, _| {
                if let Some(this) = weak.upgrade() {
                    let next = if dir == 0 {
                        100
                    } else {
                        step_zoom(this.display.zoom_level(), dir)
                    };
                    // An explicit zoom leaves fit-to-window, as in remote-viewer.
                    this.display.set_scaling(false);
                    this.display.set_zoom_level(next);
                    tracing::debug!(zoom = next, "zoom");
                }
            });
            group.add_action(&action);
        }

        let send_key = gio::SimpleAction::new("send-key", Some(glib::VariantTy::STRING));
        {
            let ctl = ctl.clone();
            send_key.connect_activate(move |_, param| {
                let Some(id) = param.and_then(|p| p.get::<String>()) else {
                    return;
                };
                let (Some(c), Some(combo)) = (ctl.upgrade(), combo_by_id(&id)) else {
                    return;
                };
                c.send_keys(&combo.scancodes);
            });
        }
        group.add_action(&send_key);

        let secure_attention = gio::SimpleAction::new("secure-attention", None);
        {
            let ctl = ctl.clone();
            secure_attention.connect_activate(move |_, _| {
                if let (Some(c), Some(combo)) = (ctl.upgrade(), combo_by_id("ctrl-alt-del")) {
                    c.send_keys(&combo.scancodes);
                }
            });
        }
        group.add_action(&secure_attention);

        let screenshot = gio::SimpleAction::new("screenshot", None);
        {
            let weak = weak.clone();
            let ctl = ctl.clone();
            screenshot.connect_activate(move |_, _| {
                let (Some(this), Some(c)) = (weak.upgrade(), ctl.upgrade()) else {
                    return;
                };
                match c.monitor_image(this.display.channel_id(), this.display.monitor_id()) {
                    Some(image) => dialogs::save_screenshot(this.window.upcast_ref(), image),
                    None => dialogs::show_error(
                        Some(this.window.upcast_ref()),
                        &gettext("No Screenshot"),
                        &gettext("The guest has not shown anything on this monitor yet."),
                    ),
                }
            });
        }
        group.add_action(&screenshot);

        let details = gio::SimpleAction::new("guest-details", None);
        {
            let weak = weak.clone();
            details.connect_activate(move |_, _| {
                let (Some(this), Some(c)) = (weak.upgrade(), ctl.upgrade()) else {
                    return;
                };
                let name = c.guest_name();
                let uuid = c.guest_uuid();
                dialogs::show_guest_details(this.window.upcast_ref(), name.as_deref(), uuid.as_deref());
            });
        }
        group.add_action(&details);
    }

    /// Shows the error overlay with the Reconnect button.
    pub fn show_error(&self) {
        self.display.set_overlay_actions(&[self.reconnect.clone().upcast()]);
        self.reconnect.grab_focus();
    }

    /// Back to "Connecting…" without the Reconnect button (a new attempt runs).
    pub fn clear_error(&self) {
        self.display.set_overlay_actions(&[]);
        if matches!(self.display.overlay_state(), OverlayState::Error(_)) {
            self.display.set_overlay_state(OverlayState::Connecting);
        }
    }

    /// Lets a kiosk window close (kiosk-quit on-disconnect).
    pub fn allow_close(&self) {
        self.allow_close.set(true);
    }

    /// Closes the window on the controller's behalf (no "user closed" callback).
    pub fn close_by_controller(&self) {
        if self.closed.get() {
            return;
        }
        self.closing_by_controller.set(true);
        self.allow_close.set(true);
        self.window.close();
    }

    pub fn set_title(&self, title: &str) {
        let title = with_grab_hint(title, &self.grab_hint, self.display.mouse_grabbed());
        self.window.set_title(Some(&title));
    }
}

/// The pointer-grab hint remote-viewer puts in front of the title, naming
/// the release hotkey.
pub fn grab_hint(release: &Hotkey) -> String {
    gettext_f(
        "(Press {hotkey} to release pointer)",
        &[("hotkey", &hotkey_label(release))],
    )
}

/// A hotkey as people write it: `Ctrl+Alt`, `Shift+F12`, `Ctrl+Alt+R`.
pub fn hotkey_label(hotkey: &Hotkey) -> String {
    let mut parts: Vec<String> = [
        (Modifiers::CONTROL, "Ctrl"),
        (Modifiers::ALT, "Alt"),
        (Modifiers::SHIFT, "Shift"),
        (Modifiers::SUPER, "Super"),
        (Modifiers::META, "Meta"),
        (Modifiers::HYPER, "Hyper"),
    ]
    .into_iter()
    .filter(|(m, _)| hotkey.modifiers.contains(*m))
    .map(|(_, name)| name.to_owned())
    .collect();
    if let Some(key) = &hotkey.key {
        let mut chars = key.chars();
        parts.push(match (chars.next(), chars.next()) {
            (Some(c), None) => c.to_uppercase().collect(),
            _ => key.clone(),
        });
    }
    parts.join("+")
}

/// `title` with `hint` in front while the pointer is grabbed, without it
/// otherwise (an existing hint is never doubled).
pub fn with_grab_hint(title: &str, hint: &str, grabbed: bool) -> String {
    let base = title
        .strip_prefix(hint)
        .map_or(title, |rest| rest.strip_prefix(' ').unwrap_or(rest));
    if grabbed {
        format!("{hint} {base}")
    } else {
        base.to_owned()
    }
}

/// Sets the application accelerators of the session actions from `hotkeys`
/// (remote-viewer's defaults, the `.vv` keys or `-H`).
pub fn apply_accels(app: &adw::Application, hotkeys: &Hotkeys) {
    for action in HotkeyAction::ALL {
        let Some(name) = window_action(action) else { continue };
        let mut accels: Vec<String> = hotkeys
            .get(action)
            .and_then(|h| h.to_accelerator())
            .into_iter()
            .collect();
        // The keypad twins of the default zoom keys, as remote-viewer binds them.
        if hotkeys.get(action) == Some(&action.default_hotkey()) {
            match action {
                HotkeyAction::ZoomIn => accels.extend(["<Control>KP_Add".into(), "<Control>equal".into()]),
                HotkeyAction::ZoomOut => accels.push("<Control>KP_Subtract".into()),
                HotkeyAction::ZoomReset => accels.push("<Control>KP_0".into()),
                _ => {}
            }
        }
        accels.retain(|a| gtk::accelerator_parse(a).is_some());
        let refs: Vec<&str> = accels.iter().map(String::as_str).collect();
        app.set_accels_for_action(name, &refs);
    }
}

/// The window action behind a hotkey action (USB and smartcard actions belong
/// to channels Sumac does not have yet; release-cursor is handled by the
/// display's keyboard grab).
pub fn window_action(action: HotkeyAction) -> Option<&'static str> {
    match action {
        HotkeyAction::ToggleFullscreen => Some("win.fullscreen"),
        HotkeyAction::ZoomIn => Some("win.zoom-in"),
        HotkeyAction::ZoomOut => Some("win.zoom-out"),
        HotkeyAction::ZoomReset => Some("win.zoom-reset"),
        HotkeyAction::SecureAttention => Some("win.secure-attention"),
        // Grab release is the display's input handler's own hotkey (it may be
        // modifier-only, which no GTK accelerator can express).
        HotkeyAction::ReleaseCursor
        | HotkeyAction::UsbDeviceReset
        | HotkeyAction::SmartcardInsert
        | HotkeyAction::SmartcardRemove => None,
    }
}

/// The header-bar button that opens the session's USB devices dialog.
fn usb_button(display: &Display) -> gtk::Button {
    let button = gtk::Button::builder()
        .icon_name("media-removable-symbolic")
        .tooltip_text(gettext("USB Devices"))
        .build();
    let display = display.downgrade();
    button.connect_clicked(move |b| {
        let Some(session) = display.upgrade().and_then(|d| d.session()) else {
            return;
        };
        let parent = b.root().and_downcast::<gtk::Window>();
        crate::gtk::UsbDialog::new(&session, parent.as_ref()).present();
    });
    button
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grab_hint_in_title() {
        let hint = grab_hint(&Hotkey::parse("ctrl+alt").unwrap());
        let grabbed = with_grab_hint("vm1 – Sumac", &hint, true);
        assert_eq!(grabbed, "(Press Ctrl+Alt to release pointer) vm1 – Sumac");
        assert_eq!(with_grab_hint(&grabbed, &hint, true), grabbed, "never doubled");
        assert_eq!(with_grab_hint(&grabbed, &hint, false), "vm1 – Sumac");
        assert_eq!(with_grab_hint("vm1 – Sumac", &hint, false), "vm1 – Sumac");
        assert_eq!(with_grab_hint("", &hint, true), "(Press Ctrl+Alt to release pointer) ");
    }

    #[test]
    fn hotkey_labels() {
        let label = |s: &str| hotkey_label(&Hotkey::parse(s).unwrap());
        assert_eq!(label("ctrl+alt"), "Ctrl+Alt");
        assert_eq!(label("alt+ctrl"), "Ctrl+Alt");
        assert_eq!(label("shift+f12"), "Shift+F12");
        assert_eq!(label("Ctrl+Alt+r"), "Ctrl+Alt+R");
        assert_eq!(label("super+pgup"), "Super+Page_Up");
        assert_eq!(
            grab_hint(&Hotkey::parse("shift+f12").unwrap()),
            "(Press Shift+F12 to release pointer)"
        );
    }

    #[test]
    fn titles() {
        assert_eq!(window_title(None, "vm1", 0, 1), "vm1 – Sumac");
        assert_eq!(window_title(None, "vm1", 1, 2), "vm1 (2) – Sumac");
        assert_eq!(window_title(Some("Proxmox VM %d"), "ignored", 0, 1), "Proxmox VM 1");
        assert_eq!(window_title(Some(""), "vm", 0, 1), "vm – Sumac");
    }

    #[test]
    fn zoom_steps_clamp() {
        assert_eq!(step_zoom(100, 1), 110);
        assert_eq!(step_zoom(100, -1), 90);
        assert_eq!(step_zoom(15, -1), 10);
        assert_eq!(step_zoom(395, 1), 400);
        assert_eq!(step_zoom(400, 1), 400);
    }

    #[test]
    fn every_bound_action_exists_in_the_window() {
        let bound: Vec<_> = HotkeyAction::ALL.into_iter().filter_map(window_action).collect();
        assert_eq!(bound.len(), 5);
        for a in bound {
            assert!(a.starts_with("win."), "{a}");
        }
    }
}
