//! The session window's header bar as a person meets it, on Xvfb with openbox:
//! * Take Screenshot… opens the file chooser in the XDG Pictures folder; once saved, a
//!   "Screenshot saved" notice shows under the header bar; its Open button opens the file in the
//!   desktop's default viewer for PNG images (a stand-in viewer that writes down what it got).
//! * The window's WM_CLASS is the desktop file's StartupWMClass (both parts).

use crate::support::app::{App, SUMAC};
use crate::support::artifact_dir;
use crate::support::desktop::{OPENBOX, XPROP};
use crate::support::mouse::wait_inputs_linked;
use crate::support::process::Guard;
use crate::support::tools::{DBUS, Tool, XDOTOOL, XVFB, require_tools};
use crate::support::wait::{WAIT, poll, wait_until};
use crate::support::x11::{self, Xvfb};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use sumac_test_server::{ServerConfig, TestServer};

const GDBUS: Tool = Tool {
    binary: "gdbus",
    package: "libglib2.0-bin",
};
const TITLE: &str = "sumac-header";

struct Rig {
    app: App,
    _wm: Guard,
    xvfb: Xvfb,
    window: String,
    out: PathBuf,
    bus: String,
}

impl Rig {
    fn start(name: &str, server: &TestServer, setup: impl FnOnce(&Path, &Path)) -> Rig {
        let out = artifact_dir(&format!("gui-header-{name}"));
        let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
        let wm_config = out.join("wm-config");
        std::fs::create_dir_all(&wm_config).unwrap();
        let wm = Guard(
            xvfb.command("openbox")
                .arg("--sm-disable")
                .env("XDG_CONFIG_HOME", &wm_config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start openbox"),
        );
        wait_until("openbox managing the screen", || {
            x11::run_x(xvfb.display, "xprop", &["-root", "_NET_SUPPORTING_WM_CHECK"])
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("window id"))
        });
        let config = out.join("config");
        let data = out.join("data");
        let _ = std::fs::remove_dir_all(&config);
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&config).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        setup(&config, &data);
        let bus_file = out.join("bus-address");
        let _ = std::fs::remove_file(&bus_file);
        // dbus-run-session -- sh -c '...': the session bus address is written out for gdbus.
        let mut cmd = App::x11_command(xvfb.display, &config, &[]);
        let script = format!(
            "printf %s \"$DBUS_SESSION_BUS_ADDRESS\" > '{}'; exec \"$0\" \"$@\"",
            bus_file.display()
        );
        let mut args: Vec<std::ffi::OsString> = vec!["--".into(), "sh".into(), "-c".into(), script.into()];
        // SUMAC_TEST_BIN: another build of the app (a target directory shared by several trees).
        let sumac = std::env::var_os("SUMAC_TEST_BIN").unwrap_or_else(|| SUMAC.into());
        args.extend([sumac, "-t".into(), TITLE.into(), "-z".into(), "100".into()]);
        args.push(server.uri().into());
        let mut real = Command::new("dbus-run-session");
        real.args(&args).env("XDG_DATA_HOME", &data);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => real.env(k, v),
                None => real.env_remove(k),
            };
        }
        cmd = real;
        let app = App::spawn(cmd, out.join("sumac.log"));
        let window = x11::wait_window(xvfb.display, &format!("^{TITLE}"), WAIT)
            .unwrap_or_else(|| panic!("no sumac window; log:\n{}", app.log()));
        x11::xdotool(xvfb.display, &["windowmove", "--sync", &window, "0", "0"]);
        let bus = poll(WAIT, Duration::from_millis(100), || {
            std::fs::read_to_string(&bus_file).ok().filter(|s| !s.is_empty())
        })
        .expect("the app's session bus address");
        wait_inputs_linked(server, &app);
        Rig {
            app,
            _wm: wm,
            xvfb,
            window,
            out,
            bus,
        }
    }

    /// Activates the window action `name` through the app's D-Bus action export.
    fn activate(&self, name: &str) {
        let out = Command::new("gdbus")
            .args(["call", "--address", &self.bus, "--dest", "io.github.sumac.Sumac"])
            .args(["--object-path", "/io/github/sumac/Sumac/window/1"])
            .args(["--method", "org.gtk.Actions.Activate", name, "[]", "{}"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gdbus: {}; log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.app.log()
        );
    }

    /// Visible windows of the app other than its main window, with their geometry.
    fn popups(&self) -> Vec<(String, (i32, i32, i32, i32))> {
        let ids = x11::run_x(
            self.xvfb.display,
            "xdotool",
            &["search", "--onlyvisible", "--class", "io.github.sumac.Sumac"],
        )
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
        ids.split_whitespace()
            .filter(|id| *id != self.window)
            .map(|id| (id.to_owned(), x11::window_geometry(self.xvfb.display, id)))
            .collect()
    }
}

