//! The app's stats overlay over a real video stream: Xspice streams ffplay's
//! clip (`--streaming-video all`, VP8 through GStreamer), the `sumac` app
//! shows it on a private Xvfb with its default renderer (the X11 layer
//! there: the panel must show above the child X window). Ctrl+Shift+S shows
//! the panel at the display's top-left corner (those pixels change; the
//! panel's text, which the app logs at each refresh, names the VP8 stream,
//! its decoder and frame rates above zero); pressing it again hides it (the
//! corner shows the guest pixel for pixel again).

use crate::support::app::{App, wait_app_window, wait_for_guest};
use crate::support::artifact_dir;
use crate::support::image::RgbImage;
use crate::support::process::Guard;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::{DBUS, FFMPEG, FFPLAY, Tool, XDOTOOL, XVFB};
use crate::support::wait::{WAIT, poll};
use crate::support::x11::{self, Xvfb};
use crate::video::{CLIP_X, CLIP_Y};
use std::process::Stdio;
use std::time::Duration;

const TITLE: &str = "sumac-stats";
/// The guest's top-left corner, plain root colour (ffplay plays at CLIP_X, CLIP_Y = 120, 100).
const CORNER: (u32, u32) = (110, 95);
const ROOT: [u8; 3] = [0x30, 0x60, 0x90];

/// The last panel text the app logged (`stats overlay:` and the lines after it).
fn last_panel(log: &str) -> Option<String> {
    let start = log.rfind("stats overlay:\n")?;
    let text: Vec<&str> = log
        .get(start..)?
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("20") && !l.contains(" DEBUG ") && !l.contains(" INFO "))
        .collect();
    Some(text.join("\n"))
}

/// `(received, shown)` frames per second of the first stream line of `panel`.
fn rates(panel: &str) -> Option<(f64, f64)> {
    let line = panel.lines().find(|l| l.contains(" fps received, "))?;
    let after_size = line.split(", ").skip(1).collect::<Vec<_>>();
    let received = after_size.first()?.strip_suffix(" fps received")?.parse().ok()?;
    let shown = after_size.get(1)?.strip_suffix(" shown")?.parse().ok()?;
    Some((received, shown))
}

/// ffplay showing `clip` over and over (as `video::play` does, looped), stopped when dropped.
fn play_looped(xs: &Xspice, clip: &std::path::Path) -> Guard {
    let mut cmd = xs.x_command("ffplay");
    cmd.env("SDL_VIDEODRIVER", "x11")
        .env("SDL_RENDER_DRIVER", "software")
        .env("SDL_AUDIODRIVER", "dummy")
        .args(["-v", "error", "-an", "-noborder", "-loop", "0"])
        .args(["-left", &CLIP_X.to_string(), "-top", &CLIP_Y.to_string()])
        .arg(clip)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Guard(cmd.spawn().expect("start ffplay"))
}

/// How many pixels of `shot`'s `w`×`h` area at `at` are not the root colour.
fn covered(shot: &RgbImage, at: (u32, u32), (w, h): (u32, u32)) -> usize {
    let area = shot.crop(at.0, at.1, w, h).expect("corner inside the capture");
    (w * h) as usize - area.count_color(ROOT)
}

#[test]
fn stats_overlay_toggles_over_a_video_stream() {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &[XVFB, XDOTOOL, DBUS, FFMPEG, FFPLAY]].concat();
    let Some(()) = require_real_servers(&tools) else { return };
    let out = artifact_dir("gui-stats-overlay");
    let xs = Xspice::start(XspiceOpts {
        streaming_video: Some("all"),
        video_codecs: Some("gstreamer:vp8"),
        ..Default::default()
    })
    .expect("start Xspice");
    xs.set_root_color(ROOT).expect("root colour");
    let clip = crate::video::make_clip(xs.scratch_dir());
    let _player = play_looped(&xs, &clip);

    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let app = App::start_scaled(display, &out, 1, &["-t", TITLE, &xs.uri()]);
    let window = wait_app_window(display, TITLE, &app);
    let corner = || {
        xs.framebuffer()
            .expect("xwd -root on Xspice")
            .crop(0, 0, CORNER.0, CORNER.1)
            .expect("corner")
    };
    // The guest's corner, 1:1 on the client's screen (root capture: the panel is a popup).
    let (at, _) = wait_for_guest(display, "root", &corner, "before", &out, &app);
    let inner = (at.0 + 12, at.1 + 12);
    let inner_size = (CORNER.0 - 12, CORNER.1 - 12);
    x11::xdotool(display, &["windowfocus", "--sync", &window]);

    // Shown: the corner changes, the text names the stream and its rates.
    x11::xdotool(display, &["key", "ctrl+shift+s"]);
    let shown = poll(WAIT, Duration::from_millis(300), || {
        let shot = x11::capture(display, "root")?;
        (covered(&shot, inner, inner_size) > (inner_size.0 * inner_size.1 / 2) as usize).then_some(shot)
    });
    let Some(shot) = shown else {
        x11::screenshot(display, "root", &out.join("no-panel.png"));
        panic!(
            "the stats panel never covered the display's corner; log:\n{}",
            app.log()
        );
    };
    shot.save_png(&out.join("panel.png")).unwrap();
    let panel = poll(WAIT, Duration::from_millis(300), || {
        let p = last_panel(&app.log())?;
        let (received, shown) = rates(&p)?;
        (p.contains(": VP8 via ") && received > 0.0 && shown > 0.0).then_some(p)
    })
    .unwrap_or_else(|| panic!("the panel never showed a VP8 stream with frames; log:\n{}", app.log()));
    eprintln!("stats panel:\n{panel}");
    let stream = panel.lines().find(|l| l.contains(": VP8 via ")).unwrap();
    assert!(
        stream.ends_with("(software)") || stream.ends_with("(hardware)"),
        "no decoder named: {stream}"
    );
    assert!(panel.contains("640×360"), "{panel}");
    assert!(panel.contains("display 0: "), "no display channel bandwidth: {panel}");
    assert!(panel.contains("main 0: "), "no main channel bandwidth: {panel}");

    // Hidden: the corner shows the guest again, pixel for pixel.
    x11::xdotool(display, &["key", "ctrl+shift+s"]);
    let gone = poll(WAIT, Duration::from_millis(300), || {
        let shot = x11::capture(display, "root")?;
        let want = corner();
        (shot.crop(at.0, at.1, CORNER.0, CORNER.1)? == want).then_some(())
    });
    if gone.is_none() {
        x11::screenshot(display, "root", &out.join("panel-stays.png"));
        panic!(
            "the stats panel did not go away on the second press; log:\n{}",
            app.log()
        );
    }
    assert!(app.log().contains("stats overlay shown=false"), "log:\n{}", app.log());
}
