//! The `sumac` desktop app under `dbus-run-session` (its own session bus), with a private
//! configuration, as a client of a private display; and waiting until its window shows the
//! guest pixel for pixel.

use super::image::{RgbImage, find_exact};
use super::process::stop_tree;
use super::wait::WAIT;
use super::x11::capture;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The app binary Cargo built for this test run.
pub const SUMAC: &str = env!("CARGO_BIN_EXE_sumac");

/// The app binary the tests start: `SUMAC_TEST_APP` when set (a copy of this checkout's build,
/// when the Cargo target directory is shared with other checkouts that may relink `sumac`
/// meanwhile), else [`SUMAC`].
pub fn app_binary() -> PathBuf {
    std::env::var_os("SUMAC_TEST_APP").map_or_else(|| PathBuf::from(SUMAC), PathBuf::from)
}

/// The file in the app's configuration directory holding its session bus address.
const BUS_FILE: &str = "dbus-address";

/// `sumac` under `dbus-run-session`; its process tree is stopped (by PID) when dropped.
pub struct App {
    child: Child,
    log: PathBuf,
    /// Where the app's private session bus address is written ([`App::bus_address`]).
    bus_file: Option<PathBuf>,
}

impl App {
    /// `dbus-run-session -- sumac ARGS` with its configuration in `config_home`
    /// (`XDG_CONFIG_HOME`, GSettings in memory), accessibility off, `RUST_LOG=sumac=debug`, and
    /// none of the caller's renderer, GSettings schema, proxy or `.vv`-keeping variables. No
    /// display variables: see [`App::x11_command`].
    pub fn command(config_home: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("dbus-run-session");
        // The bus address goes to a file first, for tests that call the app's D-Bus actions.
        cmd.args([
            "--",
            "sh",
            "-c",
            "printf %s \"$DBUS_SESSION_BUS_ADDRESS\" >\"$0\"; exec \"$@\"",
        ])
        .arg(config_home.join(BUS_FILE))
        .arg(app_binary())
        .args(args);
        Self::app_env(&mut cmd, config_home);
        cmd
    }

