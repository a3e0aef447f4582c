//! What the runtime tells a running channel besides its socket: the control
//! inbox of every channel (migration steps), and the set of child channels
//! of the main channel's current link (stopped and joined together, e.g.
//! before an automatic reconnect).

use std::collections::BTreeMap;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use super::transport::BoxStream;
use crate::client::error::{ChannelKey, ClientError};
use crate::connector::client::Linked;

/// A channel linked to a migration destination, not read yet.
pub(crate) struct PreLinked {
    pub(crate) stream: BoxStream,
    pub(crate) linked: Linked,
    pub(crate) tls: bool,
    /// Bytes already read from it (after the seamless handshake): the
    /// channel handles them first.
    pub(crate) buffered: Vec<u8>,
}

impl std::fmt::Debug for PreLinked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreLinked")
            .field("tls", &self.tls)
            .field("buffered", &self.buffered.len())
            .finish_non_exhaustive()
    }
}

/// Every channel of the session linked to a migration destination.
#[derive(Debug)]
pub(crate) struct DstLinks {
    pub(crate) main: PreLinked,
    pub(crate) children: Vec<(ChannelKey, PreLinked)>,
    /// The destination acknowledged MIGRATE_DST_DO_SEAMLESS.
    pub(crate) seamless: bool,
}

/// A message to a channel's thread.
#[derive(Debug)]
pub(crate) enum Control {
    /// (main) The destination is linked, or could not be.
    DstReady(Result<DstLinks, ClientError>),
    /// (child, seamless) The link to use when the source says MIGRATE.
    Prepared(PreLinked),
    /// (child, semi-seamless) Stop reading the source; answer once stopped.
    Freeze(oneshot::Sender<()>),
    /// (child, semi-seamless) Continue on this destination link, fresh.
    Swap(PreLinked),
    /// (child) The migration was cancelled: forget the destination link.
    Abort,
}

/// How the runtime reaches one child channel.
#[derive(Debug, Clone)]
pub(crate) struct ChildControl {
    pub(crate) tx: mpsc::UnboundedSender<Control>,
    /// The capabilities its machine offers (for linking it elsewhere).
    pub(crate) caps: Vec<u32>,
}

/// The child channels of the main channel's current link.
#[derive(Debug)]
pub(crate) struct Children {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    controls: BTreeMap<ChannelKey, ChildControl>,
}

impl Default for Children {
    fn default() -> Self {
        Self {
            stop: watch::channel(false).0,
            handles: Vec::new(),
            controls: BTreeMap::new(),
        }
    }
}

impl Children {
    /// What a new child selects on to know it must stop.
    pub(crate) fn stop_rx(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn add(&mut self, key: ChannelKey, handle: JoinHandle<()>, control: ChildControl) {
        self.handles.push(handle);
        self.controls.insert(key, control);
    }

    /// Asks every child to stop (they end within milliseconds).
    pub(crate) fn stop(&self) {
        // `send_replace`: stored even while no receiver exists yet.
        self.stop.send_replace(true);
    }

    /// Stops them and hands back their threads to join; a new, empty set
    /// takes their place.
    pub(crate) fn take(&mut self) -> Vec<JoinHandle<()>> {
        self.stop();
        std::mem::take(self).handles
    }

    pub(crate) fn controls(&self) -> Vec<(ChannelKey, ChildControl)> {
        self.controls.iter().map(|(k, c)| (*k, c.clone())).collect()
    }

    pub(crate) fn control(&self, key: ChannelKey) -> Option<ChildControl> {
        self.controls.get(&key).cloned()
    }

    /// Threads still running.
    pub(crate) fn running(&self) -> usize {
        self.handles.iter().filter(|h| !h.is_finished()).count()
    }
}
