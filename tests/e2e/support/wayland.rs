//! The `sumac` app as a Wayland client of a real compositor, for the server mouse mode tests
//! on Wayland (`tests/e2e/gui/wayland_pointer.rs` against the test server,
//! `tests/e2e/real/gui/wayland_pointer.rs` against Xspice): Debian's weston 10, nested in a
//! private Xvfb with its x11 backend and kiosk shell (the app's window centred in a 1280x1024
//! output), in a private `XDG_RUNTIME_DIR`.
//!
//! weston's x11 backend turns each X motion event over its window into a *relative* motion (the
//! difference from the previous X position), so `xdotool` moving the Xvfb pointer by known
//! amounts drives weston's seat like a mouse. When the X pointer leaves weston's window and
//! comes back elsewhere, weston moves its pointer there without any relative motion: that is
//! lifting the mouse and putting it down again, which lets a test move the locked pointer
//! further than the output is wide.

use super::app::App;
use super::artifact_dir;
use super::mouse::x11_tools;
use super::process::{Guard, log_tail};
use super::tools::{Tool, WESTON};
use super::wait::{WAIT, wait_for, wait_until};
use super::x11::{self, Xvfb};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

const TITLE: &str = "sumac-wayland-pointer";
/// weston's output: its X window, at the Xvfb root's origin. Larger than
/// the window of a 1024x768 guest at 100 % (weston's kiosk shell ends a client
/// whose window cannot fit the output with a protocol error).
pub const OUTPUT: (i32, i32) = (1280, 1024);
/// Where the app's window is (kiosk shell: centred in the output).
pub const CENTRE: (i32, i32) = (OUTPUT.0 / 2, OUTPUT.1 / 2);
const SOCKET: &str = "sumac-wayland-test";

/// What [`WaylandRig`] needs besides the server.
pub fn wayland_tools() -> Vec<Tool> {
    // xwininfo (x11-utils, like xev) finds weston's X window.
    [x11_tools(), vec![WESTON]].concat()
}

/// An Xvfb, weston in it, and the app as weston's client.
pub struct WaylandRig {
    // Field order is drop order: the app, then its compositor, then the X server.
    pub app: App,
    _weston: Guard,
    xvfb: Xvfb,
    _runtime: tempfile::TempDir,
    out: PathBuf,
}

/// The geometry `WxH+X+Y` of weston's X window, from `xwininfo -root -children`.
fn weston_window(display: u32) -> Option<(i32, i32, i32, i32)> {
    let out = x11::run_x(display, "xwininfo", &["-root", "-children"]).ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.contains("Weston Compositor"))?;
    // `0x200005 "Weston Compositor - screen0": ("weston-1" "Weston Compositor")  800x600+0+0  +0+0`
    let geometry = line.rsplit("  ").nth(1)?.trim();
    let (size, pos) = geometry.split_once('+')?;
    let (w, h) = size.split_once('x')?;
    let (x, y) = pos.split_once('+')?;
    Some((x.parse().ok()?, y.parse().ok()?, w.parse().ok()?, h.parse().ok()?))
}

impl WaylandRig {
    pub fn start(name: &str, uri: &str) -> WaylandRig {
        let out = artifact_dir(&format!("gui-wayland-pointer-{name}"));
        let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
        let display = xvfb.display;
        // A private runtime directory (mode 0700): the socket name cannot clash.
        let runtime = tempfile::Builder::new()
            .prefix("sumac-wl-")
            .tempdir()
            .expect("XDG_RUNTIME_DIR");
        let weston_log = out.join("weston.log");
        let mut cmd = xvfb.command("weston");
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
                panic!("weston exited ({status}); log:\n{}", log_tail(&weston_log, 30));
            }
            assert!(
                start.elapsed() < WAIT,
                "weston did not start within {WAIT:?}; log:\n{}",
                log_tail(&weston_log, 30)
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
        let mut cmd = App::command(&config, &["-t", TITLE, "-z", "100", "--mouse-mode=server", uri]);
        cmd.env("XDG_RUNTIME_DIR", runtime.path())
            .env("WAYLAND_DISPLAY", SOCKET)
            .env("GDK_BACKEND", "wayland")
            .env("SUMAC_RENDERER", "cairo")
            // Debug, plus the input layer's trace: every delta the lock sent.
            .env("RUST_LOG", "sumac=debug,sumac::gtk::display::input=trace")
            // Wayland only: no way back to X11.
            .env_remove("DISPLAY")
            .env_remove("XAUTHORITY")
            .env_remove("GDK_SCALE");
        let app = App::spawn(cmd, out.join("sumac.log"));
        WaylandRig {
            app,
            _weston: weston,
            xvfb,
            _runtime: runtime,
            out,
        }
    }

    /// Runs `xdotool args` on the Xvfb; panics when it fails.
    pub fn xdo(&self, args: &[&str]) -> String {
        x11::xdotool(self.xvfb.display, args)
    }

    /// The Xvfb pointer: weston's input device.
    fn x_pointer(&self) -> (i32, i32) {
        x11::pointer(self.xvfb.display)
    }

    pub fn move_by(&self, dx: i32, dy: i32) {
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
    pub fn grab(&self) {
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

    pub fn release_with_hotkey(&self) {
        let released = self.count("pointer released");
        self.xdo(&["key", "shift+F12"]);
        wait_until("the release by Shift+F12", || self.count("pointer released") > released);
    }

    /// Sum of the deltas the app says the lock sent (its trace log).
    pub fn sent_sum(&self) -> (i32, i32) {
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

    /// Saves the whole Xvfb screen (weston's output and the app in it).
    pub fn screenshot(&self, name: &str) {
        x11::screenshot(self.xvfb.display, "root", &self.out.join(format!("{name}.png")));
    }

    /// The motion part shared by both tests: exact deltas, and a lift that
    /// moves the locked pointer further than the output is wide. `settled`
    /// waits until the deltas sent since the last call sum to the argument.
    pub fn drive(&self, settled: &mut dyn FnMut((i32, i32))) {
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
