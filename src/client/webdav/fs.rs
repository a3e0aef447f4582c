//! The shared folder as dav-server sees it: [`ConfinedFs`] wraps dav-server's
//! `LocalFs` and checks every path itself before the library touches the disk.
//!
//! Confinement (not left to the library):
//! - a request path is made only of plain names: `..`, `.`, a root or a
//!   prefix component is refused (dav-server already decodes `%2F` and
//!   resolves `..` in URLs; this is the second lock);
//! - the longest existing prefix of the path (the path itself when it exists)
//!   is resolved with `canonicalize` and must stay inside the canonical
//!   folder: a symlink pointing out of the folder, or a dangling one (a PUT
//!   through it would create a file outside), answers 404;
//! - directory listings leave out entries that resolve outside the folder.
//!
//! The check and the operation are two system calls: someone who can make
//! symlinks in the shared folder *on the host* between them could still win
//! a race; the guest cannot make symlinks (WebDAV has no such method).
//!
//! Read-only: every write (open for writing, MKCOL, DELETE, MOVE, COPY,
//! PROPPATCH, time stamps) is refused here too, under the handler's
//! read-only method set.
//!
//! Dead properties (PROPPATCH) live in memory for the session
//! ([`PropStore`], bounded): `LocalFs` has none.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsResult, FsStream, OpenOptions,
    ReadDirMeta,
};
use dav_server::localfs::LocalFs;
use futures_util::{FutureExt, StreamExt};
use http::StatusCode;

use super::props::PropStore;

/// The shared folder, confined.
#[derive(Clone)]
pub(crate) struct ConfinedFs {
    inner: Box<LocalFs>,
    /// The folder, canonical.
    root: Arc<PathBuf>,
    read_only: bool,
    props: Arc<Mutex<PropStore>>,
}

impl std::fmt::Debug for ConfinedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfinedFs")
            .field("root", &self.root)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl ConfinedFs {
    /// Serves `folder` (which must be a directory).
    pub(crate) fn new(folder: &Path, read_only: bool) -> std::io::Result<Self> {
        let root = folder.canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            inner: LocalFs::new(&root, true, false, false),
            root: Arc::new(root),
            read_only,
            props: Arc::new(Mutex::new(PropStore::default())),
        })
    }

    fn props(&self) -> std::sync::MutexGuard<'_, PropStore> {
        self.props.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The file system path of `path`, if it stays inside the folder.
    pub(crate) fn confine(&self, path: &DavPath) -> FsResult<PathBuf> {
        confine(&self.root, path.as_rel_ospath())
    }

    fn writable(&self) -> FsResult<()> {
        if self.read_only {
            Err(FsError::Forbidden)
        } else {
            Ok(())
        }
    }
}

/// `root` (canonical) joined with `rel`, if `rel` is plain names and what
/// exists of the result resolves inside `root`.
pub(crate) fn confine(root: &Path, rel: &Path) -> FsResult<PathBuf> {
    let mut full = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(name) => full.push(name),
            Component::CurDir | Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(FsError::Forbidden);
            }
        }
    }
    let mut probe = full.as_path();
    loop {
        match std::fs::symlink_metadata(probe) {
            Ok(_) => {
                // Exists (maybe as a symlink): where it really is must be inside.
                let real = probe.canonicalize().map_err(|_| FsError::NotFound)?;
                return if real.starts_with(root) {
                    Ok(full)
                } else {
                    Err(FsError::NotFound)
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match probe.parent() {
                Some(parent) if parent.starts_with(root) => probe = parent,
                _ => return Err(FsError::NotFound),
            },
            Err(_) => return Err(FsError::NotFound),
        }
    }
}

/// A listing entry stays if it is not a symlink, or resolves inside `root`.
fn entry_inside(root: &Path, dir: &Path, name: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let path = dir.join(std::ffi::OsStr::from_bytes(name));
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => path.canonicalize().is_ok_and(|real| real.starts_with(root)),
        Ok(_) => true,
        Err(_) => false,
    }
}

fn prop_key(path: &DavPath) -> String {
    let s = String::from_utf8_lossy(path.as_bytes()).into_owned();
    match s.strip_suffix('/') {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => s,
    }
}

