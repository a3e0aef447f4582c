//! Opens the byte stream of one channel: TCP, TLS (rustls) or a Unix socket.

use crate::client::config::Endpoint;
use crate::client::error::{ChannelKey, ClientError};
use crate::client::proxy::ProxyConfig;
use crate::client::tls;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Any channel stream.
pub trait ChannelStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ChannelStream for T {}

pub type BoxStream = Box<dyn ChannelStream>;

/// How long one TCP connect (and one TLS handshake) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalive: first probe after this much silence...
///
/// Short on purpose: an idle connection is probed (and the answer counts as
/// traffic) every 5 s, so when the network goes silent the last sign of life
/// is at most 5 s old and the peer is declared dead 25–30 s into the outage
/// (the user timeout below): a 20 s outage never ends the session, a longer
/// one is reported within 30 s. With a 15 s idle time the same outage could
/// end an idle channel after 15 s.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// ...then one probe every...
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// ...and the peer is dead after this many unanswered probes (30 s of
/// silence in all; on Linux [`USER_TIMEOUT`] decides, with the same bound).
pub const KEEPALIVE_PROBES: u32 = 5;
/// Data sent and not acknowledged for this long means the peer is gone
/// (`TCP_USER_TIMEOUT`, Linux): the same bound while the client is sending.
pub const USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Socket options of every channel's TCP connection: no Nagle delay, and
/// dead-peer detection (keepalive probes and a user timeout) so that a
/// blackholed connection ends in about 30 s instead of never.
pub(crate) fn tune(stream: &tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    ))]
    let keepalive = keepalive.with_retries(KEEPALIVE_PROBES);
    if let Err(e) = sock.set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "TCP keepalive not set");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = sock.set_tcp_user_timeout(Some(USER_TIMEOUT)) {
        tracing::debug!(error = %e, "TCP user timeout not set");
    }
}

/// How long a channel closed by the client waits for the server to close its
/// side ([`close_gracefully`]): a live server closes within milliseconds; the
/// bound keeps a dead network from holding up a disconnect (the GTK session
/// joins the channel threads on the UI thread).
pub const CLOSE_DRAIN: Duration = Duration::from_millis(500);

/// Ends a channel the client chose to close: sends its end of stream (FIN,
/// and close_notify on TLS), then reads and drops what the server still
/// sends until the server closes too, at most [`CLOSE_DRAIN`].
///
/// Closing a socket with data still arriving makes the kernel answer with a
/// reset, and spice-server 0.15.1 aborts, taking the VM with it
/// (`char-device.cpp write_buffer_release`), when a port channel's send
/// fails inside the device write that caused the send, e.g. an HMP command
/// whose answer is still being written back as the client leaves (the
/// real-guest test `hmp: leaving while the monitor answers`: every time with
/// an immediate close, never with this one). The end of stream it reads in
/// its main loop, where that cannot happen.
pub(crate) async fn close_gracefully(stream: &mut BoxStream) {
    let drain = async {
        let _ = stream.shutdown().await;
        let mut scratch = [0u8; 16 * 1024];
        while let Ok(n) = stream.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    };
    if tokio::time::timeout(CLOSE_DRAIN, drain).await.is_err() {
        tracing::debug!("the server did not close its side in time");
    }
}

pub(crate) fn describe(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        Endpoint::Tls { host, port } => format!("{host}:{port} (TLS)"),
        Endpoint::Unix(p) => p.display().to_string(),
    }
}

async fn tcp(channel: ChannelKey, host: &str, port: u16, desc: &str) -> Result<tokio::net::TcpStream, ClientError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let fut = tokio::net::TcpStream::connect((host, port));
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| ClientError::ConnectTimeout {
            channel,
            endpoint: desc.to_owned(),
        })?
        .map_err(|source| ClientError::Connect {
            channel,
            endpoint: desc.to_owned(),
            source,
        })?;
    tune(&stream);
    Ok(stream)
}

/// TCP to `host:port`, directly or through an HTTP CONNECT tunnel (the host
/// goes to the proxy unresolved; see [`crate::client::proxy`]).
async fn tcp_or_tunnel(
    channel: ChannelKey,
    host: &str,
    port: u16,
    desc: &str,
    proxy: Option<&ProxyConfig>,
) -> Result<tokio::net::TcpStream, ClientError> {
    match proxy {
        None => tcp(channel, host, port, desc).await,
        Some(proxy) => {
            let stream = proxy
                .tunnel(host, port, CONNECT_TIMEOUT)
                .await
                .map_err(|source| ClientError::Proxy { channel, source })?;
            tune(&stream);
            Ok(stream)
        }
    }
}

