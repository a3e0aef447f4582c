//! The clap definitions of the binaries' command lines (feature `cli`): the
//! `sumac` command line, compatible with remote-viewer's (virt-viewer 11),
//! and spice-gtk's `--spice-*` option group ([`SpiceArgs`]), which `sumac`
//! and `sumac-cli` both flatten into theirs. No GTK, no I/O while parsing.
//!
//! ```text
//! sumac [OPTION…] [URI | FILE.vv | -]
//! ```
//!
//! [`parse`] gives a [`LaunchRequest`] (or text to print for `--help` /
//! `--version`); what it means, and its merge with the `.vv` file, is
//! [`crate::client::launch`].
//!
//! Options of features Sumac does not have yet (USB redirection, smartcard,
//! shared folder, key remapping, …) are accepted and stored, so command lines
//! written for remote-viewer keep working.

mod spice_args;
#[cfg(test)]
mod tests;

use std::ffi::OsString;

use clap::Parser;
use thiserror::Error;

use crate::client::launch::{
    AutoResize, Keymap, KioskQuit, LaunchRequest, MouseModeArg, Renderer, Target, parse_keymap, parse_zoom,
};
use crate::client::vv::{HotkeyError, Hotkeys};
pub use spice_args::SpiceArgs;

fn parse_hotkeys(s: &str) -> Result<Hotkeys, HotkeyError> {
    Hotkeys::parse_list(s)
}

/// The raw clap definition (kept private: [`LaunchRequest`] is the API).
#[derive(Parser, Debug)]
#[command(
    name = "sumac",
    version,
    about = "Connect to a SPICE virtual machine display",
    long_about = "Connect to a SPICE server (spice://host:port, spice+tls://host:port, spice+unix:///path) \
                  or open a virt-viewer connection file (.vv; `-` reads one from standard input). \
                  Without an argument, Sumac shows the connect window.",
    after_help = "Hotkey actions: toggle-fullscreen, release-cursor, zoom-in, zoom-out, zoom-reset, \
                  secure-attention, usb-device-reset, smartcard-insert, smartcard-remove.\n\
                  Environment: SPICE_PROXY=http://[user:pass@]host:port (HTTP CONNECT proxy; a .vv `proxy` key wins), \
                  VIRT_VIEWER_KEEP_FILE (keep .vv files that ask to be deleted)."
)]
struct Args {
    /// spice://HOST:PORT, spice+tls://HOST:PORT, spice+unix:///PATH, a .vv file, or - (a .vv file on stdin)
    #[arg(value_name = "URI | FILE.vv | -")]
    target: Option<String>,

    /// Window title (%d is replaced by the monitor number)
    #[arg(short = 't', long = "title", value_name = "TITLE")]
    title: Option<String>,
    /// Open in full screen (guest monitors follow the client's)
    #[arg(short = 'f', long = "full-screen")]
    full_screen: bool,
    /// Zoom level of the guest display, in percent (10-400)
    #[arg(short = 'z', long = "zoom", value_name = "PCT", value_parser = parse_zoom)]
    zoom: Option<u32>,
    /// Hotkeys: action=key[+key][,action=…], e.g. toggle-fullscreen=shift+f11,release-cursor=ctrl+alt
    #[arg(short = 'H', long = "hotkeys", value_name = "SPEC", value_parser = parse_hotkeys)]
    hotkeys: Option<Hotkeys>,
    /// Kiosk mode: full screen, no menus, no hotkeys, no quit
    #[arg(short = 'k', long = "kiosk")]
    kiosk: bool,
    /// When a kiosk session may quit
    #[arg(long = "kiosk-quit", value_name = "WHEN", value_enum)]
    kiosk_quit: Option<KioskQuit>,
    /// Resize the guest to the window
    #[arg(long = "auto-resize", value_name = "WHEN", value_enum)]
    auto_resize: Option<AutoResize>,
    /// Remap keys: src=[dst[+dst]][,…], e.g. Super_L=,1=Shift_L+F1
    #[arg(short = 'K', long = "keymap", value_name = "SPEC", value_parser = parse_keymap)]
    keymap: Option<Keymap>,
    /// Display renderer
    #[arg(long = "renderer", value_name = "NAME", value_enum)]
    renderer: Option<Renderer>,
    /// Mouse mode to ask the server for (server: relative motion, the pointer grabbed until the release-cursor hotkey)
    #[arg(long = "mouse-mode", value_name = "MODE", value_enum)]
    mouse_mode: Option<MouseModeArg>,
    /// Reconnect by itself when the server goes away (not with --kiosk-quit=on-disconnect)
    #[arg(long = "reconnect")]
    reconnect: bool,
    /// Print more information
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Print debug information
    #[arg(long = "debug")]
    debug: bool,

    #[command(flatten)]
    spice: SpiceArgs,
}

/// [`parse`]'s result (made once per process: its size does not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Start the app with these options.
    Run(LaunchRequest),
    /// Print this text on stdout and exit successfully (`--help`, `--version`,
    /// `--spice-gtk-version`).
    Exit(String),
}

/// A command line that cannot be used. Its `Display` is the error followed by
/// the usage hint; [`CliError::help`] is the full `--help` text.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct CliError {
    message: String,
    help: String,
    kind: clap::error::ErrorKind,
}

impl CliError {
    /// The whole `--help` text, to print after the error.
    pub fn help(&self) -> &str {
        &self.help
    }

    /// True for an option Sumac does not know.
    pub fn is_unknown_option(&self) -> bool {
        self.kind == clap::error::ErrorKind::UnknownArgument
    }

    /// The exit code for this error (1, as remote-viewer).
    pub fn exit_code(&self) -> i32 {
        1
    }
}

/// The `--help` text.
pub fn help_text() -> String {
    use clap::CommandFactory;
    Args::command().render_long_help().to_string()
}

/// The `--version` text.
pub fn version_text() -> String {
    format!("sumac {}\n", env!("CARGO_PKG_VERSION"))
}

/// The `--spice-gtk-version` text of `program`.
pub fn spice_version_text(program: &str) -> String {
    format!(
        "{program} {} (SPICE protocol {}.{})\n",
        env!("CARGO_PKG_VERSION"),
        crate::proto::consts::SPICE_VERSION_MAJOR,
        crate::proto::consts::SPICE_VERSION_MINOR
    )
}

/// Parses `argv` (program name first).
pub fn parse<I, T>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    Ok(Parsed::Exit(e.render().to_string()))
                }
                ErrorKind::DisplayVersion => Ok(Parsed::Exit(version_text())),
                kind => Err(CliError {
                    message: e.render().to_string().trim_end().to_owned(),
                    help: help_text(),
                    kind,
                }),
            };
        }
    };
    if args.spice.spice_gtk_version {
        return Ok(Parsed::Exit(spice_version_text("sumac")));
    }
    let debug = args.debug || args.spice.spice_debug;
    Ok(Parsed::Run(LaunchRequest {
        target: args.target.as_deref().map(Target::from_arg),
        title: args.title,
        full_screen: args.full_screen,
        zoom: args.zoom,
        hotkeys: args.hotkeys,
        kiosk: args.kiosk,
        kiosk_quit: args.kiosk_quit.unwrap_or_default(),
        auto_resize: args.auto_resize,
        keymap: args.keymap.unwrap_or_default(),
        renderer: args.renderer,
        mouse_mode: args.mouse_mode,
        reconnect: args.reconnect,
        verbose: args.verbose,
        debug,
        spice: args.spice.into(),
    }))
}
