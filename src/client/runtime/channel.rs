//! One channel's loop on its thread's current-thread tokio runtime: connect
//! and link, then read the socket in large chunks, frame messages in place,
//! hand each to the channel's [`Driver`] and execute what it outputs. All
//! protocol logic is the machine's; this file only moves bytes, waits, and
//! executes [`Output`]s (migration steps in [`super::migrate`]). The
//! channel's control inbox ([`Control`]) brings migration links; the
//! connection can be replaced under a running machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::task::Context;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::control::Control;
use super::inbuf::{InBuf, InBufError};
use super::link;
use super::migrate::ChannelMigration;
use super::sendrecv::{ReadPoll, poll_read_into, write_reading};
use super::transport::BoxStream;
use crate::channel::driver::{Step, Tap};
use crate::channel::{ChannelError, Driver, Output, Outputs, Wait, WaitEnd};
use crate::client::error::{ChannelKey, ClientError};
use crate::client::events::SessionEvent;
use crate::client::factory::{Built, SpawnHint};
use crate::client::session::Session;
use crate::client::stats::ChannelStats;
use crate::proto::WriteCursor;
use crate::proto::frame::{DataHeader, HeaderKind};

/// Most messages handled between two looks at shutdown, timers and commands.
const MAX_BATCH: usize = 256;
/// Longest [`Machine::read_pause`](crate::channel::Machine::read_pause) honoured
/// (shutdown and migration wait as long).
const MAX_READ_PAUSE: Duration = Duration::from_millis(50);
/// Longest a WAIT_FOR_CHANNELS (or INVAL_ALL_PIXMAPS) holds a channel.
pub(crate) const WAIT_FOR_CHANNELS_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a GLZ image waits for an image another display channel decodes.
pub(crate) const GLZ_WAIT: Duration = Duration::from_secs(1);
/// While a message waits, the channel goes on reading its socket until this
/// many bytes are buffered (then the server's TCP window fills up).
const WAIT_READ_LIMIT: usize = 8 << 20;

/// A linked channel: the socket, its receive buffer and the send side.
pub(super) struct Conn {
    key: ChannelKey,
    pub(super) stream: BoxStream,
    pub(super) kind: HeaderKind,
    pub(super) inbuf: InBuf,
    max_message: u32,
    /// Messages to send, encoded, flushed once per batch.
    wbuf: WriteCursor,
    wcount: u64,
    pub(super) serial: u64,
    pub(super) stats: Arc<ChannelStats>,
}

impl Conn {
    /// A connection over `stream`, with the bytes already read from it first.
    pub(super) fn new(
        session: &Session,
        key: ChannelKey,
        stream: BoxStream,
        kind: HeaderKind,
        buffered: &[u8],
        stats: Arc<ChannelStats>,
    ) -> Self {
        let mut inbuf = InBuf::new(session.budget.empty());
        inbuf.vec_mut().extend_from_slice(buffered);
        Self {
            key,
            stream,
            kind,
            inbuf,
            max_message: session.options.max_message,
            wbuf: WriteCursor::new(),
            wcount: 0,
            serial: 0,
            stats,
        }
    }

    pub(super) fn into_stream(self) -> BoxStream {
        self.stream
    }

    pub(super) fn encode(&mut self, msg_type: u16, body: &[u8]) {
        self.serial = self.serial.wrapping_add(1);
        DataHeader {
            serial: self.serial,
            msg_type,
            size: u32::try_from(body.len()).unwrap_or(u32::MAX),
            sub_list: 0,
        }
        .encode(self.kind, &mut self.wbuf);
        self.wbuf.write_slice(body);
        self.wcount = self.wcount.saturating_add(1);
    }

    /// Sends what is queued, reading the socket into the buffer meanwhile
    /// (up to [`WAIT_READ_LIMIT`]): a server blocked writing to us before it
    /// reads again is drained, so both sides never wait on each other.
    pub(super) async fn flush(&mut self) -> Result<(), ClientError> {
        self.send_queued(true).await
    }

