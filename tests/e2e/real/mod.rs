//! Harness for running Sumac against REAL SPICE servers: QEMU 7.2 (SeaBIOS / memtest86+ guest) and
//! Xspice (Xorg + spiceqxl_drv), both from Debian 12. See `/work/shared/real-servers.md`.
//!
//! Policy: every server listens on 127.0.0.1 only, on a port from [`free_port`]; every process is a
//! child we spawned, remembered by PID, and stopped by PID when its guard is dropped (also when the
//! test panics). Nothing is ever killed by name. Servers also get a parent-death signal
//! ([`server_command`]) so that an interrupted test run leaves none behind.
//!
//! A test starts with [`require_real_servers`]: when a needed program is missing it skips (prints
//! why) on a developer machine, and fails when the environment variable `CI` is set.

#![cfg(test)] // Test-only code (also tells clippy that panicking helpers are fine here).
#![allow(dead_code)] // A library for tests: not every helper is used by every test.

mod agent_client;
mod agent_guest;
mod agent_xspice;
mod clients;
mod conformance;
mod image;
mod qemu;
mod selftest;
mod tls;
mod video;
mod xspice;

mod tests;

// Re-exported for tests to come (not all are used yet).
#[allow(unused_imports)]
pub use clients::{run_spicy_screenshot, run_sumac_cli, run_with_timeout, spice_uri, sumac_screenshot};
#[allow(unused_imports)]
pub use image::{ImageDiff, Rect, RgbImage, assert_same_pixels, compare_images, compare_png};
#[allow(unused_imports)]
pub use qemu::{MEMTEST_KERNEL, Qemu, QemuOpts, Qmp, StableScreen};
pub use tls::TlsDir;
pub use xspice::{Xspice, XspiceOpts, xev_presses};

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Errors of the harness itself (server would not start, QMP failed, image unreadable...).
#[derive(Debug, thiserror::Error)]
pub enum RealServerError {
    #[error("`{binary}` not found: install the Debian package {package}")]
    Missing {
        binary: &'static str,
        package: &'static str,
    },
    #[error("could not {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} exited early ({status}); log tail:\n{log}")]
    Exited { what: String, status: String, log: String },
    #[error("timed out after {secs:.1} s waiting for {what}; log tail:\n{log}")]
    Timeout { what: String, secs: f64, log: String },
    #[error("QMP: {0}")]
    Qmp(String),
    #[error("image: {0}")]
    Image(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = RealServerError> = std::result::Result<T, E>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RealServerError {
    let what = what.into();
    move |source| RealServerError::Io { what, source }
}

/// A program a real-server test needs, and the Debian package that ships it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub binary: &'static str,
    pub package: &'static str,
}

pub const QEMU: Tool = Tool {
    binary: "qemu-system-x86_64",
    package: "qemu-system-x86",
};
pub const XSPICE: Tool = Tool {
    binary: "Xspice",
    package: "xserver-xspice",
};
pub const XORG: Tool = Tool {
    binary: "Xorg",
    package: "xserver-xorg-core (pulled in by xserver-xspice)",
};
pub const XWD: Tool = Tool {
    binary: "xwd",
    package: "x11-apps",
};
pub const XTERM: Tool = Tool {
    binary: "xterm",
    package: "xterm (plus xfonts-base)",
};
pub const IMAGEMAGICK_DISPLAY: Tool = Tool {
    binary: "display",
    package: "imagemagick",
};
pub const OPENSSL: Tool = Tool {
    binary: "openssl",
    package: "openssl",
};
pub const XCLIP: Tool = Tool {
    binary: "xclip",
    package: "xclip",
};
pub const VDAGENT: Tool = Tool {
    binary: "spice-vdagent",
    package: "spice-vdagent",
};
pub const VDAGENTD: Tool = Tool {
    binary: "spice-vdagentd",
    package: "spice-vdagent",
};
pub const SPICY_SCREENSHOT: Tool = Tool {
    binary: "spicy-screenshot",
    package: "spice-client-gtk",
};

/// Everything the QEMU tests need.
pub const QEMU_TOOLS: &[Tool] = &[QEMU, OPENSSL];
/// Everything the Xspice tests need.
pub const XSPICE_TOOLS: &[Tool] = &[XSPICE, XORG, XWD, XTERM, IMAGEMAGICK_DISPLAY, OPENSSL];

/// Whether we run in CI, where real-server tests must never skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Checks that every tool is installed. Missing tool: in CI (env `CI` set) this panics, naming the
/// Debian package; elsewhere it prints why the test is skipped and returns `None`.
///
/// Use as `let Some(()) = require_real_servers(QEMU_TOOLS) else { return };`.
pub fn require_real_servers(tools: &[Tool]) -> Option<()> {
    let missing: Vec<&Tool> = tools.iter().filter(|t| find_program(t.binary).is_none()).collect();
    if missing.is_empty() {
        return Some(());
    }
    let list = missing
        .iter()
        .map(|t| format!("`{}` (Debian package {})", t.binary, t.package))
        .collect::<Vec<_>>();
    let packages = missing
        .iter()
        .map(|t| t.package.split(' ').next().unwrap_or(t.package))
        .collect::<Vec<_>>();
    if in_ci() {
        panic!(
            "real-server test cannot run, missing {}: CI is set, so this fails instead of skipping. \
             Fix: apt-get install {}",
            list.join(", "),
            packages.join(" ")
        );
    }
    eprintln!(
        "skipping: missing {}; install {} to run this test",
        list.join(", "),
        packages.join(" ")
    );
    None
}

/// Finds an executable in `PATH` (plus the sbin directories, where some distros put Xorg).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            fs::metadata(p)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local_addr of the probe listener").port()
}

