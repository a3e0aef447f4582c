//! Hermetic end-to-end tests: the real client (`sumac::client`, `sumac-cli`, the `sumac` app and
//! the GTK widget) against the in-repo test server (`tests/server`), recorded sessions replayed,
//! the fuzz regression set, `.vv` launching, and GUI tests on a private Xvfb (plus weston for
//! Wayland). Nothing here needs QEMU, Xspice or spice-gtk: the tests against real SPICE software
//! are the `real` binary, `tests/e2e/real/main.rs`; both share `tests/e2e/support/`.
//!
//! The GUI tests need Xvfb, dbus-run-session, xdotool, ImageMagick and weston; without them they
//! skip with a message, except under `CI=true`, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

mod agent;
mod app;
mod app_survive;
mod audio;
mod cursor;
mod fuzz_regression;
#[cfg(feature = "gtk")]
mod gui;
mod harness;
mod inputs;
mod launch;
mod memory;
mod migration;
mod ports;
mod reconnect;
mod replay;
mod session;
mod tone;
mod usb;
