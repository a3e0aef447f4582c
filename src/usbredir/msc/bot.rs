//! USB mass-storage bulk-only transport (BOT 1.0): command block wrappers on
//! bulk OUT, the data phase, command status wrappers on bulk IN.
//!
//! Host/device disagreements follow the thirteen cases of BOT §6.7:
//! - the device sends less than the host asked for (cases 4, 5): the data it
//!   has ends short, then the bulk-in endpoint stalls; status as the command
//!   ended, residue the difference;
//! - the host sends more than the device wants (cases 9, 11): the rest is
//!   accepted and discarded, residue the difference;
//! - a transfer in the wrong direction or too small (cases 2, 3, 7, 8, 10,
//!   13): phase error (status 2), with a stall of the endpoint the host is
//!   using for the data (none for 2, 3; 13 accepts and discards). A response
//!   that is merely cut to the allocation length (INQUIRY, MODE SENSE…) is
//!   cut to the host's length as well instead of being a phase error;
//! - a CBW that is not valid (size, signature, command length) stalls both
//!   endpoints until a Bulk-Only Mass Storage Reset: CLEAR_FEATURE alone does
//!   not clear them (§6.6.1).

use super::scsi::{DataPhase, Scsi, Sense};
use super::store::{BLOCK_SIZE, BLOCK_SIZE_U64, BlockStore};

/// Bulk IN endpoint address.
pub const EP_IN: u8 = 0x81;
/// Bulk OUT endpoint address.
pub const EP_OUT: u8 = 0x02;

pub const CBW_LEN: usize = 31;
pub const CSW_LEN: usize = 13;
pub const CBW_SIGNATURE: u32 = 0x4342_5355;
pub const CSW_SIGNATURE: u32 = 0x5342_5355;

/// `bCSWStatus` values.
pub mod csw_status {
    pub const PASSED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const PHASE_ERROR: u8 = 2;
}

/// A parsed command block wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cbw {
    pub tag: u32,
    pub data_len: u32,
    pub data_in: bool,
    pub lun: u8,
    pub cb: [u8; 16],
}

impl Cbw {
    /// The CBW in `data`, if it is valid: 31 bytes, the signature and a
    /// command length of 1 to 16.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let b: &[u8; CBW_LEN] = data.try_into().ok()?;
        let le32 = |at: usize| {
            b.get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_le_bytes)
        };
        if le32(0)? != CBW_SIGNATURE || !(1..=16).contains(&(b[14] & 0x1f)) {
            return None;
        }
        let mut cb = [0u8; 16];
        cb.copy_from_slice(&b[15..31]);
        Some(Self {
            tag: le32(4)?,
            data_len: le32(8)?,
            data_in: b[12] & 0x80 != 0,
            lun: b[13] & 0x0f,
            cb,
        })
    }
}

/// A command status wrapper.
pub fn csw(tag: u32, residue: u64, status: u8) -> [u8; CSW_LEN] {
    let mut b = [0u8; CSW_LEN];
    b[..4].copy_from_slice(&CSW_SIGNATURE.to_le_bytes());
    b[4..8].copy_from_slice(&tag.to_le_bytes());
    b[8..12].copy_from_slice(&u32::try_from(residue).unwrap_or(u32::MAX).to_le_bytes());
    b[12] = status;
    b
}

/// The answer to a bulk IN request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InReply {
    Data(Vec<u8>),
    Stall,
    /// The request is too small for the CSW.
    Babble,
}

/// Whether a bulk OUT transfer was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutReply {
    Accepted,
    Stall,
}

#[derive(Debug)]
enum Source {
    Bytes(Vec<u8>),
    Blocks { lba: u64 },
}

#[derive(Debug)]
enum Sink {
    /// Bytes beyond `device_len` (or all, when the device wants none) are dropped.
    Ignore,
    Write {
        lba: u64,
        fua: bool,
        buf: Vec<u8>,
    },
}

#[derive(Debug)]
enum Phase {
    /// Waiting for a CBW.
    Idle,
    DataIn {
        tag: u32,
        host_len: u32,
        sent: u64,
        total: u64,
        source: Source,
        good: bool,
    },
    DataOut {
        tag: u32,
        host_len: u32,
        received: u64,
        device_len: u64,
        /// Bytes the device used (written, or parameters taken).
        processed: u64,
        sink: Sink,
        status: u8,
    },
    /// The CSW waits for a bulk IN request.
    Status([u8; CSW_LEN]),
}

/// The bulk-only transport state of the one logical unit.
#[derive(Debug)]
pub struct Bot {
    phase: Phase,
    halt_in: bool,
    halt_out: bool,
    needs_reset: bool,
}

impl Default for Bot {
    fn default() -> Self {
        Self::new()
    }
}

impl Bot {
    pub fn new() -> Self {
        Self {
            phase: Phase::Idle,
            halt_in: false,
            halt_out: false,
            needs_reset: false,
        }
    }

