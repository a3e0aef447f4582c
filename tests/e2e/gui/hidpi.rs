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
//!
//! The helpers (app launcher, exact sub-image search, XFixes probe) are shared
//! with `multimon.rs`.

use super::{Guard, XDOTOOL, XVFB, capture, start_xvfb, x_cmd};
use crate::real::{
    RgbImage, Tool, XSPICE_TOOLS, Xspice, XspiceOpts, artifact_dir, child_pids, pid_alive, require_real_servers,
    run_with_timeout, signal_pid, wait_pid_gone, xev_presses,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const SUMAC: &str = env!("CARGO_BIN_EXE_sumac");
pub(super) const WAIT: Duration = Duration::from_secs(30);

pub(super) const DBUS: Tool = Tool {
    binary: "dbus-run-session",
    package: "dbus",
};
pub(super) const XRANDR: Tool = Tool {
    binary: "xrandr",
    package: "x11-xserver-utils",
};
const XEV: Tool = Tool {
    binary: "xev",
    package: "x11-utils",
};
const CC: Tool = Tool {
    binary: "cc",
    package: "gcc (and libxfixes-dev for the cursor probe)",
};

/// The `sumac` app under `dbus-run-session` on an Xvfb; its processes are
/// stopped by PID when dropped.
pub(super) struct App {
    child: Child,
    log: PathBuf,
}

impl App {
    /// Starts `sumac args` on display `:display` at GDK scale `scale`; its log goes to `out`.
    pub(super) fn start(display: u32, out: &Path, scale: u32, args: &[&str]) -> App {
        let log = out.join("sumac.log");
        let config = out.join("config");
        std::fs::create_dir_all(&config).unwrap();
        let mut cmd = x_cmd(display, "dbus-run-session");
        cmd.arg("--")
            .arg(SUMAC)
            .args(args)
            .env("GDK_BACKEND", "x11")
            .env("GDK_SCALE", scale.to_string())
            .env("GTK_A11Y", "none")
            .env("XDG_CONFIG_HOME", &config)
            .env("GSETTINGS_BACKEND", "memory")
            .env("RUST_LOG", "sumac=debug")
            .env_remove("GDK_DPI_SCALE")
            .env_remove("GSETTINGS_SCHEMA_DIR")
            .env_remove("SUMAC_RENDERER")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("start sumac under dbus-run-session");
        App { child, log }
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(super) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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

/// The visible windows on `:display` whose whole name matches the regex `name`.
pub(super) fn windows_named(display: u32, name: &str) -> Vec<String> {
    let mut c = x_cmd(display, "xdotool");
    c.args(["search", "--onlyvisible", "--name", name]);
    run_with_timeout(c, Duration::from_secs(10))
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for a visible window named exactly `title`.
pub(super) fn wait_window(display: u32, title: &str, app: &App) -> String {
    let pattern = format!("^{title}$");
    let start = Instant::now();
    loop {
        if let Some(id) = windows_named(display, &pattern).into_iter().next() {
            return id;
        }
        assert!(
            start.elapsed() < WAIT,
            "no window named {title:?} within {WAIT:?}; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `xdotool args` on the Xvfb; panics when it fails.
pub(super) fn local(display: u32, args: &[&str]) -> String {
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

/// Where `needle` appears in `hay` with every pixel equal.
pub(super) fn find_exact(hay: &RgbImage, needle: &RgbImage) -> Option<(u32, u32)> {
    if needle.width == 0 || needle.height == 0 || needle.width > hay.width || needle.height > hay.height {
        return None;
    }
    let (hw, nw, nh) = (hay.width as usize, needle.width as usize, needle.height as usize);
    let row = nw * 3;
    let hay_row = |x: usize, y: usize| &hay.data[(y * hw + x) * 3..(y * hw + x) * 3 + row];
    let needle_row = |y: usize| &needle.data[y * row..(y + 1) * row];
    for oy in 0..=(hay.height - needle.height) as usize {
        for ox in 0..=(hay.width - needle.width) as usize {
            if (0..nh).all(|y| hay_row(ox, oy + y) == needle_row(y)) {
                return Some((ox as u32, oy as u32));
            }
        }
    }
    None
}

/// Captures `window` until `expected()` appears in it pixel for pixel; returns
/// its offset in the window and the last capture. Panics (saving both images) on timeout.
pub(super) fn wait_for_guest(
    display: u32,
    window: &str,
    expected: &dyn Fn() -> RgbImage,
    what: &str,
    out: &Path,
    app: &App,
) -> ((u32, u32), RgbImage) {
    let start = Instant::now();
    loop {
        let want = expected();
        let shot = capture(display, window);
        if let Some(shot) = &shot
            && let Some(at) = find_exact(shot, &want)
        {
            shot.save_png(&out.join(format!("{what}-window.png"))).unwrap();
            return (at, shot.clone());
        }
        if start.elapsed() > WAIT {
            want.save_png(&out.join(format!("{what}-server.png"))).unwrap();
            if let Some(shot) = &shot {
                shot.save_png(&out.join(format!("{what}-window.png"))).unwrap();
            }
            panic!(
                "{what}: the {}x{} guest never appeared 1:1 in the {} window (images in {}); log:\n{}",
                want.width,
                want.height,
                shot.map_or_else(|| "uncapturable".to_owned(), |s| format!("{}x{}", s.width, s.height)),
                out.display(),
                app.log()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// An X cursor as XFixes reports it: size, hot spot, ARGB (premultiplied) pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct XCursor {
    pub width: u32,
    pub height: u32,
    pub hot: (u32, u32),
    pub argb: Vec<u32>,
}

impl XCursor {
    fn alpha(&self) -> Vec<u32> {
        self.argb.iter().map(|p| p >> 24).collect()
    }
}

const XFIXES_PROBE: &str = r#"
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>
#include <stdio.h>
/* The cursor the X server shows now: "W H XHOT YHOT", then one ARGB word per pixel. */
int main(void) {
    Display *dpy = XOpenDisplay(NULL);
    int event_base, error_base;
    if (!dpy) return 2;
    if (!XFixesQueryExtension(dpy, &event_base, &error_base)) return 3;
    XFixesCursorImage *img = XFixesGetCursorImage(dpy);
    if (!img) return 4;
    printf("%u %u %u %u\n", img->width, img->height, img->xhot, img->yhot);
    for (int i = 0; i < img->width * img->height; i++)
        printf("%lx\n", img->pixels[i] & 0xffffffffUL);
    XFree(img);
    XCloseDisplay(dpy);
    return 0;
}
"#;

/// Builds the XFixes probe in `dir`. Missing compiler or headers: the cursor
/// check fails under `CI`, else it is skipped (`None`) with a message.
pub(super) fn build_xfixes_probe(dir: &Path) -> Option<PathBuf> {
    require_real_servers(&[CC])?;
    let src = dir.join("xfixes_cursor.c");
    let bin = dir.join("xfixes_cursor");
    std::fs::write(&src, XFIXES_PROBE).unwrap();
    let out = std::process::Command::new("cc")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .args(["-lX11", "-lXfixes"])
        .output()
        .expect("run cc");
    if out.status.success() {
        return Some(bin);
    }
    let why = format!(
        "cannot build the XFixes probe (install libx11-dev and libxfixes-dev): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipping the cursor check: {why}");
    None
}

/// Runs the probe built by [`build_xfixes_probe`] on display `:display`.
pub(super) fn xfixes_cursor(probe: &Path, display: u32) -> XCursor {
    let c = x_cmd(display, probe.to_str().unwrap());
    let out = run_with_timeout(c, Duration::from_secs(10)).expect("run the XFixes probe");
    assert!(
        out.status.success(),
        "XFixes probe on :{display} failed: {:?}",
        out.status
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let head: Vec<u32> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    XCursor {
        width: head[0],
        height: head[1],
        hot: (head[2], head[3]),
        argb: lines.map(|l| u32::from_str_radix(l, 16).unwrap()).collect(),
    }
}

/// Waits until the Xvfb shows the guest's cursor: same size, hot spot and
/// alpha as XFixes reports on Xspice, the same colour on every opaque pixel
/// and within one step per channel on translucent ones. Returns the cursor
/// and how many translucent pixels differ at all (rounding).
fn wait_same_cursor(probe: &Path, xs: &Xspice, display: u32, what: &str) -> (XCursor, usize) {
    let start = Instant::now();
    loop {
        let guest = xfixes_cursor(probe, xs.display);
        let shown = xfixes_cursor(probe, display);
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

    let (_xvfb, display) = start_xvfb(&out);
    // A short title: at scale 3 the header bar must stay narrower than the Xvfb.
    let title = "hd";
    let app = App::start(
        display,
        &out,
        scale,
        &["--renderer", renderer, "-t", &format!("{title} %d"), &xs.uri()],
    );
    let window = wait_window(display, &format!("{title} 1"), &app);
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
    local(display, &["windowfocus", "--sync", &window]);
    for (gx, gy) in CLICKS {
        let (x, y) = ((ox + gx).to_string(), (oy + gy).to_string());
        local(display, &["mousemove", "--window", &window, &x, &y]);
        std::thread::sleep(Duration::from_millis(200));
        local(display, &["click", "1"]);
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
    if let Some(probe) = build_xfixes_probe(&out) {
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
            local(display, &["mousemove", "--window", &window, &x, &y]);
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
