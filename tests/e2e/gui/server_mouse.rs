//! Server mouse mode through the `sumac` app (`--mouse-mode=server`) on a
//! private Xvfb, driven with `xdotool`, against the test server, which records
//! every inputs message: the grabbing click is not sent, each motion of the
//! Xvfb pointer arrives as exactly the same MOUSE_MOTION delta and the pointer
//! is warped back to the display's centre, a huge move stops at the window's
//! edge (confined), the cursor is invisible (XFixes), buttons and the wheel go
//! through while grabbed, the title shows the release hint; Ctrl+Alt and a
//! focus change release the pointer (free again, visible, no more deltas).
//!
//! The same against a real Xspice: `tests/e2e/real/gui/server_mouse.rs`.

use crate::support::mouse::{
    TITLE, WAIT, X11Rig, mode_requested, motion_sum, presses, wait_inputs_linked, waits_for_motion, x11_tools,
};
use crate::support::tools::require_tools;
use crate::support::wait::wait_until;
use std::time::Duration;
use sumac::proto::channel::inputs::{InputsClient, button};
use sumac_test_server::{ServerConfig, TestServer};

#[test]
fn server_mouse_grab_sends_exact_deltas() {
    let Some(()) = require_tools(&x11_tools()) else {
        return;
    };
    // The test server offers both modes and starts in server mode.
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let rig = X11Rig::start("test-server", &server.uri());
    wait_inputs_linked(&server, &rig.app);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !mode_requested(&server),
        "--mouse-mode=server must not ask for client mode"
    );
    assert!(rig.cursor_pixels() > 0, "the pointer is visible before the grab");
    assert!(!rig.grabbed(), "grabbed before any click: {}", rig.title());

    rig.grab();
    let (wx, wy, ww, wh) = rig.geometry();
    let centre = rig.pointer();
    eprintln!("window {ww}x{wh}+{wx}+{wy}, pointer warped to {centre:?}");
    assert!(
        (wx..wx + ww).contains(&centre.0) && (wy..wy + wh).contains(&centre.1),
        "the pointer {centre:?} is outside the window"
    );
    assert_eq!(rig.cursor_pixels(), 0, "the grabbed pointer is invisible");
    assert_eq!(
        presses(&server),
        Vec::<u8>::new(),
        "the grabbing click is not the guest's"
    );
    rig.screenshot("grabbed");

    // Motions arrive as the same deltas; the pointer goes back to the centre.
    server.clear_inputs_log();
    rig.move_by(40, 30);
    waits_for_motion(&server, (40, 30));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    rig.move_by(-15, 7);
    rig.move_by(3, -4);
    rig.move_by(1, 1);
    waits_for_motion(&server, (29, 34));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(motion_sum(&server), (29, 34), "the warps added nothing");

    // Confined: a huge move stops at the window's top-left corner.
    server.clear_inputs_log();
    rig.move_by(-5000, -5000);
    waits_for_motion(&server, (wx - centre.0, wy - centre.1));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    server.clear_inputs_log();
    rig.move_by(5000, 5000);
    waits_for_motion(&server, (wx + ww - 1 - centre.0, wy + wh - 1 - centre.1));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);

    // Buttons and the wheel go to the guest while grabbed.
    for b in ["1", "3", "2", "4", "5"] {
        rig.xdo(&["click", b]);
    }
    let ok = server.wait_for_inputs(WAIT, |log| {
        log.iter()
            .filter(|e| matches!(e.msg, InputsClient::MouseRelease { .. }))
            .count()
            >= 5
    });
    assert!(ok, "buttons: {:?}", server.inputs_log());
    assert_eq!(
        presses(&server),
        vec![button::LEFT, button::RIGHT, button::MIDDLE, button::UP, button::DOWN]
    );

    // Shift+F12 (the default) releases it: visible, free, no more deltas.
    rig.xdo(&["key", "shift+F12"]);
    wait_until("the release (no title hint)", || !rig.grabbed());
    assert_eq!(rig.title(), TITLE);
    assert!(rig.cursor_pixels() > 0, "the pointer is visible again");
    server.clear_inputs_log();
    rig.move_by(20, 10);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        rig.pointer(),
        (centre.0 + 20, centre.1 + 10),
        "not warped back once released"
    );
    let outside = (wx + ww + 40, wy + wh + 40);
    rig.xdo(&["mousemove", &outside.0.to_string(), &outside.1.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.pointer(), outside, "not confined once released");
    assert_eq!(motion_sum(&server), (0, 0), "no deltas once released");
    rig.screenshot("released");

    // A focus change releases it too.
    rig.grab();
    assert_eq!(rig.cursor_pixels(), 0);
    rig.xdo(&["windowfocus", "--sync", &rig.other]);
    wait_until("the release on focus-out", || !rig.grabbed());
    assert!(rig.cursor_pixels() > 0);
    rig.xdo(&["mousemove", &outside.0.to_string(), &outside.1.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.pointer(), outside, "not confined after the focus change");
    assert!(!mode_requested(&server));
    assert!(rig.app.log().contains("pointer grabbed"), "{}", rig.app.log());
}