    /// Sends what is queued without reading (a migration source that is no
    /// longer read, a channel that is closing).
    pub(super) async fn flush_only(&mut self) -> Result<(), ClientError> {
        self.send_queued(false).await
    }

    async fn send_queued(&mut self, read_meanwhile: bool) -> Result<(), ClientError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let channel = self.key;
        if read_meanwhile {
            let (kind, max) = (self.kind, self.max_message);
            let mut read = |stream: &mut BoxStream, cx: &mut Context<'_>| -> ReadPoll {
                if self.inbuf.pending() >= WAIT_READ_LIMIT {
                    return ReadPoll::Stopped;
                }
                if let Err(e) = self.inbuf.prepare_read(kind, max) {
                    return ReadPoll::Failed(inbuf_error(channel, e));
                }
                poll_read_into(stream, cx, self.inbuf.vec_mut())
            };
            write_reading(&mut self.stream, self.wbuf.as_slice(), &mut read)
                .await
                .map_err(|source| ClientError::Io { channel, source })?
                .map_or(Ok(()), Err)?;
        } else {
            write_all(&mut self.stream, self.wbuf.as_slice())
                .await
                .map_err(|source| ClientError::Io { channel, source })?;
        }
        ChannelStats::add(&self.stats.bytes_written, self.wbuf.len() as u64);
        ChannelStats::add(&self.stats.messages_written, self.wcount);
        self.wbuf = WriteCursor::new();
        self.wcount = 0;
        Ok(())
    }

    /// Reads more bytes into the buffer; an error for EOF.
    async fn read_more(&mut self) -> Result<(), ClientError> {
        let channel = self.key;
        self.inbuf
            .prepare_read(self.kind, self.max_message)
            .map_err(|e| inbuf_error(channel, e))?;
        match self.stream.read_buf(self.inbuf.vec_mut()).await {
            // A clean EOF exactly between messages is still the server going away.
            Ok(0) => Err(ClientError::UnexpectedEof {
                channel,
                mid_message: self.inbuf.pending() > 0,
            }),
            Ok(_) => Ok(()),
            Err(source) => Err(ClientError::Io { channel, source }),
        }
    }
}

fn inbuf_error(channel: ChannelKey, e: InBufError) -> ClientError {
    match e {
        InBufError::Decode(source) => ClientError::Protocol { channel, source },
        InBufError::Budget(source) => ClientError::OverBudget { channel, source },
    }
}

async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// A running channel: the session it belongs to, its driver and connection.
pub(super) struct Runner<'a> {
    pub(super) session: &'a Arc<Session>,
    pub(super) key: ChannelKey,
    pub(super) driver: Driver,
    inbox: Option<Arc<tokio::sync::Notify>>,
    pub(super) conn: Conn,
    pub(super) out: Outputs,
    shutdown: watch::Receiver<bool>,
    /// Last serial published to the session's serial board.
    pub(super) published: u64,
    /// The server's first message must arrive before this (main channel).
    pub(super) first_message_by: Option<Instant>,
    /// Migration steps from the runtime.
    pub(super) control: Option<mpsc::UnboundedReceiver<Control>>,
    pub(super) mig: ChannelMigration,
    /// Changes when the multimedia clock is reset.
    clock_resets: watch::Receiver<u32>,
}

