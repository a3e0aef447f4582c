//! HTTP CONNECT proxies (the `.vv` `proxy` key and the `SPICE_PROXY`
//! environment variable), as spice-gtk uses them.
//!
//! - `http://[user:password@]host[:port]`, default port 3128; a value without
//!   a scheme is taken as `http://`. `https://` proxies (TLS to the proxy) are
//!   refused with a clear error.
//! - The target host is sent to the proxy **unresolved** and unchanged:
//!   Proxmox VE puts a ticket (`pvespiceproxy:…:100:pve1::…`) in the `.vv`
//!   `host` and its spiceproxy resolves it. Only a real IPv6 address is
//!   written in brackets.
//! - Proxy credentials go in a `Proxy-Authorization: Basic` header.
//! - The proxy's answer is read byte by byte up to the blank line (nothing
//!   after it is consumed: the SPICE or TLS bytes follow), with a size cap and
//!   the connect timeout.
//!
//! Which proxy applies (see [`super::config::ConnectionConfig::effective_proxy`]):
//! a `proxy` value in the connection settings (`.vv`) wins; an empty one means
//! "no proxy"; without one, `SPICE_PROXY` is used, as spice-gtk's session does.

use std::fmt;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::Password;

/// The default port of an `http://` proxy (spice-gtk's, and Squid's).
pub const DEFAULT_HTTP_PROXY_PORT: u16 = 3128;

/// Longest proxy answer header accepted.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// Why a proxy setting cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyConfigError {
    #[error("unsupported proxy scheme `{scheme}://`: Sumac supports HTTP CONNECT proxies (http://host:port)")]
    UnsupportedScheme { scheme: String },
    #[error("the proxy address has no host: write it as http://host:3128")]
    MissingHost,
    #[error("invalid proxy port `{value}`: expected a number from 1 to 65535")]
    BadPort { value: String },
    #[error("unexpected path `{path}` in the proxy address: write it as http://host:port")]
    UnexpectedPath { path: String },
    #[error("the proxy {what} is not valid UTF-8 after percent-decoding")]
    BadEncoding { what: &'static str },
    #[error("`{value}` is not a valid bracketed IPv6 address")]
    BadIpv6 { value: String },
}

/// Why the tunnel through the proxy could not be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProxyError {
    #[error("cannot connect to the proxy {proxy}: {source}")]
    Connect { proxy: String, source: std::io::Error },
    #[error("the proxy {proxy} did not answer within {} s", timeout.as_secs())]
    Timeout { proxy: String, timeout: Duration },
    #[error("network error talking to the proxy {proxy}: {source}")]
    Io { proxy: String, source: std::io::Error },
    #[error("the proxy {proxy} closed the connection before answering the CONNECT request")]
    Closed { proxy: String },
    #[error("the proxy {proxy} requires authentication (407){}", if *.sent_credentials { ": it refused the user name and password" } else { ": give credentials as http://user:password@host:port" })]
    AuthRequired { proxy: String, sent_credentials: bool },
    #[error("the proxy {proxy} refused to connect to {target}: {status} {reason}")]
    Refused {
        proxy: String,
        target: String,
        status: u16,
        reason: String,
    },
    #[error("the proxy {proxy} sent an invalid answer: {line:?}")]
    BadResponse { proxy: String, line: String },
    #[error("the proxy {proxy} sent an answer longer than {max} bytes")]
    ResponseTooLarge { proxy: String, max: usize },
}

/// A proxy user name and password given apart from the proxy's address
/// (typed by the user after a 407); the password's `Debug` prints `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    pub user: String,
    pub password: Password,
}

/// An HTTP CONNECT proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Password>,
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password)
            .finish()
    }
}

impl fmt::Display for ProxyConfig {
    /// `host:port`, never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", host_port(&self.host, self.port))
    }
}

