//! Server mouse mode through the `sumac` app (`--mouse-mode=server`) on a
//! private Xvfb against a real Xspice: the session stays in server mode (no
//! MOUSE_MODE_REQUEST although Xspice offers client mode) and the grab,
//! confinement and release work as against the test server
//! (`tests/e2e/gui/server_mouse.rs`). Xspice cannot check the deltas
//! themselves: its server-mode mouse callbacks are empty (xf86-video-qxl's
//! `spiceqxl_inputs.c` `mouse_motion` is a TODO and it registers only a
//! tablet), so its pointer never moves in server mode; the test server checks
//! them instead.

use crate::support::mouse::{X11Rig, wait_inputs_in_server_mode, x11_tools};
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::Tool;
use crate::support::wait::wait_until;
use std::time::Duration;

#[test]
fn xspice_stays_in_server_mode_and_the_pointer_is_grabbed() {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &x11_tools()].concat();
    let Some(()) = require_real_servers(&tools) else {
        return;
    };
    let xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    let rig = X11Rig::start("xspice", &xs.uri());
    let log = wait_inputs_in_server_mode(&rig.app);
    assert!(!log.contains("requesting mouse mode"), "{log}");
    assert!(!log.contains("mouse mode changed"), "{log}");

    let before = xs.pointer();
    // Not grabbed: moving over the window sends nothing (server mode has no absolute positions).
    let (_, _, w, h) = rig.geometry();
    rig.xdo(&["mousemove", "--window", &rig.window, "30", "60"]);
    rig.xdo(&[
        "mousemove",
        "--window",
        &rig.window,
        &(w / 2).to_string(),
        &(h / 2).to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(xs.pointer(), before, "the guest pointer followed a client position");

    rig.grab();
    let centre = rig.pointer();
    assert_eq!(rig.cursor_pixels(), 0);
    rig.move_by(40, 30);
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    let moved = xs.pointer();
    let delta = (moved.0 - before.0, moved.1 - before.1);
    eprintln!("Xspice pointer moved by {delta:?} for a (40, 30) delta");
    // Xspice ignores server-mode motion (empty callback); a fixed Xspice must move by exactly (40, 30).
    assert!(
        delta == (0, 0) || delta == (40, 30),
        "unexpected guest motion {delta:?}"
    );
    rig.move_by(-3000, 0);
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    rig.screenshot("xspice-grabbed");

    rig.xdo(&["key", "shift+F12"]);
    wait_until("the release", || !rig.grabbed());
    assert!(rig.cursor_pixels() > 0);
    rig.move_by(25, 5);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.pointer(), (centre.0 + 25, centre.1 + 5), "free once released");
    assert!(!rig.app.log().contains("requesting mouse mode"));
}
