//! The release-cursor hotkey reaches the widget from each place it can be
//! configured: `-H release-cursor=…`, the `.vv` file's `release-cursor` key
//! and the `grab-hotkey` preference, also recorded from a key press in the
//! preferences window while a session runs. The `sumac` app in server mouse mode on a
//! private Xvfb against the test server: a click grabs the pointer, the title
//! hint names the configured combination, and pressing it (with `xdotool`)
//! releases the pointer: visible and free again, no more deltas.

use crate::support::mouse::{X11Rig, motion_sum, wait_inputs_linked, x11_tools};
use crate::support::tools::require_tools;
use crate::support::wait::{WAIT, wait_until};
use crate::support::x11;
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

/// The preferences' hotkey recorder: a click on the release hotkey's button, Ctrl+Shift+F10
/// pressed; the setting holds `shift+ctrl+f10`, the running session's title hint names it and it
/// releases the pointer. (Not Ctrl+Alt+F10: X servers take Ctrl+Alt+F1…F12 for switching virtual
/// terminals, the key never reaches a client.)
#[test]
fn recorded_preference_releases_the_pointer() {
    let Some(()) = require_tools(&x11_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let uri = server.uri();
    let mut rig = X11Rig::start_with(
        "release-hotkey-recorded",
        &[&uri],
        "(Press Shift+F12 to release pointer)",
        None,
    );
    wait_inputs_linked(&server, &rig.app);
    rig.app.activate_app_action("preferences");
    let display = rig.xvfb.display;
    let prefs = x11::wait_window(display, "^Preferences$", WAIT)
        .unwrap_or_else(|| panic!("no preferences window; log:\n{}", rig.app.log()));
    rig.xdo(&["windowfocus", "--sync", &prefs]);
    std::thread::sleep(Duration::from_millis(500));
    x11::screenshot(display, &prefs, &rig.out().join("preferences.png"));
    let (bx, by) = hotkey_button(display, &prefs);
    rig.xdo(&["mousemove", "--window", &prefs, &bx.to_string(), &by.to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    rig.xdo(&["click", "1"]);
    wait_until("the recorder waiting for keys", || {
        rig.app.log().contains("recording a hotkey")
    });
    std::thread::sleep(Duration::from_millis(300));
    x11::screenshot(display, &prefs, &rig.out().join("preferences-recording.png"));
    rig.xdo(&["windowfocus", "--sync", &prefs]);
    rig.xdo(&["key", "ctrl+shift+F10"]);
    wait_until("the hotkey recorded", || rig.app.log().contains("hotkey recorded"));
    std::thread::sleep(Duration::from_millis(300));
    x11::screenshot(display, &prefs, &rig.out().join("preferences-recorded.png"));
    let ini = rig.out().join("config/sumac/settings.ini");
    let text = std::fs::read_to_string(&ini).unwrap_or_default();
    assert!(text.contains("grab-hotkey=shift+ctrl+f10"), "{}: {text}", ini.display());
    // Escape, no longer recording, closes the preferences.
    rig.xdo(&["key", "Escape"]);
    wait_until("the preferences closed", || {
        x11::windows_named(display, "^Preferences$").is_empty()
    });
    let hint = "(Press Ctrl+Shift+F10 to release pointer)";
    rig.set_hint(hint);
    grab_and_release(&server, &rig, hint, "ctrl+shift+F10");
}

/// Where the release hotkey's button is in the preferences window: the only tall run of
/// non-white pixels (its grey background) in a column near the right end of the rows, below the
/// header bar; the other rows only have thin borders and switches further right.
fn hotkey_button(display: u32, window: &str) -> (u32, u32) {
    let shot = x11::capture(display, window).expect("capture the preferences");
    let x = shot.width.saturating_sub(190);
    let light = |y: u32| shot.pixel(x, y).iter().all(|c| *c >= 0xf5);
    let (mut best, mut start) = ((0, 0), None);
    for y in 60..shot.height {
        match (start, light(y)) {
            (None, false) => start = Some(y),
            (Some(s0), true) => {
                if y - s0 > best.1 - best.0 {
                    best = (s0, y);
                }
                start = None;
            }
            _ => {}
        }
    }
    assert!(best.1 - best.0 >= 20, "no hotkey button found in column {x}: {best:?}");
    (x, (best.0 + best.1) / 2)
}
