//! Two guest monitors from a real server: Xspice started with two QXL heads
//! (`--numheads 2`). Only `qxl-0` is connected at start; `xrandr --addmode`
//! gives `qxl-1` a mode and `--output qxl-1 --mode ... --right-of qxl-0`
//! turns it on, after which spice-server sends MONITORS_CONFIG with two heads
//! on display channel 0 (one primary surface, each head a region of it).
//!
//! The `sumac` app must open one window per head, each showing its region of
//! `xwd -root` pixel for pixel; `xrandr --output qxl-1 --off` must close the
//! second window (the first keeps showing head 0), and turning the head on
//! again must open it again.

use crate::support::app::{App, wait_app_window, wait_for_guest};
use crate::support::artifact_dir;
use crate::support::image::RgbImage;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::{DBUS, Tool, XDOTOOL, XRANDR, XVFB};
use crate::support::wait::WAIT;
use crate::support::x11::{self, Xvfb};
use std::time::{Duration, Instant};

/// Head sizes: small enough for both windows side by side on the 1600x1200 Xvfb.
const HEAD0: (u32, u32) = (800, 600);
const HEAD1: (u32, u32) = (640, 480);
const TITLE: &str = "sumac-multimon";

/// Runs `xrandr args` in the guest; panics when it fails.
fn xrandr(xs: &Xspice, args: &[&str]) -> String {
    let out = xs.run_x("xrandr", args).expect("run xrandr");
    assert!(
        out.status.success(),
        "xrandr {args:?} on Xspice: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn monitors(xs: &Xspice) -> String {
    xrandr(xs, &["--listmonitors"])
}

/// Turns the second head on at `HEAD1`, right of the first.
fn head1_on(xs: &Xspice) {
    let mode = format!("{}x{}", HEAD1.0, HEAD1.1);
    xrandr(xs, &["--output", "qxl-1", "--mode", &mode, "--right-of", "qxl-0"]);
    let m = monitors(xs);
    assert!(m.starts_with("Monitors: 2"), "qxl-1 did not come on: {m}");
}

/// The region of the guest framebuffer a head shows.
fn head_region(xs: &Xspice, x: u32, (w, h): (u32, u32)) -> RgbImage {
    let fb = xs.framebuffer().expect("xwd -root on Xspice");
    fb.crop(x, 0, w, h)
        .unwrap_or_else(|| panic!("framebuffer {}x{} has no {w}x{h} head at x={x}", fb.width, fb.height))
}

fn wait_gone(display: u32, title: &str, app: &App) -> Duration {
    let start = Instant::now();
    while !x11::windows_named(display, &format!("^{title}$")).is_empty() {
        assert!(
            start.elapsed() < WAIT,
            "window {title:?} still open {WAIT:?} after its monitor went off; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    start.elapsed()
}

#[test]
fn xspice_two_heads_two_windows() {
    two_heads("cairo");
}

/// The same with the X11 layer: one child X window per display widget.
#[test]
fn xspice_two_heads_two_windows_x11() {
    two_heads("x11");
}

fn two_heads(renderer: &str) {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &[XVFB, XDOTOOL, DBUS, XRANDR]].concat();
    let Some(()) = require_real_servers(&tools) else { return };
    let out = artifact_dir(&format!("gui-multimon-{renderer}"));
    let mut xs = Xspice::start(XspiceOpts {
        numheads: Some(2),
        ..Default::default()
    })
    .expect("start Xspice with two heads");
    let m = monitors(&xs);
    assert!(m.starts_with("Monitors: 1"), "one head on at start: {m}");
    let mode1 = format!("{}x{}", HEAD1.0, HEAD1.1);
    xrandr(&xs, &["--addmode", "qxl-1", &mode1]);
    let mode0 = format!("{}x{}", HEAD0.0, HEAD0.1);
    xrandr(&xs, &["--output", "qxl-0", "--mode", &mode0]);
    head1_on(&xs);
    xs.set_root_color([0x30, 0x60, 0x90]).expect("root colour");
    xs.spawn_xterm("40x8+40+50", "head one").expect("xterm on head 0");
    xs.spawn_xterm("30x5+850+100", "head two").expect("xterm on head 1");
    xs.wait_for_stable_framebuffer(Duration::from_millis(800), WAIT)
        .expect("stable framebuffer");

    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let mut app = App::start_scaled(
        display,
        &out,
        1,
        &["--renderer", renderer, "-t", &format!("{TITLE} %d"), &xs.uri()],
    );
    let w1 = wait_app_window(display, &format!("{TITLE} 1"), &app);
    let w2 = wait_app_window(display, &format!("{TITLE} 2"), &app);
    // No window manager: both map at (0, 0). Put the second one beside the first.
    x11::xdotool(
        display,
        &["windowmove", "--sync", &w2, &(HEAD0.0 + 60).to_string(), "0"],
    );

    let head0 = || head_region(&xs, 0, HEAD0);
    let head1 = || head_region(&xs, HEAD0.0, HEAD1);
    let (at0, shot0) = wait_for_guest(display, &w1, &head0, "two-heads-1", &out, &app);
    let (at1, shot1) = wait_for_guest(display, &w2, &head1, "two-heads-2", &out, &app);
    eprintln!(
        "multimon: window 1 {}x{} shows head 0 at {at0:?}, window 2 {}x{} shows head 1 at {at1:?}",
        shot0.width, shot0.height, shot1.width, shot1.height
    );
    // Each window is sized to its own head.
    assert!(
        shot0.width < HEAD0.0 + 40 && shot1.width < HEAD1.0 + 40,
        "windows not sized to their heads"
    );

    // The second head goes off: its window closes, the first stays.
    xrandr(&xs, &["--output", "qxl-1", "--off"]);
    let m = monitors(&xs);
    assert!(m.starts_with("Monitors: 1"), "qxl-1 did not go off: {m}");
    let closed_after = wait_gone(display, &format!("{TITLE} 2"), &app);
    assert!(
        app.is_running(),
        "the app quit when a monitor went off; log:\n{}",
        app.log()
    );
    assert!(
        app.log().contains("guest disabled a monitor: closing its window"),
        "log:\n{}",
        app.log()
    );
    let w1_again = wait_app_window(display, &format!("{TITLE} 1"), &app);
    assert_eq!(w1_again, w1, "the first window must stay open");
    wait_for_guest(display, &w1, &head0, "one-head", &out, &app);

    // On again: a window opens for it again.
    head1_on(&xs);
    let w2 = wait_app_window(display, &format!("{TITLE} 2"), &app);
    x11::xdotool(
        display,
        &["windowmove", "--sync", &w2, &(HEAD0.0 + 60).to_string(), "0"],
    );
    wait_for_guest(display, &w2, &head1, "head-back", &out, &app);
    wait_for_guest(display, &w1, &head0, "head-back-1", &out, &app);
    eprintln!(
        "multimon: second window closed {:.1} s after xrandr --off, reopened when the head came back",
        closed_after.as_secs_f64()
    );
}