fn tools() -> Vec<Tool> {
    vec![XVFB, XDOTOOL, DBUS, OPENBOX, XPROP, GDBUS]
}

#[test]
fn screenshot_defaults_to_pictures_and_shows_a_saved_notice() {
    let Some(()) = require_tools(&tools()) else { return };
    // Client mouse mode: a click that misses the notice is no pointer grab.
    let server = crate::support::desktop::client_mouse_server();
    let mut pictures = PathBuf::new();
    let mut opened = PathBuf::new();
    let rig = Rig::start("screenshot", &server, |config, data| {
        pictures = config.parent().unwrap().join("Pictures");
        let _ = std::fs::remove_dir_all(&pictures);
        std::fs::create_dir_all(&pictures).unwrap();
        std::fs::write(
            config.join("user-dirs.dirs"),
            format!("XDG_PICTURES_DIR=\"{}\"\n", pictures.display()),
        )
        .unwrap();
        // The default image viewer: records the file it is asked to open.
        opened = config.parent().unwrap().join("opened.txt");
        let _ = std::fs::remove_file(&opened);
        let apps = data.join("applications");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::write(
            apps.join("test-viewer.desktop"),
            format!(
                "[Desktop Entry]\nType=Application\nName=Test Viewer\nExec=sh -c 'printf %s \"$1\" > {}' sh %f\nMimeType=image/png;\n",
                opened.display()
            ),
        )
        .unwrap();
        std::fs::write(
            config.join("mimeapps.list"),
            "[Default Applications]\nimage/png=test-viewer.desktop\n",
        )
        .unwrap();
    });
    // The first frame is in: the screenshot has something to save.
    std::thread::sleep(Duration::from_secs(1));
    rig.activate("screenshot");
    let chooser = x11::wait_window(rig.xvfb.display, "^Save Screenshot", WAIT)
        .unwrap_or_else(|| panic!("no file chooser; log:\n{}", rig.app.log()));
    std::thread::sleep(Duration::from_millis(800));
    x11::screenshot(rig.xvfb.display, "root", &rig.out.join("chooser.png"));
    let png_in_pictures = || {
        std::fs::read_dir(&pictures)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "png"))
    };
    // Save keeps the proposed name (clicked again while the chooser is still up).
    let saved = poll(WAIT, Duration::from_millis(100), || {
        if let Some(p) = png_in_pictures() {
            return Some(p);
        }
        if x11::windows_named(rig.xvfb.display, "^Save Screenshot").contains(&chooser) {
            // Its Save button, at the bottom right.
            let (_, _, cw, ch) = x11::window_geometry(rig.xvfb.display, &chooser);
            let (x, y) = ((cw - 48).to_string(), (ch - 30).to_string());
            let _ = x11::run_x(
                rig.xvfb.display,
                "xdotool",
                &["mousemove", "--window", &chooser, "--sync", &x, &y],
            );
            std::thread::sleep(Duration::from_millis(200));
            let _ = x11::run_x(rig.xvfb.display, "xdotool", &["click", "1"]);
            std::thread::sleep(Duration::from_millis(700));
        }
        None
    })
    .unwrap_or_else(|| {
        panic!(
            "no PNG saved in the Pictures folder {} (screen: chooser.png); log:\n{}",
            pictures.display(),
            rig.app.log()
        )
    });
    let bytes = std::fs::read(&saved).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{} is not a PNG", saved.display());

    // The notice: a small popup under the header bar, with Open.
    let (wx, wy, ww, _) = x11::window_geometry(rig.xvfb.display, &rig.window);
    let notice = poll(WAIT, Duration::from_millis(100), || {
        rig.popups()
            .into_iter()
            .find(|(_, (x, y, w, h))| *y >= wy && *y < wy + 150 && *x >= wx && x + w <= wx + ww && *h < 150)
    })
    .unwrap_or_else(|| {
        panic!(
            "no notice after saving; popups {:?}; log:\n{}",
            rig.popups(),
            rig.app.log()
        )
    });
    assert!(rig.app.log().contains("saved-file notice shown"), "{}", rig.app.log());
    x11::screenshot(rig.xvfb.display, "root", &rig.out.join("notice.png"));

    // Open: the stand-in viewer gets the saved file.
    let (id, (nx, ny, _, _)) = notice;
    let shot = x11::capture(rig.xvfb.display, &id).expect("capture the notice");
    shot.save_png(&rig.out.join("notice-only.png")).unwrap();
    let (bx, by) =
        open_button_in(&shot).unwrap_or_else(|| panic!("no Open button found in the notice (notice-only.png)"));
    let (x, y) = ((nx + bx as i32).to_string(), (ny + by as i32).to_string());
    x11::xdotool(rig.xvfb.display, &["mousemove", "--sync", &x, &y]);
    std::thread::sleep(Duration::from_millis(300));
    x11::xdotool(rig.xvfb.display, &["click", "1"]);
    let got = poll(WAIT, Duration::from_millis(100), || {
        std::fs::read_to_string(&opened).ok().filter(|s| !s.is_empty())
    })
    .unwrap_or_else(|| panic!("the viewer was not started; log:\n{}", rig.app.log()));
    assert_eq!(Path::new(got.trim()), saved, "the viewer got another file");
    assert!(rig.app.log().contains("saved file opened"), "{}", rig.app.log());
}

