//! `.vv` connection files (virt-viewer's format, as written by Proxmox VE,
//! oVirt/RHV, OpenNebula, …): a GLib key file with a `[virt-viewer]` group.
//!
//! The parser follows `GKeyFile`: `[group]` lines, `key=value` lines, `#`
//! comments, blank lines; spaces around `=` are dropped; string values use the
//! escapes `\s \n \t \r \\`; lists are `;`-separated (`\;` is a literal `;`);
//! a key given twice keeps its last value; localized keys `key[xx]` and
//! unknown keys or groups are ignored. Booleans are `1`/`0`/`true`/`false`.
//!
//! [`VvFile::load`] reads a file (or stdin for `-`) with a size cap, deletes it
//! when it says `delete-this-file=1` (unless `VIRT_VIEWER_KEEP_FILE` is set, as
//! remote-viewer) and checks every key; a bad value is a [`VvError`] naming the
//! key and its line. The connection part becomes a [`ConnectionConfig`]; the
//! rest (title, fullscreen, hotkeys, USB/smartcard settings) is kept for the
//! app.

pub mod hotkey;
mod keyfile;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use thiserror::Error;

use super::config::{CaSource, ConfigError, ConnectionConfig, Password, SecureChannels};
use super::proxy::{ProxyConfig, ProxyConfigError};
use crate::proto::ChannelType;
pub use hotkey::{Hotkey, HotkeyAction, HotkeyError, Hotkeys, Modifiers};
use keyfile::{
    KeyFile, opt_port, opt_string, parse_bool, parse_int, parse_list, parse_version, read_capped, read_capped_file,
    unescape,
};

/// Largest `.vv` file read (real files are a few kB; a CA chain fits easily).
pub const MAX_VV_BYTES: u64 = 1 << 20;

/// The `.vv` format version Sumac implements (remote-viewer 11.0's keys); a
/// file whose `version` asks for a newer remote-viewer is refused.
pub const IMPLEMENTED_VERSION: &str = "11.0";

/// The environment variable that keeps a `delete-this-file=1` file.
pub const KEEP_FILE_ENV: &str = "VIRT_VIEWER_KEEP_FILE";

const GROUP: &str = "virt-viewer";
const OVIRT_GROUP: &str = "ovirt";

/// Why a `.vv` file cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VvError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is larger than {max} bytes; a .vv file is a few kilobytes")]
    TooLarge { path: String, max: u64 },
    #[error("line {line}: the file is not valid UTF-8 text")]
    NotUtf8 { line: usize },
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: &'static str },
    #[error("not a virt-viewer connection file: it has no [virt-viewer] group")]
    NoVirtViewerGroup,
    #[error("the [virt-viewer] group has no `{key}` key")]
    MissingKey { key: &'static str },
    #[error("line {line}: invalid value for `{key}`: {expected}")]
    BadValue { key: String, line: usize, expected: String },
    #[error("line {line}: invalid escape sequence in the value of `{key}` (valid: \\s \\n \\t \\r \\\\)")]
    BadEscape { key: String, line: usize },
    #[error("line {line}: invalid hotkey for `{key}`: {source}")]
    Hotkey {
        key: String,
        line: usize,
        source: HotkeyError,
    },
    #[error("line {line}: invalid value for `{key}`: {source}")]
    Config {
        key: String,
        line: usize,
        source: ConfigError,
    },
    #[error("line {line}: invalid value for `proxy`: {source}")]
    Proxy { line: usize, source: ProxyConfigError },
    #[error("connection type `{kind}` is not supported: Sumac connects to SPICE servers only (type=spice)")]
    UnsupportedType { kind: String },
    #[error("the file names no server: give host with port or tls-port, or unix-path")]
    NoEndpoint,
    #[error(
        "this connection file needs remote-viewer {required} or newer; Sumac reads the {implemented} format{}",
        url.as_ref().map(|u| format!(" (newer version: {u})")).unwrap_or_default()
    )]
    TooNew {
        required: String,
        implemented: &'static str,
        url: Option<String>,
    },
}

/// A desktop effect the guest agent may turn off (`disable-effects`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Wallpaper,
    FontSmooth,
    Animation,
    All,
}

