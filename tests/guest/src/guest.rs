//! A booted guest: boot, readiness, QMP, logs, power-off.

use crate::error::{Error, Result, io_err};
use crate::host::{SMARTCARD_PACKAGES, file_tail, process_rss_kib, require_packages};
use crate::image::GuestImage;
use crate::options::{Accel, GuestOptions};
use crate::qemu::{self, Ports, QemuProcess, RunPaths};
use crate::qmp::Qmp;
use crate::slot::{self, Slot};
use serde_json::Value;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// The control share's mount point in the guest.
pub const GUEST_CTL_DIR: &str = "/sumac/ctl";
/// A directory of the control share for files on their way in or out of the guest: the host side
/// is [`Guest::host_share_dir`].
pub const GUEST_SHARE_DIR: &str = "/sumac/ctl/share";
/// The port spice-webdavd listens on in the guest.
pub const WEBDAV_PORT: u16 = 9843;

/// A running guest (see the crate documentation). Powered off when dropped.
pub struct Guest {
    pub(crate) image: GuestImage,
    pub(crate) opts: GuestOptions,
    accel: Accel,
    /// The run directory (removed on drop unless `SUMAC_GUEST_KEEP` is set).
    dir: Option<tempfile::TempDir>,
    pub(crate) paths: RunPaths,
    ports: Ports,
    pub(crate) qemu: QemuProcess,
    qmp: Mutex<Option<Qmp>>,
    pub(crate) next_id: AtomicU64,
    boot_time: Duration,
    stopped: bool,
    _slot: Slot,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("pid", &self.qemu.pid())
            .field("spice_port", &self.ports.plain)
            .field("tls_port", &self.ports.tls)
            .field("accel", &self.accel)
            .field("run_dir", &self.run_dir())
            .finish_non_exhaustive()
    }
}

/// What [`Guest::boot_once`] hands over.
struct Booted {
    dir: tempfile::TempDir,
    paths: RunPaths,
    ports: Ports,
    qemu: QemuProcess,
    boot_time: Duration,
}

/// How a guest stopped.
#[derive(Debug, Clone)]
pub struct StopReport {
    /// Powered off by the guest itself (sync + sysrq `o`), not quit or killed.
    pub clean: bool,
    pub took: Duration,
}

impl Guest {
    /// Prepares the image (cached) and boots a guest with `opts`, waiting until it reports ready:
    /// Xorg up, plus spice-vdagent attached / spice-webdavd running when enabled. Waits for a free
    /// guest slot first (`SUMAC_GUEST_SLOTS`).
    pub fn boot(opts: GuestOptions) -> Result<Guest> {
        let image = GuestImage::prepare()?;
        Self::boot_image(image, opts)
    }

