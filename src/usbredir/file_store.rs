//! A [`BlockStore`] on a raw disk-image file: the only part of
//! [`crate::usbredir`] that does I/O (blocking file reads and writes, meant
//! for the runtime thread that drives a [`crate::usbredir::msc::MassStorage`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::msc::{BLOCK_SIZE, BlockStore, StoreError};

/// A raw image: block `n` is bytes `n * 512 ..` of the file. A trailing
/// partial block is not exposed.
#[derive(Debug)]
pub struct FileStore {
    file: File,
    blocks: u64,
    read_only: bool,
}

fn io_error(what: &str, e: &std::io::Error) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

impl FileStore {
    /// Opens `path`; `read_only` opens it for reading only and makes the
    /// guest see a write-protected disk.
    pub fn open(path: &Path, read_only: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new().read(true).write(!read_only).open(path)?;
        let blocks = file.metadata()?.len() / BLOCK_SIZE as u64;
        Ok(Self {
            file,
            blocks,
            read_only,
        })
    }

    fn seek(&mut self, lba: u64, len: usize) -> Result<(), StoreError> {
        let blocks = (len / BLOCK_SIZE) as u64;
        if !len.is_multiple_of(BLOCK_SIZE) || lba.checked_add(blocks).is_none_or(|end| end > self.blocks) {
            return Err(StoreError(format!("{len} bytes at block {lba} out of range")));
        }
        self.file
            .seek(SeekFrom::Start(lba * BLOCK_SIZE as u64))
            .map(|_| ())
            .map_err(|e| io_error("seek", &e))
    }
}

impl BlockStore for FileStore {
    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        self.seek(lba, buf.len())?;
        self.file.read_exact(buf).map_err(|e| io_error("read", &e))
    }

    fn write_blocks(&mut self, lba: u64, data: &[u8]) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError("the image is read-only".into()));
        }
        self.seek(lba, data.len())?;
        self.file.write_all(data).map_err(|e| io_error("write", &e))
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| io_error("sync", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_refuses_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let mut image = vec![0u8; 3 * BLOCK_SIZE + 100];
        image[BLOCK_SIZE] = 0xab;
        std::fs::write(&path, &image).unwrap();

        let mut s = FileStore::open(&path, false).unwrap();
        assert_eq!(s.block_count(), 3);
        let mut buf = vec![0u8; BLOCK_SIZE];
        s.read_blocks(1, &mut buf).unwrap();
        assert_eq!(buf[0], 0xab);
        s.write_blocks(2, &[7u8; BLOCK_SIZE]).unwrap();
        s.flush().unwrap();
        assert!(s.read_blocks(3, &mut buf).is_err());
        assert!(s.write_blocks(u64::MAX, &[0u8; BLOCK_SIZE]).is_err());
        drop(s);
        assert_eq!(std::fs::read(&path).unwrap()[2 * BLOCK_SIZE], 7);

        let mut ro = FileStore::open(&path, true).unwrap();
        assert!(ro.read_only());
        assert!(ro.write_blocks(0, &[1u8; BLOCK_SIZE]).is_err());
        ro.read_blocks(2, &mut buf).unwrap();
        assert_eq!(buf, [7u8; BLOCK_SIZE]);
    }
}
