//! One channel: connect, link, then a message loop on a current-thread tokio
//! runtime owned by the channel's thread.
//!
//! The loop handles the base messages itself (SET_ACK/ACK windows, PING/PONG,
//! NOTIFY, DISCONNECTING, sub-message lists) and hands channel messages to a
//! [`ChannelHandler`].

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::inbuf::InBuf;
use super::session::Shared;
use super::stats::ChannelStats;
use super::transport::{self, BoxStream};
use crate::connector::LinkError;
use crate::connector::client::{ClientLink, LinkParams, Linked};
use crate::proto::WriteCursor;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::frame::{self, DataHeader, HeaderKind};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Messages to send, collected by handlers.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) messages: Vec<(u16, Vec<u8>)>,
}

impl Outbox {
    pub(crate) fn push(&mut self, msg_type: u16, body: Vec<u8>) {
        self.messages.push((msg_type, body));
    }
    pub(crate) fn send<M: crate::proto::Message>(&mut self, m: &M) {
        self.messages.push((m.msg_type(), m.to_body()));
    }
}

/// Whether the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Channel-specific behaviour. Runs on the channel's thread.
pub(crate) trait ChannelHandler: Send {
    /// Channel capabilities offered in the link message.
    fn caps(&self) -> Vec<u32> {
        Vec::new()
    }
    /// The link succeeded; queue the first messages (e.g. DISPLAY_INIT).
    fn on_linked(&mut self, _linked: &Linked, _out: &mut Outbox) -> Result<(), ClientError> {
        Ok(())
    }
    /// A channel message (type > 100). `Ok(false)` means "not implemented, skipped".
    fn on_message(&mut self, msg_type: u16, body: &[u8], out: &mut Outbox) -> Result<bool, ClientError>;
    /// When the handler wants [`on_wake`](Self::on_wake) called (video frames due later).
    fn next_wake(&self) -> Option<std::time::Duration> {
        None
    }
    /// The time asked for by [`next_wake`](Self::next_wake) has come.
    fn on_wake(&mut self, _out: &mut Outbox) -> Result<(), ClientError> {
        Ok(())
    }
    /// Called after each batch of messages read (hook for flushing).
    fn after_batch(&mut self, _out: &mut Outbox) -> Result<Flow, ClientError> {
        Ok(Flow::Continue)
    }
    /// A wake-up the embedder triggers from any thread (e.g. after queueing
    /// commands): the loop waits on it next to the socket and then calls
    /// [`on_commands`](Self::on_commands). `None`: the channel takes no commands.
    fn command_notify(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    /// The [`command_notify`](Self::command_notify) fired (also called once right after the link).
    fn on_commands(&mut self, _out: &mut Outbox) -> Result<(), ClientError> {
        Ok(())
    }
}

/// A handler for channels Sumac does not implement yet: messages are counted and skipped.
pub(crate) struct SkipHandler;

impl ChannelHandler for SkipHandler {
    fn on_message(&mut self, _msg_type: u16, _body: &[u8], _out: &mut Outbox) -> Result<bool, ClientError> {
        Ok(false)
    }
}

/// Connects and links one channel, upgrading to TLS once on NEED_SECURED.
async fn connect_and_link(
    shared: &Shared,
    channel: ChannelKey,
    connection_id: u32,
    caps: Vec<u32>,
) -> Result<(BoxStream, Linked, bool), ClientError> {
    let mut endpoint = shared.config.endpoint_for(channel.channel_type)?;
    let proxy = shared.config.effective_proxy()?;
    let mut upgraded = false;
    loop {
        let tls_config = shared.tls_config()?;
        let mut stream = transport::open(channel, &endpoint, proxy.as_ref(), &shared.tls_options, &tls_config).await?;
        let params = LinkParams {
            connection_id,
            channel_type: channel.channel_type,
            channel_id: channel.id,
            channel_caps: caps.clone(),
            password: shared
                .config
                .password
                .as_ref()
                .map(|p| p.as_bytes().to_vec())
                .unwrap_or_default(),
            mini_header: shared.options.mini_header,
        };
        let link = |source| ClientError::Link { channel, source };
        let mut machine = ClientLink::new(params).map_err(link)?;
        let io = |source| ClientError::Io { channel, source };
        stream.write_all(&machine.start()).await.map_err(io)?;
        let result = loop {
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
        };
        match result {
            Ok(linked) => return Ok((stream, linked, endpoint.is_tls())),
            Err(ClientError::Link {
                source: LinkError::NeedSecured,
                ..
            }) => {
                if upgraded || endpoint.is_tls() {
                    return Err(ClientError::NeedSecuredLoop { channel });
                }
                endpoint = shared
                    .config
                    .tls_endpoint()
                    .map_err(|_| ClientError::NeedSecuredNoTls { channel })?;
                tracing::info!(%channel, "server requires TLS, reconnecting on the TLS port");
                upgraded = true;
            }
            Err(e) => return Err(e),
        }
    }
}

fn encode_out(kind: HeaderKind, serial: &mut u64, msg_type: u16, body: &[u8], w: &mut WriteCursor) {
    *serial = serial.wrapping_add(1);
    DataHeader {
        serial: *serial,
        msg_type,
        size: u32::try_from(body.len()).unwrap_or(u32::MAX),
        sub_list: 0,
    }
    .encode(kind, w);
    w.write_slice(body);
}

/// Most messages handled between two looks at shutdown, timers and commands.
const MAX_BATCH: usize = 256;

/// Longest a WAIT_FOR_CHANNELS may hold a channel.
const WAIT_FOR_CHANNELS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// State of the base protocol on one channel.
struct BaseState {
    ack_window: u32,
    ack_count: u32,
}

impl BaseState {
    /// Handles a base message; returns Stop on DISCONNECTING.
    fn handle(
        &mut self,
        channel: ChannelKey,
        shared: &Shared,
        m: ServerBase,
        out: &mut Outbox,
    ) -> Result<Flow, ClientError> {
        match m {
            ServerBase::SetAck { generation, window } => {
                self.ack_window = window;
                self.ack_count = 0;
                out.push(ClientBase::AckSync { generation }.msg_type(), {
                    let mut w = WriteCursor::new();
                    ClientBase::AckSync { generation }.encode_body(&mut w);
                    w.into_inner()
                });
            }
            ServerBase::Ping { id, timestamp, .. } => {
                let pong = ClientBase::Pong { id, timestamp };
                let mut w = WriteCursor::new();
                pong.encode_body(&mut w);
                out.push(pong.msg_type(), w.into_inner());
            }
            ServerBase::Notify { severity, message, .. } => {
                let text = String::from_utf8_lossy(&message).into_owned();
                tracing::info!(%channel, severity, message = %text, "server notification");
                shared.emit(SessionEvent::Notify {
                    severity,
                    message: text,
                });
            }
            ServerBase::Disconnecting { reason, .. } => {
                tracing::info!(%channel, reason, "server is disconnecting");
                return Ok(Flow::Stop);
            }
            ServerBase::WaitForChannels(list) => {
                // Hold this channel until the listed channels have processed the
                // listed messages (GLZ references across display channels); a
                // bounded wait, never a hang.
                if !shared.wait_for_serials(&list, WAIT_FOR_CHANNELS_TIMEOUT) {
                    tracing::warn!(%channel, "wait-for-channels timed out; continuing");
                }
            }
            ServerBase::Migrate { .. } | ServerBase::MigrateData(_) => {
                tracing::warn!(%channel, "migration is not supported yet; ignoring");
            }
            ServerBase::List => {}
        }
        Ok(Flow::Continue)
    }

