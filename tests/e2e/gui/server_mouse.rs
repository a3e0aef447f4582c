//! Server mouse mode through the `sumac` app (`--mouse-mode=server`) on a
//! private Xvfb, driven with `xdotool`:
//!
//! - against the test server, which records every inputs message: the
//!   grabbing click is not sent, each motion of the Xvfb pointer arrives as
//!   exactly the same MOUSE_MOTION delta and the pointer is warped back to the
//!   display's centre, a huge move stops at the window's edge (confined),
//!   the cursor is invisible (XFixes), buttons and the wheel go through while
//!   grabbed, the title shows the release hint; Ctrl+Alt and a focus change
//!   release the pointer (free again, visible, no more deltas);
//! - against a real Xspice: the session stays in server mode (no
//!   MOUSE_MODE_REQUEST although Xspice offers client mode) and the grab,
//!   confinement and release work the same. Xspice cannot check the deltas
//!   themselves: its server-mode mouse callbacks are empty (xf86-video-qxl's
//!   `spiceqxl_inputs.c` `mouse_motion` is a TODO and it registers only a
//!   tablet), so its pointer never moves in server mode; the test server
//!   checks them instead.

use super::{Guard, XDOTOOL, XVFB, start_xvfb, x_cmd};
use crate::real::{
    Tool, XSPICE_TOOLS, Xspice, XspiceOpts, artifact_dir, child_pids, pid_alive, require_real_servers,
    run_with_timeout, signal_pid, wait_pid_gone,
};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use sumac::proto::ChannelType;
use sumac::proto::channel::inputs::{InputsClient, button};
use sumac::proto::channel::main::msgc;
use sumac_test_server::{ServerConfig, TestServer};

const SUMAC: &str = env!("CARGO_BIN_EXE_sumac");
const TITLE: &str = "sumac-server-mouse";
const HINT: &str = "Press Ctrl+Alt to release pointer";
pub(super) const WAIT: Duration = Duration::from_secs(20);
pub(super) const DBUS: Tool = Tool {
    binary: "dbus-run-session",
    package: "dbus",
};
pub(super) const XEV: Tool = Tool {
    binary: "xev",
    package: "x11-utils",
};

/// `sumac` under `dbus-run-session`; its process tree is stopped when dropped
/// (shared with `wayland_pointer.rs`).
pub(super) struct App {
    pub(super) child: Child,
    pub(super) log: PathBuf,
}

