//! The guest agent through the `sumac` app (on a private Xvfb) against real agents:
//! - Xspice with Debian's spice-vdagent: text copied in the Xspice session with `xclip` is
//!   pasted on the client's desktop (read with `xclip -o`) through the Sumac window, and back,
//!   on CLIPBOARD and PRIMARY, a PNG both ways pixel for pixel, 5 MB of text both ways;
//! - the real Linux guest: text both ways on CLIPBOARD and PRIMARY, then the Sumac window resized twice and the
//!   guest's resolution (`xrandr` in the guest) following it (Xspice cannot resize from the
//!   client: its QXL driver takes MONITORS_CONFIG and ignores it).

use crate::support::app::{App, wait_app_window};
use crate::support::artifact_dir;
use crate::support::process::Guard;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XORG, XSPICE, require_real_servers};
use crate::support::tools::{DBUS, Tool, VDAGENT, VDAGENTD, XCLIP, XDOTOOL, XRANDR, XVFB};
use crate::support::x11::{Xvfb, run_x, window_geometry, x_command, xdotool};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sumac::client::agent::{AgentOptions, MonitorSpec};
use sumac_test_guest::{CaseResult, Guest, GuestGroup, GuestOptions};

const WAIT: Duration = Duration::from_secs(60);
const GUEST_WAIT: Duration = Duration::from_secs(120);
const TITLE: &str = "sumac-agent-real";

/// `xclip -quiet -i` owning `selection` with `text` (run by `cmd`), until dropped.
fn xclip_owner(mut cmd: Command, selection: &str, text: &str) -> Guard {
    cmd.args(["-quiet", "-i", "-selection", selection])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start xclip");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    Guard(child)
}

