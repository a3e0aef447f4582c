//! A session window: one guest monitor in a [`Display`], a header bar with
//! the Send Key menu and the main menu (`ui/session-menu.ui`), the window
//! actions behind the menu and the hotkeys; over the display while
//! connecting the time elapsed and Cancel, and after a failure the
//! [`ErrorPage`] (title, sentence, password entry, Reconnect, details).
//! Kiosk mode: fullscreen, no header bar, no close.

use super::controller::Controller;
use super::dialogs;
use super::error_page::ErrorPage;
use super::keys::{combo_by_id, send_key_combos};
use super::problem::Problem;
use crate::client::vv::hotkey::{Hotkey, HotkeyAction, Hotkeys, Modifiers};
use crate::gtk::display::{Display, OverlayState};
use crate::i18n::{gettext, gettext_f};
use gtk::prelude::*;
use gtk::{gio, glib};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

mod fullscreen;
mod labels;
mod sizing;
use labels::usb_button;
pub use labels::{apply_accels, grab_hint, hotkey_label, window_action, with_grab_hint};
pub use sizing::PRESENT_DEADLINE;

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

/// `win.show-help-overlay` (Ctrl+?): the shortcuts window, built the first
/// time it is asked for (not with every session window).
fn install_help_overlay(window: &gtk::ApplicationWindow, hotkeys: &Hotkeys) {
    let action = gio::SimpleAction::new("show-help-overlay", None);
    let hotkeys = hotkeys.clone();
    let weak = window.downgrade();
    action.connect_activate(move |_, _| {
        let Some(window) = weak.upgrade() else { return };
        let overlay = window.help_overlay().unwrap_or_else(|| {
            let overlay = dialogs::shortcuts_window_for(&hotkeys);
            window.set_help_overlay(Some(&overlay));
            overlay
        });
        overlay.present();
    });
    window.add_action(&action);
}

/// When a mapped window is fitted to the guest again (see `connect_map`).
const REFIT_AFTER_MAP: std::time::Duration = std::time::Duration::from_millis(250);

/// One window of a session.
pub struct SessionWindow {
    pub window: gtk::ApplicationWindow,
    pub display: Display,
    header: gtk::HeaderBar,
    /// Built when the first problem is shown ([`SessionWindow::error_page`]).
    error_page: std::cell::OnceCell<ErrorPage>,
    controller: Weak<Controller>,
    /// "Connecting… N s" and Cancel, over the display while connecting.
    connecting: gtk::Box,
    elapsed: gtk::Label,
    cancel: gtk::Button,
    /// Ticks the elapsed time while connecting.
    ticker: std::cell::RefCell<Option<glib::SourceId>>,
    kiosk: bool,
    /// Set by the controller when closing is allowed in kiosk mode.
    allow_close: Cell<bool>,
    /// Set when the controller closes the window (not the user).
    closing_by_controller: Cell<bool>,
    /// The window is closed (by anyone).
    closed: Cell<bool>,
    /// The guest size the window was last sized for ([`SessionWindow::fit_to_guest`]).
    fitted: Cell<Option<(u32, u32)>>,
    /// The window waits to be shown ([`SessionWindow::present_when_sized`]).
    present_pending: Cell<bool>,
    /// What the title says while the pointer is grabbed ([`grab_hint`]).
    grab_hint: RefCell<String>,
    /// "Screenshot saved" with Open, under the header bar.
    notice: super::saved_notice::SavedNotice,
    /// The full-screen toolbar (its handlers hold it weakly: kept here).
    _toolbar: Rc<fullscreen::FullscreenToolbar>,
}

