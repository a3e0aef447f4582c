//! The guest image: a Debian kernel (downloaded and unpacked, never installed), a busybox initramfs
//! and the guest init script, all in a cache directory shared by every test process.
//!
//! Cache layout (`SUMAC_GUEST_CACHE`, default `<cargo target dir>/sumac-guest`):
//! - `.lock`: held (`flock`) by the process that prepares; others wait, then reuse its work;
//! - `kernel-<KVER>_<version>/` (`boot/vmlinuz-KVER`, `lib/modules/KVER` with depmod's files) and
//!   its `.complete` marker, written last;
//! - `initrd-<KVER>-<hash>.img`, `guest-init-<hash>.sh`: named by a hash of their inputs, so a
//!   changed script or kernel gives a new file and a running guest's files are never rewritten;
//! - `.tmp-*`: work in progress; only a crashed prepare leaves one, the next prepare removes it.
//!
//! Everything is built in a temporary name and renamed into place.

use crate::cpio::CpioWriter;
use crate::error::{Error, Result, io_err};
use crate::host::{GUEST_PACKAGES, default_cache_dir, host_command, require_packages, run_host};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `/init` of the initramfs (busybox sh).
const INITRAMFS_INIT: &str = include_str!("scripts/initramfs-init.sh");
/// The guest's init, run from the host root after `switch_root`.
pub(crate) const GUEST_INIT: &str = include_str!("scripts/guest-init.sh");
/// Modules the initramfs needs to mount the root (their dependencies are added in order).
const ROOT_MODULES: &[&str] = &["virtio_pci", "9pnet_virtio", "9p", "overlay"];
/// The static busybox of Debian's busybox-static.
const BUSYBOX: &str = "/bin/busybox";
/// The metapackage whose dependency names the current kernel package.
const KERNEL_METAPACKAGE: &str = "linux-image-amd64";

/// A prepared guest image (all paths absolute, in the cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestImage {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The kernel release (`uname -r` in the guest), e.g. `6.1.0-57-amd64`.
    pub kernel_release: String,
    /// The Debian package and version it came from, e.g. `linux-image-6.1.0-57-amd64 6.1.192-3`.
    pub kernel_package: String,
    /// The unpacked package (`boot/`, `lib/modules/<release>/`).
    pub kernel_dir: PathBuf,
    /// `boot/vmlinuz-<release>` in `kernel_dir`.
    pub kernel: PathBuf,
    /// The gzipped newc initramfs.
    pub initrd: PathBuf,
    /// The guest init script (its host path is also its path in the guest).
    pub guest_init: PathBuf,
}

/// What [`GuestImage::prepare`] did, for reports (times are zero for cached parts).
#[derive(Debug, Clone, Default)]
pub struct PrepareReport {
    pub waited_for_lock: Duration,
    pub download: Duration,
    pub unpack: Duration,
    pub initramfs: Duration,
    pub total: Duration,
}

static PREPARED: Mutex<Option<GuestImage>> = Mutex::new(None);

impl GuestImage {
    /// Prepares (or finds in the cache) the image in [`default_cache_dir`]. Idempotent and cheap
    /// once done; safe to call from several processes at once. Fails with
    /// [`Error::MissingPackages`] when host packages are missing.
    pub fn prepare() -> Result<GuestImage> {
        Self::prepare_in(&default_cache_dir())
    }

    /// [`GuestImage::prepare`] with an explicit cache directory.
    pub fn prepare_in(cache_dir: &Path) -> Result<GuestImage> {
        let mut memo = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(image) = memo.as_ref().filter(|i| i.cache_dir == cache_dir && i.is_complete()) {
            return Ok(image.clone());
        }
        let (image, _) = Self::prepare_with_report(cache_dir)?;
        *memo = Some(image.clone());
        Ok(image)
    }