/// Polls `paste()` (an `xclip -o` output) until it equals `want`.
fn wait_text(what: &str, want: &str, paste: &dyn Fn() -> Option<String>, app: &App) -> Duration {
    let start = Instant::now();
    loop {
        let got = paste();
        if got.as_deref() == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WAIT,
            "{what}: pasted {:?} ({} bytes), wanted {:?} ({} bytes); log:\n{}",
            got.as_deref().map(|g| g.chars().take(80).collect::<String>()),
            got.as_ref().map_or(0, String::len),
            want.chars().take(80).collect::<String>(),
            want.len(),
            app.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The current screen size of an `xrandr` listing ("Screen 0: minimum …, current 1024 x 768, …").
fn xrandr_current(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("current ").nth(1)?;
    let mut it = rest.split(',').next()?.split(" x ");
    let w = it.next()?.trim().parse().ok()?;
    let h = it.next()?.trim().parse().ok()?;
    Some((w, h))
}

#[test]
fn xspice_clipboard_through_the_app() {
    let tools: Vec<Tool> = vec![XSPICE, XORG, XCLIP, VDAGENT, VDAGENTD, XVFB, XDOTOOL, DBUS, XRANDR];
    let Some(()) = require_real_servers(&tools) else { return };
    let out = artifact_dir("gui-agent-xspice");
    let xs = Xspice::start(XspiceOpts {
        vdagent: true,
        ..Default::default()
    })
    .expect("start Xspice with its agent");
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let app = App::start_scaled(display, &out, 1, &["-t", &format!("{TITLE} %d"), &xs.uri()]);
    wait_app_window(display, &format!("{TITLE} 1"), &app);
    let start = Instant::now();
    while !app.log().contains("guest agent ready") {
        assert!(start.elapsed() < WAIT, "the agent never got ready; log:\n{}", app.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let local_paste = |selection: &str| {
        let out = run_x(display, "xclip", &["-o", "-selection", selection, "-t", "UTF8_STRING"]).ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let guest_paste = |selection: &str| {
        let out = xs
            .run_x("xclip", &["-o", "-selection", selection, "-t", "UTF8_STRING"])
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    for name in ["clipboard", "primary"] {
        let text = format!("copied in the Xspice session ({name})\nsecond line");
        let owner = xclip_owner(xs.x_command("xclip"), name, &text);
        let took = wait_text(&format!("{name} guest → desktop"), &text, &|| local_paste(name), &app);
        eprintln!("xspice gui: {name} guest → desktop in {took:?}");
        drop(owner);
        let text = format!("copied on the client's desktop ({name})\nsecond line");
        let owner = xclip_owner(x_command(display, "xclip"), name, &text);
        let took = wait_text(&format!("{name} desktop → guest"), &text, &|| guest_paste(name), &app);
        eprintln!("xspice gui: {name} desktop → guest in {took:?}");
        drop(owner);
    }

    // A PNG both ways, pixel for pixel.
    let (png, pixels) = crate::agent_client::png_pattern(120, 80);
    let png_file = out.join("pattern.png");
    std::fs::write(&png_file, &png).unwrap();
    let png_owner = |mut cmd: Command| {
        cmd.args(["-quiet", "-i", "-selection", "clipboard", "-t", "image/png"])
            .arg(&png_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Guard(cmd.spawn().expect("start xclip"))
    };
    let wait_png = |what: &str, paste: &dyn Fn() -> Option<Vec<u8>>| {
        let start = Instant::now();
        loop {
            if let Some(bytes) = paste().filter(|b| b.starts_with(b"\x89PNG")) {
                assert_eq!(
                    crate::agent_client::png_pixels(&bytes),
                    (120, 80, pixels.clone()),
                    "{what}: other pixels"
                );
                return start.elapsed();
            }
            assert!(start.elapsed() < WAIT, "{what}: no PNG pasted; log:\n{}", app.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let owner = png_owner(xs.x_command("xclip"));
    let took = wait_png("PNG guest → desktop", &|| {
        let out = run_x(display, "xclip", &["-o", "-selection", "clipboard", "-t", "image/png"]).ok()?;
        out.status.success().then_some(out.stdout)
    });
    eprintln!("xspice gui: PNG guest → desktop in {took:?}");
    drop(owner);
    let owner = png_owner(x_command(display, "xclip"));
    let took = wait_png("PNG desktop → guest", &|| {
        let out = xs
            .run_x("xclip", &["-o", "-selection", "clipboard", "-t", "image/png"])
            .ok()?;
        out.status.success().then_some(out.stdout)
    });
    eprintln!("xspice gui: PNG desktop → guest in {took:?}");
    drop(owner);

    // 5 MB of text both ways (X11 INCR transfers on both sides).
    let big = String::from_utf8(crate::agent_client::text(5 << 20)).unwrap();
    let big_file = out.join("big.txt");
    std::fs::write(&big_file, &big).unwrap();
    let big_owner = |mut cmd: Command| {
        cmd.args(["-quiet", "-i", "-selection", "clipboard"])
            .arg(&big_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Guard(cmd.spawn().expect("start xclip"))
    };
    let owner = big_owner(xs.x_command("xclip"));
    let took = wait_text("5 MB guest → desktop", &big, &|| local_paste("clipboard"), &app);
    eprintln!("xspice gui: 5 MB text guest → desktop in {took:?}");
    drop(owner);
    let owner = big_owner(x_command(display, "xclip"));
    let took = wait_text("5 MB desktop → guest", &big, &|| guest_paste("clipboard"), &app);
    eprintln!("xspice gui: 5 MB text desktop → guest in {took:?}");
    drop(owner);

    // No resize here: Xspice's QXL driver takes MONITORS_CONFIG from spice-server instead of
    // the agent and does not apply it (real-servers.md); the real guest proves it below.
}

/// `xclip -o` in the real guest's X session, when it succeeds.
fn guest_vm_paste(g: &Guest, selection: &str) -> Option<String> {
    let out = g
        .run_x(&format!("xclip -o -selection {selection} -t UTF8_STRING"))
        .ok()?;
    out.success().then_some(out.stdout)
}

/// The real guest's screen size (`xrandr --current`).
fn guest_vm_screen(g: &Guest) -> Option<(u32, u32)> {
    xrandr_current(&g.run_x("xrandr --current | head -n 1").ok()?.stdout)
}

/// The app on a private Xvfb against the real guest: clipboard both ways with `xclip` on each
/// side, then the window resized twice and the guest's mode following it.
fn app_case(g: &Guest) -> CaseResult {
    let out = artifact_dir("gui-agent-guest");
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let app = App::start_scaled(display, &out, 1, &["-t", &format!("{TITLE} %d"), &g.spice_uri()]);
    let window = wait_app_window(display, &format!("{TITLE} 1"), &app);
    let start = Instant::now();
    while !app.log().contains("guest agent ready") {
        assert!(
            start.elapsed() < GUEST_WAIT,
            "the agent never got ready; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let before = guest_vm_screen(g);

    for name in ["clipboard", "primary"] {
        // The guest copies (xclip in the guest, in the background), the desktop pastes.
        let text = format!("copied in the real guest ({name})\nsecond line");
        g.write_file("/tmp/sumac-copy.txt", text.as_bytes())?;
        let owner = g.spawn(&format!("xclip -quiet -i -selection {name} /tmp/sumac-copy.txt"), true)?;
        let local = || {
            let out = run_x(display, "xclip", &["-o", "-selection", name, "-t", "UTF8_STRING"]).ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let took = wait_text(&format!("{name} guest → desktop"), &text, &local, &app);
        eprintln!("real guest gui: {name} guest → desktop in {took:?}");
        let _ = owner.kill();
        let text = format!("copied on the client's desktop ({name})\nsecond line");
        let owner = xclip_owner(x_command(display, "xclip"), name, &text);
        let took = wait_text(
            &format!("{name} desktop → guest"),
            &text,
            &|| guest_vm_paste(g, name),
            &app,
        );
        eprintln!("real guest gui: {name} desktop → guest in {took:?}");
        drop(owner);
    }
    g.run_ok("rm -f /tmp/sumac-copy.txt")?;

    for (w, h) in [(900, 640), (1100, 780)] {
        xdotool(display, &["windowsize", &window, &w.to_string(), &h.to_string()]);
        let start = Instant::now();
        let got;
        loop {
            let geo = window_geometry(display, &window);
            let now = guest_vm_screen(g);
            // The display fills the window but for GTK's frame (no window manager) and the
            // header bar.
            if let Some((sw, sh)) = now
                && (geo.2, geo.3) == (w, h)
                && sw <= w as u32
                && sw + 20 >= w as u32
                && sh <= h as u32
                && sh + 100 > h as u32
            {
                got = (sw, sh);
                break;
            }
            assert!(
                start.elapsed() < GUEST_WAIT,
                "the guest screen stayed {now:?} (was {before:?}) for a {}x{} window; log:\n{}",
                geo.2,
                geo.3,
                app.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!(
            "real guest gui: window {w}x{h} → guest {}x{} after {:?} (was {before:?})",
            got.0,
            got.1,
            start.elapsed()
        );
    }
    drop(app);
    // Leave the guest as found (1024x768).
    if let Some(before) = before {
        let c = crate::agent_client::AgentClient::connect(&g.spice_uri(), AgentOptions::default(), GUEST_WAIT);
        c.agent.monitors_config(&[MonitorSpec::new(0, 0, before.0, before.1)])?;
        let start = Instant::now();
        while guest_vm_screen(g) != Some(before) && start.elapsed() < GUEST_WAIT {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    Ok(())
}

#[test]
fn real_guest_clipboard_and_resize_through_the_app() {
    let tools: Vec<Tool> = vec![XVFB, XDOTOOL, DBUS, XCLIP];
    let Some(()) = require_real_servers(&tools) else { return };
    GuestGroup::new("gui-agent", GuestOptions::default().agent())
        .case("app: clipboard both ways, window resize", app_case)
        .run();
}

#[test]
fn xrandr_listing_is_parsed() {
    let text = "Screen 0: minimum 320 x 200, current 1024 x 768, maximum 8192 x 8192\nqxl-0 connected";
    assert_eq!(xrandr_current(text), Some((1024, 768)));
    assert_eq!(xrandr_current("nothing"), None);
}
