//! The `sumac` desktop app under Xvfb against the test server: the session
//! window (title, guest pixels), the error overlay with Reconnect, kiosk exit
//! on disconnect, the connect window with recent connections, a Proxmox-style
//! `.vv` through an HTTP CONNECT proxy with TLS, `--version` and
//! unknown options.
//!
//! Needs Xvfb, dbus-run-session, xdotool and ImageMagick's `import`; without
//! them the GUI tests skip (and fail when `CI` is set).

use crate::support::app::{App, SUMAC};
use crate::support::artifact_dir;
use crate::support::desktop::{guest_key_presses, guest_keys_down};
use crate::support::image::RgbImage;
use crate::support::process::pid_alive;
use crate::support::tools::{DBUS, IMPORT, Tool, XDOTOOL, XVFB, require_tools};
use crate::support::x11::{self, Xvfb};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use sumac_test_server::{ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(30);

const GUI_TOOLS: &[Tool] = &[XVFB, DBUS, XDOTOOL, IMPORT];

/// An Xvfb for the app: 1280x1024, so the pointer can be parked at its corner (1279, 1023).
pub(crate) fn start_xvfb() -> Xvfb {
    Xvfb::start((1280, 1024), None)
}

/// `sumac args` on the Xvfb, with its configuration (and its log) in `config_home`.
pub(crate) fn start_app(x: &Xvfb, config_home: &Path, args: &[&str]) -> App {
    start_app_env(x, config_home, args, &[])
}

/// [`start_app`] with environment changes applied last (`None` removes).
fn start_app_env(x: &Xvfb, config_home: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> App {
    let log = config_home.join(format!("sumac-{}.log", args.join("_").replace(['/', ':'], "_")));
    // The app's own renderer choice (`App::command` removes SUMAC_RENDERER), as a user gets
    // it: on this Xvfb (no DRI) GL is turned off and the X11 screen layer shows the guest, so
    // the overlay (error, Reconnect) must show over its window. The renderers themselves are
    // compared pixel for pixel in the real binary's gui.rs.
    let mut cmd = App::x11_command(x.display, config_home, args);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    App::spawn(cmd, log)
}

/// Finds a visible window whose title contains `name`.
pub(crate) fn find_window(x: &Xvfb, name: &str, app: &App) -> String {
    x11::wait_window(x.display, name, WAIT)
        .unwrap_or_else(|| panic!("no window named {name:?} within {WAIT:?}; log:\n{}", app.log()))
}

fn window_title(x: &Xvfb, id: &str) -> String {
    let out = x.command("xdotool").args(["getwindowname", id]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub(crate) fn capture(x: &Xvfb, id: &str) -> RgbImage {
    x11::capture(x.display, id).unwrap_or_else(|| panic!("import -window {id} failed"))
}

/// Most pixels the guest cursor (drawn over the guest by the cursor layer,
/// at most 64x64) may hide.
const CURSOR_PIXELS: usize = 64 * 64;

/// Where `needle` appears inside `hay`: every pixel equal except at most
/// [`CURSOR_PIXELS`] (the guest cursor). Candidates are the offsets where the
/// needle's last row matches exactly (the cursor sits near the top-left).
fn find_subimage(hay: &RgbImage, needle_w: u32, needle_h: u32, needle: &[u8]) -> Option<(u32, u32, usize)> {
    if needle_w > hay.width || needle_h > hay.height {
        return None;
    }
    let row = needle_w as usize * 3;
    let last = &needle[(needle_h as usize - 1) * row..needle_h as usize * row];
    for oy in 0..=hay.height - needle_h {
        for ox in 0..=hay.width - needle_w {
            let at = |y: usize| ((oy as usize + y) * hay.width as usize + ox as usize) * 3;
            let l = at(needle_h as usize - 1);
            if hay.data[l..l + row] != *last {
                continue;
            }
            let mut differ = 0usize;
            for y in 0..needle_h as usize {
                let h = &hay.data[at(y)..at(y) + row];
                let n = &needle[y * row..(y + 1) * row];
                differ += h.chunks(3).zip(n.chunks(3)).filter(|(a, b)| a != b).count();
                if differ > CURSOR_PIXELS {
                    break;
                }
            }
            if differ <= CURSOR_PIXELS {
                return Some((ox, oy, differ));
            }
        }
    }
    None
}

/// Captures the window until the scene shows up exactly (rendering is asynchronous).
pub(crate) fn wait_for_scene(x: &Xvfb, id: &str, server: &ServerConfig, app: &App, what: &str) -> (u32, u32, usize) {
    let size = (server.scene.width, server.scene.height);
    wait_for_rgb(x, id, size, &server.scene.expected_rgb, app, what)
}

/// Captures the window until the `size` RGB image `rgb` shows up exactly
/// (but for the cursor layer); saves the last capture on failure.
pub(crate) fn wait_for_rgb(
    x: &Xvfb,
    id: &str,
    size: (u32, u32),
    rgb: &[u8],
    app: &App,
    what: &str,
) -> (u32, u32, usize) {
    let start = Instant::now();
    loop {
        let img = x11::capture(x.display, id)
            .unwrap_or_else(|| panic!("{what}: import -window {id} failed; log:\n{}", app.log()));
        if let Some(at) = find_subimage(&img, size.0, size.1, rgb) {
            return at;
        }
        if start.elapsed() > WAIT {
            let path = artifact_dir("app").join(format!("{what}.png"));
            img.save_png(&path).unwrap();
            panic!(
                "{what}: the {}x{} scene never appeared pixel-exactly in the window (last capture {}); log:\n{}",
                size.0,
                size.1,
                path.display(),
                app.log()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Bounding box of the pixels close to Adwaita's accent blue (the suggested-action Reconnect button).
pub(crate) fn find_accent_button(img: &RgbImage) -> Option<(u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1, mut n) = (u32::MAX, u32::MAX, 0, 0, 0u32);
    for y in 0..img.height {
        for x in 0..img.width {
            let [r, g, b] = img.pixel(x, y);
            let close = |v: u8, t: u8| v.abs_diff(t) <= 24;
            // #3584e4 (button) / #1c71d8 (hover)
            if (close(r, 0x35) && close(g, 0x84) && close(b, 0xe4))
                || (close(r, 0x1c) && close(g, 0x71) && close(b, 0xd8))
            {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
                n += 1;
            }
        }
    }
    (n > 100).then(|| ((x0 + x1) / 2, (y0 + y1) / 2))
}

pub(crate) fn gui_available() -> bool {
    require_tools(GUI_TOOLS).is_some()
}

#[test]
fn app_version_and_unknown_option() {
    let out = Command::new(SUMAC).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("sumac {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(SUMAC).arg("--no-such-option").output().unwrap();
    assert!(!out.status.success(), "unknown option must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--no-such-option"), "{err}");
    assert!(err.contains("Usage: sumac"), "help text expected on stderr: {err}");
}

#[test]
fn app_session_window_error_and_reconnect() {
    if !gui_available() {
        return;
    }
    let config = ServerConfig::default();
    let mut server = TestServer::start(config.clone()).unwrap();
    let port = server.port();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let uri = format!("spice://127.0.0.1:{port}");
    let app = start_app(&x, home.path(), &["--zoom", "100", &uri]);

    // The title carries the server's name.
    let id = find_window(&x, &config.name, &app);
    let title = window_title(&x, &id);
    assert!(title.contains("sumac-test-server"), "title {title:?}");
    // Keep the pointer off the window: only the guest's pixels are compared.
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    let at = wait_for_scene(&x, &id, &config, &app, "first-connect");
    eprintln!("guest area found at {at:?} in window {id} ({title})");

    // Killing the server: the window stays, with the error and a Reconnect button.
    server.stop();
    drop(server);
    // The channels may fail one by one before the session ends, each showing
    // the error page; look for the button once the page shows the session's end.
    assert!(
        crate::support::wait::poll_until(WAIT, || app.log().contains("session ended")),
        "the session did not end; log:\n{}",
        app.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let button = loop {
        let img = capture(&x, &id);
        if let Some(b) = find_accent_button(&img) {
            break b;
        }
        if start.elapsed() > WAIT {
            let path = artifact_dir("app").join("error-overlay.png");
            img.save_png(&path).unwrap();

            panic!(
                "no Reconnect button after the server died ({}); log:\n{}",
                path.display(),
                app.log()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let log = app.log();
    assert!(log.contains("session ended"), "the error is logged: {log}");
    assert!(pid_alive(app.pid()), "the app must stay open on error");

    // Restart the server on the same port and click Reconnect.
    let server = TestServer::start_on(config.clone(), port, 0).unwrap();
    x.command("xdotool")
        .args([
            "mousemove",
            "--window",
            &id,
            &button.0.to_string(),
            &button.1.to_string(),
            "click",
            "1",
        ])
        .status()
        .unwrap();
    assert!(
        server.wait_for(WAIT, |r| !r.linked.is_empty()),
        "Reconnect did not reach the server; log:\n{}",
        app.log()
    );
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    wait_for_scene(&x, &id, &config, &app, "after-reconnect");
    assert!(app.log().contains("reconnecting"));

    // The address went to the recent connections (key-file fallback here).
    let settings = fs::read_to_string(home.path().join("sumac/settings.ini")).unwrap();
    assert!(settings.contains(&uri), "{settings}");
}

#[test]
fn app_kiosk_quits_on_disconnect_with_error_status() {
    if !gui_available() {
        return;
    }
    let config = ServerConfig::default();
    let mut server = TestServer::start(config.clone()).unwrap();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let uri = server.uri();
    let mut app = start_app(&x, home.path(), &["--kiosk", "--kiosk-quit", "on-disconnect", &uri]);
    find_window(&x, &config.name, &app);
    // (Fullscreen itself needs a window manager, which this Xvfb has not.)
    assert!(app.log().contains("opening a window"), "{}", app.log());
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    server.stop();
    let code = app.wait_exit(WAIT);
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit code {code:?}; log:\n{}",
        app.log()
    );
}

#[test]
fn app_connect_window_opens_a_session_and_remembers_it() {
    if !gui_available() {
        return;
    }
    let config = ServerConfig::default();
    let server = TestServer::start(config.clone()).unwrap();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("sumac");
    fs::create_dir_all(&dir).unwrap();
    // Recent connections of an earlier run (one with a password, which must not survive).
    fs::write(
        dir.join("settings.ini"),
        // scaling=false: the guest at 100 %, so its pixels can be compared exactly.
        "[sumac]\nscaling=false\nrecent-connections=spice://10.0.0.7:5900;spice://vm.example:5901?password=hunter2;\n",
    )
    .unwrap();
    let app = start_app(&x, home.path(), &[]);
    let id = find_window(&x, "Connect", &app);
    let img = capture(&x, &id);
    assert!(img.width >= 400 && img.height >= 300, "{img:?}");
    // Type `host:port` (no scheme: a SPICE address, not a file name) and press Enter: the
    // session window opens.
    let uri = server.uri();
    let typed = uri.strip_prefix("spice://").expect("a spice:// URI");
    x.command("xdotool")
        .args(["mousemove", "--window", &id, "100", "100"])
        .status()
        .unwrap();
    x.command("xdotool").args(["windowfocus", &id]).status().unwrap();
    x.command("xdotool")
        .args(["type", "--delay", "20", typed])
        .status()
        .unwrap();
    x.command("xdotool").args(["key", "Return"]).status().unwrap();
    let session = find_window(&x, &config.name, &app);
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    wait_for_scene(&x, &session, &config, &app, "from-connect-window");
    // Newest first, the old entries kept, no password stored.
    let settings = fs::read_to_string(dir.join("settings.ini")).unwrap();
    let line = settings
        .lines()
        .find(|l| l.starts_with("recent-connections="))
        .unwrap_or_default();
    assert_eq!(
        line,
        format!("recent-connections={uri};spice://10.0.0.7:5900;spice://vm.example:5901;"),
        "{settings}"
    );
    let log = app.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// The GUI half of launching a Proxmox-style `.vv` (the headless half is in
/// `launch.rs`): TLS + password through the authenticating CONNECT proxy, with
/// the file's CA and host-subject; the window shows the server's framebuffer
/// and the one-shot file is gone. A wrong host-subject leaves the window with
/// the error overlay, and the log names both subjects.
#[test]
fn app_opens_a_proxmox_vv_through_a_proxy() {
    if !gui_available() {
        return;
    }
    use super::launch::{TICKET_HOST, setup, write_proxmox_vv};
    // The `title=` of the .vv file, used for the window title.
    const VV_TITLE: &str = "VM 100 - launch-test";

    let s = setup();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let vv = write_proxmox_vv(&s, "proxmox.vv", &s.identity.subject);
    let app = start_app(&x, home.path(), &["--zoom", "100", vv.to_str().unwrap()]);
    let id = find_window(&x, VV_TITLE, &app);
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    let at = wait_for_rgb(&x, &id, s.scene_size, &s.scene_rgb, &app, "proxmox-vv");
    eprintln!("guest area found at {at:?} in window {id} ({})", window_title(&x, &id));
    capture(&x, &id)
        .save_png(&artifact_dir("app").join("proxmox-vv.png"))
        .unwrap();

    // delete-this-file=1 removed the file.
    assert!(!vv.exists(), "the .vv file was not deleted");
    // Every channel went through the proxy to the unresolved ticket host, with the credentials.
    let records = s.proxy.records();
    let expected_target = format!("{TICKET_HOST}:{}", s.server.tls_port().unwrap());
    assert!(records.len() >= 2, "expected main + display tunnels, saw {records:?}");
    for r in &records {
        assert_eq!(r.target, expected_target);
        assert_eq!(r.credentials.as_deref(), Some("pveuser:proxy pw"));
        assert_eq!(r.status, 200);
    }
    s.server.with_record(|rec| {
        assert!(!rec.linked.is_empty());
        assert!(rec.linked.iter().all(|(_, _, tls)| *tls), "{:?}", rec.linked);
    });
    let log = app.log();
    assert!(!log.contains(super::launch::PASSWORD), "the password is logged:\n{log}");
    drop(app);

    // A wrong host-subject: refused, the window shows the error, the log says why.
    // (A fresh display: the first app's window, same title, may still be mapped.)
    drop(x);
    let x = start_xvfb();
    let s = setup();
    let wrong = "C=XX,O=Someone Else,CN=pve1.example.com";
    let vv = write_proxmox_vv(&s, "wrong-subject.vv", wrong);
    let app = start_app(&x, home.path(), &["--zoom", "100", vv.to_str().unwrap()]);
    let id = find_window(&x, VV_TITLE, &app);
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    let start = Instant::now();
    loop {
        let img = capture(&x, &id);
        let refused = app.log().contains("WARN sumac::app::controller: session ended");
        if refused && find_accent_button(&img).is_some() {
            // Nothing of the guest ever showed.
            assert!(
                find_subimage(&img, s.scene_size.0, s.scene_size.1, &s.scene_rgb).is_none(),
                "the guest shows despite the refusal"
            );
            img.save_png(&artifact_dir("app").join("proxmox-vv-wrong-subject.png"))
                .unwrap();
            break;
        }
        if start.elapsed() > WAIT {
            let path = artifact_dir("app").join("proxmox-vv-wrong-subject.png");
            img.save_png(&path).unwrap();
            panic!(
                "no error overlay with Reconnect after a wrong host-subject ({}); log:\n{}",
                path.display(),
                app.log()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = app.log();
    // The app's own warning (the library logs the same error at info level).
    let ended: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN sumac::app::controller: session ended"))
        .collect();
    assert_eq!(ended.len(), 1, "one refusal expected:\n{log}");
    let line = ended[0];
    assert!(
        line.contains("subject mismatch"),
        "the refusal does not say why: {line}"
    );
    assert!(
        line.contains(wrong),
        "the refusal does not name the expected subject: {line}"
    );
    assert!(
        line.contains(&s.identity.subject),
        "the refusal does not name the certificate's subject: {line}"
    );
    assert!(pid_alive(app.pid()), "the app must stay open on error");
    // The tunnel was opened (the proxy is not the problem) and nothing linked.
    assert!(s.proxy.records().iter().any(|r| r.status == 200));
    s.server
        .with_record(|rec| assert!(rec.linked.is_empty(), "{:?}", rec.linked));
    assert!(
        !vv.exists(),
        "the .vv file must be deleted even when the connection fails"
    );
}

/// The visible windows of the Xvfb server.
fn visible_windows(x: &Xvfb) -> Vec<String> {
    let out = x
        .command("xdotool")
        .args(["search", "--onlyvisible", "--name", ""])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Waits for a visible window that is not in `before` (the shortcuts window
/// has no title of its own: its "Shortcuts" is a header-bar label).
fn wait_new_window(x: &Xvfb, before: &[String], app: &App, what: &str) -> String {
    let start = Instant::now();
    loop {
        if let Some(id) = visible_windows(x).into_iter().find(|w| !before.contains(w)) {
            return id;
        }
        assert!(
            start.elapsed() < WAIT,
            "no new window ({what}) within {WAIT:?}; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Ctrl+? opens the keyboard-shortcuts window, from the session window and
/// from the connect window. Like F11 (another application accelerator), the
/// key that fires it is not pressed in the guest; the modifiers are, and are
/// released when the shortcuts window takes the focus.
#[test]
fn app_ctrl_question_opens_the_shortcuts_window() {
    if !gui_available() {
        return;
    }
    const SLASH: u32 = 0x35;
    const F11: u32 = 0x57;
    const CTRL: u32 = 0x1d;
    let config = ServerConfig::default();
    let server = TestServer::start(config.clone()).unwrap();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let app = start_app(&x, home.path(), &["--zoom", "100", &server.uri()]);
    let id = find_window(&x, &config.name, &app);
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    wait_for_scene(&x, &id, &config, &app, "before-shortcuts");
    x.command("xdotool").args(["windowfocus", &id]).status().unwrap();
    // The display has the keyboard: a plain key reaches the guest.
    x.command("xdotool").args(["key", "Control_L"]).status().unwrap();
    assert!(
        server.wait_for_inputs(WAIT, |log| guest_key_presses(log).contains(&CTRL)),
        "the guest did not get Ctrl; log:\n{}",
        app.log()
    );

    x.command("xdotool").args(["key", "F11"]).status().unwrap();
    x.command("xdotool").args(["key", "F11"]).status().unwrap();
    let before = visible_windows(&x);
    x.command("xdotool").args(["key", "ctrl+question"]).status().unwrap();
    let shortcuts = wait_new_window(&x, &before, &app, "shortcuts over the session window");
    // Xvfb has no window manager: give the new window the focus as one would.
    // The display loses it, so the guest gets Ctrl and Shift released.
    x.command("xdotool").args(["windowfocus", &shortcuts]).status().unwrap();
    assert!(
        server.wait_for_inputs(WAIT, |log| guest_keys_down(log).is_empty()),
        "keys left down in the guest: {:02x?}",
        guest_keys_down(&server.inputs_log())
    );
    // Give the inputs channel time to send anything that leaked.
    std::thread::sleep(Duration::from_millis(500));
    let log = server.inputs_log();
    let keys: Vec<_> = log.iter().map(|e| &e.msg).collect();
    eprintln!("key messages the guest got: {keys:02x?}");
    let presses = guest_key_presses(&log);
    assert!(!presses.contains(&F11), "F11 reached the guest: {presses:02x?}");
    assert!(!presses.contains(&SLASH), "the ? key reached the guest: {presses:02x?}");
    assert!(presses.contains(&CTRL), "{presses:02x?}");
    drop(app);

    // The connect window has the same help overlay and accelerator.
    let app = start_app(&x, home.path(), &[]);
    let id = find_window(&x, "Connect", &app);
    x.command("xdotool").args(["windowfocus", &id]).status().unwrap();
    let before = visible_windows(&x);
    x.command("xdotool").args(["key", "ctrl+question"]).status().unwrap();
    wait_new_window(&x, &before, &app, "shortcuts over the connect window");
    let log = app.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// On an X server without hardware GL (Xvfb: no DRI2/DRI3) the app turns GL
/// off before GTK starts (in its own environment, no restart), and shows the guest through the
/// X11 screen layer; `--renderer=gl` keeps GL (llvmpipe here).
#[test]
fn app_turns_gl_off_on_a_software_gl_x_server() {
    if !gui_available() {
        return;
    }
    let config = ServerConfig::default();
    let server = TestServer::start(config.clone()).unwrap();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
    for (args, gl_off, renderer) in [
        (vec!["--zoom", "100"], true, "x11"),
        (vec!["--zoom", "100", "--renderer=gl"], false, "gl"),
    ] {
        let mut args = args;
        let uri = server.uri();
        args.push(&uri);
        let app = start_app_env(&x, home.path(), &args, &[("SUMAC_RENDERER", None), ("GDK_DEBUG", None)]);
        let pid = app.pid();
        let id = find_window(&x, &config.name, &app);
        wait_for_scene(&x, &id, &config, &app, &format!("gl-policy-{renderer}"));
        let start = Instant::now();
        let active = format!("display renderer active renderer=\"{renderer}\"");
        while !app.log().contains(&active) && start.elapsed() < WAIT {
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = app.log();
        assert!(log.contains(&active), "{args:?}: expected {active:?} in\n{log}");
        assert_eq!(
            log.contains("GDK_DEBUG=gl-disable (GTK draws with cairo)"),
            gl_off,
            "{args:?}: GL turned off expected: {gl_off}\n{log}"
        );
        // Set in the process itself (one thread at that point), not by re-executing it.
        assert!(!log.contains("restarting with"), "{args:?}: re-executed:\n{log}");
        assert!(
            !log.contains("GL support disabled"),
            "GTK was not asked for GL with GL off:\n{log}"
        );
        assert!(pid_alive(pid), "sumac {pid} is gone");
        drop(app);
    }
}
