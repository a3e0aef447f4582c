//! The values of remote-viewer's and Sumac's own options (`--kiosk-quit`,
//! `--auto-resize`, `--renderer`, `--mouse-mode`, `-K`, `-z`,
//! `--spice-preferred-compression`). With the `cli` feature the enums are
//! also clap value enums (kebab-case names: `on-disconnect`, `auto-glz`).

use crate::client::inputs::MouseMode;
use crate::client::vv::Effect;
use crate::proto::channel::display::image_compression;

/// When a kiosk session may end (`--kiosk-quit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum KioskQuit {
    #[default]
    Never,
    OnDisconnect,
}

/// `--auto-resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum AutoResize {
    Never,
    Always,
}

/// `--renderer` (Sumac's own option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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

/// Parses `-z/--zoom`: a percentage from 10 to 400.
pub fn parse_zoom(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(z) if (10..=400).contains(&z) => Ok(z),
        Ok(z) => Err(format!("{z} is out of range: the zoom is 10 to 400 (percent)")),
        Err(_) => Err(format!("`{s}` is not a number: the zoom is 10 to 400 (percent)")),
    }
}
