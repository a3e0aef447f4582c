//! Per-OS helpers for Sumac (keyboard grabs, pointer lock, keymaps).
//!
//! The only crate of the workspace allowed `#[cfg(target_os)]` code; it is
//! filled by the GTK widget work.