impl Effect {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "wallpaper" => Self::Wallpaper,
            "font-smooth" => Self::FontSmooth,
            "animation" => Self::Animation,
            "all" => Self::All,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Wallpaper => "wallpaper",
            Self::FontSmooth => "font-smooth",
            Self::Animation => "animation",
            Self::All => "all",
        }
    }

    /// Parses `wallpaper,font-smooth` (command line) or `wallpaper;animation`
    /// (.vv list); duplicates are dropped.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        let mut out = Vec::new();
        for name in list.split([',', ';']).map(str::trim).filter(|n| !n.is_empty()) {
            let e = Self::parse(name)
                .ok_or_else(|| format!("unknown effect `{name}`; valid: wallpaper, font-smooth, animation, all"))?;
            if !out.contains(&e) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

/// The `[ovirt]` group (used by remote-viewer's oVirt "change CD" menu; Sumac
/// keeps it for a later feature).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OvirtInfo {
    pub host: Option<String>,
    pub vm_guid: Option<String>,
    pub jsessionid: Option<Password>,
    pub sso_token: Option<Password>,
    pub ca: Option<String>,
    pub admin: Option<bool>,
}

impl std::fmt::Debug for OvirtInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvirtInfo")
            .field("host", &self.host)
            .field("vm_guid", &self.vm_guid)
            .field("jsessionid", &self.jsessionid)
            .field("sso_token", &self.sso_token)
            .field("ca", &self.ca.as_ref().map(|c| c.len()))
            .field("admin", &self.admin)
            .finish()
    }
}

/// Everything a `.vv` file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VvFile {
    /// host, port, tls-port, unix-path, password, username, ca, host-subject,
    /// tls-ciphers, secure-channels, proxy.
    pub connection: ConnectionConfig,
    /// Window title; `%d` is the monitor number (see [`title_for_monitor`]).
    pub title: Option<String>,
    pub fullscreen: Option<bool>,
    /// Hotkeys the file sets (each replaces that action's default).
    pub hotkeys: Vec<(HotkeyAction, Hotkey)>,
    pub enable_smartcard: Option<bool>,
    pub enable_usbredir: Option<bool>,
    pub enable_usb_autoshare: Option<bool>,
    /// usbredir auto-connect filter (`class,vendor,product,version,allow|…`).
    pub usb_filter: Option<String>,
    pub disable_effects: Vec<Effect>,
    /// Channels not to open (remote-viewer 11 ignores this key; Sumac honours it).
    pub disable_channels: Vec<ChannelType>,
    /// Deprecated; kept for completeness.
    pub color_depth: Option<u32>,
    pub delete_this_file: bool,
    /// Minimum remote-viewer version.
    pub version: Option<String>,
    /// `osid:version` pairs.
    pub versions: Vec<(String, String)>,
    pub newer_version_url: Option<String>,
    pub ovirt: Option<OvirtInfo>,
}

/// Replaces the first `%d` of a `.vv` title with the 1-based monitor number,
/// as remote-viewer does (`title=VM %d` → "VM 1" for the first monitor).
pub fn title_for_monitor(template: &str, monitor_index: usize) -> String {
    match template.split_once("%d") {
        Some((before, after)) => format!("{before}{}{after}", monitor_index.saturating_add(1)),
        None => template.to_owned(),
    }
}

/// Where to read a `.vv` file from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VvSource {
    Path(PathBuf),
    Stdin,
}

impl VvFile {
    /// Reads, deletes when asked (unless [`KEEP_FILE_ENV`] is set) and parses.
    pub fn load(source: &VvSource) -> Result<Self, VvError> {
        let keep = std::env::var_os(KEEP_FILE_ENV).is_some();
        Self::load_with(source, keep)
    }

    /// [`VvFile::load`] with the keep-file decision made by the caller.
    ///
    /// The file is deleted as soon as its syntax is read and it says
    /// `delete-this-file=1`, before the keys are checked: the password it holds
    /// must not stay on disk because another key was bad.
    pub fn load_with(source: &VvSource, keep_file: bool) -> Result<Self, VvError> {
        let (bytes, name) = match source {
            VvSource::Path(path) => (read_capped_file(path)?, path.display().to_string()),
            VvSource::Stdin => (
                read_capped(std::io::stdin().lock(), "standard input")?,
                "standard input".into(),
            ),
        };
        let keyfile = KeyFile::parse(&bytes)?;
        if let VvSource::Path(path) = source {
            let wants_delete = match keyfile.get(GROUP, "delete-this-file") {
                Some(e) => parse_bool(e)?,
                None => false,
            };
            if wants_delete && !keep_file {
                match std::fs::remove_file(path) {
                    Ok(()) => tracing::info!(file = %name, "deleted the connection file (delete-this-file=1)"),
                    Err(e) => tracing::warn!(file = %name, error = %e, "cannot delete the connection file"),
                }
            } else if wants_delete {
                tracing::info!(file = %name, "keeping the connection file: {KEEP_FILE_ENV} is set");
            }
        }
        Self::from_keyfile(&keyfile)
    }

