//! QEMU for the guest: its command line, the choice of accelerator and the process itself.
//!
//! Process policy (as in `tests/e2e/real`): QEMU is our child, started through `setpriv --pdeathsig
//! KILL` by a keeper thread that lives as long as the guest, so that QEMU dies with the test process
//! even when no destructor runs (Ctrl+C, a runner's timeout). No `-daemonize` (a daemon would lose
//! the parent-death signal). It is stopped through its `Child` handle only: never by name, never a
//! PID that might have been reused.

use crate::error::{Error, Result, io_err};
use crate::host::{file_tail, find_program};
use crate::image::GuestImage;
use crate::options::{Accel, GuestOptions};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) const QEMU: &str = "qemu-system-x86_64";

/// The smartcard reader's USB controller: UHCI (one packet of at most 64 bytes per transfer
/// descriptor), not xHCI. QEMU 7.2's `usb-ccid` keeps a reply whose last packet is exactly 64
/// bytes (its bulk endpoint's packet size) queued, to end it with a zero-length packet on the
/// next IN; on xHCI one IN covers the guest's whole (larger) buffer, so the 64-byte reply
/// already ended short and that zero-length packet becomes the answer to the guest's next
/// command (libccid: "Not enough data received: 0 bytes"), every later answer one command late.
/// Newer QEMU releases the reply when the transfer was larger than the data.
pub(crate) const SMARTCARD_CONTROLLER: &str = "piix3-usb-uhci,id=uhci";

/// Files of one QEMU instance (in the guest's run directory).
pub(crate) struct RunPaths {
    pub ctl: PathBuf,
    pub console: PathBuf,
    pub qemu_log: PathBuf,
    pub qmp: PathBuf,
    pub pidfile: PathBuf,
}

impl RunPaths {
    pub fn new(dir: &Path) -> Self {
        Self {
            ctl: dir.join("ctl"),
            console: dir.join("console.log"),
            qemu_log: dir.join("qemu.log"),
            qmp: dir.join("qmp.sock"),
            pidfile: dir.join("qemu.pid"),
        }
    }
}

/// SPICE ports of one boot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub plain: Option<u16>,
    pub tls: Option<u16>,
}

