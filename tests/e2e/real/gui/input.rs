//! Keyboard and mouse through the GTK widget, end to end: `xdotool` on the
//! client's Xvfb types and clicks into the Sumac window (the `gui::embed_child`
//! client), and X clients inside the Xspice session must see it: an xterm
//! running `cat > FILE` for the text, an `xev` log for the buttons and the
//! wheel, `xset q` for the Caps Lock LED. Also: a key held while the window
//! loses the focus must not stay pressed in the guest.

use super::start_embed_child;
use crate::support::artifact_dir;
use crate::support::process::Guard;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::{Tool, XDOTOOL, XEV, XSET, XVFB};
use crate::support::wait::{wait_file, wait_until};
use crate::support::x11::{self, Xvfb, caps_lock_on, wait_xev_presses};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// An Xspice guest, a private Xvfb and the GTK client showing the guest on it.
struct Rig {
    // Field order is drop order: the client goes before its X server.
    _client: Guard,
    /// Another X client on the Xvfb that can take the focus away from Sumac.
    _other: Guard,
    _xvfb: Xvfb,
    xs: Xspice,
    display: u32,
    window: String,
    other: String,
    /// `client_mouse=true|false` as the client reported it once ready.
    client_mouse: bool,
    out: PathBuf,
}

fn tools() -> Vec<Tool> {
    [XSPICE_TOOLS, &[XVFB, XDOTOOL, XEV, XSET]].concat()
}

impl Rig {
    /// Starts the client against `xs` (already populated) and waits until it shows the guest.
    fn start(name: &str, xs: Xspice) -> Self {
        let out = artifact_dir(&format!("gui-input-{name}"));
        let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
        let display = xvfb.display;
        let (client, window, report) = start_embed_child(display, &xs.uri(), &out, "cairo", "sumac=debug", &[]);
        wait_until("the client reports ready", || {
            std::fs::read_to_string(&report).is_ok_and(|t| t.contains("ready=true"))
        });
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        let client_mouse = text.contains("client_mouse=true");

        // A second top-level on the Xvfb, far from the Sumac window, to move the focus to.
        let (other_guard, other) = x11::focus_target(display);
        Self {
            _client: client,
            _other: other_guard,
            _xvfb: xvfb,
            xs,
            display,
            window,
            other,
            client_mouse,
            out,
        }
    }

    /// Where guest pixel (`gx`, `gy`) is in the Sumac window (100 %, centred).
    fn window_point(&self, gx: u32, gy: u32) -> (u32, u32) {
        let fb = self.xs.framebuffer().expect("xwd -root");
        let (_, _, w, h) = x11::window_geometry(self.display, &self.window);
        let (w, h) = (w as u32, h as u32);
        assert!(
            w >= fb.width && h >= fb.height,
            "window {w}x{h} smaller than the guest {}x{}",
            fb.width,
            fb.height
        );
        ((w - fb.width) / 2 + gx, (h - fb.height) / 2 + gy)
    }

    /// Gives the Sumac window the X focus (no window manager here) and clicks at
    /// window point (`x`, `y`), which also gives the display widget the GTK focus.
    fn focus_sumac(&self, x: u32, y: u32) {
        x11::xdotool(self.display, &["windowfocus", "--sync", &self.window]);
        x11::xdotool(
            self.display,
            &["mousemove", "--window", &self.window, &x.to_string(), &y.to_string()],
        );
        x11::xdotool(self.display, &["click", "1"]);
        std::thread::sleep(Duration::from_millis(300));
    }

    fn focus_other(&self) {
        x11::xdotool(self.display, &["windowfocus", "--sync", &self.other]);
        std::thread::sleep(Duration::from_millis(300));
    }

    fn screenshot(&self, name: &str) {
        x11::screenshot(self.display, &self.window, &self.out.join(format!("{name}.png")));
    }
}