    /// Parses the text of a `.vv` file (no deletion).
    pub fn parse(text: &str) -> Result<Self, VvError> {
        Self::from_keyfile(&KeyFile::parse(text.as_bytes())?)
    }

    fn from_keyfile(kf: &KeyFile) -> Result<Self, VvError> {
        if !kf.has_group(GROUP) {
            return Err(VvError::NoVirtViewerGroup);
        }
        let get = |key: &str| kf.get(GROUP, key);
        let kind = get("type").ok_or(VvError::MissingKey { key: "type" })?;
        let kind_value = unescape(kind)?;
        if !kind_value.trim().eq_ignore_ascii_case("spice") {
            return Err(VvError::UnsupportedType {
                kind: kind_value.trim().to_owned(),
            });
        }

        let mut vv = Self::default();
        for entry in kf.entries(GROUP) {
            if !KNOWN_KEYS.contains(&entry.key.as_str()) && !entry.key.contains('[') {
                tracing::debug!(key = %entry.key, line = entry.line, "ignoring unknown .vv key");
            }
        }

        // Version checks first: a file too new for us is refused whatever else it says.
        vv.version = opt_string(get("version"))?;
        vv.newer_version_url = opt_string(get("newer-version-url"))?;
        if let Some(e) = get("versions") {
            for item in parse_list(e)? {
                let (osid, ver) = item.split_once(':').ok_or_else(|| VvError::BadValue {
                    key: e.key.clone(),
                    line: e.line,
                    expected: format!("`{item}` is not `osid:version`"),
                })?;
                vv.versions.push((osid.trim().to_owned(), ver.trim().to_owned()));
            }
        }
        if let (Some(required), Some(e)) = (&vv.version, get("version")) {
            let req = parse_version(required).ok_or_else(|| VvError::BadValue {
                key: e.key.clone(),
                line: e.line,
                expected: format!("`{required}` is not a version like 8.0 or 7.0-1"),
            })?;
            let ours = parse_version(IMPLEMENTED_VERSION).unwrap_or_default();
            if req > ours {
                return Err(VvError::TooNew {
                    required: required.clone(),
                    implemented: IMPLEMENTED_VERSION,
                    url: vv.newer_version_url.clone(),
                });
            }
        }

        // Connection.
        let c = &mut vv.connection;
        c.host = opt_string(get("host"))?.filter(|h| !h.trim().is_empty());
        c.port = opt_port(get("port"))?;
        c.tls_port = opt_port(get("tls-port"))?;
        c.unix_path = opt_string(get("unix-path"))?
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        c.username = opt_string(get("username"))?.filter(|u| !u.is_empty());
        c.password = opt_string(get("password"))?.map(Password::from);
        if let Some(e) = get("ca") {
            let pem = unescape(e)?;
            if !pem.contains("-----BEGIN") {
                return Err(VvError::BadValue {
                    key: e.key.clone(),
                    line: e.line,
                    expected: "expected PEM certificates (-----BEGIN CERTIFICATE-----, newlines written as \\n)".into(),
                });
            }
            c.ca = Some(CaSource::Pem(pem.into_bytes()));
        }
        c.host_subject = opt_string(get("host-subject"))?.filter(|s| !s.trim().is_empty());
        c.tls_ciphers = opt_string(get("tls-ciphers"))?;
        if let Some(e) = get("secure-channels") {
            let joined = parse_list(e)?.join(";");
            c.secure_channels = SecureChannels::parse(&joined).map_err(|source| VvError::Config {
                key: e.key.clone(),
                line: e.line,
                source,
            })?;
        }
        if let Some(e) = get("proxy") {
            let value = unescape(e)?;
            if !value.trim().is_empty() {
                ProxyConfig::parse(&value).map_err(|source| VvError::Proxy { line: e.line, source })?;
            }
            // An empty `proxy=` means "no proxy", even when SPICE_PROXY is set.
            c.proxy = Some(value.trim().to_owned());
        }
        if c.unix_path.is_some() {
            if c.host.is_some() || c.port.is_some() || c.tls_port.is_some() {
                tracing::warn!("the .vv file gives unix-path and host/port; using unix-path");
            }
        } else {
            if c.host.is_none() {
                return Err(VvError::MissingKey { key: "host" });
            }
            if c.port.is_none() && c.tls_port.is_none() {
                return Err(VvError::MissingKey {
                    key: "port` or `tls-port",
                });
            }
        }

        // Window and session settings.
        vv.title = opt_string(get("title"))?;
        vv.fullscreen = get("fullscreen").map(parse_bool).transpose()?;
        for action in HotkeyAction::ALL {
            if let Some(e) = get(action.name()) {
                let value = unescape(e)?;
                if value.trim().is_empty() {
                    continue;
                }
                let hk = Hotkey::parse_for(action, &value).map_err(|source| VvError::Hotkey {
                    key: e.key.clone(),
                    line: e.line,
                    source,
                })?;
                vv.hotkeys.push((action, hk));
            }
        }
        vv.enable_smartcard = get("enable-smartcard").map(parse_bool).transpose()?;
        vv.enable_usbredir = get("enable-usbredir").map(parse_bool).transpose()?;
        vv.enable_usb_autoshare = get("enable-usb-autoshare").map(parse_bool).transpose()?;
        vv.usb_filter = opt_string(get("usb-filter"))?.filter(|f| !f.trim().is_empty());
        if let Some(e) = get("disable-effects") {
            let joined = parse_list(e)?.join(";");
            vv.disable_effects = Effect::parse_list(&joined).map_err(|expected| VvError::BadValue {
                key: e.key.clone(),
                line: e.line,
                expected,
            })?;
        }
        if let Some(e) = get("disable-channels") {
            for name in parse_list(e)? {
                let ty = ChannelType::from_name(&name.trim().to_ascii_lowercase()).ok_or_else(|| VvError::Config {
                    key: e.key.clone(),
                    line: e.line,
                    source: ConfigError::UnknownChannel { name: name.clone() },
                })?;
                if !vv.disable_channels.contains(&ty) {
                    vv.disable_channels.push(ty);
                }
            }
        }
        if let Some(e) = get("color-depth") {
            vv.color_depth = u32::try_from(parse_int(e, 0, 32)?).ok();
        }
        vv.delete_this_file = get("delete-this-file").map(parse_bool).transpose()?.unwrap_or(false);

        if kf.has_group(OVIRT_GROUP) {
            let o = |key: &str| kf.get(OVIRT_GROUP, key);
            vv.ovirt = Some(OvirtInfo {
                host: opt_string(o("host"))?,
                vm_guid: opt_string(o("vm-guid"))?,
                jsessionid: opt_string(o("jsessionid"))?.map(Password::from),
                sso_token: opt_string(o("sso-token"))?.map(Password::from),
                ca: opt_string(o("ca"))?,
                admin: o("admin").map(parse_bool).transpose()?,
            });
        }
        tracing::debug!(
            host = vv.connection.host.as_deref().unwrap_or_default(),
            port = ?vv.connection.port,
            tls_port = ?vv.connection.tls_port,
            proxy = vv.connection.proxy.is_some(),
            "parsed .vv file"
        );
        Ok(vv)
    }

    /// Applies the file's hotkeys on top of `base` (each replaces that action).
    pub fn apply_hotkeys(&self, base: &mut Hotkeys) {
        for (action, hk) in &self.hotkeys {
            base.set(*action, hk.clone());
        }
    }
}

/// Every key of the `[virt-viewer]` group remote-viewer 11 knows.
const KNOWN_KEYS: &[&str] = &[
    "type",
    "version",
    "versions",
    "newer-version-url",
    "unix-path",
    "host",
    "port",
    "tls-port",
    "username",
    "password",
    "disable-channels",
    "tls-ciphers",
    "ca",
    "host-subject",
    "fullscreen",
    "title",
    "toggle-fullscreen",
    "release-cursor",
    "zoom-in",
    "zoom-out",
    "zoom-reset",
    "smartcard-insert",
    "smartcard-remove",
    "secure-attention",
    "usb-device-reset",
    "enable-smartcard",
    "enable-usbredir",
    "enable-usb-autoshare",
    "usb-filter",
    "color-depth",
    "disable-effects",
    "secure-channels",
    "delete-this-file",
    "proxy",
];
