//! The embedder's way to the guest agent: [`AgentHandle`].
//!
//! The agent (spice-vdagent in the guest) speaks over the main channel. The
//! handle exists from connect time ([`SessionHandle::agent`](super::SessionHandle::agent));
//! its methods never block: they queue a whole agent message and wake the
//! main channel's thread, whose agent machine ([`crate::channel::agent`])
//! cuts it into AGENT_DATA messages and sends them as the server's tokens
//! allow. While no agent is connected, messages are refused.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most bytes of agent messages queued and not sent yet (embedder inbox and
/// token-starved chunks together); beyond that, new messages are refused.
pub const MAX_QUEUED_AGENT_BYTES: usize = 128 << 20;

/// Why an agent message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentSendError {
    #[error("no guest agent is connected")]
    NotConnected,
    #[error("too much agent data is waiting to be sent")]
    QueueFull,
}

/// The inbox shared by the handle(s) and the main channel's agent machine.
#[derive(Debug, Default)]
pub(crate) struct AgentShared {
    queue: Mutex<VecDeque<Vec<u8>>>,
    queued_bytes: AtomicU64,
    notify: Arc<tokio::sync::Notify>,
    /// An agent is connected (AGENT_CONNECTED / MAIN_INIT) and takes messages.
    up: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AgentShared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn notify(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.notify)
    }

    /// Queues one encoded agent message (VDAgentMessage header + body).
    pub(crate) fn push(&self, message: Vec<u8>) -> Result<(), AgentSendError> {
        if !self.up.load(Ordering::Acquire) {
            return Err(AgentSendError::NotConnected);
        }
        let len = message.len() as u64;
        let queued = self.queued_bytes.load(Ordering::Relaxed);
        if queued.saturating_add(len) > MAX_QUEUED_AGENT_BYTES as u64 {
            return Err(AgentSendError::QueueFull);
        }
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        lock(&self.queue).push_back(message);
        self.notify.notify_one();
        Ok(())
    }

    /// Takes the queued messages (the machine accounts for their bytes from now on).
    pub(crate) fn take(&self) -> VecDeque<Vec<u8>> {
        std::mem::take(&mut *lock(&self.queue))
    }

    /// `n` bytes taken by [`take`](Self::take) went out (or were dropped).
    pub(crate) fn sent(&self, n: usize) {
        let n = n as u64;
        let _ = self
            .queued_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| Some(q.saturating_sub(n)));
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        if !up {
            let stale = std::mem::take(&mut *lock(&self.queue));
            self.sent(stale.iter().map(Vec::len).sum());
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn queued_bytes(&self) -> u64 {
        self.queued_bytes.load(Ordering::Relaxed)
    }
}

/// Sends messages to the guest agent. Cheap to clone; every method returns at once.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    shared: Arc<AgentShared>,
}

impl AgentHandle {
    pub(crate) fn new(shared: Arc<AgentShared>) -> Self {
        Self { shared }
    }

    /// Whether a guest agent is connected.
    pub fn is_connected(&self) -> bool {
        self.shared.is_up()
    }

    /// Queues one encoded agent message (`VDAgentMessage` header and body).
    pub fn send_raw(&self, message: Vec<u8>) -> Result<(), AgentSendError> {
        self.shared.push(message)
    }

    /// Bytes queued and not sent yet.
    pub fn queued_bytes(&self) -> u64 {
        self.shared.queued_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_refused_without_an_agent_and_bounded() {
        let s = AgentShared::new();
        let h = AgentHandle::new(Arc::clone(&s));
        assert_eq!(h.send_raw(vec![1; 10]), Err(AgentSendError::NotConnected));
        s.set_up(true);
        h.send_raw(vec![1; 10]).unwrap();
        assert_eq!(h.queued_bytes(), 10);
        assert_eq!(
            h.send_raw(vec![0; MAX_QUEUED_AGENT_BYTES]),
            Err(AgentSendError::QueueFull)
        );
        let taken = s.take();
        assert_eq!(taken.len(), 1);
        s.sent(10);
        assert_eq!(h.queued_bytes(), 0);
        // Going down drops what is queued.
        h.send_raw(vec![1; 7]).unwrap();
        s.set_up(false);
        assert_eq!(h.queued_bytes(), 0);
        assert!(s.take().is_empty());
    }
}
