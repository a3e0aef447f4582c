//! Connecting and linking one channel: transport, then the link handshake
//! ([`ClientLink`], sans-IO), upgrading to TLS once on NEED_SECURED.
//!
//! TLS first: every channel starts on the TLS port when one is known
//! ([`ConnectionConfig::endpoint_for`](crate::client::ConnectionConfig::endpoint_for));
//! it goes to the plain port only when the server, reached and verified over
//! TLS, answers NEED_UNSECURED for it, and never when `secure-channels`
//! lists it. NEED_UNSECURED comes in the link reply, before the ticket is sent.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::transport::{self, BoxStream};
use crate::client::error::{ChannelKey, ClientError};
use crate::client::session::{Session, Target};
use crate::connector::LinkError;
use crate::connector::client::{ClientLink, LinkParams, Linked};
use crate::proto::consts::LinkErr;

/// A linked channel: its stream, the link result and whether it runs over TLS.
pub(crate) struct LinkedStream {
    pub(crate) stream: BoxStream,
    pub(crate) linked: Linked,
    pub(crate) tls: bool,
}

/// Connects and links `channel` to the session's target, upgrading to TLS
/// once on NEED_SECURED.
pub(crate) async fn connect_and_link(
    session: &Session,
    channel: ChannelKey,
    connection_id: u32,
    caps: Vec<u32>,
) -> Result<LinkedStream, ClientError> {
    connect_and_link_to(session, &session.target(), channel, connection_id, caps).await
}

/// Connects and links `channel` to `target` (a migration destination, or
/// the session's target).
pub(crate) async fn connect_and_link_to(
    session: &Session,
    target: &Target,
    channel: ChannelKey,
    connection_id: u32,
    caps: Vec<u32>,
) -> Result<LinkedStream, ClientError> {
    let config = &target.config;
    let mut endpoint = config.endpoint_for(channel.channel_type)?;
    let proxy = config.effective_proxy()?;
    let mut upgraded = false;
    let mut downgraded = false;
    loop {
        let tls_config = target.tls_config()?;
        let mut stream = transport::open(channel, &endpoint, proxy.as_ref(), &target.tls_options, &tls_config).await?;
        let params = LinkParams {
            connection_id,
            channel_type: channel.channel_type,
            channel_id: channel.id,
            channel_caps: caps.clone(),
            password: config
                .password
                .as_ref()
                .map(|p| p.as_bytes().to_vec())
                .unwrap_or_default(),
            mini_header: session.options.mini_header,
        };
        let link = |source| ClientError::Link { channel, source };
        let mut machine = ClientLink::new(params).map_err(link)?;
        let io = |source| ClientError::Io { channel, source };
        let timeout = session.options.link_timeout;
        let handshake = async {
            stream.write_all(&machine.start()).await.map_err(io)?;
            loop {
                let want = machine.wants();
                let mut buf = vec![0u8; want];
                match stream.read_exact(&mut buf).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        break Err(ClientError::UnexpectedEof {
                            channel,
                            mid_message: true,
                        });
                    }
                    Err(e) => break Err(io(e)),
                }
                match machine.step(&buf) {
                    Ok(out) => {
                        if !out.send.is_empty() {
                            stream.write_all(&out.send).await.map_err(io)?;
                        }
                        if let Some(linked) = out.done {
                            break Ok(linked);
                        }
                    }
                    Err(e) => break Err(link(e)),
                }
            }
        };
        let result = match tokio::time::timeout(timeout, handshake).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::LinkTimeout {
                channel,
                endpoint: transport::describe(&endpoint),
                secs: timeout.as_secs(),
            }),
        };
        match result {
            Ok(linked) => {
                return Ok(LinkedStream {
                    stream,
                    linked,
                    tls: endpoint.is_tls(),
                });
            }
            Err(ClientError::Link {
                source: LinkError::NeedSecured,
                ..
            }) => {
                if upgraded || endpoint.is_tls() {
                    return Err(ClientError::NeedSecuredLoop { channel });
                }
                endpoint = config
                    .tls_endpoint()
                    .map_err(|_| ClientError::NeedSecuredNoTls { channel })?;
                tracing::info!(%channel, "server requires TLS, reconnecting on the TLS port");
                upgraded = true;
            }
            Err(ClientError::Link {
                source: LinkError::Refused(LinkErr::NeedUnsecured),
                ..
            }) if endpoint.is_tls() && !downgraded && !upgraded => {
                endpoint = config.plain_endpoint_for(channel.channel_type)?;
                tracing::info!(%channel, "the TLS server says this channel must be plain, reconnecting on the plain port");
                downgraded = true;
            }
            Err(e) => return Err(e),
        }
    }
}
