//! USB redirection against the real Linux guest (QEMU `qemu-xhci` with two
//! `usb-redir` chardevs on SPICE usbredir channels): Sumac's virtual disk
//! appears in the guest with its size and ids, the guest reads a file from
//! it byte-identical, writes one that the test finds in the image, the
//! unplug removes it cleanly, and two disks work at once on the two
//! channels. One boot for every case; each case leaves the guest without
//! USB disks. Throughput figures (dd in the guest) are printed for
//! BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sumac::client::usb::{UsbDeviceId, UsbDeviceState, UsbHandle};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac_test_guest::{Guest, GuestGroup, GuestOptions};
use tokio::sync::mpsc::UnboundedReceiver;

/// How the guest lists USB disks: "NAME VID:PID SECTORS" per line.
const LIST_USB_DISKS: &str = r#"for b in /sys/block/sd*; do [ -e "$b" ] || continue; p=$(readlink -f "$b/device"); while [ "$p" != / ]; do if [ -f "$p/idVendor" ]; then echo "$(basename "$b") $(cat "$p/idVendor"):$(cat "$p/idProduct") $(cat "$b/size")"; break; fi; p=$(dirname "$p"); done; done"#;

const MNT: &str = "/tmp/sumac-usb";

struct Client {
    handle: SessionHandle,
    events: UnboundedReceiver<SessionEvent>,
}

impl Client {
    fn connect(g: &Guest) -> Client {
        let config = ConnectionConfig::from_uri(&g.spice_uri()).expect("spice uri");
        let (handle, events) = sumac::client::connect(config, SessionOptions::default()).expect("connect");
        let c = Client { handle, events };
        // Both usbredir channels linked and free.
        c.wait("two free usbredir channels", Duration::from_secs(60), |usb| {
            usb.channels() == (2, 2)
        });
        c
    }

    fn usb(&self) -> UsbHandle {
        self.handle.usb()
    }

    fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            if let SessionEvent::Disconnected { error } = e {
                panic!("session ended: {error:?}");
            }
        }
    }

    fn wait(&self, what: &str, timeout: Duration, mut ok: impl FnMut(&UsbHandle) -> bool) {
        let usb = self.usb();
        let deadline = Instant::now() + timeout;
        while !ok(&usb) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                usb.devices()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn state(&self, id: UsbDeviceId) -> UsbDeviceState {
        self.usb().device(id).expect("device listed").state
    }

    fn plug(&mut self, image: &Path, read_only: bool) -> UsbDeviceId {
        let id = self.usb().add_disk(image, read_only).expect("add disk");
        self.usb().connect(id).expect("connect");
        self.wait("the disk connected", Duration::from_secs(30), |u| {
            matches!(u.device(id).map(|d| d.state), Some(UsbDeviceState::Connected { .. }))
        });
        self.drain();
        id
    }

    fn unplug(&mut self, id: UsbDeviceId) {
        self.usb().disconnect(id).expect("disconnect");
        self.wait("the disk released", Duration::from_secs(30), |u| {
            u.device(id).map(|d| d.state) == Some(UsbDeviceState::Idle)
        });
        self.usb().remove(id).expect("remove");
        self.drain();
    }
}

