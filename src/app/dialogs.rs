//! Secondary windows: about, error message, guest details, preferences, the
//! keyboard-shortcuts window (`ui/shortcuts.ui`) and the screenshot file chooser.

use super::APP_ID;
use super::application::AppState;
use super::controller::release_hotkey;
use super::settings::keys;
use crate::client::launch::LaunchRequest;
use crate::client::screenshot::{RgbImage, write_png};
use crate::client::vv::hotkey::{HotkeyAction, Hotkeys};
use crate::i18n::{gettext, gettext_f};
use adw::prelude::*;
use gtk::{gio, glib};

/// The about window.
pub fn show_about(parent: Option<&gtk::Window>) {
    let about = adw::AboutWindow::builder()
        .application_name("Sumac")
        .application_icon(APP_ID)
        .developer_name(gettext("The Sumac developers"))
        .version(env!("CARGO_PKG_VERSION"))
        .comments(gettext("A SPICE remote-desktop client"))
        .license_type(gtk::License::Gpl30)
        .website(env!("CARGO_PKG_REPOSITORY"))
        .modal(true)
        .build();
    about.set_transient_for(parent);
    about.present();
}

/// A modal message (errors of the connect step).
pub fn show_error(parent: Option<&gtk::Window>, heading: &str, body: &str) {
    let dialog = adw::MessageDialog::new(parent, Some(heading), Some(body));
    // The heading is the window's title too (window lists, screen readers, tests).
    dialog.set_title(Some(heading));
    dialog.add_response("close", &gettext("_Close"));
    dialog.set_default_response(Some("close"));
    dialog.present();
}

/// Guest details: name and UUID as the server announced them, and the
/// guest agent's state (`agent`, one line).
pub fn show_guest_details(parent: &gtk::Window, name: Option<&str>, uuid: Option<&str>, agent: &str) {
    let unknown = gettext("Unknown");
    let body = gettext_f(
        "Name: {name}\nUUID: {uuid}",
        &[("name", name.unwrap_or(&unknown)), ("uuid", uuid.unwrap_or(&unknown))],
    );
    let body = format!("{body}\n{agent}");
    let dialog = adw::MessageDialog::new(Some(parent), Some(&gettext("Guest Details")), Some(&body));
    dialog.add_response("close", &gettext("_Close"));
    dialog.set_default_response(Some("close"));
    dialog.present();
}

/// Formats a SPICE UUID (16 bytes, as sent) in the canonical 8-4-4-4-12 form.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let hex: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    let s = hex.concat();
    // 32 hex digits; the split points are within bounds by construction.
    let parts = [(0, 8), (8, 12), (12, 16), (16, 20), (20, 32)];
    parts
        .iter()
        .filter_map(|&(a, b)| s.get(a..b))
        .collect::<Vec<_>>()
        .join("-")
}

/// The preferences window: renderer, scaling, automatic reconnect, release-cursor hotkey (recorded
/// from a key press); stored with [`super::settings::Prefs`]. Applies to sessions opened
/// afterwards (scaling and the release hotkey also to the open windows).
pub fn show_preferences(state: &std::rc::Rc<AppState>) {
    let window = adw::PreferencesWindow::builder()
        .title(gettext("Preferences"))
        .modal(true)
        .search_enabled(false)
        .build();
    window.set_transient_for(state.app.active_window().as_ref());
    let page = adw::PreferencesPage::new();
    let display = adw::PreferencesGroup::builder().title(gettext("Display")).build();

    // Renderer
    let renderers = ["auto", "gl", "cairo", "x11"];
    let labels = [
        gettext("Automatic"),
        gettext("OpenGL"),
        gettext("Software (cairo)"),
        gettext("X11 window (X server draws)"),
    ];
    let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
    let renderer = adw::ComboRow::builder()
        .title(gettext("Renderer"))
        .subtitle(gettext("Used by windows opened from now on"))
        .model(&gtk::StringList::new(&label_refs))
        .build();
    let current = state.prefs.string(keys::RENDERER);
    let index = renderers.iter().position(|r| *r == current).unwrap_or(0);
    renderer.set_selected(u32::try_from(index).unwrap_or(0));
    {
        let state = std::rc::Rc::downgrade(state);
        renderer.connect_selected_notify(move |row| {
            let Some(state) = state.upgrade() else { return };
            let i = usize::try_from(row.selected()).unwrap_or(0);
            if let Some(r) = renderers.get(i) {
                state.prefs.set_string(keys::RENDERER, r);
            }
        });
    }
    display.add(&renderer);

    let scaling = switch_row(
        state,
        &gettext("Scale to window"),
        &gettext("Fit the guest display in the window, keeping its aspect ratio"),
        keys::SCALING,
    );
    // Applies to the open windows at once (their Scale to Window toggle).
    if let Some(switch) = scaling
        .activatable_widget()
        .and_then(|w| w.downcast::<gtk::Switch>().ok())
    {
        let app = state.app.clone();
        switch.connect_active_notify(move |s| {
            for w in app.windows() {
                if let Some(action) = w
                    .downcast_ref::<gtk::ApplicationWindow>()
                    .and_then(|w| w.lookup_action("scale-to-window"))
                {
                    action.change_state(&s.is_active().to_variant());
                }
            }
        });
    }
    display.add(&scaling);
    page.add(&display);

    let connection = adw::PreferencesGroup::builder().title(gettext("Connection")).build();
    connection.add(&switch_row(
        state,
        &gettext("Reconnect automatically"),
        &gettext("When the server goes away, keep the window and connect again by itself"),
        keys::AUTO_RECONNECT,
    ));
    page.add(&connection);

    let input = adw::PreferencesGroup::builder().title(gettext("Keyboard")).build();
    let hotkey_row = super::hotkey_row::HotkeyRow::new(
        &gettext("Release keyboard and mouse"),
        &gettext("Click, then press the keys; Backspace restores Shift+F12"),
        "shift+f12",
    );
    hotkey_row.set_widget_name("sumac-release-hotkey");
    bind_hotkey(state, &hotkey_row);
    input.add(&hotkey_row);
    page.add(&input);

    let sound = adw::PreferencesGroup::builder().title(gettext("Sound")).build();
    sound.add(&switch_row(
        state,
        &gettext("Allow the microphone"),
        &gettext("Let the guest record from your microphone when it asks"),
        keys::MICROPHONE,
    ));
    page.add(&sound);

    let guest = adw::PreferencesGroup::builder().title(gettext("Guest")).build();
    guest.add(&switch_row(
        state,
        &gettext("Share the clipboard"),
        &gettext("Copy and paste between this computer and the guest (sessions opened from now on)"),
        keys::SHARE_CLIPBOARD,
    ));
    guest.add(&switch_row(
        state,
        &gettext("Resize the guest to the window"),
        &gettext("The guest's resolution follows the window size (needs the guest agent)"),
        keys::AUTO_RESIZE,
    ));
    page.add(&guest);
    window.add(&page);
    window.present();
}

