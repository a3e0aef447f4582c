//! Server mouse mode rigs' common parts: the `sumac` app in `--mouse-mode=server` on a private
//! Xvfb driven with `xdotool` ([`X11Rig`]), and what the test server's inputs log says about it
//! (motion deltas, button presses, mouse mode requests). Used by the test-server tests
//! (`tests/e2e/gui/`) and the Xspice ones (`tests/e2e/real/gui/`), here and on Wayland
//! ([`super::wayland`]).

use super::app::App;
use super::artifact_dir;
use super::process::Guard;
use super::tools::{DBUS, Tool, XDOTOOL, XEV, XVFB};
use super::wait::wait_until;
use super::x11::{self, Xvfb};
use std::path::PathBuf;
use std::time::Duration;
use sumac::proto::ChannelType;
use sumac::proto::channel::inputs::InputsClient;
use sumac::proto::channel::main::msgc;
use sumac_test_server::TestServer;

/// The title hint while the pointer is grabbed.
pub const HINT: &str = "Press Shift+F12 to release pointer";
/// How long the inputs log may take to show what a test did.
pub const WAIT: Duration = Duration::from_secs(20);
/// The app's window title (`-t`).
pub const TITLE: &str = "sumac-server-mouse";

/// What [`X11Rig`] needs besides the server.
pub fn x11_tools() -> Vec<Tool> {
    vec![XVFB, XDOTOOL, DBUS, XEV]
}

/// The app showing `uri` in server mouse mode at 100 % on a private Xvfb, and another X client
/// there to take the focus away.
pub struct X11Rig {
    // Field order is drop order: the clients go before their X server.
    pub app: App,
    _other: Guard,
    pub xvfb: Xvfb,
    pub window: String,
    pub other: String,
    out: PathBuf,
    /// The title hint while grabbed ([`HINT`] unless the release hotkey is another).
    hint: String,
}

impl X11Rig {
    pub fn start(name: &str, uri: &str) -> X11Rig {
        Self::start_with(name, &[uri], HINT, None)
    }

    /// [`X11Rig::start`] with `args` (the target among them) after the rig's own options, `hint`
    /// the title hint of the grab, and `settings` the lines of the app's preferences file
    /// (`$XDG_CONFIG_HOME/sumac/settings.ini`, group `[sumac]`).
    pub fn start_with(name: &str, args: &[&str], hint: &str, settings: Option<&str>) -> X11Rig {
        let out = artifact_dir(&format!("gui-server-mouse-{name}"));
        let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
        let config_home = out.join("config");
        std::fs::create_dir_all(config_home.join("sumac")).unwrap();
        if let Some(lines) = settings {
            std::fs::write(config_home.join("sumac/settings.ini"), format!("[sumac]\n{lines}\n")).unwrap();
        }
        let mut all = vec!["-t", TITLE, "-z", "100", "--mouse-mode=server"];
        all.extend_from_slice(args);
        let mut cmd = App::x11_command(xvfb.display, &config_home, &all);
        cmd.env("SUMAC_RENDERER", "cairo");
        let app = App::spawn(cmd, out.join("sumac.log"));
        let window = x11::wait_window(xvfb.display, TITLE, super::wait::WAIT).expect("timed out: the sumac window");
        let (other_guard, other) = x11::focus_target(xvfb.display);
        X11Rig {
            app,
            _other: other_guard,
            xvfb,
            window,
            other,
            out,
            hint: hint.to_owned(),
        }
    }

    /// The rig's artifact directory (the app's configuration is its `config/`).
    pub fn out(&self) -> &std::path::Path {
        &self.out
    }

    /// The title hint of the grab from now on (the release hotkey changed).
    pub fn set_hint(&mut self, hint: &str) {
        hint.clone_into(&mut self.hint);
    }

    /// Runs `xdotool args` on the Xvfb; panics when it fails.
    pub fn xdo(&self, args: &[&str]) -> String {
        x11::xdotool(self.xvfb.display, args)
    }

    /// The Xvfb pointer, on the root window.
    pub fn pointer(&self) -> (i32, i32) {
        x11::pointer(self.xvfb.display)
    }

    pub fn move_by(&self, dx: i32, dy: i32) {
        self.xdo(&["mousemove_relative", "--", &dx.to_string(), &dy.to_string()]);
    }

