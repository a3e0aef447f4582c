//! The WebDAV server behind the mux: dav-server's handler on hyper's HTTP/1
//! server, one in-memory duplex per guest connection, all on a thread of its
//! own (`sumac-webdav`, a current-thread tokio runtime; file I/O goes to
//! tokio's blocking pool, at most [`IO_THREADS`] threads). The channel's
//! thread never waits for it.
//!
//! [`Link`] is what the channel's endpoint and the connections share:
//! - toward the server: the guest's bytes go to each connection's queue; the
//!   bytes queued and not yet written into a connection are counted, and
//!   past [`MAX_INBOUND`] the endpoint refuses more (the channel stops
//!   reading its socket) until the connections drained half of it;
//! - toward the guest: each connection reads its HTTP replies in pieces of
//!   at most one frame and queues them as mux frames; past [`MAX_OUTGOING`]
//!   queued bytes a connection waits until the channel sent them. A
//!   connection the server ended gets a close frame after its last data.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dav_server::memls::MemLs;
use dav_server::{DavHandler, DavMethodSet};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot};

use super::fs::ConfinedFs;
use crate::channel::webdav::{MAX_FRAME_DATA, encode_close, encode_data};
use crate::client::sharing::SharedFolder;

/// Guest bytes queued toward the connections before the channel stops reading.
pub(crate) const MAX_INBOUND: usize = 1 << 20;
/// Reply frames queued toward the guest before connections wait.
pub(crate) const MAX_OUTGOING: usize = 1 << 20;
/// Threads of the blocking pool doing file I/O.
pub(crate) const IO_THREADS: usize = 4;
/// Each direction of a connection's in-memory pipe.
const DUPLEX_BYTES: usize = 64 << 10;
/// hyper's read buffer (request line and headers must fit).
const MAX_HTTP_BUFFER: usize = 64 << 10;
/// A connection that sends no complete request head for this long is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct LinkState {
    outgoing: VecDeque<Vec<u8>>,
    outgoing_bytes: usize,
    inbound_bytes: usize,
    channel_waiting: bool,
    /// Connections the server side ended: (client id, connection serial).
    ended: Vec<(i64, u64)>,
    /// Connections with a lower serial were dropped (the shared folder
    /// changed): what they still produce is not sent.
    min_serial: u64,
    closed: bool,
}

/// What the channel's endpoint and the connections share.
#[derive(Debug)]
pub(crate) struct Link {
    state: Mutex<LinkState>,
    /// Wakes the channel's thread (frames to send, room for the guest's bytes).
    channel: Arc<Notify>,
    /// Wakes connections waiting for room toward the guest.
    room: Notify,
}

impl Link {
    pub(crate) fn new(channel: Arc<Notify>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(LinkState::default()),
            channel,
            room: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the guest's bytes may be taken now; if not, the channel is
    /// woken once the connections drained enough.
    pub(crate) fn inbound_room(&self) -> bool {
        let mut st = self.lock();
        if st.inbound_bytes > MAX_INBOUND {
            st.channel_waiting = true;
            false
        } else {
            true
        }
    }

    pub(crate) fn inbound_queued(&self, n: usize) {
        let mut st = self.lock();
        st.inbound_bytes = st.inbound_bytes.saturating_add(n);
    }

    /// A connection wrote (or dropped) `n` of the guest's bytes.
    pub(crate) fn inbound_consumed(&self, n: usize) {
        let mut st = self.lock();
        st.inbound_bytes = st.inbound_bytes.saturating_sub(n);
        if st.channel_waiting && st.inbound_bytes <= MAX_INBOUND / 2 {
            st.channel_waiting = false;
            drop(st);
            self.channel.notify_one();
        }
    }

    /// Queues a frame toward the guest now, whatever the bound (close frames).
    pub(crate) fn push_now(&self, frame: Vec<u8>) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.outgoing_bytes = st.outgoing_bytes.saturating_add(frame.len());
        st.outgoing.push_back(frame);
        drop(st);
        self.channel.notify_one();
    }

    /// Drops what connections with a serial below `serial` produce from now on.
    pub(crate) fn drop_before(&self, serial: u64) {
        let mut st = self.lock();
        st.min_serial = st.min_serial.max(serial);
        st.ended.retain(|&(_, s)| s >= serial);
        drop(st);
        // Connections waiting for room notice they are dropped.
        self.room.notify_waiters();
    }

    /// Queues `data` of connection `serial` of `client` as frames toward the guest, waiting for room.
    async fn push(&self, client: i64, serial: u64, data: &[u8]) {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut st = self.lock();
                if st.closed || serial < st.min_serial {
                    return;
                }
                if st.outgoing_bytes < MAX_OUTGOING {
                    let mut frame = Vec::with_capacity(data.len().saturating_add(16));
                    encode_data(client, data, &mut frame);
                    st.outgoing_bytes = st.outgoing_bytes.saturating_add(frame.len());
                    st.outgoing.push_back(frame);
                    drop(st);
                    self.channel.notify_one();
                    return;
                }
            }
            room.await;
        }
    }

    fn ended(&self, client: i64, serial: u64) {
        let mut st = self.lock();
        if serial < st.min_serial {
            // Dropped already: its close frame went with the others.
            return;
        }
        st.ended.push((client, serial));
        drop(st);
        self.push_now(encode_close(client).to_vec());
    }

    /// Connections the server ended since the last call.
    pub(crate) fn take_ended(&self) -> Vec<(i64, u64)> {
        std::mem::take(&mut self.lock().ended)
    }

    /// Frames to send, merged into messages of at most `max` bytes (a
    /// frame larger than `max` goes alone).
    pub(crate) fn take_outgoing(&self, max: usize) -> Vec<Vec<u8>> {
        let mut st = self.lock();
        let mut out: Vec<Vec<u8>> = Vec::new();
        while let Some(frame) = st.outgoing.pop_front() {
            match out.last_mut() {
                Some(last) if last.len().saturating_add(frame.len()) <= max => last.extend_from_slice(&frame),
                _ => out.push(frame),
            }
        }
        st.outgoing_bytes = 0;
        drop(st);
        if !out.is_empty() {
            self.room.notify_waiters();
        }
        out
    }

    /// The channel is gone: nothing is queued any more, waiting connections end.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.outgoing.clear();
        st.outgoing_bytes = 0;
        drop(st);
        self.room.notify_waiters();
    }

    #[cfg(test)]
    pub(crate) fn inbound_bytes(&self) -> usize {
        self.lock().inbound_bytes
    }
}