impl Drop for SessionWindow {
    fn drop(&mut self) {
        self.stop_ticker();
    }
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
        let send_keys = builder.object::<gio::Menu>("send_keys");
        if let Some(section) = &send_keys {
            for combo in send_key_combos() {
                let item = gio::MenuItem::new(Some(&combo.label), None);
                item.set_action_and_target_value(Some("win.send-key"), Some(&combo.id.to_variant()));
                section.append_item(&item);
            }
        }
        let main_menu = builder.object::<gio::Menu>("menu");
        if let Some(menu) = &main_menu {
            menu_button.set_menu_model(Some(menu));
        }
        dialogs::hide_tooltip_while_open(&menu_button);
        header.pack_end(&menu_button);
        let title = adw::WindowTitle::new("", "");
        window.bind_property("title", &title, "title").sync_create().build();
        labels::cap_title_width(&title);
        header.set_title_widget(Some(&title));
        if let (Some(session), Some(section), Some(machine_menu)) = (
            display.session(),
            builder.object::<gio::Menu>("machine_section"),
            builder.object::<gio::MenuModel>("machine_menu"),
        ) {
            super::machine_menu::install(&window, &title, &session, &section, &machine_menu);
        }
        if let (Some(session), Some(section)) = (display.session(), builder.object::<gio::Menu>("consoles_section")) {
            super::consoles::install(&window, &session, &section);
        }
        if let (Some(session), Some(section)) = (display.session(), builder.object::<gio::Menu>("smartcard_section")) {
            super::smartcard_menu::install(&window, &session, &section);
        }
        if let (Some(session), Some(section)) = (display.session(), builder.object::<gio::Menu>("folder_section")) {
            super::folder_menu::install(&window, &session, &section);
        }
        let fullscreen_button = gtk::Button::builder()
            .icon_name("view-fullscreen-symbolic")
            .tooltip_text(gettext("Fullscreen"))
            .action_name("win.fullscreen")
            .build();
        header.pack_end(&fullscreen_button);
        // The Send Key menu: nothing that can reboot the guest on a single click.
        let send_keys_button = gtk::MenuButton::builder()
            .icon_name("input-keyboard-symbolic")
            .tooltip_text(gettext("Send Key"))
            .build();
        send_keys_button.set_widget_name("sumac-send-keys");
        if let Some(section) = &send_keys {
            send_keys_button.set_menu_model(Some(section));
        }
        dialogs::hide_tooltip_while_open(&send_keys_button);
        header.pack_start(&send_keys_button);
        header.pack_start(&usb_button(&display));
        if !kiosk {
            window.set_titlebar(Some(&header));
        } else {
            window.set_decorated(false);
        }
        let toolbar = Rc::new(fullscreen::FullscreenToolbar::new(
            &display,
            send_keys.as_ref().map(|m| m.upcast_ref()),
            builder.object::<gio::MenuModel>("menu").as_ref(),
        ));
        if !kiosk {
            toolbar.attach(&window, &display);
        }
        window.set_child(Some(&toolbar.overlay));
        install_help_overlay(&window, hotkeys);
        let elapsed = gtk::Label::new(None);
        elapsed.add_css_class("dim-label");
        elapsed.add_css_class("numeric");
        let cancel = gtk::Button::builder()
            .label(gettext("_Cancel"))
            .use_underline(true)
            .build();
        cancel.add_css_class("pill");
        cancel.set_widget_name("sumac-cancel");
        let connecting = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .halign(gtk::Align::Center)
            .build();
        connecting.append(&elapsed);
        connecting.append(&cancel);
        let notice = super::saved_notice::SavedNotice::new();
        notice.set_parent(&header);
        {
            let notice = notice.clone();
            window.connect_destroy(move |_| notice.unparent());
        }
        let this = Rc::new(Self {
            notice,
            _toolbar: toolbar,
            window,
            display,
            header,
            error_page: std::cell::OnceCell::new(),
            controller: Rc::downgrade(controller),
            connecting,
            elapsed,
            cancel: cancel.clone(),
            ticker: std::cell::RefCell::new(None),
            kiosk,
            allow_close: Cell::new(!kiosk),
            closing_by_controller: Cell::new(false),
            closed: Cell::new(false),
            fitted: Cell::new(None),
            present_pending: Cell::new(false),
            grab_hint: RefCell::new(grab_hint(release)),
        });
        this.install_actions(controller);
        this.install_zoom_actions();
        super::guest_agent::install_window_actions(&this.window, &this.display);
        super::menu_extras::install(&this.window, &this.display, main_menu.as_ref(), kiosk);
        {
            // "(Press Shift+F12 to release pointer)" in the title while grabbed, as remote-viewer.
            let weak = Rc::downgrade(&this);
            this.display.connect_mouse_grabbed_notify(move |d| {
                if let Some(this) = weak.upgrade() {
                    let title = this.window.title().map(|t| t.to_string()).unwrap_or_default();
                    let title = with_grab_hint(&title, &this.grab_hint.borrow(), d.mouse_grabbed());
                    this.window.set_title(Some(&title));
                }
            });
        }
        {
            let weak = Rc::downgrade(controller);
            cancel.connect_clicked(move |_| {
                if let Some(c) = weak.upgrade() {
                    c.cancel();
                }
            });
        }
        {
            // The guest shows: the connecting widgets' clock stops.
            let weak = Rc::downgrade(&this);
            this.display.connect_ready_notify(move |d| {
                if let Some(this) = weak.upgrade()
                    && d.ready()
                {
                    this.stop_ticker();
                    // The keyboard goes back to the guest once it shows.
                    if this.cancel.has_focus() {
                        d.grab_focus();
                    }
                }
            });
        }
        this.show_connecting();
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
                this.stop_ticker();
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
                    this.present_now();
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
                    Some(image) => {
                        let notice = this.notice.downgrade();
                        dialogs::save_screenshot(this.window.upcast_ref(), image, move |path| {
                            if let Some(n) = notice.upgrade() {
                                n.show_screenshot(path);
                            }
                        });
                    }
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
                let agent = super::guest_agent::agent_summary(this.display.session().as_ref());
                dialogs::show_guest_details(this.window.upcast_ref(), name.as_deref(), uuid.as_deref(), &agent);
            });
        }
        group.add_action(&details);
    }

    /// The error page, built on first use (most sessions never show it).
    fn error_page(&self) -> &ErrorPage {
        self.error_page.get_or_init(|| {
            let page = ErrorPage::new();
            let weak = self.controller.clone();
            page.connect_retry(move |typed| {
                if let Some(c) = weak.upgrade() {
                    c.reconnect_with(typed);
                }
            });
            page
        })
    }

    /// Shows the error page for `problem` over the display.
    pub fn show_error(&self, problem: &Problem) {
        self.stop_ticker();
        // The page says it all: no raw error text above it.
        self.display.set_overlay_state(OverlayState::Error(String::new()));
        let page = self.error_page();
        page.show_problem(problem);
        self.display.set_overlay_actions(&[page.clone().upcast()]);
        page.focus();
        self.present_now();
    }

    /// The session relinks by itself: no error page (the display shows
    /// "Reconnecting… (attempt N)" with its own Cancel).
    pub fn show_reconnecting(&self) {
        self.stop_ticker();
        self.display.set_overlay_actions(&[]);
    }

    /// Back to "Connecting…" with the time elapsed and Cancel (a new attempt runs).
    pub fn clear_error(&self) {
        // Reconnect pressed on the page: the keyboard stays on the overlay (Cancel).
        let from_page = self.error_page.get().is_some_and(|page| {
            gtk::prelude::GtkWindowExt::focus(&self.window)
                .is_some_and(|f| f.is_ancestor(page) || f == *page.upcast_ref::<gtk::Widget>())
        });
        if matches!(self.display.overlay_state(), OverlayState::Error(_)) {
            self.display.set_overlay_state(OverlayState::Connecting);
        }
        self.show_connecting();
        if from_page {
            self.cancel.grab_focus();
        }
    }

    /// "Connecting…" with the seconds elapsed since now, and Cancel.
    fn show_connecting(&self) {
        self.stop_ticker();
        self.display.set_overlay_actions(&[self.connecting.clone().upcast()]);
        let start = std::time::Instant::now();
        let label = self.elapsed.downgrade();
        // Always Continue: the source ends only through stop_ticker (its id stays valid).
        let tick = move || {
            if let Some(label) = label.upgrade() {
                let secs = start.elapsed().as_secs().to_string();
                label.set_text(&gettext_f("{seconds} s", &[("seconds", &secs)]));
            }
            glib::ControlFlow::Continue
        };
        tick();
        self.ticker
            .replace(Some(glib::timeout_add_local(std::time::Duration::from_secs(1), tick)));
    }

    fn stop_ticker(&self) {
        if let Some(source) = self.ticker.take() {
            source.remove();
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
        let title = with_grab_hint(title, &self.grab_hint.borrow(), self.display.mouse_grabbed());
        self.window.set_title(Some(&title));
    }

    /// A new release hotkey (the preference changed): the display's and the title hint's.
    pub fn set_release_hotkey(&self, hotkey: &Hotkey) {
        if self.display.set_release_hotkey(hotkey) {
            let title = self.window.title().map(|t| t.to_string()).unwrap_or_default();
            let plain = with_grab_hint(&title, &self.grab_hint.borrow(), false);
            self.grab_hint.replace(grab_hint(hotkey));
            self.set_title(&plain);
        }
    }
}
