//! Errors found before any window exists (a missing or malformed `.vv`, `type=vnc`) are shown
//! in a window, not only on stderr: double-clicking a broken file must show something. Closing
//! it ends the app with status 1. The `sumac` app on Xvfb with openbox.

use crate::support::app::App;
use crate::support::artifact_dir;
use crate::support::desktop::{OPENBOX, XPROP};
use crate::support::process::Guard;
use crate::support::tools::{DBUS, XDOTOOL, XVFB, require_tools};
use crate::support::wait::{WAIT, wait_until};
use crate::support::x11::{self, Xvfb};
use std::process::Stdio;
use std::time::Duration;

/// Starts `sumac file` and checks the error window names `expect`; closes it with Return.
fn shows_error_window(name: &str, file_text: Option<&str>, expect: &str) {
    let out = artifact_dir(&format!("gui-startup-error-{name}"));
    let xvfb = Xvfb::start((1280, 1024), None);
    let _wm = Guard(
        xvfb.command("openbox")
            .arg("--sm-disable")
            .env("XDG_CONFIG_HOME", out.join("wm"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openbox"),
    );
    wait_until("openbox", || {
        x11::run_x(xvfb.display, "xprop", &["-root", "_NET_SUPPORTING_WM_CHECK"])
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("window id"))
    });
    let vv = out.join(format!("{name}.vv"));
    let _ = std::fs::remove_file(&vv);
    if let Some(text) = file_text {
        std::fs::write(&vv, text).unwrap();
    }
    let config = out.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let cmd = App::x11_command(xvfb.display, &config, &[vv.to_str().unwrap()]);
    let mut app = App::spawn(cmd, out.join("sumac.log"));
    wait_until("the error window", || app.log().contains("startup error shown"));
    assert!(app.log().contains(expect), "{}", app.log());
    let window = x11::wait_window(xvfb.display, ".*", WAIT).expect("a visible window");
    std::thread::sleep(Duration::from_millis(500));
    x11::screenshot(xvfb.display, "root", &out.join("error-window.png"));
    assert!(app.is_running(), "the app waits for the user to read the error");
    x11::xdotool(xvfb.display, &["windowfocus", "--sync", &window]);
    x11::xdotool(xvfb.display, &["key", "Return"]);
    assert_eq!(app.wait_exit(WAIT), Some(1), "{}", app.log());
}

#[test]
fn a_missing_vv_file_is_shown_in_a_window() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    shows_error_window("missing", None, "missing.vv");
}

#[test]
fn a_vnc_vv_file_is_shown_in_a_window() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    shows_error_window("vnc", Some("[virt-viewer]\ntype=vnc\nhost=h\nport=5900\n"), "vnc");
}
