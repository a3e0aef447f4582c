//! Folder sharing (feature `webdav`): the webdav channel's endpoint serves a
//! local folder to the guest's `spice-webdavd`, as spice-gtk's phodav does.
//!
//! - [`WebdavEndpoint`] (on the channel's thread): the mux
//!   ([`crate::channel::webdav::Mux`]) splits the byte stream into guest
//!   connections; each new connection gets a queue toward the server. It
//!   follows the session's live folder setting ([`FolderShare`]): on a
//!   change every open connection is dropped (a close frame each; what
//!   their tasks still produce is not sent) and new ones get the new
//!   folder; with no folder every connection gets `503 Service
//!   Unavailable` at once and is closed.
//! - `server` (its own thread): dav-server on hyper, one in-memory duplex per
//!   connection; replies come back as mux frames through the shared `Link`.
//! - `fs`: the folder, confined by us (no path leaves it: `..`, symlinks,
//!   encoded slashes), read-only when asked; `props`: dead properties in memory.
//!
//! Memory is bounded: at most [`crate::channel::webdav::DEFAULT_MAX_CLIENTS`]
//! connections, [`server::MAX_INBOUND`] bytes queued toward them (then the
//! channel stops reading its socket), [`server::MAX_OUTGOING`] bytes of
//! replies queued toward the guest (then connections wait), 64 KiB of HTTP
//! buffer and pipe per connection, request bodies streamed (XML bodies are
//! capped at 64 KiB by dav-server).

mod fs;
mod props;
pub(crate) mod server;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::channel::vmc::{Accept, PortEvent, VmcEndpoint, VmcOut};
use crate::channel::webdav::{Mux, MuxAction, encode_close};
use crate::channel::{Ctx, Outputs};
use crate::client::events::SessionEvent;
use crate::client::sharing::FolderShare;
use crate::proto::ChannelKey;
use crate::proto::channel::vmc::port_event;
use server::{DavServer, Link};

/// Largest DATA message the endpoint sends (several small frames share one).
const MAX_MESSAGE: usize = 64 << 10;
/// The answer to every connection while no folder is shared.
const NOT_SHARING: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// One guest connection as the channel's thread sees it.
#[derive(Debug)]
struct Client {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    serial: u64,
}

/// The webdav channel's endpoint when a folder is shared.
pub(crate) struct WebdavEndpoint {
    key: ChannelKey,
    mux: Mux,
    link: Arc<Link>,
    server: Option<DavServer>,
    /// The session's folder setting, and the generation served.
    share: FolderShare,
    generation: u64,
    clients: HashMap<i64, Client>,
    next_serial: u64,
    actions: Vec<MuxAction>,
}

