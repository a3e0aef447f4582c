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

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::config::{CaSource, ConfigError, ConnectionConfig, Password, SecureChannels};
use super::proxy::{ProxyConfig, ProxyConfigError};
use crate::proto::ChannelType;
pub use hotkey::{Hotkey, HotkeyAction, HotkeyError, Hotkeys, Modifiers};

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

fn read_capped_file(path: &Path) -> Result<Vec<u8>, VvError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| VvError::Io {
        path: name.clone(),
        source,
    })?;
    read_capped(file, &name)
}

fn read_capped(reader: impl Read, name: &str) -> Result<Vec<u8>, VvError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_VV_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| VvError::Io {
            path: name.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_VV_BYTES {
        return Err(VvError::TooLarge {
            path: name.to_owned(),
            max: MAX_VV_BYTES,
        });
    }
    Ok(bytes)
}

/// One `key=value` line, value still escaped.
#[derive(Debug)]
struct Entry {
    key: String,
    value: String,
    line: usize,
}

#[derive(Debug)]
struct Group {
    name: String,
    entries: Vec<Entry>,
}

/// The syntax layer: groups of raw entries, in file order.
#[derive(Debug)]
struct KeyFile {
    groups: Vec<Group>,
}

impl KeyFile {
    fn parse(bytes: &[u8]) -> Result<Self, VvError> {
        // A UTF-8 byte-order mark (Windows tools write one) is skipped.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                let line = valid.iter().filter(|b| **b == b'\n').count().saturating_add(1);
                return Err(VvError::NotUtf8 { line });
            }
        };
        let mut groups: Vec<Group> = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index.saturating_add(1);
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.contains('\0') {
                return Err(VvError::Syntax {
                    line,
                    reason: "the file contains a NUL byte",
                });
            }
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(inner) = trimmed.strip_prefix('[') {
                let name = inner.trim_end().strip_suffix(']').ok_or(VvError::Syntax {
                    line,
                    reason: "a group line must look like [name]",
                })?;
                if name.is_empty() || name.contains(['[', ']']) || name.chars().any(char::is_control) {
                    return Err(VvError::Syntax {
                        line,
                        reason: "invalid group name",
                    });
                }
                groups.push(Group {
                    name: name.to_owned(),
                    entries: Vec::new(),
                });
                continue;
            }
            let (key, value) = trimmed.split_once('=').ok_or(VvError::Syntax {
                line,
                reason: "expected `key=value`, a [group], a # comment or an empty line",
            })?;
            let key = key.trim_end();
            if key.is_empty() {
                return Err(VvError::Syntax {
                    line,
                    reason: "a line starts with `=`: the key is missing",
                });
            }
            let group = groups.last_mut().ok_or(VvError::Syntax {
                line,
                reason: "a key comes before the first [group]",
            })?;
            group.entries.push(Entry {
                key: key.to_owned(),
                value: value.trim_start().to_owned(),
                line,
            });
        }
        Ok(Self { groups })
    }

    fn has_group(&self, name: &str) -> bool {
        self.groups.iter().any(|g| g.name == name)
    }

    fn entries<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Entry> {
        self.groups
            .iter()
            .filter(move |g| g.name == group)
            .flat_map(|g| g.entries.iter())
    }

    /// The last value of `key` in `group` (groups of the same name are merged).
    fn get<'a>(&'a self, group: &'a str, key: &str) -> Option<&'a Entry> {
        self.entries(group).filter(|e| e.key == key).last()
    }
}

/// GKeyFile string unescaping: `\s \n \t \r \\`.
fn unescape(e: &Entry) -> Result<String, VvError> {
    unescape_str(&e.value).ok_or_else(|| VvError::BadEscape {
        key: e.key.clone(),
        line: e.line,
    })
}

fn unescape_str(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            's' => ' ',
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '\\' => '\\',
            _ => return None,
        });
    }
    Some(out)
}

/// A `;`-separated GKeyFile list; `\;` is a literal `;`, a trailing `;` ends
/// the list, empty items are dropped.
fn parse_list(e: &Entry) -> Result<Vec<String>, VvError> {
    let bad = || VvError::BadEscape {
        key: e.key.clone(),
        line: e.line,
    };
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = e.value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next().ok_or_else(bad)? {
                ';' => current.push(';'),
                other => {
                    current.push('\\');
                    current.push(other);
                }
            },
            ';' => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|raw| unescape_str(&raw).ok_or_else(bad))
        .filter(|r| r.as_ref().map_or(true, |s| !s.trim().is_empty()))
        .collect()
}