impl App {
    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let pid = self.child.id();
        for child in child_pids(pid) {
            signal_pid(child, "TERM");
            wait_pid_gone(child, Duration::from_secs(5));
        }
        if pid_alive(pid) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The app showing `uri` in server mouse mode at 100 % on a private Xvfb, and
/// another X client there to take the focus away.
struct Rig {
    // Field order is drop order: the clients go before their X server.
    app: App,
    _other: Guard,
    _xvfb: Guard,
    display: u32,
    window: String,
    other: String,
    out: PathBuf,
}

impl Rig {
    fn start(name: &str, uri: &str) -> Rig {
        let out = artifact_dir(&format!("gui-server-mouse-{name}"));
        let (xvfb, display) = start_xvfb(&out);
        let config_home = out.join("config");
        std::fs::create_dir_all(&config_home).unwrap();
        let log = out.join("sumac.log");
        let mut cmd = x_cmd(display, "dbus-run-session");
        cmd.arg("--")
            .arg(SUMAC)
            .args(["-t", TITLE, "-z", "100", "--mouse-mode=server", uri])
            .env("GDK_BACKEND", "x11")
            .env("GTK_A11Y", "none")
            .env("XDG_CONFIG_HOME", &config_home)
            .env("GSETTINGS_BACKEND", "memory")
            .env("SUMAC_RENDERER", "cairo")
            .env("RUST_LOG", "sumac=debug")
            .env_remove("GSETTINGS_SCHEMA_DIR")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("SPICE_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let app = App {
            child: cmd.spawn().expect("start sumac"),
            log,
        };
        let window = wait_for("the sumac window", || search(display, TITLE));
        let mut o = x_cmd(display, "xev");
        o.args(["-name", "sumac-other", "-geometry", "100x100+1450+1050"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let other_guard = Guard(o.spawn().expect("start xev on the Xvfb"));
        let other = wait_for("the other window", || search(display, "sumac-other"));
        Rig {
            app,
            _other: other_guard,
            _xvfb: xvfb,
            display,
            window,
            other,
            out,
        }
    }

    /// Runs `xdotool args` on the Xvfb; panics when it fails.
    fn xdo(&self, args: &[&str]) -> String {
        let mut c = x_cmd(self.display, "xdotool");
        c.args(args);
        let out = run_with_timeout(c, Duration::from_secs(20)).expect("xdotool on the Xvfb");
        assert!(
            out.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The Xvfb pointer, on the root window.
    fn pointer(&self) -> (i32, i32) {
        parse_location(&self.xdo(&["getmouselocation"]))
    }

    fn move_by(&self, dx: i32, dy: i32) {
        self.xdo(&["mousemove_relative", "--", &dx.to_string(), &dy.to_string()]);
    }

    /// The window's position and size on the root window.
    fn geometry(&self) -> (i32, i32, i32, i32) {
        let geo = self.xdo(&["getwindowgeometry", "--shell", &self.window]);
        let field = |k: &str| -> i32 {
            geo.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {k} in {geo}"))
        };
        (field("X"), field("Y"), field("WIDTH"), field("HEIGHT"))
    }

    fn title(&self) -> String {
        self.xdo(&["getwindowname", &self.window]).trim().to_owned()
    }

    fn grabbed(&self) -> bool {
        self.title().contains(HINT)
    }

    /// Non-transparent pixels of the cursor the Xvfb shows now.
    fn cursor_pixels(&self) -> usize {
        let x = sumac_platform::x11::X11Pointer::connect_to(&format!(":{}", self.display)).expect("X connection");
        x.cursor_image().expect("XFixes cursor image").opaque_pixels
    }

    /// Gives the window the X focus and clicks at its point (`x`, `y`).
    fn click_at(&self, x: i32, y: i32) {
        self.xdo(&["windowfocus", "--sync", &self.window]);
        self.xdo(&["mousemove", "--window", &self.window, &x.to_string(), &y.to_string()]);
        std::thread::sleep(Duration::from_millis(200));
        self.xdo(&["click", "1"]);
    }

    /// Clicks into the display and waits for the grab (the title hint).
    fn grab(&self) {
        let (_, _, w, h) = self.geometry();
        self.click_at(w / 2, h / 2);
        wait_until("the pointer grab (title hint)", || self.grabbed());
        std::thread::sleep(Duration::from_millis(200));
    }

    fn screenshot(&self, name: &str) {
        if let Some(img) = super::capture(self.display, &self.window) {
            let _ = img.save_png(&self.out.join(format!("{name}.png")));
        }
    }
}

fn search(display: u32, name: &str) -> Option<String> {
    let mut c = x_cmd(display, "xdotool");
    c.args(["search", "--onlyvisible", "--name", name]);
    let out = run_with_timeout(c, Duration::from_secs(10)).ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// `x:12 y:34 screen:0 window:56` → (12, 34).
pub(super) fn parse_location(text: &str) -> (i32, i32) {
    let field = |k: &str| -> i32 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {text:?}"))
    };
    (field("x:"), field("y:"))
}

pub(super) fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(super) fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    wait_for(what, || f().then_some(()));
}

fn tools() -> Vec<Tool> {
    vec![XVFB, XDOTOOL, DBUS, XEV]
}

/// Sum of the MOUSE_MOTION deltas the test server received.
pub(super) fn motion_sum(server: &TestServer) -> (i32, i32) {
    server.inputs_log().iter().fold((0, 0), |(x, y), e| match e.msg {
        InputsClient::MouseMotion { dx, dy, .. } => (x + dx, y + dy),
        _ => (x, y),
    })
}

pub(super) fn waits_for_motion(server: &TestServer, want: (i32, i32)) {
    let ok = server.wait_for_inputs(WAIT, |log| {
        log.iter().fold((0, 0), |(x, y), e| match e.msg {
            InputsClient::MouseMotion { dx, dy, .. } => (x + dx, y + dy),
            _ => (x, y),
        }) == want
    });
    assert!(ok, "motion deltas sum to {:?}, wanted {want:?}", motion_sum(server));
}

pub(super) fn presses(server: &TestServer) -> Vec<u8> {
    server
        .inputs_log()
        .iter()
        .filter_map(|e| match e.msg {
            InputsClient::MousePress { button, .. } => Some(button),
            _ => None,
        })
        .collect()
}

/// Whether the client asked the server for another mouse mode.
pub(super) fn mode_requested(server: &TestServer) -> bool {
    server.with_record(|r| {
        r.received
            .iter()
            .any(|m| m.channel.0 == ChannelType::MAIN && m.msg_type == msgc::MOUSE_MODE_REQUEST)
    })
}

#[test]
fn server_mouse_grab_sends_exact_deltas() {
    let Some(()) = require_real_servers(&tools()) else {
        return;
    };
    // The test server offers both modes and starts in server mode.
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let rig = Rig::start("test-server", &server.uri());
    let ok = server.wait_for(WAIT, |r| r.linked.iter().any(|l| l.0 == ChannelType::INPUTS));
    assert!(ok, "the inputs channel never linked; log:\n{}", rig.app.log());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !mode_requested(&server),
        "--mouse-mode=server must not ask for client mode"
    );
    assert!(rig.cursor_pixels() > 0, "the pointer is visible before the grab");
    assert!(!rig.grabbed(), "grabbed before any click: {}", rig.title());

    rig.grab();
    let (wx, wy, ww, wh) = rig.geometry();
    let centre = rig.pointer();
    eprintln!("window {ww}x{wh}+{wx}+{wy}, pointer warped to {centre:?}");
    assert!(
        (wx..wx + ww).contains(&centre.0) && (wy..wy + wh).contains(&centre.1),
        "the pointer {centre:?} is outside the window"
    );
    assert_eq!(rig.cursor_pixels(), 0, "the grabbed pointer is invisible");
    assert_eq!(
        presses(&server),
        Vec::<u8>::new(),
        "the grabbing click is not the guest's"
    );
    rig.screenshot("grabbed");

    // Motions arrive as the same deltas; the pointer goes back to the centre.
    server.clear_inputs_log();
    rig.move_by(40, 30);
    waits_for_motion(&server, (40, 30));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    rig.move_by(-15, 7);
    rig.move_by(3, -4);
    rig.move_by(1, 1);
    waits_for_motion(&server, (29, 34));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(motion_sum(&server), (29, 34), "the warps added nothing");

    // Confined: a huge move stops at the window's top-left corner.
    server.clear_inputs_log();
    rig.move_by(-5000, -5000);
    waits_for_motion(&server, (wx - centre.0, wy - centre.1));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    server.clear_inputs_log();
    rig.move_by(5000, 5000);
    waits_for_motion(&server, (wx + ww - 1 - centre.0, wy + wh - 1 - centre.1));
    wait_until("the pointer back at the centre", || rig.pointer() == centre);

    // Buttons and the wheel go to the guest while grabbed.
    for b in ["1", "3", "2", "4", "5"] {
        rig.xdo(&["click", b]);
    }
    let ok = server.wait_for_inputs(WAIT, |log| {
        log.iter()
            .filter(|e| matches!(e.msg, InputsClient::MouseRelease { .. }))
            .count()
            >= 5
    });
    assert!(ok, "buttons: {:?}", server.inputs_log());
    assert_eq!(
        presses(&server),
        vec![button::LEFT, button::RIGHT, button::MIDDLE, button::UP, button::DOWN]
    );

    // Ctrl+Alt releases it: visible, free, no more deltas.
    rig.xdo(&["key", "ctrl+alt"]);
    wait_until("the release (no title hint)", || !rig.grabbed());
    assert_eq!(rig.title(), TITLE);
    assert!(rig.cursor_pixels() > 0, "the pointer is visible again");
    server.clear_inputs_log();
    rig.move_by(20, 10);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        rig.pointer(),
        (centre.0 + 20, centre.1 + 10),
        "not warped back once released"
    );
    let outside = (wx + ww + 40, wy + wh + 40);
    rig.xdo(&["mousemove", &outside.0.to_string(), &outside.1.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.pointer(), outside, "not confined once released");
    assert_eq!(motion_sum(&server), (0, 0), "no deltas once released");
    rig.screenshot("released");

    // A focus change releases it too.
    rig.grab();
    assert_eq!(rig.cursor_pixels(), 0);
    rig.xdo(&["windowfocus", "--sync", &rig.other]);
    wait_until("the release on focus-out", || !rig.grabbed());
    assert!(rig.cursor_pixels() > 0);
    rig.xdo(&["mousemove", &outside.0.to_string(), &outside.1.to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.pointer(), outside, "not confined after the focus change");
    assert!(!mode_requested(&server));
    assert!(rig.app.log().contains("pointer grabbed"), "{}", rig.app.log());
}

/// The mouse position Xspice's own pointer is at.
pub(super) fn guest_pointer(xs: &Xspice) -> (i32, i32) {
    parse_location(&xs.xdotool(&["getmouselocation"]))
}

#[test]
fn xspice_stays_in_server_mode_and_the_pointer_is_grabbed() {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &tools()].concat();
    let Some(()) = require_real_servers(&tools) else {
        return;
    };
    let xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    let rig = Rig::start("xspice", &xs.uri());
    wait_until("the session initialised", || {
        rig.app.log().contains("main channel initialised")
    });
    wait_until("the inputs channel", || rig.app.log().contains("inputs channel ready"));
    let log = rig.app.log();
    let init = log
        .lines()
        .find(|l| l.contains("main channel initialised"))
        .unwrap_or_default()
        .to_owned();
    assert!(init.contains("mouse=1"), "Xspice starts in server mode: {init}");
    assert!(!log.contains("requesting mouse mode"), "{log}");
    assert!(!log.contains("mouse mode changed"), "{log}");

    let before = guest_pointer(&xs);
    // Not grabbed: moving over the window sends nothing (server mode has no absolute positions).
    let (_, _, w, h) = rig.geometry();
    rig.xdo(&["mousemove", "--window", &rig.window, "30", "60"]);
    rig.xdo(&[
        "mousemove",
        "--window",
        &rig.window,
        &(w / 2).to_string(),
        &(h / 2).to_string(),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        guest_pointer(&xs),
        before,
        "the guest pointer followed a client position"
    );

    rig.grab();
    let centre = rig.pointer();
    assert_eq!(rig.cursor_pixels(), 0);
    rig.move_by(40, 30);
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    let moved = guest_pointer(&xs);
    let delta = (moved.0 - before.0, moved.1 - before.1);
    eprintln!("Xspice pointer moved by {delta:?} for a (40, 30) delta");
    // Xspice ignores server-mode motion (empty callback); a fixed Xspice must move by exactly (40, 30).
    assert!(
        delta == (0, 0) || delta == (40, 30),
        "unexpected guest motion {delta:?}"
    );
    rig.move_by(-3000, 0);
    wait_until("the pointer back at the centre", || rig.pointer() == centre);
    rig.screenshot("xspice-grabbed");

    rig.xdo(&["key", "ctrl+alt"]);
    wait_until("the release", || !rig.grabbed());
    assert!(rig.cursor_pixels() > 0);
    rig.move_by(25, 5);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.pointer(), (centre.0 + 25, centre.1 + 5), "free once released");
    assert!(!rig.app.log().contains("requesting mouse mode"));
}
