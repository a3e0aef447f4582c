//! The `sumac` command line, compatible with remote-viewer's (virt-viewer 11)
//! and spice-gtk's `--spice-*` option group. Pure: no GTK, no I/O while
//! parsing, so it is unit-tested headless; the app wires it in.
//!
//! ```text
//! sumac [OPTION…] [URI | FILE.vv | -]
//! ```
//!
//! [`parse`] gives a [`LaunchRequest`] (or text to print for `--help` /
//! `--version`); [`LaunchRequest::resolve`] then reads the `.vv` file (which
//! may delete it: `delete-this-file`) and merges it with the options into a
//! [`Launch`]: the [`ConnectionConfig`], the [`SessionOptions`] and the
//! window settings.
//!
//! Precedence: an option given on the command line wins over the same
//! setting in the `.vv` file (`-t` over `title`, `--spice-ca-file` over
//! `ca`, …; `-f` turns full screen on whatever the file says). Hotkeys follow
//! remote-viewer: defaults, then each `.vv` hotkey key replaces its action,
//! then `-H` replaces the whole set (unlisted actions are disabled); kiosk
//! mode has none.
//!
//! Options of features Sumac does not have yet (USB redirection, smartcard,
//! shared folder, key remapping, …) are accepted and stored, so command lines
//! written for remote-viewer keep working.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use thiserror::Error;

use crate::client::SessionOptions;
use crate::client::config::{CaSource, ConfigError, ConnectionConfig, SecureChannels};
use crate::client::inputs::MouseMode;
use crate::client::vv::{Effect, HotkeyError, Hotkeys, VvError, VvFile, VvSource};
use crate::proto::ChannelType;
use crate::proto::channel::display::image_compression;

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

/// When a kiosk session may end (`--kiosk-quit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum KioskQuit {
    #[default]
    Never,
    OnDisconnect,
}

/// `--auto-resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutoResize {
    Never,
    Always,
}

/// `--renderer` (Sumac's own option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Renderer {
    #[default]
    Auto,
    Gl,
    Cairo,
    /// The guest image in a child X window drawn by the X server (X11 only).
    X11,
}

impl Renderer {
    /// The value stored in the `renderer` GSettings key.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Gl => "gl",
            Self::Cairo => "cairo",
            Self::X11 => "x11",
        }
    }
}

/// `--mouse-mode` (Sumac's own option): the mouse mode to ask the server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum MouseModeArg {
    /// Absolute positions, when the server offers it (remote-viewer's choice).
    #[default]
    Client,
    /// Relative motion with the pointer grabbed, even when client mode is offered.
    Server,
}

impl MouseModeArg {
    /// The session's mouse mode.
    pub fn mode(self) -> MouseMode {
        match self {
            Self::Client => MouseMode::Client,
            Self::Server => MouseMode::Server,
        }
    }
}

/// `--spice-preferred-compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    AutoGlz,
    AutoLz,
    Quic,
    Glz,
    Lz,
    Lz4,
    Off,
}

impl Compression {
    /// The SPICE `image_compression` number sent in PREFERRED_COMPRESSION.
    pub fn to_spice(self) -> u8 {
        match self {
            Self::AutoGlz => image_compression::AUTO_GLZ,
            Self::AutoLz => image_compression::AUTO_LZ,
            Self::Quic => image_compression::QUIC,
            Self::Glz => image_compression::GLZ,
            Self::Lz => image_compression::LZ,
            Self::Lz4 => image_compression::LZ4,
            Self::Off => image_compression::OFF,
        }
    }
}

/// A list of effects (an alias so that clap takes the option once, as one value).
pub type Effects = Vec<Effect>;

/// The `-K/--keymap` entries (an alias so that clap takes the option once).
pub type Keymap = Vec<KeyRemap>;

/// One `-K/--keymap` entry: `src=dst+dst` (empty `dst`: the key is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRemap {
    pub from: String,
    pub to: Vec<String>,
}

