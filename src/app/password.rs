//! Asking for the SPICE password again: the server refused the one the
//! session had (an expired ticket after a reconnect, a password changed on
//! the server).

use crate::i18n::gettext;
use adw::prelude::*;
use gtk::glib;

/// Shows a modal password dialog over `parent`; `done` gets the password
/// typed, or `None` when the user cancels.
pub fn ask(parent: &gtk::Window, done: impl FnOnce(Option<String>) + 'static) {
    let dialog = adw::MessageDialog::new(
        Some(parent),
        Some(&gettext("Password required")),
        Some(&gettext("The server refused the password. Enter it to connect again.")),
    );
    let entry = gtk::PasswordEntry::builder()
        .show_peek_icon(true)
        .activates_default(true)
        .build();
    entry.set_widget_name("sumac-password");
    dialog.set_extra_child(Some(&entry));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("connect", &gettext("_Connect"));
    dialog.set_response_appearance("connect", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("connect"));
    dialog.set_close_response("cancel");
    let done = std::cell::RefCell::new(Some(done));
    let e = entry.clone();
    dialog.connect_response(None, move |_, response| {
        if let Some(done) = done.borrow_mut().take() {
            let text = e.text().to_string();
            done((response == "connect").then_some(text));
        }
    });
    dialog.present();
    glib::idle_add_local_once(move || {
        entry.grab_focus();
    });
}