/// Connects to `endpoint` (through `proxy` for TCP and TLS endpoints);
/// `tls_config` is used for TLS endpoints, negotiated inside the tunnel with
/// the original host name.
pub(crate) async fn open(
    channel: ChannelKey,
    endpoint: &Endpoint,
    proxy: Option<&ProxyConfig>,
    tls_options: &tls::TlsOptions,
    tls_config: &Arc<rustls::ClientConfig>,
) -> Result<BoxStream, ClientError> {
    let desc = describe(endpoint);
    match endpoint {
        Endpoint::Tcp { host, port } => Ok(Box::new(tcp_or_tunnel(channel, host, *port, &desc, proxy).await?)),
        Endpoint::Tls { host, port } => {
            let stream = tcp_or_tunnel(channel, host, *port, &desc, proxy).await?;
            let name = tls::server_name_for(host, tls_options)?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls_config));
            let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream))
                .await
                .map_err(|_| ClientError::ConnectTimeout {
                    channel,
                    endpoint: desc.clone(),
                })?
                .map_err(|e| ClientError::Tls {
                    channel,
                    endpoint: desc.clone(),
                    reason: tls::describe_tls_error(&e),
                })?;
            Ok(Box::new(tls))
        }
        Endpoint::Unix(path) => {
            #[cfg(unix)]
            {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|source| ClientError::Connect {
                        channel,
                        endpoint: desc.clone(),
                        source,
                    })?;
                Ok(Box::new(s))
            }
            #[cfg(not(unix))]
            {
                let _ = path;
                Err(ClientError::Connect {
                    channel,
                    endpoint: desc,
                    source: std::io::Error::new(std::io::ErrorKind::Unsupported, "Unix sockets are not available"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ChannelType;

    /// Runs `test` on a current-thread runtime with a listener on a free local port.
    fn on_a_listener<F, Fut>(test: F)
    where
        F: FnOnce(tokio::net::TcpListener, u16) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            test(listener, port).await;
        });
    }

    #[test]
    fn channel_sockets_detect_a_dead_peer() {
        on_a_listener(|listener, port| async move {
            // Kept listening while the test runs (connected, never accepted).
            let _listener = listener;
            let key = ChannelKey::new(ChannelType::MAIN, 0);
            let stream = tcp(key, "127.0.0.1", port, "test").await.unwrap();
            let sock = socket2::SockRef::from(&stream);
            assert!(sock.keepalive().unwrap());
            assert!(sock.tcp_nodelay().unwrap());
            #[cfg(target_os = "linux")]
            {
                assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
                assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
                assert_eq!(sock.tcp_keepalive_retries().unwrap(), KEEPALIVE_PROBES);
                assert_eq!(sock.tcp_user_timeout().unwrap(), Some(USER_TIMEOUT));
            }
        });
    }

    /// The server's answers still coming after the client's close are read,
    /// not reset: every write the server makes until it closes succeeds, and
    /// the server sees a plain end of stream.
    #[test]
    fn a_closing_channel_lets_the_server_finish() {
        on_a_listener(|listener, port| async move {
            let key = ChannelKey::new(ChannelType::PORT, 1);
            let mut client: BoxStream = Box::new(tcp(key, "127.0.0.1", port, "test").await.unwrap());
            let (mut server, _) = listener.accept().await.unwrap();
            // Unread data waits in the client's socket as it closes.
            server.write_all(&[7u8; 64 * 1024]).await.unwrap();
            let server = tokio::spawn(async move {
                let mut buf = [0u8; 16];
                let eof = server.read(&mut buf).await.map_err(|e| e.kind());
                let mut writes = Vec::new();
                for _ in 0..5 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    writes.push(server.write_all(&[1u8; 32 * 1024]).await.map_err(|e| e.kind()));
                }
                (eof, writes)
            });
            close_gracefully(&mut client).await;
            drop(client);
            let (eof, writes) = server.await.unwrap();
            assert_eq!(eof, Ok(0), "the server sees an end of stream, not a reset");
            assert!(writes.iter().all(Result::is_ok), "{writes:?}");
        });
    }
}