    /// Whether endpoint `ep` is halted.
    pub fn halted(&self, ep: u8) -> bool {
        match ep {
            EP_IN => self.halt_in || self.needs_reset,
            EP_OUT => self.halt_out || self.needs_reset,
            _ => false,
        }
    }

    /// SET_FEATURE / CLEAR_FEATURE(ENDPOINT_HALT). Returns false for an unknown
    /// endpoint. Until a reset recovery, the halts of an invalid CBW stay.
    pub fn set_halt(&mut self, ep: u8, halt: bool) -> bool {
        let halt = halt || self.needs_reset;
        match ep {
            EP_IN => self.halt_in = halt,
            EP_OUT => self.halt_out = halt,
            0x00 | 0x80 => {}
            _ => return false,
        }
        true
    }

    /// Bulk-Only Mass Storage Reset: ready for a CBW; halts stay as they are.
    pub fn mass_storage_reset(&mut self) {
        self.phase = Phase::Idle;
        self.needs_reset = false;
    }

    /// A USB reset or a new configuration: everything back to the start.
    pub fn usb_reset(&mut self) {
        *self = Self::new();
    }

    /// A bulk OUT transfer: a CBW or data-phase bytes.
    pub fn bulk_out<S: BlockStore + ?Sized>(&mut self, data: &[u8], scsi: &mut Scsi, store: &mut S) -> OutReply {
        if self.halted(EP_OUT) {
            return OutReply::Stall;
        }
        match self.phase {
            Phase::Idle => {
                match Cbw::parse(data) {
                    Some(cbw) => self.command(cbw, scsi, store),
                    None => {
                        self.needs_reset = true;
                        self.halt_in = true;
                        self.halt_out = true;
                    }
                }
                OutReply::Accepted
            }
            Phase::DataOut { .. } => {
                self.data_out(data, scsi, store);
                OutReply::Accepted
            }
            // The host sends while the device has data or status for it.
            Phase::DataIn { .. } | Phase::Status(_) => {
                self.halt_out = true;
                OutReply::Stall
            }
        }
    }

    /// A bulk IN request of up to `max` bytes; `None` while the device has
    /// nothing to send (the request waits, as a NAKed one would).
    pub fn bulk_in<S: BlockStore + ?Sized>(&mut self, max: u32, scsi: &mut Scsi, store: &mut S) -> Option<InReply> {
        if self.halted(EP_IN) {
            return Some(InReply::Stall);
        }
        match &mut self.phase {
            Phase::Idle | Phase::DataOut { .. } => None,
            Phase::Status(csw) => {
                if usize::try_from(max).is_ok_and(|m| m >= CSW_LEN) {
                    let reply = csw.to_vec();
                    self.phase = Phase::Idle;
                    Some(InReply::Data(reply))
                } else {
                    Some(InReply::Babble)
                }
            }
            Phase::DataIn {
                tag,
                host_len,
                sent,
                total,
                source,
                good,
            } => {
                let n = u64::from(max).min(*total - *sent);
                let chunk = match source {
                    Source::Bytes(v) => Ok(slice(v, *sent, n).to_vec()),
                    Source::Blocks { lba } => read_range(store, *lba, *sent, n),
                };
                let Ok(chunk) = chunk else {
                    scsi.set_sense(Sense::READ_ERROR);
                    let status = csw(*tag, u64::from(*host_len) - *sent, csw_status::FAILED);
                    self.phase = Phase::Status(status);
                    self.halt_in = true;
                    return Some(InReply::Stall);
                };
                *sent += n;
                if *sent == *total {
                    let residue = u64::from(*host_len) - *total;
                    let status = if *good { csw_status::PASSED } else { csw_status::FAILED };
                    // Less than the host expects: the short data ends the phase, then a stall.
                    self.halt_in = residue > 0;
                    self.phase = Phase::Status(csw(*tag, residue, status));
                }
                Some(InReply::Data(chunk))
            }
        }
    }

