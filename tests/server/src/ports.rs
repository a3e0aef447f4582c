//! The test server's SpiceVMC channels with a port name (port 10, webdav 11):
//! PORT_INIT on link, the client's DATA / COMPRESSED_DATA / PORT_EVENT
//! recorded, and what a test queues (bytes, port events, raw messages) sent
//! within ~20 ms. Plays QEMU's chardev side; [`crate::webdav_guest`] builds
//! spice-webdavd's mux on top of it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use sumac::channel::vmc::decompress;
use sumac::proto::ChannelType;
use sumac::proto::base::Message;
use sumac::proto::channel::vmc::{VmcClient, VmcServer};

/// A named port the server offers on a VMC channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub channel: (ChannelType, u8),
    /// Sent in PORT_INIT (`org.qemu.monitor.qmp.0`, `org.spice-space.webdav.0`...).
    pub name: String,
    /// PORT_INIT's `opened`.
    pub opened: bool,
}

impl PortSpec {
    pub fn new(channel: (ChannelType, u8), name: impl Into<String>) -> Self {
        Self {
            channel,
            name: name.into(),
            opened: true,
        }
    }
}

/// Something queued for a port channel to send.
#[derive(Debug, Clone)]
pub(crate) enum PortOut {
    Message(VmcServer),
    Raw(u16, Vec<u8>),
}

#[derive(Debug, Default)]
struct PortIo {
    /// Bytes the client sent, not taken yet.
    received: Vec<u8>,
    /// PORT_EVENTs the client sent.
    events: Vec<u8>,
    outgoing: VecDeque<PortOut>,
    linked: bool,
}

/// Every port channel's traffic.
#[derive(Debug, Default)]
pub(crate) struct PortsState {
    io: Mutex<HashMap<(ChannelType, u8), PortIo>>,
    changed: Condvar,
}

impl PortsState {
    fn lock(&self) -> MutexGuard<'_, HashMap<(ChannelType, u8), PortIo>> {
        self.io.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn linked(&self, channel: (ChannelType, u8), up: bool) {
        self.lock().entry(channel).or_default().linked = up;
        self.changed.notify_all();
    }

    /// Records one client message.
    pub(crate) fn on_client_message(&self, channel: (ChannelType, u8), msg_type: u16, body: &[u8]) {
        let msg = match VmcClient::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("test server: undecodable VMC message {msg_type}: {e}");
                return;
            }
        };
        let mut io = self.lock();
        let port = io.entry(channel).or_default();
        match msg {
            VmcClient::Data(d) => port.received.extend_from_slice(&d),
            VmcClient::CompressedData(c) => match decompress(&c) {
                Ok(d) => port.received.extend_from_slice(&d),
                Err(e) => tracing::warn!("test server: bad compressed VMC data: {e}"),
            },
            VmcClient::PortEvent { event } => port.events.push(event),
            _ => {}
        }
        drop(io);
        self.changed.notify_all();
    }

    pub(crate) fn queue(&self, channel: (ChannelType, u8), o: PortOut) {
        self.lock().entry(channel).or_default().outgoing.push_back(o);
    }

    /// What to send next: at most about 256 KiB, so that the channel's loop reads the
    /// client between two bursts (a client that is writing does not read: with blocking writes
    /// on both sides, a large queue would deadlock).
    pub(crate) fn take_outgoing(&self, channel: (ChannelType, u8)) -> Vec<PortOut> {
        let mut io = self.lock();
        let Some(port) = io.get_mut(&channel) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while bytes < 256 << 10 {
            let Some(o) = port.outgoing.pop_front() else { break };
            bytes += o.len();
            out.push(o);
        }
        out
    }

    /// Takes the bytes received so far, waiting up to `timeout` for at least one.
    pub(crate) fn take_received(&self, channel: (ChannelType, u8), timeout: Duration) -> Vec<u8> {
        let end = Instant::now() + timeout;
        let mut io = self.lock();
        loop {
            let port = io.entry(channel).or_default();
            if !port.received.is_empty() {
                return std::mem::take(&mut port.received);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Vec::new();
            }
            io = self
                .changed
                .wait_timeout(io, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    pub(crate) fn events(&self, channel: (ChannelType, u8)) -> Vec<u8> {
        self.lock().get(&channel).map(|p| p.events.clone()).unwrap_or_default()
    }

    pub(crate) fn is_linked(&self, channel: (ChannelType, u8)) -> bool {
        self.lock().get(&channel).is_some_and(|p| p.linked)
    }
}

impl PortOut {
    fn len(&self) -> usize {
        match self {
            Self::Message(sumac::proto::channel::vmc::VmcServer::Data(d)) => d.len(),
            Self::Message(_) => 16,
            Self::Raw(_, b) => b.len(),
        }
    }

    pub(crate) fn encode(&self) -> (u16, Vec<u8>) {
        match self {
            Self::Message(m) => (m.msg_type(), m.to_body()),
            Self::Raw(t, b) => (*t, b.clone()),
        }
    }
}