impl std::fmt::Debug for WebdavEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebdavEndpoint")
            .field("key", &self.key)
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl WebdavEndpoint {
    /// Starts the WebDAV server for the folder `share` gives (now and
    /// after each change); `inbox` wakes the channel's thread.
    pub(crate) fn new(key: ChannelKey, share: &FolderShare, inbox: Arc<tokio::sync::Notify>) -> std::io::Result<Self> {
        share.watch(&inbox);
        let mut ep = Self {
            key,
            mux: Mux::default(),
            link: Link::new(inbox),
            server: Some(DavServer::start()?),
            share: share.clone(),
            generation: 0,
            clients: HashMap::new(),
            next_serial: 0,
            actions: Vec::new(),
        };
        ep.serve_current();
        Ok(ep)
    }

    /// Serves what the setting says now.
    fn serve_current(&mut self) {
        let (generation, folder) = self.share.current();
        self.generation = generation;
        let Some(server) = &mut self.server else { return };
        match (server.serve(folder.as_ref()), &folder) {
            (Ok(()), Some(f)) => {
                tracing::info!(channel = %self.key, folder = %f.path.display(), read_only = f.read_only, "sharing a folder");
            }
            (Ok(()), None) => tracing::info!(channel = %self.key, "no folder shared"),
            (Err(e), Some(f)) => {
                tracing::warn!(channel = %self.key, folder = %f.path.display(), error = %e, "cannot share the folder");
            }
            (Err(_), None) => {}
        }
    }

    /// The folder setting changed: every open connection is dropped (the
    /// guest gets a close frame for each), then the new folder is served.
    fn follow_share(&mut self) {
        if self.share.current().0 == self.generation {
            return;
        }
        let open: Vec<i64> = self.mux.open_clients().collect();
        for id in &open {
            self.mux.close_local(*id);
            self.link.push_now(encode_close(*id).to_vec());
        }
        self.clients.clear();
        self.link.drop_before(self.next_serial.wrapping_add(1));
        if !open.is_empty() {
            tracing::debug!(channel = %self.key, connections = open.len(), "WebDAV connections dropped: the shared folder changed");
        }
        self.serve_current();
    }

    /// Forgets the connections the server ended.
    fn forget_ended(&mut self) {
        for (id, serial) in self.link.take_ended() {
            if self.clients.get(&id).is_some_and(|c| c.serial == serial) {
                self.clients.remove(&id);
                self.mux.close_local(id);
            }
        }
    }

    /// Drops every connection (port opened again, closed, channel reset).
    fn reset(&mut self) {
        let dropped = self.mux.reset();
        if !dropped.is_empty() {
            tracing::debug!(channel = %self.key, connections = dropped.len(), "WebDAV connections dropped");
        }
        // Dropping the senders ends each connection's task.
        self.clients.clear();
    }

    fn open(&mut self, id: i64) {
        let Some(server) = &self.server else { return };
        if !server.serving() {
            // Nothing shared: an HTTP error at once, then the connection ends
            // (spice-webdavd does not close its side on a close frame alone).
            self.mux.close_local(id);
            let mut frame = Vec::with_capacity(NOT_SHARING.len() + 16);
            crate::channel::webdav::encode_data(id, NOT_SHARING, &mut frame);
            self.link.push_now(frame);
            self.link.push_now(encode_close(id).to_vec());
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        self.next_serial = self.next_serial.wrapping_add(1);
        let serial = self.next_serial;
        server.open(&self.link, id, serial, rx);
        self.clients.insert(id, Client { tx, serial });
    }
}

impl VmcEndpoint for WebdavEndpoint {
    fn received(&mut self, data: &[u8], _out: &mut Outputs) -> Accept {
        self.follow_share();
        self.forget_ended();
        if !self.link.inbound_room() {
            return Accept::Full;
        }
        let mut actions = std::mem::take(&mut self.actions);
        self.mux.feed(data, &mut actions);
        for a in actions.drain(..) {
            match a {
                MuxAction::Open(id) => self.open(id),
                MuxAction::Data(id, bytes) => {
                    if let Some(c) = self.clients.get(&id) {
                        let n = bytes.len();
                        self.link.inbound_queued(n);
                        if c.tx.send(bytes).is_err() {
                            // The connection ended meanwhile; the guest learns it from its close frame.
                            self.link.inbound_consumed(n);
                        }
                    }
                }
                MuxAction::Close(id) => {
                    self.clients.remove(&id);
                }
                MuxAction::Refuse(id) => {
                    tracing::debug!(channel = %self.key, client = id, "too many WebDAV connections; refused");
                    self.link.push_now(encode_close(id).to_vec());
                }
            }
        }
        self.actions = actions;
        Accept::Taken
    }

    fn port(&mut self, event: PortEvent, out: &mut Outputs) {
        match event {
            PortEvent::Init { name, opened } => {
                let name = String::from_utf8_lossy(&name).into_owned();
                tracing::info!(channel = %self.key, port = %name, opened, "webdav port");
                if opened {
                    self.reset();
                }
                out.event(SessionEvent::Port {
                    channel: self.key,
                    name,
                    opened,
                });
            }
            PortEvent::Event(event) => {
                if event == port_event::OPENED || event == port_event::CLOSED {
                    self.reset();
                }
                out.event(SessionEvent::PortEvent {
                    channel: self.key,
                    event,
                });
            }
        }
    }

    fn outgoing(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Vec<VmcOut> {
        self.follow_share();
        self.forget_ended();
        self.link
            .take_outgoing(MAX_MESSAGE)
            .into_iter()
            .map(VmcOut::Data)
            .collect()
    }

    fn closed(&mut self) {
        self.reset();
        self.link.close();
        // Joins the server thread (its connections are cancelled).
        self.server = None;
    }
}

impl Drop for WebdavEndpoint {
    fn drop(&mut self) {
        self.link.close();
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
