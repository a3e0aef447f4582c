//! [`Driver`]: one channel's machine plus what every channel shares — base
//! messages, sub-message lists, ACK counting, message serials and waits.
//!
//! The runtime frames messages and hands each one to [`Driver::receive`];
//! the driver splits sub-message lists, lets [`BaseState`] take the base
//! messages and the [`Machine`] the channel messages, and remembers which
//! message serial is fully processed (WAIT_FOR_CHANNELS of other channels
//! wait on it). When a message cannot finish yet ([`Step::Wait`]) the driver
//! keeps what is left of it (owned copies of the remaining sub-messages) so
//! that the runtime may go on reading the socket; [`Driver::resume`]
//! finishes it after the wait.

use std::collections::VecDeque;

use super::base::BaseState;
use super::{ChannelError, ChannelKey, Ctx, Handled, Machine, Outputs, Wait, WaitEnd};
use crate::connector::client::Linked;
use crate::proto::base::ServerBase;
use crate::proto::consts::msg;
use crate::proto::frame::{self, DataHeader, HeaderKind};

/// Sees every message as it is dispatched (after sub-list splitting, before
/// decoding): the session recorder.
pub trait Tap {
    fn message(&self, channel: ChannelKey, msg_type: u16, body: &[u8]);
}

/// Where a received message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Done,
    /// Wait, then call [`Driver::resume`].
    Wait(Wait),
}

/// Message counters of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages dispatched (sub-messages count one each).
    pub messages: u64,
    /// Messages the channel does not implement (counted and skipped).
    pub skipped: u64,
}

/// A message in a wait: what is left to dispatch, and its serial.
#[derive(Debug)]
struct Parked {
    /// The machine asked for the wait (resume it) rather than a base WAIT_FOR_CHANNELS.
    in_machine: bool,
    rest: VecDeque<(u16, Vec<u8>)>,
    serial: u64,
}

/// A channel's machine with the base protocol around it.
pub struct Driver {
    key: ChannelKey,
    kind: HeaderKind,
    base: BaseState,
    machine: Box<dyn Machine>,
    /// Messages received (the implicit serial of the mini header).
    received: u64,
    /// Serial of the last message fully processed.
    processed: u64,
    parked: Option<Parked>,
    counters: Counters,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("key", &self.key)
            .field("processed", &self.processed)
            .field("parked", &self.parked)
            .finish_non_exhaustive()
    }
}

impl Driver {
    pub fn new(key: ChannelKey, machine: Box<dyn Machine>) -> Self {
        Self {
            key,
            kind: HeaderKind::Mini,
            base: BaseState::default(),
            machine,
            received: 0,
            processed: 0,
            parked: None,
            counters: Counters::default(),
        }
    }

    pub fn key(&self) -> ChannelKey {
        self.key
    }

    pub fn machine(&self) -> &dyn Machine {
        self.machine.as_ref()
    }

