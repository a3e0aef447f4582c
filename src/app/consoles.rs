//! View > Consoles: the server's console ports (serial consoles, QEMU's
//! human monitor; [`console_port`]) listed in a submenu of the main menu
//! while there are any; each opens its [`ConsoleWindow`] (one per port and
//! session window; chosen again, it is brought to the front). Window action
//! `win.open-console` (string: the port name).

use super::console_window::ConsoleWindow;
use crate::client::console::{ConsolePort, console_port};
use crate::gtk::Session;
use crate::i18n::{gettext, gettext_f};
use gtk::prelude::*;
use gtk::{gio, glib};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The menu label of the console on port `name` (`None`: not a console).
pub fn console_label(name: &str) -> Option<String> {
    Some(match console_port(name)? {
        ConsolePort::Serial(n) => gettext_f("Serial {number}", &[("number", &n)]),
        ConsolePort::Monitor(n) if n == "0" => gettext("QEMU Monitor"),
        ConsolePort::Monitor(n) => gettext_f("QEMU Monitor {number}", &[("number", &n)]),
        ConsolePort::Other(rest) => rest,
    })
}

/// Installs `win.open-console` on `window` and keeps the Consoles submenu
/// in `section` in step with the session's ports.
pub fn install(window: &gtk::ApplicationWindow, session: &Session, section: &gio::Menu) {
    let open: Rc<RefCell<BTreeMap<String, glib::WeakRef<ConsoleWindow>>>> = Rc::default();
    let action = gio::SimpleAction::new("open-console", Some(glib::VariantTy::STRING));
    {
        let session = session.downgrade();
        let parent = window.downgrade();
        action.connect_activate(move |_, param| {
            let (Some(name), Some(session)) = (param.and_then(|p| p.get::<String>()), session.upgrade()) else {
                return;
            };
            let Some(label) = console_label(&name) else { return };
            let existing = open.borrow().get(&name).and_then(glib::WeakRef::upgrade);
            let console = existing.unwrap_or_else(|| {
                let title = match parent.upgrade().and_then(|p| p.title()) {
                    Some(t) => format!("{label} – {t}"),
                    None => label.clone(),
                };
                let w = ConsoleWindow::new(&session, &name, &title);
                open.borrow_mut().insert(name.clone(), w.downgrade());
                w
            });
            tracing::info!(port = %name, "console window");
            GtkWindowExt::present(&console);
        });
    }
    window.add_action(&action);
    let update = {
        let section = section.downgrade();
        move |s: &Session| {
            let Some(section) = section.upgrade() else { return };
            section.remove_all();
            let consoles = gio::Menu::new();
            for name in s.port_names() {
                if let Some(label) = console_label(&name) {
                    let item = gio::MenuItem::new(Some(&label), None);
                    item.set_action_and_target_value(Some("win.open-console"), Some(&name.to_variant()));
                    consoles.append_item(&item);
                }
            }
            if consoles.n_items() > 0 {
                section.append_submenu(Some(&gettext("_Consoles")), &consoles);
            }
        }
    };
    update(session);
    session.connect_ports_changed(update);
}
