//! The demo server (`sumac-test-server --demo`, what `scripts/demo` shows): the client draws the
//! demo desktop exactly as the server meant it, a key typed through the client is echoed in the
//! desktop's terminal, a click leaves a mark where it was made. The expected pixels come from a
//! local `demo::Desktop` given the same inputs (the server paints the same expected image).

use crate::support::image::RgbImage;
use crate::support::session::{connect_inputs_ready, primary_image};
use crate::support::wait::poll_until;
use std::time::Duration;
use sumac::client::inputs::MouseButton;
use sumac_test_server::demo::{self, CELL, DemoInput, Desktop};
use sumac_test_server::{ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(20);

fn demo_server() -> TestServer {
    TestServer::start(ServerConfig {
        animate: true,
        client_mouse: true,
        scene: Desktop::scene(),
        ..ServerConfig::default()
    })
    .unwrap()
}

/// The box (x, y, w, h) of a WIDTH-wide RGB buffer.
fn crop(rgb: &[u8], (x, y, w, h): (i32, i32, i32, i32)) -> Vec<u8> {
    let mut out = Vec::new();
    for yy in y..y + h {
        let start = (yy as usize * demo::WIDTH as usize + x as usize) * 3;
        out.extend_from_slice(&rgb[start..start + w as usize * 3]);
    }
    out
}

fn client_box(img: &Option<RgbImage>, b: (i32, i32, i32, i32)) -> Option<Vec<u8>> {
    img.as_ref()
        .filter(|i| (i.width, i.height) == (demo::WIDTH, demo::HEIGHT))
        .map(|i| crop(&i.data, b))
}

/// Waits until the client shows `want`'s pixels in every box; panics naming the box that differs.
fn wait_boxes(session: &sumac::client::SessionHandle, want: &Desktop, boxes: &[(i32, i32, i32, i32)], what: &str) {
    let ok = poll_until(WAIT, || {
        let img = primary_image(session);
        boxes
            .iter()
            .all(|b| client_box(&img, *b).as_deref() == Some(&crop(want.expected_rgb(), *b)[..]))
    });
    if !ok {
        let img = primary_image(session);
        let bad: Vec<_> = boxes
            .iter()
            .filter(|b| client_box(&img, **b).as_deref() != Some(&crop(want.expected_rgb(), **b)[..]))
            .collect();
        panic!("{what}: the client's pixels differ from the demo's in {bad:?}");
    }
}

#[test]
fn the_demo_desktop_is_drawn_and_answers_keys_and_clicks() {
    let server = demo_server();
    let (session, _rx, inputs, _) = connect_inputs_ready(&server.uri());
    let mut local = Desktop::new();

    // What does not move: the panel's left part, the icons, the terminal's text, the hint.
    let (tx, ty, tw, _) = demo::TERM;
    let (ex, ey, _, _) = demo::ECHO;
    let still = [
        (0, 0, 300, 28),
        (20, 50, 100, 300),
        (tx, ty, tw, ey - 2 - ty),
        (140, demo::HINT_Y, 700, 30),
    ];
    wait_boxes(&session, &local, &still, "the first frame");

    // The moving window leaves its first place and the animation changes.
    let (mx, my) = (demo::MOVER_X.0, demo::MOVER_Y);
    let anim = (demo::ANIM.0, demo::ANIM.1 + 30, demo::ANIM.2, demo::ANIM.3 - 30);
    let first_anim = client_box(&primary_image(&session), anim).unwrap();
    let desktop_bg = crop(local.expected_rgb(), (0, 600, 4, 4));
    assert!(
        poll_until(WAIT, || {
            let img = primary_image(&session);
            client_box(&img, (mx, my + 60, 4, 4)).as_ref() == Some(&desktop_bg)
                && client_box(&img, anim).is_some_and(|a| a != first_anim)
        }),
        "the window did not move or the animation stood still"
    );

    // Shift+H, i: "Hi" in the terminal's echo line.
    let keys: [(u16, bool); 6] = [
        (0x2a, true),
        (0x23, true),
        (0x23, false),
        (0x2a, false),
        (0x17, true),
        (0x17, false),
    ];
    for (code, down) in keys {
        if down {
            inputs.key_press(code);
        } else {
            inputs.key_release(code);
        }
        local.input(DemoInput::Key { code, down });
    }
    let typed = (ex, ey - 1, 2 * CELL, 10);
    wait_boxes(&session, &local, &[typed], "typing Hi");
    let img = primary_image(&session);
    assert_ne!(
        client_box(&img, typed),
        Some(crop(Desktop::new().expected_rgb(), typed)),
        "the echo line did not change"
    );

    // A click at (600, 650): a cross centred there.
    inputs.mouse_position(600, 650, 0);
    inputs.button_press(MouseButton::Left);
    inputs.button_release(MouseButton::Left);
    local.input(DemoInput::Click {
        x: 600,
        y: 650,
        button: 1,
    });
    let mark = (590, 640, 21, 21);
    wait_boxes(&session, &local, &[mark], "the click's mark");
    assert_ne!(
        client_box(&primary_image(&session), mark),
        Some(crop(Desktop::new().expected_rgb(), mark)),
        "no mark was drawn"
    );
    session.disconnect();
}
