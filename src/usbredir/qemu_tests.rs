//! The virtual disk against real QEMU, without SPICE: QEMU's `usb-redir` device on a TCP
//! socket chardev, a `qemu-xhci` controller, and [`serve`] playing the usb-host over the
//! socket. SeaBIOS enumerates the disk, reads its boot sector and runs it; the boot sector
//! prints a marker on the serial port. QEMU's monitor must list the device (`info usb`).
//!
//! Needs `qemu-system-x86_64` (Debian: qemu-system-x86); skipped when it is missing, a
//! failure when `CI` is set.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::msc::{BLOCK_SIZE, BlockStore, MassStorage, MscConfig, MscEvent, MscState, StoreError};
use crate::usbredir::file_store::FileStore;

const MARKER: &str = "SUMAC-USB-BOOT-OK";

/// A boot sector: prints [`MARKER`] on COM1 (port 0x3f8), then halts.
fn boot_sector() -> [u8; BLOCK_SIZE] {
    let mut code = vec![
        0xfa, // cli
        0xfc, // cld
        0x31, 0xc0, // xor ax, ax
        0x8e, 0xd8, // mov ds, ax
        0xbe, 0x17, 0x7c, // mov si, 0x7c17 (the message)
        0xba, 0xf8, 0x03, // mov dx, 0x3f8
        0xac, // next: lodsb
        0x84, 0xc0, // test al, al
        0x74, 0x03, // jz done
        0xee, // out dx, al
        0xeb, 0xf8, // jmp next
        0xf4, // done: hlt
        0xeb, 0xfd, // jmp done
    ];
    code.extend_from_slice(MARKER.as_bytes());
    code.extend_from_slice(b"\r\n\0");
    let mut sector = [0u8; BLOCK_SIZE];
    sector[..code.len()].copy_from_slice(&code);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    sector
}

/// A store that remembers which blocks were read.
struct Recording {
    inner: FileStore,
    reads: Vec<(u64, usize)>,
}

impl BlockStore for Recording {
    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), StoreError> {
        self.reads.push((lba, buf.len() / BLOCK_SIZE));
        self.inner.read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, data: &[u8]) -> Result<(), StoreError> {
        self.inner.write_blocks(lba, data)
    }
    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }
}

fn find_qemu() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("qemu-system-x86_64"))
        .find(|p| p.is_file())
}

/// Kills the QEMU it holds when dropped (the test's own child only).
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_qemu(qemu: &Path, dir: &Path, port: u16) -> Qemu {
    let serial = dir.join("serial.log");
    let monitor = dir.join("monitor.sock");
    let child = Command::new(qemu)
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-machine",
            "pc",
            "-accel",
            "tcg",
        ])
        .args(["-m", "64", "-boot", "strict=on,reboot-timeout=1000"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .args(["-device", "qemu-xhci,id=xhci"])
        .arg("-chardev")
        .arg(format!("socket,id=ur,host=127.0.0.1,port={port},server=on,wait=off"))
        .args(["-device", "usb-redir,chardev=ur,bus=xhci.0,bootindex=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start qemu-system-x86_64");
    Qemu(child)
}

fn connect(port: u16, deadline: Instant) -> TcpStream {
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("QEMU's usb-redir socket on port {port}: {e}"),
        }
    }
}

/// Serves `dev` on `sock` until `done` says so or `deadline` passes; returns the events seen.
pub(crate) fn serve<S: BlockStore>(
    dev: &mut MassStorage<S>,
    sock: &mut TcpStream,
    deadline: Instant,
    mut done: impl FnMut(&MassStorage<S>) -> bool,
) -> Vec<MscEvent> {
    sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    while Instant::now() < deadline && !done(dev) {
        while let Some(out) = dev.pop_output() {
            sock.write_all(&out).unwrap();
        }
        while let Some(e) = dev.pop_event() {
            events.push(e);
        }
        if pending.is_empty() {
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
                Err(e) => panic!("usb-redir socket: {e}"),
            }
        }
        let used = dev.feed(&pending);
        pending.drain(..used);
    }
    events
}

