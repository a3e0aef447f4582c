//! The inputs channel end to end: `InputsHandle` → wire → test server (and a real Xspice).

use std::time::{Duration, Instant};
use sumac::client::inputs::{InputsHandle, LockModifiers, MouseButton, MouseMode, ScrollDirection};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::proto::channel::inputs::{InputsClient, InputsServer, MAX_UNACKED_MOTION, button_mask};
use sumac_test_server::inputs::{InputsConfig, InputsEvent};
use sumac_test_server::{ServerConfig, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(20);

fn next(rx: &mut UnboundedReceiver<SessionEvent>, until: Instant) -> Option<SessionEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(until.saturating_duration_since(Instant::now()), rx.recv())
            .await
            .ok()
            .flatten()
    })
}

/// Connects and waits until the inputs channel takes commands; returns the
/// modifiers of the first KeyModifiers event (INPUTS_INIT).
fn connect_ready(
    uri: &str,
) -> (
    SessionHandle,
    UnboundedReceiver<SessionEvent>,
    InputsHandle,
    LockModifiers,
) {
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(uri).unwrap(), SessionOptions::default()).unwrap();
    let inputs = session.inputs();
    let until = Instant::now() + WAIT;
    let mut init = None;
    while init.is_none() || !inputs.is_ready() {
        match next(&mut rx, until) {
            Some(SessionEvent::KeyModifiers(m)) => init = init.or(Some(m)),
            Some(SessionEvent::Disconnected { error }) => panic!("session ended: {error:?}"),
            Some(_) => {}
            None => panic!("inputs channel not ready within {WAIT:?}"),
        }
    }
    (session, rx, inputs, init.unwrap())
}

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
    let (session, _rx, inputs, _) = connect_ready(&server.uri());
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
    let (session, _rx, inputs, _) = connect_ready(&server.uri());
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
    let (session, _rx, inputs, _) = connect_ready(&server.uri());
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
    let (session, _rx, inputs, _) = connect_ready(&server.uri());
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
    let (session, mut rx, inputs, init) = connect_ready(&server.uri());
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
        match next(&mut rx, until) {
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
        match next(&mut rx, until) {
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
    let (session, _rx, inputs, _) = connect_ready(&server.uri());
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
    let (session, _rx, inputs, _) = connect_ready(&server.uri());
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

// ---------------------------------------------------------------------------
// Real Xspice: what the X server really does with Sumac's keys and clicks.

mod xspice {
    use super::*;
    use crate::real::{Tool, XSPICE_TOOLS, Xspice, XspiceOpts, require_real_servers};
    use std::process::{Child, Stdio};

    const XDOTOOL: Tool = Tool {
        binary: "xdotool",
        package: "xdotool",
    };
    const XEV: Tool = Tool {
        binary: "xev",
        package: "x11-utils",
    };
    const XSET: Tool = Tool {
        binary: "xset",
        package: "x11-xserver-utils",
    };

    fn tools() -> Vec<Tool> {
        [XSPICE_TOOLS, &[XDOTOOL, XEV, XSET]].concat()
    }

    /// A child X client killed (by its PID) when dropped.
    struct Client(Child);

    impl Drop for Client {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn xdotool(x: &Xspice, args: &[&str]) -> String {
        x.xdotool(args)
    }

    /// Waits until a window named `name` is mapped; returns its id.
    fn wait_window(x: &Xspice, name: &str) -> String {
        x.wait_window(name, WAIT)
    }

    /// Scancodes of the characters the test types (US layout).
    fn scancode(c: char) -> u16 {
        match c {
            'a' => 0x1e,
            'c' => 0x2e,
            'e' => 0x12,
            'h' => 0x23,
            'j' => 0x24,
            'k' => 0x25,
            'l' => 0x26,
            'm' => 0x32,
            'n' => 0x31,
            'o' => 0x18,
            's' => 0x1f,
            'u' => 0x16,
            'x' => 0x2d,
            ' ' => 0x39,
            '\n' => 0x1c,
            other => panic!("no scancode for {other:?} in this test"),
        }
    }

    fn type_text(inputs: &InputsHandle, text: &str) {
        for c in text.chars() {
            inputs.send_keys(&[scancode(c)]);
        }
    }

    fn wait_file(path: &std::path::Path, want: &str) {
        let until = Instant::now() + WAIT;
        loop {
            let got = std::fs::read_to_string(path).unwrap_or_default();
            if got == want {
                return;
            }
            assert!(Instant::now() < until, "file holds {got:?}, wanted {want:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn caps_led(x: &Xspice) -> bool {
        let out = x.run_x("xset", &["q"]).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains("Caps Lock:"))
            .unwrap_or_else(|| panic!("no Caps Lock in xset q: {text}"));
        let after = line.split("Caps Lock:").nth(1).unwrap_or_default();
        after.trim_start().starts_with("on")
    }

    #[test]
    fn xspice_typing_reaches_an_xterm() {
        let Some(()) = require_real_servers(&tools()) else {
            return;
        };
        let mut x = Xspice::start(XspiceOpts::default()).unwrap();
        let out = x.scratch_dir().join("typed.txt");
        let script = format!("cat > '{}'", out.display());
        x.spawn_x(
            "xterm",
            &[
                "-title",
                "sumac-typing",
                "-geometry",
                "120x40+0+0",
                "-e",
                "sh",
                "-c",
                &script,
            ],
        )
        .unwrap();
        let win = wait_window(&x, "sumac-typing");
        // No window manager: give the xterm the focus and the pointer.
        xdotool(&x, &["mousemove", "200", "200"]);
        xdotool(&x, &["windowfocus", "--sync", &win]);

        let (session, mut rx, inputs, _) = connect_ready(&x.uri());
        assert!(!caps_led(&x));
        // "junk", then Right Ctrl+U (E0-prefixed key: the tty kills the line), then
        // Shift+h and the rest: the file must hold exactly the second line.
        type_text(&inputs, "junk");
        inputs.send_keys(&[0x11d, scancode('u')]);
        inputs.send_keys(&[0x2a, scancode('h')]);
        type_text(&inputs, "ello sumac\n");
        wait_file(&out, "Hello sumac\n");

        // Caps Lock through KEY_MODIFIERS: the X server's LED follows, the server
        // reports the new state back, and letters come out in capitals.
        let caps = LockModifiers {
            caps_lock: true,
            ..LockModifiers::default()
        };
        inputs.set_lock_modifiers(caps);
        let until = Instant::now() + WAIT;
        while !caps_led(&x) {
            assert!(Instant::now() < until, "Caps Lock LED never turned on");
            std::thread::sleep(Duration::from_millis(100));
        }
        let until = Instant::now() + WAIT;
        loop {
            match next(&mut rx, until) {
                Some(SessionEvent::KeyModifiers(m)) if m.caps_lock => break,
                Some(_) => {}
                None => panic!("the server never reported Caps Lock on"),
            }
        }
        assert_eq!(inputs.server_lock_modifiers().map(|m| m.caps_lock), Some(true));
        type_text(&inputs, "ok\n");
        wait_file(&out, "Hello sumac\nOK\n");
        inputs.set_lock_modifiers(LockModifiers::default());
        let until = Instant::now() + WAIT;
        while caps_led(&x) {
            assert!(Instant::now() < until, "Caps Lock LED never turned off");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(inputs.dropped_commands(), 0);
        session.disconnect();
    }

    #[test]
    fn xspice_clicks_and_wheel_land_at_the_pointer() {
        let Some(()) = require_real_servers(&tools()) else {
            return;
        };
        let x = Xspice::start(XspiceOpts::default()).unwrap();
        let log_path = x.scratch_dir().join("xev.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = x.x_command("xev");
        cmd.args(["-name", "sumac-xev", "-geometry", "400x300+100+100", "-event", "button"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null());
        let _xev = Client(cmd.spawn().unwrap());
        wait_window(&x, "sumac-xev");

        let (session, _rx, inputs, _) = connect_ready(&x.uri());
        let mode = inputs.mouse_mode();
        // Put the pointer at root (150, 170), inside the xev window.
        match mode {
            Some(MouseMode::Client) => inputs.mouse_position(150, 170, 0),
            _ => {
                xdotool(&x, &["mousemove", "150", "170"]);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        inputs.button_press(MouseButton::Left);
        inputs.button_release(MouseButton::Left);
        inputs.button_press(MouseButton::Right);
        inputs.button_release(MouseButton::Right);
        inputs.scroll(ScrollDirection::Up, 1);
        inputs.scroll(ScrollDirection::Down, 1);
        // Then move by a delta (server mode) or to a position (client mode) and middle-click.
        match mode {
            Some(MouseMode::Client) => inputs.mouse_position(250, 220, 0),
            _ => inputs.mouse_motion(40, 30),
        }
        inputs.button_press(MouseButton::Middle);
        inputs.button_release(MouseButton::Middle);

        let until = Instant::now() + WAIT;
        let presses = loop {
            let p = crate::real::xev_presses(&std::fs::read_to_string(&log_path).unwrap_or_default());
            if p.len() >= 5 {
                break p;
            }
            assert!(Instant::now() < until, "xev saw only {p:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let at = |b| (b, 150, 170);
        assert_eq!(presses[..4], [at(1), at(3), at(4), at(5)], "{presses:?}");
        let (b, mx, my) = presses[4];
        assert_eq!(b, 2);
        match mode {
            Some(MouseMode::Client) => assert_eq!((mx, my), (250, 220)),
            // Relative motion goes through the X server's pointer acceleration: only the direction is exact.
            _ => assert!(
                mx > 150 && my > 170,
                "middle click at ({mx}, {my}) after moving by (+40, +30)"
            ),
        }
        session.disconnect();
    }
}
