//! Where and how to connect: the [`ConnectionConfig`] a session is started
//! with, filled from a `spice://` URI (here), a `.vv` file or the command line.
//!
//! The URI forms follow spice-gtk and `spice_uri_scheme.txt`:
//! - `spice://host:port`, `spice://host?port=5900&tls-port=5901&password=…`
//! - `spice+tls://host:port`: the port is the TLS port and every channel is secure
//! - `spice+unix:///path/to.sock`
//! - `spice://[::1]:5900` for IPv6, `spice://user@host:5900` for the SASL user name
//!
//! The per-channel transport decision ([`ConnectionConfig::endpoint_for`]) never
//! falls back to plaintext for a channel that must be secure (hostile-inputs
//! rows 6 and 38).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::percent_decode_str;
use thiserror::Error;

use crate::proto::ChannelType;

/// A password or SPICE ticket. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl From<String> for Password {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for Password {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

impl Drop for Password {
    /// Best effort: overwrite the secret before its buffer goes back to the allocator.
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// Where the CA certificates that sign the server certificate come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// A PEM file (`--spice-ca-file`).
    File(PathBuf),
    /// PEM bytes given inline (the `.vv` `ca` key).
    Pem(Vec<u8>),
}

/// Which channels must use TLS (`--spice-secure-channels`, `.vv secure-channels`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SecureChannels {
    /// None is forced; a channel still uses TLS when only a tls-port is known
    /// or when the server answers NEED_SECURED.
    #[default]
    Default,
    /// Every channel (`all`, or a `spice+tls://` URI).
    All,
    /// Exactly these channels.
    Only(Vec<ChannelType>),
}

impl SecureChannels {
    /// Parses `main,display`, `main;display;` (the `.vv` list form) or `all`.
    ///
    /// Names are case-insensitive and empty entries are skipped, so an empty
    /// list gives [`SecureChannels::Default`].
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        let mut channels = Vec::new();
        for name in list.split([',', ';']).map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.to_ascii_lowercase();
            if name == "all" {
                return Ok(Self::All);
            }
            let ty = ChannelType::from_name(&name).ok_or_else(|| ConfigError::UnknownChannel { name: name.clone() })?;
            if !channels.contains(&ty) {
                channels.push(ty);
            }
        }
        Ok(if channels.is_empty() {
            Self::Default
        } else {
            Self::Only(channels)
        })
    }

    /// Whether `ty` must be opened over TLS.
    pub fn requires_tls(&self, ty: ChannelType) -> bool {
        match self {
            Self::Default => false,
            Self::All => true,
            Self::Only(list) => list.contains(&ty),
        }
    }
}

/// Where one channel connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Tls { host: String, port: u16 },
    Unix(PathBuf),
}

impl Endpoint {
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls { .. })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, host, port) = match self {
            Self::Unix(path) => return write!(f, "unix socket {}", path.display()),
            Self::Tcp { host, port } => ("tcp", host, port),
            Self::Tls { host, port } => ("tls", host, port),
        };
        if host.contains(':') {
            write!(f, "{scheme} [{host}]:{port}")
        } else {
            write!(f, "{scheme} {host}:{port}")
        }
    }
}

/// Why a URI or a configuration cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("`{uri}` is not a SPICE URI: expected spice://host:port, spice+tls://host:port or spice+unix:///path")]
    NotAUri { uri: String },
    #[error("unsupported URI scheme `{scheme}://`: use spice://, spice+tls:// or spice+unix://")]
    UnsupportedScheme { scheme: String },
    #[error("the URI has no host: write it as spice://host:port")]
    MissingHost,
    #[error("the spice+unix:// URI has no socket path: write it as spice+unix:///path/to.sock")]
    MissingUnixPath,
    #[error("invalid {what} `{value}` in the URI: expected a number from 1 to 65535")]
    BadPort { what: &'static str, value: String },
    #[error("`{value}` is not a valid bracketed IPv6 address: write it as spice://[::1]:5900")]
    BadIpv6 { value: String },
    #[error("`{value}` has more than one `:`; an IPv6 address must be in brackets, as in spice://[::1]:5900")]
    UnbracketedIpv6 { value: String },
    #[error("unexpected path `{path}` in the URI: a spice:// URI has only a host, a port and a query")]
    UnexpectedPath { path: String },
    #[error("the URI sets `{key}` twice; give it only once")]
    Duplicate { key: &'static str },
    #[error("the {what} in the URI is not valid UTF-8 after percent-decoding")]
    BadEncoding { what: &'static str },
    #[error("the URI has no port: give one as spice://host:5900, spice://host?tls-port=5901 or spice+tls://host:5901")]
    NoPort,
    #[error("spice+tls:// needs a port: write it as spice+tls://host:5901")]
    NoTlsPortInTlsUri,
    #[error(
        "unknown channel `{name}` in secure-channels; valid names are main, display, inputs, cursor, playback, record, smartcard, usbredir, port, webdav, or `all`"
    )]
    UnknownChannel { name: String },
    #[error("no server to connect to: set a host with a port or tls-port, or a unix socket path")]
    NoEndpoint,
    #[error(
        "channel {channel} must use TLS but no tls-port is known; set tls-port, or remove the channel from secure-channels"
    )]
    ChannelNeedsTls { channel: ChannelType },
    #[error("the server requires TLS but no tls-port is known; reconnect with tls-port set (or spice+tls://)")]
    NeedSecuredWithoutTlsPort,
    #[error("the server requires TLS, which Sumac does not use over a unix socket")]
    NeedSecuredOnUnixSocket,
    #[error("invalid proxy{}: {source}", if *.from_env { " in SPICE_PROXY" } else { "" })]
    Proxy {
        source: super::proxy::ProxyConfigError,
        from_env: bool,
    },
}

