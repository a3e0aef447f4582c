//! `spice://`, `spice+tls://` and `spice+unix://` URIs into a
//! [`ConnectionConfig`] (the forms are listed in the parent module).

use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

use super::{ConfigError, ConnectionConfig, Password, SecureChannels};

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
