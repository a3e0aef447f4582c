//! The `sumac` app on a private Xvfb (or weston) against the test server: the guest cursor
//! drawn by each software layer, server mouse mode (pointer grab on X11, pointer lock on
//! Wayland), the keyboard grab on a desktop with a window manager (openbox), the guest agent
//! through the app, the USB devices dialog following a session, and the main menu's tooltip
//! hidden while the menu is open. The GTK widget against a real Xspice: `tests/e2e/real/gui.rs`.

mod agent;
mod agent_drop;
mod error_page;
mod forward_command_line;
mod header;
mod keyboard_grab;
mod menu_tooltip;
mod recent;
mod release_hotkey;
mod send_keys;
mod server_cursor;
mod server_mouse;
mod shared_folder;
mod startup_error;
mod usb_dialog;
mod wayland_pointer;
mod window_size;
