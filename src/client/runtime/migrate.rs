//! Executing migration steps ([`crate::channel::migration`]): linking the
//! destination, handing each channel its link, swapping a channel's
//! connection under its running machine.
//!
//! The main channel's runner starts a task that links every channel of the
//! session to the destination (the main channel first, with the source's
//! session id; for a seamless migration it offers MIGRATE_DST_DO_SEAMLESS
//! and waits for the answer; then the others, concurrently). The links come
//! back through the main channel's control inbox ([`Control::DstReady`]).
//! Seamless: each child gets its link at once ([`Control::Prepared`]) and
//! swaps when the source's MIGRATE tells it to. Semi-seamless: on the
//! source's MIGRATE_END the children stop reading the source
//! ([`Control::Freeze`]), the caches are cleared, the main channel swaps;
//! on the destination's MAIN_INIT every child swaps ([`Control::Swap`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::channel::{Conn, Runner};
use super::control::{Control, DstLinks, PreLinked};
use super::link;
use crate::channel::migration::{self, Migration, MigrationEvent};
use crate::client::config::ConnectionConfig;
use crate::client::error::{ChannelKey, ClientError};
use crate::client::events::SessionEvent;
use crate::client::reconnect::{MigrationKind, PendingMigration, destination_config};
use crate::client::session::{Session, SessionState, Target, lock};
use crate::proto::caps::main as main_caps;
use crate::proto::frame::{self, DataHeader};
use crate::proto::{ChannelType, ReadCursor};

/// Longest the main channel waits for the other channels to stop reading
/// the source (a channel in a long wait catches up later).
const FREEZE_WAIT: Duration = Duration::from_secs(2);
/// Most bytes the destination's main channel may send before its answer to
/// MIGRATE_DST_DO_SEAMLESS.
const HANDSHAKE_MAX_BYTES: usize = 1 << 20;

/// A channel's part of a migration.
#[derive(Debug, Default)]
pub(crate) struct ChannelMigration {
    /// This channel's link to the destination.
    prepared: Option<PreLinked>,
    /// Semi-seamless: not reading the source any more, waiting for the swap.
    pub(super) frozen: bool,
    /// (main, semi-seamless) The other channels' links, handed over on the
    /// destination's MAIN_INIT.
    children: Vec<(ChannelKey, PreLinked)>,
    /// (main) The destination's settings.
    target: Option<ConnectionConfig>,
    /// (main) The task linking the destination.
    task: Option<tokio::task::JoinHandle<()>>,
    /// (main) Where that task reports.
    control_tx: Option<mpsc::UnboundedSender<Control>>,
}

impl ChannelMigration {
    pub(super) fn new(control_tx: Option<mpsc::UnboundedSender<Control>>) -> Self {
        Self {
            control_tx,
            ..Self::default()
        }
    }

    /// Stops linking the destination and forgets its links.
    pub(super) fn abort_task(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.prepared = None;
        self.children.clear();
    }
}

fn failed(channel: ChannelKey, reason: &'static str) -> ClientError {
    ClientError::Migration { channel, reason }
}