/// Everything needed to open a session's channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls_port: Option<u16>,
    pub unix_path: Option<PathBuf>,
    pub password: Option<Password>,
    pub username: Option<String>,
    pub ca: Option<CaSource>,
    /// Expected certificate subject, `C=XX,L=…,O=…,CN=…`; replaces the hostname check.
    pub host_subject: Option<String>,
    pub secure_channels: SecureChannels,
    /// OpenSSL-style cipher list from `.vv tls-ciphers` (informational: rustls
    /// has its own fixed, safe suite list).
    pub tls_ciphers: Option<String>,
    /// `http://[user:pass@]host:port` HTTP CONNECT proxy.
    pub proxy: Option<String>,
    /// The mouse mode to ask the server for (`--mouse-mode`). `None` (the
    /// default) and `Client` ask for client mode when the server offers it
    /// (as remote-viewer); `Server` keeps or asks for server mode (relative
    /// motion, the pointer grabbed by the client) even when client mode is offered.
    pub mouse_mode: Option<super::inputs::MouseMode>,
}

impl FromStr for ConnectionConfig {
    type Err = ConfigError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        Self::from_uri(uri)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Plain,
    Tls,
    Unix,
}

impl ConnectionConfig {
    /// Parses a `spice://`, `spice+tls://` or `spice+unix://` URI.
    pub fn from_uri(uri: &str) -> Result<Self, ConfigError> {
        let uri = uri.trim();
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| ConfigError::NotAUri { uri: uri.to_owned() })?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "spice" => Scheme::Plain,
            "spice+tls" => Scheme::Tls,
            "spice+unix" => Scheme::Unix,
            other => {
                return Err(ConfigError::UnsupportedScheme {
                    scheme: other.to_owned(),
                });
            }
        };
        // A fragment has no meaning for SPICE; drop it.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));

        let mut cfg = Self::default();
        let query = parse_query(query)?;
        cfg.password = query.password.map(Password::from);

        if scheme == Scheme::Unix {
            let path = decode(before_query, "socket path")?;
            if path.is_empty() {
                return Err(ConfigError::MissingUnixPath);
            }
            if query.port.is_some() || query.tls_port.is_some() {
                tracing::warn!("ignoring port and tls-port in a spice+unix:// URI");
            }
            cfg.unix_path = Some(PathBuf::from(path));
            tracing::debug!(path = %before_query, "parsed SPICE unix URI");
            return Ok(cfg);
        }

        let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
        if !path.is_empty() {
            return Err(ConfigError::UnexpectedPath {
                path: format!("/{path}"),
            });
        }
        let hostport = match authority.rsplit_once('@') {
            Some((user, hostport)) => {
                let user = decode(user, "user name")?;
                if !user.is_empty() {
                    cfg.username = Some(user);
                }
                hostport
            }
            None => authority,
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(ConfigError::MissingHost);
        }
        cfg.host = Some(host);

        match scheme {
            Scheme::Tls => {
                cfg.secure_channels = SecureChannels::All;
                cfg.tls_port = merge_port(port, query.tls_port, "tls-port")?;
                cfg.port = query.port;
                if cfg.tls_port.is_none() {
                    return Err(ConfigError::NoTlsPortInTlsUri);
                }
            }
            Scheme::Plain | Scheme::Unix => {
                cfg.port = merge_port(port, query.port, "port")?;
                cfg.tls_port = query.tls_port;
            }
        }
        if cfg.port.is_none() && cfg.tls_port.is_none() {
            return Err(ConfigError::NoPort);
        }
        tracing::debug!(
            host = cfg.host.as_deref().unwrap_or_default(),
            port = ?cfg.port,
            tls_port = ?cfg.tls_port,
            secure = ?cfg.secure_channels,
            "parsed SPICE URI"
        );
        Ok(cfg)
    }

    /// Where channel `ty` connects: TLS when the channel is listed in
    /// `secure_channels` (or all are) or when no plain port is known; plain TCP
    /// otherwise. A channel that must be secure never gets a plain endpoint.
    pub fn endpoint_for(&self, ty: ChannelType) -> Result<Endpoint, ConfigError> {
        if let Some(path) = &self.unix_path {
            return Ok(Endpoint::Unix(path.clone()));
        }
        let host = self.host.as_ref().ok_or(ConfigError::NoEndpoint)?;
        let must_be_secure = self.secure_channels.requires_tls(ty);
        match (self.port, self.tls_port) {
            (_, Some(port)) if must_be_secure => Ok(Endpoint::Tls {
                host: host.clone(),
                port,
            }),
            (_, None) if must_be_secure => Err(ConfigError::ChannelNeedsTls { channel: ty }),
            (Some(port), _) => Ok(Endpoint::Tcp {
                host: host.clone(),
                port,
            }),
            (None, Some(port)) => Ok(Endpoint::Tls {
                host: host.clone(),
                port,
            }),
            (None, None) => Err(ConfigError::NoEndpoint),
        }
    }

    /// The HTTP CONNECT proxy every TCP/TLS channel goes through: the
    /// `proxy` setting when present (an empty one means none), otherwise the
    /// `SPICE_PROXY` environment variable, as spice-gtk does. Unix sockets
    /// never use a proxy.
    pub fn effective_proxy(&self) -> Result<Option<super::proxy::ProxyConfig>, ConfigError> {
        let env = std::env::var("SPICE_PROXY").ok();
        self.effective_proxy_with(env.as_deref())
    }

    /// [`effective_proxy`](Self::effective_proxy) with the value of `SPICE_PROXY` given.
    pub fn effective_proxy_with(
        &self,
        spice_proxy_env: Option<&str>,
    ) -> Result<Option<super::proxy::ProxyConfig>, ConfigError> {
        if self.unix_path.is_some() {
            return Ok(None);
        }
        let (value, from_env) = match &self.proxy {
            Some(p) => (p.as_str(), false),
            None => (spice_proxy_env.unwrap_or(""), true),
        };
        if value.trim().is_empty() {
            return Ok(None);
        }
        super::proxy::ProxyConfig::parse(value)
            .map(Some)
            .map_err(|source| ConfigError::Proxy { source, from_env })
    }

    /// The TLS endpoint a channel reconnects to after the server answered
    /// `NEED_SECURED`.
    pub fn tls_endpoint(&self) -> Result<Endpoint, ConfigError> {
        if self.unix_path.is_some() {
            return Err(ConfigError::NeedSecuredOnUnixSocket);
        }
        let host = self.host.as_ref().ok_or(ConfigError::NoEndpoint)?;
        let port = self.tls_port.ok_or(ConfigError::NeedSecuredWithoutTlsPort)?;
        Ok(Endpoint::Tls {
            host: host.clone(),
            port,
        })
    }
}

