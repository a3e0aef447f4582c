//! A tiny HTTP CONNECT proxy for tests, shaped like Proxmox VE's spiceproxy:
//! the CONNECT target host may be a ticket that only the proxy can resolve
//! (a route maps it to a real host), credentials are checked with Basic auth
//! (407 otherwise), and every request is recorded.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// How the proxy behaves.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// `(user, password)` required in `Proxy-Authorization: Basic`; `None`: no auth.
    pub credentials: Option<(String, String)>,
    /// Target host (as sent in CONNECT) → the host really connected to; the
    /// port is kept. Hosts without a route are connected to as they are.
    pub routes: Vec<(String, String)>,
}

/// One CONNECT request the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRecord {
    /// The request target exactly as sent (`host:port`).
    pub target: String,
    /// The decoded `user:password` of `Proxy-Authorization: Basic`, if any.
    pub credentials: Option<String>,
    /// The status the proxy answered.
    pub status: u16,
}

struct Inner {
    config: ProxyConfig,
    records: Mutex<Vec<ConnectRecord>>,
    stop: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
}

/// A running proxy; stops when dropped.
pub struct TestProxy {
    inner: Arc<Inner>,
    port: u16,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProxy")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl TestProxy {
    /// Listens on a free loopback port.
    pub fn start(config: ProxyConfig) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("bind proxy port")?;
        let port = listener.local_addr()?.port();
        let inner = Arc::new(Inner {
            config,
            records: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let acc = Arc::clone(&inner);
        let accept = std::thread::Builder::new()
            .name("test-proxy-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if acc.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let inner = Arc::clone(&acc);
                    let _ = std::thread::Builder::new()
                        .name("test-proxy-conn".into())
                        .spawn(move || {
                            if let Err(e) = serve(&inner, conn) {
                                tracing::debug!("test proxy connection: {e:#}");
                            }
                        });
                }
            })
            .context("spawn proxy thread")?;
        Ok(Self {
            inner,
            port,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://[user:password@]127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        match &self.inner.config.credentials {
            Some((u, p)) => format!("http://{u}:{p}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Every CONNECT request so far.
    pub fn records(&self) -> Vec<ConnectRecord> {
        self.inner
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting and closes every tunnel.
    pub fn stop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for s in self
            .inner
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(inner: &Inner, mut client: TcpStream) -> Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut lines = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = String::new();
        let n = reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line)?;
        total = total.saturating_add(n);
        if n == 0 || total > MAX_HEAD {
            anyhow::bail!("request head too long or cut");
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let request = lines.first().cloned().unwrap_or_default();
    let mut parts = request.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let credentials = lines.iter().skip(1).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("proxy-authorization") {
            return None;
        }
        let (scheme, b64) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        String::from_utf8(base64_decode(b64.trim())?).ok()
    });
    let record = |status: u16| {
        inner
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(ConnectRecord {
                target: target.unwrap_or_default().to_owned(),
                credentials: credentials.clone(),
                status,
            });
    };
    let (Some("CONNECT"), Some(target), Some(v)) = (method, target, version) else {
        record(400);
        client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
        return Ok(());
    };
    if !v.starts_with("HTTP/1.") {
        record(400);
        client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
        return Ok(());
    }
    if let Some((u, p)) = &inner.config.credentials
        && credentials.as_deref() != Some(&format!("{u}:{p}"))
    {
        record(407);
        client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"sumac-test\"\r\nContent-Length: 0\r\n\r\n",
        )?;
        return Ok(());
    }
    // Like spiceproxy: the port is after the last colon, the host is everything before.
    let Some((host, port)) = target.rsplit_once(':') else {
        record(400);
        client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
        return Ok(());
    };
    let Ok(port) = port.parse::<u16>() else {
        record(400);
        client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
        return Ok(());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let real = inner
        .config
        .routes
        .iter()
        .find(|(from, _)| from == host)
        .map_or(host, |(_, to)| to.as_str());
    let upstream = match TcpStream::connect((real, port)) {
        Ok(s) => s,
        Err(_) => {
            record(502);
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")?;
            return Ok(());
        }
    };
    record(200);
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    client.set_read_timeout(None)?;
    {
        let mut open = inner.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        open.push(client.try_clone()?);
        open.push(upstream.try_clone()?);
    }
    // Bytes the client sent right after the head are already in `reader`'s buffer.
    let buffered = reader.buffer().to_vec();
    let mut up_w = upstream.try_clone()?;
    up_w.write_all(&buffered)?;
    let mut up_r = upstream;
    let mut client_w = client.try_clone()?;
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Write);
    });
    let mut client_r = client;
    let _ = std::io::copy(&mut client_r, &mut up_w);
    let _ = up_w.shutdown(Shutdown::Write);
    let _ = down.join();
    Ok(())
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i as u32);
        }
        let produced = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..produced {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_rfc_vectors() {
        for (plain, enc) in [("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64_decode(enc).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zm9*"), None);
    }

    #[test]
    fn refuses_wrong_credentials_and_tunnels_right_ones() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_port = echo.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = echo.accept() {
                let mut buf = [0u8; 5];
                if s.read_exact(&mut buf).is_ok() {
                    let _ = s.write_all(&buf);
                }
            }
        });
        let proxy = TestProxy::start(ProxyConfig {
            credentials: Some(("u".into(), "pw".into())),
            routes: vec![("ticket:a::b".into(), "127.0.0.1".into())],
        })
        .unwrap();
        let ask = |auth: &str| {
            let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
            write!(s, "CONNECT ticket:a::b:{echo_port} HTTP/1.1\r\n{auth}\r\n").unwrap();
            s
        };
        let mut s = ask("");
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 407"), "{answer}");

        let mut s = ask("Proxy-Authorization: Basic dTpwdw==\r\n");
        let mut head = [0u8; 39];
        s.read_exact(&mut head).unwrap();
        assert!(head.starts_with(b"HTTP/1.1 200"));
        s.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"hello");
        let records = proxy.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].status, 407);
        assert_eq!(records[1].status, 200);
        assert_eq!(records[1].target, format!("ticket:a::b:{echo_port}"));
        assert_eq!(records[1].credentials.as_deref(), Some("u:pw"));
    }
}
