//! The smartcard channel (8), sans-IO: the client side of spice-server's
//! VSCard relay to QEMU's `ccid-card-passthru`, as spice-gtk plays it.
//!
//! Readers and cards come from a [`CardBackend`] (libcacard in the runtime,
//! a fake in tests). The machine announces each reader with READER_ADD; the
//! server answers VSC_Error{SUCCESS} carrying the reader's id. Messages that
//! expect such an answer (READER_ADD, READER_REMOVE, ATR, CARD_REMOVE) go one
//! at a time: the next leaves when the previous one's answer came. A card
//! inserted in a reader that has no id yet waits for the id, then its ATR
//! goes. The server's APDUs are answered at once with the card's response
//! (or a VSC_Error with the reader status).
//!
//! Hostile input: an answer nobody waits for, an APDU for an unknown reader,
//! an id already in use are ignored; a VSCard message with a lying length is
//! dropped (and counted); at most [`MAX_READERS`] readers and
//! [`MAX_QUEUED`] queued messages.
#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{ChannelError, Ctx, Handled, Machine, Outputs};
use crate::client::events::SessionEvent;
use crate::connector::client::Linked;
use crate::proto::Message;
use crate::proto::channel::smartcard::{
    SmartcardClient, SmartcardServer, UNDEFINED_READER, VscMessage, vsc, vsc_error,
};

/// Most readers announced to the server.
pub const MAX_READERS: usize = 16;
/// Most messages waiting for their turn.
pub const MAX_QUEUED: usize = 256;

/// A reader as the backend names it.
pub type ReaderHandle = u64;

/// What the backend reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEvent {
    ReaderAdded { reader: ReaderHandle, name: String },
    ReaderRemoved { reader: ReaderHandle },
    CardInserted { reader: ReaderHandle },
    CardRemoved { reader: ReaderHandle },
}

/// A smartcard change, for the embedder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmartcardEvent {
    /// The server accepted a reader.
    ReaderAttached {
        name: String,
        reader_id: u32,
    },
    /// The server refused a reader (VSC_Error code).
    ReaderRefused {
        name: String,
        code: u32,
    },
    ReaderRemoved {
        name: String,
    },
    CardInserted {
        reader: String,
    },
    CardRemoved {
        reader: String,
    },
}

/// The card side (libcacard).
pub trait CardBackend: Send {
    /// Readers present when the channel links: handle, name, card inside
    /// (the events queued until then are dropped: this is the state).
    fn readers(&mut self) -> Vec<(ReaderHandle, String, bool)>;
    /// Reader and card changes since the last call.
    fn events(&mut self) -> Vec<CardEvent>;
    /// Powers the card on: its ATR, `None` without a card.
    fn power_on(&mut self, reader: ReaderHandle) -> Option<Vec<u8>>;
    /// An APDU for the card: its response, or the reader status.
    fn transfer(&mut self, reader: ReaderHandle, apdu: &[u8]) -> Result<Vec<u8>, u32>;
    /// The server knows `reader` as `id` from now on (`None`: no longer).
    fn attached(&mut self, _reader: ReaderHandle, _id: Option<u32>) {}
    /// The channel is gone.
    fn closed(&mut self) {}
}

/// One smartcard channel.
pub struct SmartcardMachine {
    backend: Box<dyn CardBackend>,
    names: BTreeMap<ReaderHandle, String>,
    /// Readers the server numbered.
    ids: BTreeMap<ReaderHandle, u32>,
    by_id: BTreeMap<u32, ReaderHandle>,
    /// READER_ADDs sent or queued, in order: each VSC_Error answer is for the first.
    adding: VecDeque<ReaderHandle>,
    /// A card went in before the reader had an id.
    insert_waiting: BTreeSet<ReaderHandle>,
    /// The reader went away before it had an id.
    remove_waiting: BTreeSet<ReaderHandle>,
    /// The type of the message waiting for its answer.
    in_flight: Option<u32>,
    queue: VecDeque<VscMessage>,
    dropped: u64,
}