/// The keys a SPICE URI query may carry.
#[derive(Default)]
struct Query {
    port: Option<u16>,
    tls_port: Option<u16>,
    password: Option<String>,
}

fn parse_query(query: &str) -> Result<Query, ConfigError> {
    let mut out = Query::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key, "query key")?;
        match key.as_str() {
            "port" => set_once(&mut out.port, parse_port(&decode(value, "port")?, "port")?, "port")?,
            "tls-port" => set_once(
                &mut out.tls_port,
                parse_port(&decode(value, "tls-port")?, "tls-port")?,
                "tls-port",
            )?,
            "password" => set_once(&mut out.password, decode(value, "password")?, "password")?,
            // Only the key is logged: the value could be a secret.
            other => tracing::warn!(key = other, "ignoring unknown key in the SPICE URI query"),
        }
    }
    Ok(out)
}

fn set_once<T>(slot: &mut Option<T>, value: T, key: &'static str) -> Result<(), ConfigError> {
    if slot.is_some() {
        return Err(ConfigError::Duplicate { key });
    }
    *slot = Some(value);
    Ok(())
}

/// Combines a port from the authority with the same port from the query.
fn merge_port(authority: Option<u16>, query: Option<u16>, key: &'static str) -> Result<Option<u16>, ConfigError> {
    match (authority, query) {
        (Some(_), Some(_)) => Err(ConfigError::Duplicate { key }),
        (a, q) => Ok(a.or(q)),
    }
}

