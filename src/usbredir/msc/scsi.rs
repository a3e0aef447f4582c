//! The SCSI commands of a direct-access block device (SPC-2 / SBC), enough
//! for Linux's usb-storage + sd and for Windows' usbstor + disk at probe and
//! in use. A command is interpreted into an [`Outcome`]; the block data of
//! READ and WRITE moves later, during the bulk-only data phase.

use super::store::{BLOCK_SIZE_U32, BLOCK_SIZE_U64, BlockStore};

/// Sense keys.
pub mod sense_key {
    pub const NO_SENSE: u8 = 0x0;
    pub const NOT_READY: u8 = 0x2;
    pub const MEDIUM_ERROR: u8 = 0x3;
    pub const ILLEGAL_REQUEST: u8 = 0x5;
    pub const DATA_PROTECT: u8 = 0x7;
}

/// Fixed-format sense data: key, additional sense code and qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

impl Sense {
    pub const NONE: Self = Self::new(sense_key::NO_SENSE, 0, 0);
    pub const INVALID_OPCODE: Self = Self::new(sense_key::ILLEGAL_REQUEST, 0x20, 0);
    pub const LBA_OUT_OF_RANGE: Self = Self::new(sense_key::ILLEGAL_REQUEST, 0x21, 0);
    pub const INVALID_FIELD_IN_CDB: Self = Self::new(sense_key::ILLEGAL_REQUEST, 0x24, 0);
    pub const LUN_NOT_SUPPORTED: Self = Self::new(sense_key::ILLEGAL_REQUEST, 0x25, 0);
    pub const SAVING_NOT_SUPPORTED: Self = Self::new(sense_key::ILLEGAL_REQUEST, 0x39, 0);
    pub const REMOVAL_PREVENTED: Self = Self::new(sense_key::ILLEGAL_REQUEST, 0x53, 0x02);
    pub const WRITE_PROTECTED: Self = Self::new(sense_key::DATA_PROTECT, 0x27, 0);
    pub const MEDIUM_NOT_PRESENT: Self = Self::new(sense_key::NOT_READY, 0x3a, 0);
    pub const READ_ERROR: Self = Self::new(sense_key::MEDIUM_ERROR, 0x11, 0);
    pub const WRITE_ERROR: Self = Self::new(sense_key::MEDIUM_ERROR, 0x0c, 0);

    pub const fn new(key: u8, asc: u8, ascq: u8) -> Self {
        Self { key, asc, ascq }
    }

    /// The 18 bytes of fixed-format (0x70, current) sense data.
    pub fn to_bytes(self) -> [u8; 18] {
        let mut b = [0u8; 18];
        b[0] = 0x70;
        b[2] = self.key;
        b[7] = 10; // additional sense length
        b[12] = self.asc;
        b[13] = self.ascq;
        b
    }
}

/// What the INQUIRY command reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// T10 vendor identification, 8 ASCII bytes (space padded).
    pub vendor: [u8; 8],
    /// Product identification, 16 ASCII bytes.
    pub product: [u8; 16],
    /// Product revision level, 4 ASCII bytes.
    pub revision: [u8; 4],
    /// Unit serial number (VPD page 0x80), ASCII.
    pub serial: String,
    /// The removable-medium bit (a USB stick sets it).
    pub removable: bool,
}

/// The data phase a command wants, as the device sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPhase {
    None,
    /// Response bytes, already cut to the allocation length.
    In(Vec<u8>),
    /// `blocks` blocks from `lba`, read from the store during the data phase.
    Read {
        lba: u64,
        blocks: u64,
    },
    /// `blocks` blocks to write from `lba`; `fua` asks for a flush afterwards.
    Write {
        lba: u64,
        blocks: u64,
        fua: bool,
    },
    /// Parameter bytes received and ignored (MODE SELECT).
    Discard {
        len: u64,
    },
}

impl DataPhase {
    /// Bytes the device intends to move.
    pub fn len(&self) -> u64 {
        match self {
            Self::None => 0,
            Self::In(v) => v.len() as u64,
            Self::Read { blocks, .. } | Self::Write { blocks, .. } => blocks.saturating_mul(BLOCK_SIZE_U64),
            Self::Discard { len } => *len,
        }
    }
}

/// A command's data phase and whether it succeeded (GOOD) or failed (CHECK
/// CONDITION, with the sense set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub phase: DataPhase,
    pub good: bool,
}