/// Waits until the guest lists `count` USB disks; returns the lines.
fn guest_disks(g: &Guest, count: usize) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = g.run_ok(LIST_USB_DISKS)?;
        let lines: Vec<String> = out.lines().map(str::to_owned).collect();
        if lines.len() == count {
            return Ok(lines);
        }
        if Instant::now() > deadline {
            return Err(format!("the guest lists {lines:?}, expected {count} USB disks").into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn sha256_host(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// An ext2 image of `mib` MiB holding `files` (name, content).
fn ext2_image(dir: &Path, name: &str, mib: u32, files: &[(&str, &[u8])]) -> PathBuf {
    let content = dir.join(format!("{name}.d"));
    std::fs::create_dir_all(&content).unwrap();
    for (f, data) in files {
        std::fs::write(content.join(f), data).unwrap();
    }
    let image = dir.join(format!("{name}.img"));
    let status = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "4096", "-L", name, "-d"])
        .arg(&content)
        .arg(&image)
        .arg(format!("{mib}M"))
        .status()
        .expect("mke2fs (e2fsprogs)");
    assert!(status.success());
    image
}

fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Mounts the USB disk `dev` in the guest, runs `body`, unmounts.
fn with_mount(g: &Guest, dev: &str, ro: bool, body: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let opts = if ro { "-o ro" } else { "" };
    let out = g.run_ok(&format!(
        "mkdir -p {MNT} && mount {opts} /dev/{dev} {MNT} && ( {body} ); rc=$?; umount {MNT}; rmdir {MNT}; exit $rc"
    ))?;
    Ok(out)
}

fn cpu_time() -> Duration {
    sumac_test_guest::process_cpu_time(std::process::id()).unwrap_or_default()
}

fn dd_rate(out: &str) -> String {
    // "67108864 bytes (67 MB, 64 MiB) copied, 3.2 s, 21.0 MB/s"
    out.lines()
        .find(|l| l.contains("copied"))
        .and_then(|l| l.rsplit(", ").next())
        .unwrap_or("?")
        .to_owned()
}

#[test]
fn usb_redirection_on_a_real_guest() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    GuestGroup::new("usbredir", GuestOptions::default().usbredir())
        .case("a read-only disk: size, ids, a file read byte-identical, unplug", |g| {
            let data = pseudo_random(3 << 20, 1);
            let image = ext2_image(dir, "ro", 16, &[("data.bin", &data)]);
            let expect = {
                let f = dir.join("ro.d/data.bin");
                sha256_host(&f)
            };
            let mut c = Client::connect(g);
            let id = c.plug(&image, true);
            let disks = guest_disks(g, 1)?;
            let fields: Vec<&str> = disks[0].split_whitespace().collect();
            assert_eq!(fields[1], "1209:0001", "{disks:?}");
            assert_eq!(fields[2], (16u64 * 1024 * 1024 / 512).to_string(), "{disks:?}");
            let dev = fields[0].to_owned();
            let lsblk = g.run_ok(&format!("lsblk -dn -o SIZE,RO,TRAN /dev/{dev}"))?;
            eprintln!("guest lsblk /dev/{dev}: {lsblk}");
            assert!(lsblk.contains("16M"), "{lsblk}");
            assert_eq!(lsblk.split_whitespace().nth(1), Some("1"), "write-protected: {lsblk}");
            if g.run("command -v lsusb")?.success() {
                let lsusb = g.run_ok("lsusb -d 1209:0001")?;
                eprintln!("guest lsusb: {lsusb}");
                assert!(lsusb.contains("1209:0001"), "{lsusb}");
            }
            let sum = with_mount(g, &dev, true, &format!("sha256sum {MNT}/data.bin"))?;
            assert!(sum.starts_with(&expect), "guest {sum} host {expect}");
            c.unplug(id);
            guest_disks(g, 0)?;
            let dmesg = g.run_ok("dmesg | tail -n 30")?;
            assert!(dmesg.contains("USB disconnect"), "{dmesg}");
            c.handle.disconnect();
            Ok(())
        })
        .case("a read-write disk keeps what the guest wrote", |g| {
            let image = ext2_image(dir, "rw", 16, &[("hello.txt", b"from the host\n")]);
            let mut c = Client::connect(g);
            let id = c.plug(&image, false);
            let dev = guest_disks(g, 1)?[0].split_whitespace().next().unwrap().to_owned();
            let note = "written by the guest through Sumac\n";
            with_mount(
                g,
                &dev,
                false,
                &format!("cat {MNT}/hello.txt && printf '{}' > {MNT}/from-guest.txt && sync", note.replace('\n', "\\n")),
            )?;
            c.unplug(id);
            guest_disks(g, 0)?;
            c.handle.disconnect();
            let out = Command::new("debugfs")
                .args(["-R", "cat /from-guest.txt"])
                .arg(&image)
                .output()
                .expect("debugfs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), note);
            Ok(())
        })
        .case("two disks on two channels at once", |g| {
            let a = pseudo_random(1 << 20, 2);
            let b = pseudo_random(1 << 20, 3);
            let ia = ext2_image(dir, "a", 8, &[("a.bin", &a)]);
            let ib = ext2_image(dir, "b", 12, &[("b.bin", &b)]);
            let (sa, sb) = (sha256_host(&dir.join("a.d/a.bin")), sha256_host(&dir.join("b.d/b.bin")));
            let mut c = Client::connect(g);
            let ida = c.plug(&ia, true);
            let idb = c.plug(&ib, true);
            assert_eq!(c.usb().channels(), (0, 2));
            let ch = |id| c.state(id).channel();
            assert_ne!(ch(ida), ch(idb));
            let disks = guest_disks(g, 2)?;
            for line in &disks {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (file, sum) = if f[2] == (8u64 << 11).to_string() { ("a.bin", &sa) } else { ("b.bin", &sb) };
                let got = with_mount(g, f[0], true, &format!("sha256sum {MNT}/{file}"))?;
                assert!(got.starts_with(sum.as_str()), "{line}: {got}");
            }
            // A third disk finds no free channel.
            let ic = ext2_image(dir, "c", 4, &[]);
            let idc = c.usb().add_disk(&ic, true)?;
            let err = c.usb().connect(idc).unwrap_err();
            assert!(err.to_string().contains("no free USB redirection channel"), "{err}");
            c.usb().remove(idc)?;
            c.unplug(ida);
            c.unplug(idb);
            guest_disks(g, 0)?;
            c.handle.disconnect();
            Ok(())
        })
        .case("throughput of the virtual disk seen by the guest (dd)", |g| {
            let image = dir.join("raw.img");
            std::fs::write(&image, vec![0u8; 96 << 20]).unwrap();
            let mut c = Client::connect(g);
            let id = c.plug(&image, false);
            let dev = guest_disks(g, 1)?[0].split_whitespace().next().unwrap().to_owned();
            let cpu0 = cpu_time();
            let w = g.run_ok(&format!(
                "dd if=/dev/urandom of=/tmp/usb-src bs=1M count=64 status=none && dd if=/tmp/usb-src of=/dev/{dev} bs=1M oflag=direct 2>&1; rm -f /tmp/usb-src"
            ))?;
            let cpu1 = cpu_time();
            let r = g.run_ok(&format!("dd if=/dev/{dev} of=/dev/null bs=1M count=64 iflag=direct 2>&1"))?;
            let cpu2 = cpu_time();
            let per_mb = |d: Duration| d.as_secs_f64() * 1000.0 / 64.0;
            eprintln!(
                "BENCH usb-disk: write {} ({:.1} ms CPU/MB in Sumac), read {} ({:.1} ms CPU/MB in Sumac), accel {:?}",
                dd_rate(&w),
                per_mb(cpu1 - cpu0),
                dd_rate(&r),
                per_mb(cpu2 - cpu1),
                g.accel()
            );
            assert!(w.contains("copied") && r.contains("copied"), "{w}\n{r}");
            c.unplug(id);
            guest_disks(g, 0)?;
            c.handle.disconnect();
            // What the guest wrote is in the image: not all zeros any more.
            let data = std::fs::read(&image).unwrap();
            assert!(data[..64 << 20].iter().any(|&b| b != 0));
            Ok(())
        })
        .run();
}