/// Parses `Super_L=,1=Shift_L+F1` (remote-viewer's `--keymap`).
pub fn parse_keymap(spec: &str) -> Result<Vec<KeyRemap>, String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (from, to) = item
            .split_once('=')
            .ok_or_else(|| format!("`{item}` is not `key=key[+key]` (as in Super_L=,1=Shift_L+F1)"))?;
        let from = from.trim();
        if from.is_empty() || !is_key_name(from) {
            return Err(format!("`{from}` is not a key name"));
        }
        let to: Vec<String> = to
            .split('+')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = to.iter().find(|k| !is_key_name(k)) {
            return Err(format!("`{bad}` is not a key name"));
        }
        out.push(KeyRemap {
            from: from.to_owned(),
            to,
        });
    }
    Ok(out)
}

fn is_key_name(k: &str) -> bool {
    !k.is_empty() && k.len() <= 64 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_zoom(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(z) if (10..=400).contains(&z) => Ok(z),
        Ok(z) => Err(format!("{z} is out of range: the zoom is 10 to 400 (percent)")),
        Err(_) => Err(format!("`{s}` is not a number: the zoom is 10 to 400 (percent)")),
    }
}

fn parse_hotkeys(s: &str) -> Result<Hotkeys, HotkeyError> {
    Hotkeys::parse_list(s)
}

fn parse_effects(s: &str) -> Result<Vec<Effect>, String> {
    Effect::parse_list(s)
}

fn parse_secure_channels(s: &str) -> Result<SecureChannels, ConfigError> {
    SecureChannels::parse(s)
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
    /// Mouse mode to ask the server for (server: relative motion, the pointer grabbed until Ctrl+Alt)
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

/// spice-gtk's option group (`spice_get_option_group()`).
#[derive(clap::Args, Debug, Default, Clone, PartialEq, Eq)]
#[command(next_help_heading = "SPICE options")]
pub struct SpiceArgs {
    /// Channels that must use TLS: main,display,inputs,cursor,playback,record,smartcard,usbredir or all
    #[arg(long = "spice-secure-channels", value_name = "LIST", value_parser = parse_secure_channels)]
    pub secure_channels: Option<SecureChannels>,
    /// Guest desktop effects to turn off: wallpaper,font-smooth,animation,all
    #[arg(long = "spice-disable-effects", value_name = "LIST", value_parser = parse_effects)]
    pub disable_effects: Option<Effects>,
    /// Guest colour depth (deprecated, ignored by servers)
    #[arg(long = "spice-color-depth", value_name = "BITS", hide = true)]
    pub color_depth: Option<u32>,
    /// CA certificate(s) for TLS (PEM file)
    #[arg(long = "spice-ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Expected subject of the server certificate, e.g. "C=XX,O=Org,CN=host"
    #[arg(long = "spice-host-subject", value_name = "SUBJECT")]
    pub host_subject: Option<String>,
    /// Do not open the audio channels
    #[arg(long = "spice-disable-audio")]
    pub disable_audio: bool,
    /// Enable smartcard support
    #[arg(long = "spice-smartcard")]
    pub smartcard: bool,
    /// Certificates of the emulated smartcard
    #[arg(long = "spice-smartcard-certificates", value_name = "CERTS")]
    pub smartcard_certificates: Option<String>,
    /// Certificate database of the emulated smartcard
    #[arg(long = "spice-smartcard-db", value_name = "DB")]
    pub smartcard_db: Option<String>,
    /// Do not redirect USB devices
    #[arg(long = "spice-disable-usbredir")]
    pub disable_usbredir: bool,
    /// USB devices redirected automatically: class,vendor,product,version,allow|…
    #[arg(long = "spice-usbredir-auto-redirect-filter", value_name = "FILTER")]
    pub usbredir_auto_redirect_filter: Option<String>,
    /// USB devices redirected when the session starts: class,vendor,product,version,allow|…
    #[arg(long = "spice-usbredir-redirect-on-connect", value_name = "FILTER")]
    pub usbredir_redirect_on_connect: Option<String>,
    /// ISO file to share with the guest as a CD (repeatable)
    #[arg(long = "spice-share-cd", value_name = "FILE")]
    pub share_cd: Vec<PathBuf>,
    /// Image cache size in bytes (deprecated)
    #[arg(long = "spice-cache-size", value_name = "BYTES", hide = true)]
    pub cache_size: Option<u64>,
    /// GLZ window size in bytes (deprecated)
    #[arg(long = "spice-glz-window-size", value_name = "BYTES", hide = true)]
    pub glz_window_size: Option<u64>,
    /// Folder shared with the guest
    #[arg(long = "spice-shared-dir", value_name = "DIR")]
    pub shared_dir: Option<PathBuf>,
    /// Image compression to ask the server for
    #[arg(long = "spice-preferred-compression", value_name = "KIND", value_enum)]
    pub preferred_compression: Option<Compression>,
    /// Print SPICE debug information
    #[arg(long = "spice-debug")]
    pub spice_debug: bool,
    /// Print the SPICE protocol version and exit
    #[arg(long = "spice-gtk-version")]
    pub spice_gtk_version: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchRequest {
    /// `None`: show the connect window.
    pub target: Option<Target>,
    pub title: Option<String>,
    pub full_screen: bool,
    /// 10–400.
    pub zoom: Option<u32>,
    /// `-H`: replaces the whole hotkey set.
    pub hotkeys: Option<Hotkeys>,
    pub kiosk: bool,
    pub kiosk_quit: KioskQuit,
    pub auto_resize: Option<AutoResize>,
    pub keymap: Vec<KeyRemap>,
    pub renderer: Option<Renderer>,
    /// `--mouse-mode`; `None`: client mode when offered.
    pub mouse_mode: Option<MouseModeArg>,
    /// `--reconnect`: relink by itself when the server goes away.
    pub reconnect: bool,
    pub verbose: bool,
    /// `--debug` or `--spice-debug`.
    pub debug: bool,
    pub spice: SpiceArgs,
}

impl LaunchRequest {
    /// The `tracing` filter the options ask for (`RUST_LOG` still wins in the binary).
    pub fn log_filter(&self) -> &'static str {
        if self.debug {
            "sumac=debug,info"
        } else if self.verbose {
            "sumac=info,warn"
        } else {
            "warn"
        }
    }
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
        return Ok(Parsed::Exit(format!(
            "sumac {} (SPICE protocol {}.{})\n",
            env!("CARGO_PKG_VERSION"),
            crate::proto::consts::SPICE_VERSION_MAJOR,
            crate::proto::consts::SPICE_VERSION_MINOR
        )));
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
        spice: args.spice,
    }))
}

