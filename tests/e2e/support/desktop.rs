//! A desktop as people have one: a private Xvfb with a real window manager (openbox, from
//! Debian), the `sumac` app and a local X client beside it (an `xterm` whose typed lines go to a
//! file). For the keyboard-grab tests: what is typed into the local client must stay there, and
//! the window manager's own shortcuts (Alt+Tab) must work unless the guest has the keyboard.

use super::app::App;
use super::artifact_dir;
use super::mouse::wait_inputs_linked;
use super::process::Guard;
use super::tools::{DBUS, Tool, XDOTOOL, XTERM, XVFB};
use super::wait::{WAIT, poll, wait_until};
use super::x11::{self, Xvfb};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use sumac::proto::channel::inputs::InputsClient;
use sumac_test_server::inputs::InputsEvent;
use sumac_test_server::{ServerConfig, TestServer};

/// The window manager of the desktop rig.
pub const OPENBOX: Tool = Tool {
    binary: "openbox",
    package: "openbox",
};
/// `xprop` (is the window manager up?).
pub const XPROP: Tool = Tool {
    binary: "xprop",
    package: "x11-utils",
};

/// What [`Desktop`] needs.
pub fn desktop_tools() -> Vec<Tool> {
    vec![XVFB, XDOTOOL, DBUS, XTERM, OPENBOX, XPROP]
}

/// The app's window title (`-t`).
pub const TITLE: &str = "sumac-desktop";
/// The local client's title.
const LOCAL: &str = "local-xterm";

/// Xvfb + openbox + `sumac` (its window at the top left) + a local `xterm` (bottom right).
pub struct Desktop {
    // Field order is drop order: the clients, then the window manager, then the X server.
    pub app: App,
    _xterm: Guard,
    _wm: Guard,
    pub xvfb: Xvfb,
    /// The app's window.
    pub window: String,
    /// The xterm's window.
    pub local: String,
    /// The file the xterm's typed lines go to.
    pub typed: PathBuf,
    pub out: PathBuf,
}