    /// The window's position and size on the root window.
    pub fn geometry(&self) -> (i32, i32, i32, i32) {
        x11::window_geometry(self.xvfb.display, &self.window)
    }

    pub fn title(&self) -> String {
        self.xdo(&["getwindowname", &self.window]).trim().to_owned()
    }

    pub fn grabbed(&self) -> bool {
        self.title().contains(&self.hint)
    }

    /// Non-transparent pixels of the cursor the Xvfb shows now.
    pub fn cursor_pixels(&self) -> usize {
        let x = sumac_platform::x11::X11Pointer::connect_to(&format!(":{}", self.xvfb.display)).expect("X connection");
        x.cursor_image().expect("XFixes cursor image").opaque_pixels
    }

    /// Gives the window the X focus and clicks at its point (`x`, `y`).
    pub fn click_at(&self, x: i32, y: i32) {
        self.xdo(&["windowfocus", "--sync", &self.window]);
        self.xdo(&["mousemove", "--window", &self.window, &x.to_string(), &y.to_string()]);
        std::thread::sleep(Duration::from_millis(200));
        self.xdo(&["click", "1"]);
    }

    /// Clicks into the display until the pointer is grabbed (the title hint): a click grabs only
    /// once the guest's screen shows, never on the "Connecting…" screen.
    pub fn grab(&self) {
        let (_, _, w, h) = self.geometry();
        wait_until("the pointer grab (title hint)", || {
            if self.grabbed() {
                return true;
            }
            self.click_at(w / 2, h / 2);
            super::wait::poll_until(Duration::from_secs(2), || self.grabbed())
        });
        std::thread::sleep(Duration::from_millis(200));
    }

    pub fn screenshot(&self, name: &str) {
        x11::screenshot(self.xvfb.display, &self.window, &self.out.join(format!("{name}.png")));
    }
}

/// Sum of the MOUSE_MOTION deltas the test server received.
pub fn motion_sum(server: &TestServer) -> (i32, i32) {
    sum_motion(&server.inputs_log())
}

fn sum_motion(log: &[sumac_test_server::inputs::InputsEvent]) -> (i32, i32) {
    log.iter().fold((0, 0), |(x, y), e| match e.msg {
        InputsClient::MouseMotion { dx, dy, .. } => (x + dx, y + dy),
        _ => (x, y),
    })
}

/// Waits until the MOUSE_MOTION deltas the test server received sum to `want`.
pub fn waits_for_motion(server: &TestServer, want: (i32, i32)) {
    let ok = server.wait_for_inputs(WAIT, |log| sum_motion(log) == want);
    assert!(ok, "motion deltas sum to {:?}, wanted {want:?}", motion_sum(server));
}

/// The buttons of the MOUSE_PRESS messages the test server received.
pub fn presses(server: &TestServer) -> Vec<u8> {
    server
        .inputs_log()
        .iter()
        .filter_map(|e| match e.msg {
            InputsClient::MousePress { button, .. } => Some(button),
            _ => None,
        })
        .collect()
}

/// Whether the client asked the server for another mouse mode.
pub fn mode_requested(server: &TestServer) -> bool {
    server.with_record(|r| {
        r.received
            .iter()
            .any(|m| m.channel.0 == ChannelType::MAIN && m.msg_type == msgc::MOUSE_MODE_REQUEST)
    })
}

/// Waits until the test server has linked the app's inputs channel; panics with the app's log.
pub fn wait_inputs_linked(server: &TestServer, app: &App) {
    let ok = server.wait_for(WAIT, |r| r.linked.iter().any(|l| l.0 == ChannelType::INPUTS));
    assert!(ok, "the inputs channel never linked; log:\n{}", app.log());
}

/// Waits until the app's session is initialised and its inputs channel ready; checks that the
/// server (Xspice) started it in server mouse mode. Returns the app's log.
pub fn wait_inputs_in_server_mode(app: &App) -> String {
    wait_until("the session initialised", || {
        app.log().contains("main channel initialised")
    });
    wait_until("the inputs channel", || app.log().contains("inputs channel ready"));
    let log = app.log();
    let init = log
        .lines()
        .find(|l| l.contains("main channel initialised"))
        .unwrap_or_default()
        .to_owned();
    assert!(init.contains("mouse=1"), "Xspice starts in server mode: {init}");
    log
}