/// Why the target cannot be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LaunchError {
    #[error("{0}")]
    Uri(#[from] ConfigError),
    #[error("{source}")]
    Vv {
        #[source]
        source: VvError,
    },
}

impl From<VvError> for LaunchError {
    fn from(source: VvError) -> Self {
        Self::Vv { source }
    }
}

/// A target resolved and merged with the options: everything needed to open
/// the session and its windows.
#[derive(Debug, Clone)]
pub struct Launch {
    pub connection: ConnectionConfig,
    pub session: SessionOptions,
    /// Window title template (`%d` = monitor number; see [`crate::client::vv::title_for_monitor`]).
    pub title: Option<String>,
    pub fullscreen: bool,
    pub hotkeys: Hotkeys,
    pub disable_effects: Vec<Effect>,
    pub enable_smartcard: bool,
    pub enable_usbredir: bool,
    pub usb_autoshare: bool,
    pub usb_filter: Option<String>,
    /// The parsed `.vv` file, if the target was one.
    pub vv: Option<VvFile>,
}

impl LaunchRequest {
    /// Reads the target (a `.vv` file is read once, and deleted if it says
    /// `delete-this-file=1` unless `VIRT_VIEWER_KEEP_FILE` is set) and merges
    /// it with the options. `Ok(None)` when there is no target.
    pub fn resolve(&self) -> Result<Option<Launch>, LaunchError> {
        let vv = match &self.target {
            None => return Ok(None),
            Some(Target::Uri(uri)) => {
                return Ok(Some(self.merge(ConnectionConfig::from_uri(uri)?, None)));
            }
            Some(Target::VvFile(path)) => VvFile::load(&VvSource::Path(path.clone()))?,
            Some(Target::Stdin) => VvFile::load(&VvSource::Stdin)?,
        };
        Ok(Some(self.merge(vv.connection.clone(), Some(vv))))
    }

