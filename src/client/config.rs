//! Where and how to connect: the [`ConnectionConfig`] a session is started
//! with, filled from a `spice://` URI (`config/uri.rs`), a `.vv` file or the
//! command line.
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

use thiserror::Error;

use crate::proto::ChannelType;

mod uri;

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
    #[error("the server answered that channel {channel} must not use TLS, but secure-channels requires TLS for it")]
    NeedUnsecuredButSecure { channel: ChannelType },
    #[error("the server answered that channel {channel} must not use TLS, and no plain port is known")]
    NeedUnsecuredWithoutPort { channel: ChannelType },
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
    /// The proxy user name and password the user typed after the proxy
    /// answered 407: they replace the address's own (in memory only).
    pub proxy_credentials: Option<super::proxy::ProxyCredentials>,
    /// The mouse mode to ask the server for (`--mouse-mode`). `None` (the
    /// default) and `Client` ask for client mode when the server offers it
    /// (as remote-viewer); `Server` keeps or asks for server mode (relative
    /// motion, the pointer grabbed by the client) even when client mode is offered.
    pub mouse_mode: Option<super::inputs::MouseMode>,
}

impl ConnectionConfig {
    /// Where channel `ty` connects: **TLS whenever a TLS port is known**,
    /// plain TCP only when there is no TLS port and the channel is not in
    /// `secure_channels`. A channel goes plain with a TLS port known only
    /// when the server, reached over TLS, answers NEED_UNSECURED for it
    /// ([`plain_endpoint_for`](Self::plain_endpoint_for)).
    ///
    /// spice-gtk differs: with both ports it links every channel not listed
    /// in `secure-channels` over the plain port, so whoever answers that port
    /// receives the ticket encrypted to its own key. Sumac never offers the
    /// ticket on the plain port while a TLS port exists, and a dead TLS port
    /// is an error, never a fallback to plain.
    pub fn endpoint_for(&self, ty: ChannelType) -> Result<Endpoint, ConfigError> {
        if let Some(path) = &self.unix_path {
            return Ok(Endpoint::Unix(path.clone()));
        }
        let host = self.host.as_ref().ok_or(ConfigError::NoEndpoint)?;
        match (self.port, self.tls_port) {
            (_, Some(port)) => Ok(Endpoint::Tls {
                host: host.clone(),
                port,
            }),
            (Some(_), None) if self.secure_channels.requires_tls(ty) => {
                Err(ConfigError::ChannelNeedsTls { channel: ty })
            }
            (Some(port), None) => Ok(Endpoint::Tcp {
                host: host.clone(),
                port,
            }),
            (None, None) => Err(ConfigError::NoEndpoint),
        }
    }

    /// Where channel `ty` goes when the server, reached over TLS, answered
    /// NEED_UNSECURED: the plain port, unless `secure_channels` requires TLS
    /// for it (then it is an error: a channel that must be secure is never
    /// sent plain) or no plain port is known.
    pub fn plain_endpoint_for(&self, ty: ChannelType) -> Result<Endpoint, ConfigError> {
        if self.secure_channels.requires_tls(ty) {
            return Err(ConfigError::NeedUnsecuredButSecure { channel: ty });
        }
        let host = self.host.as_ref().ok_or(ConfigError::NoEndpoint)?;
        let port = self.port.ok_or(ConfigError::NeedUnsecuredWithoutPort { channel: ty })?;
        Ok(Endpoint::Tcp {
            host: host.clone(),
            port,
        })
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
        let mut proxy =
            super::proxy::ProxyConfig::parse(value).map_err(|source| ConfigError::Proxy { source, from_env })?;
        if let Some(c) = &self.proxy_credentials {
            proxy.user = Some(c.user.clone());
            proxy.password = Some(c.password.clone());
        }
        Ok(Some(proxy))
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

#[cfg(test)]
mod tests;
