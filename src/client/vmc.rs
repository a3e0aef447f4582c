//! The embedder's byte-stream view of a SpiceVMC channel (usbredir, port,
//! webdav): [`VmcStream`], the default [`VmcEndpoint`] behind
//! [`crate::channel::vmc::VmcMachine`] until a channel gets a consumer of its
//! own (usbredir devices, the WebDAV server).
//!
//! Bytes from the server are queued (at most [`MAX_BACKLOG`] bytes; beyond
//! that the channel stops reading its socket until the embedder reads) and
//! announced with [`SessionEvent::VmcReadable`] when the queue was empty.
//! Writes are queued (also bounded) and sent by the channel's thread.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::events::SessionEvent;
use crate::channel::vmc::{Accept, PortEvent, VmcEndpoint, VmcOut};
use crate::channel::{Ctx, Outputs};
use crate::proto::ChannelKey;

/// Most bytes queued in each direction.
pub const MAX_BACKLOG: usize = 4 << 20;

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VmcWriteError {
    #[error("the channel is closed")]
    Closed,
    #[error("too much data is waiting to be sent")]
    Full,
}

#[derive(Debug, Default)]
struct StreamState {
    incoming: VecDeque<Vec<u8>>,
    incoming_bytes: usize,
    /// The channel offered more than fitted and waits for a read.
    reader_blocked: bool,
    outgoing: VecDeque<VmcOut>,
    outgoing_bytes: usize,
    name: Option<String>,
    opened: bool,
    up: bool,
}

/// State shared by a channel's endpoint and the embedder's handles.
#[derive(Debug)]
pub(crate) struct VmcShared {
    key: ChannelKey,
    state: Mutex<StreamState>,
    /// Wakes the channel's thread (data to send, or room to receive).
    notify: Arc<tokio::sync::Notify>,
}