/// The release hotkey row and the `grab-hotkey` setting, both ways; the open sessions follow.
fn bind_hotkey(state: &std::rc::Rc<AppState>, row: &super::hotkey_row::HotkeyRow) {
    let settings = state.prefs.gsettings();
    match &settings {
        Some(settings) => settings.bind(keys::GRAB_HOTKEY, row, "hotkey").build(),
        None => row.set_hotkey(state.prefs.string(keys::GRAB_HOTKEY)),
    }
    let state = std::rc::Rc::downgrade(state);
    row.connect_hotkey_notify(move |row| {
        if let Some(state) = state.upgrade() {
            if settings.is_none() {
                state.prefs.set_string(keys::GRAB_HOTKEY, &row.hotkey());
            }
            state.grab_hotkey_changed(&row.hotkey());
        }
    });
}

fn switch_row(state: &std::rc::Rc<AppState>, title: &str, subtitle: &str, key: &'static str) -> adw::ActionRow {
    let row = adw::ActionRow::builder().title(title).subtitle(subtitle).build();
    let switch = gtk::Switch::builder()
        .active(state.prefs.boolean(key))
        .valign(gtk::Align::Center)
        .build();
    {
        let state = std::rc::Rc::downgrade(state);
        switch.connect_active_notify(move |s| {
            if let Some(state) = state.upgrade() {
                state.prefs.set_boolean(key, s.is_active());
            }
        });
    }
    row.add_suffix(&switch);
    row.set_activatable_widget(Some(&switch));
    row
}

/// The keyboard-shortcuts window of the connect window: the hotkeys a
/// session started with these options gets (before any `.vv` file), the
/// release hotkey from `-H` or else the `grab_hotkey` preference.
pub fn shortcuts_window(options: &LaunchRequest, grab_hotkey: &str) -> gtk::ShortcutsWindow {
    let hotkeys = if options.kiosk {
        Hotkeys::none()
    } else {
        let mut hotkeys = options.hotkeys.clone().unwrap_or_default();
        let from_options = options
            .hotkeys
            .as_ref()
            .and_then(|h| h.get(HotkeyAction::ReleaseCursor));
        hotkeys.set(HotkeyAction::ReleaseCursor, release_hotkey(from_options, grab_hotkey));
        hotkeys
    };
    shortcuts_window_for(&hotkeys)
}

/// The shortcuts window for `hotkeys`.
pub fn shortcuts_window_for(hotkeys: &Hotkeys) -> gtk::ShortcutsWindow {
    let builder = gtk::Builder::from_string(include_str!("../../ui/shortcuts.ui"));
    for action in HotkeyAction::ALL {
        let id = format!("{}_shortcut", action.name().replace('-', "_"));
        let Some(shortcut) = builder.object::<gtk::ShortcutsShortcut>(&id) else {
            continue;
        };
        match hotkeys.get(action) {
            Some(h) => {
                let accel = h.to_accelerator().unwrap_or_else(|| modifier_only_accelerator(h));
                shortcut.set_accelerator(Some(&accel));
            }
            None => shortcut.set_visible(false),
        }
    }
    match builder.object::<gtk::ShortcutsWindow>("help_overlay") {
        Some(w) => w,
        None => {
            tracing::error!("ui/shortcuts.ui has no help_overlay");
            gtk::ShortcutsWindow::builder().build()
        }
    }
}

