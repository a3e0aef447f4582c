//! The session window's size: it opens at the guest's size (no default size first, then a
//! jump), a zoom resizes it both ways within the screen and leaves it resizable by the user,
//! with no black frame around the zoomed guest; full screen has no frame, and the pointer at the
//! top edge reveals a toolbar whose first button leaves full screen. The `sumac` app on Xvfb with
//! openbox, against the test server with an 800x600 guest of one colour.

use crate::support::app::App;
use crate::support::artifact_dir;
use crate::support::desktop::{OPENBOX, XPROP, start_openbox};
use crate::support::image::RgbImage;
use crate::support::tools::{DBUS, XDOTOOL, XVFB, require_tools};
use crate::support::wait::{WAIT, poll};
use crate::support::x11::{self, Xvfb};
use std::time::{Duration, Instant};
use sumac_test_server::scene::SceneBuilder;
use sumac_test_server::{ServerConfig, TestServer};

const GUEST: (i32, i32) = (800, 600);
const COLOUR: [u8; 3] = [0x30, 0x90, 0x30];

fn server() -> TestServer {
    TestServer::start(ServerConfig {
        scene: SceneBuilder::new(800, 600).fill(0, 0, 800, 600, 0x00_30_90_30).build(),
        client_mouse: true,
        ..ServerConfig::default()
    })
    .expect("test server")
}

struct Rig {
    app: App,
    window: String,
    out: std::path::PathBuf,
    _wm: crate::support::process::Guard,
    xvfb: Xvfb,
    _server: TestServer,
}

impl Rig {
    fn geometry(&self) -> (i32, i32, i32, i32) {
        x11::window_geometry(self.xvfb.display, &self.window)
    }

    /// Waits until the window's size satisfies `ok`; panics with what it was.
    fn wait_size(&self, what: &str, ok: impl Fn(i32, i32) -> bool) -> (i32, i32) {
        let mut last = (0, 0);
        let got = poll(WAIT, Duration::from_millis(100), || {
            let (_, _, w, h) = self.geometry();
            last = (w, h);
            ok(w, h).then_some((w, h))
        });
        got.unwrap_or_else(|| {
            x11::screenshot(self.xvfb.display, "root", &self.out.join(format!("{what}.png")));
            panic!("{what}: the window stayed {last:?}; log:\n{}", self.app.log())
        })
    }

    /// F11 with the pointer over the middle of the guest; waits until the window manager says
    /// full screen.
    fn full_screen(&self) {
        let display = self.xvfb.display;
        x11::xdotool(display, &["mousemove", "--sync", "800", "600"]);
        self.key("F11");
        let full = poll(WAIT, Duration::from_millis(200), || {
            crate::support::desktop::is_fullscreen(display, &self.window).then_some(())
        });
        assert!(full.is_some(), "F11 did not go full screen; log:\n{}", self.app.log());
    }

    fn key(&self, key: &str) {
        x11::xdotool(self.xvfb.display, &["windowfocus", "--sync", &self.window]);
        x11::xdotool(self.xvfb.display, &["key", key]);
    }
}

/// Starts the rig; `samples` gets every size the window had from the moment it was first seen
/// until it showed the guest.
fn start(name: &str, samples: &mut Vec<(i32, i32)>) -> Rig {
    start_titled(name, &format!("size-{name}"), samples)
}

/// [`start`] with the window title `title` (`-t`).
fn start_titled(name: &str, title: &str, samples: &mut Vec<(i32, i32)>) -> Rig {
    let out = artifact_dir(&format!("gui-window-size-{name}"));
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let wm = start_openbox(&xvfb, &out);
    let server = server();
    let config = out.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let cmd = App::x11_command(xvfb.display, &config, &["-t", title, &server.uri()]);
    let app = App::spawn(cmd, out.join("sumac.log"));
    // Sampled as fast as xdotool goes from the first moment the window is there.
    let start = Instant::now();
    let window = loop {
        if let Some(w) = x11::windows_named(xvfb.display, &format!("^{title}$"))
            .into_iter()
            .next()
        {
            break w;
        }
        assert!(start.elapsed() < WAIT, "no window; log:\n{}", app.log());
        std::thread::sleep(Duration::from_millis(5));
    };
    let rig = Rig {
        app,
        window,
        out,
        _wm: wm,
        xvfb,
        _server: server,
    };
    let seen = Instant::now();
    while seen.elapsed() < Duration::from_secs(2) {
        let (_, _, w, h) = rig.geometry();
        if samples.last() != Some(&(w, h)) {
            samples.push((w, h));
        }
    }
    rig
}

