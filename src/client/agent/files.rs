//! Reading files for transfers to the guest, off the channel threads.
//!
//! [`send_file`] opens the file on the caller's thread (so a missing file
//! fails at once), registers a read window for the transfer and starts a
//! thread (`sumac-xfer-<id>`) that reads 64 KiB pieces and queues them in
//! the agent inbox. The thread reads only as far as the agent machine
//! allows ([`Readers::grant`]): nothing before the agent accepted the file,
//! then at most [`READ_AHEAD`](crate::channel::agent::file_xfer::READ_AHEAD)
//! bytes ahead of what was handed to the server. So the main channel's
//! thread never touches the disk and a 50 MB file never sits in memory. The
//! thread ends at the end of the file, on a read error (reported to the
//! machine, which cancels the transfer), or when the machine ends the
//! transfer (done, cancelled, agent gone).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{AgentSendError, AgentShared};
use crate::channel::agent::file_xfer::PIECE;
use crate::channel::agent::{AgentCommand, TransferId};

/// Why a file could not be offered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendFileError {
    #[error(transparent)]
    Agent(#[from] AgentSendError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("the guest agent refuses file transfers")]
    Disabled,
}

#[derive(Debug, Default)]
struct Slot {
    /// Bytes the reader may still read.
    credit: u64,
    /// The transfer is over: the reader stops.
    done: bool,
}

/// The read windows of the running transfers.
#[derive(Debug, Default)]
pub(super) struct Readers {
    slots: Mutex<HashMap<u32, Slot>>,
    cond: Condvar,
}

impl Readers {
    fn lock(&self) -> MutexGuard<'_, HashMap<u32, Slot>> {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, id: TransferId) {
        self.lock().insert(id.0, Slot::default());
    }

    fn remove(&self, id: TransferId) {
        self.lock().remove(&id.0);
    }

    pub(super) fn grant(&self, id: TransferId, n: u64) {
        if let Some(s) = self.lock().get_mut(&id.0) {
            s.credit = s.credit.saturating_add(n);
        }
        self.cond.notify_all();
    }

    pub(super) fn finish(&self, id: TransferId) {
        if let Some(s) = self.lock().get_mut(&id.0) {
            s.done = true;
        }
        self.cond.notify_all();
    }

    pub(super) fn finish_all(&self) {
        for s in self.lock().values_mut() {
            s.done = true;
        }
        self.cond.notify_all();
    }

    /// Waits until `want` bytes may be read (`true`) or the transfer is over (`false`).
    fn wait(&self, id: TransferId, want: u64, shared: &AgentShared) -> bool {
        let mut slots = self.lock();
        loop {
            match slots.get_mut(&id.0) {
                None => return false,
                Some(s) if s.done => return false,
                Some(s) if s.credit >= want => {
                    s.credit -= want;
                    return true;
                }
                Some(_) => {}
            }
            if !shared.up.load(Ordering::Acquire) {
                return false;
            }
            // Woken by grant/finish; the timeout re-checks that the agent is still there.
            slots = match self.cond.wait_timeout(slots, Duration::from_secs(1)) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// Reads up to `buf.len()` bytes (fewer only at the end of the file).
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut have = 0;
    while let Some(rest) = buf.get_mut(have..) {
        if rest.is_empty() {
            break;
        }
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(have)
}

/// The reader thread of one transfer.
fn read_file(shared: &AgentShared, id: TransferId, mut file: File, size: u64) {
    let mut left = size;
    while left > 0 {
        let want = left.min(PIECE as u64);
        if !shared.readers.wait(id, want, shared) {
            break;
        }
        let mut buf = vec![0; usize::try_from(want).unwrap_or(PIECE)];
        let cmd = match read_full(&mut file, &mut buf) {
            Ok(n) if n == buf.len() => AgentCommand::FileData { id, data: buf },
            Ok(_) => AgentCommand::FileReadError {
                id,
                error: "the file got shorter while it was sent".into(),
            },
            Err(e) => AgentCommand::FileReadError {
                id,
                error: e.to_string(),
            },
        };
        let stop = matches!(cmd, AgentCommand::FileReadError { .. });
        if shared.push_command(cmd, 0).is_err() || stop {
            break;
        }
        left -= want;
    }
    shared.readers.remove(id);
}

/// Opens `path`, queues FILE_XFER_START and starts the reader.
pub(super) fn send_file(shared: &Arc<AgentShared>, path: &Path) -> Result<TransferId, SendFileError> {
    if !shared.is_up() {
        return Err(AgentSendError::NotConnected.into());
    }
    if shared.info().is_some_and(|i| !i.file_transfer()) {
        return Err(SendFileError::Disabled);
    }
    let io = |source| SendFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(SendFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let size = meta.len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let id = TransferId(shared.next_transfer.fetch_add(1, Ordering::Relaxed).wrapping_add(1));
    shared.readers.register(id);
    if let Err(e) = shared.push_command(AgentCommand::FileStart { id, name, size }, 0) {
        shared.readers.remove(id);
        return Err(e.into());
    }
    if size > 0 {
        let reader_shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("sumac-xfer-{}", id.0))
            .spawn(move || read_file(&reader_shared, id, file, size));
        if let Err(e) = spawned {
            let _ = shared.push_command(
                AgentCommand::FileReadError {
                    id,
                    error: format!("cannot start the reader thread: {e}"),
                },
                0,
            );
            shared.readers.remove(id);
        }
    } else {
        shared.readers.remove(id);
    }
    Ok(id)
}
