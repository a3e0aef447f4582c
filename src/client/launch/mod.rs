//! The launch path, without GTK and without clap: what a command line (or a
//! desktop file, or the connect window) asks for, and how it is merged with
//! the target it names into everything a session and its windows need.
//!
//! - [`Target`]: a `spice://` URI, a `.vv` file (also as `file://`) or `-`
//!   (a `.vv` file on standard input).
//! - [`SpiceOptions`]: spice-gtk's `--spice-*` option set as plain data.
//! - [`LaunchRequest`]: remote-viewer's options plus the `--spice-*` ones;
//!   [`LaunchRequest::resolve`] reads the target (a `.vv` file may delete
//!   itself: `delete-this-file`) and [`LaunchRequest::merge`] combines it
//!   with the options into a [`Launch`]: the
//!   [`ConnectionConfig`](crate::client::ConnectionConfig), the
//!   [`SessionOptions`](crate::client::SessionOptions) and the window settings.
//!
//! Precedence: an option given on the command line wins over the same
//! setting in the `.vv` file (`-t` over `title`, `--spice-ca-file` over
//! `ca`, …; `-f` turns full screen on whatever the file says). Hotkeys follow
//! remote-viewer: defaults, then each `.vv` hotkey key replaces its action,
//! then `-H` replaces the whole set (unlisted actions are disabled); kiosk
//! mode has none.
//!
//! The command-line syntax itself (clap) is [`crate::cli`] (feature `cli`),
//! which fills these types; everything here is unit-tested headless.

mod options;
mod request;
mod spice_options;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use options::{
    AutoResize, Compression, Effects, KeyRemap, Keymap, KioskQuit, MouseModeArg, Renderer, parse_keymap, parse_zoom,
};
pub use request::{Launch, LaunchError, LaunchRequest};
pub use spice_options::SpiceOptions;

/// What to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `spice://`, `spice+tls://` or `spice+unix://`.
    Uri(String),
    /// A `.vv` connection file (also given as a `file://` URI).
    VvFile(PathBuf),
    /// `-`: a `.vv` file on standard input.
    Stdin,
}

impl Target {
    /// Classifies a positional argument: `-`, a URI with a scheme, or a path.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            return Self::Stdin;
        }
        if let Some(path) = file_uri_path(arg) {
            return Self::VvFile(path);
        }
        if arg.contains("://") {
            Self::Uri(arg.to_owned())
        } else {
            Self::VvFile(PathBuf::from(arg))
        }
    }
}

/// `file:///home/u/vm.vv` (desktop environments may pass files as URIs).
fn file_uri_path(arg: &str) -> Option<PathBuf> {
    let rest = arg
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("file://"))
        .and(arg.get(7..))?;
    // `file://localhost/path` or `file:///path`.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    Some(PathBuf::from(decoded.into_owned()))
}