impl ProxyConfig {
    /// Parses `http://[user[:password]@]host[:port][/]` or `host[:port]`.
    pub fn parse(value: &str) -> Result<Self, ProxyConfigError> {
        let value = value.trim();
        let rest = match value.split_once("://") {
            Some((scheme, rest)) => {
                if !scheme.eq_ignore_ascii_case("http") {
                    return Err(ProxyConfigError::UnsupportedScheme {
                        scheme: scheme.to_ascii_lowercase(),
                    });
                }
                rest
            }
            None => value,
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !path.is_empty() {
            return Err(ProxyConfigError::UnexpectedPath {
                path: format!("/{path}"),
            });
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (mut user, mut password) = (None, None);
        if let Some(info) = userinfo {
            let (u, p) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            user = Some(decode(u, "user name")?);
            password = p.map(|p| decode(p, "password").map(Password::from)).transpose()?;
        }
        let (host, port) = if let Some(b) = hostport.strip_prefix('[') {
            let bad = || ProxyConfigError::BadIpv6 {
                value: hostport.to_owned(),
            };
            let (inside, after) = b.split_once(']').ok_or_else(bad)?;
            if inside.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad());
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (inside.to_owned(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(ProxyConfigError::MissingHost);
        }
        let port = match port {
            None => DEFAULT_HTTP_PROXY_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(ProxyConfigError::BadPort { value: p.to_owned() }),
            },
        };
        Ok(Self {
            host,
            port,
            user,
            password,
        })
    }

    /// The `CONNECT` request for `target_host:target_port` (host unresolved).
    pub fn connect_request(&self, target_host: &str, target_port: u16) -> String {
        let target = host_port(target_host, target_port);
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(user) = &self.user {
            let creds = format!("{user}:{}", self.password.as_ref().map(Password::as_str).unwrap_or(""));
            req.push_str("Proxy-Authorization: Basic ");
            req.push_str(&base64(creds.as_bytes()));
            req.push_str("\r\n");
        }
        req.push_str("User-Agent: sumac/");
        req.push_str(env!("CARGO_PKG_VERSION"));
        req.push_str("\r\n\r\n");
        req
    }

    /// Connects to the proxy and asks it for a tunnel to `target_host:target_port`.
    /// The whole exchange must finish within `timeout`.
    pub async fn tunnel(
        &self,
        target_host: &str,
        target_port: u16,
        timeout: Duration,
    ) -> Result<TcpStream, ProxyError> {
        let proxy = self.to_string();
        let work = async {
            let mut stream = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|source| ProxyError::Connect {
                    proxy: proxy.clone(),
                    source,
                })?;
            let _ = stream.set_nodelay(true);
            tracing::debug!(proxy = %proxy, target_port, "sending HTTP CONNECT");
            let req = self.connect_request(target_host, target_port);
            let io = |source| ProxyError::Io {
                proxy: proxy.clone(),
                source,
            };
            stream.write_all(req.as_bytes()).await.map_err(io)?;
            let head = read_head(&mut stream, &proxy).await?;
            check_response(&head, &proxy, &host_port(target_host, target_port), self.user.is_some())?;
            Ok(stream)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| ProxyError::Timeout {
                proxy: self.to_string(),
                timeout,
            })?
    }
}

/// `host:port`, with brackets around an IPv6 address only.
fn host_port(host: &str, port: u16) -> String {
    let addr = host.split_once('%').map_or(host, |(a, _)| a);
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn decode(text: &str, what: &'static str) -> Result<String, ProxyConfigError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ProxyConfigError::BadEncoding { what })
}

/// Reads the answer up to and including the blank line, never further.
async fn read_head(stream: &mut TcpStream, proxy: &str) -> Result<Vec<u8>, ProxyError> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_RESPONSE_BYTES {
            return Err(ProxyError::ResponseTooLarge {
                proxy: proxy.to_owned(),
                max: MAX_RESPONSE_BYTES,
            });
        }
        let n = stream.read(&mut byte).await.map_err(|source| ProxyError::Io {
            proxy: proxy.to_owned(),
            source,
        })?;
        if n == 0 {
            return Err(ProxyError::Closed {
                proxy: proxy.to_owned(),
            });
        }
        head.extend_from_slice(&byte);
    }
    Ok(head)
}