    /// Prepares the image and says how long each part took (the `sumac-guest prepare` command).
    pub fn prepare_with_report(cache_dir: &Path) -> Result<(GuestImage, PrepareReport)> {
        let start = Instant::now();
        let mut report = PrepareReport::default();
        require_packages(GUEST_PACKAGES)?;
        fs::create_dir_all(cache_dir).map_err(io_err(format!("create the cache {}", cache_dir.display())))?;
        let cache_dir = fs::canonicalize(cache_dir).map_err(io_err("resolve the cache directory"))?;
        // Its paths go on the kernel command line and into shell scripts.
        if cache_dir
            .to_string_lossy()
            .contains(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        {
            return Err(Error::Other(format!(
                "the guest cache path {} has blanks or quotes: set SUMAC_GUEST_CACHE to a plain path",
                cache_dir.display()
            )));
        }
        let lock = File::create(cache_dir.join(".lock")).map_err(io_err("create the cache lock"))?;
        lock.lock().map_err(io_err("lock the guest cache"))?;
        report.waited_for_lock = start.elapsed();
        remove_stale_temporaries(&cache_dir);

        let (package, version) = kernel_package(&cache_dir)?;
        let release = package
            .strip_prefix("linux-image-")
            .ok_or_else(|| Error::Kernel(format!("unexpected kernel package name {package}")))?
            .to_string();
        let kernel_dir = cache_dir.join(format!("kernel-{release}_{version}"));
        if !kernel_dir.join(".complete").is_file() {
            unpack_kernel(&cache_dir, &package, &version, &release, &kernel_dir, &mut report)?;
        }
        let kernel = kernel_dir.join(format!("boot/vmlinuz-{release}"));

        let t = Instant::now();
        let modules = root_modules(&kernel_dir, &release)?;
        let initrd = build_initramfs(&cache_dir, &release, &modules)?;
        let guest_init = cache_dir.join(format!("guest-init-{:016x}.sh", fnv1a(GUEST_INIT.as_bytes())));
        if !guest_init.is_file() {
            write_atomically(&guest_init, GUEST_INIT.as_bytes())?;
        }
        report.initramfs = t.elapsed();
        drop(lock);
        report.total = start.elapsed();
        let image = GuestImage {
            cache_dir,
            kernel_release: release,
            kernel_package: format!("{package} {version}"),
            kernel_dir,
            kernel,
            initrd,
            guest_init,
        };
        Ok((image, report))
    }

    fn is_complete(&self) -> bool {
        self.kernel_dir.join(".complete").is_file() && self.initrd.is_file() && self.guest_init.is_file()
    }
}

/// The kernel package `linux-image-amd64` depends on, and its version, from apt's lists. Without
/// usable lists, the newest kernel already in the cache.
fn kernel_package(cache_dir: &Path) -> Result<(String, String)> {
    let shown = run_host(host_command("apt-cache").args(["show", "--no-all-versions", KERNEL_METAPACKAGE]));
    let from_apt = shown.as_ref().ok().and_then(|text| {
        // "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)"
        let depends = text.lines().find_map(|l| l.strip_prefix("Depends:"))?;
        depends.split(',').find_map(|alt| {
            let alt = alt.trim();
            let (name, rest) = alt.split_once(' ').unwrap_or((alt, ""));
            let version = rest.trim().strip_prefix("(=")?.trim().strip_suffix(')')?.trim();
            name.starts_with("linux-image-")
                .then(|| (name.to_string(), version.to_string()))
        })
    });
    if let Some(found) = from_apt {
        return Ok(found);
    }
    // Offline: any complete kernel in the cache (the newest name).
    let mut cached: Vec<(String, String)> = fs::read_dir(cache_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(".complete").is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (release, version) = name.strip_prefix("kernel-")?.split_once('_')?;
            Some((format!("linux-image-{release}"), version.to_string()))
        })
        .collect();
    cached.sort();
    cached.pop().ok_or_else(|| {
        Error::Kernel(format!(
            "cannot tell which kernel package {KERNEL_METAPACKAGE} depends on (run `apt-get update`?): {}",
            match shown {
                Ok(_) => "apt-cache shows no linux-image dependency".to_string(),
                Err(e) => e.to_string(),
            }
        ))
    })
}