    pub fn machine_mut(&mut self) -> &mut dyn Machine {
        self.machine.as_mut()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Serial of the last message fully processed (0: none yet).
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// A message is waiting ([`Step::Wait`] was returned and not resumed).
    pub fn is_waiting(&self) -> bool {
        self.parked.is_some()
    }

    /// The link succeeded.
    pub fn linked(&mut self, link: &Linked, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.kind = link.header;
        self.machine.linked(link, ctx, out)
    }

    /// One framed message; `body` is everything after the header.
    pub fn receive(
        &mut self,
        header: &DataHeader,
        body: &[u8],
        ctx: &Ctx,
        out: &mut Outputs,
        tap: Option<&dyn Tap>,
    ) -> Result<Step, ChannelError> {
        debug_assert!(self.parked.is_none(), "receive while a message waits");
        self.received = self.received.wrapping_add(1);
        // Explicit in the full header, implicit (a count) with the mini header.
        let serial = match self.kind {
            HeaderKind::Full => header.serial,
            HeaderKind::Mini => self.received,
        };
        // Sub-messages first, then the message itself (unless it is a LIST).
        let mut items: Vec<(u16, &[u8])> = Vec::new();
        if header.sub_list != 0 {
            items.extend(
                frame::sub_messages(body, header.sub_list)?
                    .into_iter()
                    .map(|s| (s.msg_type, s.body)),
            );
        }
        if header.msg_type != msg::LIST {
            if items.is_empty() {
                // The common case: one message, no list, nothing allocated.
                if let Some((wait, in_machine)) = self.dispatch(header.msg_type, body, ctx, out, tap)? {
                    self.park(in_machine, VecDeque::new(), serial);
                    return Ok(Step::Wait(wait));
                }
                self.finish(serial, out);
                return Ok(Step::Done);
            }
            items.push((header.msg_type, body));
        }
        for (i, &(ty, b)) in items.iter().enumerate() {
            if let Some((wait, in_machine)) = self.dispatch(ty, b, ctx, out, tap)? {
                let rest = items
                    .get(i.saturating_add(1)..)
                    .unwrap_or_default()
                    .iter()
                    .map(|&(t, b)| (t, b.to_vec()))
                    .collect();
                self.park(in_machine, rest, serial);
                return Ok(Step::Wait(wait));
            }
        }
        self.finish(serial, out);
        Ok(Step::Done)
    }

    fn park(&mut self, in_machine: bool, rest: VecDeque<(u16, Vec<u8>)>, serial: u64) {
        self.parked = Some(Parked {
            in_machine,
            rest,
            serial,
        });
    }

    /// The wait of the parked message ended: finish it (or wait again).
    pub fn resume(
        &mut self,
        end: WaitEnd,
        ctx: &Ctx,
        out: &mut Outputs,
        tap: Option<&dyn Tap>,
    ) -> Result<Step, ChannelError> {
        let Some(mut parked) = self.parked.take() else {
            return Err(ChannelError::NothingToResume);
        };
        if parked.in_machine
            && let Handled::Wait(w) = self.machine.resume(end, ctx, out)?
        {
            self.parked = Some(parked);
            return Ok(Step::Wait(w));
        }
        while let Some((ty, b)) = parked.rest.pop_front() {
            if let Some((wait, in_machine)) = self.dispatch(ty, &b, ctx, out, tap)? {
                parked.in_machine = in_machine;
                self.parked = Some(parked);
                return Ok(Step::Wait(wait));
            }
        }
        self.finish(parked.serial, out);
        Ok(Step::Done)
    }

    fn finish(&mut self, serial: u64, out: &mut Outputs) {
        match out.stream_switch() {
            // The message moved the channel to a migration destination: the
            // source's ACK window is gone with the source.
            Some(fresh) => {
                self.base.relinked();
                if fresh {
                    self.received = 0;
                    self.processed = 0;
                    return;
                }
            }
            None => self.base.count(out),
        }
        self.processed = serial;
    }

    /// The channel continues on another stream (migration): new header
    /// kind, a new ACK window; `fresh` (semi-seamless) also restarts the
    /// message serials and forgets a waiting message.
    pub fn relinked(&mut self, kind: HeaderKind, fresh: bool) {
        self.kind = kind;
        self.base.relinked();
        if fresh {
            self.received = 0;
            self.processed = 0;
            self.parked = None;
        }
    }

    /// One message (or sub-message) to the base state or the machine;
    /// `Some((wait, from the machine))` when it must wait.
    fn dispatch(
        &mut self,
        msg_type: u16,
        body: &[u8],
        ctx: &Ctx,
        out: &mut Outputs,
        tap: Option<&dyn Tap>,
    ) -> Result<Option<(Wait, bool)>, ChannelError> {
        self.counters.messages = self.counters.messages.saturating_add(1);
        if let Some(t) = tap {
            t.message(self.key, msg_type, body);
        }
        if msg_type != msg::MIGRATE_DATA {
            self.base.not_migrate_data(self.key, msg_type);
        }
        if msg_type == msg::PING {
            // Answered from its first 12 bytes: the payload (the server's
            // bandwidth test, or a hostile 100 MB) is never copied.
            self.base.ping(body, out)?;
            return Ok(None);
        }
        if let Some(m) = ServerBase::decode(msg_type, body)? {
            return Ok(self.base.handle(self.key, m, out).map(|w| (w, false)));
        }
        match self.machine.message(msg_type, body, ctx, out)? {
            Handled::Done => Ok(None),
            Handled::Skipped => {
                self.counters.skipped = self.counters.skipped.saturating_add(1);
                tracing::trace!(channel = %self.key, msg_type, "message not implemented, skipped");
                Ok(None)
            }
            Handled::Wait(w) => Ok(Some((w, true))),
        }
    }

    /// After a batch of messages.
    pub fn after_batch(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.machine.after_batch(ctx, out)
    }
}

#[cfg(test)]
#[path = "tests/driver.rs"]
mod tests;
