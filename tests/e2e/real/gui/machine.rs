//! The app's Machine menu against a real QEMU (SeaBIOS alone, no guest OS) with its QMP and HMP
//! monitors on SPICE port channels: the menu's actions, activated over the app's D-Bus action
//! export as a menu item activates them, reach QEMU, and QEMU's own QMP socket agrees: Pause
//! (`query-status` says paused; the window's subtitle says so), Resume, Reset and Power Down
//! after their confirmation dialogs (QEMU reports RESET and POWERDOWN); the Consoles menu's
//! action opens the HMP port's console window.

use crate::support::desktop::{Desktop, desktop_tools};
use crate::support::real::qemu::{Qemu, QemuOpts, spiceport_monitors};
use crate::support::real::{QEMU_TOOLS, require_real_servers};
use crate::support::tools::GDBUS;
use crate::support::wait::{WAIT, wait_until};
use crate::support::x11;
use std::time::Duration;

fn status(qemu: &Qemu) -> String {
    let v = qemu.qmp("query-status", None).expect("query-status");
    v["status"].as_str().unwrap_or_default().to_owned()
}

/// Confirms the dialog titled `title` with its mnemonic `key` (e.g. `alt+r`).
fn confirm(desktop: &Desktop, title: &str, key: &str) {
    let dialog = x11::wait_window(desktop.xvfb.display, &format!("^{title}$"), WAIT)
        .unwrap_or_else(|| panic!("no dialog {title:?}; log:\n{}", desktop.app.log()));
    desktop.xdo(&["windowactivate", "--sync", &dialog]);
    std::thread::sleep(Duration::from_millis(300));
    desktop.screenshot(&format!("confirm-{key}"));
    desktop.xdo(&["key", key]);
}

#[test]
fn qemu_machine_menu_over_the_qmp_port() {
    let mut tools = QEMU_TOOLS.to_vec();
    tools.extend(desktop_tools());
    tools.push(GDBUS);
    let Some(()) = require_real_servers(&tools) else {
        return;
    };
    let qemu = Qemu::start(QemuOpts {
        extra: spiceport_monitors(),
        ..QemuOpts::default()
    })
    .expect("QEMU");
    let desktop = Desktop::start("qemu-machine", &[&qemu.uri()]);
    wait_until("the QMP port ready in the app", || {
        desktop.app.log().contains("QMP port ready")
    });
    wait_until("the run state known", || {
        desktop.app.log().contains("guest run state status=running")
    });
    assert_eq!(status(&qemu), "running");

    desktop.app.activate_window_action("machine-pause", None);
    wait_until("QEMU paused", || status(&qemu) == "paused");
    wait_until("the app saw the pause", || {
        desktop.app.log().contains("guest run state status=paused")
    });
    desktop.screenshot("paused");

    desktop.app.activate_window_action("machine-pause", None);
    wait_until("QEMU running again", || status(&qemu) == "running");

    desktop.app.activate_window_action("machine-reset", None);
    confirm(&desktop, "Reset the Guest\\?", "alt+r");
    qemu.wait_qmp_event("RESET", WAIT).expect("RESET on QEMU's QMP socket");

    desktop.app.activate_window_action("machine-power-down", None);
    confirm(&desktop, "Power Down the Guest\\?", "alt+p");
    qemu.wait_qmp_event("POWERDOWN", WAIT)
        .expect("POWERDOWN on QEMU's QMP socket");
    assert_eq!(status(&qemu), "running", "power down only presses the ACPI button");

    // View > Consoles: the HMP port opens its console window.
    desktop
        .app
        .activate_window_action("open-console", Some("<'org.qemu.monitor.hmp.0'>"));
    x11::wait_window(desktop.xvfb.display, "^QEMU Monitor – ", WAIT)
        .unwrap_or_else(|| panic!("no console window; log:\n{}", desktop.app.log()));
    desktop.screenshot("console");
}
