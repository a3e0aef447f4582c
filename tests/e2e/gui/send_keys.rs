//! The header bar's keyboard button opens the Send Key menu; one click sends nothing (nothing
//! that can reboot the guest on a single click), choosing Ctrl+Alt+Del in the menu sends it.
//! The `sumac` app against the test server on Xvfb with openbox.

use crate::support::desktop::{Desktop, desktop_tools, guest_key_presses};
use crate::support::tools::require_tools;
use std::time::Duration;

/// Set-1 scancodes (E0 prefix dropped) of Ctrl, Alt, Delete.
const CTRL_ALT_DEL: [u32; 3] = [0x1d, 0x38, 0x53];

#[test]
fn send_key_button_opens_a_menu_and_one_click_sends_nothing() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = crate::support::desktop::client_mouse_server();
    let desktop = Desktop::start("send-keys", &[&server.uri()]);
    desktop.focus_guest(&server);
    server.clear_inputs_log();
    // The first button of the header bar (its left end).
    desktop.xdo(&["mousemove", "--window", &desktop.window, "--sync", "24", "24"]);
    std::thread::sleep(Duration::from_millis(200));
    desktop.xdo(&["click", "1"]);
    std::thread::sleep(Duration::from_millis(800));
    let shot = desktop.screenshot("send-keys-menu");
    let presses = guest_key_presses(&server.inputs_log());
    assert!(
        presses.is_empty(),
        "one click on the header bar sent keys to the guest: {presses:x?} (screen: {})",
        shot.display()
    );
    // The menu has the focus on its first entry, Ctrl+Alt+Del.
    desktop.xdo(&["key", "Return"]);
    let ok = server.wait_for_inputs(Duration::from_secs(30), |log| {
        guest_key_presses(log).windows(3).any(|w| w == CTRL_ALT_DEL)
    });
    assert!(
        ok,
        "Ctrl+Alt+Del from the menu never reached the guest: {:x?} (screen: {}); log:\n{}",
        guest_key_presses(&server.inputs_log()),
        shot.display(),
        desktop.app.log()
    );
}
