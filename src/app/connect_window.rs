//! The connect window (`sumac` without argument): an address field (URI or
//! `.vv` path), a file chooser for `.vv` files and the recent connections,
//! kept across runs by [`super::settings::Prefs`]. Layout: `ui/connect-window.ui`.

use super::application::AppState;
use super::dialogs;
use crate::i18n::gettext;
use adw::prelude::*;
use gtk::{gio, glib};
use std::rc::Rc;

/// The connect window.
#[derive(Debug)]
pub struct ConnectWindow;

struct Parts {
    window: gtk::ApplicationWindow,
    address: gtk::Entry,
    connect: gtk::Button,
    open_file: gtk::Button,
    error: gtk::Label,
    recent: gtk::ListBox,
    recent_title: gtk::Label,
    menu_button: gtk::MenuButton,
}

// The ids are in the embedded ui/connect-window.ui: a missing one is a
// programming error the e2e test catches, not a runtime condition.
#[allow(clippy::panic)]
fn object<T: IsA<glib::Object>>(builder: &gtk::Builder, id: &str) -> T {
    builder
        .object(id)
        .unwrap_or_else(|| panic!("ui/connect-window.ui has no object `{id}`"))
}

impl ConnectWindow {
    /// `widget-name` of the window, used to find it again.
    pub const WIDGET_NAME: &'static str = "sumac-connect-window";

    /// Builds the window for `state`'s application.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(state: &Rc<AppState>) -> gtk::ApplicationWindow {
        let builder = gtk::Builder::from_string(include_str!("../../ui/connect-window.ui"));
        let p = Parts {
            window: object(&builder, "window"),
            address: object(&builder, "address"),
            connect: object(&builder, "connect"),
            open_file: object(&builder, "open_file"),
            error: object(&builder, "error"),
            recent: object(&builder, "recent"),
            recent_title: object(&builder, "recent_title"),
            menu_button: object(&builder, "menu_button"),
        };
        p.window.set_application(Some(&state.app));
        p.window.set_widget_name(Self::WIDGET_NAME);
        p.window.set_title(Some(&gettext("Connect – Sumac")));
        p.window.set_default_widget(Some(&p.connect));
        GtkWindowExt::set_focus(&p.window, Some(&p.address));
        p.window.set_help_overlay(Some(&dialogs::shortcuts_window(
            &state.options,
            &state.prefs.string(super::settings::keys::GRAB_HOTKEY),
        )));
        let menus = gtk::Builder::from_string(include_str!("../../ui/session-menu.ui"));
        if let Some(menu) = menus.object::<gio::MenuModel>("connect_menu") {
            p.menu_button.set_menu_model(Some(&menu));
            super::dialogs::hide_tooltip_while_open(&p.menu_button);
        }

        fill_recent(state, &p);
        {
            let connect = p.connect.clone();
            p.address
                .connect_changed(move |e| connect.set_sensitive(!e.text().trim().is_empty()));
        }
        let submit = {
            let state = Rc::downgrade(state);
            let window = p.window.clone();
            let error = p.error.clone();
            move |address: String| {
                let Some(state) = state.upgrade() else { return };
                match state.open_typed(&address) {
                    Ok(()) => window.close(),
                    Err(e) => {
                        error.set_text(&e);
                        error.set_visible(true);
                    }
                }
            }
        };
        {
            let submit = submit.clone();
            let address = p.address.clone();
            p.connect
                .connect_clicked(move |_| submit(address.text().trim().to_owned()));
        }
        {
            let submit = submit.clone();
            p.address.connect_activate(move |e| {
                let text = e.text().trim().to_owned();
                if !text.is_empty() {
                    submit(text);
                }
            });
        }
        {
            let submit = submit.clone();
            p.recent.connect_row_activated(move |_, row| {
                let address = row.widget_name().to_string();
                if !address.is_empty() {
                    submit(address);
                }
            });
        }
        {
            let window = p.window.clone();
            let address = p.address.clone();
            p.open_file.connect_clicked(move |_| choose_vv_file(&window, &address));
        }
        p.window
    }
}

fn fill_recent(state: &Rc<AppState>, p: &Parts) {
    let list = state.prefs.recent();
    p.recent_title.set_visible(!list.is_empty());
    p.recent.set_visible(!list.is_empty());
    for address in list {
        let row = adw::ActionRow::builder()
            .title(glib::markup_escape_text(&address).as_str())
            .subtitle(if address.contains("://") {
                gettext("SPICE address")
            } else {
                gettext("Connection file")
            })
            .activatable(true)
            .build();
        let remove = gtk::Button::builder()
            .icon_name("user-trash-symbolic")
            .tooltip_text(gettext("Remove From Recent Connections"))
            .valign(gtk::Align::Center)
            .build();
        remove.add_css_class("flat");
        {
            let state = Rc::downgrade(state);
            let list = p.recent.clone();
            let title = p.recent_title.clone();
            let row = row.clone();
            let address = address.clone();
            remove.connect_clicked(move |_| {
                if let Some(state) = state.upgrade() {
                    state.prefs.remove_recent(&address);
                }
                list.remove(&row);
                if list.first_child().is_none() {
                    list.set_visible(false);
                    title.set_visible(false);
                }
            });
        }
        row.add_suffix(&remove);
        row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
        // The row carries its address in its name (read back on activation).
        row.set_widget_name(&address);
        p.recent.append(&row);
    }
}

fn choose_vv_file(window: &gtk::ApplicationWindow, address: &gtk::Entry) {
    let chooser = gtk::FileChooserNative::new(
        Some(&gettext("Open a Connection File")),
        Some(window),
        gtk::FileChooserAction::Open,
        Some(&gettext("_Open")),
        Some(&gettext("_Cancel")),
    );
    let filter = gtk::FileFilter::new();
    filter.set_name(Some(&gettext("Connection files (.vv)")));
    filter.add_pattern("*.vv");
    filter.add_mime_type("application/x-virt-viewer");
    chooser.add_filter(&filter);
    let address = address.clone();
    // The dialog keeps itself alive through this slot until it answers.
    let keep = std::rc::Rc::new(std::cell::RefCell::new(Some(chooser.clone())));
    chooser.connect_response(move |c, response| {
        keep.borrow_mut().take();
        if response == gtk::ResponseType::Accept
            && let Some(path) = c.file().and_then(|f| f.path())
        {
            address.set_text(&path.display().to_string());
            address.grab_focus();
        }
        c.destroy();
    });
    chooser.show();
}
