//! Opens the byte stream of one channel: TCP, TLS (rustls) or a Unix socket.

use crate::client::config::Endpoint;
use crate::client::error::{ChannelKey, ClientError};
use crate::client::proxy::ProxyConfig;
use crate::client::tls;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Any channel stream.
pub trait ChannelStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ChannelStream for T {}

pub type BoxStream = Box<dyn ChannelStream>;

/// How long one TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    let _ = stream.set_nodelay(true);
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
        Some(proxy) => proxy
            .tunnel(host, port, CONNECT_TIMEOUT)
            .await
            .map_err(|source| ClientError::Proxy { channel, source }),
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
