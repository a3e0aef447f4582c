//! File transfer to the guest (reference §4.5).
//!
//! Each file: FILE_XFER_START `{id, [vdagent-file-xfer] name, size}` → the
//! agent's STATUS CAN_SEND_DATA → FILE_XFER_DATA pieces of at most 64 KiB
//! (each cut into 2048-byte AGENT_DATA under the token flow) → the agent's
//! final STATUS. At most [`MAX_ACTIVE`] files are offered at once, the
//! others wait in order (at most [`MAX_TRANSFERS`] in all); pieces of the
//! files being sent take turns. Every agent status is a typed
//! [`TransferOutcome`]; a transfer is reported sent only when the agent said
//! SUCCESS after the last byte. A status for an id that is not running is
//! ignored and counted. The embedder cancels with STATUS CANCELLED to the agent.
//!
//! The bytes come from outside (the runtime reads the file on a thread of
//! its own and queues pieces as [`AgentCommand::FileData`](super::AgentCommand));
//! the machine grants the reader a window of [`READ_AHEAD`] bytes once the
//! agent accepted the file and one piece more for every piece it sends, so a
//! transfer holds at most that much memory whatever the file's size, and
//! nothing is read for a file the agent refuses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Effects;
use super::types::{AgentEvent, TransferId, TransferOutcome};
use crate::proto::vdagent::file_xfer::DATA_CHUNK;
use crate::proto::vdagent::{AgentMessage, FileXferData, FileXferStart, FileXferStatus, XferResult};

/// Files offered to the agent at once.
pub const MAX_ACTIVE: usize = 4;
/// Files queued and running together; more are refused.
pub const MAX_TRANSFERS: usize = 64;
/// Bytes of one FILE_XFER_DATA (spice-gtk's 32 × 2048).
pub const PIECE: usize = DATA_CHUNK;
/// Bytes a transfer's reader may have read ahead of what was sent.
pub const READ_AHEAD: u64 = 4 * PIECE as u64;
/// How long the agent may stay silent when it has to answer (after START,
/// and after the last piece).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);
/// Progress events come at most once per this many bytes (and at the end).
pub const PROGRESS_STEP: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a free slot; START not sent.
    Queued,
    /// START sent, waiting for CAN_SEND_DATA.
    Offered,
    /// Streaming the data.
    Sending,
    /// Every byte sent, waiting for the final status.
    Sent,
}

#[derive(Debug)]
struct Xfer {
    id: TransferId,
    name: String,
    size: u64,
    state: State,
    /// Bytes handed to the chunk queue.
    sent: u64,
    /// Pieces read and not sent yet.
    buffered: VecDeque<Vec<u8>>,
    buffered_bytes: u64,
    /// `sent` at the last progress event.
    reported: u64,
    /// When the agent's answer is late.
    due: Option<Instant>,
}

/// The transfers of one agent connection.
#[derive(Debug, Default)]
pub(super) struct Transfers {
    list: Vec<Xfer>,
    /// Where the next round of pieces starts.
    turn: usize,
}

fn outcome_of(result: XferResult) -> TransferOutcome {
    match result {
        XferResult::CanSendData | XferResult::Success => TransferOutcome::Success,
        XferResult::Cancelled => TransferOutcome::CancelledByGuest,
        XferResult::Error(d) => TransferOutcome::GuestError {
            gio_code: d.map(|d| d.code),
        },
        XferResult::NotEnoughSpace(free) => TransferOutcome::NotEnoughSpace { free },
        XferResult::SessionLocked => TransferOutcome::SessionLocked,
        XferResult::AgentNotConnected => TransferOutcome::GuestAgentNotConnected,
        XferResult::Disabled => TransferOutcome::Disabled,
        XferResult::Other(code) => TransferOutcome::UnknownStatus(code),
    }
}

impl Transfers {
    fn find(&self, id: TransferId) -> Option<usize> {
        self.list.iter().position(|x| x.id == id)
    }