    fn command<S: BlockStore + ?Sized>(&mut self, cbw: Cbw, scsi: &mut Scsi, store: &mut S) {
        let outcome = scsi.execute(cbw.lun, &cbw.cb, store);
        let status = if outcome.good {
            csw_status::PASSED
        } else {
            csw_status::FAILED
        };
        let host = u64::from(cbw.data_len);
        let device = outcome.phase.len();
        let phase = if device == 0 { DataPhase::None } else { outcome.phase };
        let tag = cbw.tag;
        let phase_error = |residue| Phase::Status(csw(tag, residue, csw_status::PHASE_ERROR));
        self.phase = match (host, cbw.data_in, phase) {
            // Case 1.
            (0, _, DataPhase::None) => Phase::Status(csw(tag, 0, status)),
            // Cases 2, 3: the host expects no data.
            (0, _, _) => phase_error(0),
            // Case 4.
            (_, true, DataPhase::None) => {
                self.halt_in = true;
                Phase::Status(csw(tag, host, status))
            }
            // Cases 5, 6; a longer response is cut to the host's length.
            (_, true, DataPhase::In(mut v)) => {
                v.truncate(usize::try_from(host).unwrap_or(usize::MAX));
                let total = v.len() as u64;
                data_in(cbw, Source::Bytes(v), total, outcome.good)
            }
            (_, true, DataPhase::Read { lba, .. }) if device <= host => {
                data_in(cbw, Source::Blocks { lba }, device, outcome.good)
            }
            // Cases 7, 8: the device has more, or wants to receive.
            (_, true, _) => {
                self.halt_in = true;
                phase_error(host)
            }
            // Cases 9, 11, 12 (the rest is discarded).
            (_, false, DataPhase::None) => data_out_phase(cbw, 0, Sink::Ignore, status),
            (_, false, DataPhase::Discard { len }) if len <= host => data_out_phase(cbw, len, Sink::Ignore, status),
            (_, false, DataPhase::Write { lba, fua, .. }) if device <= host => {
                let sink = Sink::Write {
                    lba,
                    fua,
                    buf: Vec::new(),
                };
                data_out_phase(cbw, device, sink, status)
            }
            // Case 10: the device wants to send.
            (_, false, DataPhase::In(_) | DataPhase::Read { .. }) => {
                self.halt_out = true;
                phase_error(host)
            }
            // Case 13: the host sends less than the device wants: taken, dropped.
            (_, false, _) => data_out_phase(cbw, 0, Sink::Ignore, csw_status::PHASE_ERROR),
        };
    }

    fn data_out<S: BlockStore + ?Sized>(&mut self, data: &[u8], scsi: &mut Scsi, store: &mut S) {
        let Phase::DataOut {
            tag,
            host_len,
            received,
            device_len,
            processed,
            sink,
            status,
        } = &mut self.phase
        else {
            return;
        };
        let take = u64::try_from(data.len())
            .unwrap_or(u64::MAX)
            .min(u64::from(*host_len) - *received);
        // The part of this transfer the device wants.
        let wanted = device_len.saturating_sub(*received).min(take);
        let bytes = slice(data, 0, wanted);
        *received += take;
        match sink {
            Sink::Ignore => *processed += wanted,
            Sink::Write { lba, buf, .. } => {
                buf.extend_from_slice(bytes);
                let whole = buf.len() / BLOCK_SIZE * BLOCK_SIZE;
                if whole > 0 {
                    let at = *lba + *processed / BLOCK_SIZE_U64;
                    match store.write_blocks(at, buf.get(..whole).unwrap_or_default()) {
                        Ok(()) => {
                            *processed += whole as u64;
                            buf.drain(..whole);
                        }
                        Err(_) => {
                            // The rest of the data is taken and dropped.
                            scsi.set_sense(Sense::WRITE_ERROR);
                            *status = csw_status::FAILED;
                            *device_len = *processed;
                            *sink = Sink::Ignore;
                        }
                    }
                }
            }
        }
        if *received < u64::from(*host_len) {
            return;
        }
        if let Sink::Write { fua: true, .. } = sink
            && store.flush().is_err()
        {
            scsi.set_sense(Sense::WRITE_ERROR);
            *status = csw_status::FAILED;
        }
        let residue = u64::from(*host_len) - *processed;
        let residue = if *status == csw_status::PHASE_ERROR { 0 } else { residue };
        self.phase = Phase::Status(csw(*tag, residue, *status));
    }
}

fn data_in(cbw: Cbw, source: Source, total: u64, good: bool) -> Phase {
    Phase::DataIn {
        tag: cbw.tag,
        host_len: cbw.data_len,
        sent: 0,
        total,
        source,
        good,
    }
}

fn data_out_phase(cbw: Cbw, device_len: u64, sink: Sink, status: u8) -> Phase {
    Phase::DataOut {
        tag: cbw.tag,
        host_len: cbw.data_len,
        received: 0,
        device_len,
        processed: 0,
        sink,
        status,
    }
}

/// `n` bytes of `v` from `at` (clamped to `v`).
fn slice(v: &[u8], at: u64, n: u64) -> &[u8] {
    let at = usize::try_from(at).unwrap_or(usize::MAX).min(v.len());
    let end = at.saturating_add(usize::try_from(n).unwrap_or(usize::MAX)).min(v.len());
    v.get(at..end).unwrap_or_default()
}

/// `n` bytes at byte offset `offset` of the blocks from `lba`.
fn read_range<S: BlockStore + ?Sized>(
    store: &mut S,
    lba: u64,
    offset: u64,
    n: u64,
) -> Result<Vec<u8>, super::store::StoreError> {
    let first = offset / BLOCK_SIZE_U64;
    let skip = usize::try_from(offset % BLOCK_SIZE_U64).unwrap_or(0);
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let blocks = (skip + n).div_ceil(BLOCK_SIZE);
    let mut buf = vec![0u8; blocks * BLOCK_SIZE];
    store.read_blocks(lba + first, &mut buf)?;
    buf.drain(..skip);
    buf.truncate(n);
    Ok(buf)
}
