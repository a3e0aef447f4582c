//! The `sumac` app on a private Xvfb (or weston) against the test server: the guest cursor
//! drawn by each software layer, and server mouse mode (pointer grab on X11, pointer lock on
//! Wayland). The GTK widget against a real Xspice: `tests/e2e/real/gui.rs`.

mod release_hotkey;
mod server_cursor;
mod server_mouse;
mod wayland_pointer;
