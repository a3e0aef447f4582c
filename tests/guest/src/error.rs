//! The harness's error type.

use std::time::Duration;

/// What can go wrong while preparing, booting, driving or stopping a guest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Host packages the guest needs are not installed (its programs and data come from the host).
    #[error(
        "the real guest needs Debian packages that are not installed: {}. Fix: scripts/setup, or apt-get install {}",
        .packages.join(" "), .packages.join(" ")
    )]
    MissingPackages { packages: Vec<String> },
    /// A host file operation failed.
    #[error("could not {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A host tool (apt-get, dpkg-deb, depmod, modprobe...) failed.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    HostCommand {
        command: String,
        status: String,
        stderr: String,
    },
    /// The kernel package could not be found, downloaded or used.
    #[error("guest kernel: {0}")]
    Kernel(String),
    /// QEMU exited before the guest was ready, or while a command ran.
    #[error(
        "QEMU exited ({status}){context}\n--- QEMU log (tail) ---\n{qemu_log}\n--- guest console (tail) ---\n{console}"
    )]
    QemuExited {
        status: String,
        context: String,
        qemu_log: String,
        console: String,
    },
    /// The guest did not report ready in time (or reported a failure).
    #[error("guest not ready after {:.0} s: {reason}\n--- guest console (tail) ---\n{console}", .waited.as_secs_f64())]
    NotReady {
        waited: Duration,
        reason: String,
        console: String,
    },
    /// A guest command did not finish in time.
    #[error("guest command timed out after {:.0} s: {command}\n--- guest console (tail) ---\n{console}", .waited.as_secs_f64())]
    Timeout {
        command: String,
        waited: Duration,
        console: String,
    },
    /// A guest command exited with a non-zero status (from the `*_ok` helpers).
    #[error("guest command `{command}` failed (exit status {status})\nstdout: {stdout}\nstderr: {stderr}")]
    GuestCommand {
        command: String,
        status: i32,
        stdout: String,
        stderr: String,
    },
    /// QMP failed (connection, protocol or a command's error reply).
    #[error("QMP: {0}")]
    Qmp(String),
    /// Anything else (bad option, unusable host...).
    #[error("{0}")]
    Other(String),
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps an I/O error to [`Error::Io`] with a description of what was being done.
pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