impl Runner<'_> {
    pub(super) fn protocol(&self, e: ChannelError) -> ClientError {
        let channel = self.key;
        match e {
            ChannelError::Decode(source) => ClientError::Protocol { channel, source },
            e => ClientError::Machine { channel, source: e },
        }
    }

    /// Executes the outputs queued so far.
    async fn execute(&mut self) -> Result<(), ClientError> {
        let outputs: Vec<Output> = self.out.drain().collect();
        for o in outputs {
            match o {
                Output::Send { msg_type, body } => self.conn.encode(msg_type, &body),
                Output::Event(e) => {
                    if matches!(e, SessionEvent::Init { .. }) {
                        self.session.set_state(crate::client::session::SessionState::Up);
                    }
                    self.session.emit(e);
                }
                Output::Spawn {
                    channel,
                    connection_id,
                    display_channels,
                } => super::spawn_child(self.session, channel, connection_id, SpawnHint { display_channels })?,
                Output::SetMmTime(t) => {
                    self.session.clock.set(t, Instant::now());
                }
                Output::PlaybackDelay(d) => self.session.clock.set_audio_delay(d),
                Output::Migration(m) => super::migrate::execute(self, m).await?,
            }
        }
        Ok(())
    }

    pub(super) fn publish(&mut self) {
        let p = self.driver.processed();
        if p != self.published {
            self.published = p;
            self.session.serials.processed(self.key, p);
        }
        let c = self.driver.counters();
        let s = &self.conn.stats;
        s.messages_read.store(c.messages, std::sync::atomic::Ordering::Relaxed);
        s.messages_skipped
            .store(c.skipped, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits for `wait` (bounded unless it is the inbox), still reading the
    /// socket into the buffer up to [`WAIT_READ_LIMIT`]; `None` on shutdown.
    /// `glz_since`: the GLZ arrival count read before the attempt that asked to wait.
    async fn wait(
        &mut self,
        wait: &Wait,
        glz_since: u64,
        glz_deadline: &mut Option<Instant>,
    ) -> Result<Option<WaitEnd>, ClientError> {
        let session = Arc::clone(self.session);
        let inbox = self.inbox.clone();
        let channel = self.key;
        let fut = async move {
            match wait {
                Wait::Serials(list) => {
                    match tokio::time::timeout(WAIT_FOR_CHANNELS_TIMEOUT, session.serials.wait(list)).await {
                        Ok(()) => WaitEnd::Ready,
                        Err(_) => {
                            tracing::warn!(%channel, "wait for other channels timed out; continuing");
                            WaitEnd::TimedOut
                        }
                    }
                }
                Wait::GlzImage { id } => {
                    let deadline = *glz_deadline.get_or_insert_with(|| Instant::now() + GLZ_WAIT);
                    let arrivals = &session.display.glz_arrivals;
                    match tokio::time::timeout_at(deadline.into(), arrivals.changed_since(glz_since)).await {
                        Ok(()) => WaitEnd::Ready,
                        Err(_) => {
                            tracing::debug!(%channel, id, "GLZ image never arrived");
                            WaitEnd::TimedOut
                        }
                    }
                }
                Wait::Inbox => {
                    // Without an inbox nobody could wake it: go on at once rather than hang.
                    if let Some(n) = &inbox {
                        n.notified().await;
                    }
                    WaitEnd::Ready
                }
            }
        };
        tokio::pin!(fut);
        loop {
            let can_read = self.conn.inbuf.pending() < WAIT_READ_LIMIT;
            tokio::select! {
                end = &mut fut => return Ok(Some(end)),
                r = self.conn.read_more(), if can_read => r?,
                _ = self.shutdown.wait_for(|v| *v) => return Ok(None),
            }
        }
    }

    /// Handles a waiting message to its end; `Ok(false)` on shutdown.
    async fn settle(&mut self, mut wait: Wait, mut glz_since: u64) -> Result<bool, ClientError> {
        let mut glz_deadline = None;
        loop {
            // Replies before waiting; nothing may wait on what we processed already.
            self.execute().await?;
            self.conn.flush().await?;
            self.publish();
            let Some(end) = self.wait(&wait, glz_since, &mut glz_deadline).await? else {
                return Ok(false);
            };
            let ctx = self.session.ctx();
            glz_since = self.session.display.glz_arrivals.count();
            let session: &Arc<Session> = self.session;
            let tap = session.options.recorder.as_deref().map(|r| r as &dyn Tap);
            let step = self
                .driver
                .resume(end, &ctx, &mut self.out, tap)
                .map_err(|e| self.protocol(e))?;
            match step {
                Step::Done => return Ok(true),
                Step::Wait(w) => wait = w,
            }
        }
    }

    /// Every message already received, up to [`MAX_BATCH`]: how many, and
    /// whether the channel must stop (shutdown, DISCONNECTING).
    async fn batch(&mut self) -> Result<(usize, bool), ClientError> {
        let mut handled = 0usize;
        let channel = self.key;
        loop {
            let Some(m) = self
                .conn
                .inbuf
                .next(self.conn.kind, self.conn.max_message)
                .map_err(|source| ClientError::Protocol { channel, source })?
            else {
                break;
            };
            ChannelStats::add(&self.conn.stats.bytes_read, m.wire_len(self.conn.kind) as u64);
            // The server spoke (a migration switch may ask for its next first message).
            self.first_message_by = None;
            let ctx = self.session.ctx();
            let glz_since = self.session.display.glz_arrivals.count();
            let session: &Arc<Session> = self.session;
            let tap = session.options.recorder.as_deref().map(|r| r as &dyn Tap);
            let step = self
                .driver
                .receive(&m.header, self.conn.inbuf.body(&m), &ctx, &mut self.out, tap)
                .map_err(|e| self.protocol(e))?;
            self.execute().await?;
            if let Step::Wait(w) = step {
                if !self.settle(w, glz_since).await? {
                    return Ok((handled, true));
                }
                self.execute().await?;
            }
            handled += 1;
            if self.out.stopped() {
                return Ok((handled, true));
            }
            if handled >= MAX_BATCH || self.mig.frozen {
                break;
            }
        }
        Ok((handled, false))
    }

    async fn run(&mut self) -> Result<(), ClientError> {
        loop {
            if self.mig.frozen {
                // Semi-seamless migration: the source is not read any more;
                // only the swap (or a stop) comes.
                let c = tokio::select! {
                    c = recv_control(&mut self.control) => c,
                    _ = self.shutdown.wait_for(|v| *v) => return Ok(()),
                };
                super::migrate::on_control(self, c).await?;
                continue;
            }
            let (handled, stop) = self.batch().await?;
            if handled > 0 {
                let ctx = self.session.ctx();
                self.driver
                    .after_batch(&ctx, &mut self.out)
                    .map_err(|e| self.protocol(e))?;
                self.publish();
            }
            self.execute().await?;
            self.conn.flush().await?;
            if stop || self.out.stopped() {
                return Ok(());
            }
            if handled >= MAX_BATCH {
                // More may be buffered: handle it before reading, but let
                // shutdown, timers, commands and controls in first.
                if *self.shutdown.borrow() {
                    return Ok(());
                }
                if let Some(c) = self.control.as_mut().and_then(|rx| rx.try_recv().ok()) {
                    super::migrate::on_control(self, c).await?;
                }
                tokio::task::yield_now().await;
                continue;
            }
            if self.mig.frozen {
                continue;
            }
            if handled > 0
                && let Some(pause) = self.driver.machine().read_pause()
            {
                // Messages gather in the socket meanwhile. A plain sleep, not a tokio
                // one: this thread runs only this channel, and the socket becoming
                // readable must not wake it early (each arrival would).
                std::thread::sleep(pause.min(MAX_READ_PAUSE));
            }
            let wake = self.driver.machine().next_wake();
            let inbox = self.inbox.clone();
            let silent_until = self.first_message_by;
            let clock = &mut self.clock_resets;
            let woke = tokio::select! {
                r = self.conn.read_more() => {
                    r?;
                    Woke::Socket
                }
                _ = self.shutdown.wait_for(|v| *v) => return Ok(()),
                c = recv_control(&mut self.control) => Woke::Control(c),
                _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now).into()), if wake.is_some() => Woke::Timer,
                // A clock reset: what waits for a time on the old clock is rescheduled now.
                r = clock.changed(), if wake.is_some() => {
                    if r.is_err() {
                        return Ok(());
                    }
                    clock.borrow_and_update();
                    Woke::Timer
                }
                () = async {
                    match &inbox {
                        Some(n) => n.notified().await,
                        None => std::future::pending().await,
                    }
                } => Woke::Inbox,
                _ = tokio::time::sleep_until(silent_until.unwrap_or_else(Instant::now).into()), if silent_until.is_some() => {
                    return Err(ClientError::NoResponse {
                        channel: self.key,
                        secs: self.session.options.first_message_timeout.as_secs(),
                    });
                }
            };
            let ctx = self.session.ctx();
            let r = match woke {
                Woke::Socket => Ok(()),
                Woke::Timer => self.driver.machine_mut().wake(&ctx, &mut self.out),
                Woke::Inbox => self.driver.machine_mut().commands(&ctx, &mut self.out),
                Woke::Control(c) => {
                    super::migrate::on_control(self, c).await?;
                    Ok(())
                }
            };
            r.map_err(|e| self.protocol(e))?;
        }
    }

    /// The machine's commands, once after a link (its inbox may hold some).
    pub(super) fn first_commands(&mut self) -> Result<(), ClientError> {
        if self.inbox.is_some() {
            let ctx = self.session.ctx();
            self.driver
                .machine_mut()
                .commands(&ctx, &mut self.out)
                .map_err(|e| self.protocol(e))?;
        }
        Ok(())
    }
}