    /// [`Guest::boot`] with an already prepared image.
    pub fn boot_image(image: GuestImage, opts: GuestOptions) -> Result<Guest> {
        if opts.smartcard {
            require_packages(SMARTCARD_PACKAGES)?;
        }
        if let Some(tls) = &opts.tls
            && !tls.x509_dir.join("server-cert.pem").is_file()
        {
            return Err(Error::Other(format!(
                "TLS: {} has no server-cert.pem (QEMU's x509-dir needs ca-cert.pem, server-cert.pem, server-key.pem)",
                tls.x509_dir.display()
            )));
        }
        let accel = qemu::choose_accel(opts.effective_accel(), &image)?;
        let slot = slot::acquire(&image.cache_dir)?;
        // A port picked free can be taken before QEMU binds it (other people's servers run here):
        // then QEMU exits at once, and we try again with new ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::boot_once(&image, &opts, accel, attempt == 3) {
                Ok(booted) => {
                    return Ok(Guest {
                        image,
                        opts,
                        accel,
                        dir: Some(booted.dir),
                        paths: booted.paths,
                        ports: booted.ports,
                        qemu: booted.qemu,
                        qmp: Mutex::new(None),
                        next_id: AtomicU64::new(1),
                        boot_time: booted.boot_time,
                        stopped: false,
                        _slot: slot,
                    });
                }
                Err(Error::QemuExited { qemu_log, .. }) if attempt < 3 && port_conflict(&qemu_log) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// One QEMU start, up to the guest's "ready".
    fn boot_once(image: &GuestImage, opts: &GuestOptions, accel: Accel, last_attempt: bool) -> Result<Booted> {
        let start = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("sumac-guest-")
            .tempdir()
            .map_err(io_err("create the guest run directory"))?;
        remove_stale_run_dirs(dir.path());
        let paths = RunPaths::new(dir.path());
        for sub in ["cmd", "out", "log", "share"] {
            fs::create_dir_all(paths.ctl.join(sub)).map_err(io_err("create the control share"))?;
        }
        fs::write(paths.ctl.join("config.sh"), guest_config(image, opts)).map_err(io_err("write config.sh"))?;
        let tls_only = opts.tls.as_ref().is_some_and(|t| t.tls_only);
        let ports = Ports {
            plain: (!tls_only).then(free_port).transpose()?,
            tls: opts.tls.as_ref().map(|_| free_port()).transpose()?,
        };
        let args = qemu::arguments(image, opts, accel, ports, &paths);
        let qemu = QemuProcess::spawn(args, &paths.qemu_log)?;
        match wait_ready(&qemu, &paths, accel, opts.effective_boot_timeout(), start) {
            Ok(()) => Ok(Booted {
                dir,
                paths,
                ports,
                qemu,
                boot_time: start.elapsed(),
            }),
            Err(e) => {
                drop(qemu);
                // Port conflicts are retried; other failures leave the logs for people to read.
                if last_attempt || !matches!(&e, Error::QemuExited { qemu_log, .. } if port_conflict(qemu_log)) {
                    let kept = keep(dir);
                    eprintln!("sumac-test-guest: the failed boot's logs stay in {}", kept.display());
                }
                Err(e)
            }
        }
    }

    /// The plain SPICE port on 127.0.0.1 (`None` with TLS only).
    pub fn spice_port(&self) -> Option<u16> {
        self.ports.plain
    }

    /// The SPICE TLS port on 127.0.0.1 (with TLS options).
    pub fn tls_port(&self) -> Option<u16> {
        self.ports.tls
    }

    /// The SPICE password, if any.
    pub fn password(&self) -> Option<&str> {
        self.opts.password.as_deref()
    }

    /// `spice://127.0.0.1?port=P[&tls-port=T][&password=PW]`, for clients.
    pub fn spice_uri(&self) -> String {
        let mut query = Vec::new();
        if let Some(p) = self.ports.plain {
            query.push(format!("port={p}"));
        }
        if let Some(p) = self.ports.tls {
            query.push(format!("tls-port={p}"));
        }
        if let Some(pw) = &self.opts.password {
            query.push(format!("password={pw}"));
        }
        format!("spice://127.0.0.1?{}", query.join("&"))
    }

    pub fn options(&self) -> &GuestOptions {
        &self.opts
    }

    pub fn image(&self) -> &GuestImage {
        &self.image
    }

    /// The accelerator actually used (`Tcg` or `Kvm`).
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// From QEMU's start to the guest's "ready".
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// QEMU's PID (our child).
    pub fn pid(&self) -> u32 {
        self.qemu.pid()
    }

    /// QEMU's resident memory in KiB.
    pub fn qemu_rss_kib(&self) -> Option<u64> {
        process_rss_kib(self.qemu.pid())
    }

    /// The host-side QMP socket (`-qmp unix:...`).
    pub fn qmp_socket(&self) -> &Path {
        &self.paths.qmp
    }

    /// The run directory on the host (control share, logs, QMP socket).
    pub fn run_dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// The host side of [`GUEST_SHARE_DIR`].
    pub fn host_share_dir(&self) -> PathBuf {
        self.paths.ctl.join("share")
    }

    /// Runs a QMP command on the host-side socket and returns its `return` value (events that
    /// arrive meanwhile are kept for [`Guest::qmp_events`]).
    pub fn qmp(&self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut qmp = self.qmp.lock().unwrap_or_else(|e| e.into_inner());
        if qmp.is_none() {
            *qmp = Some(Qmp::connect(&self.paths.qmp, Duration::from_secs(10))?);
        }
        let result = qmp.as_mut().map(|q| q.execute(command, arguments));
        match result {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => {
                // A broken connection is reopened next time; an error reply keeps it.
                if !matches!(&e, Error::Qmp(m) if m.starts_with(command)) {
                    *qmp = None;
                }
                Err(e)
            }
            None => Err(Error::Qmp("not connected".into())),
        }
    }

    /// QMP events received so far on the harness's connection (taken).
    pub fn qmp_events(&self) -> Vec<Value> {
        let mut qmp = self.qmp.lock().unwrap_or_else(|e| e.into_inner());
        qmp.as_mut().map(Qmp::take_events).unwrap_or_default()
    }

    /// Everything the guest wrote on its console (ttyS0: kernel messages, the init's steps).
    pub fn console_log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.paths.console).unwrap_or_default()).into_owned()
    }

    /// A log of the guest's daemons, by name: `syslog`, `Xorg.0.log`, `spice-vdagentd.log`,
    /// `spice-webdavd.log`, `udevd.log`, `resize.log`, `mixer.txt`... (empty when absent).
    pub fn guest_log(&self, name: &str) -> String {
        String::from_utf8_lossy(&fs::read(self.paths.ctl.join("log").join(name)).unwrap_or_default()).into_owned()
    }

    /// Whether QEMU still runs.
    pub fn is_running(&self) -> bool {
        self.qemu.exit_status().is_none()
    }

    /// Powers the guest off: `sync` + sysrq `o` in the guest (QEMU exits, `-no-reboot`), else QMP
    /// `quit`, else SIGKILL to the QEMU process we started. Removes the run directory.
    pub fn stop(mut self) -> Result<StopReport> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<StopReport> {
        let start = Instant::now();
        if self.stopped {
            return Ok(StopReport {
                clean: true,
                took: Duration::ZERO,
            });
        }
        self.stopped = true;
        let mut clean = false;
        if self.qemu.exit_status().is_none() {
            // Not through `run`: the guest never answers this one.
            let request = self.paths.ctl.join("cmd/poweroff.sh");
            let tmp = self.paths.ctl.join(".poweroff.tmp");
            let written =
                fs::write(&tmp, "sync\necho o >/proc/sysrq-trigger\n").and_then(|()| fs::rename(&tmp, &request));
            clean = written.is_ok() && self.qemu.wait_exit(Duration::from_secs(20)).is_some();
        }
        if self.qemu.exit_status().is_none() {
            let _ = self.qmp("quit", None);
            self.qemu.wait_exit(Duration::from_secs(5));
        }
        self.qemu.kill();
        if let Some(dir) = self.dir.take() {
            if std::env::var_os("SUMAC_GUEST_KEEP").is_some() {
                eprintln!("sumac-test-guest: keeping the run directory {}", keep(dir).display());
            } else {
                dir.close().map_err(io_err("remove the guest run directory"))?;
            }
        }
        Ok(StopReport {
            clean,
            took: start.elapsed(),
        })
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("sumac-test-guest: stopping the guest: {e}");
        }
    }
}

