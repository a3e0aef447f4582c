//! Server mouse mode on **Wayland** against a real Xspice kept in server mode
//! (`--mouse-mode=server`): the `sumac` app as a client of weston (nested in a
//! private Xvfb, see `support/wayland.rs`) takes the pointer lock; the session
//! stays in server mode, the lock is taken and released as against the test
//! server (`tests/e2e/gui/wayland_pointer.rs`), and the deltas the client sent
//! (its trace log) are exact. The guest's own pointer cannot be checked:
//! Xspice ignores server-mode motion (xf86-video-qxl's `spiceqxl_inputs.c`
//! leaves `mouse_motion` a TODO and registers only its tablet, see
//! `server_mouse.rs`), so the test accepts "not moved" or "moved by exactly
//! the deltas", as the X11 test does.

use crate::support::mouse::wait_inputs_in_server_mode;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::Tool;
use crate::support::wait::wait_until;
use crate::support::wayland::{WaylandRig, wayland_tools};
use std::time::Duration;

#[test]
fn wayland_lock_against_xspice_in_server_mode() {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &wayland_tools()].concat();
    let Some(()) = require_real_servers(&tools) else {
        return;
    };
    let xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    let rig = WaylandRig::start("xspice", &xs.uri());
    wait_inputs_in_server_mode(&rig.app);

    let before = xs.pointer();
    rig.grab();
    let mut sent_before = rig.sent_sum();
    let mut guest_before = before;
    rig.drive(&mut |want| {
        wait_until("the client sent the deltas", || {
            let sent = rig.sent_sum();
            (sent.0 - sent_before.0, sent.1 - sent_before.1) == want
        });
        sent_before = rig.sent_sum();
        std::thread::sleep(Duration::from_millis(300));
        let now = xs.pointer();
        let delta = (now.0 - guest_before.0, now.1 - guest_before.1);
        // Xspice ignores server-mode motion; a server that honours it moves by exactly the deltas
        // (as far as its screen allows).
        assert!(
            delta == (0, 0) || delta == want,
            "guest pointer moved by {delta:?} for {want:?}"
        );
        guest_before = now;
    });
    eprintln!(
        "Xspice pointer {before:?} -> {:?} (server-mode motion is ignored by Xspice)",
        xs.pointer()
    );
    rig.screenshot("xspice-locked");

    rig.release_with_hotkey();
    let sent = rig.sent_sum();
    rig.move_by(30, 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rig.sent_sum(), sent, "no deltas once released");
    let log = rig.app.log();
    assert!(!log.contains("requesting mouse mode"), "{log}");
    assert!(!log.contains("mouse mode changed"), "{log}");
}