impl Desktop {
    /// Starts the desktop, then `sumac -t TITLE -z 100 args` and the local xterm.
    pub fn start(name: &str, args: &[&str]) -> Desktop {
        let out = artifact_dir(&format!("gui-desktop-{name}"));
        let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
        // openbox with Debian's default configuration (A-Tab: NextWindow, click to focus).
        let wm = start_openbox(&xvfb, &out);

        let config_home = out.join("config");
        std::fs::create_dir_all(&config_home).unwrap();
        let mut all = vec!["-t", TITLE, "-z", "100"];
        all.extend_from_slice(args);
        let cmd = App::x11_command(xvfb.display, &config_home, &all);
        let app = App::spawn(cmd, out.join("sumac.log"));
        let window = x11::wait_window(xvfb.display, &format!("^{TITLE}"), WAIT)
            .unwrap_or_else(|| panic!("no sumac window; log:\n{}", app.log()));

        let typed = out.join("typed.txt");
        let _ = std::fs::remove_file(&typed);
        let script = format!("stty -echo; exec cat > '{}'", typed.display());
        let xterm = xvfb
            .command("xterm")
            .args(["-T", LOCAL, "-geometry", "60x12", "-e", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start xterm");
        let xterm = Guard(xterm);
        let local = x11::wait_window(xvfb.display, LOCAL, WAIT).expect("no xterm window");
        let desktop = Desktop {
            app,
            _xterm: xterm,
            _wm: wm,
            xvfb,
            window,
            local,
            typed,
            out,
        };
        // Side by side, whatever openbox chose: sumac at the top left, the xterm far from it.
        desktop.xdo(&["windowmove", "--sync", &desktop.window, "0", "0"]);
        desktop.xdo(&["windowmove", "--sync", &desktop.local, "1150", "950"]);
        desktop
    }

    /// Runs `xdotool args`; panics when it fails.
    pub fn xdo(&self, args: &[&str]) -> String {
        x11::xdotool(self.xvfb.display, args)
    }

    /// Moves the pointer to the centre of `window`.
    pub fn pointer_to_centre(&self, window: &str) {
        let (x, y, w, h) = x11::window_geometry(self.xvfb.display, window);
        let (cx, cy) = (x + w / 2, y + h / 2);
        self.xdo(&["mousemove", "--sync", &cx.to_string(), &cy.to_string()]);
    }

    /// Moves the pointer to the centre of `window` and clicks there.
    pub fn click_centre(&self, window: &str) {
        self.pointer_to_centre(window);
        std::thread::sleep(Duration::from_millis(150));
        self.xdo(&["click", "1"]);
    }

    /// The window that has the focus, as the window manager says (`_NET_ACTIVE_WINDOW`).
    /// Empty when no window is active.
    pub fn active_window(&self) -> String {
        x11::run_x(self.xvfb.display, "xdotool", &["getactivewindow"])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// Waits until `window` is the active window.
    pub fn wait_active(&self, window: &str, what: &str) {
        let ok = poll(WAIT, Duration::from_millis(100), || {
            (self.active_window() == window).then_some(())
        });
        assert!(
            ok.is_some(),
            "{what}: the active window is {} (sumac {}, xterm {}); log:\n{}",
            self.active_window(),
            self.window,
            self.local,
            self.app.log()
        );
    }

    /// What the local xterm received, once it holds `want` (a whole line); panics after [`WAIT`].
    pub fn wait_typed(&self, want: &str) -> String {
        let mut got = String::new();
        let ok = poll(WAIT, Duration::from_millis(100), || {
            got = std::fs::read_to_string(&self.typed).unwrap_or_default();
            got.contains(want).then_some(())
        });
        assert!(
            ok.is_some(),
            "the local xterm got {got:?}, not {want:?}; log:\n{}",
            self.app.log()
        );
        got
    }

    /// Saves a capture of the whole screen as `name.png` in the rig's artifact directory.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let path = self.out.join(format!("{name}.png"));
        x11::screenshot(self.xvfb.display, "root", &path);
        path
    }

    /// Gives the app the focus by a click into its display and checks that a key typed there
    /// reaches the guest (so that "nothing reached the guest" later means something); the
    /// server's inputs log is cleared first.
    pub fn focus_guest(&self, server: &TestServer) {
        wait_inputs_linked(server, &self.app);
        // The window may still be taking the guest's size when connected:
        // a click computed from the old geometry can miss it, so click again
        // (at the new centre) until the window manager makes it active.
        let _ = poll(WAIT, Duration::from_millis(10), || {
            self.click_centre(&self.window);
            poll(Duration::from_secs(1), Duration::from_millis(100), || {
                (self.active_window() == self.window).then_some(())
            })
        });
        self.wait_active(&self.window, "after a click into the display");
        server.clear_inputs_log();
        let ok = server.wait_for_inputs(WAIT, |log| {
            if !guest_key_presses(log).contains(&0x1e) {
                // Typed again until it lands: the display may still be connecting.
                let _ = x11::run_x(self.xvfb.display, "xdotool", &["key", "a"]);
                std::thread::sleep(Duration::from_millis(200));
                return false;
            }
            true
        });
        assert!(
            ok,
            "a key typed into the display never reached the guest; log:\n{}",
            self.app.log()
        );
    }

    /// How many times the app logged `line`.
    pub fn log_count(&self, line: &str) -> usize {
        self.app.log().matches(line).count()
    }
}

/// Starts openbox (Debian's default configuration, its log in `out`) on `xvfb`; returns once it
/// manages the screen.
/// The test server the desktop tests talk to: client mouse mode, the rest default.
pub fn client_mouse_server() -> TestServer {
    TestServer::start(ServerConfig {
        client_mouse: true,
        ..ServerConfig::default()
    })
    .expect("test server")
}

pub fn start_openbox(xvfb: &Xvfb, out: &Path) -> Guard {
    let wm_config = out.join("wm-config");
    std::fs::create_dir_all(&wm_config).unwrap();
    let wm = xvfb
        .command("openbox")
        .arg("--sm-disable")
        .env("XDG_CONFIG_HOME", &wm_config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(out.join("openbox.log")).unwrap())
        .spawn()
        .expect("start openbox");
    let wm = Guard(wm);
    wait_until("openbox managing the screen", || {
        x11::run_x(xvfb.display, "xprop", &["-root", "_NET_SUPPORTING_WM_CHECK"])
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("window id"))
    });
    wm
}

/// Whether the window manager shows `window` full screen (`_NET_WM_STATE`).
pub fn is_fullscreen(display: u32, window: &str) -> bool {
    x11::run_x(display, "xprop", &["-id", window, "_NET_WM_STATE"])
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("_NET_WM_STATE_FULLSCREEN"))
}

/// Set-1 scancodes (without the E0 prefix) of the keys the guest saw go down.
pub fn guest_key_presses(log: &[InputsEvent]) -> Vec<u32> {
    let mut presses = Vec::new();
    for e in log {
        match &e.msg {
            InputsClient::KeyDown { code } => presses.push(code & 0x7f),
            InputsClient::KeyScancode(bytes) => presses.extend(
                bytes
                    .iter()
                    .filter(|b| **b != 0xe0 && **b & 0x80 == 0)
                    .map(|b| u32::from(*b)),
            ),
            _ => {}
        }
    }
    presses
}

/// Set-1 scancodes (without the E0 prefix) the guest has down at the end of `log` (a release of a
/// key it never saw pressed counts for nothing).
pub fn guest_keys_down(log: &[InputsEvent]) -> Vec<u32> {
    let mut down: Vec<u32> = Vec::new();
    let mut apply = |code: u32, press: bool| {
        if press {
            if !down.contains(&code) {
                down.push(code);
            }
        } else {
            down.retain(|c| *c != code);
        }
    };
    for e in log {
        match &e.msg {
            InputsClient::KeyDown { code } => apply(code & 0x7f, true),
            InputsClient::KeyUp { code } => apply(code & 0x7f, false),
            InputsClient::KeyScancode(bytes) => bytes
                .iter()
                .filter(|b| **b != 0xe0)
                .for_each(|b| apply(u32::from(b & 0x7f), b & 0x80 == 0)),
            _ => {}
        }
    }
    down
}

/// The files under `dir` that contain `needle` (a password must be in none).
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}
