//! Keyboard and mouse through the GTK widget, end to end: `xdotool` on the
//! client's Xvfb types and clicks into the Sumac window (the `gui::embed_child`
//! client), and X clients inside the Xspice session must see it: an xterm
//! running `cat > FILE` for the text, an `xev` log for the buttons and the
//! wheel, `xset q` for the Caps Lock LED. Also: a key held while the window
//! loses the focus must not stay pressed in the guest.

use super::{Guard, XDOTOOL, XVFB, capture, find_window, start_xvfb, x_cmd};
use crate::real::{Tool, XSPICE_TOOLS, Xspice, XspiceOpts, artifact_dir, require_real_servers, run_with_timeout};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const XEV: Tool = Tool {
    binary: "xev",
    package: "x11-utils",
};
const XSET: Tool = Tool {
    binary: "xset",
    package: "x11-xserver-utils",
};
const WAIT: Duration = Duration::from_secs(20);

/// An Xspice guest, a private Xvfb and the GTK client showing the guest on it.
struct Rig {
    // Field order is drop order: the client goes before its X server.
    _client: Guard,
    /// Another X client on the Xvfb that can take the focus away from Sumac.
    _other: Guard,
    _xvfb: Guard,
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

/// Runs `xdotool args` on the client's Xvfb; panics when it fails.
fn local(display: u32, args: &[&str]) -> String {
    let mut c = x_cmd(display, "xdotool");
    c.args(args);
    let out = run_with_timeout(c, Duration::from_secs(20)).expect("xdotool on the Xvfb");
    assert!(
        out.status.success(),
        "xdotool {args:?} on the Xvfb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `xdotool args` inside the Xspice session; panics when it fails.
fn guest(xs: &Xspice, args: &[&str]) -> String {
    xs.xdotool(args)
}

/// Waits for a visible window named `name` inside the Xspice session.
fn guest_window(xs: &Xspice, name: &str) -> String {
    xs.wait_window(name, WAIT)
}

/// Whether `xset q` (run by `cmd`) reports Caps Lock on.
fn caps_on(mut cmd: std::process::Command) -> bool {
    cmd.arg("q");
    let out = run_with_timeout(cmd, Duration::from_secs(20)).expect("xset q");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Caps Lock:"))
        .unwrap_or_else(|| panic!("no Caps Lock in xset q: {text}"));
    line.split("Caps Lock:")
        .nth(1)
        .unwrap_or_default()
        .trim_start()
        .starts_with("on")
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < until, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_file(path: &Path, want: &str) {
    let until = Instant::now() + WAIT;
    loop {
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if got == want {
            return;
        }
        assert!(Instant::now() < until, "the guest xterm wrote {got:?}, wanted {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Rig {
    /// Starts the client against `xs` (already populated) and waits until it shows the guest.
    fn start(name: &str, xs: Xspice) -> Self {
        let out = artifact_dir(&format!("gui-input-{name}"));
        let (xvfb, display) = start_xvfb(&out);
        let report = out.join("child-report.txt");
        let _ = std::fs::remove_file(&report);
        let exe = std::env::current_exe().unwrap();
        let mut cmd = x_cmd(display, exe.to_str().unwrap());
        cmd.args([
            "--exact",
            "gui::embed_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(super::CHILD_URI, xs.uri())
        .env(super::CHILD_REPORT, &report)
        .env("GDK_BACKEND", "x11")
        .env("GTK_A11Y", "none")
        .env("SUMAC_RENDERER", "cairo")
        .env("RUST_LOG", "sumac=debug")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out.join("child.log")).unwrap())
        .stderr(std::fs::File::create(out.join("child.err")).unwrap());
        let client = Guard(cmd.spawn().expect("start the GTK child"));
        let window = find_window(display, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("no client window; see {}", out.join("child.err").display()));
        wait_until("the client reports ready", || {
            std::fs::read_to_string(&report).is_ok_and(|t| t.contains("ready=true"))
        });
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        let client_mouse = text.contains("client_mouse=true");

        // A second top-level on the Xvfb, far from the Sumac window, to move the focus to.
        let mut o = x_cmd(display, "xev");
        o.args(["-name", "sumac-other", "-geometry", "100x100+1450+1050"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let other_guard = Guard(o.spawn().expect("start xev on the Xvfb"));
        let until = Instant::now() + WAIT;
        let other = loop {
            let mut c = x_cmd(display, "xdotool");
            c.args(["search", "--onlyvisible", "--name", "sumac-other"]);
            let out = run_with_timeout(c, Duration::from_secs(10)).expect("xdotool search");
            if let Some(id) = String::from_utf8_lossy(&out.stdout).split_whitespace().next() {
                break id.to_owned();
            }
            assert!(Instant::now() < until, "the other window never appeared");
            std::thread::sleep(Duration::from_millis(100));
        };
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
        let geo = local(self.display, &["getwindowgeometry", "--shell", &self.window]);
        let field = |k: &str| -> u32 {
            geo.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {k} in {geo}"))
        };
        let (w, h) = (field("WIDTH"), field("HEIGHT"));
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
        local(self.display, &["windowfocus", "--sync", &self.window]);
        local(
            self.display,
            &["mousemove", "--window", &self.window, &x.to_string(), &y.to_string()],
        );
        local(self.display, &["click", "1"]);
        std::thread::sleep(Duration::from_millis(300));
    }

    fn focus_other(&self) {
        local(self.display, &["windowfocus", "--sync", &self.other]);
        std::thread::sleep(Duration::from_millis(300));
    }

    fn screenshot(&self, name: &str) {
        if let Some(img) = capture(self.display, &self.window) {
            let _ = img.save_png(&self.out.join(format!("{name}.png")));
        }
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
    let term = guest_window(&xs, "sumac-typing");
    // No window manager in the guest either: give the xterm the keyboard focus.
    guest(&xs, &["windowfocus", "--sync", &term]);
    let rig = Rig::start("keyboard", xs);
    assert!(
        !caps_on(x_cmd(rig.display, "xset")),
        "Caps Lock on at start on the Xvfb"
    );
    assert!(!caps_on(rig.xs.x_command("xset")), "Caps Lock on at start on Xspice");

    // Click inside the xterm's area (a click there is harmless) to focus the widget.
    let (cx, cy) = rig.window_point(200, 60);
    rig.focus_sumac(cx, cy);
    local(rig.display, &["type", "--delay", "50", "hello sumac"]);
    local(rig.display, &["key", "Return"]);
    wait_file(&file, "hello sumac\n");
    rig.screenshot("typed");

    // Shift held while the focus goes elsewhere: the guest must not keep it.
    local(rig.display, &["keydown", "shift"]);
    local(rig.display, &["key", "a"]);
    wait_file(&file, "hello sumac\n"); // a line is only written on Return
    rig.focus_other();
    local(rig.display, &["keyup", "shift"]);
    rig.focus_sumac(cx, cy);
    local(rig.display, &["key", "--delay", "50", "b", "Return"]);
    wait_file(&file, "hello sumac\nAb\n");

    // Caps Lock turned on locally while Sumac has no focus: the guest follows on focus-in.
    rig.focus_other();
    local(rig.display, &["key", "Caps_Lock"]);
    assert!(
        caps_on(x_cmd(rig.display, "xset")),
        "Caps Lock did not turn on on the Xvfb"
    );
    assert!(
        !caps_on(rig.xs.x_command("xset")),
        "the guest changed Caps Lock without focus"
    );
    rig.focus_sumac(cx, cy);
    wait_until("the guest's Caps Lock LED turns on", || {
        caps_on(rig.xs.x_command("xset"))
    });
    local(rig.display, &["key", "--delay", "50", "c", "Return"]);
    wait_file(&file, "hello sumac\nAb\nC\n");
    // Caps Lock pressed while focused: both sides toggle off together.
    local(rig.display, &["key", "Caps_Lock"]);
    wait_until("the guest's Caps Lock LED turns off", || {
        !caps_on(rig.xs.x_command("xset"))
    });
    assert!(!caps_on(x_cmd(rig.display, "xset")));
    local(rig.display, &["key", "--delay", "50", "d", "Return"]);
    wait_file(&file, "hello sumac\nAb\nC\nd\n");
    // On in both through Sumac, then off locally while unfocused: the guest follows on focus-in.
    // (Toggling it inside the guest with an X client of its own would not do: Xspice's
    // keyboard, hence spice-server, does not see LED changes made by other X devices.)
    local(rig.display, &["key", "Caps_Lock"]);
    wait_until("the guest's Caps Lock LED turns on again", || {
        caps_on(rig.xs.x_command("xset"))
    });
    rig.focus_other();
    local(rig.display, &["key", "Caps_Lock"]);
    assert!(!caps_on(x_cmd(rig.display, "xset")));
    assert!(
        caps_on(rig.xs.x_command("xset")),
        "the guest changed Caps Lock without focus"
    );
    rig.focus_sumac(cx, cy);
    wait_until("the guest's Caps Lock LED follows the local (off) state", || {
        !caps_on(rig.xs.x_command("xset"))
    });
    local(rig.display, &["key", "--delay", "50", "e", "Return"]);
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
    guest_window(&xs, "sumac-xev");
    xs.wait_for_stable_framebuffer(Duration::from_millis(500), WAIT)
        .expect("stable framebuffer");
    let rig = Rig::start("mouse", xs);
    let (px, py) = rig.window_point(150, 170);
    local(rig.display, &["windowfocus", "--sync", &rig.window]);
    local(
        rig.display,
        &["mousemove", "--window", &rig.window, &px.to_string(), &py.to_string()],
    );
    std::thread::sleep(Duration::from_millis(300));
    if !rig.client_mouse {
        // Server mode: the guest pointer moves by deltas only; put it on the target.
        guest(&rig.xs, &["mousemove", "150", "170"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    for b in ["1", "3", "4", "5"] {
        local(rig.display, &["click", b]);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Move by (+40, +30) on the client, then middle-click.
    local(rig.display, &["mousemove_relative", "--", "40", "30"]);
    std::thread::sleep(Duration::from_millis(300));
    local(rig.display, &["click", "2"]);

    let until = Instant::now() + WAIT;
    let presses = loop {
        let p = crate::real::xev_presses(&std::fs::read_to_string(&log_path).unwrap_or_default());
        if p.len() >= 5 {
            break p;
        }
        assert!(Instant::now() < until, "xev in the guest saw only {p:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
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
