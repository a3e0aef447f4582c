//! A real Linux guest for Sumac's tests and benches: QEMU with SPICE running a stock Debian kernel,
//! Xorg on the qxl device, spice-vdagent, spice-webdavd, ALSA and a shell, built from Debian
//! packages at test time (facts: `/work/shared/real-guest.md`).
//!
//! There is no disk image: the guest's root file system is the host's `/`, shared read-only over
//! virtio-9p with a tmpfs overlay on top, so every program in the guest is the host's (the Debian
//! packages `scripts/setup` installs; [`GUEST_PACKAGES`]). The kernel comes from the package
//! `linux-image-amd64` depends on, downloaded and unpacked into a cache, never installed. The guest
//! can read every host file: run only the project's own tests in it.
//!
//! - [`GuestImage::prepare`]: the kernel, a busybox initramfs and the guest init, cached
//!   (`SUMAC_GUEST_CACHE`, default `<target dir>/sumac-guest`); safe from several processes at once.
//! - [`Guest::boot`]: QEMU (KVM when it really works, else TCG) with the devices of
//!   [`GuestOptions`]; returns once the guest reports ready. [`Guest::spice_port`],
//!   [`Guest::qmp`], [`Guest::run`] / [`Guest::run_x`] (commands in the guest, through a writable
//!   9p control share), [`Guest::write_file`] / [`Guest::read_file`], [`Guest::spawn`] (a
//!   background process), [`Guest::console_log`], [`Guest::guest_log`]. Dropping it (or
//!   [`Guest::stop`]) powers the guest off and kills only the QEMU it started if needed; QEMU also
//!   dies with the test process (parent-death signal).
//! - [`GuestGroup`]: several cases on one guest, in one `#[test]`.
//!
//! At most `SUMAC_GUEST_SLOTS` guests (default 1) run at once on a machine: other boots wait.
//!
//! # Why one `#[test]` per group
//! A boot costs ~25-40 s of a TCG core, so tests share guests. `cargo nextest` (CI's
//! `scripts/test`) runs every `#[test]` in a process of its own, so a guest cannot outlive its test
//! function there; under `cargo test` a `static` guest would never be powered off (statics are not
//! dropped); a guest left running for later test processes would belong to nobody (and outlive the
//! run); nextest's setup scripts are experimental and nextest-only. A [`GuestGroup`] inside one
//! `#[test]` works the same under both runners: it boots once, runs its cases in order, checks after
//! each that the guest is as it was (daemons, screen size), replaces a guest a case broke, and
//! reports every failing case. Guest tests go in `tests/guest/tests/` (or any test binary that
//! depends on this crate), one `#[test]` per group of cases that need the same devices.
//!
//! # A test group
//! ```no_run
//! use sumac_test_guest::{GuestGroup, GuestOptions};
//!
//! #[test]
//! fn agent_features() {
//!     GuestGroup::new("agent", GuestOptions::default().agent())
//!         .case("xrandr", |g| {
//!             let screen = g.run_x_ok("xrandr --current")?;
//!             assert!(screen.contains("current 1024 x 768"), "{screen}");
//!             Ok(())
//!         })
//!         .case("clipboard from the guest", |g| {
//!             g.run_x_ok("printf hello | xclip -i -selection clipboard")?;
//!             // ... connect a client to g.spice_port(), check what it receives ...
//!             g.run_x_ok("xclip -i -selection clipboard </dev/null")?; // leave it as found
//!             Ok(())
//!         })
//!         .run(); // skips without the host packages, unless CI is set (then fails)
//! }
//! ```
//!
//! # Environment
//! - `SUMAC_GUEST_CACHE`: the image cache directory.
//! - `SUMAC_GUEST_ACCEL`: `kvm`, `tcg` or `auto` (default).
//! - `SUMAC_GUEST_BOOT_TIMEOUT`: seconds to wait for "ready" (default 240).
//! - `SUMAC_GUEST_SLOTS`: guests allowed at once on this machine (default 1).
//! - `SUMAC_GUEST_CASES`: comma-separated words; a group runs only the cases whose name holds one.
//! - `SUMAC_GUEST_KEEP`: keep each guest's run directory (logs, console) after it stops.
//! - `CI`: missing host packages fail instead of skipping.

mod control;
mod cpio;
mod error;
mod group;
mod guest;
mod host;
mod image;
mod options;
mod qemu;
mod qmp;
mod slot;

pub use control::{GuestProcess, Output, RunOptions};
pub use error::{Error, Result};
pub use group::{CaseResult, GroupReport, GuestGroup};
pub use guest::{GUEST_CTL_DIR, GUEST_SHARE_DIR, Guest, StopReport, WEBDAV_PORT, shell_quote};
pub use host::{
    GUEST_PACKAGES, SMARTCARD_PACKAGES, default_cache_dir, in_ci, missing_packages, process_alive, process_cpu_time,
    process_rss_kib,
};
pub use image::{GuestImage, PrepareReport};
pub use options::{Accel, GuestOptions, TlsOptions};
pub use qmp::Qmp;

#[cfg(test)]
mod tests {
    #[test]
    fn a_guest_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Guest>();
    }
}
