//! Server mouse mode on **Wayland**: the `sumac` app as a Wayland client of a
//! real compositor locks the pointer (`zwp_pointer_constraints_v1`) and sends
//! the relative motion (`zwp_relative_pointer_v1`) to the guest.
//!
//! The compositor is Debian's weston 10, nested in a private Xvfb with its x11
//! backend and kiosk shell (the app's window centred in a 1280x1024 output), in
//! a private `XDG_RUNTIME_DIR`. weston's x11 backend turns each X motion event
//! over its window into a *relative* motion (the difference from the previous
//! X position), so `xdotool` moving the Xvfb pointer by known amounts drives
//! weston's seat like a mouse. When the X pointer leaves weston's window and
//! comes back elsewhere, weston moves its pointer there without any relative
//! motion: that is lifting the mouse and putting it down again, which lets the
//! test move the locked pointer further than the output is wide.
//!
//! - Against the test server (every inputs message recorded): the grabbing
//!   click is not the guest's; the compositor reports the lock; each X motion
//!   arrives as exactly the same MOUSE_MOTION delta; three strokes of 600
//!   pixels to the right, with a lift in between, arrive as 1800 (more than
//!   the 1280-pixel output, where absolute positions would have stopped); buttons and the
//!   wheel still reach the guest while locked; Ctrl+Alt ends the lock (no more
//!   deltas), and a second click locks again.
//! - Against a real Xspice kept in server mode (`--mouse-mode=server`): the
//!   session stays in server mode, the lock is taken and released the same
//!   way, and the deltas the client sent (its trace log) are exact. The
//!   guest's own pointer cannot be checked: Xspice ignores server-mode motion
//!   (xf86-video-qxl's `spiceqxl_inputs.c` leaves `mouse_motion` a TODO and
//!   registers only its tablet, see `server_mouse.rs`), so the test accepts
//!   "not moved" or "moved by exactly the deltas", as the X11 test does.

use super::server_mouse::{
    App, DBUS, WAIT, XEV, guest_pointer, mode_requested, motion_sum, parse_location, presses, wait_for, wait_until,
    waits_for_motion,
};
use super::{Guard, XDOTOOL, XVFB, start_xvfb, x_cmd};
use crate::real::{Tool, XSPICE_TOOLS, Xspice, XspiceOpts, artifact_dir, require_real_servers, run_with_timeout};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sumac::proto::ChannelType;
use sumac::proto::channel::inputs::button;
use sumac_test_server::{ServerConfig, TestServer};

const SUMAC: &str = env!("CARGO_BIN_EXE_sumac");
const TITLE: &str = "sumac-wayland-pointer";
const WESTON: Tool = Tool {
    binary: "weston",
    package: "weston",
};
/// weston's output: its X window, at the Xvfb root's origin. Larger than
/// the window of a 1024x768 guest at 100 % (weston's kiosk shell ends a client
/// whose window cannot fit the output with a protocol error).
const OUTPUT: (i32, i32) = (1280, 1024);
/// Where the app's window is (kiosk shell: centred in the output).
const CENTRE: (i32, i32) = (OUTPUT.0 / 2, OUTPUT.1 / 2);
const SOCKET: &str = "sumac-wayland-test";

fn tools() -> Vec<Tool> {
    // xwininfo (x11-utils, like xev) finds weston's X window.
    vec![XVFB, XDOTOOL, DBUS, XEV, WESTON]
}

/// An Xvfb, weston in it, and the app as weston's client.
struct WaylandRig {
    // Field order is drop order: the app, then its compositor, then the X server.
    app: App,
    _weston: Guard,
    _xvfb: Guard,
    _runtime: tempfile::TempDir,
    display: u32,
    out: PathBuf,
}

