//! HiDPI: the `sumac` app at `GDK_SCALE=2` and 3 (X11's integer scales; GTK
//! 4.8 has no fractional scale there), and 1 for comparison, against a real
//! Xspice, on a private Xvfb.
//!
//! The app must size its window so that the guest shows 1:1 in device
//! pixels (at scale 2, half the guest's size in logical pixels), and then:
//! * the window's guest area equals the server framebuffer (`xwd -root`)
//!   pixel for pixel, with the GL, the cairo and the x11 renderer;
//! * client-mode clicks land on the exact guest pixels (an `xev` in the guest),
//!   odd coordinates included (a logical pixel is several device pixels);
//! * the GdkCursor made from the guest cursor is the guest's own cursor at the
//!   same size with the same hot spot and alpha: XFixes on the Xvfb (what GTK
//!   shows) against XFixes on Xspice (what the guest shows);
//! * when the guest changes its resolution (`xrandr` in the guest) the window
//!   follows and still shows it 1:1.

use crate::support::app::{App, wait_app_window, wait_for_guest};
use crate::support::artifact_dir;
use crate::support::process::Guard;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::{DBUS, Tool, XDOTOOL, XEV, XRANDR, XVFB};
use crate::support::wait::WAIT;
use crate::support::x11::{self, Xvfb, xev_presses};
use crate::support::xfixes::{self, XCursor};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Waits until the Xvfb shows the guest's cursor: same size, hot spot and
/// alpha as XFixes reports on Xspice, the same colour on every opaque pixel
/// and within one step per channel on translucent ones. Returns the cursor
/// and how many translucent pixels differ at all (rounding).
fn wait_same_cursor(probe: &Path, xs: &Xspice, display: u32, what: &str) -> (XCursor, usize) {
    let start = Instant::now();
    loop {
        let guest = xfixes::cursor(probe, xs.display);
        let shown = xfixes::cursor(probe, display);
        let same_shape = (guest.width, guest.height, guest.hot) == (shown.width, shown.height, shown.hot)
            && guest.alpha() == shown.alpha();
        if same_shape {
            let opaque_differ = guest
                .argb
                .iter()
                .zip(&shown.argb)
                .filter(|(g, s)| *g >> 24 == 0xff && g != s)
                .count();
            assert_eq!(
                opaque_differ, 0,
                "{what}: opaque cursor pixels differ\nguest {guest:?}\nshown {shown:?}"
            );
            // Translucent pixels: the guest's premultiplied colour goes
            // through straight RGBA (un-premultiplied by Sumac, premultiplied
            // again by GTK), so each channel may round by one.
            let channel_gap = |g: u32, s: u32| {
                (0..3)
                    .map(|i| ((g >> (8 * i)) & 0xff).abs_diff((s >> (8 * i)) & 0xff))
                    .max()
            };
            let far = guest
                .argb
                .iter()
                .zip(&shown.argb)
                .filter(|(g, s)| channel_gap(**g, **s).unwrap_or(0) > 1)
                .count();
            assert_eq!(
                far, 0,
                "{what}: translucent cursor pixels differ by more than rounding\nguest {guest:?}\nshown {shown:?}"
            );
            let translucent_differ = guest.argb.iter().zip(&shown.argb).filter(|(g, s)| g != s).count();
            return (shown, translucent_differ);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: the Xvfb shows a {}x{} cursor with hot spot {:?}, the guest a {}x{} one with hot spot {:?} (or their alpha differs)",
            shown.width,
            shown.height,
            shown.hot,
            guest.width,
            guest.height,
            guest.hot
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Guest points clicked through the window: odd and even coordinates, inside the xev window.
const CLICKS: [(u32, u32); 4] = [(101, 301), (151, 372), (334, 455), (497, 597)];

fn hidpi(renderer: &str, scale: u32) {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &[XVFB, XDOTOOL, XEV, DBUS, XRANDR]].concat();
    let Some(()) = require_real_servers(&tools) else { return };
    let out = artifact_dir(&format!("gui-hidpi-{renderer}-{scale}"));
    let mut xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    xs.set_root_color([0x30, 0x60, 0x90]).expect("root colour");
    xs.spawn_xterm("40x8+40+50", &format!("guest pixels at GDK_SCALE={scale}"))
        .expect("xterm");
    let xev_log = xs.scratch_dir().join("xev.log");
    let mut cmd = xs.x_command("xev");
    cmd.args(["-name", "sumac-xev", "-geometry", "400x300+100+300", "-event", "button"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&xev_log).unwrap())
        .stderr(Stdio::null());
    let _xev = Guard(cmd.spawn().expect("xev on Xspice"));
    xs.wait_window("sumac-xev", WAIT);
    xs.wait_for_stable_framebuffer(Duration::from_millis(800), WAIT)
        .expect("stable framebuffer");

    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    // A short title: at scale 3 the header bar must stay narrower than the Xvfb.
    let title = "hd";
    let app = App::start_scaled(
        display,
        &out,
        scale,
        &["--renderer", renderer, "-t", &format!("{title} %d"), &xs.uri()],
    );
    let window = wait_app_window(display, &format!("{title} 1"), &app);
    let fb = || xs.framebuffer().expect("xwd -root on Xspice");
    let ((ox, oy), shot) = wait_for_guest(display, &window, &fb, "initial", &out, &app);
    let log = app.log();
    assert!(
        log.contains(&format!("renderer=\"{renderer}\"")),
        "the app did not use the {renderer} renderer; log:\n{log}"
    );
    assert!(log.contains("sizing the window to the guest"), "log:\n{log}");
    // Sized to the guest: below it only the window's own frame (client-side
    // decorations, 5 logical pixels), beside it that frame or a letterbox
    // where the header bar is wider than the guest; the default size (1024x768
    // logical, `scale` times the guest in device pixels) would show it enlarged.
    let g = fb();
    let (right, bottom) = (shot.width - ox - g.width, shot.height - oy - g.height);
    assert!(
        right.abs_diff(ox) <= 1 && bottom <= 8 * scale,
        "the {}x{} window is not sized to the {}x{} guest: guest at ({ox}, {oy}), {right} px right, {bottom} px below",
        shot.width,
        shot.height,
        g.width,
        g.height
    );
    eprintln!(
        "hidpi {renderer} x{scale}: window {}x{} device px, guest {}x{} at ({ox}, {oy}), 1:1",
        shot.width, shot.height, g.width, g.height
    );

    // Client-mode clicks at exact device pixels land on exact guest pixels.
    x11::xdotool(display, &["windowfocus", "--sync", &window]);
    for (gx, gy) in CLICKS {
        let (x, y) = ((ox + gx).to_string(), (oy + gy).to_string());
        x11::xdotool(display, &["mousemove", "--window", &window, &x, &y]);
        std::thread::sleep(Duration::from_millis(200));
        x11::xdotool(display, &["click", "1"]);
        std::thread::sleep(Duration::from_millis(150));
    }
    let until = Instant::now() + Duration::from_secs(20);
    let presses = loop {
        let p = xev_presses(&std::fs::read_to_string(&xev_log).unwrap_or_default());
        if p.len() >= CLICKS.len() || Instant::now() > until {
            break p;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let want: Vec<(u32, i32, i32)> = CLICKS.iter().map(|&(x, y)| (1, x as i32, y as i32)).collect();
    assert_eq!(presses, want, "clicks at scale {scale} (button, guest x, guest y)");

    // The client-mode cursor: the guest's, same size and hot spot (not doubled, not halved).
    if let Some(probe) = xfixes::build_probe(&out) {
        // Xspice forwards cursor changes made while a client is connected, and
        // only ARGB ones (the 2-colour core cursor of an xterm is drawn into
        // the framebuffer by the X server, the client gets HIDE): give the
        // root window theme cursors, one with its hot spot in the middle and
        // one with it near a corner.
        let mut seen = Vec::new();
        for (i, name) in ["X_cursor", "left_ptr"].into_iter().enumerate() {
            let set = xs.run_x("xsetroot", &["-cursor_name", name]).expect("xsetroot");
            assert!(set.status.success(), "xsetroot -cursor_name {name} failed");
            let (gx, gy) = (700 + 10 * i as u32, 150 + 10 * i as u32);
            let (x, y) = ((ox + gx).to_string(), (oy + gy).to_string());
            x11::xdotool(display, &["mousemove", "--window", &window, &x, &y]);
            let (cursor, translucent) = wait_same_cursor(&probe, &xs, display, name);
            eprintln!(
                "hidpi {renderer} x{scale}: {name} {}x{} hot {:?} shown 1:1 ({translucent} translucent pixels differ in colour)",
                cursor.width, cursor.height, cursor.hot
            );
            seen.push(cursor);
        }
        assert_ne!(seen[0].hot, seen[1].hot, "two different hot spots were checked");
    }

    // The guest changes its resolution: the window follows, still 1:1. At
    // scale 3, 800 rows are 266.67 logical pixels: the window gets 267, one
    // device row more than the guest, and must still show it 1:1.
    let (mw, mh) = if scale == 3 { (1280, 800) } else { (800, 600) };
    let mode = format!("{mw}x{mh}");
    let out_mode = xs.run_x("xrandr", &["--output", "qxl-0", "--mode", &mode]);
    assert!(out_mode.is_ok_and(|o| o.status.success()), "xrandr in the guest failed");
    let initial_height = shot.height;
    let ((ox, oy), shot) = wait_for_guest(display, &window, &fb, "resized", &out, &app);
    let g = fb();
    assert_eq!((g.width, g.height), (mw, mh), "the guest did not switch to {mode}");
    let bottom = shot.height - oy - g.height;
    assert!(
        bottom <= 8 * scale && shot.height != initial_height,
        "the window ({}x{}) did not follow the guest to {mode}: guest at ({ox}, {oy}), {bottom} px below",
        shot.width,
        shot.height
    );
    eprintln!(
        "hidpi {renderer} x{scale}: guest now {mode}, window {}x{}, 1:1",
        shot.width, shot.height
    );
}

#[test]
fn xspice_hidpi_scale2_gl() {
    hidpi("gl", 2);
}

#[test]
fn xspice_hidpi_scale2_cairo() {
    hidpi("cairo", 2);
}

#[test]
fn xspice_hidpi_scale2_x11() {
    hidpi("x11", 2);
}

/// Scale 3: 1024 and 800 are not multiples of it, so the window (whole
/// logical pixels) is up to 2 device pixels wider than the guest.
#[test]
fn xspice_hidpi_scale3_cairo() {
    hidpi("cairo", 3);
}

#[test]
fn xspice_hidpi_scale3_x11() {
    hidpi("x11", 3);
}

/// The same checks at scale 1 (the app window, clicks and cursor).
#[test]
fn xspice_hidpi_scale1_gl() {
    hidpi("gl", 1);
}
