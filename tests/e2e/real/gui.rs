//! The GTK widget against a real Xspice, pixel for pixel.
//!
//! Each test starts an Xspice server (the guest) and a private Xvfb (where
//! the client window lives), then re-runs this test binary as the GTK client
//! (`gui::embed_child`, ignored unless `SUMAC_GUI_CHILD_URI` is set): a plain
//! window with a [`Session`] and a [`Display`] at 100 % zoom, forced to the
//! GL or the cairo renderer. The window's guest area (`xwd -id`) must equal
//! the server's framebuffer (`xwd -root`), before and after a scripted change
//! on the server (an xterm moved, another one opened).

use crate::support::artifact_dir;
use crate::support::image::compare_images;
use crate::support::process::{Guard, run_with_timeout};
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::{Tool, XDOTOOL, XVFB};
use crate::support::x11::{self, Xvfb};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const CHILD_URI: &str = "SUMAC_GUI_CHILD_URI";
const CHILD_REPORT: &str = "SUMAC_GUI_CHILD_REPORT";
const WINDOW_TITLE: &str = "sumac-gui-test";

/// The GTK client run by [`pixel_exact`] in its own process and X server.
#[test]
#[ignore = "run by the gui tests as a child process"]
fn embed_child() {
    use gtk::glib;
    use gtk::prelude::*;
    use sumac::gtk::{Display, Session};

    let Ok(uri) = std::env::var(CHILD_URI) else {
        eprintln!("{CHILD_URI} not set: nothing to do");
        return;
    };
    let report = PathBuf::from(std::env::var(CHILD_REPORT).expect("report path"));
    gtk::init().expect("gtk init");
    let session = Session::new();
    let display = Display::new(&session, 0, 0);
    display.set_scaling(false);
    display.set_zoom_level(100);
    let window = gtk::Window::builder().title(WINDOW_TITLE).child(&display).build();
    let s = session.clone();
    display.connect_ready_notify(move |d| {
        let renderer = d.active_renderer().map_or("none", |r| r.name());
        let client_mouse = s.property::<bool>("client-mouse-mode");
        let line = format!("ready={} renderer={renderer} client_mouse={client_mouse}\n", d.ready());
        std::fs::write(&report, line).expect("write report");
    });
    session.connect_disconnected(|_, reason| eprintln!("child: disconnected: {reason}"));
    session.connect_uri(&uri).expect("connect");
    window.present();
    let main_loop = glib::MainLoop::new(None, false);
    main_loop.run();
}