/// Where the notice's Open button is in its capture: the longest run, on the middle row, of the
/// row's second most common light colour (the button's background; the most common one is the
/// popover's).
fn open_button_in(shot: &crate::support::image::RgbImage) -> Option<(u32, u32)> {
    let y = shot.height / 2;
    let row: Vec<[u8; 3]> = (0..shot.width).map(|x| shot.pixel(x, y)).collect();
    let mut counts: Vec<([u8; 3], usize)> = Vec::new();
    for p in row
        .iter()
        .filter(|p| p.iter().map(|c| u32::from(*c)).sum::<u32>() > 450)
    {
        match counts.iter_mut().find(|(c, _)| c == p) {
            Some((_, n)) => *n += 1,
            None => counts.push((*p, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let button = counts.get(1)?.0;
    let (mut best, mut start) = ((0, 0), None);
    for (x, p) in row.iter().chain(std::iter::once(&[0, 0, 0])).enumerate() {
        match (start, *p == button) {
            (None, true) => start = Some(x),
            (Some(s), false) => {
                if x - s > best.1 - best.0 {
                    best = (s, x);
                }
                start = None;
            }
            _ => {}
        }
    }
    (best.1 > best.0 + 10).then(|| (u32::try_from((best.0 + best.1) / 2).unwrap(), y))
}

#[test]
fn wm_class_matches_the_desktop_file() {
    let Some(()) = require_tools(&tools()) else { return };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let rig = Rig::start("wm-class", &server, |_, _| {});
    let desktop_file =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("resources/io.github.sumac.Sumac.desktop"))
            .unwrap();
    let startup_class = desktop_file
        .lines()
        .find_map(|l| l.strip_prefix("StartupWMClass="))
        .expect("StartupWMClass in the desktop file");
    let prop = x11::run_x(rig.xvfb.display, "xprop", &["-id", &rig.window, "WM_CLASS"]).unwrap();
    let prop = String::from_utf8_lossy(&prop.stdout).to_string();
    assert_eq!(
        prop.trim(),
        format!("WM_CLASS(STRING) = \"{startup_class}\", \"{startup_class}\""),
        "the window's WM_CLASS"
    );
}
