//! What the session shares with the guest besides the screen and the input
//! devices: a folder (the webdav channel) and smartcards (channel 8). Plain
//! configuration, set in [`SessionOptions`](super::SessionOptions); the
//! channels that use it are built only when the matching cargo feature is on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;

/// A folder shared over the webdav channel (spice-gtk's `shared-dir` and
/// `share-dir-ro`; `--spice-shared-dir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFolder {
    pub path: PathBuf,
    /// Refuse every write (PUT, DELETE, MOVE, COPY, MKCOL, PROPPATCH, LOCK).
    pub read_only: bool,
}

impl SharedFolder {
    pub fn new(path: impl Into<PathBuf>, read_only: bool) -> Self {
        Self {
            path: path.into(),
            read_only,
        }
    }
}

/// The shared folder as a live setting of a session: what the webdav
/// channel serves now. The embedder changes it while connected
/// ([`SessionHandle::set_shared_folder`](super::SessionHandle::set_shared_folder),
/// as remote-viewer's "Share folder" and "Read-only" preferences); the
/// channel then drops the guest's open connections (each gets a close
/// frame, as when the port is opened again) and serves the new folder, or
/// with `None` answers every connection `503 Service Unavailable` (the
/// guest sees the share gone).
#[derive(Debug, Clone, Default)]
pub struct FolderShare {
    inner: Arc<Mutex<ShareState>>,
}

#[derive(Debug, Default)]
struct ShareState {
    /// Bumped by every change.
    generation: u64,
    folder: Option<SharedFolder>,
    /// The webdav channels to wake on a change.
    watchers: Vec<Weak<Notify>>,
}

impl FolderShare {
    /// A setting starting with `folder`.
    pub fn new(folder: Option<SharedFolder>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ShareState {
                folder,
                ..ShareState::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ShareState> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The folder served now (`None`: sharing is off).
    pub fn get(&self) -> Option<SharedFolder> {
        self.lock().folder.clone()
    }

    /// Serves `folder` from now on (`None`: nothing); a no-op when it is
    /// the folder served already.
    pub fn set(&self, folder: Option<SharedFolder>) {
        let mut st = self.lock();
        if st.folder == folder {
            return;
        }
        st.folder = folder;
        st.generation = st.generation.wrapping_add(1);
        st.watchers.retain(|w| w.strong_count() > 0);
        let wake: Vec<Arc<Notify>> = st.watchers.iter().filter_map(Weak::upgrade).collect();
        drop(st);
        for n in wake {
            n.notify_one();
        }
    }

    /// The folder and the generation of the setting.
    #[cfg_attr(not(feature = "webdav"), allow(dead_code))]
    pub(crate) fn current(&self) -> (u64, Option<SharedFolder>) {
        let st = self.lock();
        (st.generation, st.folder.clone())
    }

    /// Wakes `inbox` at every change (as long as it lives).
    #[cfg_attr(not(feature = "webdav"), allow(dead_code))]
    pub(crate) fn watch(&self, inbox: &Arc<Notify>) {
        let mut st = self.lock();
        st.watchers.retain(|w| w.strong_count() > 0);
        st.watchers.push(Arc::downgrade(inbox));
    }
}

/// Smartcard emulation (spice-gtk's `--spice-smartcard`,
/// `--spice-smartcard-db`, `--spice-smartcard-certificates`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmartcardConfig {
    /// A software card made of these certificates (nicknames in the NSS
    /// database); empty: physical readers only.
    pub certificates: Vec<String>,
    /// The NSS database holding them (e.g. `sql:/path/to/db` or a directory).
    pub database: Option<String>,
}

impl SmartcardConfig {
    /// A software card emulated from `certificates` of `database`.
    pub fn software(database: impl Into<String>, certificates: Vec<String>) -> Self {
        Self {
            certificates,
            database: Some(database.into()),
        }
    }

    /// `--spice-smartcard-certificates` (comma-separated nicknames).
    pub fn parse_certificates(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_lists() {
        assert_eq!(
            SmartcardConfig::parse_certificates("id-cert, sig-cert,,enc"),
            ["id-cert", "sig-cert", "enc"]
        );
        assert!(SmartcardConfig::parse_certificates("").is_empty());
    }

    #[test]
    fn folder_share_wakes_its_watchers_on_a_change() {
        let share = FolderShare::new(Some(SharedFolder::new("/a", false)));
        let inbox = Arc::new(Notify::new());
        share.watch(&inbox);
        let (g0, f0) = share.current();
        assert_eq!(f0, Some(SharedFolder::new("/a", false)));
        share.set(Some(SharedFolder::new("/a", false)));
        assert_eq!(share.current().0, g0, "the same folder is no change");
        share.set(Some(SharedFolder::new("/a", true)));
        let (g1, f1) = share.current();
        assert_ne!(g1, g0);
        assert_eq!(f1, Some(SharedFolder::new("/a", true)));
        // The change left a permit on the inbox.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), inbox.notified())
                .await
                .expect("woken")
        });
        share.set(None);
        assert_eq!(share.get(), None);
        drop(inbox);
        share.set(Some(SharedFolder::new("/b", false)));
        assert_eq!(share.lock().watchers.len(), 0, "dead watchers are dropped");
    }
}
