//! The inputs channel against a real Xspice: what the X server really does with the keys,
//! clicks and lock modifiers `InputsHandle` sends (an xterm running `cat > FILE`, an `xev` log,
//! the Caps Lock LED).

use crate::support::process::Guard;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::session::{connect_inputs_ready, next_event};
use crate::support::tools::{Tool, XDOTOOL, XEV, XSET};
use crate::support::wait::wait_file;
use crate::support::x11::{caps_lock_on, wait_xev_presses};
use std::process::Stdio;
use std::time::{Duration, Instant};
use sumac::client::SessionEvent;
use sumac::client::inputs::{InputsHandle, LockModifiers, MouseButton, MouseMode, ScrollDirection};

const WAIT: Duration = Duration::from_secs(20);

fn tools() -> Vec<Tool> {
    [XSPICE_TOOLS, &[XDOTOOL, XEV, XSET]].concat()
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
    let win = x.wait_window("sumac-typing", WAIT);
    // No window manager: give the xterm the focus and the pointer.
    x.xdotool(&["mousemove", "200", "200"]);
    x.xdotool(&["windowfocus", "--sync", &win]);

    let (session, mut rx, inputs, _) = connect_inputs_ready(&x.uri());
    assert!(!caps_lock_on(x.display));
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
    while !caps_lock_on(x.display) {
        assert!(Instant::now() < until, "Caps Lock LED never turned on");
        std::thread::sleep(Duration::from_millis(100));
    }
    let until = Instant::now() + WAIT;
    loop {
        match next_event(&mut rx, until) {
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
    while caps_lock_on(x.display) {
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
    let _xev = Guard(cmd.spawn().unwrap());
    x.wait_window("sumac-xev", WAIT);

    let (session, _rx, inputs, _) = connect_inputs_ready(&x.uri());
    let mode = inputs.mouse_mode();
    // Put the pointer at root (150, 170), inside the xev window.
    match mode {
        Some(MouseMode::Client) => inputs.mouse_position(150, 170, 0),
        _ => {
            x.xdotool(&["mousemove", "150", "170"]);
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

    let presses = wait_xev_presses(&log_path, 5);
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
