//! The keyboard grab never leaks: on a desktop with a window manager (openbox) the `sumac` app
//! against the test server, beside a local `xterm`. The guest gets the keyboard's system
//! shortcuts only while the pointer is over its live display (or the pointer is grabbed in
//! server mouse mode); what is typed into a local client stays there, the window manager's
//! Alt+Tab works whenever the pointer is elsewhere, and nothing is grabbed while connecting.

use crate::support::desktop::{Desktop, desktop_tools, guest_key_presses, guest_keys_down};
use crate::support::mouse::wait_inputs_linked;
use crate::support::tools::require_tools;
use crate::support::wait::wait_until;
use std::time::Duration;
use sumac_test_server::{Fault, ServerConfig, TestServer};

/// Set-1 scancode of Tab.
const TAB: u32 = 0x0f;

/// The app's log line when it takes the keyboard grab.
const GRABBED: &str = "keyboard grabbed";
const RELEASED: &str = "keyboard released";

/// The test server in client mouse mode (as with a guest agent): the pointer is never grabbed.
fn client_mouse() -> ServerConfig {
    ServerConfig {
        client_mouse: true,
        ..ServerConfig::default()
    }
}

#[test]
fn typing_into_a_local_client_stays_local() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = TestServer::start(client_mouse()).expect("test server");
    let desktop = Desktop::start("local-client", &[&server.uri()]);
    desktop.focus_guest(&server);
    wait_until("the keyboard grab over the live guest", || {
        desktop.log_count(GRABBED) > 0
    });

    // The user clicks the local xterm and types a word there.
    desktop.click_centre(&desktop.local);
    desktop.wait_active(&desktop.local, "after a click into the xterm");
    server.clear_inputs_log();
    desktop.xdo(&["type", "--delay", "40", "hello"]);
    desktop.xdo(&["key", "Return"]);
    let typed = desktop.wait_typed("hello\n");
    assert_eq!(typed, "hello\n", "the xterm got every key");
    // Give a leak time to show up in the server's log.
    std::thread::sleep(Duration::from_millis(500));
    let presses = guest_key_presses(&server.inputs_log());
    desktop.screenshot("after-typing-locally");
    assert!(
        presses.is_empty(),
        "keys typed into the local xterm reached the guest: {presses:x?}; log:\n{}",
        desktop.app.log()
    );
    assert!(desktop.log_count(RELEASED) > 0, "{}", desktop.app.log());
}

#[test]
fn alt_tab_with_the_pointer_outside_the_guest_switches_windows() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = TestServer::start(client_mouse()).expect("test server");
    let desktop = Desktop::start("alt-tab-outside", &[&server.uri()]);
    desktop.focus_guest(&server);
    // The pointer leaves the guest (over the other window), the app keeps the focus.
    desktop.pointer_to_centre(&desktop.local);
    wait_until("the grab released when the pointer left", || {
        desktop.log_count(RELEASED) > 0
    });
    assert_eq!(desktop.active_window(), desktop.window);
    server.clear_inputs_log();
    desktop.xdo(&["key", "alt+Tab"]);
    desktop.wait_active(&desktop.local, "Alt+Tab with the pointer outside the guest");
    desktop.screenshot("after-alt-tab");
    wait_until("no key held in the guest", || {
        guest_keys_down(&server.inputs_log()).is_empty()
    });
    let presses = guest_key_presses(&server.inputs_log());
    assert!(
        !presses.contains(&TAB),
        "Tab reached the guest: {presses:x?}; log:\n{}",
        desktop.app.log()
    );
}

#[test]
fn alt_tab_over_the_live_guest_goes_to_the_guest_until_minimised() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = TestServer::start(client_mouse()).expect("test server");
    let desktop = Desktop::start("alt-tab-over-guest", &[&server.uri()]);
    desktop.focus_guest(&server);
    wait_until("the keyboard grab over the live guest", || {
        desktop.log_count(GRABBED) > 0
    });
    server.clear_inputs_log();
    desktop.xdo(&["key", "alt+Tab"]);
    let ok = server.wait_for_inputs(Duration::from_secs(30), |log| guest_key_presses(log).contains(&TAB));
    assert!(
        ok,
        "Alt+Tab over the grabbed guest did not reach it; log:\n{}",
        desktop.app.log()
    );
    assert_eq!(
        desktop.active_window(),
        desktop.window,
        "the window manager did not switch"
    );

    // Minimised: the grab goes, and the window manager's shortcuts work again.
    let released = desktop.log_count(RELEASED);
    desktop.xdo(&["windowminimize", "--sync", &desktop.window]);
    wait_until("the grab released on minimise", || {
        desktop.log_count(RELEASED) > released
    });
}

#[test]
fn nothing_is_grabbed_while_connecting() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    // The server accepts the connection and never answers: "Connecting…" forever.
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::SilentLink),
        ..ServerConfig::default()
    })
    .expect("test server");
    let desktop = Desktop::start("connecting", &[&server.uri()]);
    // A click into the display, away from the overlay's Cancel button; again until the window
    // manager has made the window active.
    wait_until("the connecting window active after a click", || {
        desktop.xdo(&["mousemove", "--window", &desktop.window, "--sync", "80", "200"]);
        desktop.xdo(&["click", "1"]);
        crate::support::wait::poll_until(Duration::from_secs(2), || desktop.active_window() == desktop.window)
    });
    std::thread::sleep(Duration::from_millis(300));
    desktop.xdo(&["key", "alt+Tab"]);
    desktop.wait_active(&desktop.local, "Alt+Tab over the connecting window");
    desktop.screenshot("connecting-after-alt-tab");
    assert_eq!(desktop.log_count(GRABBED), 0, "{}", desktop.app.log());
}

/// Server mouse mode: a click grabs the pointer and the keyboard (title hint naming Shift+F12,
/// remote-viewer's default); Shift+F12 releases both, after which the window manager's Alt+Tab
/// works again although the pointer is still over the display, and nothing of it reaches the guest.
#[test]
fn shift_f12_releases_the_grab_in_server_mouse_mode() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let desktop = Desktop::start("server-mode-shift-f12", &[&server.uri()]);
    wait_inputs_linked(&server, &desktop.app);
    let title = || desktop.xdo(&["getwindowname", &desktop.window]);
    // Clicked until the live guest grabs (the first clicks may land while connecting).
    wait_until("the pointer grab (title hint)", || {
        if title().contains("(Press Shift+F12 to release pointer)") {
            return true;
        }
        desktop.click_centre(&desktop.window);
        std::thread::sleep(Duration::from_millis(300));
        false
    });
    assert!(desktop.log_count(GRABBED) > 0, "{}", desktop.app.log());
    desktop.screenshot("server-mode-grabbed");
    desktop.xdo(&["key", "shift+F12"]);
    wait_until("the release by Shift+F12", || {
        !title().contains("Press Shift+F12") && desktop.log_count(RELEASED) > 0
    });
    wait_until("no key held in the guest", || {
        guest_keys_down(&server.inputs_log()).is_empty()
    });
    server.clear_inputs_log();
    desktop.xdo(&["key", "alt+Tab"]);
    desktop.wait_active(&desktop.local, "Alt+Tab after Shift+F12");
    let presses = guest_key_presses(&server.inputs_log());
    assert!(
        !presses.contains(&TAB),
        "Tab reached the guest after the release: {presses:x?}; log:\n{}",
        desktop.app.log()
    );
}