    /// Merges the options over a connection (and the `.vv` it came from).
    pub fn merge(&self, mut connection: ConnectionConfig, vv: Option<VvFile>) -> Launch {
        let s = &self.spice;
        if let Some(ca) = &s.ca_file {
            connection.ca = Some(CaSource::File(ca.clone()));
        }
        if let Some(subject) = &s.host_subject {
            connection.host_subject = Some(subject.clone());
        }
        if let Some(secure) = &s.secure_channels {
            connection.secure_channels = secure.clone();
        }
        if let Some(mode) = self.mouse_mode {
            connection.mouse_mode = Some(mode.mode());
        }

        // A kiosk that quits when the session ends must not stay to reconnect.
        let reconnect = self.reconnect && !(self.kiosk && self.kiosk_quit == KioskQuit::OnDisconnect);
        let mut session = SessionOptions {
            preferred_compression: s.preferred_compression.map(Compression::to_spice),
            reconnect: reconnect.then(crate::client::ReconnectPolicy::default),
            ..SessionOptions::default()
        };
        let mut disabled: Vec<ChannelType> = vv.as_ref().map(|v| v.disable_channels.clone()).unwrap_or_default();
        if s.disable_audio {
            disabled.extend([ChannelType::PLAYBACK, ChannelType::RECORD]);
        }
        if s.disable_usbredir {
            disabled.push(ChannelType::USBREDIR);
        }
        disabled.dedup();
        for ty in disabled {
            if !session.disabled_channels.contains(&ty) {
                session.disabled_channels.push(ty);
            }
        }
        if let Some(bytes) = s.cache_size {
            session.image_cache_bytes = bytes;
        }
        if let Some(bytes) = s.glz_window_size {
            session.glz_window_bytes = bytes;
        }

        let hotkeys = if self.kiosk {
            Hotkeys::none()
        } else if let Some(h) = &self.hotkeys {
            h.clone()
        } else {
            let mut h = Hotkeys::default();
            if let Some(v) = &vv {
                v.apply_hotkeys(&mut h);
            }
            h
        };
        let from_vv = |f: fn(&VvFile) -> Option<bool>| vv.as_ref().and_then(f).unwrap_or(false);
        Launch {
            title: self.title.clone().or_else(|| vv.as_ref().and_then(|v| v.title.clone())),
            fullscreen: self.full_screen || self.kiosk || from_vv(|v| v.fullscreen),
            hotkeys,
            disable_effects: s
                .disable_effects
                .clone()
                .unwrap_or_else(|| vv.as_ref().map(|v| v.disable_effects.clone()).unwrap_or_default()),
            enable_smartcard: s.smartcard || from_vv(|v| v.enable_smartcard),
            enable_usbredir: !s.disable_usbredir && vv.as_ref().and_then(|v| v.enable_usbredir).unwrap_or(true),
            usb_autoshare: from_vv(|v| v.enable_usb_autoshare),
            usb_filter: s
                .usbredir_auto_redirect_filter
                .clone()
                .or_else(|| vv.as_ref().and_then(|v| v.usb_filter.clone())),
            connection,
            session,
            vv,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::vv::{Hotkey, HotkeyAction};

    fn parse_args(args: &[&str]) -> Result<Parsed, CliError> {
        parse(std::iter::once("sumac").chain(args.iter().copied()))
    }

    fn run(args: &[&str]) -> LaunchRequest {
        match parse_args(args) {
            Ok(Parsed::Run(r)) => r,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn targets() {
        assert_eq!(run(&[]).target, None);
        assert_eq!(run(&["-"]).target, Some(Target::Stdin));
        assert_eq!(
            run(&["spice://h:5900"]).target,
            Some(Target::Uri("spice://h:5900".into()))
        );
        assert_eq!(run(&["vm.vv"]).target, Some(Target::VvFile("vm.vv".into())));
        assert_eq!(
            run(&["file:///home/u/My%20VM.vv"]).target,
            Some(Target::VvFile("/home/u/My VM.vv".into()))
        );
        assert_eq!(
            run(&["--", "-weird.vv"]).target,
            Some(Target::VvFile("-weird.vv".into()))
        );
        let e = parse_args(&["a.vv", "b.vv"]).expect_err("two targets");
        assert!(e.to_string().contains("b.vv"), "{e}");
    }

    #[test]
    fn mouse_mode_option() {
        let r = run(&["--mouse-mode=server", "spice://h:5900"]);
        assert_eq!(r.mouse_mode, Some(MouseModeArg::Server));
        let launch = r.resolve().expect("valid").expect("a target");
        assert_eq!(launch.connection.mouse_mode, Some(MouseMode::Server));
        let r = run(&["--mouse-mode", "client", "spice://h:5900"]);
        let launch = r.resolve().expect("valid").expect("a target");
        assert_eq!(launch.connection.mouse_mode, Some(MouseMode::Client));
        // Not given: the connection keeps the default (client mode when offered).
        let launch = run(&["spice://h:5900"]).resolve().expect("valid").expect("a target");
        assert_eq!(launch.connection.mouse_mode, None);
        let e = parse_args(&["--mouse-mode=tablet", "spice://h:5900"]).expect_err("bad mode");
        assert!(e.to_string().contains("tablet"), "{e}");
    }

    #[test]
    fn remote_viewer_options() {
        let r = run(&[
            "-t",
            "VM %d",
            "-f",
            "-z",
            "150",
            "-k",
            "--kiosk-quit",
            "on-disconnect",
            "--auto-resize=never",
            "-K",
            "Super_L=,1=Shift_L+F1",
            "-v",
            "--renderer",
            "cairo",
            "spice://h:1",
        ]);
        assert_eq!(r.title.as_deref(), Some("VM %d"));
        assert!(r.full_screen && r.kiosk && r.verbose && !r.debug);
        assert_eq!(r.zoom, Some(150));
        assert_eq!(r.kiosk_quit, KioskQuit::OnDisconnect);
        assert_eq!(r.auto_resize, Some(AutoResize::Never));
        assert_eq!(r.renderer, Some(Renderer::Cairo));
        assert_eq!(r.mouse_mode, None);
        assert_eq!(
            r.keymap,
            vec![
                KeyRemap {
                    from: "Super_L".into(),
                    to: vec![]
                },
                KeyRemap {
                    from: "1".into(),
                    to: vec!["Shift_L".into(), "F1".into()]
                },
            ]
        );
        assert_eq!(r.log_filter(), "sumac=info,warn");

        let r = run(&[
            "--title=T",
            "--full-screen",
            "--zoom=10",
            "--kiosk",
            "--debug",
            "--keymap",
            "a=b",
        ]);
        assert_eq!(r.title.as_deref(), Some("T"));
        assert_eq!(r.zoom, Some(10));
        assert!(r.full_screen && r.kiosk && r.debug);
        assert_eq!(r.kiosk_quit, KioskQuit::Never);
        assert_eq!(r.log_filter(), "sumac=debug,info");
        assert!(run(&["--spice-debug"]).debug);

        let r = run(&["-H", "toggle-fullscreen=shift+f11,release-cursor=ctrl+alt"]);
        let h = r.hotkeys.expect("hotkeys");
        assert_eq!(
            h.get(HotkeyAction::ToggleFullscreen),
            Some(&Hotkey::parse("shift+f11").expect("valid"))
        );
        assert_eq!(h.get(HotkeyAction::ZoomIn), None);
        assert_eq!(
            run(&["--hotkeys=zoom-in=ctrl+i"]).hotkeys.map(|h| h.iter().count()),
            Some(1)
        );
    }

    #[test]
    fn spice_options() {
        let r = run(&[
            "--spice-secure-channels=main,display",
            "--spice-disable-effects",
            "wallpaper,animation",
            "--spice-ca-file",
            "/tmp/ca.pem",
            "--spice-host-subject=C=XX,O=Org,CN=host",
            "--spice-disable-audio",
            "--spice-smartcard",
            "--spice-smartcard-certificates=a,b,c",
            "--spice-smartcard-db=/db",
            "--spice-disable-usbredir",
            "--spice-usbredir-auto-redirect-filter=0x03,-1,-1,-1,0|-1,-1,-1,-1,1",
            "--spice-usbredir-redirect-on-connect=-1,0x1234,-1,-1,1",
            "--spice-share-cd=/a.iso",
            "--spice-share-cd=/b.iso",
            "--spice-shared-dir=/home/u/share",
            "--spice-preferred-compression=lz4",
            "--spice-color-depth=16",
            "--spice-cache-size=1000000",
            "--spice-glz-window-size=2000000",
            "spice://h?port=1&tls-port=2",
        ]);
        let s = &r.spice;
        assert_eq!(
            s.secure_channels,
            Some(SecureChannels::Only(vec![ChannelType::MAIN, ChannelType::DISPLAY]))
        );
        assert_eq!(s.disable_effects, Some(vec![Effect::Wallpaper, Effect::Animation]));
        assert_eq!(s.ca_file, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(s.host_subject.as_deref(), Some("C=XX,O=Org,CN=host"));
        assert!(s.disable_audio && s.smartcard && s.disable_usbredir);
        assert_eq!(s.smartcard_certificates.as_deref(), Some("a,b,c"));
        assert_eq!(s.smartcard_db.as_deref(), Some("/db"));
        assert_eq!(
            s.usbredir_auto_redirect_filter.as_deref(),
            Some("0x03,-1,-1,-1,0|-1,-1,-1,-1,1")
        );
        assert_eq!(s.usbredir_redirect_on_connect.as_deref(), Some("-1,0x1234,-1,-1,1"));
        assert_eq!(s.share_cd, vec![PathBuf::from("/a.iso"), PathBuf::from("/b.iso")]);
        assert_eq!(s.shared_dir, Some(PathBuf::from("/home/u/share")));
        assert_eq!(s.preferred_compression, Some(Compression::Lz4));
        assert_eq!(s.color_depth, Some(16));

        let launch = r.resolve().expect("valid").expect("a target");
        let c = &launch.connection;
        assert_eq!(c.ca, Some(CaSource::File("/tmp/ca.pem".into())));
        assert_eq!(c.host_subject.as_deref(), Some("C=XX,O=Org,CN=host"));
        assert_eq!(c.endpoint_for(ChannelType::MAIN).map(|e| e.is_tls()), Ok(true));
        assert_eq!(c.endpoint_for(ChannelType::INPUTS).map(|e| e.is_tls()), Ok(false));
        assert_eq!(launch.session.preferred_compression, Some(image_compression::LZ4));
        assert_eq!(
            launch.session.disabled_channels,
            vec![ChannelType::PLAYBACK, ChannelType::RECORD, ChannelType::USBREDIR]
        );
        assert_eq!(launch.session.image_cache_bytes, 1_000_000);
        assert_eq!(launch.session.glz_window_bytes, 2_000_000);
        assert!(!launch.enable_usbredir && launch.enable_smartcard);
        assert_eq!(launch.hotkeys, Hotkeys::default());
    }

    #[test]
    fn bad_values_and_unknown_options() {
        let e = parse_args(&["--frobnicate"]).expect_err("unknown");
        assert!(e.is_unknown_option());
        assert!(e.to_string().contains("--frobnicate"), "{e}");
        assert!(e.to_string().contains("--help"), "{e}");
        assert!(e.help().contains("--full-screen") && e.help().contains("--spice-ca-file"));
        assert_eq!(e.exit_code(), 1);

        for (args, needle) in [
            (&["-z", "5"][..], "out of range"),
            (&["-z", "abc"][..], "not a number"),
            (&["--kiosk-quit", "sometimes"][..], "sometimes"),
            (&["-H", "fullscreen=f11"][..], "unknown hotkey action"),
            (&["--spice-secure-channels", "main,bogus"][..], "bogus"),
            (&["--spice-disable-effects", "sparkles"][..], "sparkles"),
            (&["--spice-preferred-compression", "zstd"][..], "zstd"),
            (&["-K", "a"][..], "key=key"),
            (&["-t"][..], "TITLE"),
        ] {
            let e = parse_args(args).expect_err(needle);
            assert!(!e.is_unknown_option());
            assert!(e.to_string().contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn help_and_version() {
        let Ok(Parsed::Exit(help)) = parse_args(&["--help"]) else {
            panic!("--help")
        };
        for opt in [
            "--title",
            "--full-screen",
            "--zoom",
            "--hotkeys",
            "--kiosk",
            "--kiosk-quit",
            "--auto-resize",
            "--keymap",
            "--verbose",
            "--debug",
            "--version",
            "--spice-ca-file",
            "--spice-host-subject",
            "--spice-secure-channels",
            "--spice-disable-effects",
            "--spice-preferred-compression",
            "--spice-disable-audio",
            "--spice-disable-usbredir",
            "--spice-usbredir-auto-redirect-filter",
            "--spice-shared-dir",
            "--spice-debug",
        ] {
            assert!(help.contains(opt), "--help lacks {opt}");
        }
        assert_eq!(help, help_text());
        let Ok(Parsed::Exit(v)) = parse_args(&["-V"]) else {
            panic!("-V")
        };
        assert_eq!(v, format!("sumac {}\n", env!("CARGO_PKG_VERSION")));
        assert!(matches!(parse_args(&["--version"]), Ok(Parsed::Exit(t)) if t == v));
        assert!(matches!(parse_args(&["--spice-gtk-version"]), Ok(Parsed::Exit(t)) if t.contains("SPICE protocol 2.")));
    }

    fn write_vv(dir: &std::path::Path, text: &str) -> PathBuf {
        let path = dir.join("vm.vv");
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn vv_and_options_merge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_vv(
            dir.path(),
            "[virt-viewer]\ntype=spice\nhost=h\ntls-port=5901\ntitle=From file %d\nfullscreen=1\n\
             release-cursor=ctrl+alt\nsecure-attention=ctrl+alt+ins\ndisable-channels=playback\n\
             disable-effects=wallpaper\nusb-filter=-1,-1,-1,-1,1\nenable-usb-autoshare=1\n",
        );
        let p = path.to_string_lossy().into_owned();
        let l = run(&[&p]).resolve().expect("valid").expect("target");
        assert_eq!(l.title.as_deref(), Some("From file %d"));
        assert!(l.fullscreen);
        assert_eq!(l.connection.tls_port, Some(5901));
        assert_eq!(
            l.hotkeys
                .get(HotkeyAction::SecureAttention)
                .and_then(Hotkey::to_accelerator)
                .as_deref(),
            Some("<Control><Alt>Insert")
        );
        assert_eq!(
            l.hotkeys.get(HotkeyAction::ZoomIn),
            Some(&HotkeyAction::ZoomIn.default_hotkey())
        );
        assert_eq!(l.session.disabled_channels, vec![ChannelType::PLAYBACK]);
        assert_eq!(l.disable_effects, vec![Effect::Wallpaper]);
        assert!(l.usb_autoshare && l.enable_usbredir);
        assert_eq!(l.usb_filter.as_deref(), Some("-1,-1,-1,-1,1"));
        assert!(l.vv.is_some());

        // Options win over the file; -H replaces the file's hotkeys; kiosk drops them all.
        let l = run(&[
            "-t",
            "CLI",
            "-H",
            "zoom-in=ctrl+i",
            "--spice-host-subject",
            "CN=x",
            "--spice-disable-effects=all",
            &p,
        ])
        .resolve()
        .expect("valid")
        .expect("target");
        assert_eq!(l.title.as_deref(), Some("CLI"));
        assert_eq!(l.hotkeys.iter().count(), 1);
        assert_eq!(l.connection.host_subject.as_deref(), Some("CN=x"));
        assert_eq!(l.disable_effects, vec![Effect::All]);
        let l = run(&["-k", &p]).resolve().expect("valid").expect("target");
        assert_eq!(l.hotkeys.iter().count(), 0);
        assert!(l.fullscreen);

        // A bad file is an error naming the key; no target is Ok(None).
        let bad = write_vv(dir.path(), "[virt-viewer]\ntype=spice\nhost=h\nport=70000\n");
        let e = run(&[&bad.to_string_lossy()]).resolve().expect_err("bad port");
        assert!(e.to_string().contains("`port`"), "{e}");
        assert!(run(&[]).resolve().expect("nothing").is_none());
        let e = run(&["vnc://h:5900"]).resolve().expect_err("vnc");
        assert!(e.to_string().contains("vnc"), "{e}");
    }
}