/// Downloads the kernel package and unpacks it into `kernel_dir` (through a temporary directory),
/// then runs depmod on it.
fn unpack_kernel(
    cache_dir: &Path,
    package: &str,
    version: &str,
    release: &str,
    kernel_dir: &Path,
    report: &mut PrepareReport,
) -> Result<()> {
    let tmp = cache_dir.join(format!(".tmp-kernel-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(io_err("create a temporary directory in the cache"))?;
    let t = Instant::now();
    run_host(
        host_command("apt-get")
            .args(["download", &format!("{package}={version}")])
            .current_dir(&tmp),
    )
    .map_err(|e| Error::Kernel(format!("download {package} {version} (run `apt-get update`?): {e}")))?;
    report.download = t.elapsed();
    let deb = fs::read_dir(&tmp)
        .map_err(io_err("list the downloaded package"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| Error::Kernel(format!("apt-get download {package} left no .deb")))?;
    let t = Instant::now();
    let root = tmp.join("root");
    run_host(host_command("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    fs::remove_file(&deb).map_err(io_err("remove the downloaded package"))?;
    if !root.join(format!("boot/vmlinuz-{release}")).is_file() {
        return Err(Error::Kernel(format!("{package} has no boot/vmlinuz-{release}")));
    }
    run_host(host_command("depmod").arg("-b").arg(&root).arg(release))?;
    let _ = fs::remove_dir_all(kernel_dir);
    fs::rename(&root, kernel_dir).map_err(io_err("move the unpacked kernel into place"))?;
    File::create(kernel_dir.join(".complete")).map_err(io_err("mark the kernel complete"))?;
    let _ = fs::remove_dir_all(&tmp);
    report.unpack = t.elapsed();
    Ok(())
}

/// The `.ko` files (absolute host paths) the root file system needs, dependencies first.
fn root_modules(kernel_dir: &Path, release: &str) -> Result<Vec<PathBuf>> {
    let mut modules: Vec<PathBuf> = Vec::new();
    for module in ROOT_MODULES {
        let shown = run_host(host_command("modprobe").arg("-d").arg(kernel_dir).args([
            "-S",
            release,
            "--show-depends",
            module,
        ]))?;
        for line in shown.lines() {
            // "insmod /path/x.ko [params]"; "builtin x" needs nothing.
            if let Some(path) = line.strip_prefix("insmod ").and_then(|r| r.split_whitespace().next()) {
                let path = PathBuf::from(path);
                if !modules.contains(&path) {
                    modules.push(path);
                }
            }
        }
    }
    if modules.is_empty() {
        return Err(Error::Kernel(format!("modprobe lists no module for {ROOT_MODULES:?}")));
    }
    Ok(modules)
}

/// Writes the initramfs (unless a file with the same inputs exists) and returns its path.
fn build_initramfs(cache_dir: &Path, release: &str, modules: &[PathBuf]) -> Result<PathBuf> {
    let busybox_meta = fs::metadata(BUSYBOX).map_err(io_err(format!("read {BUSYBOX} (package busybox-static)")))?;
    let mut key = format!("{release}\n{INITRAMFS_INIT}\n{}\n", busybox_meta.len());
    if let Ok(modified) = busybox_meta.modified() {
        key.push_str(&format!("{modified:?}\n"));
    }
    for module in modules {
        key.push_str(&format!("{}\n", module.display()));
    }
    let path = cache_dir.join(format!("initrd-{release}-{:016x}.img", fnv1a(key.as_bytes())));
    if path.is_file() {
        return Ok(path);
    }
    let busybox = fs::read(BUSYBOX).map_err(io_err(format!("read {BUSYBOX}")))?;
    let mut cpio = CpioWriter::new(GzEncoder::new(Vec::new(), Compression::default()));
    let io = io_err("write the initramfs");
    let archive = (|| -> std::io::Result<Vec<u8>> {
        for dir in ["bin", "dev", "proc", "sys", "modules", "lower", "rw", "newroot"] {
            cpio.dir(dir, 0o755)?;
        }
        // The kernel opens /dev/console for init's streams before devtmpfs is mounted.
        cpio.char_device("dev/console", 0o600, 5, 1)?;
        cpio.file("bin/busybox", 0o755, &busybox)?;
        cpio.symlink("bin/sh", "busybox")?;
        cpio.file("init", 0o755, INITRAMFS_INIT.as_bytes())?;
        for (i, module) in modules.iter().enumerate() {
            let data = fs::read(module)?;
            let name = module
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            cpio.file(&format!("modules/{i:02}-{name}"), 0o644, &data)?;
        }
        cpio.finish()?.finish()
    })()
    .map_err(io)?;
    write_atomically(&path, &archive)?;
    Ok(path)
}

/// Writes `data` to a temporary file next to `path`, then renames it into place.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".tmp-{}-{name}", std::process::id()));
    let mut file = File::create(&tmp).map_err(io_err(format!("create {}", tmp.display())))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(io_err(format!("write {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(io_err(format!("rename {} into place", tmp.display())))
}

/// Removes `.tmp-*` entries: called with the cache lock held, so they are leftovers of a prepare
/// that was killed.
fn remove_stale_temporaries(cache_dir: &Path) {
    for entry in fs::read_dir(cache_dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let path = entry.path();
            let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
        }
    }
}

/// FNV-1a, 64 bits: names cache files after their inputs (not a security measure).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