impl DavFileSystem for ConfinedFs {
    fn open<'a>(&'a self, path: &'a DavPath, options: OpenOptions) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            if options.write || options.append || options.truncate || options.create || options.create_new {
                self.writable()?;
            }
            self.confine(path)?;
            self.inner.open(path, options).await
        }
        .boxed()
    }

    fn read_dir<'a>(&'a self, path: &'a DavPath, meta: ReadDirMeta) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let dir = self.confine(path)?;
            let entries = self.inner.read_dir(path, meta).await?;
            let root = Arc::clone(&self.root);
            let filtered = entries.filter(move |e| {
                let keep = match e {
                    Ok(entry) => entry_inside(&root, &dir, &entry.name()),
                    Err(_) => true,
                };
                std::future::ready(keep)
            });
            Ok(Box::pin(filtered) as FsStream<Box<dyn DavDirEntry>>)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            self.confine(path)?;
            self.inner.metadata(path).await
        }
        .boxed()
    }

    fn symlink_metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            self.confine(path)?;
            self.inner.symlink_metadata(path).await
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.writable()?;
            self.confine(path)?;
            self.inner.create_dir(path).await
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.writable()?;
            self.confine(path)?;
            self.inner.remove_dir(path).await?;
            self.props().remove(&prop_key(path));
            Ok(())
        }
        .boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.writable()?;
            self.confine(path)?;
            self.inner.remove_file(path).await?;
            self.props().remove(&prop_key(path));
            Ok(())
        }
        .boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.writable()?;
            self.confine(from)?;
            self.confine(to)?;
            self.inner.rename(from, to).await?;
            self.props().rename(&prop_key(from), &prop_key(to));
            Ok(())
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.writable()?;
            self.confine(from)?;
            self.confine(to)?;
            self.inner.copy(from, to).await?;
            self.props().copy(&prop_key(from), &prop_key(to));
            Ok(())
        }
        .boxed()
    }

    fn set_accessed<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.writable()?;
            self.confine(path)?;
            self.inner.set_accessed(path, tm).await
        }
        .boxed()
    }

    fn set_modified<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.writable()?;
            self.confine(path)?;
            self.inner.set_modified(path, tm).await
        }
        .boxed()
    }

    fn have_props<'a>(&'a self, path: &'a DavPath) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        async move { self.confine(path).is_ok() }.boxed()
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        async move {
            self.writable()?;
            self.confine(path)?;
            self.inner.metadata(path).await?;
            Ok(self.props().patch(&prop_key(path), patch))
        }
        .boxed()
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            self.confine(path)?;
            Ok(self.props().get_all(&prop_key(path), do_content))
        }
        .boxed()
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        async move {
            self.confine(path)?;
            self.props().get(&prop_key(path), &prop).ok_or(FsError::NotFound)
        }
        .boxed()
    }

    fn get_quota(&'_ self) -> FsFuture<'_, (u64, Option<u64>)> {
        self.inner.get_quota()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dav(p: &str) -> DavPath {
        DavPath::new(p).unwrap()
    }

    #[test]
    fn paths_stay_inside_the_folder() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"no").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/file"), b"yes").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("secret-link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("new"), root.join("dangling")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("inside")).unwrap();
        let fs = ConfinedFs::new(&root, false).unwrap();
        assert_eq!(fs.confine(&dav("/sub/file")).unwrap(), root.join("sub/file"));
        assert_eq!(fs.confine(&dav("/sub/new-file")).unwrap(), root.join("sub/new-file"));
        assert_eq!(fs.confine(&dav("/inside/file")).unwrap(), root.join("inside/file"));
        assert_eq!(fs.confine(&dav("/")).unwrap(), root);
        for escape in [
            "/out",
            "/out/secret",
            "/out/new",
            "/secret-link",
            "/dangling",
            "/dangling/x",
        ] {
            assert_eq!(fs.confine(&dav(escape)), Err(FsError::NotFound), "{escape}");
        }
        // `..` never reaches the file system layer: the URL parser refuses or resolves it,
        // and a raw relative path with one is refused here.
        assert!(DavPath::new("/../etc/passwd").is_err());
        assert_eq!(dav("/sub/../sub/file").as_rel_ospath(), Path::new("sub/file"));
        assert_eq!(confine(&root, Path::new("../etc")), Err(FsError::Forbidden));
        assert_eq!(confine(&root, Path::new("/etc")), Err(FsError::Forbidden));
        // An encoded slash is not a separator.
        assert!(DavPath::new("/sub%2Ffile").is_err());
        assert!(DavPath::new("/%2e%2e/etc").is_err());
    }

    #[test]
    fn listings_leave_out_escaping_links() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("plain"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("plain"), root.join("in")).unwrap();
        assert!(entry_inside(&root, &root, b"plain"));
        assert!(entry_inside(&root, &root, b"in"));
        assert!(!entry_inside(&root, &root, b"out"));
        assert!(!entry_inside(&root, &root, b"missing"));
    }
}
