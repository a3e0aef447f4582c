//! X11 helpers keyed by display number, for the private Xvfb where a client window lives and
//! for Xspice's own X server alike: X clients with `DISPLAY=:N`, `xdotool`, window search,
//! window captures (ImageMagick `import`), the Caps Lock LED (`xset q`) and `xev` logs.

use super::Result;
use super::image::RgbImage;
use super::process::{Guard, run_with_timeout};
use super::wait::{WAIT, poll};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A private Xvfb on a display it picks itself (`-displayfd`); killed (by PID) when dropped.
pub struct Xvfb {
    /// The display number: `DISPLAY=:{display}`.
    pub display: u32,
    _server: Guard,
}

impl Xvfb {
    /// Starts an Xvfb with one `width`x`height` 24-bit screen, its stderr to `log` (or nowhere);
    /// returns once it accepts clients.
    pub fn start((width, height): (u32, u32), log: Option<&Path>) -> Xvfb {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("create the Xvfb log")),
            None => Stdio::null(),
        };
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", &format!("{width}x{height}x24")])
            .args(["-nolisten", "tcp", "-noreset"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start Xvfb");
        let stdout = child.stdout.take().expect("Xvfb's stdout");
        let server = Guard(child);
        // Xvfb writes its display number once it is ready for clients.
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("Xvfb display number");
        let display = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb printed {line:?} for its display number"));
        Xvfb {
            display,
            _server: server,
        }
    }

    /// A command for an X client of this server.
    pub fn command(&self, program: &str) -> Command {
        x_command(self.display, program)
    }
}

/// A command for an X client of `:display` (`DISPLAY` set, no `XAUTHORITY`).
pub fn x_command(display: u32, program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("DISPLAY", format!(":{display}")).env_remove("XAUTHORITY");
    c
}

/// Runs an X client of `:display` to completion (30 s at most) and returns its output, whatever
/// its status.
pub fn run_x(display: u32, program: &str, args: &[&str]) -> Result<Output> {
    let mut cmd = x_command(display, program);
    cmd.args(args);
    run_with_timeout(cmd, Duration::from_secs(30))
}

/// Runs `xdotool args` on `:display`; panics (naming the arguments) when it fails.
pub fn xdotool(display: u32, args: &[&str]) -> String {
    let out = run_x(display, "xdotool", args).expect("run xdotool");
    assert!(
        out.status.success(),
        "xdotool {args:?} on :{display}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The visible windows on `:display` whose name matches the regex `name` (empty on failure).
pub fn windows_named(display: u32, name: &str) -> Vec<String> {
    run_x(display, "xdotool", &["search", "--onlyvisible", "--name", name])
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (up to `timeout`) for a visible window whose name matches the regex `name`; its id.
pub fn wait_window(display: u32, name: &str, timeout: Duration) -> Option<String> {
    poll(timeout, Duration::from_millis(100), || {
        windows_named(display, name).into_iter().next()
    })
}

/// A window's pixels (ImageMagick `import -window`, as binary PPM); `window` may be `root`.
pub fn capture(display: u32, window: &str) -> Option<RgbImage> {
    let mut c = x_command(display, "import");
    c.args(["-window", window, "-depth", "8", "ppm:-"]);
    let out = run_with_timeout(c, Duration::from_secs(20)).ok()?;
    if !out.status.success() {
        return None;
    }
    RgbImage::decode(&out.stdout).ok()
}

/// Saves a window's pixels as a PNG for people to look at; does nothing when it cannot.
pub fn screenshot(display: u32, window: &str, path: &Path) {
    if let Some(img) = capture(display, window) {
        let _ = img.save_png(path);
    }
}

/// A window's position (on the root window) and size: `(x, y, width, height)`.
pub fn window_geometry(display: u32, window: &str) -> (i32, i32, i32, i32) {
    let geo = xdotool(display, &["getwindowgeometry", "--shell", window]);
    let field = |k: &str| -> i32 {
        geo.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {geo}"))
    };
    (field("X"), field("Y"), field("WIDTH"), field("HEIGHT"))
}

/// The pointer's position on the root window of `:display`.
pub fn pointer(display: u32) -> (i32, i32) {
    parse_location(&xdotool(display, &["getmouselocation"]))
}

/// `x:12 y:34 screen:0 window:56` (`xdotool getmouselocation`) → (12, 34).
pub fn parse_location(text: &str) -> (i32, i32) {
    let field = |k: &str| -> i32 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {text:?}"))
    };
    (field("x:"), field("y:"))
}

/// Whether `xset q` on `:display` reports Caps Lock on.
pub fn caps_lock_on(display: u32) -> bool {
    let out = run_x(display, "xset", &["q"]).expect("xset q");
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

/// A second top-level on `:display` (an `xev` named `sumac-other`, 100x100 at +1450+1050, far
/// from a client window at the origin) to move the focus to; its guard and window id.
pub fn focus_target(display: u32) -> (Guard, String) {
    let mut o = x_command(display, "xev");
    o.args(["-name", "sumac-other", "-geometry", "100x100+1450+1050"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let guard = Guard(o.spawn().expect("start xev on the Xvfb"));
    let id = wait_window(display, "sumac-other", WAIT).expect("the other window never appeared");
    (guard, id)
}

/// Waits until the `xev` log at `path` holds at least `n` ButtonPress events; returns them all
/// ([`xev_presses`]). Panics with what it saw after [`WAIT`].
pub fn wait_xev_presses(path: &Path, n: usize) -> Vec<(u32, i32, i32)> {
    let mut seen = Vec::new();
    let presses = poll(WAIT, Duration::from_millis(100), || {
        seen = xev_presses(&std::fs::read_to_string(path).unwrap_or_default());
        (seen.len() >= n).then(|| seen.clone())
    });
    presses.unwrap_or_else(|| panic!("xev saw only {seen:?}, wanted {n} button presses"))
}

/// `(button, root x, root y)` of every ButtonPress in an `xev` log.
pub fn xev_presses(log: &str) -> Vec<(u32, i32, i32)> {
    let mut out = Vec::new();
    for block in log.split("\n\n") {
        if !block.trim_start().starts_with("ButtonPress") {
            continue;
        }
        let button = block
            .split("button ")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok());
        let pos = block.split("root:(").nth(1).and_then(|s| {
            let (a, b) = s.split(')').next()?.split_once(',')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        });
        if let (Some(b), Some((x, y))) = (button, pos) {
            out.push((b, x, y));
        }
    }
    out
}