/// The next control message; never, without a control inbox (or once its senders are gone).
async fn recv_control(rx: &mut Option<mpsc::UnboundedReceiver<Control>>) -> Control {
    match rx {
        Some(rx) => match rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// What ended a wait for input.
enum Woke {
    Socket,
    Timer,
    Inbox,
    Control(Control),
}

/// What a channel runs with besides its machine.
pub(crate) struct ChannelIo {
    /// Ends the channel when true (the session's shutdown, or the child set's).
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) control: Option<mpsc::UnboundedReceiver<Control>>,
    /// (main) Where the channel's own migration tasks report.
    pub(crate) control_tx: Option<mpsc::UnboundedSender<Control>>,
}

/// Runs a whole channel: connect, link, loop until shutdown, EOF or error.
pub(crate) async fn run_channel(
    session: &Arc<Session>,
    key: ChannelKey,
    connection_id: u32,
    built: Built,
    stats: Arc<ChannelStats>,
    io: ChannelIo,
) -> Result<(), ClientError> {
    let ChannelIo {
        stop: mut shutdown,
        control,
        control_tx,
    } = io;
    let Built { machine, inbox } = built;
    let mut driver = Driver::new(key, machine);
    let linking = link::connect_and_link(session, key, connection_id, driver.machine().caps());
    let linked = tokio::select! {
        r = linking => r,
        _ = shutdown.wait_for(|v| *v) => {
            driver.machine_mut().closed();
            return Ok(());
        }
    };
    let linked = match linked {
        Ok(l) => l,
        Err(e) => {
            driver.machine_mut().closed();
            return Err(e);
        }
    };
    stats.tls.store(linked.tls, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(channel = %key, tls = linked.tls, header = ?linked.linked.header, "channel linked");
    session.emit(SessionEvent::ChannelUp {
        channel: key,
        tls: linked.tls,
    });
    if let Some(r) = &session.options.recorder {
        r.channel(key);
    }
    let mut out = Outputs::new();
    let ctx = session.ctx();
    let first = driver.linked(&linked.linked, &ctx, &mut out);
    let mut runner = Runner {
        session,
        key,
        driver,
        inbox,
        conn: Conn::new(session, key, linked.stream, linked.linked.header, &[], stats),
        out,
        shutdown,
        published: 0,
        first_message_by: (key.channel_type == crate::proto::ChannelType::MAIN)
            .then(|| Instant::now() + session.options.first_message_timeout),
        control,
        mig: ChannelMigration::new(control_tx),
        clock_resets: session.clock.subscribe_resets(),
    };
    let result = match first {
        Ok(()) => match runner.first_commands() {
            Ok(()) => runner.run().await,
            Err(e) => Err(e),
        },
        Err(e) => Err(runner.protocol(e)),
    };
    let _ = runner.conn.flush_only().await;
    if result.is_ok() {
        super::transport::close_gracefully(&mut runner.conn.stream).await;
    } else {
        let _ = runner.conn.stream.shutdown().await;
    }
    runner.mig.abort_task();
    runner.driver.machine_mut().closed();
    if key.channel_type == crate::proto::ChannelType::PLAYBACK {
        // No playback any more: video is no longer audio-synced.
        session.clock.set_audio_delay(None);
    }
    // Nothing may wait on a channel that is gone.
    session.serials.processed(key, u64::MAX);
    result
}
