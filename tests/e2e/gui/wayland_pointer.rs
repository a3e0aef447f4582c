//! Server mouse mode on **Wayland**: the `sumac` app as a Wayland client of a
//! real compositor (weston nested in a private Xvfb, see `support/wayland.rs`)
//! locks the pointer (`zwp_pointer_constraints_v1`) and sends the relative
//! motion (`zwp_relative_pointer_v1`) to the guest.
//!
//! Against the test server (every inputs message recorded): the grabbing
//! click is not the guest's; the compositor reports the lock; each X motion
//! arrives as exactly the same MOUSE_MOTION delta; three strokes of 600
//! pixels to the right, with a lift in between, arrive as 1800 (more than
//! the 1280-pixel output, where absolute positions would have stopped); buttons and the
//! wheel still reach the guest while locked; Ctrl+Alt ends the lock (no more
//! deltas), and a second click locks again.
//!
//! The same against a real Xspice: `tests/e2e/real/gui/wayland_pointer.rs`.

use crate::support::mouse::{WAIT, mode_requested, motion_sum, presses, wait_inputs_linked, waits_for_motion};
use crate::support::tools::require_tools;
use crate::support::wait::wait_until;
use crate::support::wayland::{WaylandRig, wayland_tools};
use std::time::Duration;
use sumac::proto::channel::inputs::button;
use sumac_test_server::{ServerConfig, TestServer};

#[test]
fn wayland_lock_sends_exact_relative_deltas() {
    let Some(()) = require_tools(&wayland_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let rig = WaylandRig::start("test-server", &server.uri());
    wait_inputs_linked(&server, &rig.app);
    wait_until("the window", || rig.app.log().contains("opening a window"));
    assert!(
        !mode_requested(&server),
        "--mouse-mode=server must not ask for client mode"
    );

    rig.grab();
    assert_eq!(
        presses(&server),
        Vec::<u8>::new(),
        "the grabbing click is not the guest's"
    );
    assert!(
        rig.app.log().contains("Wayland pointer lock asked for"),
        "{}",
        rig.app.log()
    );
    rig.screenshot("locked");

    server.clear_inputs_log();
    let mut sent_before = rig.sent_sum();
    rig.drive(&mut |want| {
        waits_for_motion(&server, want);
        // The trace log says the same as the wire.
        let sent = rig.sent_sum();
        assert_eq!((sent.0 - sent_before.0, sent.1 - sent_before.1), want);
        server.clear_inputs_log();
        sent_before = sent;
    });

    // Buttons and the wheel still reach the guest while locked (through GTK).
    for b in ["1", "3", "2", "4", "5"] {
        rig.xdo(&["click", b]);
    }
    let ok = server.wait_for_inputs(WAIT, |log| {
        log.iter()
            .filter(|e| matches!(e.msg, sumac::proto::channel::inputs::InputsClient::MouseRelease { .. }))
            .count()
            >= 5
    });
    assert!(ok, "buttons: {:?}", server.inputs_log());
    assert_eq!(
        presses(&server),
        vec![button::LEFT, button::RIGHT, button::MIDDLE, button::UP, button::DOWN]
    );
    assert_eq!(motion_sum(&server), (0, 0), "clicks moved nothing");

    // Ctrl+Alt ends the lock: motion sends nothing any more.
    rig.release_with_hotkey();
    server.clear_inputs_log();
    rig.move_by(20, 10);
    rig.move_by(-5, 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(motion_sum(&server), (0, 0), "no deltas once released");
    rig.screenshot("released");

    // A second click locks again (new protocol objects).
    rig.grab();
    server.clear_inputs_log();
    rig.move_by(-25, 12);
    waits_for_motion(&server, (-25, 12));
    rig.release_with_hotkey();
    assert!(!mode_requested(&server));
    let log = rig.app.log();
    assert!(!log.contains("no Wayland pointer lock"), "{log}");
    assert!(!log.contains("the compositor ended the pointer lock"), "{log}");
}