/// Starts this test binary as the GTK client ([`embed_child`]) of `uri` on `:display`, with
/// `SUMAC_RENDERER=renderer`, `RUST_LOG=rust_log` and `env`; its output and report go to `out`.
/// Returns its guard, its window and the report's path.
fn start_embed_child(
    display: u32,
    uri: &str,
    out: &Path,
    renderer: &str,
    rust_log: &str,
    env: &[(&str, &str)],
) -> (Guard, String, PathBuf) {
    let report = out.join("child-report.txt");
    let _ = std::fs::remove_file(&report);
    let exe = std::env::current_exe().unwrap();
    // No GApplication in the child: it needs no session bus.
    let mut cmd = x11::x_command(display, exe.to_str().unwrap());
    cmd.args([
        "--exact",
        "gui::embed_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_URI, uri)
    .env(CHILD_REPORT, &report)
    .env("GDK_BACKEND", "x11")
    .env("GTK_A11Y", "none")
    .env("SUMAC_RENDERER", renderer)
    .env("RUST_LOG", rust_log)
    .env_remove("WAYLAND_DISPLAY")
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(out.join("child.log")).unwrap())
    .stderr(std::fs::File::create(out.join("child.err")).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Guard(cmd.spawn().expect("start the GTK child"));
    let window = x11::wait_window(display, WINDOW_TITLE, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no client window; see {}", out.join("child.err").display()));
    (child, window, report)
}

/// Polls until the window's guest area equals the server framebuffer;
/// panics with the last difference (and saves both images) on timeout.
fn wait_for_match(xs: &Xspice, display: u32, window: &str, what: &str, out: &Path) -> Duration {
    let start = Instant::now();
    let mut last = String::from("no capture");
    while start.elapsed() < Duration::from_secs(30) {
        let expected = xs.framebuffer().expect("xwd -root on Xspice");
        if let Some(shot) = x11::capture(display, window) {
            // At 100 % the widget is the guest's size; any extra space centres it.
            let (gw, gh) = (expected.width, expected.height);
            if shot.width >= gw && shot.height >= gh {
                let (ox, oy) = ((shot.width - gw) / 2, (shot.height - gh) / 2);
                let actual = shot.crop(ox, oy, gw, gh).expect("crop");
                let diff = compare_images(&actual, &expected, &[]);
                if diff.is_identical() {
                    actual.save_png(&out.join(format!("{what}-client.png"))).unwrap();
                    return start.elapsed();
                }
                last = format!("{diff}");
                actual.save_png(&out.join(format!("{what}-client.png"))).unwrap();
                expected.save_png(&out.join(format!("{what}-server.png"))).unwrap();
            } else {
                last = format!("window {}x{} smaller than the guest {gw}x{gh}", shot.width, shot.height);
                shot.save_png(&out.join(format!("{what}-window.png"))).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!(
        "{what}: the client never showed the server framebuffer: {last} (images in {})",
        out.display()
    );
}

/// `renderer`: the `SUMAC_RENDERER` value; `expected`: the renderer the client must end up
/// using; `env`: extra environment of the client.
fn pixel_exact(name: &str, renderer: &str, expected: &str, env: &[(&str, &str)]) {
    let tools: Vec<Tool> = XSPICE_TOOLS.iter().copied().chain([XVFB, XDOTOOL]).collect();
    let Some(()) = require_real_servers(&tools) else { return };
    let out = artifact_dir(&format!("gui-{name}"));
    let mut xs = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    xs.set_root_color([0x30, 0x60, 0x90]).expect("root colour");
    xs.spawn_xterm("40x8+40+50", "hello sumac").expect("xterm");
    xs.wait_for_stable_framebuffer(Duration::from_millis(800), Duration::from_secs(20))
        .expect("stable framebuffer");

    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let (child, window, report) = start_embed_child(display, &xs.uri(), &out, renderer, "sumac=info", env);
    let first = wait_for_match(&xs, display, &window, "initial", &out);
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(
        text.contains(&format!("renderer={expected}")),
        "the client did not use the {expected} renderer: {text:?}"
    );

    // A scripted change on the server: move the xterm, open another one.
    let mut c = xs.x_command("xdotool");
    c.args(["search", "--class", "xterm", "windowmove", "%@", "300", "260"]);
    run_with_timeout(c, Duration::from_secs(10)).expect("xdotool windowmove");
    xs.spawn_xterm("30x4+500+500", "changed by the test")
        .expect("second xterm");
    xs.wait_for_stable_framebuffer(Duration::from_millis(800), Duration::from_secs(20))
        .expect("stable framebuffer after the change");
    let second = wait_for_match(&xs, display, &window, "changed", &out);

    // A terminal scrolling line by line (COPY_BITS, replayed on the X11
    // layer's pixmap).
    xs.spawn_xterm_running(
        "50x8+60+330",
        "i=0; while [ $i -lt 120 ]; do i=$((i+1)); echo scrolled line $i; sleep 0.02; done; exec sleep 100000",
    )
    .expect("scrolling xterm");
    xs.wait_for_stable_framebuffer(Duration::from_millis(800), Duration::from_secs(30))
        .expect("stable framebuffer after scrolling");
    let third = wait_for_match(&xs, display, &window, "scrolled", &out);
    eprintln!(
        "gui {name}: pixel-exact after {:.1} s, again {:.1} s after the change, {:.1} s after scrolling",
        first.as_secs_f64(),
        second.as_secs_f64(),
        third.as_secs_f64()
    );
    drop(child);
}

mod agent;
mod agent_bench;
mod console;
mod displays_menu;
mod hidpi;
mod input;
mod machine;
mod multimon;
mod password;
mod server_mouse;
mod stats_overlay;
mod wayland_pointer;

#[test]
fn xspice_pixel_exact_gl() {
    pixel_exact("gl", "gl", "gl", &[]);
}

#[test]
fn xspice_pixel_exact_cairo() {
    pixel_exact("cairo", "cairo", "cairo", &[]);
}

#[test]
fn xspice_pixel_exact_x11() {
    pixel_exact("x11", "x11", "x11", &[]);
}

/// The X11 layer's other upload path: `PutImage` through the socket (as over
/// `ssh -X`, where MIT-SHM cannot be used).
#[test]
fn xspice_pixel_exact_x11_without_shm() {
    pixel_exact("x11-no-shm", "x11", "x11", &[("SUMAC_X11_NO_SHM", "1")]);
}

/// Automatic choice without GL (`GDK_DEBUG=gl-disable`) on X11 must end up
/// on the X11 layer (the X server draws the guest).
#[test]
fn xspice_pixel_exact_auto_without_gl() {
    pixel_exact("auto-gl-disable", "auto", "x11", &[("GDK_DEBUG", "gl-disable")]);
}