    /// Counts one received message; queues an ACK when the window is full.
    fn count(&mut self, out: &mut Outbox) {
        if self.ack_window == 0 {
            return;
        }
        self.ack_count = self.ack_count.saturating_add(1);
        if self.ack_count >= self.ack_window {
            self.ack_count = 0;
            out.push(ClientBase::Ack.msg_type(), Vec::new());
        }
    }
}

/// What one received message is dispatched with.
struct Dispatch<'a> {
    channel: ChannelKey,
    shared: &'a Shared,
    stats: &'a ChannelStats,
    base: BaseState,
}

impl Dispatch<'_> {
    /// Hands one message to the base state or the handler.
    fn message(
        &mut self,
        handler: &mut dyn ChannelHandler,
        msg_type: u16,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<Flow, ClientError> {
        let channel = self.channel;
        ChannelStats::add(&self.stats.messages_read, 1);
        if let Some(r) = &self.shared.options.recorder {
            r.message(channel, msg_type, body);
        }
        match ServerBase::decode(msg_type, body) {
            Ok(Some(m)) => self.base.handle(channel, self.shared, m, out),
            Ok(None) => {
                if !handler.on_message(msg_type, body, out)? {
                    ChannelStats::add(&self.stats.messages_skipped, 1);
                    tracing::trace!(%channel, msg_type, "message not implemented, skipped");
                }
                Ok(Flow::Continue)
            }
            Err(source) => Err(ClientError::Protocol { channel, source }),
        }
    }
}

