//! End-to-end tests: the real client against the test server and real SPICE servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod fuzz_regression;
mod real;
mod replay;
mod session;
