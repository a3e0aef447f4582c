//! The release-cursor hotkey reaches the widget from each place it can be
//! configured: `-H release-cursor=…`, the `.vv` file's `release-cursor` key
//! and the `grab-hotkey` preference. The `sumac` app in server mouse mode on a
//! private Xvfb against the test server: a click grabs the pointer, the title
//! hint names the configured combination, and pressing it (with `xdotool`)
//! releases the pointer: visible and free again, no more deltas.

use crate::support::mouse::{X11Rig, motion_sum, wait_inputs_linked, x11_tools};
use crate::support::tools::require_tools;
use crate::support::wait::wait_until;
use std::time::Duration;
use sumac_test_server::{ServerConfig, TestServer};

/// Grabs, checks the hint, releases with `keys` (xdotool syntax) and checks the pointer is free.
fn grab_and_release(server: &TestServer, rig: &X11Rig, hint: &str, keys: &str) {
    wait_inputs_linked(server, &rig.app);
    rig.grab();
    assert!(rig.title().contains(hint), "title while grabbed: {}", rig.title());
    assert_eq!(rig.cursor_pixels(), 0, "the grabbed pointer is invisible");
    rig.xdo(&["key", keys]);
    wait_until(&format!("the release by {keys}"), || !rig.grabbed());
    assert!(rig.cursor_pixels() > 0, "the pointer is visible again");
    let (wx, wy, ww, wh) = rig.geometry();
    let outside = (wx + ww + 40, wy + wh + 40);
    server.clear_inputs_log();
    rig.xdo(&["mousemove", &outside.0.to_string(), &outside.1.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.pointer(), outside, "not confined once released");
    assert_eq!(motion_sum(server), (0, 0), "no deltas once released");
    assert!(rig.app.log().contains("pointer released"), "{}", rig.app.log());
}

#[test]
fn hotkeys_option_sets_the_release_hotkey() {
    let Some(()) = require_tools(&x11_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let uri = server.uri();
    let hint = "(Press Shift+F12 to release pointer)";
    let rig = X11Rig::start_with(
        "release-hotkey-option",
        &["-H", "release-cursor=shift+f12", &uri],
        hint,
        None,
    );
    grab_and_release(&server, &rig, hint, "shift+F12");
}

#[test]
fn vv_file_sets_the_release_hotkey() {
    let Some(()) = require_tools(&x11_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let dir = tempfile::tempdir().unwrap();
    let vv = dir.path().join("release.vv");
    std::fs::write(
        &vv,
        format!(
            "[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport={}\nrelease-cursor=Ctrl+Alt+R\n",
            server.port()
        ),
    )
    .unwrap();
    let hint = "(Press Ctrl+Alt+R to release pointer)";
    let rig = X11Rig::start_with("release-hotkey-vv", &[vv.to_str().unwrap()], hint, None);
    grab_and_release(&server, &rig, hint, "ctrl+alt+r");
}

#[test]
fn preference_sets_the_release_hotkey() {
    let Some(()) = require_tools(&x11_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let uri = server.uri();
    let hint = "(Press Alt+F9 to release pointer)";
    let rig = X11Rig::start_with("release-hotkey-pref", &[&uri], hint, Some("grab-hotkey=alt+f9"));
    assert!(
        !rig.app.log().contains("preferences in GSettings"),
        "the app found an installed GSettings schema, so it ignores the test's settings.ini: {}",
        rig.app.log()
    );
    grab_and_release(&server, &rig, hint, "alt+F9");
}