fn opt_string(e: Option<&Entry>) -> Result<Option<String>, VvError> {
    e.map(unescape).transpose()
}

fn parse_bool(e: &Entry) -> Result<bool, VvError> {
    match e.value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(VvError::BadValue {
            key: e.key.clone(),
            line: e.line,
            expected: format!("`{}` is not a boolean; use 1 or 0", e.value.trim()),
        }),
    }
}

fn parse_int(e: &Entry, min: i64, max: i64) -> Result<i64, VvError> {
    let v = e.value.trim();
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(VvError::BadValue {
            key: e.key.clone(),
            line: e.line,
            expected: format!("{v} is out of range ({min} to {max})"),
        }),
        Err(_) => Err(VvError::BadValue {
            key: e.key.clone(),
            line: e.line,
            expected: format!("`{v}` is not a whole number"),
        }),
    }
}

/// A port: 1 to 65535. `0` and `-1` mean "no such port" (some generators
/// write `port=-1` for TLS-only consoles).
fn opt_port(e: Option<&Entry>) -> Result<Option<u16>, VvError> {
    let Some(e) = e else { return Ok(None) };
    let n = parse_int(e, -1, 65535)?;
    Ok(u16::try_from(n).ok().filter(|p| *p != 0))
}

/// `1.2.3`, `7.0-3` → comparable numbers (the build part after `-` counts
/// last). `None` if a part is not a number.
fn parse_version(v: &str) -> Option<Vec<u64>> {
    let (main, build) = v.trim().split_once('-').unwrap_or((v.trim(), ""));
    let mut parts = main
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    // Pad so that 11 == 11.0 == 11.0.0 before the build number.
    parts.resize(parts.len().max(4), 0);
    if !build.is_empty() {
        parts.push(build.parse().ok()?);
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA_LINE: &str = "-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIUTest\\n-----END CERTIFICATE-----\\n";

    fn proxmox() -> String {
        format!(
            "[virt-viewer]\n\
             secure-attention=Ctrl+Alt+Ins\n\
             delete-this-file=1\n\
             proxy=http://pve1.example.com:3128\n\
             type=spice\n\
             toggle-fullscreen=Shift+F11\n\
             title=VM 100 - web01\n\
             host=pvespiceproxy:65f9a8b2:100:pve1::0123abcdef\n\
             password=A1b2C3d4\n\
             host-subject=OU=PVE Cluster Node,O=Proxmox Virtual Environment,CN=pve1.example.com\n\
             release-cursor=Ctrl+Alt+R\n\
             tls-port=61000\n\
             ca={CA_LINE}\n"
        )
    }

    fn ovirt() -> String {
        format!(
            "# written by oVirt engine\r\n\
             [virt-viewer]\r\n\
             type=spice\r\n\
             host=192.0.2.10\r\n\
             port=-1\r\n\
             password=tick3t\r\n\
             # Password is valid for 120 seconds.\r\n\
             delete-this-file=1\r\n\
             fullscreen=0\r\n\
             title=web02:%d - Press SHIFT+F12 to Release Cursor\r\n\
             toggle-fullscreen=shift+f11\r\n\
             release-cursor=shift+f12\r\n\
             smartcard-insert=shift+f9\r\n\
             smartcard-remove=shift+f10\r\n\
             secure-attention=ctrl+alt+end\r\n\
             tls-port=5901\r\n\
             enable-smartcard=0\r\n\
             enable-usb-autoshare=1\r\n\
             usb-filter=-1,-1,-1,-1,0\r\n\
             tls-ciphers=DEFAULT\r\n\
             host-subject=O=example.com,CN=192.0.2.10\r\n\
             ca={CA_LINE}\r\n\
             secure-channels=main;inputs;cursor;playback;record;display;smartcard;usbredir\r\n\
             versions=rhev-win64:2.0-160;rhev-win32:2.0-160;rhel8:7.0-3;rhel7:2.0-6;rhel6:99.0-1\r\n\
             newer-version-url=http://www.ovirt.org/documentation/admin-guide/virt/console-client-resources\r\n\
             disable-effects=wallpaper;animation;\r\n\
             color-depth=24\r\n\
             \r\n\
             [ovirt]\r\n\
             host=engine.example.com:443\r\n\
             vm-guid=2b4a8b0c-1111-2222-3333-444455556666\r\n\
             sso-token=Bearer abc.def\r\n\
             admin=1\r\n\
             ca={CA_LINE}\r\n"
        )
    }

    #[test]
    fn proxmox_style_file() {
        let vv = VvFile::parse(&proxmox()).expect("valid Proxmox file");
        let c = &vv.connection;
        assert_eq!(c.host.as_deref(), Some("pvespiceproxy:65f9a8b2:100:pve1::0123abcdef"));
        assert_eq!(c.tls_port, Some(61000));
        assert_eq!(c.port, None);
        assert_eq!(c.password.as_ref().map(Password::as_str), Some("A1b2C3d4"));
        assert_eq!(c.proxy.as_deref(), Some("http://pve1.example.com:3128"));
        assert_eq!(
            c.host_subject.as_deref(),
            Some("OU=PVE Cluster Node,O=Proxmox Virtual Environment,CN=pve1.example.com")
        );
        let Some(CaSource::Pem(pem)) = &c.ca else {
            panic!("ca not inline: {:?}", c.ca)
        };
        assert_eq!(
            std::str::from_utf8(pem).expect("utf8"),
            "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTest\n-----END CERTIFICATE-----\n"
        );
        assert!(vv.delete_this_file);
        assert_eq!(vv.title.as_deref(), Some("VM 100 - web01"));
        let hk = |a| {
            vv.hotkeys
                .iter()
                .find(|(x, _)| *x == a)
                .map(|(_, h)| h.to_accelerator())
        };
        assert_eq!(
            hk(HotkeyAction::SecureAttention),
            Some(Some("<Control><Alt>Insert".into()))
        );
        assert_eq!(hk(HotkeyAction::ToggleFullscreen), Some(Some("<Shift>F11".into())));
        assert_eq!(hk(HotkeyAction::ReleaseCursor), Some(Some("<Control><Alt>r".into())));
        assert_eq!(hk(HotkeyAction::ZoomIn), None);
        let mut keys = Hotkeys::default();
        vv.apply_hotkeys(&mut keys);
        assert_eq!(
            keys.get(HotkeyAction::ZoomIn),
            Some(&HotkeyAction::ZoomIn.default_hotkey())
        );
        assert_eq!(
            keys.get(HotkeyAction::SecureAttention)
                .and_then(Hotkey::to_accelerator)
                .as_deref(),
            Some("<Control><Alt>Insert")
        );
        // The password never shows in Debug output.
        assert!(!format!("{vv:?}").contains("A1b2C3d4"));
        // Every channel goes to the TLS port (no plain port known).
        assert_eq!(c.endpoint_for(ChannelType::DISPLAY).map(|e| e.is_tls()), Ok(true));
    }

    #[test]
    fn ovirt_style_file() {
        let vv = VvFile::parse(&ovirt()).expect("valid oVirt file");
        let c = &vv.connection;
        assert_eq!(c.host.as_deref(), Some("192.0.2.10"));
        assert_eq!(c.port, None, "port=-1 means no plain port");
        assert_eq!(c.tls_port, Some(5901));
        assert_eq!(
            c.secure_channels,
            SecureChannels::Only(vec![
                ChannelType::MAIN,
                ChannelType::INPUTS,
                ChannelType::CURSOR,
                ChannelType::PLAYBACK,
                ChannelType::RECORD,
                ChannelType::DISPLAY,
                ChannelType::SMARTCARD,
                ChannelType::USBREDIR,
            ])
        );
        assert_eq!(c.tls_ciphers.as_deref(), Some("DEFAULT"));
        assert_eq!(c.proxy, None);
        assert_eq!(vv.fullscreen, Some(false));
        assert_eq!(
            vv.title.as_deref(),
            Some("web02:%d - Press SHIFT+F12 to Release Cursor")
        );
        assert_eq!(
            title_for_monitor(vv.title.as_deref().unwrap_or_default(), 1),
            "web02:2 - Press SHIFT+F12 to Release Cursor"
        );
        assert_eq!(vv.enable_smartcard, Some(false));
        assert_eq!(vv.enable_usb_autoshare, Some(true));
        assert_eq!(vv.enable_usbredir, None);
        assert_eq!(vv.usb_filter.as_deref(), Some("-1,-1,-1,-1,0"));
        assert_eq!(vv.disable_effects, vec![Effect::Wallpaper, Effect::Animation]);
        assert_eq!(vv.color_depth, Some(24));
        assert_eq!(vv.versions.len(), 5);
        assert_eq!(
            vv.versions.first(),
            Some(&("rhev-win64".to_owned(), "2.0-160".to_owned()))
        );
        assert!(
            vv.newer_version_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://www.ovirt.org/"))
        );
        assert_eq!(vv.hotkeys.len(), 5);
        let o = vv.ovirt.as_ref().expect("[ovirt] group");
        assert_eq!(o.host.as_deref(), Some("engine.example.com:443"));
        assert_eq!(o.vm_guid.as_deref(), Some("2b4a8b0c-1111-2222-3333-444455556666"));
        assert_eq!(o.admin, Some(true));
        assert_eq!(o.sso_token.as_ref().map(Password::as_str), Some("Bearer abc.def"));
        assert!(!format!("{o:?}").contains("abc.def"));
    }

    #[test]
    fn keyfile_syntax_details() {
        let vv = VvFile::parse(
            "\u{feff}# comment\n\
             [other]\nhost=ignored\n\
             [virt-viewer]\n\
               type = spice\n\
             host=first\n\
             port=5900\n\
             title=\\sLeading space\\tand\\\\backslash\n\
             title[de]=Lokalisiert\n\
             x-sumac-extension=whatever\n\
             unknown-key=1\n\
             [virt-viewer]\n\
             host=second\n\
             password=semi;colon pass \n",
        )
        .expect("valid");
        assert_eq!(
            vv.connection.host.as_deref(),
            Some("second"),
            "last value wins, groups merge"
        );
        assert_eq!(vv.title.as_deref(), Some(" Leading space\tand\\backslash"));
        // Trailing spaces of a value are kept (a password may end with one).
        assert_eq!(
            vv.connection.password.as_ref().map(Password::as_str),
            Some("semi;colon pass ")
        );
        assert_eq!(vv.connection.port, Some(5900));
        // Empty proxy means "no proxy" (overrides SPICE_PROXY).
        let vv = VvFile::parse("[virt-viewer]\ntype=spice\nhost=h\nport=1\nproxy=\n").expect("valid");
        assert_eq!(vv.connection.proxy.as_deref(), Some(""));
        // unix-path alone is enough.
        let vv = VvFile::parse("[virt-viewer]\ntype=spice\nunix-path=/run/vm\\s1.sock\n").expect("valid");
        assert_eq!(vv.connection.unix_path, Some(PathBuf::from("/run/vm 1.sock")));
    }

    fn err(text: &str) -> VvError {
        VvFile::parse(text).expect_err(text)
    }

    #[test]
    fn malformed_files_name_the_key() {
        let base = "[virt-viewer]\ntype=spice\nhost=h\n";
        let e = err(&format!("{base}port=5900\nfullscreen=yes\n"));
        assert!(
            matches!(&e, VvError::BadValue { key, line: 5, .. } if key == "fullscreen"),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("`fullscreen`") && e.to_string().contains("line 5"),
            "{e}"
        );

        let e = err(&format!("{base}port=65536\n"));
        assert!(matches!(&e, VvError::BadValue { key, .. } if key == "port"), "{e:?}");
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = err(&format!("{base}tls-port=abc\n"));
        assert!(
            matches!(&e, VvError::BadValue { key, .. } if key == "tls-port"),
            "{e:?}"
        );
        let e = err(&format!("{base}port=-2\n"));
        assert!(matches!(&e, VvError::BadValue { key, .. } if key == "port"), "{e:?}");

        let e = err("[remote]\ntype=spice\nhost=h\nport=1\n");
        assert!(matches!(e, VvError::NoVirtViewerGroup));
        assert!(e.to_string().contains("[virt-viewer]"));

        let e = err("[virt-viewer]\ntype=spice\nport=5900\n");
        assert!(matches!(e, VvError::MissingKey { key: "host" }));
        assert!(e.to_string().contains("`host`"), "{e}");
        let e = err("[virt-viewer]\ntype=spice\nhost=h\n");
        assert!(e.to_string().contains("port"), "{e}");
        let e = err("[virt-viewer]\nhost=h\nport=1\n");
        assert!(matches!(e, VvError::MissingKey { key: "type" }));

        let e = err("[virt-viewer]\ntype=vnc\nhost=h\nport=5900\n");
        assert!(matches!(&e, VvError::UnsupportedType { kind } if kind == "vnc"));
        assert!(e.to_string().contains("not supported"), "{e}");

        let e = err(&format!("{base}port=1\ntoggle-fullscreen=shift+f11+f12\n"));
        assert!(
            matches!(&e, VvError::Hotkey { key, .. } if key == "toggle-fullscreen"),
            "{e:?}"
        );
        let e = err(&format!("{base}port=1\nsecure-channels=main;bogus\n"));
        assert!(
            matches!(&e, VvError::Config { key, .. } if key == "secure-channels"),
            "{e:?}"
        );
        let e = err(&format!("{base}port=1\nca=not a certificate\n"));
        assert!(matches!(&e, VvError::BadValue { key, .. } if key == "ca"), "{e:?}");
        let e = err(&format!("{base}port=1\ntitle=bad\\qescape\n"));
        assert!(
            matches!(&e, VvError::BadEscape { key, line: 5 } if key == "title"),
            "{e:?}"
        );
        let e = err(&format!("{base}port=1\nproxy=socks5://p:1080\n"));
        assert!(matches!(e, VvError::Proxy { line: 5, .. }), "{e:?}");
        let e = err(&format!("{base}port=1\ndisable-effects=wallpaper;sparkles\n"));
        assert!(
            e.to_string().contains("sparkles") && e.to_string().contains("disable-effects"),
            "{e}"
        );
        let e = err(&format!(
            "{base}port=1\nversion=99.0\nnewer-version-url=https://example.org/get\n"
        ));
        assert!(matches!(e, VvError::TooNew { .. }));
        assert!(
            e.to_string().contains("99.0") && e.to_string().contains("https://example.org/get"),
            "{e}"
        );
        assert!(VvFile::parse(&format!("{base}port=1\nversion=8.0\n")).is_ok());
        assert!(VvFile::parse(&format!("{base}port=1\nversion=11.0-1\n")).is_err());
        let e = err(&format!("{base}port=1\nversion=latest\n"));
        assert!(matches!(&e, VvError::BadValue { key, .. } if key == "version"), "{e:?}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert!(matches!(
            err("type=spice\n[virt-viewer]\n"),
            VvError::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            err("[virt-viewer]\ntype=spice\njust words\n"),
            VvError::Syntax { line: 3, .. }
        ));
        assert!(matches!(
            err("[virt-viewer\ntype=spice\n"),
            VvError::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            err("[virt-viewer]\n=spice\n"),
            VvError::Syntax { line: 2, .. }
        ));
        assert!(matches!(
            err("[virt-viewer]\ntype=sp\0ice\n"),
            VvError::Syntax { line: 2, .. }
        ));
        let bytes = b"[virt-viewer]\ntype=spice\nhost=\xff\n";
        assert!(matches!(KeyFile::parse(bytes), Err(VvError::NotUtf8 { line: 3 })));
    }

    #[test]
    fn lists_and_escapes() {
        let e = Entry {
            key: "k".into(),
            value: "a;b\\;c;\\sd;;".into(),
            line: 1,
        };
        assert_eq!(parse_list(&e).expect("valid"), vec!["a", "b;c", " d"]);
        assert_eq!(unescape_str("x\\ny\\\\n"), Some("x\ny\\n".into()));
        assert_eq!(unescape_str("end\\"), None);
        assert_eq!(parse_version("11.0"), parse_version("11"));
        assert!(parse_version("7.0-3") > parse_version("7.0"));
        assert!(parse_version("2.0-160") < parse_version("11.0"));
    }

    #[test]
    fn delete_this_file_and_keep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("proxmox.vv");
        std::fs::write(&path, proxmox()).expect("write");
        let vv = VvFile::load_with(&VvSource::Path(path.clone()), true).expect("valid");
        assert!(vv.delete_this_file);
        assert!(path.exists(), "kept when VIRT_VIEWER_KEEP_FILE is set");
        VvFile::load_with(&VvSource::Path(path.clone()), false).expect("valid");
        assert!(!path.exists(), "deleted after reading");

        // Deleted even when a later key is bad (the password must not stay on disk).
        std::fs::write(
            &path,
            "[virt-viewer]\ntype=spice\ndelete-this-file=1\nhost=h\nport=99999\n",
        )
        .expect("write");
        assert!(VvFile::load_with(&VvSource::Path(path.clone()), false).is_err());
        assert!(!path.exists());

        // Without the key the file stays.
        std::fs::write(&path, "[virt-viewer]\ntype=spice\nhost=h\nport=1\n").expect("write");
        VvFile::load_with(&VvSource::Path(path.clone()), false).expect("valid");
        assert!(path.exists());
    }

    #[test]
    fn size_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.vv");
        let mut text = String::from("[virt-viewer]\ntype=spice\nhost=h\nport=1\n");
        text.push_str(&"# padding\n".repeat((MAX_VV_BYTES / 10) as usize + 1));
        std::fs::write(&path, text).expect("write");
        let e = VvFile::load_with(&VvSource::Path(path), true).expect_err("too large");
        assert!(matches!(e, VvError::TooLarge { .. }), "{e:?}");
        let e = VvFile::load_with(&VvSource::Path(dir.path().join("missing.vv")), true).expect_err("missing");
        assert!(e.to_string().contains("missing.vv"), "{e}");
    }
}