/// The QEMU arguments for a guest (see real-guest.md for why each is there).
pub(crate) fn arguments(
    image: &GuestImage,
    opts: &GuestOptions,
    accel: Accel,
    ports: Ports,
    paths: &RunPaths,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |args: &[&str]| a.extend(args.iter().map(|s| s.to_string()));
    push(&["-machine", "pc"]);
    match accel {
        // tb-size: the default 1 GiB translation cache becomes resident (1.66 GiB RSS).
        Accel::Tcg | Accel::Auto => push(&["-accel", "tcg,tb-size=256", "-cpu", "max"]),
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
    }
    let memory = opts.memory_mib.to_string();
    push(&["-smp", "1", "-m", &memory]);
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-vga",
        "qxl",
    ]);

    let mut spice = vec!["addr=127.0.0.1".to_string()];
    if let Some(port) = ports.plain {
        spice.push(format!("port={port}"));
    }
    if let (Some(tls), Some(port)) = (&opts.tls, ports.tls) {
        spice.push(format!("tls-port={port}"));
        spice.push(format!("x509-dir={}", tls.x509_dir.display()));
    }
    match &opts.password {
        Some(password) => {
            push(&["-object", &format!("secret,id=spicepw,data={password}")]);
            spice.push("password-secret=spicepw".into());
        }
        None => spice.push("disable-ticketing=on".into()),
    }
    spice.extend(opts.spice_extra.iter().cloned());
    push(&["-spice", &spice.join(",")]);

    push(&["-device", "virtio-serial-pci,id=vser0"]);
    if opts.agent {
        push(&["-chardev", "spicevmc,id=vdagent,name=vdagent"]);
        push(&[
            "-device",
            "virtserialport,bus=vser0.0,nr=1,chardev=vdagent,name=com.redhat.spice.0",
        ]);
    }
    if opts.webdav {
        push(&["-chardev", "spiceport,id=webdav,name=org.spice-space.webdav.0"]);
        push(&[
            "-device",
            "virtserialport,bus=vser0.0,nr=2,chardev=webdav,name=org.spice-space.webdav.0",
        ]);
    }
    if opts.qmp_port {
        push(&["-chardev", "spiceport,id=qmpport,name=org.qemu.monitor.qmp.0"]);
        push(&["-mon", "chardev=qmpport,mode=control"]);
    }
    if opts.audio {
        push(&[
            "-audiodev",
            "spice,id=snd0",
            "-device",
            "ich9-intel-hda",
            "-device",
            "hda-duplex,audiodev=snd0",
        ]);
    }
    if opts.usbredir {
        push(&["-device", "qemu-xhci,id=xhci"]);
    }
    if opts.usbredir {
        for n in 1..=2 {
            push(&["-chardev", &format!("spicevmc,name=usbredir,id=usbredir{n}")]);
            push(&[
                "-device",
                &format!("usb-redir,chardev=usbredir{n},id=redir{n},bus=xhci.0"),
            ]);
        }
    }
    if opts.smartcard {
        // The reader on its own UHCI controller, not on xHCI: see `SMARTCARD_CONTROLLER`.
        push(&[
            "-device",
            SMARTCARD_CONTROLLER,
            "-device",
            "usb-ccid,bus=uhci.0",
            "-chardev",
            "spicevmc,id=ccid,name=smartcard",
        ]);
        push(&["-device", "ccid-card-passthru,chardev=ccid"]);
    }

    let ctl = format!(
        "local,path={},mount_tag=guestctl,security_model=none,multidevs=remap",
        paths.ctl.display()
    );
    push(&[
        "-virtfs",
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    ]);
    push(&["-virtfs", &ctl]);
    let kernel = image.kernel.display().to_string();
    let initrd = image.initrd.display().to_string();
    // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer
    // check can miss its ticks and panic ("IO-APIC + timer doesn't work!").
    let append = format!(
        "console=ttyS0,115200 loglevel=4 panic=-1 consoleblank=0 no_timer_check sumac.init={}",
        image.guest_init.display()
    );
    push(&["-kernel", &kernel, "-initrd", &initrd, "-append", &append]);
    // The guest console (ttyS0) into a file; the spiceport serial console is ttyS1.
    push(&[
        "-chardev",
        &format!("file,id=con0,path={}", paths.console.display()),
        "-serial",
        "chardev:con0",
    ]);
    if opts.serial {
        push(&[
            "-chardev",
            "spiceport,id=ser1,name=org.qemu.console.serial.0",
            "-device",
            "isa-serial,chardev=ser1",
        ]);
    }
    push(&["-qmp", &format!("unix:{},server=on,wait=off", paths.qmp.display())]);
    push(&["-pidfile", &paths.pidfile.display().to_string()]);
    a.extend(opts.qemu_extra.iter().cloned());
    a
}

/// The accelerator to use for `requested` ([`Accel::Auto`] resolved).
pub(crate) fn choose_accel(requested: Accel, image: &GuestImage) -> Result<Accel> {
    match requested {
        Accel::Tcg => Ok(Accel::Tcg),
        Accel::Kvm => {
            if kvm_works(image) {
                Ok(Accel::Kvm)
            } else {
                Err(Error::Other(
                    "KVM was asked for (SUMAC_GUEST_ACCEL=kvm or Accel::Kvm) but does not work here".into(),
                ))
            }
        }
        Accel::Auto => Ok(if kvm_works(image) { Accel::Kvm } else { Accel::Tcg }),
    }
}

