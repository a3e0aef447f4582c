//! The MIT-SHM upload path of the X11 screen layer: a memory file shared
//! with the X server (MIT-SHM 1.2 `AttachFd`), used as a ring of staging
//! space for `ShmPutImage`. The server reads the pixels straight from that
//! memory, so an update costs one copy on our side (rows into the ring) and
//! none through the socket.
//!
//! A region of the ring may be written again only once the server has
//! handled the request reading it. The ring tracks that by sequence numbers:
//! when it wraps, it waits for a round trip (the server handles requests in
//! order), which with a ring of several frames' worth of updates is rare.
//!
//! This is one of the crate's two FFI spots: mapping the memory file needs
//! `mmap`/`munmap` (through rustix); the mapping is private to [`ShmRing`]
//! and only ever exposed as a slice borrowed from it.

#![allow(unsafe_code)]

use std::os::fd::OwnedFd;

use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// A read/write shared mapping of a memory file, unmapped on drop.
struct Mapping {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: &OwnedFd, len: usize) -> std::io::Result<Mapping> {
        // SAFETY: a new shared mapping of `len` bytes of our own memory file
        // (sized to `len` by the caller), at an address the kernel chooses:
        // it aliases no Rust object. The X server maps the same file read-only
        // and never writes it.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }?;
        let ptr =
            std::ptr::NonNull::new(ptr.cast::<u8>()).ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live mapping of `len` bytes owned by `self`
        // (unmapped only in `drop`); the `&mut self` borrow makes this the
        // only Rust reference to it while the slice lives.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of `len` bytes, not used after this.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// SAFETY-free marker impls are not needed: `Mapping` holds a raw pointer and
// so is neither Send nor Sync, which matches its use on the UI thread only.

/// The staging ring: where the next upload of `n` bytes goes.
pub(super) struct ShmRing {
    map: Mapping,
    /// The X server's segment id for this memory.
    pub(super) seg: u32,
    /// Next free offset.
    head: usize,
}

impl std::fmt::Debug for ShmRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmRing")
            .field("seg", &self.seg)
            .field("len", &self.map.len)
            .field("head", &self.head)
            .finish()
    }
}

/// Where an upload was staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Staged {
    /// Offset in the segment.
    pub(super) offset: usize,
    /// Whether the ring wrapped to get it: every earlier request reading the
    /// ring must have been handled before the bytes are written (the caller
    /// waits for a round trip first).
    pub(super) wrapped: bool,
}

impl ShmRing {
    /// A memory file of `len` bytes, mapped; returns the ring and the file
    /// descriptor to hand to the X server (`AttachFd` takes ownership).
    pub(super) fn new(seg: u32, len: usize) -> std::io::Result<(ShmRing, OwnedFd)> {
        let fd = memfd_create("sumac-x11-screen", MemfdFlags::CLOEXEC)?;
        ftruncate(&fd, u64::try_from(len).map_err(std::io::Error::other)?)?;
        let map = Mapping::new(&fd, len)?;
        Ok((ShmRing { map, seg, head: 0 }, fd))
    }

    /// The ring's size.
    pub(super) fn len(&self) -> usize {
        self.map.len
    }

    /// Reserves `n` bytes (at most the ring's size) for an upload.
    pub(super) fn reserve(&mut self, n: usize) -> Option<Staged> {
        if n > self.map.len {
            return None;
        }
        let wrapped = self.head.checked_add(n).is_none_or(|end| end > self.map.len);
        let offset = if wrapped { 0 } else { self.head };
        self.head = offset + n;
        Some(Staged { offset, wrapped })
    }

    /// The bytes of a reservation, to write the rows into.
    pub(super) fn bytes(&mut self, staged: Staged, n: usize) -> Option<&mut [u8]> {
        let end = staged.offset.checked_add(n)?;
        self.map.as_mut_slice().get_mut(staged.offset..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_go_round_the_ring() {
        let (mut ring, _fd) = ShmRing::new(1, 100).unwrap();
        assert_eq!(
            ring.reserve(40),
            Some(Staged {
                offset: 0,
                wrapped: false
            })
        );
        assert_eq!(
            ring.reserve(40),
            Some(Staged {
                offset: 40,
                wrapped: false
            })
        );
        // 80 + 40 > 100: back to the start, after a round trip.
        assert_eq!(
            ring.reserve(40),
            Some(Staged {
                offset: 0,
                wrapped: true
            })
        );
        assert_eq!(ring.reserve(101), None);
        let s = ring.reserve(60).unwrap();
        assert_eq!(
            s,
            Staged {
                offset: 40,
                wrapped: false
            }
        );
        let b = ring.bytes(s, 60).unwrap();
        b.fill(7);
        assert_eq!(b.len(), 60);
        assert!(ring.bytes(s, 61).is_none());
    }
}