/// Whether the display area of `shot` (below `top`, inside the window's `border`, GTK's own
/// frame of a window without a compositor) is the guest's colour at its left, right and bottom
/// edges (no black frame).
fn edges_are_guest(shot: &RgbImage, top: u32, border: u32) -> Result<(), String> {
    let (w, h) = (shot.width - border, shot.height - border);
    let b = border;
    for (x, y) in [
        (b, h - 1),
        (w - 1, h - 1),
        (b, top + 2),
        (w - 1, top + 2),
        (w / 2, h - 1),
    ] {
        let p = shot.pixel(x, y);
        if p != COLOUR {
            return Err(format!("pixel ({x},{y}) of the {w}x{h} window is {p:?}"));
        }
    }
    Ok(())
}

#[test]
fn the_window_opens_at_the_guest_size() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    let mut samples = Vec::new();
    let rig = start("open", &mut samples);
    x11::screenshot(rig.xvfb.display, "root", &rig.out.join("opened.png"));
    let (_, _, w, h) = rig.geometry();
    // The guest, its header bar above and GTK's frame (a few pixels) around.
    assert!(w >= GUEST.0 && w <= GUEST.0 + 12, "{w}x{h}; log:\n{}", rig.app.log());
    assert!(h > GUEST.1 && h < GUEST.1 + 100, "{w}x{h}");
    assert_eq!(
        samples,
        [(w, h)],
        "the window had other sizes before the guest's; log:\n{}",
        rig.app.log()
    );
}

/// A title far wider than the guest is shortened in the header bar: the window still opens at
/// the guest's size.
#[test]
fn a_long_title_does_not_widen_the_window() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    let title = format!("long-{}", "a very long guest title ".repeat(16));
    let mut samples = Vec::new();
    let rig = start_titled("long-title", title.trim_end(), &mut samples);
    x11::screenshot(rig.xvfb.display, "root", &rig.out.join("long-title.png"));
    let (_, _, w, h) = rig.geometry();
    assert!(
        w >= GUEST.0 && w <= GUEST.0 + 12,
        "{w}x{h} for an {}x{} guest; log:\n{}",
        GUEST.0,
        GUEST.1,
        rig.app.log()
    );
}