/// The geometry `WxH+X+Y` of weston's X window, from `xwininfo -root -children`.
fn weston_window(display: u32) -> Option<(i32, i32, i32, i32)> {
    let mut c = x_cmd(display, "xwininfo");
    c.args(["-root", "-children"]);
    let out = run_with_timeout(c, Duration::from_secs(10)).ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.contains("Weston Compositor"))?;
    // `0x200005 "Weston Compositor - screen0": ("weston-1" "Weston Compositor")  800x600+0+0  +0+0`
    let geometry = line.rsplit("  ").nth(1)?.trim();
    let (size, pos) = geometry.split_once('+')?;
    let (w, h) = size.split_once('x')?;
    let (x, y) = pos.split_once('+')?;
    Some((x.parse().ok()?, y.parse().ok()?, w.parse().ok()?, h.parse().ok()?))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl WaylandRig {
    fn start(name: &str, uri: &str) -> WaylandRig {
        let out = artifact_dir(&format!("gui-wayland-pointer-{name}"));
        let (xvfb, display) = start_xvfb(&out);
        // A private runtime directory (mode 0700): the socket name cannot clash.
        let runtime = tempfile::Builder::new()
            .prefix("sumac-wl-")
            .tempdir()
            .expect("XDG_RUNTIME_DIR");
        let weston_log = out.join("weston.log");
        let mut cmd = x_cmd(display, "weston");
        cmd.args([
            "--backend=x11-backend.so",
            &format!("--socket={SOCKET}"),
            &format!("--width={}", OUTPUT.0),
            &format!("--height={}", OUTPUT.1),
            "--use-pixman",
            "--shell=kiosk-shell.so",
            "--no-config",
        ])
        .arg(format!("--log={}", weston_log.display()))
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out.join("weston.out")).unwrap())
        .stderr(std::fs::File::create(out.join("weston.err")).unwrap());
        let mut weston = Guard(cmd.spawn().expect("start weston"));
        let socket = runtime.path().join(SOCKET);
        let start = Instant::now();
        while !(socket.exists() && weston_window(display).is_some()) {
            if let Ok(Some(status)) = weston.0.try_wait() {
                panic!("weston exited ({status}); log:\n{}", log_tail(&weston_log));
            }
            assert!(
                start.elapsed() < WAIT,
                "weston did not start within {WAIT:?}; log:\n{}",
                log_tail(&weston_log)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let geometry = weston_window(display);
        assert_eq!(
            geometry,
            Some((0, 0, OUTPUT.0, OUTPUT.1)),
            "weston's X window is not the expected output"
        );

        let config = out.join("config");
        std::fs::create_dir_all(&config).unwrap();
        let log = out.join("sumac.log");
        let mut cmd = Command::new("dbus-run-session");
        cmd.arg("--")
            .arg(SUMAC)
            .args(["-t", TITLE, "-z", "100", "--mouse-mode=server", uri])
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("WAYLAND_DISPLAY", SOCKET)
            .env("GDK_BACKEND", "wayland")
            .env("GTK_A11Y", "none")
            .env("XDG_CONFIG_HOME", &config)
            .env("GSETTINGS_BACKEND", "memory")
            .env("SUMAC_RENDERER", "cairo")
            // Debug, plus the input layer's trace: every delta the lock sent.
            .env("RUST_LOG", "sumac=debug,sumac::gtk::display::input=trace")
            // Wayland only: no way back to X11.
            .env_remove("DISPLAY")
            .env_remove("XAUTHORITY")
            .env_remove("GDK_SCALE")
            .env_remove("GSETTINGS_SCHEMA_DIR")
            .env_remove("SPICE_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let app = App {
            child: cmd.spawn().expect("start sumac"),
            log,
        };
        WaylandRig {
            app,
            _weston: weston,
            _xvfb: xvfb,
            _runtime: runtime,
            display,
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

    /// The Xvfb pointer: weston's input device.
    fn x_pointer(&self) -> (i32, i32) {
        parse_location(&self.xdo(&["getmouselocation"]))
    }

    fn move_by(&self, dx: i32, dy: i32) {
        self.xdo(&["mousemove_relative", "--", &dx.to_string(), &dy.to_string()]);
    }

    fn move_to(&self, x: i32, y: i32) {
        self.xdo(&["mousemove", &x.to_string(), &y.to_string()]);
    }

    /// Lifts the mouse and puts it down at (`x`, `y`) of the output: the X
    /// pointer leaves weston's window and comes back there (no relative motion).
    fn lift_to(&self, x: i32, y: i32) {
        self.move_to(OUTPUT.0 + 150, y);
        std::thread::sleep(Duration::from_millis(200));
        self.move_to(x, y);
        std::thread::sleep(Duration::from_millis(200));
    }

    fn count(&self, what: &str) -> usize {
        self.app.log().matches(what).count()
    }

    /// Clicks the app's window until the pointer is grabbed, then waits for
    /// the compositor to report the lock.
    fn grab(&self) {
        let (grabs, locks) = (self.count("pointer grabbed"), self.count("Wayland pointer locked"));
        let start = Instant::now();
        // The window may not be mapped yet: click again until it grabs.
        while self.count("pointer grabbed") == grabs {
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "no pointer grab; log:\n{}",
                self.app.log()
            );
            self.move_to(CENTRE.0, CENTRE.1);
            std::thread::sleep(Duration::from_millis(200));
            self.xdo(&["click", "1"]);
            let clicked = Instant::now();
            while self.count("pointer grabbed") == grabs && clicked.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        wait_for("the compositor's lock", || {
            (self.count("Wayland pointer locked") > locks).then_some(())
        });
        std::thread::sleep(Duration::from_millis(200));
    }

    fn release_with_hotkey(&self) {
        let released = self.count("pointer released");
        self.xdo(&["key", "ctrl+alt"]);
        wait_until("the release by Ctrl+Alt", || self.count("pointer released") > released);
    }

    /// Sum of the deltas the app says the lock sent (its trace log).
    fn sent_sum(&self) -> (i32, i32) {
        let field = |line: &str, key: &str| -> i32 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        self.app
            .log()
            .lines()
            .filter(|l| l.contains("locked pointer moved"))
            .fold((0, 0), |(x, y), l| (x + field(l, "gx="), y + field(l, "gy=")))
    }

    fn screenshot(&self, name: &str) {
        let mut c = x_cmd(self.display, "import");
        c.args(["-window", "root"]).arg(self.out.join(format!("{name}.png")));
        let _ = run_with_timeout(c, Duration::from_secs(20));
    }

    /// The motion part shared by both tests: exact deltas, and a lift that
    /// moves the locked pointer further than the output is wide. `settled`
    /// waits until the deltas sent since the last call sum to the argument.
    fn drive(&self, settled: &mut dyn FnMut((i32, i32))) {
        self.move_by(40, 30);
        settled((40, 30));
        self.move_by(-15, 7);
        self.move_by(3, -4);
        self.move_by(1, 1);
        settled((-11, 4));

        // Put the X pointer near the output's left edge: an ordinary motion.
        let at = self.x_pointer();
        let left = (20, CENTRE.1);
        self.move_to(left.0, left.1);
        settled((left.0 - at.0, left.1 - at.1));
        // 600 to the right, lift back to the left edge, twice more: 1800 in
        // all, more than the output is wide.
        self.move_by(600, 0);
        for _ in 0..2 {
            self.lift_to(left.0, left.1);
            self.move_by(600, 0);
        }
        settled((1800, 0));
        assert!(1800 > OUTPUT.0);
    }
}

#[test]
fn wayland_lock_sends_exact_relative_deltas() {
    let Some(()) = require_real_servers(&tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let rig = WaylandRig::start("test-server", &server.uri());
    let ok = server.wait_for(WAIT, |r| r.linked.iter().any(|l| l.0 == ChannelType::INPUTS));
    assert!(ok, "the inputs channel never linked; log:\n{}", rig.app.log());
    wait_until("the window", || rig.app.log().contains("opening a window"));
    assert!(
        !mode_requested(&server),
        "--mouse-mode=server must not ask for client mode"
    );

    rig.grab();
    assert_eq!(
        presses(&server),
        Vec::<u8>::new(),
        "the grabbing click is not the guest's"
    );
    assert!(
        rig.app.log().contains("Wayland pointer lock asked for"),
        "{}",
        rig.app.log()
    );
    rig.screenshot("locked");

    server.clear_inputs_log();
    let mut sent_before = rig.sent_sum();
    rig.drive(&mut |want| {
        waits_for_motion(&server, want);
        // The trace log says the same as the wire.
        let sent = rig.sent_sum();
        assert_eq!((sent.0 - sent_before.0, sent.1 - sent_before.1), want);
        server.clear_inputs_log();
        sent_before = sent;
    });

    // Buttons and the wheel still reach the guest while locked (through GTK).
    for b in ["1", "3", "2", "4", "5"] {
        rig.xdo(&["click", b]);
    }
    let ok = server.wait_for_inputs(WAIT, |log| {
        log.iter()
            .filter(|e| matches!(e.msg, sumac::proto::channel::inputs::InputsClient::MouseRelease { .. }))
            .count()
            >= 5
    });
    assert!(ok, "buttons: {:?}", server.inputs_log());
    assert_eq!(
        presses(&server),
        vec![button::LEFT, button::RIGHT, button::MIDDLE, button::UP, button::DOWN]
    );
    assert_eq!(motion_sum(&server), (0, 0), "clicks moved nothing");

    // Ctrl+Alt ends the lock: motion sends nothing any more.
    rig.release_with_hotkey();
    server.clear_inputs_log();
    rig.move_by(20, 10);
    rig.move_by(-5, 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(motion_sum(&server), (0, 0), "no deltas once released");
    rig.screenshot("released");

    // A second click locks again (new protocol objects).
    rig.grab();
    server.clear_inputs_log();
    rig.move_by(-25, 12);
    waits_for_motion(&server, (-25, 12));
    rig.release_with_hotkey();
    assert!(!mode_requested(&server));
    let log = rig.app.log();
    assert!(!log.contains("no Wayland pointer lock"), "{log}");
    assert!(!log.contains("the compositor ended the pointer lock"), "{log}");
}

#[test]
fn wayland_lock_against_xspice_in_server_mode() {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &tools()].concat();
    let Some(()) = require_real_servers(&tools) else {
        return;
    };
    let xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    let rig = WaylandRig::start("xspice", &xs.uri());
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

    let before = guest_pointer(&xs);
    rig.grab();
    let mut sent_before = rig.sent_sum();
    let mut guest_before = before;
    rig.drive(&mut |want| {
        wait_until("the client sent the deltas", || {
            let sent = rig.sent_sum();
            (sent.0 - sent_before.0, sent.1 - sent_before.1) == want
        });
        sent_before = rig.sent_sum();
        std::thread::sleep(Duration::from_millis(300));
        let now = guest_pointer(&xs);
        let delta = (now.0 - guest_before.0, now.1 - guest_before.1);
        // Xspice ignores server-mode motion; a server that honours it moves by exactly the deltas
        // (as far as its screen allows).
        assert!(
            delta == (0, 0) || delta == want,
            "guest pointer moved by {delta:?} for {want:?}"
        );
        guest_before = now;
    });
    eprintln!(
        "Xspice pointer {before:?} -> {:?} (server-mode motion is ignored by Xspice)",
        guest_pointer(&xs)
    );
    rig.screenshot("xspice-locked");

    rig.release_with_hotkey();
    let sent = rig.sent_sum();
    rig.move_by(30, 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rig.sent_sum(), sent, "no deltas once released");
    let log = rig.app.log();
    assert!(!log.contains("requesting mouse mode"), "{log}");
    assert!(!log.contains("mouse mode changed"), "{log}");
}