/// Whether KVM really works: vmx/svm in the CPU flags (a nested, software `/dev/kvm` without them
/// aborts or hangs with `-cpu host`), `/dev/kvm` opens read-write, and a `-cpu host` probe gets the
/// kernel to print its banner. Probed once per process.
fn kvm_works(image: &GuestImage) -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let flags = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let hardware = flags
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
        hardware
            && fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
            && kvm_probe(image).unwrap_or(false)
    })
}

/// Boots the guest kernel under KVM with no root file system and waits (≤ 15 s) for its banner on
/// the serial port.
fn kvm_probe(image: &GuestImage) -> Result<bool> {
    let dir = tempfile::Builder::new()
        .prefix("sumac-kvm-probe-")
        .tempdir()
        .map_err(io_err("create the KVM probe directory"))?;
    let serial = dir.path().join("serial.log");
    let mut cmd = qemu_command();
    cmd.args([
        "-machine",
        "pc",
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-m",
        "256",
        "-nodefaults",
    ]);
    cmd.args(["-no-user-config", "-display", "none", "-no-reboot", "-kernel"]);
    cmd.arg(&image.kernel);
    cmd.args(["-append", "console=ttyS0 panic=-1 no_timer_check", "-serial"]);
    cmd.arg(format!("file:{}", serial.display()));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io_err("start the KVM probe"))?;
    let start = Instant::now();
    let booted = loop {
        if fs::read(&serial).is_ok_and(|s| s.windows(13).any(|w| w == b"Linux version")) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(15) || matches!(child.try_wait(), Ok(Some(_))) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(booted)
}

/// `qemu-system-x86_64` under `setpriv --pdeathsig KILL` (util-linux), which execs it: the child's
/// PID is QEMU's. Without setpriv, QEMU directly.
fn qemu_command() -> Command {
    if let Some(setpriv) = find_program("setpriv") {
        let mut cmd = Command::new(setpriv);
        cmd.args(["--pdeathsig", "KILL", "--", QEMU]);
        cmd
    } else {
        Command::new(QEMU)
    }
}

/// A running QEMU, our child.
pub(crate) struct QemuProcess {
    child: Mutex<Child>,
    pid: u32,
    status: Mutex<Option<ExitStatus>>,
    /// Dropping it lets the keeper thread (QEMU's parent thread for the death signal) end.
    release: Option<mpsc::Sender<()>>,
    keeper: Option<JoinHandle<()>>,
}

