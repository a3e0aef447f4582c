//! Folder sharing (feature `webdav`): the webdav channel's endpoint serves a
//! local folder to the guest's `spice-webdavd`, as spice-gtk's phodav does.
//!
//! - [`WebdavEndpoint`] (on the channel's thread): the mux
//!   ([`crate::channel::webdav::Mux`]) splits the byte stream into guest
//!   connections; each new connection gets a queue toward the server.
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
use crate::client::sharing::SharedFolder;
use crate::proto::ChannelKey;
use crate::proto::channel::vmc::port_event;
use server::{DavServer, Link};

/// Largest DATA message the endpoint sends (several small frames share one).
const MAX_MESSAGE: usize = 64 << 10;

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
    /// Starts the WebDAV server for `folder`; `inbox` wakes the channel's thread.
    pub(crate) fn new(
        key: ChannelKey,
        folder: &SharedFolder,
        inbox: Arc<tokio::sync::Notify>,
    ) -> std::io::Result<Self> {
        let server = DavServer::start(folder)?;
        tracing::info!(channel = %key, folder = %folder.path.display(), read_only = folder.read_only, "sharing a folder");
        Ok(Self {
            key,
            mux: Mux::default(),
            link: Link::new(inbox),
            server: Some(server),
            clients: HashMap::new(),
            next_serial: 0,
            actions: Vec::new(),
        })
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
        let (tx, rx) = mpsc::unbounded_channel();
        self.next_serial = self.next_serial.wrapping_add(1);
        let serial = self.next_serial;
        server.open(&self.link, id, serial, rx);
        self.clients.insert(id, Client { tx, serial });
    }
}

impl VmcEndpoint for WebdavEndpoint {
    fn received(&mut self, data: &[u8], _out: &mut Outputs) -> Accept {
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