/// The WebDAV server thread and its handler (`None`: no folder is shared,
/// connections are refused).
pub(crate) struct DavServer {
    handler: Option<DavHandler>,
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for DavServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DavServer").finish_non_exhaustive()
    }
}

/// dav-server's handler for `folder`, confined.
pub(crate) fn handler(folder: &SharedFolder) -> std::io::Result<DavHandler> {
    let fs = ConfinedFs::new(&folder.path, folder.read_only)?;
    let methods = if folder.read_only {
        DavMethodSet::WEBDAV_RO
    } else {
        DavMethodSet::WEBDAV_RW
    };
    Ok(DavHandler::builder()
        .filesystem(Box::new(fs))
        .locksystem(MemLs::new())
        .methods(methods)
        // Listings follow links; ConfinedFs leaves out those that leave the folder.
        .hide_symlinks(false)
        .autoindex(true)
        .build_handler())
}

impl DavServer {
    /// Starts the server thread (serving nothing until [`DavServer::serve`]).
    pub(crate) fn start() -> std::io::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("sumac-webdav".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .max_blocking_threads(IO_THREADS)
                .thread_name("sumac-webdav-io")
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(rt.handle().clone()));
            rt.block_on(async {
                let _ = stop_rx.await;
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })?;
        let handle = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the WebDAV thread ended at start"))??;
        Ok(Self {
            handler: None,
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Serves `folder` to the connections opened from now on (`None`:
    /// nothing). A folder that cannot be opened is an error, and then
    /// nothing is served.
    pub(crate) fn serve(&mut self, folder: Option<&SharedFolder>) -> std::io::Result<()> {
        self.handler = None;
        if let Some(folder) = folder {
            self.handler = Some(handler(folder)?);
        }
        Ok(())
    }

    /// Whether a folder is served.
    pub(crate) fn serving(&self) -> bool {
        self.handler.is_some()
    }

    /// Serves a new guest connection: its bytes arrive on `rx`. False when
    /// no folder is served (the connection is refused).
    pub(crate) fn open(
        &self,
        link: &Arc<Link>,
        client: i64,
        serial: u64,
        rx: mpsc::UnboundedReceiver<Vec<u8>>,
    ) -> bool {
        let Some(handler) = self.handler.clone() else {
            return false;
        };
        let link = Arc::clone(link);
        self.handle.spawn(serve_connection(client, serial, rx, link, handler));
        true
    }
}

impl Drop for DavServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One guest connection: hyper serving `handler` on one end of a duplex, the
/// guest's bytes written into the other end, the replies read from it and
/// queued as frames. Ends when the server closed the connection (then a close
/// frame goes to the guest) or when the guest did (`rx` closed).
pub(crate) async fn serve_connection(
    client: i64,
    serial: u64,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    link: Arc<Link>,
    handler: DavHandler,
) {
    let (near, far) = tokio::io::duplex(DUPLEX_BYTES);
    let service = hyper::service::service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(req).await) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(MAX_HTTP_BUFFER)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = http.serve_connection(TokioIo::new(far), service);
    let (mut from_server, mut to_server) = tokio::io::split(near);
    let link_out = Arc::clone(&link);
    let replies = async move {
        let mut buf = vec![0u8; MAX_FRAME_DATA];
        loop {
            match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => link_out.push(client, serial, buf.get(..n).unwrap_or_default()).await,
            }
        }
    };
    let server_side = async move {
        let (r, ()) = tokio::join!(conn, replies);
        if let Err(e) = r {
            tracing::debug!(client, error = %e, "WebDAV connection ended");
        }
    };
    let server_ended = {
        let (rx, link) = (&mut rx, &link);
        let guest_side = async move {
            let mut broken = false;
            while let Some(bytes) = rx.recv().await {
                // Counted out of the queue before the write, which may be cancelled.
                link.inbound_consumed(bytes.len());
                if !broken && to_server.write_all(&bytes).await.is_err() {
                    // The server stopped reading: the rest is dropped.
                    broken = true;
                }
            }
            let _ = to_server.shutdown().await;
        };
        tokio::select! {
            // The guest closed the connection: nothing to tell it.
            () = guest_side => false,
            () = server_side => true,
        }
    };
    if server_ended {
        link.ended(client, serial);
    }
    // Bytes still queued for this connection go nowhere: uncount them.
    rx.close();
    while let Ok(b) = rx.try_recv() {
        link.inbound_consumed(b.len());
    }
}