#[test]
fn zoom_resizes_the_window_both_ways_and_it_stays_resizable() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    let mut samples = Vec::new();
    let rig = start("zoom", &mut samples);
    let (_, _, w0, h0) = rig.geometry();
    // GTK's frame around the window (no compositor), and the header bar.
    let frame = w0 - GUEST.0;
    assert!((0..=12).contains(&frame), "{samples:?}");
    let header = h0 - GUEST.1 - frame / 2;
    let extra = (frame, header + frame / 2);
    let border = u32::try_from(frame / 2).unwrap();

    // Larger: 120 %.
    rig.key("ctrl+KP_Add");
    rig.key("ctrl+KP_Add");
    rig.wait_size("zoom-in", |w, h| (w, h) == (960 + extra.0, 720 + extra.1));

    // Smaller: 80 %, the window shrinks with it and the guest fills it.
    for _ in 0..4 {
        rig.key("ctrl+KP_Subtract");
    }
    rig.wait_size("zoom-out", |w, h| (w, h) == (640 + extra.0, 480 + extra.1));
    let ok = poll(WAIT, Duration::from_millis(200), || {
        let shot = x11::capture(rig.xvfb.display, &rig.window)?;
        edges_are_guest(&shot, u32::try_from(header).unwrap(), border)
            .ok()
            .map(|()| shot)
    });
    if ok.is_none() {
        let shot = x11::capture(rig.xvfb.display, &rig.window).expect("capture");
        shot.save_png(&rig.out.join("zoom-out.png")).unwrap();
        panic!(
            "a black frame after zoom-out: {}",
            edges_are_guest(&shot, u32::try_from(header).unwrap(), border).unwrap_err()
        );
    }

    // The user can still make it smaller and larger.
    x11::xdotool(rig.xvfb.display, &["windowsize", "--sync", &rig.window, "420", "330"]);
    rig.wait_size("user-shrink", |w, h| w == 420 && h == 330);
    x11::xdotool(rig.xvfb.display, &["windowsize", "--sync", &rig.window, "1000", "800"]);
    rig.wait_size("user-grow", |w, h| w == 1000 && h == 800);

    // 300 % does not fit the 1600x1200 screen: capped, not larger than the screen.
    rig.key("ctrl+KP_0");
    rig.wait_size("zoom-reset", |w, h| (w, h) == (800 + extra.0, 600 + extra.1));
    for _ in 0..20 {
        rig.key("ctrl+KP_Add");
    }
    let (w, h) = rig.wait_size("zoom-300", |w, h| w > 1000 && h > 800);
    x11::screenshot(rig.xvfb.display, "root", &rig.out.join("zoom-300.png"));
    assert!(w <= 1600 && h <= 1200, "the window is {w}x{h}, larger than the screen");
    // And still resizable.
    x11::xdotool(rig.xvfb.display, &["windowsize", "--sync", &rig.window, "500", "400"]);
    rig.wait_size("user-shrink-after-300", |w, h| w == 500 && h == 400);
}

/// Full screen under openbox: the guest reaches every edge of the screen (no frame).
#[test]
fn full_screen_has_no_frame() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    let mut samples = Vec::new();
    let rig = start("fullscreen", &mut samples);
    let display = rig.xvfb.display;
    // The 800x600 guest fits the 1600x1200 screen exactly at 200 %.
    rig.full_screen();
    let edges = [
        (0, 0),
        (1599, 0),
        (0, 1199),
        (1599, 1199),
        (800, 0),
        (0, 600),
        (1599, 600),
        (800, 1199),
    ];
    let framed = |shot: &RgbImage| edges.iter().find(|&&(x, y)| shot.pixel(x, y) != COLOUR).copied();
    let shot = poll(WAIT, Duration::from_millis(200), || {
        let shot = x11::capture(display, "root")?;
        framed(&shot).is_none().then_some(shot)
    });
    if shot.is_none() {
        let shot = x11::capture(display, "root").expect("capture");
        shot.save_png(&rig.out.join("fullscreen-frame.png")).unwrap();
        let (x, y) = framed(&shot).unwrap_or_default();
        panic!(
            "a frame around the full-screen guest: ({x},{y}) is {:?}",
            shot.pixel(x, y)
        );
    }
}

/// The box of the pixels of `shot` in its top `rows` that are not the guest's colour.
fn not_guest_box(shot: &RgbImage, rows: u32) -> Option<(u32, u32, u32, u32)> {
    box_of(shot, rows, |p| p != COLOUR)
}

/// The box of the pixels of `shot` in its top `rows` for which `pick` holds.
fn box_of(shot: &RgbImage, rows: u32, pick: impl Fn([u8; 3]) -> bool) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for y in 0..rows.min(shot.height) {
        for x in 0..shot.width {
            if pick(shot.pixel(x, y)) {
                let b = found.get_or_insert((x, y, x, y));
                *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
            }
        }
    }
    found
}