    fn active(&self) -> usize {
        self.list.iter().filter(|x| x.state != State::Queued).count()
    }

    /// Transfers queued or running.
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Ends transfer `i`; `tell_agent`: send STATUS CANCELLED for it.
    fn finish(&mut self, i: usize, outcome: TransferOutcome, tell_agent: bool, fx: &mut Effects) {
        if i >= self.list.len() {
            return;
        }
        let x = self.list.remove(i);
        if tell_agent && x.state != State::Queued {
            fx.msgs.push(AgentMessage::FileXferStatus(FileXferStatus {
                id: x.id.0,
                result: XferResult::Cancelled,
            }));
        }
        tracing::info!(id = %x.id, name = %x.name, sent = x.sent, size = x.size, %outcome, "file transfer over");
        fx.finished.push(x.id);
        fx.events.push(AgentEvent::FileDone { id: x.id, outcome });
    }

    /// A new file from the embedder.
    pub(super) fn add(
        &mut self,
        id: TransferId,
        name: String,
        size: u64,
        disabled: bool,
        now: Instant,
        fx: &mut Effects,
    ) {
        let refuse = if disabled {
            Some(TransferOutcome::Disabled)
        } else if self.list.len() >= MAX_TRANSFERS || self.find(id).is_some() {
            Some(TransferOutcome::TooManyTransfers)
        } else {
            None
        };
        if let Some(outcome) = refuse {
            fx.finished.push(id);
            fx.events.push(AgentEvent::FileDone { id, outcome });
            return;
        }
        self.list.push(Xfer {
            id,
            name,
            size,
            state: State::Queued,
            sent: 0,
            buffered: VecDeque::new(),
            buffered_bytes: 0,
            reported: 0,
            due: None,
        });
        self.start_some(now, fx);
    }

    /// Offers queued files while fewer than [`MAX_ACTIVE`] are running.
    fn start_some(&mut self, now: Instant, fx: &mut Effects) {
        let free = MAX_ACTIVE.saturating_sub(self.active());
        for x in self.list.iter_mut().filter(|x| x.state == State::Queued).take(free) {
            x.state = State::Offered;
            x.due = Some(now + TRANSFER_TIMEOUT);
            fx.msgs.push(AgentMessage::FileXferStart(FileXferStart {
                id: x.id.0,
                name: x.name.clone(),
                size: x.size,
            }));
            fx.events.push(AgentEvent::FileStarted {
                id: x.id,
                name: x.name.clone(),
                size: x.size,
            });
        }
    }

    /// Bytes read by the transfer's reader.
    pub(super) fn data(&mut self, id: TransferId, mut data: Vec<u8>) {
        let Some(i) = self.find(id) else {
            // The transfer ended while its reader was busy.
            return;
        };
        let Some(x) = self.list.get_mut(i) else { return };
        let room = x.size.saturating_sub(x.sent).saturating_sub(x.buffered_bytes);
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if len > room {
            tracing::warn!(id = %id, len, room, "file data beyond the announced size dropped");
            data.truncate(usize::try_from(room).unwrap_or(usize::MAX));
        }
        if data.is_empty() {
            return;
        }
        x.buffered_bytes = x
            .buffered_bytes
            .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        x.buffered.push_back(data);
    }

    /// Reading the file failed.
    pub(super) fn read_error(&mut self, id: TransferId, error: String, now: Instant, fx: &mut Effects) {
        if let Some(i) = self.find(id) {
            self.finish(i, TransferOutcome::ReadError(error), true, fx);
            self.start_some(now, fx);
        }
    }

    /// The embedder cancels.
    pub(super) fn cancel(&mut self, id: TransferId, now: Instant, fx: &mut Effects) {
        if let Some(i) = self.find(id) {
            self.finish(i, TransferOutcome::Cancelled, true, fx);
            self.start_some(now, fx);
        }
    }