impl Outcome {
    fn good(phase: DataPhase) -> Self {
        Self { phase, good: true }
    }
}

/// The logical unit: sense data and medium state.
#[derive(Debug, Clone)]
pub struct Scsi {
    identity: Identity,
    sense: Sense,
    medium_present: bool,
    prevent_removal: bool,
}

fn be16(cdb: &[u8; 16], at: usize) -> u16 {
    u16::from_be_bytes([byte(cdb, at), byte(cdb, at + 1)])
}

fn be32(cdb: &[u8; 16], at: usize) -> u32 {
    u32::from_be_bytes([byte(cdb, at), byte(cdb, at + 1), byte(cdb, at + 2), byte(cdb, at + 3)])
}

fn be64(cdb: &[u8; 16], at: usize) -> u64 {
    u64::from(be32(cdb, at)) << 32 | u64::from(be32(cdb, at + 4))
}

fn byte(cdb: &[u8; 16], at: usize) -> u8 {
    cdb.get(at).copied().unwrap_or(0)
}

/// `v` cut to `alloc` bytes.
fn cut(mut v: Vec<u8>, alloc: usize) -> DataPhase {
    v.truncate(alloc);
    DataPhase::In(v)
}

impl Scsi {
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            sense: Sense::NONE,
            medium_present: true,
            prevent_removal: false,
        }
    }

    pub fn sense(&self) -> Sense {
        self.sense
    }

    /// Records a failure found during the data phase.
    pub fn set_sense(&mut self, sense: Sense) {
        self.sense = sense;
    }

    /// A bus reset: sense cleared, medium removal allowed again.
    pub fn reset(&mut self) {
        self.sense = Sense::NONE;
        self.prevent_removal = false;
    }

    fn fail(&mut self, sense: Sense) -> Outcome {
        self.sense = sense;
        Outcome {
            phase: DataPhase::None,
            good: false,
        }
    }

    /// Interprets one command block for logical unit `lun`.
    pub fn execute<S: BlockStore + ?Sized>(&mut self, lun: u8, cdb: &[u8; 16], store: &mut S) -> Outcome {
        let op = cdb[0];
        // REQUEST SENSE reports the previous failure; INQUIRY and REPORT LUNS
        // leave it in place; every other command starts afresh.
        if !matches!(op, 0x03 | 0x12 | 0xa0) {
            self.sense = Sense::NONE;
        }
        if lun != 0 && op != 0x03 {
            return self.fail(Sense::LUN_NOT_SUPPORTED);
        }
        let blocks = store.block_count();
        let needs_medium = matches!(
            op,
            0x00 | 0x08 | 0x0a | 0x25 | 0x28 | 0x2a | 0x2f | 0x35 | 0x88 | 0x8a | 0x8f | 0x91 | 0x9e | 0xa8 | 0xaa
        );
        if needs_medium && !self.medium_present {
            return self.fail(Sense::MEDIUM_NOT_PRESENT);
        }
        match op {
            0x00 => Outcome::good(DataPhase::None), // TEST UNIT READY
            0x03 => {
                // REQUEST SENSE
                let sense = if lun != 0 { Sense::LUN_NOT_SUPPORTED } else { self.sense };
                self.sense = Sense::NONE;
                Outcome::good(cut(sense.to_bytes().to_vec(), usize::from(byte(cdb, 4))))
            }
            0x12 => self.inquiry(cdb),
            0x1a | 0x5a => self.mode_sense(op == 0x5a, cdb, store.read_only()),
            0x15 | 0x55 => {
                // MODE SELECT(6/10): parameters accepted and ignored.
                let len = if op == 0x15 {
                    u64::from(byte(cdb, 4))
                } else {
                    u64::from(be16(cdb, 7))
                };
                Outcome::good(if len == 0 {
                    DataPhase::None
                } else {
                    DataPhase::Discard { len }
                })
            }
            0x1b => self.start_stop(cdb),
            0x1d if byte(cdb, 1) & 0x04 != 0 && be16(cdb, 3) == 0 => Outcome::good(DataPhase::None), // SEND DIAGNOSTIC (self-test)
            0x1e => {
                // PREVENT ALLOW MEDIUM REMOVAL
                self.prevent_removal = byte(cdb, 4) & 0x03 != 0;
                Outcome::good(DataPhase::None)
            }
            0x23 => Outcome::good(cut(self.format_capacities(blocks), usize::from(be16(cdb, 7)))), // READ FORMAT CAPACITIES
            0x25 => {
                // READ CAPACITY(10)
                let last = u32::try_from(blocks.saturating_sub(1)).unwrap_or(u32::MAX);
                let mut v = [0u8; 8];
                v[..4].copy_from_slice(&last.to_be_bytes());
                v[4..].copy_from_slice(&BLOCK_SIZE_U32.to_be_bytes());
                Outcome::good(DataPhase::In(v.to_vec()))
            }
            0x9e if byte(cdb, 1) & 0x1f == 0x10 => {
                // SERVICE ACTION IN(16) / READ CAPACITY(16)
                let mut v = [0u8; 32];
                v[..8].copy_from_slice(&blocks.saturating_sub(1).to_be_bytes());
                v[8..12].copy_from_slice(&BLOCK_SIZE_U32.to_be_bytes());
                Outcome::good(cut(v.to_vec(), usize::try_from(be32(cdb, 10)).unwrap_or(usize::MAX)))
            }
            0x08 | 0x0a => {
                // READ(6) / WRITE(6): 21-bit LBA, 0 blocks means 256.
                let lba = u64::from(be32(cdb, 0) & 0x001f_ffff);
                let n = match byte(cdb, 4) {
                    0 => 256,
                    n => u64::from(n),
                };
                self.transfer(op == 0x0a, lba, n, false, blocks, store.read_only())
            }
            0x28 | 0x2a => {
                let fua = byte(cdb, 1) & 0x08 != 0;
                self.transfer(
                    op == 0x2a,
                    u64::from(be32(cdb, 2)),
                    u64::from(be16(cdb, 7)),
                    fua,
                    blocks,
                    store.read_only(),
                )
            }
            0xa8 | 0xaa => {
                let fua = byte(cdb, 1) & 0x08 != 0;
                self.transfer(
                    op == 0xaa,
                    u64::from(be32(cdb, 2)),
                    u64::from(be32(cdb, 6)),
                    fua,
                    blocks,
                    store.read_only(),
                )
            }
            0x88 | 0x8a => {
                let fua = byte(cdb, 1) & 0x08 != 0;
                self.transfer(
                    op == 0x8a,
                    be64(cdb, 2),
                    u64::from(be32(cdb, 10)),
                    fua,
                    blocks,
                    store.read_only(),
                )
            }
            0x2f | 0x8f => {
                // VERIFY(10/16): only the medium check (BYTCHK = 0) is offered.
                let (lba, n) = if op == 0x2f {
                    (u64::from(be32(cdb, 2)), u64::from(be16(cdb, 7)))
                } else {
                    (be64(cdb, 2), u64::from(be32(cdb, 10)))
                };
                if byte(cdb, 1) & 0x06 != 0 {
                    self.fail(Sense::INVALID_FIELD_IN_CDB)
                } else if lba.checked_add(n).is_none_or(|end| end > blocks) {
                    self.fail(Sense::LBA_OUT_OF_RANGE)
                } else {
                    Outcome::good(DataPhase::None)
                }
            }
            0x35 | 0x91 => match store.flush() {
                // SYNCHRONIZE CACHE(10/16)
                Ok(()) => Outcome::good(DataPhase::None),
                Err(_) => self.fail(Sense::WRITE_ERROR),
            },
            0xa0 => {
                // REPORT LUNS: one LUN, 0.
                let alloc = be32(cdb, 6);
                if alloc < 16 {
                    return self.fail(Sense::INVALID_FIELD_IN_CDB);
                }
                let mut v = [0u8; 16];
                v[3] = 8;
                Outcome::good(cut(v.to_vec(), usize::try_from(alloc).unwrap_or(usize::MAX)))
            }
            _ => self.fail(Sense::INVALID_OPCODE),
        }
    }

    fn transfer(&mut self, write: bool, lba: u64, n: u64, fua: bool, blocks: u64, read_only: bool) -> Outcome {
        if lba.checked_add(n).is_none_or(|end| end > blocks) {
            return self.fail(Sense::LBA_OUT_OF_RANGE);
        }
        if write && read_only {
            return self.fail(Sense::WRITE_PROTECTED);
        }
        Outcome::good(match (n, write) {
            (0, _) => DataPhase::None,
            (_, true) => DataPhase::Write { lba, blocks: n, fua },
            (_, false) => DataPhase::Read { lba, blocks: n },
        })
    }

    fn inquiry(&mut self, cdb: &[u8; 16]) -> Outcome {
        let alloc = usize::from(be16(cdb, 3));
        let evpd = byte(cdb, 1) & 0x01 != 0;
        let page = byte(cdb, 2);
        let id = &self.identity;
        let data = match (evpd, page) {
            (false, 0) => {
                let mut v = [0u8; 36];
                v[1] = if id.removable { 0x80 } else { 0 };
                v[2] = 0x04; // SPC-2
                v[3] = 0x02; // response data format
                v[4] = 31; // additional length
                v[8..16].copy_from_slice(&id.vendor);
                v[16..32].copy_from_slice(&id.product);
                v[32..36].copy_from_slice(&id.revision);
                v.to_vec()
            }
            (true, 0x00) => vec![0, 0x00, 0, 3, 0x00, 0x80, 0x83],
            (true, 0x80) => {
                let serial = id.serial.as_bytes();
                let len = serial.len().min(251);
                let mut v = vec![0, 0x80, 0, u8::try_from(len).unwrap_or(0)];
                v.extend_from_slice(serial.get(..len).unwrap_or_default());
                v
            }
            (true, 0x83) => {
                // One designator: T10 vendor ID based (vendor + product + serial), ASCII.
                let mut d = Vec::with_capacity(64);
                d.extend_from_slice(&id.vendor);
                d.extend_from_slice(&id.product);
                d.extend(id.serial.bytes().take(200));
                let [hi, lo] = u16::try_from(d.len() + 4).unwrap_or(0).to_be_bytes();
                let mut v = vec![0, 0x83, hi, lo, 0x02, 0x01, 0, u8::try_from(d.len()).unwrap_or(0)];
                v.extend_from_slice(&d);
                v
            }
            _ => return self.fail(Sense::INVALID_FIELD_IN_CDB),
        };
        Outcome::good(cut(data, alloc))
    }

    /// MODE SENSE(6) or (10): a header with the write-protect bit, no block
    /// descriptor, and the caching page (write cache on for a writable disk,
    /// so that guests send SYNCHRONIZE CACHE) for page 0x08 or 0x3f.
    fn mode_sense(&mut self, ten: bool, cdb: &[u8; 16], read_only: bool) -> Outcome {
        let control = byte(cdb, 2) >> 6;
        let page = byte(cdb, 2) & 0x3f;
        let subpage = byte(cdb, 3);
        if control == 3 {
            return self.fail(Sense::SAVING_NOT_SUPPORTED);
        }
        let mut pages = Vec::new();
        match (page, subpage) {
            (0x08, 0) | (0x3f, 0 | 0xff) => {
                let mut caching = [0u8; 20];
                caching[0] = 0x08;
                caching[1] = 0x12;
                if control != 1 && !read_only {
                    caching[2] = 0x04; // WCE
                }
                pages.extend_from_slice(&caching);
            }
            _ => return self.fail(Sense::INVALID_FIELD_IN_CDB),
        }
        let wp = if read_only { 0x80 } else { 0 };
        let (mut v, alloc) = if ten {
            let total = u16::try_from(pages.len() + 6).unwrap_or(0);
            let mut h = total.to_be_bytes().to_vec();
            h.extend_from_slice(&[0, wp, 0, 0, 0, 0]);
            (h, usize::from(be16(cdb, 7)))
        } else {
            (
                vec![u8::try_from(pages.len() + 3).unwrap_or(0), 0, wp, 0],
                usize::from(byte(cdb, 4)),
            )
        };
        v.extend_from_slice(&pages);
        Outcome::good(cut(v, alloc))
    }

    fn start_stop(&mut self, cdb: &[u8; 16]) -> Outcome {
        let start = byte(cdb, 4) & 0x01 != 0;
        let load_eject = byte(cdb, 4) & 0x02 != 0;
        if load_eject {
            if !start && self.prevent_removal {
                return self.fail(Sense::REMOVAL_PREVENTED);
            }
            self.medium_present = start;
        }
        Outcome::good(DataPhase::None)
    }

    fn format_capacities(&self, blocks: u64) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 8];
        v.extend_from_slice(&u32::try_from(blocks).unwrap_or(u32::MAX).to_be_bytes());
        // Descriptor type 2 = formatted media, 3 = no media present.
        v.push(if self.medium_present { 0x02 } else { 0x03 });
        v.extend_from_slice(&BLOCK_SIZE_U32.to_be_bytes()[1..]);
        v
    }
}