    /// `sumac ARGS` as an X11 client of `:display` on the session bus at `bus` (a
    /// [`SessionBus`]'s address) instead of a bus of its own: several of them are one app.
    pub fn x11_command_on_bus(display: u32, config_home: &Path, bus: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(app_binary());
        cmd.args(args).env("DBUS_SESSION_BUS_ADDRESS", bus);
        Self::app_env(&mut cmd, config_home);
        cmd.env("DISPLAY", format!(":{display}"))
            .env_remove("XAUTHORITY")
            .env("GDK_BACKEND", "x11")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    fn app_env(cmd: &mut Command, config_home: &Path) {
        cmd.env("XDG_CONFIG_HOME", config_home)
            .env("GSETTINGS_BACKEND", "memory")
            .env("GTK_A11Y", "none")
            .env(
                "RUST_LOG",
                std::env::var("SUMAC_TEST_LOG").unwrap_or_else(|_| "sumac=debug".into()),
            )
            .env_remove("SUMAC_RENDERER")
            .env_remove("GSETTINGS_SCHEMA_DIR")
            .env_remove("VIRT_VIEWER_KEEP_FILE")
            .env_remove("SPICE_PROXY");
    }

    /// [`App::command`] as an X11 client of `:display` (`GDK_BACKEND=x11`, no Wayland).
    pub fn x11_command(display: u32, config_home: &Path, args: &[&str]) -> Command {
        let mut cmd = Self::command(config_home, args);
        cmd.env("DISPLAY", format!(":{display}"))
            .env_remove("XAUTHORITY")
            .env("GDK_BACKEND", "x11")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    /// Starts `cmd` (from [`App::command`]), its stderr to `log`.
    pub fn spawn(mut cmd: Command, log: PathBuf) -> App {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the app's log"));
        let bus_file = cmd
            .get_envs()
            .find(|(k, _)| *k == "XDG_CONFIG_HOME")
            .and_then(|(_, v)| v)
            .map(|v| Path::new(v).join(BUS_FILE));
        let child = cmd.spawn().expect("start sumac under dbus-run-session");
        App { child, log, bus_file }
    }

    /// Starts `sumac args` on `:display` at GDK scale `scale`; its configuration and log
    /// (`sumac.log`) go to `out`.
    pub fn start_scaled(display: u32, out: &Path, scale: u32, args: &[&str]) -> App {
        let config = out.join("config");
        std::fs::create_dir_all(&config).unwrap();
        let mut cmd = Self::x11_command(display, &config, args);
        cmd.env("GDK_SCALE", scale.to_string()).env_remove("GDK_DPI_SCALE");
        Self::spawn(cmd, out.join("sumac.log"))
    }

    /// What the app logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address of the app's private session bus.
    pub fn bus_address(&self) -> String {
        let file = self.bus_file.as_ref().expect("the app runs with XDG_CONFIG_HOME");
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            if !text.is_empty() {
                return text;
            }
            assert!(start.elapsed() < WAIT, "no bus address in {}", file.display());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Activates the action `name` (with `parameter`, a GVariant text, if any) of the app's
    /// first window exporting it over D-Bus (`org.gtk.Actions` of a `GtkApplicationWindow`),
    /// as a menu item or a button would; panics if none does.
    pub fn activate_window_action(&self, name: &str, parameter: Option<&str>) {
        let address = self.bus_address();
        let gdbus = |args: &[&str]| {
            let out = Command::new("gdbus")
                .args(args)
                .args(["--address", &address, "--dest", "io.github.sumac.Sumac"])
                .output()
                .expect("run gdbus (libglib2.0-bin)");
            (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let (ok, tree) = gdbus(&["introspect", "--object-path", "/io/github/sumac/Sumac/window"]);
        assert!(ok, "no windows exported on D-Bus; log:\n{}", self.log());
        for node in tree.lines().filter_map(|l| l.trim().strip_prefix("node ")) {
            let path = format!("/io/github/sumac/Sumac/window/{}", node.trim_end_matches(" {").trim());
            let (ok, list) = gdbus(&["call", "--object-path", &path, "--method", "org.gtk.Actions.List"]);
            if !ok || !list.contains(&format!("'{name}'")) {
                continue;
            }
            let params = parameter.map_or_else(|| "[]".to_owned(), |p| format!("[{p}]"));
            let (ok, _) = gdbus(&[
                "call",
                "--object-path",
                &path,
                "--method",
                "org.gtk.Actions.Activate",
                name,
                &params,
                "{}",
            ]);
            assert!(ok, "activating {name} on {path} failed");
            return;
        }
        panic!("no window has the action {name}: {tree}");
    }

    /// Activates the application action `name` (no parameter) over D-Bus (`org.gtk.Actions` of
    /// the GApplication), as its menu item would; panics when that fails.
    pub fn activate_app_action(&self, name: &str) {
        let address = self.bus_address();
        let out = Command::new("gdbus")
            .args(["call", "--address", &address, "--dest", "io.github.sumac.Sumac"])
            .args([
                "--object-path",
                "/io/github/sumac/Sumac",
                "--method",
                "org.gtk.Actions.Activate",
            ])
            .args([name, "[]", "{}"])
            .output()
            .expect("run gdbus (libglib2.0-bin)");
        assert!(
            out.status.success(),
            "activating app.{name} failed: {}; log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The PID of `dbus-run-session`, the process the test started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to end; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A private D-Bus session bus (`dbus-daemon --session`), stopped by its PID when dropped.
pub struct SessionBus {
    /// `DBUS_SESSION_BUS_ADDRESS` of the bus.
    pub address: String,
    _daemon: super::process::Guard,
}

impl SessionBus {
    pub fn start() -> SessionBus {
        use std::io::BufRead;
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let stdout = child.stdout.take().expect("dbus-daemon's stdout");
        let daemon = super::process::Guard(child);
        let mut address = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut address)
            .expect("the bus address");
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        SessionBus {
            address,
            _daemon: daemon,
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        stop_tree(&mut self.child);
    }
}

/// Waits for a visible window named exactly `title` on `:display`; panics with the app's log.
pub fn wait_app_window(display: u32, title: &str, app: &App) -> String {
    super::x11::wait_window(display, &format!("^{title}$"), WAIT)
        .unwrap_or_else(|| panic!("no window named {title:?} within {WAIT:?}; log:\n{}", app.log()))
}

/// Captures `window` until `expected()` appears in it pixel for pixel; returns its offset in the
/// window and the last capture. Panics (saving both images in `out`) after [`WAIT`].
pub fn wait_for_guest(
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