impl QemuProcess {
    /// Starts QEMU with `args`, its stdout and stderr into `log`.
    pub fn spawn(args: Vec<String>, log: &Path) -> Result<QemuProcess> {
        let log_out = File::create(log).map_err(io_err("create qemu.log"))?;
        let log_err = log_out.try_clone().map_err(io_err("duplicate qemu.log"))?;
        let (child_tx, child_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let keeper = std::thread::Builder::new()
            .name("sumac-guest-qemu".into())
            .spawn(move || {
                let spawned = qemu_command()
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(log_out)
                    .stderr(log_err)
                    .spawn();
                let ok = spawned.is_ok();
                let _ = child_tx.send(spawned);
                if ok {
                    // Park until the guest is gone: QEMU's parent-death signal follows this thread.
                    let _ = release_rx.recv();
                }
            })
            .map_err(io_err("start the QEMU keeper thread"))?;
        let child = child_rx
            .recv()
            .map_err(|_| Error::Other("the QEMU keeper thread died".into()))?
            .map_err(io_err(format!("start {QEMU} (package qemu-system-x86)")))?;
        Ok(QemuProcess {
            pid: child.id(),
            child: Mutex::new(child),
            status: Mutex::new(None),
            release: Some(release_tx),
            keeper: Some(keeper),
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// QEMU's exit status once it has exited (reaps it).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if status.is_none() {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(Some(s)) = child.try_wait() {
                *status = Some(s);
            }
        }
        *status
    }

    /// Waits up to `timeout` for QEMU to exit.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL to our child (never another process: it is not reaped until we wait for it).
    pub fn kill(&self) {
        if self.exit_status().is_none() {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.kill();
            if let Ok(s) = child.wait() {
                *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
            }
        }
    }

    /// An [`Error::QemuExited`] for `status`, with the logs' tails.
    pub fn exited_error(status: ExitStatus, context: &str, paths: &RunPaths) -> Error {
        Error::QemuExited {
            status: status.to_string(),
            context: context.to_string(),
            qemu_log: file_tail(&paths.qemu_log, 20),
            console: file_tail(&paths.console, 40),
        }
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.kill();
        drop(self.release.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::GuestOptions;

    fn image() -> GuestImage {
        GuestImage {
            cache_dir: "/cache".into(),
            kernel_release: "6.1.0-57-amd64".into(),
            kernel_package: "linux-image-6.1.0-57-amd64 6.1.192-3".into(),
            kernel_dir: "/cache/kernel".into(),
            kernel: "/cache/kernel/boot/vmlinuz-6.1.0-57-amd64".into(),
            initrd: "/cache/initrd.img".into(),
            guest_init: "/cache/guest-init.sh".into(),
        }
    }

    fn args(opts: &GuestOptions, ports: Ports) -> String {
        arguments(&image(), opts, Accel::Tcg, ports, &RunPaths::new(Path::new("/run/g"))).join(" ")
    }

    #[test]
    fn bare_guest_has_no_optional_device() {
        let a = args(
            &GuestOptions::default(),
            Ports {
                plain: Some(5900),
                tls: None,
            },
        );
        assert!(a.contains("-accel tcg,tb-size=256"), "{a}");
        assert!(
            a.contains("-spice addr=127.0.0.1,port=5900,disable-ticketing=on"),
            "{a}"
        );
        assert!(
            a.contains("-m 1024") && a.contains("-vga qxl") && a.contains("-no-reboot"),
            "{a}"
        );
        assert!(a.contains("sumac.init=/cache/guest-init.sh"), "{a}");
        assert!(a.contains("path=/run/g/ctl,mount_tag=guestctl"), "{a}");
        for absent in [
            "vdagent",
            "webdav",
            "qmpport",
            "audiodev",
            "usb-redir",
            "ser1",
            "ccid",
            "-daemonize",
        ] {
            assert!(!a.contains(absent), "{absent} in {a}");
        }
    }

    /// The smartcard reader alone: on its UHCI controller, no xHCI (see `SMARTCARD_CONTROLLER`).
    #[test]
    fn smartcard_reader_on_uhci() {
        let a = args(
            &GuestOptions::default().smartcard(),
            Ports {
                plain: Some(5900),
                tls: None,
            },
        );
        assert!(
            a.contains("-device piix3-usb-uhci,id=uhci -device usb-ccid,bus=uhci.0"),
            "{a}"
        );
        assert!(!a.contains("xhci"), "{a}");
    }

    #[test]
    fn every_device_and_security_option() {
        let opts = GuestOptions::all().password("s3cret").tls("/pki", true);
        let a = args(
            &opts,
            Ports {
                plain: None,
                tls: Some(5901),
            },
        );
        for present in [
            "name=com.redhat.spice.0",
            "name=org.spice-space.webdav.0",
            "spiceport,id=qmpport,name=org.qemu.monitor.qmp.0",
            "-mon chardev=qmpport,mode=control",
            "hda-duplex,audiodev=snd0",
            "usb-redir,chardev=usbredir1",
            "usb-redir,chardev=usbredir2",
            "name=org.qemu.console.serial.0",
            "ccid-card-passthru,chardev=ccid",
            "piix3-usb-uhci,id=uhci -device usb-ccid,bus=uhci.0",
            "-object secret,id=spicepw,data=s3cret",
            "tls-port=5901,x509-dir=/pki,password-secret=spicepw",
        ] {
            assert!(a.contains(present), "{present} missing in {a}");
        }
        assert!(!a.contains("port=5900") && !a.contains("disable-ticketing"), "{a}");
        assert!(!a.contains(",port="), "TLS only: no plain port in {a}");
    }
}
