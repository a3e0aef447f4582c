//! The app's side of the guest agent: the `share-clipboard` and
//! `auto-resize` preferences (and `--auto-resize`) applied to a session,
//! the window actions "Send File…" and "Resize Guest to Window" (View
//! toggle), the File Transfers window ([`super::transfers`]) and a message
//! when clipboard data over the limit is refused.

use super::settings::{Prefs, keys};
use super::transfers::Transfers;
use crate::gtk::{Display, Session};
use crate::i18n::{gettext, gettext_f};
use adw::prelude::*;
use gtk::{gio, glib};
use std::cell::Cell;
use std::rc::Rc;

/// Whether the guest follows the window: `--auto-resize` when given, else the preference.
pub fn auto_resize(option: Option<crate::client::launch::AutoResize>, preference: bool) -> bool {
    match option {
        Some(crate::client::launch::AutoResize::Always) => true,
        Some(crate::client::launch::AutoResize::Never) => false,
        None => preference,
    }
}

/// Applies the preferences to `session` (before each connect).
pub fn configure(session: &Session, prefs: &Prefs, option: Option<crate::client::launch::AutoResize>) {
    session.set_share_clipboard(prefs.boolean(keys::SHARE_CLIPBOARD));
    session.set_resize_guest(auto_resize(option, prefs.boolean(keys::AUTO_RESIZE)));
}

/// The session-wide agent UI: transfers window, refusal messages.
pub fn attach(app: &adw::Application, session: &Session) {
    let transfers = Transfers::attach(app, session);
    let showing = Rc::new(Cell::new(false));
    let app = app.downgrade();
    session.connect_clipboard_refused(move |_, to_guest, size, max| {
        // Keeps the transfers window alive with the session's handlers.
        let _ = &transfers;
        if showing.replace(true) {
            return;
        }
        let body = refusal_text(to_guest, size, max);
        let parent = app.upgrade().and_then(|a| a.active_window());
        let heading = gettext("Clipboard Not Shared");
        let dialog = adw::MessageDialog::new(parent.as_ref(), Some(&heading), Some(&body));
        dialog.set_title(Some(&heading));
        dialog.add_response("close", &gettext("_Close"));
        dialog.set_default_response(Some("close"));
        let showing = Rc::clone(&showing);
        dialog.connect_response(None, move |_, _| showing.set(false));
        dialog.present();
    });
}

/// The message for clipboard data refused because of its size.
pub fn refusal_text(to_guest: bool, size: u64, max: u32) -> String {
    let args = [
        ("size", glib::format_size(size).to_string()),
        ("max", glib::format_size(u64::from(max)).to_string()),
    ];
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if to_guest {
        gettext_f(
            "The copied data ({size}) is larger than the {max} the guest accepts; it was not pasted in the guest.",
            &args,
        )
    } else {
        gettext_f(
            "The guest's clipboard data ({size}) is larger than the limit of {max}; it was not pasted.",
            &args,
        )
    }
}

/// The guest agent's state in one line, for Guest Details.
pub fn agent_summary(session: Option<&Session>) -> String {
    let info = session.and_then(Session::agent).and_then(|a| a.info());
    match info {
        _ if !session.is_some_and(Session::agent_connected) => gettext("Guest agent: not running"),
        None => gettext("Guest agent: connected, starting"),
        Some(info) => {
            let mut features = Vec::new();
            if info.clipboard() {
                features.push(gettext("clipboard"));
            }
            if info.monitors_config() {
                features.push(gettext("resolution"));
            }
            if info.file_transfer() {
                features.push(gettext("file transfer"));
            }
            if features.is_empty() {
                gettext("Guest agent: running")
            } else {
                gettext_f(
                    "Guest agent: running ({features})",
                    &[("features", &features.join(", "))],
                )
            }
        }
    }
}

/// The window actions `win.send-file` and `win.auto-resize`.
pub fn install_window_actions(window: &gtk::ApplicationWindow, display: &Display) {
    let Some(session) = display.session() else { return };
    let send = gio::SimpleAction::new("send-file", None);
    {
        let window = window.downgrade();
        let session = session.downgrade();
        send.connect_activate(move |_, _| {
            if let (Some(w), Some(s)) = (window.upgrade(), session.upgrade()) {
                choose_files(w.upcast_ref(), &s);
            }
        });
    }
    send.set_enabled(session.agent_connected());
    window.add_action(&send);
    let resize = gio::SimpleAction::new_stateful("auto-resize", None, &session.resize_guest().to_variant());
    {
        let session = session.downgrade();
        resize.connect_activate(move |a, _| {
            let on = !a.state().and_then(|v| v.get::<bool>()).unwrap_or(false);
            if let Some(s) = session.upgrade() {
                s.set_resize_guest(on);
            }
        });
    }
    window.add_action(&resize);
    {
        let resize = resize.downgrade();
        session.connect_resize_guest_notify(move |s| {
            if let Some(a) = resize.upgrade() {
                a.set_state(&s.resize_guest().to_variant());
            }
        });
        let send = send.downgrade();
        session.connect_agent_connected_notify(move |s| {
            if let Some(a) = send.upgrade() {
                a.set_enabled(s.agent_connected());
            }
        });
    }
}

/// "Send File…": a file chooser (several files), each sent to the guest.
fn choose_files(parent: &gtk::Window, session: &Session) {
    let chooser = gtk::FileChooserNative::new(
        Some(&gettext("Send Files to the Guest")),
        Some(parent),
        gtk::FileChooserAction::Open,
        Some(&gettext("_Send")),
        Some(&gettext("_Cancel")),
    );
    chooser.set_select_multiple(true);
    let session = session.downgrade();
    // The dialog keeps itself alive through this slot until it answers.
    let keep = Rc::new(std::cell::RefCell::new(Some(chooser.clone())));
    chooser.connect_response(move |c, response| {
        keep.borrow_mut().take();
        if response == gtk::ResponseType::Accept
            && let Some(s) = session.upgrade()
        {
            let files = c.files();
            let paths: Vec<std::path::PathBuf> = (0..files.n_items())
                .filter_map(|i| files.item(i).and_downcast::<gio::File>())
                .filter_map(|f| f.path())
                .collect();
            crate::gtk::display::drop::send_files(&s, &paths);
        }
        c.destroy();
    });
    chooser.show();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::launch::AutoResize;

    #[test]
    fn the_option_wins_over_the_preference() {
        assert!(auto_resize(None, true));
        assert!(!auto_resize(None, false));
        assert!(auto_resize(Some(AutoResize::Always), false));
        assert!(!auto_resize(Some(AutoResize::Never), true));
    }

    #[test]
    fn refusals_name_both_sizes() {
        let t = refusal_text(true, 2_000_000, 1_000_000);
        assert!(t.contains("2.0\u{a0}MB") && t.contains("1.0\u{a0}MB"), "{t}");
        assert!(refusal_text(false, 5, 1).contains("guest's"));
    }
}