impl std::fmt::Debug for SmartcardMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartcardMachine")
            .field("readers", &self.names.len())
            .field("attached", &self.ids.len())
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

fn send(out: &mut Outputs, m: VscMessage) {
    tracing::debug!(
        vsc_type = m.vsc_type,
        reader_id = m.reader_id,
        len = m.data.len(),
        "smartcard message sent"
    );
    out.send(&SmartcardClient::Data(m));
}

impl SmartcardMachine {
    pub fn new(backend: Box<dyn CardBackend>) -> Self {
        Self {
            backend,
            names: BTreeMap::new(),
            ids: BTreeMap::new(),
            by_id: BTreeMap::new(),
            adding: VecDeque::new(),
            insert_waiting: BTreeSet::new(),
            remove_waiting: BTreeSet::new(),
            in_flight: None,
            queue: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Messages dropped (lying lengths, full queue, unknown readers).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends `m` now if nothing waits for an answer, else queues it.
    fn serialized(&mut self, m: VscMessage, out: &mut Outputs) {
        if self.in_flight.is_none() {
            self.in_flight = Some(m.vsc_type);
            send(out, m);
        } else if self.queue.len() < MAX_QUEUED {
            self.queue.push_back(m);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    fn complete_in_flight(&mut self, out: &mut Outputs) {
        self.in_flight = None;
        if let Some(next) = self.queue.pop_front() {
            self.in_flight = Some(next.vsc_type);
            send(out, next);
        }
    }

    fn name(&self, reader: ReaderHandle) -> String {
        self.names.get(&reader).cloned().unwrap_or_default()
    }

    fn send_atr(&mut self, reader: ReaderHandle, id: u32, out: &mut Outputs) {
        if let Some(atr) = self.backend.power_on(reader) {
            self.serialized(VscMessage::new(vsc::ATR, id, atr), out);
            out.event(SessionEvent::Smartcard(SmartcardEvent::CardInserted {
                reader: self.name(reader),
            }));
        }
    }

    fn card_event(&mut self, e: CardEvent, out: &mut Outputs) {
        match e {
            CardEvent::ReaderAdded { reader, name } => {
                if self.names.contains_key(&reader) || self.names.len() >= MAX_READERS {
                    return;
                }
                self.names.insert(reader, name.clone());
                self.adding.push_back(reader);
                self.serialized(
                    VscMessage::new(vsc::READER_ADD, UNDEFINED_READER, name.into_bytes()),
                    out,
                );
            }
            CardEvent::ReaderRemoved { reader } => {
                let name = self.name(reader);
                match self.ids.remove(&reader) {
                    Some(id) => {
                        self.by_id.remove(&id);
                        self.names.remove(&reader);
                        self.backend.attached(reader, None);
                        self.serialized(VscMessage::new(vsc::READER_REMOVE, id, Vec::new()), out);
                        out.event(SessionEvent::Smartcard(SmartcardEvent::ReaderRemoved { name }));
                    }
                    None if self.adding.contains(&reader) => {
                        self.remove_waiting.insert(reader);
                    }
                    None => {
                        self.names.remove(&reader);
                    }
                }
            }
            CardEvent::CardInserted { reader } => match self.ids.get(&reader) {
                Some(&id) => self.send_atr(reader, id, out),
                None if self.adding.contains(&reader) => {
                    self.insert_waiting.insert(reader);
                }
                None => {}
            },
            CardEvent::CardRemoved { reader } => match self.ids.get(&reader) {
                Some(&id) => {
                    self.serialized(VscMessage::new(vsc::CARD_REMOVE, id, Vec::new()), out);
                    out.event(SessionEvent::Smartcard(SmartcardEvent::CardRemoved {
                        reader: self.name(reader),
                    }));
                }
                None => {
                    self.insert_waiting.remove(&reader);
                }
            },
        }
    }

    fn answer(&mut self, m: &VscMessage, out: &mut Outputs) {
        let Some(waiting) = self.in_flight else {
            // An answer nobody asked for.
            self.dropped = self.dropped.saturating_add(1);
            return;
        };
        if waiting == vsc::READER_ADD
            && let Some(reader) = self.adding.pop_front()
        {
            let code = m.error_code().unwrap_or(vsc_error::SUCCESS);
            let name = self.name(reader);
            let usable =
                code == vsc_error::SUCCESS && m.reader_id != UNDEFINED_READER && !self.by_id.contains_key(&m.reader_id);
            if usable {
                self.ids.insert(reader, m.reader_id);
                self.by_id.insert(m.reader_id, reader);
                self.backend.attached(reader, Some(m.reader_id));
                out.event(SessionEvent::Smartcard(SmartcardEvent::ReaderAttached {
                    name,
                    reader_id: m.reader_id,
                }));
                if self.remove_waiting.remove(&reader) {
                    self.insert_waiting.remove(&reader);
                    self.card_event(CardEvent::ReaderRemoved { reader }, out);
                } else if self.insert_waiting.remove(&reader) {
                    self.send_atr(reader, m.reader_id, out);
                }
            } else {
                tracing::warn!(reader = %name, code, id = m.reader_id, "the server refused a smartcard reader");
                self.names.remove(&reader);
                self.insert_waiting.remove(&reader);
                self.remove_waiting.remove(&reader);
                out.event(SessionEvent::Smartcard(SmartcardEvent::ReaderRefused { name, code }));
            }
        }
        self.complete_in_flight(out);
    }

    fn apdu(&mut self, m: &VscMessage, out: &mut Outputs) {
        let Some(&reader) = self.by_id.get(&m.reader_id) else {
            self.dropped = self.dropped.saturating_add(1);
            return;
        };
        match self.backend.transfer(reader, &m.data) {
            Ok(response) => send(out, VscMessage::new(vsc::APDU, m.reader_id, response)),
            Err(status) => send(
                out,
                VscMessage::new(vsc::ERROR, m.reader_id, status.to_le_bytes().to_vec()),
            ),
        }
    }

    fn poll_backend(&mut self, out: &mut Outputs) {
        for e in self.backend.events() {
            self.card_event(e, out);
        }
    }
}

impl Machine for SmartcardMachine {
    fn linked(&mut self, _link: &Linked, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        for (reader, name, card) in self.backend.readers() {
            self.card_event(CardEvent::ReaderAdded { reader, name }, out);
            if card {
                self.card_event(CardEvent::CardInserted { reader }, out);
            }
        }
        Ok(())
    }

    fn message(&mut self, msg_type: u16, body: &[u8], _ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        let m = match SmartcardServer::decode(msg_type, body) {
            Ok(SmartcardServer::Data(m)) => m,
            Ok(SmartcardServer::Base(_) | SmartcardServer::Unknown { .. }) => return Ok(Handled::Skipped),
            Err(e) => {
                // One bad VSCard message does not break the others.
                tracing::warn!(error = %e, "bad smartcard message dropped");
                self.dropped = self.dropped.saturating_add(1);
                return Ok(Handled::Skipped);
            }
        };
        tracing::debug!(
            vsc_type = m.vsc_type,
            reader_id = m.reader_id,
            len = m.data.len(),
            "smartcard message received"
        );
        match m.vsc_type {
            vsc::ERROR => self.answer(&m, out),
            vsc::APDU => self.apdu(&m, out),
            vsc::FLUSH => send(out, VscMessage::new(vsc::FLUSH_COMPLETE, m.reader_id, Vec::new())),
            // VSC_Init from the card device: nothing to answer (spice-gtk ignores it too).
            vsc::INIT => {}
            other => {
                tracing::debug!(vsc_type = other, "unexpected smartcard message");
                self.dropped = self.dropped.saturating_add(1);
            }
        }
        Ok(Handled::Done)
    }

    fn commands(&mut self, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.poll_backend(out);
        Ok(())
    }

    fn closed(&mut self) {
        self.backend.closed();
    }
}

#[cfg(test)]
#[path = "tests/smartcard.rs"]
mod tests;