/// Executes one migration step the machine asked for.
pub(super) async fn execute(r: &mut Runner<'_>, m: Migration) -> Result<(), ClientError> {
    match m {
        Migration::Connect {
            target,
            seamless,
            session_id,
        } => {
            r.mig.abort_task();
            let config = destination_config(&r.session.target().config, &target);
            let Some(tx) = r.mig.control_tx.clone() else {
                return Err(failed(r.key, "only the main channel links a destination"));
            };
            r.session.set_state(SessionState::Migrating);
            let children: Vec<(ChannelKey, Vec<u32>)> = r
                .session
                .children()
                .controls()
                .into_iter()
                .map(|(k, c)| (k, c.caps))
                .collect();
            let main_caps = r.driver.machine().caps();
            let session = Arc::clone(r.session);
            let dst = Arc::new(Target::new(config.clone()));
            r.mig.target = Some(config);
            r.mig.task = Some(tokio::spawn(async move {
                let result = connect_destination(&session, &dst, session_id, main_caps, children, seamless).await;
                let _ = tx.send(Control::DstReady(result));
            }));
        }
        Migration::Abort => {
            r.mig.abort_task();
            r.mig.target = None;
            for (_, c) in r.session.children().controls() {
                let _ = c.tx.send(Control::Abort);
            }
            lock(&r.session.life.migration).take();
            if r.session.state() == SessionState::Migrating {
                r.session.set_state(SessionState::Up);
            }
        }
        Migration::SwitchMain => {
            let Some(link) = r.mig.prepared.take() else {
                return Err(failed(r.key, "MIGRATE_END before the destination was linked"));
            };
            freeze_children(r.session).await;
            r.session.forget_server();
            swap(r, link, true).await?;
            // The destination's MAIN_INIT must come.
            r.first_message_by = Some(Instant::now() + r.session.options.first_message_timeout);
        }
        Migration::SwitchChildren => {
            let links = std::mem::take(&mut r.mig.children);
            let children = r.session.children();
            for (key, link) in links {
                if let Some(c) = children.control(key) {
                    let _ = c.tx.send(Control::Swap(link));
                }
            }
            drop(children);
            if let Some(config) = r.mig.target.take() {
                r.session.replace_target(config);
            }
            tracing::info!("migration done (semi-seamless)");
            r.session.set_state(SessionState::Up);
            r.session.emit(SessionEvent::Migrated {
                kind: MigrationKind::SemiSeamless,
            });
        }
        Migration::SwitchChannel { data } => {
            let Some(link) = prepared_link(r).await? else {
                tracing::warn!(channel = %r.key, "MIGRATE without a destination link; staying on the source");
                return Ok(());
            };
            swap(r, link, false).await?;
            if let Some(d) = data {
                // Before anything else the channel sends the destination.
                let (ty, body) = migration::client_migrate_data(&d);
                r.conn.encode(ty, &body);
            }
            channel_migrated(r.session, r.key);
        }
        Migration::SwitchHost(target) => {
            r.mig.abort_task();
            r.session.life.request_switch_host(target);
            // The main channel ends; the session relinks to the new host.
            r.out.stop();
        }
    }
    Ok(())
}

/// This channel's destination link: kept, or waiting in its control inbox.
async fn prepared_link(r: &mut Runner<'_>) -> Result<Option<PreLinked>, ClientError> {
    if let Some(l) = r.mig.prepared.take() {
        return Ok(Some(l));
    }
    while let Some(c) = r.control.as_mut().and_then(|rx| rx.try_recv().ok()) {
        if let Control::Prepared(l) = c {
            return Ok(Some(l));
        }
        Box::pin(on_control(r, c)).await?;
    }
    Ok(None)
}

/// A control message for this channel.
pub(super) async fn on_control(r: &mut Runner<'_>, c: Control) -> Result<(), ClientError> {
    match c {
        Control::DstReady(result) => {
            if r.mig.task.take().is_none() {
                // Cancelled meanwhile: the links just close.
                return Ok(());
            }
            let ctx = r.session.ctx();
            let event = match result {
                Ok(links) => {
                    let seamless = links.seamless;
                    hand_out(r, links);
                    MigrationEvent::Connected { seamless }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "migration: cannot link the destination");
                    r.mig.target = None;
                    MigrationEvent::Failed
                }
            };
            r.driver
                .machine_mut()
                .migration_event(event, &ctx, &mut r.out)
                .map_err(|e| r.protocol(e))?;
        }
        Control::Prepared(l) => r.mig.prepared = Some(l),
        Control::Freeze(done) => {
            let _ = r.conn.flush_only().await;
            r.mig.frozen = true;
            let _ = done.send(());
        }
        Control::Swap(l) => {
            r.mig.frozen = false;
            swap(r, l, true).await?;
        }
        Control::Abort => {
            r.mig.prepared = None;
            r.mig.frozen = false;
        }
    }
    Ok(())
}

