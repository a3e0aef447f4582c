//! Harness for running Sumac against REAL SPICE servers: QEMU 7.2 (SeaBIOS / memtest86+ guest) and
//! Xspice (Xorg + spiceqxl_drv), both from Debian 12, TLS certificates for them, and spice-gtk's
//! `spicy-screenshot` as a reference client. See `/work/shared/real-servers.md`.
//!
//! Only the `real` test binary may use it: starting a server or a reference client fails in the
//! hermetic `e2e` binary ([`super::assert_not_hermetic`]).
//!
//! Policy: every server listens on 127.0.0.1 only, on a port from [`free_port`]; every process is a
//! child we spawned, remembered by PID, and stopped by PID when its guard is dropped (also when the
//! test panics). Nothing is ever killed by name. Servers also get a parent-death signal
//! ([`super::process::server_command`]) so that an interrupted test run leaves none behind.
//!
//! A test starts with [`require_real_servers`]: when a needed program is missing it skips (prints
//! why) on a developer machine, and fails when the environment variable `CI` is set.

pub mod clients;
pub mod netns;
pub mod qemu;
pub mod tls;
pub mod xspice;

use super::tools::{IMAGEMAGICK_DISPLAY, OPENSSL, Tool, XTERM, XWD, require_tools};
use super::{HarnessError, Result};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

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
pub const SPICY_SCREENSHOT: Tool = Tool {
    binary: "spicy-screenshot",
    package: "spice-client-gtk",
};

/// Everything the QEMU tests need.
pub const QEMU_TOOLS: &[Tool] = &[QEMU, OPENSSL];
/// Everything the Xspice tests need.
pub const XSPICE_TOOLS: &[Tool] = &[XSPICE, XORG, XWD, XTERM, IMAGEMAGICK_DISPLAY, OPENSSL];

/// [`require_tools`] for a real-server test; fails in the hermetic `e2e` binary, where such a
/// test does not belong.
///
/// Use as `let Some(()) = require_real_servers(QEMU_TOOLS) else { return };`.
pub fn require_real_servers(tools: &[Tool]) -> Option<()> {
    super::assert_not_hermetic("a real-server test");
    require_tools(tools)
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
            return Err(HarnessError::Timeout {
                what: format!("port {port} to accept connections"),
                secs: timeout.as_secs_f64(),
                log: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
