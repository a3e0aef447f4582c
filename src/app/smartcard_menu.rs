//! The smartcard entries of a session window's main menu, remote-viewer's
//! "Smartcard insert" and "Smartcard remove" (hotkeys Shift+F8 and
//! Shift+F9 by default, or the `.vv` file's `smartcard-insert` and
//! `smartcard-remove`): window actions `win.smartcard-insert` and
//! `win.smartcard-remove`, enabled only while the session's smartcard
//! channel has the software reader attached
//! ([`Session::smartcard_available`]), Insert while the card is out and
//! Remove while it is in. The entries are in the menu only while the
//! reader is attached.

use crate::gtk::Session;
use crate::i18n::gettext;
use gtk::gio;
use gtk::prelude::*;

/// The window action names (without `win.`).
pub const INSERT: &str = "smartcard-insert";
/// See [`INSERT`].
pub const REMOVE: &str = "smartcard-remove";

/// Which actions are enabled for the session's smartcard state:
/// `(insert, remove)`.
pub fn enabled(available: bool, inserted: bool) -> (bool, bool) {
    (available && !inserted, available && inserted)
}

/// Installs the actions on `window` and keeps the entries in `section`.
pub fn install(window: &gtk::ApplicationWindow, session: &Session, section: &gio::Menu) {
    for (name, run) in [
        (INSERT, Session::insert_smartcard as fn(&Session)),
        (REMOVE, Session::remove_smartcard),
    ] {
        let action = gio::SimpleAction::new(name, None);
        let session = session.downgrade();
        action.connect_activate(move |_, _| {
            if let Some(s) = session.upgrade() {
                run(&s);
            }
        });
        window.add_action(&action);
    }
    let update = {
        let window = window.downgrade();
        let section = section.downgrade();
        move |s: &Session| {
            let available = s.smartcard_available();
            let (insert, remove) = enabled(available, s.smartcard_inserted());
            if let Some(w) = window.upgrade() {
                for (name, on) in [(INSERT, insert), (REMOVE, remove)] {
                    if let Some(a) = w.lookup_action(name).and_downcast::<gio::SimpleAction>() {
                        a.set_enabled(on);
                    }
                }
            }
            let Some(section) = section.upgrade() else { return };
            let shown = section.n_items() > 0;
            if available && !shown {
                section.append(Some(&gettext("Insert Smart_card")), Some(&format!("win.{INSERT}")));
                section.append(Some(&gettext("Re_move Smartcard")), Some(&format!("win.{REMOVE}")));
            } else if !available && shown {
                section.remove_all();
            }
        }
    };
    update(session);
    session.connect_smartcard_changed(update);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_card() {
        assert_eq!(enabled(false, false), (false, false));
        assert_eq!(enabled(false, true), (false, false));
        assert_eq!(enabled(true, false), (true, false));
        assert_eq!(enabled(true, true), (false, true));
    }
}