/// Runs a whole channel: connect, link, loop until shutdown, EOF or error.
pub(crate) async fn run_channel(
    shared: Arc<Shared>,
    channel: ChannelKey,
    connection_id: u32,
    mut handler: Box<dyn ChannelHandler>,
    stats: Arc<ChannelStats>,
) -> Result<(), ClientError> {
    let mut shutdown = shared.shutdown_rx();
    let linking = connect_and_link(&shared, channel, connection_id, handler.caps());
    let (stream, linked, tls) = tokio::select! {
        r = linking => r?,
        _ = shutdown.wait_for(|v| *v) => return Ok(()),
    };
    stats.tls.store(tls, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(%channel, tls, header = ?linked.header, "channel linked");
    shared.emit(SessionEvent::ChannelUp { channel, tls });
    if let Some(r) = &shared.options.recorder {
        r.channel(channel);
    }

    let kind = linked.header;
    let mut stream = stream;
    let mut inbuf = InBuf::new();
    let max_message = shared.options.max_message;
    let mut serial = 0u64;
    let mut received = 0u64;
    let mut dispatch = Dispatch {
        channel,
        shared: &shared,
        stats: &stats,
        base: BaseState {
            ack_window: 0,
            ack_count: 0,
        },
    };
    let mut out = Outbox::default();
    handler.on_linked(&linked, &mut out)?;
    let commands = handler.command_notify();
    if commands.is_some() {
        handler.on_commands(&mut out)?;
    }
    let protocol = |source| ClientError::Protocol { channel, source };
    let result = async {
        loop {
            // Every message already received, then one reply flush and one
            // `after_batch` for all of them.
            let mut handled = 0usize;
            let mut flow = Flow::Continue;
            while let Some(m) = inbuf.next(kind, max_message).map_err(protocol)? {
                ChannelStats::add(&stats.bytes_read, m.wire_len(kind) as u64);
                let header = m.header;
                let body = inbuf.body(&m);
                if header.sub_list != 0 {
                    let subs = frame::sub_messages(body, header.sub_list).map_err(protocol)?;
                    for sub in subs {
                        if dispatch.message(handler.as_mut(), sub.msg_type, sub.body, &mut out)? == Flow::Stop {
                            flow = Flow::Stop;
                        }
                    }
                }
                if header.msg_type != crate::proto::consts::msg::LIST
                    && dispatch.message(handler.as_mut(), header.msg_type, body, &mut out)? == Flow::Stop
                {
                    flow = Flow::Stop;
                }
                dispatch.base.count(&mut out);
                // Message serials: explicit in the full header, implicit (a count) with the mini header.
                received = received.wrapping_add(1);
                shared.processed(
                    channel,
                    if kind == HeaderKind::Full {
                        header.serial
                    } else {
                        received
                    },
                );
                handled += 1;
                if flow == Flow::Stop || handled >= MAX_BATCH {
                    break;
                }
            }
            if handled > 0 && handler.after_batch(&mut out)? == Flow::Stop {
                flow = Flow::Stop;
            }
            flush(&mut stream, kind, &mut serial, &mut out, channel, &stats).await?;
            if flow == Flow::Stop {
                return Ok(());
            }
            if handled >= MAX_BATCH {
                // More may be buffered: handle it before reading, but let
                // shutdown, timers and commands in first.
                if *shutdown.borrow() {
                    return Ok(());
                }
                tokio::task::yield_now().await;
                continue;
            }
            inbuf.prepare_read(kind, max_message).map_err(protocol)?;
            let wake = handler.next_wake();
            tokio::select! {
                r = stream.read_buf(inbuf.vec_mut()) => match r {
                    Ok(0) => {
                        // A clean EOF exactly between messages is still the server going away.
                        return Err(ClientError::UnexpectedEof { channel, mid_message: inbuf.pending() > 0 });
                    }
                    Ok(_) => {}
                    Err(source) => return Err(ClientError::Io { channel, source }),
                },
                _ = shutdown.wait_for(|v| *v) => return Ok(()),
                _ = tokio::time::sleep(wake.unwrap_or_default()), if wake.is_some() => {
                    handler.on_wake(&mut out)?;
                }
                () = async {
                    match &commands {
                        Some(n) => n.notified().await,
                        None => std::future::pending().await,
                    }
                } => {
                    handler.on_commands(&mut out)?;
                }
            }
        }
    }
    .await;
    let _ = stream.shutdown().await;
    // Nothing may wait on a channel that is gone.
    shared.processed(channel, u64::MAX);
    result
}

async fn flush<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: HeaderKind,
    serial: &mut u64,
    out: &mut Outbox,
    channel: ChannelKey,
    stats: &ChannelStats,
) -> Result<(), ClientError> {
    if out.messages.is_empty() {
        return Ok(());
    }
    let mut buf = WriteCursor::new();
    let n = out.messages.len();
    for (ty, body) in out.messages.drain(..) {
        encode_out(kind, serial, ty, &body, &mut buf);
    }
    w.write_all(buf.as_slice())
        .await
        .map_err(|source| ClientError::Io { channel, source })?;
    w.flush().await.map_err(|source| ClientError::Io { channel, source })?;
    ChannelStats::add(&stats.bytes_written, buf.len() as u64);
    ChannelStats::add(&stats.messages_written, n as u64);
    Ok(())
}