/// `info usb` on QEMU's human monitor.
fn info_usb(monitor: &Path) -> String {
    let mut m = UnixStream::connect(monitor).expect("QEMU monitor socket");
    m.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let mut read_to_prompt = |m: &mut UnixStream, text: &mut String| {
        while !text.ends_with("(qemu) ") {
            let n = m.read(&mut buf).expect("monitor read");
            assert!(n > 0, "monitor closed");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_to_prompt(&mut m, &mut text);
    text.clear();
    m.write_all(b"info usb\n").unwrap();
    read_to_prompt(&mut m, &mut text);
    text
}

#[test]
fn seabios_boots_from_the_virtual_disk_through_qemu_usb_redir() {
    let Some(qemu) = find_qemu() else {
        assert!(std::env::var_os("CI").is_none(), "CI needs qemu-system-x86_64");
        eprintln!("skipped: qemu-system-x86_64 not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    let mut data = vec![0u8; 2 << 20];
    data[..BLOCK_SIZE].copy_from_slice(&boot_sector());
    std::fs::write(&image, &data).unwrap();
    let port = free_port();
    let _qemu = start_qemu(&qemu, dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut sock = connect(port, Instant::now() + Duration::from_secs(20));
    let store = Recording {
        inner: FileStore::open(&image, true).unwrap(),
        reads: Vec::new(),
    };
    let mut dev = MassStorage::new(store, MscConfig::default());
    let serial = dir.path().join("serial.log");
    let booted = |_: &MassStorage<Recording>| std::fs::read_to_string(&serial).is_ok_and(|s| s.contains(MARKER));
    let events = serve(&mut dev, &mut sock, deadline, booted);
    assert!(events.contains(&MscEvent::Connected), "{events:?}");
    assert!(
        std::fs::read_to_string(&serial).is_ok_and(|s| s.contains(MARKER)),
        "SeaBIOS did not run the boot sector; events {events:?}"
    );
    assert_eq!(dev.state(), MscState::Connected);
    assert!(
        dev.store().reads.iter().any(|&(lba, _)| lba == 0),
        "{:?}",
        dev.store().reads
    );
    assert!(
        !events.iter().any(|e| matches!(e, MscEvent::ProtocolError(_))),
        "{events:?}"
    );
    // Keep serving while the monitor is asked (QEMU's reads of the socket must not stall).
    let usb = std::thread::scope(|s| {
        let h = s.spawn(|| info_usb(&dir.path().join("monitor.sock")));
        let until = Instant::now() + Duration::from_secs(15);
        serve(&mut dev, &mut sock, until, |_| h.is_finished());
        h.join().unwrap()
    });
    // The reply follows the echoed command line.
    let listing = usb
        .lines()
        .skip(1)
        .find(|l| l.contains("Device"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    eprintln!("info usb: {listing}; blocks read: {:?}", dev.store().reads);
    assert!(
        listing.contains("Speed 480 Mb/s") && listing.contains("USB Redirection Device"),
        "{usb}"
    );
}

/// Manual check with a Linux guest: `SUMAC_USBREDIR_KERNEL` and `SUMAC_USBREDIR_INITRD` name a
/// kernel and an initramfs whose init loads xhci-pci, usb-storage and sd_mod, reads and writes
/// `/dev/sda`, prints `GUEST-DONE` on ttyS0 and powers off. Prints the guest's console.
#[test]
#[ignore = "needs a guest kernel and initramfs (see the doc comment)"]
fn linux_guest_with_the_virtual_disk() {
    let (Some(kernel), Some(initrd), Some(qemu)) = (
        std::env::var_os("SUMAC_USBREDIR_KERNEL"),
        std::env::var_os("SUMAC_USBREDIR_INITRD"),
        find_qemu(),
    ) else {
        panic!("set SUMAC_USBREDIR_KERNEL and SUMAC_USBREDIR_INITRD");
    };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    let mut data = vec![0u8; 8 << 20];
    data[..BLOCK_SIZE].copy_from_slice(&boot_sector());
    data[7 * BLOCK_SIZE..7 * BLOCK_SIZE + 12].copy_from_slice(b"BLOCK7-DATA!");
    std::fs::write(&image, &data).unwrap();
    let port = free_port();
    let serial = dir.path().join("serial.log");
    let child = Command::new(qemu)
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-machine",
            "pc",
            "-accel",
            "tcg",
        ])
        .args(["-m", "256", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 loglevel=6 no_timer_check"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .args(["-device", "qemu-xhci,id=xhci"])
        .arg("-chardev")
        .arg(format!("socket,id=ur,host=127.0.0.1,port={port},server=on,wait=off"))
        .args(["-device", "usb-redir,chardev=ur,bus=xhci.0"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _qemu = Qemu(child);
    let mut sock = connect(port, Instant::now() + Duration::from_secs(20));
    let store = FileStore::open(&image, false).unwrap();
    let mut dev = MassStorage::new(store, MscConfig::default());
    let done = |_: &MassStorage<FileStore>| std::fs::read_to_string(&serial).is_ok_and(|s| s.contains("GUEST-DONE"));
    let events = serve(&mut dev, &mut sock, Instant::now() + Duration::from_secs(300), done);
    let console = std::fs::read_to_string(&serial).unwrap_or_default();
    eprintln!("{console}");
    eprintln!(
        "events: {:?}",
        events
            .iter()
            .filter(|e| !matches!(e, MscEvent::PeerHello { .. }))
            .collect::<Vec<_>>()
    );
    assert!(console.contains("GUEST-DONE"));
    assert!(
        console.contains("READBACK hello-from-guest"),
        "the guest's write did not come back"
    );
    drop(dev);
    assert_eq!(
        &std::fs::read(&image).unwrap()[100 * BLOCK_SIZE..100 * BLOCK_SIZE + 16],
        b"hello-from-guest"
    );
}