/// Checks the status line of the proxy's answer: any 2xx opens the tunnel.
fn check_response(head: &[u8], proxy: &str, target: &str, sent_credentials: bool) -> Result<(), ProxyError> {
    let text = String::from_utf8_lossy(head);
    let status_line = text.lines().next().unwrap_or_default().trim_end();
    let bad = || ProxyError::BadResponse {
        proxy: proxy.to_owned(),
        line: status_line.chars().take(200).collect(),
    };
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad());
    }
    let code = parts.next().unwrap_or_default();
    let status: u16 = match code.parse() {
        Ok(s) if code.len() == 3 => s,
        _ => return Err(bad()),
    };
    let reason = parts.next().unwrap_or_default().trim();
    match status {
        200..=299 => {
            tracing::debug!(proxy, status, "proxy tunnel open");
            Ok(())
        }
        407 => Err(ProxyError::AuthRequired {
            proxy: proxy.to_owned(),
            sent_credentials,
        }),
        _ => Err(ProxyError::Refused {
            proxy: proxy.to_owned(),
            target: target.to_owned(),
            status,
            reason: reason.chars().take(200).collect(),
        }),
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the Basic credentials.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |v: u32| char::from(ALPHABET[(v & 63) as usize]);
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    #[test]
    fn parses_proxy_addresses() {
        let p = ProxyConfig::parse("http://pve1.example.com:3128").expect("valid");
        assert_eq!(
            (p.host.as_str(), p.port, p.user.as_deref()),
            ("pve1.example.com", 3128, None)
        );
        let p = ProxyConfig::parse("http://al%40ice:p%3Ass@proxy/").expect("valid");
        assert_eq!(p.host, "proxy");
        assert_eq!(p.port, DEFAULT_HTTP_PROXY_PORT);
        assert_eq!(p.user.as_deref(), Some("al@ice"));
        assert_eq!(p.password.as_ref().map(Password::as_str), Some("p:ss"));
        assert!(!format!("{p:?}").contains("p:ss"));
        assert_eq!(p.to_string(), "proxy:3128");
        let p = ProxyConfig::parse("[::1]:8080").expect("valid");
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        assert_eq!(p.to_string(), "[::1]:8080");
        let p = ProxyConfig::parse("HTTP://user@h:1").expect("valid");
        assert_eq!((p.user.as_deref(), p.password.is_none()), (Some("user"), true));

        assert!(matches!(
            ProxyConfig::parse("https://p:3129"),
            Err(ProxyConfigError::UnsupportedScheme { scheme }) if scheme == "https"
        ));
        assert!(matches!(
            ProxyConfig::parse("socks5://p"),
            Err(ProxyConfigError::UnsupportedScheme { .. })
        ));
        assert_eq!(ProxyConfig::parse("http://:3128"), Err(ProxyConfigError::MissingHost));
        assert!(matches!(
            ProxyConfig::parse("http://p:0"),
            Err(ProxyConfigError::BadPort { .. })
        ));
        assert!(matches!(
            ProxyConfig::parse("http://p:99999"),
            Err(ProxyConfigError::BadPort { .. })
        ));
        assert!(matches!(
            ProxyConfig::parse("http://p:1/x"),
            Err(ProxyConfigError::UnexpectedPath { .. })
        ));
        assert!(matches!(
            ProxyConfig::parse("http://[zz]:1"),
            Err(ProxyConfigError::BadIpv6 { .. })
        ));
    }

    #[test]
    fn connect_request_keeps_the_host_unresolved() {
        let p = ProxyConfig::parse("http://Aladdin:open%20sesame@proxy:3128").expect("valid");
        let req = p.connect_request("pvespiceproxy:65f9a8b2:100:pve1::0123abcd", 61000);
        assert!(
            req.starts_with(
                "CONNECT pvespiceproxy:65f9a8b2:100:pve1::0123abcd:61000 HTTP/1.1\r\n\
                 Host: pvespiceproxy:65f9a8b2:100:pve1::0123abcd:61000\r\n"
            ),
            "{req}"
        );
        // RFC 7617's example credentials.
        assert!(
            req.contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"),
            "{req}"
        );
        assert!(req.ends_with("\r\n\r\n"));
        let req = ProxyConfig::parse("p").expect("valid").connect_request("::1", 5900);
        assert!(req.starts_with("CONNECT [::1]:5900 HTTP/1.1\r\n"), "{req}");
        assert!(!req.contains("Authorization"));
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
    }

    #[test]
    fn response_status_handling() {
        let ok = |s: &str| check_response(s.as_bytes(), "p:1", "h:2", false);
        assert!(ok("HTTP/1.1 200 Connection established\r\n\r\n").is_ok());
        assert!(ok("HTTP/1.0 200\r\n\r\n").is_ok());
        let e = ok("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").expect_err("407");
        assert!(matches!(
            e,
            ProxyError::AuthRequired {
                sent_credentials: false,
                ..
            }
        ));
        assert!(e.to_string().contains("user:password@"), "{e}");
        let e = check_response(b"HTTP/1.1 407 Nope\r\n\r\n", "p:1", "h:2", true).expect_err("407");
        assert!(e.to_string().contains("refused the user name and password"), "{e}");
        let e = ok("HTTP/1.1 403 Forbidden\r\n\r\n").expect_err("403");
        assert!(matches!(&e, ProxyError::Refused { status: 403, reason, .. } if reason == "Forbidden"));
        assert!(e.to_string().contains("h:2"), "{e}");
        assert!(matches!(
            ok("SSH-2.0-OpenSSH\r\n\r\n"),
            Err(ProxyError::BadResponse { .. })
        ));
        assert!(matches!(
            ok("HTTP/1.1 2000 OK\r\n\r\n"),
            Err(ProxyError::BadResponse { .. })
        ));
    }

    /// A one-shot proxy on a thread: answers `answer` and returns the request head.
    fn fake_proxy(answer: &'static [u8]) -> (u16, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            let (mut s, _) = listener.accept().expect("accept");
            let mut reader = std::io::BufReader::new(s.try_clone().expect("clone"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            s.write_all(answer).expect("write");
            // Echo one line through the tunnel to prove nothing was over-read.
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = s.write_all(line.as_bytes());
            head
        });
        (port, t)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn tunnel_through_a_proxy() {
        let (port, t) = fake_proxy(b"HTTP/1.1 200 Connection established\r\nX-Extra: 1\r\n\r\n");
        let p = ProxyConfig::parse(&format!("http://u:pw@127.0.0.1:{port}")).expect("valid");
        let echoed = rt().block_on(async {
            let mut s = p
                .tunnel("ticket:with:colons", 3128, Duration::from_secs(5))
                .await
                .expect("tunnel");
            s.write_all(b"hello\n").await.expect("write");
            let mut r = tokio::io::BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).await.expect("read");
            line
        });
        assert_eq!(echoed, "hello\n");
        let head = t.join().expect("proxy thread");
        assert!(
            head.starts_with("CONNECT ticket:with:colons:3128 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("Proxy-Authorization: Basic {}\r\n", base64(b"u:pw"))),
            "{head}"
        );
    }

    #[test]
    fn tunnel_errors() {
        let (port, t) = fake_proxy(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
        let p = ProxyConfig::parse(&format!("127.0.0.1:{port}")).expect("valid");
        let e = rt()
            .block_on(p.tunnel("h", 1, Duration::from_secs(5)))
            .expect_err("407");
        assert!(
            matches!(
                e,
                ProxyError::AuthRequired {
                    sent_credentials: false,
                    ..
                }
            ),
            "{e:?}"
        );
        let _ = t.join();

        // A proxy that never answers: the timeout fires.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let p = ProxyConfig::parse(&format!("127.0.0.1:{port}")).expect("valid");
        let e = rt()
            .block_on(p.tunnel("h", 1, Duration::from_millis(200)))
            .expect_err("timeout");
        assert!(matches!(e, ProxyError::Timeout { .. }), "{e:?}");
        drop(listener);

        // A proxy that streams header bytes forever: the size cap fires.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            use std::io::Write;
            if let Ok((mut s, _)) = listener.accept() {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
                let junk = vec![b'x'; MAX_RESPONSE_BYTES + 10];
                let _ = s.write_all(&junk);
            }
        });
        let p = ProxyConfig::parse(&format!("127.0.0.1:{port}")).expect("valid");
        let e = rt()
            .block_on(p.tunnel("h", 1, Duration::from_secs(5)))
            .expect_err("too large");
        assert!(matches!(e, ProxyError::ResponseTooLarge { .. }), "{e:?}");
        let _ = t.join();
    }
}