impl VmcShared {
    pub(crate) fn new(key: ChannelKey) -> Arc<Self> {
        Arc::new(Self {
            key,
            state: Mutex::new(StreamState {
                up: true,
                ..StreamState::default()
            }),
            notify: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn notify(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.notify)
    }

    pub(crate) fn port_name(&self) -> Option<String> {
        self.lock().name.clone()
    }
}

/// The endpoint a channel's machine feeds.
pub(crate) struct StreamEndpoint {
    shared: Arc<VmcShared>,
}

impl StreamEndpoint {
    pub(crate) fn new(shared: Arc<VmcShared>) -> Self {
        Self { shared }
    }
}

impl VmcEndpoint for StreamEndpoint {
    fn received(&mut self, data: &[u8], out: &mut Outputs) -> Accept {
        let mut st = self.shared.lock();
        // One piece larger than the whole backlog still goes in when the queue is empty.
        if !st.incoming.is_empty() && st.incoming_bytes.saturating_add(data.len()) > MAX_BACKLOG {
            st.reader_blocked = true;
            return Accept::Full;
        }
        let was_empty = st.incoming.is_empty();
        st.incoming_bytes = st.incoming_bytes.saturating_add(data.len());
        st.incoming.push_back(data.to_vec());
        drop(st);
        if was_empty {
            out.event(SessionEvent::VmcReadable {
                channel: self.shared.key,
            });
        }
        Accept::Taken
    }

    fn port(&mut self, event: PortEvent, out: &mut Outputs) {
        let channel = self.shared.key;
        match event {
            PortEvent::Init { name, opened } => {
                let name = String::from_utf8_lossy(&name).into_owned();
                tracing::info!(%channel, port = %name, opened, "port channel");
                let mut st = self.shared.lock();
                st.name = Some(name.clone());
                st.opened = opened;
                drop(st);
                out.event(SessionEvent::Port { channel, name, opened });
            }
            PortEvent::Event(event) => {
                let mut st = self.shared.lock();
                match event {
                    crate::proto::channel::vmc::port_event::OPENED => st.opened = true,
                    crate::proto::channel::vmc::port_event::CLOSED => st.opened = false,
                    _ => {}
                }
                drop(st);
                out.event(SessionEvent::PortEvent { channel, event });
            }
        }
    }

    fn outgoing(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Vec<VmcOut> {
        let mut st = self.shared.lock();
        st.outgoing_bytes = 0;
        st.outgoing.drain(..).collect()
    }

    fn closed(&mut self) {
        let mut st = self.shared.lock();
        st.up = false;
        st.outgoing.clear();
        st.outgoing_bytes = 0;
    }
}

/// A byte stream to a VMC channel's server side (a QEMU chardev: QMP, a
/// serial console, the guest's usbredir or WebDAV peer). Cheap to clone.
#[derive(Debug, Clone)]
pub struct VmcStream {
    shared: Arc<VmcShared>,
}

impl VmcStream {
    pub(crate) fn new(shared: Arc<VmcShared>) -> Self {
        Self { shared }
    }

    pub fn channel(&self) -> ChannelKey {
        self.shared.key
    }

    /// The port's name (PORT_INIT), for port and webdav channels.
    pub fn port_name(&self) -> Option<String> {
        self.shared.port_name()
    }

    /// Whether the guest side of the port is open (PORT_INIT, PORT_EVENT).
    pub fn is_open(&self) -> bool {
        self.shared.lock().opened
    }

    /// Whether the channel is still linked.
    pub fn is_up(&self) -> bool {
        self.shared.lock().up
    }

    /// Takes every byte received so far, in order (empty when none).
    pub fn read(&self) -> Vec<u8> {
        let mut st = self.shared.lock();
        let mut all = Vec::with_capacity(st.incoming_bytes);
        for piece in st.incoming.drain(..) {
            all.extend_from_slice(&piece);
        }
        st.incoming_bytes = 0;
        let wake = std::mem::take(&mut st.reader_blocked);
        drop(st);
        if wake {
            self.shared.notify.notify_one();
        }
        all
    }

    /// Queues bytes for the server.
    pub fn write(&self, data: &[u8]) -> Result<(), VmcWriteError> {
        self.queue(VmcOut::Data(data.to_vec()), data.len())
    }

    /// Sends a PORT_EVENT (`crate::proto::channel::vmc::port_event`).
    pub fn send_port_event(&self, event: u8) -> Result<(), VmcWriteError> {
        self.queue(VmcOut::PortEvent(event), 1)
    }

    fn queue(&self, o: VmcOut, len: usize) -> Result<(), VmcWriteError> {
        let mut st = self.shared.lock();
        if !st.up {
            return Err(VmcWriteError::Closed);
        }
        if st.outgoing_bytes.saturating_add(len) > MAX_BACKLOG {
            return Err(VmcWriteError::Full);
        }
        st.outgoing_bytes = st.outgoing_bytes.saturating_add(len);
        st.outgoing.push_back(o);
        drop(st);
        self.shared.notify.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Output;
    use crate::proto::ChannelType;

    fn ctx() -> Ctx {
        Ctx::new(std::time::Instant::now(), 0)
    }

    #[test]
    fn bytes_flow_both_ways_and_the_backlog_is_bounded() {
        let key = ChannelKey::new(ChannelType::PORT, 0);
        let shared = VmcShared::new(key);
        let mut ep = StreamEndpoint::new(Arc::clone(&shared));
        let stream = VmcStream::new(Arc::clone(&shared));
        let mut out = Outputs::new();
        assert_eq!(ep.received(b"hello ", &mut out), Accept::Taken);
        assert_eq!(ep.received(b"world", &mut out), Accept::Taken);
        // One readable event for the first piece only.
        assert_eq!(out.len(), 1);
        assert!(matches!(
            out.items()[0],
            Output::Event(SessionEvent::VmcReadable { .. })
        ));
        assert_eq!(stream.read(), b"hello world");
        // Full: refused until the embedder reads.
        assert_eq!(ep.received(&vec![0; MAX_BACKLOG], &mut out), Accept::Taken);
        assert_eq!(ep.received(b"x", &mut out), Accept::Full);
        assert_eq!(stream.read().len(), MAX_BACKLOG);
        assert_eq!(ep.received(b"x", &mut out), Accept::Taken);
        // Writes reach the endpoint's outgoing list, bounded.
        stream.write(b"abc").unwrap();
        stream.send_port_event(0).unwrap();
        assert_eq!(
            ep.outgoing(&ctx(), &mut out),
            vec![VmcOut::Data(b"abc".to_vec()), VmcOut::PortEvent(0)]
        );
        assert_eq!(stream.write(&vec![0; MAX_BACKLOG + 1]), Err(VmcWriteError::Full));
        ep.closed();
        assert_eq!(stream.write(b"late"), Err(VmcWriteError::Closed));
    }

    #[test]
    fn port_init_names_the_stream() {
        let key = ChannelKey::new(ChannelType::PORT, 1);
        let shared = VmcShared::new(key);
        let mut ep = StreamEndpoint::new(Arc::clone(&shared));
        let stream = VmcStream::new(shared);
        let mut out = Outputs::new();
        ep.port(
            PortEvent::Init {
                name: b"org.qemu.monitor.qmp.0".to_vec(),
                opened: true,
            },
            &mut out,
        );
        assert_eq!(stream.port_name().as_deref(), Some("org.qemu.monitor.qmp.0"));
        assert!(stream.is_open());
        ep.port(
            PortEvent::Event(crate::proto::channel::vmc::port_event::CLOSED),
            &mut out,
        );
        assert!(!stream.is_open());
        assert_eq!(out.len(), 2);
    }
}
