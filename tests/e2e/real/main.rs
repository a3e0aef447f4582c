//! End-to-end tests against REAL SPICE software: QEMU and Xspice servers, spice-gtk's
//! `spicy-screenshot` as a reference client, and what runs in the Xspice session (xterm, xev,
//! ffplay...). Each test starts its own servers on free loopback ports and its own X displays.
//!
//! Without the Debian packages (`scripts/setup`) a test skips with a message, except under
//! `CI=true`, where it fails. The hermetic tests (the in-repo test server only) are the `e2e`
//! binary, `tests/e2e/main.rs`; both share `tests/e2e/support/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "../support/mod.rs"]
mod support;

mod agent_client;
mod agent_guest;
mod agent_xspice;
mod audio;
mod conformance;
mod cursor;
mod faults;
mod guest_audio;
mod guest_ports;
#[cfg(feature = "smartcard")]
mod guest_smartcard;
#[cfg(feature = "gtk")]
mod gui;
mod inputs;
mod migration;
mod pulse;
mod screenshot;
#[path = "../tone.rs"]
mod tone;
mod usb;
mod video;
#[cfg(feature = "gst")]
mod video_codecs;
