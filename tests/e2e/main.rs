//! End-to-end tests: the real client against the test server and real SPICE servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod agent;
mod app;
mod cursor;
mod fuzz_regression;
#[cfg(feature = "gtk")]
mod gui;
mod inputs;
mod launch;
mod real;
mod replay;
mod session;
