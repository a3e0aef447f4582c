//! The test server's smartcard channel, playing spice-server's VSCard relay:
//! READER_ADD gets VSC_Error{SUCCESS} with a new reader id; ATR, CARD_REMOVE
//! and READER_REMOVE get VSC_Error{SUCCESS}; every client VSCard message is
//! recorded; a test queues APDUs (or raw bodies) to send.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use sumac::proto::base::Message;
use sumac::proto::channel::smartcard::{SmartcardClient, SmartcardServer, VscMessage, msg, vsc};

#[derive(Debug, Default)]
struct Inner {
    log: Vec<VscMessage>,
    next_id: u32,
    outgoing: VecDeque<(u16, Vec<u8>)>,
}

#[derive(Debug, Default)]
pub(crate) struct SmartcardState {
    inner: Mutex<Inner>,
    changed: Condvar,
}

impl SmartcardState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one client message; returns the answers.
    pub(crate) fn on_client_message(&self, msg_type: u16, body: &[u8]) -> Vec<SmartcardServer> {
        let Ok(SmartcardClient::Data(m)) = SmartcardClient::decode(msg_type, body) else {
            return Vec::new();
        };
        let mut inner = self.lock();
        let ok = |id: u32| SmartcardServer::Data(VscMessage::new(vsc::ERROR, id, 0u32.to_le_bytes().to_vec()));
        let replies = match m.vsc_type {
            vsc::READER_ADD => {
                let id = inner.next_id;
                inner.next_id += 1;
                vec![ok(id)]
            }
            vsc::ATR | vsc::CARD_REMOVE | vsc::READER_REMOVE => vec![ok(m.reader_id)],
            _ => Vec::new(),
        };
        inner.log.push(m);
        drop(inner);
        self.changed.notify_all();
        replies
    }

    pub(crate) fn queue(&self, msg_type: u16, body: Vec<u8>) {
        self.lock().outgoing.push_back((msg_type, body));
    }

    pub(crate) fn queue_vsc(&self, m: VscMessage) {
        let body = SmartcardServer::Data(m).to_body();
        self.queue(msg::DATA, body);
    }

    pub(crate) fn take_outgoing(&self) -> Vec<(u16, Vec<u8>)> {
        self.lock().outgoing.drain(..).collect()
    }

    pub(crate) fn log(&self) -> Vec<VscMessage> {
        self.lock().log.clone()
    }

    pub(crate) fn wait_for(&self, timeout: Duration, cond: impl Fn(&[VscMessage]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            if cond(&inner.log) {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inner = self
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}
