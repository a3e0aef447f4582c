//! Per-OS helpers for Sumac (keymaps, pointer warping).
//!
//! The only crate of the workspace allowed `#[cfg(target_os)]` code.
//! - [`keymap`]: hardware keycodes of every platform to PC XT scancodes,
//!   generated from keycodemapdb (`platform/tools/gen-keymaps.py`).
//! - `x11` (feature `x11`, on by default): pointer warping and the XKB
//!   keycodes name of an X server, over `x11rb` (pure Rust; the X11 screen
//!   layer maps its MIT-SHM memory with one small unsafe block).
//! - `x11_gl` (feature `x11`): whether an X server offers hardware GL.
//! - `wayland` (feature `wayland`, on by default): pointer lock and relative
//!   motion (server mouse mode) on a `wl_display` shared with the toolkit.
//! - `x11_screen` (feature `x11`): a child X window showing a guest monitor,
//!   painted by the X server from a pixmap (the X11 screen layer).

pub mod keymap;

#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub mod x11;

#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub mod x11_gl;

#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
pub mod x11_screen;

#[cfg(all(feature = "wayland", unix, not(target_os = "macos")))]
pub mod wayland;