/// Waits until `127.0.0.1:port` accepts a TCP connection. `check` is called between attempts and
/// may fail early (e.g. the server process died).
pub fn wait_for_port(port: u16, timeout: Duration, mut check: impl FnMut() -> Result<()>) -> Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        check()?;
        if start.elapsed() > timeout {
            return Err(RealServerError::Timeout {
                what: format!("port {port} to accept connections"),
                secs: timeout.as_secs_f64(),
                log: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A command for a server process that is also SIGKILLed when the thread that spawns it dies
/// (`setpriv --pdeathsig KILL`, util-linux): Drop guards do not run when a test run is interrupted
/// (Ctrl-C, a runner's timeout), and a server must not outlive it. `setpriv` execs the program, so
/// the child's PID is the server's. Without `setpriv`, the plain command.
pub fn server_command(program: &str) -> Command {
    if find_program("setpriv").is_some() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--", program]);
        cmd
    } else {
        Command::new(program)
    }
}

/// Sends a signal (`TERM`, `KILL`...) to one process by PID, with the `kill` utility (the crate
/// forbids `unsafe`, so no `libc::kill`). Returns whether `kill` succeeded.
pub fn signal_pid(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the process exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Format: "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

/// PIDs of the direct children of `pid` (from /proc; needs Linux ≥ 3.5).
pub fn child_pids(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Waits until `pid` is gone (or a zombie), up to `timeout`. Returns whether it is gone.
pub fn wait_pid_gone(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while pid_alive(pid) {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The last `lines` lines of a log file (empty when unreadable), for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    // Xspice floods its logs with these; they say nothing about a failure.
    let noise = ["qxl_surface_create: Bad bpp", "interface_get_command", "free: push "];
    let all: Vec<&str> = text.lines().filter(|l| !noise.iter().any(|n| l.contains(n))).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Human-readable exit status.
pub fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status}"),
    }
}

/// A directory that survives the test, for images a failing comparison leaves behind for people
/// (and CI artifacts) to look at: `<target>/tmp/real-servers/<name>`.
pub fn artifact_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-servers").join(name);
    fs::create_dir_all(&dir).expect("create the artifact directory under CARGO_TARGET_TMPDIR");
    dir
}
