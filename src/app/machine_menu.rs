//! The Machine menu of a session window, as virt-viewer's: Pause (a check
//! item), Reset… and Power Down… (each after a confirmation), over the
//! server's QMP port ([`crate::gtk::Machine`]). The submenu is in the main
//! menu only while the server exposes `org.qemu.monitor.qmp.0` and QMP
//! answers; the guest's run state shows as the window's subtitle
//! ("Paused"). Window actions: `win.machine-pause` (boolean state: paused),
//! `win.machine-reset`, `win.machine-power-down`.

use crate::gtk::{Machine, Session};
use crate::i18n::gettext;
use adw::prelude::*;
use gtk::gio;

/// The subtitle for QEMU's run state `status` (`None`: nothing to say).
pub fn run_state_label(status: &str) -> Option<String> {
    match status {
        "" | "running" => None,
        "paused" => Some(gettext("Paused")),
        "shutdown" => Some(gettext("Shut Down")),
        "suspended" => Some(gettext("Suspended")),
        "inmigrate" | "postmigrate" | "finish-migrate" => Some(gettext("Migrating")),
        "internal-error" | "io-error" | "guest-panicked" => Some(gettext("Stopped on an error")),
        _ => Some(gettext("Stopped")),
    }
}

/// Installs the actions on `window`, the run state in `title` and the
/// submenu (`machine_menu`, from `ui/session-menu.ui`) in `section` while
/// the machine is available.
pub fn install(
    window: &gtk::ApplicationWindow,
    title: &adw::WindowTitle,
    session: &Session,
    section: &gio::Menu,
    machine_menu: &gio::MenuModel,
) {
    let machine = session.machine();
    let pause = gio::SimpleAction::new_stateful("machine-pause", None, &false.to_variant());
    {
        let machine = machine.downgrade();
        pause.connect_change_state(move |_, value| {
            if let (Some(m), Some(paused)) = (machine.upgrade(), value.and_then(|v| v.get::<bool>())) {
                if paused {
                    m.pause();
                } else {
                    m.resume();
                }
            }
        });
    }
    window.add_action(&pause);
    for (name, confirm) in [
        ("machine-reset", confirm_reset as fn(&gtk::Window, &Machine)),
        ("machine-power-down", confirm_power_down),
    ] {
        let action = gio::SimpleAction::new(name, None);
        let weak_machine = machine.downgrade();
        let weak_window = window.downgrade();
        action.connect_activate(move |_, _| {
            if let (Some(m), Some(w)) = (weak_machine.upgrade(), weak_window.upgrade()) {
                confirm(w.upcast_ref(), &m);
            }
        });
        window.add_action(&action);
    }
    let update = {
        let window = window.downgrade();
        let title = title.downgrade();
        let section = section.downgrade();
        let machine_menu = machine_menu.clone();
        move |m: &Machine| {
            let available = m.available();
            if let Some(w) = window.upgrade() {
                for name in ["machine-pause", "machine-reset", "machine-power-down"] {
                    if let Some(a) = w.lookup_action(name).and_downcast::<gio::SimpleAction>() {
                        a.set_enabled(available);
                        if name == "machine-pause" {
                            a.set_state(&(available && m.status() == "paused").to_variant());
                        }
                    }
                }
            }
            if let Some(section) = section.upgrade() {
                let shown = section.n_items() > 0;
                if available && !shown {
                    section.append_submenu(Some(&gettext("_Machine")), &machine_menu);
                } else if !available && shown {
                    section.remove_all();
                }
            }
            if let Some(t) = title.upgrade() {
                let label = if available { run_state_label(&m.status()) } else { None };
                t.set_subtitle(label.as_deref().unwrap_or_default());
            }
        }
    };
    update(&machine);
    let u = update.clone();
    machine.connect_available_notify(move |m| u(m));
    machine.connect_status_notify(move |m| update(m));
    let window = window.downgrade();
    machine.connect_failed(move |_, message| {
        let parent = window.upgrade();
        super::dialogs::show_error(
            parent.as_ref().map(|w| w.upcast_ref::<gtk::Window>()),
            &gettext("The Machine Refused"),
            message,
        );
    });
}

/// Asks, then runs `run` on the machine when the user chose `response`.
fn confirm(parent: &gtk::Window, machine: &Machine, text: [String; 3], run: fn(&Machine)) {
    let [heading, body, label] = text;
    let dialog = adw::MessageDialog::new(Some(parent), Some(&heading), Some(&body));
    dialog.set_title(Some(&heading));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("confirm", &label);
    dialog.set_response_appearance("confirm", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    let machine = machine.downgrade();
    dialog.connect_response(None, move |_, response| {
        if response == "confirm"
            && let Some(m) = machine.upgrade()
        {
            run(&m);
        }
    });
    dialog.present();
}

fn confirm_reset(parent: &gtk::Window, machine: &Machine) {
    let text = [
        gettext("Reset the Guest?"),
        gettext("The machine restarts at once, as with its reset button: what is not saved in the guest is lost."),
        gettext("_Reset"),
    ];
    confirm(parent, machine, text, Machine::reset);
}

fn confirm_power_down(parent: &gtk::Window, machine: &Machine) {
    let text = [
        gettext("Power Down the Guest?"),
        gettext("The guest is asked to shut down, as when its power button is pressed."),
        gettext("_Power Down"),
    ];
    confirm(parent, machine, text, Machine::power_down);
}
