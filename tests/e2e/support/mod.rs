//! Helpers shared by both end-to-end test binaries: `e2e` (hermetic: the in-repo test server,
//! Xvfb, replays) and `real` (real QEMU, Xspice and reference clients).
//!
//! By concern: [`wait`] (bounded polling), [`tools`] (programs a test needs: skip locally, fail
//! under `CI`), [`process`] (child guards, timeouts, stopping by PID), [`image`] (RGB images,
//! pixel-exact comparison), [`x11`] (Xvfb, `xdotool`, window captures), [`xfixes`] (the X
//! server's cursor image), [`app`] (the `sumac` app on a private display), [`desktop`] (Xvfb with
//! a window manager, the app and a local xterm; the guest's key log), [`session`] (the
//! runtime's event receiver), [`mouse`] and [`wayland`] (server mouse mode rigs on X11 and on
//! weston), [`real`] (QEMU, Xspice, TLS certificates, reference clients).
//!
//! Policy: every process a helper starts is a child remembered by PID and stopped by PID when
//! its guard is dropped (also when the test panics); nothing is ever killed by name.
//!
//! Hermeticity: what starts real SPICE servers or reference clients calls
//! [`assert_not_hermetic`], which fails in the `e2e` binary, so `cargo test --test e2e` never
//! needs QEMU, Xspice or spice-gtk.

#![allow(dead_code)] // A library for two test binaries: each uses a part of it.

pub mod app;
pub mod desktop;
pub mod image;
pub mod mouse;
pub mod process;
pub mod real;
pub mod session;
pub mod sharing;
pub mod tools;
pub mod wait;
pub mod wayland;
pub mod x11;
pub mod xfixes;

use std::fs;
use std::path::{Path, PathBuf};

/// Errors of the harness itself (a server would not start, QMP failed, an image is unreadable...).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
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

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// The test binary this code is compiled into (`e2e` or `real`).
const BINARY: &str = env!("CARGO_CRATE_NAME");

/// Panics in the hermetic `e2e` binary: `what` (a real server, a reference client) belongs to a
/// test of the `real` binary (`tests/e2e/real/`).
pub fn assert_not_hermetic(what: &str) {
    assert_ne!(
        BINARY, "e2e",
        "{what} in the hermetic e2e test binary: tests that need real SPICE software go to tests/e2e/real/"
    );
}

/// A directory that survives the test, for images a failing comparison leaves behind for people
/// (and CI artifacts) to look at: `<target>/tmp/real-servers/<name>`.
pub fn artifact_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-servers").join(name);
    fs::create_dir_all(&dir).expect("create the artifact directory under CARGO_TARGET_TMPDIR");
    dir
}

/// Sends the client's `tracing` output to the test's output when `RUST_LOG` is set (e.g.
/// `RUST_LOG=sumac=debug cargo test … -- --nocapture`); once per test binary.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
