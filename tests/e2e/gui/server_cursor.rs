//! The guest cursor drawn by the display in server mouse mode, with each
//! software layer: the `sumac` app (`--mouse-mode=server`) against the test
//! server, whose cursor channel shows its arrow at (20, 20) and then moves it
//! to (200, 150). The window must show the scene with the arrow composited at
//! the new position only (the old one repainted), pixel for pixel: with the
//! X11 layer the X server composites it (XRender), with the cairo layer GSK
//! draws it.

use crate::support::app::{App, wait_app_window, wait_for_guest};
use crate::support::artifact_dir;
use crate::support::image::RgbImage;
use crate::support::tools::{DBUS, Tool, XDOTOOL, XVFB, require_tools};
use crate::support::x11::Xvfb;
use sumac::proto::channel::cursor::{CursorServer, CursorType, flags};
use sumac::proto::channel::display::Point16;
use sumac_test_server::cursor::{self, CursorScript, Design};
use sumac_test_server::{ServerConfig, TestServer};

const TITLE: &str = "sumac-server-cursor";
const FIRST: (i16, i16) = (20, 20);
const MOVED: (i16, i16) = (200, 150);

/// The scene with `design`'s opaque pixels put at `at` minus its hot spot.
fn with_cursor(width: u32, height: u32, scene_rgb: &[u8], design: &Design, at: (i16, i16)) -> RgbImage {
    let mut data = scene_rgb.to_vec();
    let x0 = i32::from(at.0) - i32::from(design.hot_x);
    let y0 = i32::from(at.1) - i32::from(design.hot_y);
    for y in 0..i32::from(design.height) {
        for x in 0..i32::from(design.width) {
            let Some(rgb) = design.pixels[(y * i32::from(design.width) + x) as usize] else {
                continue;
            };
            let (gx, gy) = (x0 + x, y0 + y);
            if gx < 0 || gy < 0 || gx >= width as i32 || gy >= height as i32 {
                continue;
            }
            let at = ((gy as u32 * width + gx as u32) * 3) as usize;
            data[at..at + 3].copy_from_slice(&rgb);
        }
    }
    RgbImage { width, height, data }
}

fn drawn_cursor(renderer: &str) {
    let tools: Vec<Tool> = vec![XVFB, XDOTOOL, DBUS];
    let Some(()) = require_tools(&tools) else { return };
    let out = artifact_dir(&format!("gui-server-cursor-{renderer}"));
    let arrow = cursor::arrow();
    let config = ServerConfig {
        cursor: CursorScript {
            messages: vec![
                cursor::init(
                    cursor::shape(&arrow, CursorType::Alpha, cursor::ARROW_ID, flags::CACHE_ME),
                    FIRST.0,
                    FIRST.1,
                ),
                CursorServer::Move {
                    position: Point16 { x: MOVED.0, y: MOVED.1 },
                },
            ],
        },
        ..ServerConfig::default()
    };
    let scene = config.scene.clone();
    let server = TestServer::start(config).expect("test server");
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let app = App::start_scaled(
        display,
        &out,
        1,
        &[
            "--mouse-mode=server",
            "--renderer",
            renderer,
            "-t",
            &format!("{TITLE} %d"),
            &server.uri(),
        ],
    );
    let window = wait_app_window(display, &format!("{TITLE} 1"), &app);
    let expected = with_cursor(scene.width, scene.height, &scene.expected_rgb, &arrow, MOVED);
    let (at, shot) = wait_for_guest(display, &window, &|| expected.clone(), "cursor-moved", &out, &app);
    let log = app.log();
    assert!(
        log.contains(&format!("display renderer active renderer=\"{renderer}\"")),
        "the app did not use the {renderer} layer; log:\n{log}"
    );
    eprintln!(
        "server cursor {renderer}: the {}x{} window shows the scene with the arrow at {MOVED:?} only, guest at {at:?}",
        shot.width, shot.height
    );
}

#[test]
fn server_mode_cursor_drawn_by_the_x11_layer() {
    drawn_cursor("x11");
}

#[test]
fn server_mode_cursor_drawn_by_the_cairo_layer() {
    drawn_cursor("cairo");
}