/// The destination's links go where they are needed.
fn hand_out(r: &mut Runner<'_>, links: DstLinks) {
    let DstLinks {
        main,
        children,
        seamless,
    } = links;
    r.mig.prepared = Some(main);
    if !seamless {
        r.mig.children = children;
        return;
    }
    let mut left: std::collections::BTreeSet<ChannelKey> = children.iter().map(|(k, _)| *k).collect();
    left.insert(r.key);
    let controls = r.session.children();
    for (key, link) in children {
        match controls.control(key) {
            Some(c) => {
                let _ = c.tx.send(Control::Prepared(link));
            }
            None => {
                left.remove(&key);
            }
        }
    }
    drop(controls);
    if let Some(config) = r.mig.target.take() {
        *lock(&r.session.life.migration) = Some(PendingMigration {
            config,
            left,
            retired: Vec::new(),
        });
    }
}

/// A channel moved (seamless): the last one makes the destination the
/// session's target.
fn channel_migrated(session: &Session, key: ChannelKey) {
    let done = {
        let mut pending = lock(&session.life.migration);
        let finished = pending.as_mut().is_some_and(|p| {
            p.left.remove(&key);
            p.left.is_empty()
        });
        if finished { pending.take() } else { None }
    };
    if let Some(p) = done {
        session.replace_target(p.config);
        tracing::info!("migration done (seamless)");
        session.set_state(SessionState::Up);
        session.emit(SessionEvent::Migrated {
            kind: MigrationKind::Seamless,
        });
    }
}

/// Asks every child to stop reading the source, and waits (bounded) until they did.
async fn freeze_children(session: &Session) {
    let mut acks: Vec<oneshot::Receiver<()>> = Vec::new();
    for (_, c) in session.children().controls() {
        let (tx, rx) = oneshot::channel();
        if c.tx.send(Control::Freeze(tx)).is_ok() {
            acks.push(rx);
        }
    }
    let all = async {
        for a in acks {
            let _ = a.await;
        }
    };
    if tokio::time::timeout(FREEZE_WAIT, all).await.is_err() {
        tracing::debug!("a channel is slow to stop reading the source; switching anyway");
    }
}

/// Replaces the channel's connection with `link`. `fresh`: it starts over
/// (semi-seamless: serials from 0, the first messages again); otherwise it
/// continues where the source stopped.
async fn swap(r: &mut Runner<'_>, link: PreLinked, fresh: bool) -> Result<(), ClientError> {
    // What is queued for the source still goes there (replies to its messages).
    let _ = r.conn.flush_only().await;
    let PreLinked {
        stream,
        linked,
        tls,
        buffered,
    } = link;
    let stats = Arc::clone(&r.conn.stats);
    let serial = r.conn.serial;
    stats.tls.store(tls, std::sync::atomic::Ordering::Relaxed);
    let new = Conn::new(r.session, r.key, stream, linked.header, &buffered, stats);
    let mut old = Some(std::mem::replace(&mut r.conn, new).into_stream());
    // Seamless: the source connection stays open until every channel moved.
    if !fresh && let Some(p) = lock(&r.session.life.migration).as_mut() {
        p.retired.extend(old.take());
    }
    if let Some(mut s) = old {
        let _ = s.shutdown().await;
    }
    if !fresh {
        r.conn.serial = serial;
    }
    r.driver.relinked(linked.header, fresh);
    if fresh {
        r.published = 0;
        r.session.serials.processed(r.key, 0);
    }
    tracing::info!(channel = %r.key, tls, seamless = !fresh, "channel moved to the migration destination");
    r.session.emit(SessionEvent::ChannelUp { channel: r.key, tls });
    let ctx = r.session.ctx();
    r.driver
        .machine_mut()
        .migrated(&linked, !fresh, &ctx, &mut r.out)
        .map_err(|e| r.protocol(e))?;
    if fresh {
        r.first_commands()?;
    }
    Ok(())
}