/// Full screen: the pointer at the top edge (over the guest, which the X11 layer draws in a child
/// window of its own) reveals the toolbar; the pointer going down hides it; its first button
/// leaves full screen.
#[test]
fn full_screen_toolbar_at_the_top_edge() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    let mut samples = Vec::new();
    let rig = start("fullscreen-toolbar", &mut samples);
    let display = rig.xvfb.display;
    rig.full_screen();
    // The whole screen is the guest: no toolbar yet.
    let clean = poll(WAIT, Duration::from_millis(200), || {
        let shot = x11::capture(display, "root")?;
        not_guest_box(&shot, 120).is_none().then_some(())
    });
    assert!(clean.is_some(), "something over the top of the full-screen guest");

    // The top edge: the toolbar shows at the top centre.
    let mut last = None;
    let toolbar = poll(WAIT, Duration::from_millis(300), || {
        x11::xdotool(display, &["mousemove", "--sync", "800", "40"]);
        x11::xdotool(display, &["mousemove", "--sync", "800", "0"]);
        std::thread::sleep(Duration::from_millis(400));
        let shot = x11::capture(display, "root")?;
        let found = not_guest_box(&shot, 120);
        last = Some(shot);
        found
    });
    let Some((x0, y0, x1, y1)) = toolbar else {
        if let Some(shot) = last {
            shot.save_png(&rig.out.join("no-toolbar.png")).unwrap();
        }
        panic!("no toolbar at the top edge; log:\n{}", rig.app.log());
    };
    let shot = x11::capture(display, "root").expect("capture");
    shot.save_png(&rig.out.join("fullscreen-toolbar.png")).unwrap();
    shot.crop(400, 0, 800, 300)
        .expect("crop")
        .save_png(&rig.out.join("fullscreen-toolbar-top.png"))
        .unwrap();
    assert!(y0 <= 2, "the toolbar is not at the top: {:?}", (x0, y0, x1, y1));
    assert!(
        x0 < 800 && x1 > 800,
        "the toolbar is not centred: {:?}",
        (x0, y0, x1, y1)
    );
    assert!(
        (60..600).contains(&(x1 - x0)) && (20..=120).contains(&(y1 - y0)),
        "{:?}",
        (x0, y0, x1, y1)
    );

    // Down over the guest: hidden again.
    x11::xdotool(display, &["mousemove", "--sync", "800", "500"]);
    x11::xdotool(display, &["mousemove", "--sync", "810", "600"]);
    let hidden = poll(WAIT, Duration::from_millis(200), || {
        let shot = x11::capture(display, "root")?;
        not_guest_box(&shot, 120).is_none().then_some(())
    });
    assert!(hidden.is_some(), "the toolbar stayed; log:\n{}", rig.app.log());
    assert!(crate::support::desktop::is_fullscreen(display, &rig.window));

    // Shown again; its first button (leave full screen) is in the left third of the popover
    // (drawn: not the guest, not the black a popover's shadow is without a compositor).
    let again = poll(WAIT, Duration::from_millis(300), || {
        x11::xdotool(display, &["mousemove", "--sync", "800", "40"]);
        x11::xdotool(display, &["mousemove", "--sync", "800", "0"]);
        std::thread::sleep(Duration::from_millis(400));
        let shot = x11::capture(display, "root")?;
        box_of(&shot, 120, |p| {
            p != COLOUR && p.iter().map(|c| u32::from(*c)).sum::<u32>() > 30
        })
    });
    let (x0, y0, x1, y1) = again.expect("the toolbar again");
    let (bx, by) = (x0 + (x1 - x0) / 5, (y0 + y1) / 2);
    x11::xdotool(display, &["mousemove", "--sync", &bx.to_string(), &by.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    // A click as a hand makes it (press, a moment, release), again if the first one was lost.
    let left = poll(WAIT, Duration::from_millis(200), || {
        if !crate::support::desktop::is_fullscreen(display, &rig.window) {
            return Some(());
        }
        x11::xdotool(display, &["mousedown", "1"]);
        std::thread::sleep(Duration::from_millis(120));
        x11::xdotool(display, &["mouseup", "1"]);
        std::thread::sleep(Duration::from_millis(800));
        None
    });
    if left.is_none() {
        x11::screenshot(display, "root", &rig.out.join("still-fullscreen.png"));
        panic!(
            "the toolbar's first button did not leave full screen; log:\n{}",
            rig.app.log()
        );
    }
}