    /// The agent's FILE_XFER_STATUS.
    pub(super) fn status(&mut self, status: FileXferStatus, now: Instant, fx: &mut Effects) {
        let id = TransferId(status.id);
        let found = self
            .find(id)
            .filter(|&i| self.list.get(i).is_some_and(|x| x.state != State::Queued));
        let Some(i) = found else {
            tracing::debug!(id = status.id, result = ?status.result, "status for a transfer that is not running: ignored");
            fx.stats.unknown_transfer_status += 1;
            return;
        };
        let Some(x) = self.list.get_mut(i) else { return };
        match (status.result, x.state) {
            (XferResult::CanSendData, State::Offered) => {
                x.state = State::Sending;
                x.due = None;
                fx.grants.push((id, READ_AHEAD.min(x.size)));
            }
            (XferResult::CanSendData, _) => fx.stats.unknown_transfer_status += 1,
            (XferResult::Success, State::Sent) => self.finish(i, TransferOutcome::Success, false, fx),
            (XferResult::Success, _) => {
                let sent = x.sent;
                self.finish(i, TransferOutcome::PrematureSuccess { sent }, true, fx);
            }
            (result, _) => self.finish(i, outcome_of(result), false, fx),
        }
        self.start_some(now, fx);
    }

    /// Whether a piece is ready to go.
    pub(super) fn has_data(&self) -> bool {
        self.list
            .iter()
            .any(|x| x.state == State::Sending && (!x.buffered.is_empty() || x.size == 0))
    }

    /// Sends up to `max` pieces, taking turns between the files being sent.
    /// Returns how many went.
    pub(super) fn pump(&mut self, max: usize, now: Instant, fx: &mut Effects) -> usize {
        let mut done = 0;
        while done < max && self.has_data() {
            let n = self.list.len();
            if n == 0 {
                break;
            }
            for k in 0..n {
                if done >= max {
                    break;
                }
                let i = (self.turn + k) % n;
                let Some(x) = self.list.get_mut(i) else { continue };
                if x.state != State::Sending {
                    continue;
                }
                let piece = if x.size == 0 {
                    Vec::new()
                } else if let Some(p) = x.buffered.pop_front() {
                    p
                } else {
                    continue;
                };
                let len = u64::try_from(piece.len()).unwrap_or(u64::MAX);
                x.buffered_bytes = x.buffered_bytes.saturating_sub(len);
                x.sent = x.sent.saturating_add(len);
                fx.msgs.push(AgentMessage::FileXferData(FileXferData {
                    id: x.id.0,
                    data: piece,
                }));
                if len > 0 && x.sent < x.size {
                    fx.grants.push((x.id, len));
                }
                if x.sent >= x.size {
                    x.state = State::Sent;
                    x.due = Some(now + TRANSFER_TIMEOUT);
                }
                if x.sent >= x.reported.saturating_add(PROGRESS_STEP) || x.sent >= x.size {
                    x.reported = x.sent;
                    fx.events.push(AgentEvent::FileProgress {
                        id: x.id,
                        sent: x.sent,
                        total: x.size,
                    });
                }
                done += 1;
                self.turn = i + 1;
            }
        }
        done
    }

    pub(super) fn next_wake(&self) -> Option<Instant> {
        self.list.iter().filter_map(|x| x.due).min()
    }

    /// Transfers whose agent stayed silent too long fail.
    pub(super) fn expire(&mut self, now: Instant, fx: &mut Effects) {
        while let Some(i) = self.list.iter().position(|x| x.due.is_some_and(|d| d <= now)) {
            self.finish(i, TransferOutcome::TimedOut, true, fx);
        }
        self.start_some(now, fx);
    }

    /// Bytes read ahead and not sent, all transfers together.
    pub(super) fn buffered_bytes(&self) -> u64 {
        self.list.iter().map(|x| x.buffered_bytes).sum()
    }

    /// Everything ends with `outcome` (the agent went away).
    pub(super) fn reset(&mut self, outcome: &TransferOutcome, fx: &mut Effects) {
        while !self.list.is_empty() {
            self.finish(0, outcome.clone(), false, fx);
        }
        self.turn = 0;
    }
}
