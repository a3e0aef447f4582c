//! The inputs channel end to end: `InputsHandle` → wire → test server. Against a real Xspice:
//! `tests/e2e/real/inputs.rs`.

use crate::support::session::{connect_inputs_ready, next_event};
use std::time::{Duration, Instant};
use sumac::client::inputs::{LockModifiers, MouseButton, MouseMode, ScrollDirection};
use sumac::client::{ConnectionConfig, SessionEvent, SessionOptions};
use sumac::proto::channel::inputs::{InputsClient, InputsServer, MAX_UNACKED_MOTION, button_mask};
use sumac_test_server::inputs::{InputsConfig, InputsEvent};
use sumac_test_server::{ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(20);

fn start(config: InputsConfig) -> TestServer {
    TestServer::start(ServerConfig {
        inputs: config,
        ..ServerConfig::default()
    })
    .unwrap()
}

fn msgs(log: &[InputsEvent]) -> Vec<InputsClient> {
    log.iter().map(|e| e.msg.clone()).collect()
}

fn is_key(m: &InputsClient) -> bool {
    matches!(
        m,
        InputsClient::KeyDown { .. } | InputsClient::KeyUp { .. } | InputsClient::KeyScancode(_)
    )
}

fn keys(server: &TestServer) -> Vec<InputsClient> {
    msgs(&server.inputs_log()).into_iter().filter(is_key).collect()
}

fn wait_keys(server: &TestServer, n: usize) -> Vec<InputsClient> {
    assert!(
        server.wait_for_inputs(WAIT, |l| l.iter().filter(|e| is_key(&e.msg)).count() >= n),
        "expected {n} key messages, got {:?}",
        keys(server)
    );
    keys(server)
}

#[test]
fn commands_before_the_channel_is_up_are_dropped_and_counted() {
    let server = start(InputsConfig::default());
    let (session, _rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    // Right after connect the main channel has not even linked.
    let inputs = session.inputs();
    assert!(!inputs.is_ready());
    inputs.key_press(0x1e);
    inputs.key_release(0x1e);
    assert_eq!(inputs.dropped_commands(), 2);
    session.disconnect();
    assert!(keys(&server).is_empty());
}

#[test]
fn keys_use_key_scancode_with_the_cap() {
    let server = start(InputsConfig::default());
    let (session, _rx, inputs, _) = connect_inputs_ready(&server.uri());
    // 'a', Right Ctrl, in press/release order.
    inputs.key_press(0x1e);
    inputs.key_press(0x11d);
    inputs.key_release(0x11d);
    inputs.key_release(0x1e);
    assert_eq!(
        wait_keys(&server, 4),
        vec![
            InputsClient::KeyScancode(vec![0x1e]),
            InputsClient::KeyScancode(vec![0xe0, 0x1d]),
            InputsClient::KeyScancode(vec![0xe0, 0x9d]),
            InputsClient::KeyScancode(vec![0x9e]),
        ]
    );
    session.disconnect();
}

#[test]
fn keys_use_key_down_up_without_the_cap() {
    let server = start(InputsConfig {
        scancode_cap: false,
        ..InputsConfig::default()
    });
    let (session, _rx, inputs, _) = connect_inputs_ready(&server.uri());
    inputs.key_press(0x1e);
    inputs.key_press(0x11d);
    inputs.key_release(0x11d);
    inputs.key_release(0x1e);
    inputs.key_press(0x146); // Pause: whole sequence on press, nothing on release
    inputs.key_release(0x146);
    assert_eq!(
        wait_keys(&server, 6),
        vec![
            InputsClient::KeyDown { code: 0x1e },
            InputsClient::KeyDown { code: 0x1de0 },
            InputsClient::KeyUp { code: 0x9de0 },
            InputsClient::KeyUp { code: 0x9e },
            InputsClient::KeyDown { code: 0x45_1de1 },
            InputsClient::KeyDown { code: 0xc5_9de1 },
        ]
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(keys(&server).len(), 6, "Pause release sends nothing");
    session.disconnect();
}

#[test]
fn send_keys_ctrl_alt_del_order() {
    let server = start(InputsConfig {
        scancode_cap: false,
        ..InputsConfig::default()
    });
    let (session, _rx, inputs, _) = connect_inputs_ready(&server.uri());
    inputs.send_keys(&[0x1d, 0x38, 0x153]);
    assert_eq!(
        wait_keys(&server, 6),
        vec![
            InputsClient::KeyDown { code: 0x1d },
            InputsClient::KeyDown { code: 0x38 },
            InputsClient::KeyDown { code: 0x53e0 },
            InputsClient::KeyUp { code: 0xd3e0 },
            InputsClient::KeyUp { code: 0xb8 },
            InputsClient::KeyUp { code: 0x9d },
        ]
    );
    session.disconnect();
}

#[test]
fn release_all_keys_releases_what_is_held() {
    let server = start(InputsConfig::default());
    let (session, _rx, inputs, _) = connect_inputs_ready(&server.uri());
    inputs.key_press(0x2a); // Left Shift
    inputs.key_press(0x11d); // Right Ctrl
    inputs.key_press(0x1e);
    inputs.key_release(0x1e);
    inputs.release_all_keys();
    let k = wait_keys(&server, 6);
    assert_eq!(
        k[4..],
        [
            InputsClient::KeyScancode(vec![0xe0, 0x9d]),
            InputsClient::KeyScancode(vec![0xaa])
        ]
    );
    // Nothing is held any more: a second call sends nothing.
    inputs.release_all_keys();
    inputs.key_press(0x30);
    let k = wait_keys(&server, 7);
    assert_eq!(k.len(), 7);
    assert_eq!(k[6], InputsClient::KeyScancode(vec![0x30]));
    session.disconnect();
}

#[test]
fn lock_modifiers_are_synced_both_ways() {
    let server = start(InputsConfig {
        init_modifiers: 0x2, // Num Lock on in the guest
        ..InputsConfig::default()
    });
    let (session, mut rx, inputs, init) = connect_inputs_ready(&server.uri());
    assert_eq!(
        init,
        LockModifiers {
            num_lock: true,
            ..LockModifiers::default()
        }
    );
    assert_eq!(inputs.server_lock_modifiers(), Some(init));
    let want = LockModifiers {
        caps_lock: true,
        num_lock: true,
        scroll_lock: false,
    };
    inputs.set_lock_modifiers(want);
    assert!(server.wait_for_inputs(WAIT, |l| {
        l.iter().any(|e| e.msg == InputsClient::KeyModifiers { modifiers: 0x6 })
    }));
    // The server echoes the new state; the client reports it.
    let until = Instant::now() + WAIT;
    loop {
        match next_event(&mut rx, until) {
            Some(SessionEvent::KeyModifiers(m)) if m == want => break,
            Some(_) => {}
            None => panic!("no KeyModifiers event for {want:?}"),
        }
    }
    assert_eq!(inputs.server_lock_modifiers(), Some(want));
    // A change made on the server side arrives too.
    server.inputs_send(InputsServer::KeyModifiers { modifiers: 0x1 });
    let until = Instant::now() + WAIT;
    loop {
        match next_event(&mut rx, until) {
            Some(SessionEvent::KeyModifiers(m)) if m.scroll_lock && !m.caps_lock => break,
            Some(_) => {}
            None => panic!("no KeyModifiers after the server's change"),
        }
    }
    session.disconnect();
}

fn motion_count(log: &[InputsEvent]) -> usize {
    log.iter()
        .filter(|e| {
            matches!(
                e.msg,
                InputsClient::MouseMotion { .. } | InputsClient::MousePosition { .. }
            )
        })
        .count()
}

#[test]
fn motion_flow_control_caps_in_flight_and_coalesces() {
    let server = start(InputsConfig {
        ack_every: None,
        ..InputsConfig::default()
    });
    let (session, _rx, inputs, _) = connect_inputs_ready(&server.uri());
    for i in 0..50u32 {
        inputs.mouse_position(i, 2 * i, 0);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(server.wait_for_inputs(WAIT, |l| motion_count(l) >= MAX_UNACKED_MOTION as usize));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        motion_count(&server.inputs_log()),
        MAX_UNACKED_MOTION as usize,
        "never more than 8 unacknowledged"
    );
    // One ack (4 messages) frees the window: the latest position goes out at once.
    server.inputs_send(InputsServer::MouseMotionAck);
    assert!(server.wait_for_inputs(WAIT, |l| motion_count(l) > MAX_UNACKED_MOTION as usize));
    std::thread::sleep(Duration::from_millis(100));
    let log = msgs(&server.inputs_log());
    assert_eq!(log.len(), MAX_UNACKED_MOTION as usize + 1, "{log:?}");
    assert_eq!(
        log.last(),
        Some(&InputsClient::MousePosition {
            x: 49,
            y: 98,
            buttons: 0,
            display_id: 0
        })
    );

    // Relative motion: deltas summed while the window is full.
    for _ in 0..3 {
        server.inputs_send(InputsServer::MouseMotionAck);
    }
    std::thread::sleep(Duration::from_millis(100));
    server.clear_inputs_log();
    for _ in 0..40 {
        inputs.mouse_motion(3, -1);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(200));
    let sent: Vec<(i32, i32)> = msgs(&server.inputs_log())
        .iter()
        .filter_map(|m| match m {
            InputsClient::MouseMotion { dx, dy, .. } => Some((*dx, *dy)),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), MAX_UNACKED_MOTION as usize);
    server.inputs_send(InputsServer::MouseMotionAck);
    assert!(server.wait_for_inputs(WAIT, |l| motion_count(l) > MAX_UNACKED_MOTION as usize));
    let total: (i32, i32) = msgs(&server.inputs_log()).iter().fold((0, 0), |acc, m| match m {
        InputsClient::MouseMotion { dx, dy, .. } => (acc.0 + dx, acc.1 + dy),
        _ => acc,
    });
    assert_eq!(total, (120, -40), "no motion lost");
    session.disconnect();
}

#[test]
fn buttons_carry_the_state_mask_and_land_where_the_pointer_is() {
    let server = start(InputsConfig::default());
    let (session, _rx, inputs, _) = connect_inputs_ready(&server.uri());
    assert_eq!(
        inputs.mouse_mode(),
        Some(MouseMode::Server),
        "the test server stays in server mode"
    );
    inputs.mouse_position(100, 200, 0);
    inputs.button_press(MouseButton::Left);
    inputs.mouse_position(110, 210, 0);
    inputs.button_press(MouseButton::Right);
    inputs.button_release(MouseButton::Left);
    inputs.button_release(MouseButton::Right);
    inputs.button_press(MouseButton::Side);
    inputs.button_release(MouseButton::Side);
    inputs.scroll(ScrollDirection::Down, 2);
    assert!(server.wait_for_inputs(WAIT, |l| l.len() >= 12));
    std::thread::sleep(Duration::from_millis(50));
    let (l, r, side) = (button_mask::LEFT, button_mask::RIGHT, button_mask::SIDE);
    assert_eq!(
        msgs(&server.inputs_log()),
        vec![
            InputsClient::MousePosition {
                x: 100,
                y: 200,
                buttons: 0,
                display_id: 0
            },
            InputsClient::MousePress { button: 1, buttons: l },
            InputsClient::MousePosition {
                x: 110,
                y: 210,
                buttons: l,
                display_id: 0
            },
            InputsClient::MousePress {
                button: 3,
                buttons: l | r
            },
            InputsClient::MouseRelease { button: 1, buttons: r },
            InputsClient::MouseRelease { button: 3, buttons: 0 },
            InputsClient::MousePress {
                button: 6,
                buttons: side
            },
            InputsClient::MouseRelease { button: 6, buttons: 0 },
            InputsClient::MousePress { button: 5, buttons: 0 },
            InputsClient::MouseRelease { button: 5, buttons: 0 },
            InputsClient::MousePress { button: 5, buttons: 0 },
            InputsClient::MouseRelease { button: 5, buttons: 0 },
        ]
    );
    session.disconnect();
}