/// Waits for the guest's `ready` file; fails when QEMU exits (with what the guest init reported) or
/// after `timeout` (with what the guest was still waiting for).
fn wait_ready(qemu: &QemuProcess, paths: &RunPaths, accel: Accel, timeout: Duration, start: Instant) -> Result<()> {
    loop {
        if paths.ctl.join("ready").is_file() {
            return Ok(());
        }
        if let Some(status) = qemu.exit_status() {
            let failed = fs::read_to_string(paths.ctl.join("failed")).unwrap_or_default();
            let context = if failed.is_empty() {
                " while the guest booted".to_string()
            } else {
                format!(": the guest init failed: {}", failed.trim())
            };
            return Err(QemuProcess::exited_error(status, &context, paths));
        }
        if start.elapsed() > timeout {
            let waiting = fs::read_to_string(paths.ctl.join("waiting")).unwrap_or_default();
            let reason = if waiting.trim().is_empty() {
                format!("the guest init has not reached its readiness checks ({accel:?})")
            } else {
                format!("{} ({accel:?})", waiting.trim())
            };
            return Err(Error::NotReady {
                waited: start.elapsed(),
                reason,
                console: file_tail(&paths.console, 40),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Keeps a run directory for people to read (marked so that [`remove_stale_run_dirs`] leaves it).
fn keep(dir: tempfile::TempDir) -> PathBuf {
    let path = dir.keep();
    let _ = fs::write(path.join(KEEP_MARK), "");
    path
}

const KEEP_MARK: &str = ".keep";

/// Removes the run directories of guests whose test process was killed (SIGKILL, a runner's
/// timeout: no destructor ran; QEMU itself died with it). Such a directory still has QEMU's
/// pidfile (QEMU removes it when it exits normally) naming a process that is no QEMU any more.
/// Only directories of our user next to `new_dir`, never kept ones.
fn remove_stale_run_dirs(new_dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let (Some(parent), Ok(ours)) = (new_dir.parent(), fs::metadata(new_dir)) else {
        return;
    };
    for entry in fs::read_dir(parent).into_iter().flatten().flatten() {
        let path = entry.path();
        let is_run_dir = entry.file_name().to_string_lossy().starts_with("sumac-guest-") && path != new_dir;
        if !is_run_dir || path.join(KEEP_MARK).exists() || !fs::metadata(&path).is_ok_and(|m| m.uid() == ours.uid()) {
            continue;
        }
        let Some(pid) = fs::read_to_string(path.join("qemu.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !(crate::host::process_alive(pid) && comm.starts_with("qemu-system")) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// `config.sh`, sourced by the guest init.
fn guest_config(image: &GuestImage, opts: &GuestOptions) -> String {
    let flag = |on: bool| if on { "1" } else { "0" };
    format!(
        "# Written by sumac-test-guest for the guest init.\n\
         SUMAC_KDIR={kdir}\nSUMAC_AGENT={agent}\nSUMAC_WEBDAV={webdav}\nSUMAC_AUDIO={audio}\n\
         SUMAC_SERIAL={serial}\nSUMAC_SMARTCARD={smartcard}\nSUMAC_XFER_DIR={xfer}\nSUMAC_VOLUME={volume}\n\
         SUMAC_XORG_DRIVER={driver}\n",
        kdir = shell_quote(&image.kernel_dir.display().to_string()),
        agent = flag(opts.agent),
        webdav = flag(opts.webdav),
        audio = flag(opts.audio),
        serial = flag(opts.serial),
        smartcard = flag(opts.smartcard),
        xfer = shell_quote(&opts.xfer_dir),
        volume = opts.volume_percent.min(100),
        driver = shell_quote(&opts.xorg_driver),
    )
}

/// `s` as one shell word (single quotes).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("bind 127.0.0.1:0"))?;
    Ok(listener.local_addr().map_err(io_err("read a bound address"))?.port())
}

/// Whether QEMU's log says a SPICE port was taken.
fn port_conflict(qemu_log: &str) -> bool {
    qemu_log.contains("Address already in use") || qemu_log.contains("binding socket")
}