/// Links every channel of the session to the destination.
async fn connect_destination(
    session: &Arc<Session>,
    dst: &Arc<Target>,
    session_id: u32,
    main_caps: Vec<u32>,
    children: Vec<(ChannelKey, Vec<u32>)>,
    seamless: Option<u32>,
) -> Result<DstLinks, ClientError> {
    let main_key = ChannelKey::new(ChannelType::MAIN, 0);
    let l = link::connect_and_link_to(session, dst, main_key, session_id, main_caps).await?;
    let mut main = PreLinked {
        stream: l.stream,
        linked: l.linked,
        tls: l.tls,
        buffered: Vec::new(),
    };
    let mut acked = false;
    if let Some(version) = seamless {
        if main.linked.server_caps.channel.has(main_caps::SEAMLESS_MIGRATE) {
            let timeout = session.options.link_timeout;
            acked = tokio::time::timeout(timeout, seamless_handshake(&mut main, version))
                .await
                .map_err(|_| failed(main_key, "the destination did not answer MIGRATE_DST_DO_SEAMLESS"))??;
            tracing::info!(acked, "migration: the destination answered the seamless offer");
        } else {
            tracing::info!("migration: the destination does not offer seamless migration");
        }
    }
    // The others only now: the destination knows the session, and (seamless)
    // activates their links at once.
    let mut tasks = Vec::new();
    for (key, caps) in children {
        let s = Arc::clone(session);
        let d = Arc::clone(dst);
        tasks.push((
            key,
            tokio::spawn(async move { link::connect_and_link_to(&s, &d, key, session_id, caps).await }),
        ));
    }
    let mut linked = Vec::new();
    let mut first_error = None;
    for (key, t) in tasks {
        match t.await {
            Ok(Ok(l)) => linked.push((
                key,
                PreLinked {
                    stream: l.stream,
                    linked: l.linked,
                    tls: l.tls,
                    buffered: Vec::new(),
                },
            )),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(failed(key, "linking the destination was interrupted"));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(DstLinks {
        main,
        children: linked,
        seamless: acked,
    })
}

/// MIGRATE_DST_DO_SEAMLESS on the destination's main channel, then its
/// messages until the answer; whatever else came stays buffered for later.
async fn seamless_handshake(main: &mut PreLinked, version: u32) -> Result<bool, ClientError> {
    let key = ChannelKey::new(ChannelType::MAIN, 0);
    let io = |source| ClientError::Io { channel: key, source };
    let kind = main.linked.header;
    let (ty, body) = migration::dst_do_seamless(version);
    let bytes = frame::encode_message(kind, 1, ty, &body);
    main.stream.write_all(&bytes).await.map_err(io)?;
    main.stream.flush().await.map_err(io)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut kept: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        // Every complete message in the buffer.
        loop {
            let mut r = ReadCursor::new(&buf);
            if buf.len() < kind.header_len() {
                break;
            }
            let h = DataHeader::decode(kind, &mut r, HANDSHAKE_MAX_BYTES as u32)
                .map_err(|source| ClientError::Protocol { channel: key, source })?;
            let total = kind.header_len().saturating_add(h.size as usize);
            let Some(whole) = buf.get(..total) else { break };
            if let Some(ack) = migration::dst_seamless_reply(h.msg_type) {
                kept.extend_from_slice(buf.get(total..).unwrap_or_default());
                main.buffered = kept;
                return Ok(ack);
            }
            kept.extend_from_slice(whole);
            buf.drain(..total);
        }
        if buf.len() + kept.len() > HANDSHAKE_MAX_BYTES {
            return Err(failed(key, "the destination sent too much before its seamless answer"));
        }
        let n = main.stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(ClientError::UnexpectedEof {
                channel: key,
                mid_message: !buf.is_empty(),
            });
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}
