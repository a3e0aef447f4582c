//! The storage behind the virtual disk.

use thiserror::Error;

/// Size of a logical block, in bytes.
pub const BLOCK_SIZE: usize = 512;
/// [`BLOCK_SIZE`] as the wire types want it.
pub(crate) const BLOCK_SIZE_U32: u32 = 512;
pub(crate) const BLOCK_SIZE_U64: u64 = 512;

/// A storage failure, reported to the guest as a MEDIUM ERROR.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("block store: {0}")]
pub struct StoreError(pub String);

/// The blocks of the disk the device exposes ([`BLOCK_SIZE`] bytes each).
///
/// The device only calls these with ranges inside `block_count()` and
/// buffers of whole blocks; it never writes when `read_only()` is true.
pub trait BlockStore {
    /// Number of blocks.
    fn block_count(&self) -> u64;
    /// Whether writes are refused (the guest sees a write-protected disk).
    fn read_only(&self) -> bool;
    /// Fills `buf` (a multiple of [`BLOCK_SIZE`]) from block `lba` on.
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), StoreError>;
    /// Writes `data` (a multiple of [`BLOCK_SIZE`]) from block `lba` on.
    fn write_blocks(&mut self, lba: u64, data: &[u8]) -> Result<(), StoreError>;
    /// Makes completed writes durable (SYNCHRONIZE CACHE, FUA).
    fn flush(&mut self) -> Result<(), StoreError>;
}

/// A disk in memory, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemStore {
    data: Vec<u8>,
    read_only: bool,
    /// How many times `flush` was called.
    pub flushes: u32,
}

impl MemStore {
    /// `data` rounded down to whole blocks.
    pub fn new(mut data: Vec<u8>, read_only: bool) -> Self {
        data.truncate(data.len() / BLOCK_SIZE * BLOCK_SIZE);
        Self {
            data,
            read_only,
            flushes: 0,
        }
    }

    /// A zero-filled disk of `blocks` blocks.
    pub fn zeroed(blocks: usize, read_only: bool) -> Self {
        Self::new(vec![0; blocks * BLOCK_SIZE], read_only)
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn range(&self, lba: u64, len: usize) -> Result<std::ops::Range<usize>, StoreError> {
        let start = usize::try_from(lba)
            .ok()
            .and_then(|l| l.checked_mul(BLOCK_SIZE))
            .ok_or_else(|| StoreError(format!("block {lba} out of range")))?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.data.len() && len.is_multiple_of(BLOCK_SIZE))
            .ok_or_else(|| StoreError(format!("{len} bytes at block {lba} out of range")))?;
        Ok(start..end)
    }
}

impl BlockStore for MemStore {
    fn block_count(&self) -> u64 {
        (self.data.len() / BLOCK_SIZE) as u64
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        let r = self.range(lba, buf.len())?;
        buf.copy_from_slice(self.data.get(r).unwrap_or_default());
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, data: &[u8]) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError("read-only".into()));
        }
        let r = self.range(lba, data.len())?;
        if let Some(dst) = self.data.get_mut(r) {
            dst.copy_from_slice(data);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.flushes += 1;
        Ok(())
    }
}