/// Typing, a key held across a focus loss, and Caps Lock following the local keyboard.
#[test]
fn xspice_gui_keyboard_reaches_an_xterm() {
    let Some(()) = require_real_servers(&tools()) else {
        return;
    };
    let mut xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    let file = xs.scratch_dir().join("typed.txt");
    let script = format!("cat > '{}'", file.display());
    xs.spawn_x(
        "xterm",
        &[
            "-title",
            "sumac-typing",
            "-geometry",
            "80x10+0+0",
            "-e",
            "sh",
            "-c",
            &script,
        ],
    )
    .expect("xterm");
    let term = xs.wait_window("sumac-typing", WAIT);
    // No window manager in the guest either: give the xterm the keyboard focus.
    xs.xdotool(&["windowfocus", "--sync", &term]);
    let rig = Rig::start("keyboard", xs);
    assert!(!caps_lock_on(rig.display), "Caps Lock on at start on the Xvfb");
    assert!(!caps_lock_on(rig.xs.display), "Caps Lock on at start on Xspice");

    // Click inside the xterm's area (a click there is harmless) to focus the widget.
    let (cx, cy) = rig.window_point(200, 60);
    rig.focus_sumac(cx, cy);
    x11::xdotool(rig.display, &["type", "--delay", "50", "hello sumac"]);
    x11::xdotool(rig.display, &["key", "Return"]);
    wait_file(&file, "hello sumac\n");
    rig.screenshot("typed");

    // Shift held while the focus goes elsewhere: the guest must not keep it.
    x11::xdotool(rig.display, &["keydown", "shift"]);
    x11::xdotool(rig.display, &["key", "a"]);
    wait_file(&file, "hello sumac\n"); // a line is only written on Return
    rig.focus_other();
    x11::xdotool(rig.display, &["keyup", "shift"]);
    rig.focus_sumac(cx, cy);
    x11::xdotool(rig.display, &["key", "--delay", "50", "b", "Return"]);
    wait_file(&file, "hello sumac\nAb\n");

    // Caps Lock turned on locally while Sumac has no focus: the guest follows on focus-in.
    rig.focus_other();
    x11::xdotool(rig.display, &["key", "Caps_Lock"]);
    assert!(caps_lock_on(rig.display), "Caps Lock did not turn on on the Xvfb");
    assert!(
        !caps_lock_on(rig.xs.display),
        "the guest changed Caps Lock without focus"
    );
    rig.focus_sumac(cx, cy);
    wait_until("the guest's Caps Lock LED turns on", || caps_lock_on(rig.xs.display));
    x11::xdotool(rig.display, &["key", "--delay", "50", "c", "Return"]);
    wait_file(&file, "hello sumac\nAb\nC\n");
    // Caps Lock pressed while focused: both sides toggle off together.
    x11::xdotool(rig.display, &["key", "Caps_Lock"]);
    wait_until("the guest's Caps Lock LED turns off", || !caps_lock_on(rig.xs.display));
    assert!(!caps_lock_on(rig.display));
    x11::xdotool(rig.display, &["key", "--delay", "50", "d", "Return"]);
    wait_file(&file, "hello sumac\nAb\nC\nd\n");
    // On in both through Sumac, then off locally while unfocused: the guest follows on focus-in.
    // (Toggling it inside the guest with an X client of its own would not do: Xspice's
    // keyboard, hence spice-server, does not see LED changes made by other X devices.)
    x11::xdotool(rig.display, &["key", "Caps_Lock"]);
    wait_until("the guest's Caps Lock LED turns on again", || {
        caps_lock_on(rig.xs.display)
    });
    rig.focus_other();
    x11::xdotool(rig.display, &["key", "Caps_Lock"]);
    assert!(!caps_lock_on(rig.display));
    assert!(
        caps_lock_on(rig.xs.display),
        "the guest changed Caps Lock without focus"
    );
    rig.focus_sumac(cx, cy);
    wait_until("the guest's Caps Lock LED follows the local (off) state", || {
        !caps_lock_on(rig.xs.display)
    });
    x11::xdotool(rig.display, &["key", "--delay", "50", "e", "Return"]);
    wait_file(&file, "hello sumac\nAb\nC\nd\ne\n");
    rig.screenshot("keyboard-end");
}

/// Left, right, wheel up/down clicked on the Sumac window reach an xev in the guest.
#[test]
fn xspice_gui_clicks_and_wheel_reach_xev() {
    let Some(()) = require_real_servers(&tools()) else {
        return;
    };
    let xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    let log_path = xs.scratch_dir().join("xev.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = xs.x_command("xev");
    cmd.args(["-name", "sumac-xev", "-geometry", "400x300+100+100", "-event", "button"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let xev = Guard(cmd.spawn().expect("xev on Xspice"));
    xs.wait_window("sumac-xev", WAIT);
    xs.wait_for_stable_framebuffer(Duration::from_millis(500), WAIT)
        .expect("stable framebuffer");
    let rig = Rig::start("mouse", xs);
    let (px, py) = rig.window_point(150, 170);
    x11::xdotool(rig.display, &["windowfocus", "--sync", &rig.window]);
    x11::xdotool(
        rig.display,
        &["mousemove", "--window", &rig.window, &px.to_string(), &py.to_string()],
    );
    std::thread::sleep(Duration::from_millis(300));
    if !rig.client_mouse {
        // Server mode: the guest pointer moves by deltas only; put it on the target.
        rig.xs.xdotool(&["mousemove", "150", "170"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    for b in ["1", "3", "4", "5"] {
        x11::xdotool(rig.display, &["click", b]);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Move by (+40, +30) on the client, then middle-click.
    x11::xdotool(rig.display, &["mousemove_relative", "--", "40", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    x11::xdotool(rig.display, &["click", "2"]);

    let presses = wait_xev_presses(&log_path, 5);
    rig.screenshot("mouse");
    eprintln!("client mouse mode: {}; xev presses: {presses:?}", rig.client_mouse);
    let buttons: Vec<u32> = presses.iter().map(|p| p.0).collect();
    assert_eq!(buttons, [1, 3, 4, 5, 2], "{presses:?}");
    if rig.client_mouse {
        for p in &presses[..4] {
            assert_eq!((p.1, p.2), (150, 170), "{presses:?}");
        }
        assert_eq!((presses[4].1, presses[4].2), (190, 200), "{presses:?}");
    } else {
        // Clicks alone send no motion: they land where the guest pointer was put.
        for p in &presses[..4] {
            assert_eq!((p.1, p.2), (150, 170), "{presses:?}");
        }
        // Relative motion goes through the guest's pointer acceleration: only the direction is exact.
        assert!(presses[4].1 > 150 && presses[4].2 > 170, "{presses:?}");
    }
    drop(xev);
}