/// `ctrl+alt` shown as `<Control>Alt_L`-style: GTK cannot display a bare
/// modifier set as an accelerator, so the last modifier is shown as a key.
fn modifier_only_accelerator(h: &crate::client::vv::hotkey::Hotkey) -> String {
    use crate::client::vv::hotkey::Modifiers;
    let m = h.modifiers;
    let mut names: Vec<&str> = Vec::new();
    for (flag, accel, key) in [
        (Modifiers::CONTROL, "<Control>", "Control_L"),
        (Modifiers::ALT, "<Alt>", "Alt_L"),
        (Modifiers::SHIFT, "<Shift>", "Shift_L"),
        (Modifiers::SUPER, "<Super>", "Super_L"),
    ] {
        if m.contains(flag) {
            names.push(accel);
            names.push(key);
        }
    }
    // Keep every prefix but the last modifier's, then that modifier's key.
    let n = names.len();
    let mut out = String::new();
    for (i, part) in names.iter().enumerate() {
        let is_key = i % 2 == 1;
        if (is_key && i + 1 == n) || (!is_key && i + 2 < n) {
            out.push_str(part);
        }
    }
    out
}

/// Where the screenshot chooser opens: the XDG Pictures folder when it
/// exists, else the home folder (never the working directory).
pub fn screenshot_folder() -> std::path::PathBuf {
    glib::user_special_dir(glib::UserDirectory::Pictures)
        .filter(|d| d.is_dir())
        .unwrap_or_else(glib::home_dir)
}

/// Asks where to save a screenshot (PNG, in [`screenshot_folder`] by default),
/// writes `image` there and calls `on_saved` with the path.
pub fn save_screenshot(parent: &gtk::Window, image: RgbImage, on_saved: impl Fn(&std::path::Path) + 'static) {
    let chooser = gtk::FileChooserNative::new(
        Some(&gettext("Save Screenshot")),
        Some(parent),
        gtk::FileChooserAction::Save,
        Some(&gettext("_Save")),
        Some(&gettext("_Cancel")),
    );
    let stamp = glib::DateTime::now_local()
        .and_then(|d| d.format("%Y-%m-%d %H-%M-%S"))
        .map(|s| s.to_string())
        .unwrap_or_default();
    if let Err(e) = chooser.set_current_folder(Some(&gio::File::for_path(screenshot_folder()))) {
        tracing::debug!(error = %e, "cannot open the screenshot chooser in the Pictures folder");
    }
    chooser.set_current_name(&gettext_f("Screenshot {time}.png", &[("time", &stamp)]));
    let filter = gtk::FileFilter::new();
    filter.set_name(Some(&gettext("PNG images")));
    filter.add_mime_type("image/png");
    filter.add_pattern("*.png");
    chooser.add_filter(&filter);
    let parent = parent.clone();
    // The dialog keeps itself alive through this slot until it answers.
    let keep = std::rc::Rc::new(std::cell::RefCell::new(Some(chooser.clone())));
    chooser.connect_response(move |c, response| {
        keep.borrow_mut().take();
        if response == gtk::ResponseType::Accept
            && let Some(path) = c.file().and_then(|f| f.path())
        {
            if let Err(e) = write_png(&path, &image) {
                tracing::error!(path = %path.display(), error = %e, "cannot save the screenshot");
                show_error(Some(&parent), &gettext("Cannot Save the Screenshot"), &e.to_string());
            } else {
                tracing::info!(path = %path.display(), "screenshot saved");
                on_saved(&path);
            }
        }
        c.destroy();
    });
    chooser.show();
}

/// Hides `button`'s tooltip while its menu is open: GTK would leave it over
/// the menu's first item.
pub fn hide_tooltip_while_open(button: &gtk::MenuButton) {
    let Some(popover) = button.popover() else { return };
    let weak = button.downgrade();
    popover.connect_show(move |_| {
        if let Some(b) = weak.upgrade() {
            b.set_has_tooltip(false);
        }
    });
    let weak = button.downgrade();
    popover.connect_closed(move |_| {
        if let Some(b) = weak.upgrade() {
            b.set_has_tooltip(true);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_format() {
        let u = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        ];
        assert_eq!(format_uuid(&u), "12345678-9abc-def0-0123-456789abcdef");
    }

    #[test]
    fn modifier_only_display() {
        let h = crate::client::vv::hotkey::Hotkey::parse_for(HotkeyAction::ReleaseCursor, "ctrl+alt").unwrap();
        assert_eq!(modifier_only_accelerator(&h), "<Control>Alt_L");
    }
}