fn decode(text: &str, what: &'static str) -> Result<String, ConfigError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ConfigError::BadEncoding { what })
}

fn parse_port(value: &str, what: &'static str) -> Result<u16, ConfigError> {
    match value.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(ConfigError::BadPort {
            what,
            value: value.to_owned(),
        }),
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; the host comes back
/// percent-decoded and without brackets.
fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), ConfigError> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let bad = || ConfigError::BadIpv6 {
            value: hostport.to_owned(),
        };
        let (inside, after) = bracketed.split_once(']').ok_or_else(bad)?;
        let inside = decode(inside, "host")?;
        // A zone id (`fe80::1%eth0`, `%25` encoded) is allowed after the address.
        let addr = inside.split_once('%').map_or(inside.as_str(), |(addr, _)| addr);
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        };
        (inside, port)
    } else {
        match hostport.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(ConfigError::UnbracketedIpv6 {
                    value: hostport.to_owned(),
                });
            }
            Some((host, port)) => (decode(host, "host")?, Some(port)),
            None => (decode(hostport, "host")?, None),
        }
    };
    let port = port.map(|p| parse_port(p, "port")).transpose()?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> ConnectionConfig {
        ConnectionConfig::from_uri(uri).unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    fn tls(host: &str, port: u16) -> Endpoint {
        Endpoint::Tls {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn plain_host_port() {
        let c = parse("spice://example.org:5900");
        assert_eq!(c.host.as_deref(), Some("example.org"));
        assert_eq!(c.port, Some(5900));
        assert_eq!(c.tls_port, None);
        assert_eq!(c.secure_channels, SecureChannels::Default);
        assert_eq!(c.endpoint_for(ChannelType::MAIN), Ok(tcp("example.org", 5900)));
        // A trailing slash and an upper-case scheme are accepted.
        assert_eq!(parse("SPICE://example.org:5900/"), c);
    }

    #[test]
    fn legacy_query_form_with_percent_decoding() {
        let c = parse("spice://host?port=5900&tls-port=5901&password=p%40ss%20w%26rd");
        assert_eq!(c.port, Some(5900));
        assert_eq!(c.tls_port, Some(5901));
        assert_eq!(c.password.as_ref().map(Password::as_str), Some("p@ss w&rd"));
        assert_eq!(c.password.as_ref().map(Password::as_bytes), Some(&b"p@ss w&rd"[..]));
        // `+` is not a space in a URI.
        let c = parse("spice://host:5900?password=a+b");
        assert_eq!(c.password.as_ref().map(Password::as_str), Some("a+b"));
        // Authority port plus a query tls-port.
        let c = parse("spice://host:5900?tls-port=5901");
        assert_eq!((c.port, c.tls_port), (Some(5900), Some(5901)));
    }

    #[test]
    fn tls_scheme_secures_everything() {
        let c = parse("spice+tls://secure.example:5901");
        assert_eq!(c.tls_port, Some(5901));
        assert_eq!(c.port, None);
        assert_eq!(c.secure_channels, SecureChannels::All);
        for ty in [ChannelType::MAIN, ChannelType::DISPLAY, ChannelType::USBREDIR] {
            assert_eq!(c.endpoint_for(ty), Ok(tls("secure.example", 5901)));
        }
        // Even with a plain port known, nothing is sent in clear (row 38).
        let c = parse("spice+tls://h:5901?port=5900");
        assert_eq!(c.endpoint_for(ChannelType::INPUTS), Ok(tls("h", 5901)));
    }

    #[test]
    fn unix_scheme() {
        let c = parse("spice+unix:///run/user/1000/spice%20vm.sock");
        assert_eq!(c.unix_path, Some(PathBuf::from("/run/user/1000/spice vm.sock")));
        assert_eq!(c.host, None);
        assert_eq!(
            c.endpoint_for(ChannelType::DISPLAY),
            Ok(Endpoint::Unix("/run/user/1000/spice vm.sock".into()))
        );
        assert_eq!(c.tls_endpoint(), Err(ConfigError::NeedSecuredOnUnixSocket));
        let c = parse("spice+unix:///tmp/s.sock?password=x");
        assert_eq!(c.password, Some(Password::from("x")));
        assert_eq!(
            ConnectionConfig::from_uri("spice+unix://"),
            Err(ConfigError::MissingUnixPath)
        );
    }

    #[test]
    fn ipv6_and_user() {
        let c = parse("spice://[::1]:5900");
        assert_eq!(c.host.as_deref(), Some("::1"));
        assert_eq!(c.port, Some(5900));
        assert_eq!(
            c.endpoint_for(ChannelType::MAIN).map(|e| e.to_string()),
            Ok("tcp [::1]:5900".into())
        );
        let c = parse("spice://[fe80::1%25eth0]?tls-port=5901");
        assert_eq!(c.host.as_deref(), Some("fe80::1%eth0"));
        assert_eq!(c.tls_port, Some(5901));

        let c = parse("spice://alice%40corp@[2001:db8::7]:5900");
        assert_eq!(c.username.as_deref(), Some("alice@corp"));
        assert_eq!(c.host.as_deref(), Some("2001:db8::7"));
        let c = parse("spice://bob@host:5900");
        assert_eq!(c.username.as_deref(), Some("bob"));
        assert_eq!(c.host.as_deref(), Some("host"));
    }

    #[test]
    fn errors_are_specific() {
        let err = |uri: &str| ConnectionConfig::from_uri(uri).expect_err(uri);
        assert_eq!(err("spice://host"), ConfigError::NoPort);
        assert!(err("spice://host").to_string().contains("no port"));
        assert_eq!(err("spice+tls://host"), ConfigError::NoTlsPortInTlsUri);
        assert_eq!(err("spice+tls://host?port=5900"), ConfigError::NoTlsPortInTlsUri);
        assert!(matches!(err("vnc://host:5900"), ConfigError::UnsupportedScheme { .. }));
        assert!(matches!(err("host:5900"), ConfigError::NotAUri { .. }));
        assert_eq!(err("spice://:5900"), ConfigError::MissingHost);
        assert!(matches!(err("spice://host:0"), ConfigError::BadPort { .. }));
        assert!(matches!(err("spice://host:65536"), ConfigError::BadPort { .. }));
        assert!(matches!(err("spice://host:"), ConfigError::BadPort { .. }));
        assert!(matches!(
            err("spice://host?port=abc"),
            ConfigError::BadPort { what: "port", .. }
        ));
        assert!(matches!(
            err("spice://host?tls-port="),
            ConfigError::BadPort { what: "tls-port", .. }
        ));
        assert!(matches!(err("spice://::1:5900"), ConfigError::UnbracketedIpv6 { .. }));
        assert!(matches!(err("spice://[::1:5900"), ConfigError::BadIpv6 { .. }));
        assert!(matches!(err("spice://[nothex]:5900"), ConfigError::BadIpv6 { .. }));
        assert!(matches!(err("spice://[::1]x5900"), ConfigError::BadIpv6 { .. }));
        assert!(matches!(
            err("spice://host:5900/vm"),
            ConfigError::UnexpectedPath { .. }
        ));
        assert_eq!(
            err("spice://host:5900?port=5901"),
            ConfigError::Duplicate { key: "port" }
        );
        assert_eq!(err("spice://h?port=1&port=2"), ConfigError::Duplicate { key: "port" });
        assert_eq!(
            err("spice+tls://h:1?tls-port=2"),
            ConfigError::Duplicate { key: "tls-port" }
        );
        assert_eq!(
            err("spice://h:1?password=%ff"),
            ConfigError::BadEncoding { what: "password" }
        );
    }

    #[test]
    fn unknown_query_keys_are_ignored() {
        let c = parse("spice://h:5900?frobnicate=1&&password=x");
        assert_eq!(c.password, Some(Password::from("x")));
    }

    #[test]
    fn debug_hides_the_password() {
        let c = parse("spice://h:5900?password=hunter2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Password(***)"), "{shown}");
    }

    #[test]
    fn secure_channels_parsing() {
        assert_eq!(SecureChannels::parse("all"), Ok(SecureChannels::All));
        assert_eq!(SecureChannels::parse("main,ALL"), Ok(SecureChannels::All));
        assert_eq!(SecureChannels::parse(""), Ok(SecureChannels::Default));
        assert_eq!(
            SecureChannels::parse("main;display;"),
            Ok(SecureChannels::Only(vec![ChannelType::MAIN, ChannelType::DISPLAY]))
        );
        assert_eq!(
            SecureChannels::parse(" inputs , cursor,inputs"),
            Ok(SecureChannels::Only(vec![ChannelType::INPUTS, ChannelType::CURSOR]))
        );
        let e = SecureChannels::parse("main,bogus").expect_err("bogus channel");
        assert_eq!(e, ConfigError::UnknownChannel { name: "bogus".into() });
        assert!(e.to_string().contains("valid names"));

        let only = SecureChannels::parse("main,usbredir").expect("valid");
        assert!(only.requires_tls(ChannelType::MAIN));
        assert!(only.requires_tls(ChannelType::USBREDIR));
        assert!(!only.requires_tls(ChannelType::DISPLAY));
        assert!(SecureChannels::All.requires_tls(ChannelType::RECORD));
        assert!(!SecureChannels::Default.requires_tls(ChannelType::MAIN));
    }

    #[test]
    fn endpoint_selection() {
        let mut c = parse("spice://h?port=5900&tls-port=5901");
        c.secure_channels = SecureChannels::parse("main,inputs").expect("valid");
        assert_eq!(c.endpoint_for(ChannelType::MAIN), Ok(tls("h", 5901)));
        assert_eq!(c.endpoint_for(ChannelType::INPUTS), Ok(tls("h", 5901)));
        assert_eq!(c.endpoint_for(ChannelType::DISPLAY), Ok(tcp("h", 5900)));
        assert_eq!(c.tls_endpoint(), Ok(tls("h", 5901)));

        // Only a TLS port: everything goes over TLS.
        let c = parse("spice://h?tls-port=5901");
        assert_eq!(c.endpoint_for(ChannelType::DISPLAY), Ok(tls("h", 5901)));

        // A secure channel without a tls-port is an error, never plaintext.
        let mut c = parse("spice://h:5900");
        c.secure_channels = SecureChannels::Only(vec![ChannelType::MAIN]);
        let e = c.endpoint_for(ChannelType::MAIN).expect_err("needs TLS");
        assert_eq!(
            e,
            ConfigError::ChannelNeedsTls {
                channel: ChannelType::MAIN
            }
        );
        assert!(
            e.to_string()
                .starts_with("channel main must use TLS but no tls-port is known")
        );
        assert_eq!(c.endpoint_for(ChannelType::CURSOR), Ok(tcp("h", 5900)));
        // NEED_SECURED with no tls-port: a clear error (row 6).
        assert_eq!(c.tls_endpoint(), Err(ConfigError::NeedSecuredWithoutTlsPort));

        let empty = ConnectionConfig::default();
        assert_eq!(empty.endpoint_for(ChannelType::MAIN), Err(ConfigError::NoEndpoint));
        let host_only = ConnectionConfig {
            host: Some("h".into()),
            ..Default::default()
        };
        assert_eq!(host_only.endpoint_for(ChannelType::MAIN), Err(ConfigError::NoEndpoint));
    }

    #[test]
    fn proxy_precedence() {
        let mut c = parse("spice://ticket:5900");
        assert_eq!(c.effective_proxy_with(None), Ok(None));
        let from_env = c
            .effective_proxy_with(Some("http://env:1"))
            .expect("valid")
            .expect("a proxy");
        assert_eq!((from_env.host.as_str(), from_env.port), ("env", 1));
        c.proxy = Some("http://vv:2".into());
        let from_vv = c
            .effective_proxy_with(Some("http://env:1"))
            .expect("valid")
            .expect("a proxy");
        assert_eq!((from_vv.host.as_str(), from_vv.port), ("vv", 2));
        // An empty setting turns the proxy off even when SPICE_PROXY is set.
        c.proxy = Some(String::new());
        assert_eq!(c.effective_proxy_with(Some("http://env:1")), Ok(None));
        c.proxy = None;
        let e = c.effective_proxy_with(Some("ftp://x")).expect_err("bad scheme");
        assert!(e.to_string().contains("SPICE_PROXY"), "{e}");
        let unix = parse("spice+unix:///s.sock");
        assert_eq!(unix.effective_proxy_with(Some("http://env:1")), Ok(None));
    }

    #[test]
    fn endpoint_display() {
        assert_eq!(tcp("h", 1).to_string(), "tcp h:1");
        assert_eq!(tls("::1", 2).to_string(), "tls [::1]:2");
        assert_eq!(Endpoint::Unix("/s".into()).to_string(), "unix socket /s");
    }
}
