//! The real-guest harness against a real guest: prepare, boot with every device, commands, files,
//! QMP with a reference client connected, power-off. Needs the host packages of scripts/setup: skips
//! without them, unless `CI` is set (then fails).

#![cfg(test)] // Test-only code (also tells clippy that panicking helpers are fine here).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sumac_test_guest::{Error, Guest, GuestImage, GuestOptions, RunOptions, in_ci, missing_packages, process_alive};

/// The image, or `None` (after saying why) when the host lacks packages outside CI.
fn prepare(extra_packages: &[&str]) -> Option<GuestImage> {
    let missing = missing_packages(extra_packages);
    let prepared = if missing.is_empty() {
        GuestImage::prepare()
    } else {
        Err(Error::MissingPackages { packages: missing })
    };
    match prepared {
        Ok(image) => Some(image),
        Err(Error::MissingPackages { packages }) if !in_ci() => {
            eprintln!(
                "skipping: missing Debian packages {} (scripts/setup installs them)",
                packages.join(" ")
            );
            None
        }
        Err(e) => panic!("cannot prepare the guest image: {e}"),
    }
}

/// spicy-stats (spice-client-gtk) connected to the guest: it opens every channel it knows,
/// webdav included. Killed by PID when dropped.
struct SpicyStats(Child);

impl Drop for SpicyStats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `channel-type` → how many, from QMP `query-spice`.
fn spice_channels(guest: &Guest) -> BTreeMap<u64, usize> {
    let spice = guest.qmp("query-spice", None).expect("query-spice");
    let mut channels = BTreeMap::new();
    for channel in spice["channels"].as_array().expect("query-spice has channels") {
        *channels
            .entry(channel["channel-type"].as_u64().expect("channel-type"))
            .or_default() += 1;
    }
    channels
}

#[test]
fn smoke_every_device() {
    let test_start = Instant::now();
    let Some(image) = prepare(&["spice-client-gtk"]) else {
        return;
    };
    let guest = Guest::boot_image(image.clone(), GuestOptions::all()).expect("boot the guest");
    eprintln!(
        "guest up in {:.1} s ({:?}), QEMU RSS {} MiB",
        guest.boot_time().as_secs_f64(),
        guest.accel(),
        guest.qemu_rss_kib().unwrap_or(0) / 1024
    );

    // The Debian kernel the harness unpacked.
    assert_eq!(guest.run_ok("uname -r").unwrap().trim(), image.kernel_release);
    // The agent, the WebDAV daemon, pcscd.
    for daemon in [
        "spice-vdagentd",
        "spice-vdagent",
        "spice-webdavd",
        "avahi-daemon",
        "pcscd",
        "Xorg",
    ] {
        let out = guest.run(&format!("pgrep -x {daemon}")).unwrap();
        assert!(out.success(), "{daemon} is not running in the guest: {out:?}");
    }
    let ports = guest.run_ok("cat /sys/class/virtio-ports/*/name").unwrap();
    for name in ["com.redhat.spice.0", "org.spice-space.webdav.0"] {
        assert!(ports.lines().any(|l| l == name), "virtio port {name} missing: {ports}");
        let link = guest.run(&format!("test -c /dev/virtio-ports/{name}")).unwrap();
        assert!(link.success(), "/dev/virtio-ports/{name} missing");
    }
    // Xorg on the qxl device at 1024x768.
    let xrandr = guest.run_x_ok("xrandr --current; xrandr --listproviders").unwrap();
    assert!(xrandr.contains("current 1024 x 768"), "{xrandr}");
    assert!(xrandr.contains("name:qxl"), "no qxl provider: {xrandr}");
    assert!(
        xrandr
            .lines()
            .any(|l| l.contains(" connected") && l.contains("1024x768+0+0")),
        "no output at 1024x768: {xrandr}"
    );
    // The udev rule behind client-driven resize: a DRM change event makes each connected output
    // take its preferred mode (a client's monitors config changes that mode; here it stays 1024x768).
    guest
        .run_ok("udevadm trigger --action=change /sys/class/drm/card0 && udevadm settle")
        .unwrap();
    let resized = guest.guest_log("resize.log");
    assert!(
        resized.contains("crtc 0:") && resized.contains("1024x768"),
        "resize.log: {resized:?}"
    );
    // Sound card with the mixer unmuted at the boot volume; the smartcard reader on USB.
    let mixer = guest.run_ok("aplay -l; amixer -c 0 sget Master").unwrap();
    assert!(mixer.contains("[80%]") && mixer.contains("[on]"), "{mixer}");
    let usb = guest.run_ok("cat /sys/bus/usb/devices/*/product").unwrap();
    assert!(usb.contains("CCID"), "no USB CCID reader: {usb}");
    // The serial console's shell on ttyS1.
    let serial = guest.run_ok("ps -eo tty,args | grep '^ttyS1' || true").unwrap();
    assert!(serial.contains("bash"), "no shell on ttyS1: {serial}");

    // Commands: status, both streams, time limit.
    let out = guest.run("echo out; echo err >&2; exit 3").unwrap();
    assert_eq!(
        (out.status, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let limited = RunOptions {
        timeout: Duration::from_secs(2),
        ..RunOptions::default()
    };
    assert_eq!(guest.run_with("sleep 30", &limited).unwrap().status, 124);
    assert!(matches!(
        guest.run_ok("false"),
        Err(Error::GuestCommand { status: 1, .. })
    ));
    // Files both ways, binary-safe.
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    guest.write_file("/tmp/smoke/in.bin", &data).unwrap();
    assert_eq!(guest.run_ok("wc -c < /tmp/smoke/in.bin").unwrap().trim(), "300000");
    assert_eq!(guest.read_file("/tmp/smoke/in.bin").unwrap(), data);
    guest.run_ok("rm -r /tmp/smoke").unwrap();
    // A background process, killed with its handle.
    let sleeper = guest.spawn("echo started; exec sleep 1000", false).unwrap();
    assert!(sleeper.is_running().unwrap());
    let pid = sleeper.pid();
    assert_eq!(sleeper.kill().unwrap(), "started\n");
    assert!(
        !guest.run(&format!("kill -0 {pid}")).unwrap().success(),
        "the spawned process survived"
    );

    // QMP on the host-side socket; the SPICE channels a reference client gets.
    assert_eq!(guest.qmp("query-status", None).unwrap()["status"], "running");
    let port = guest.spice_port().expect("a plain SPICE port");
    let stats = SpicyStats(
        Command::new("spicy-stats")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start spicy-stats"),
    );
    // main 1, display 2, inputs 3, cursor 4, playback 5, record 6, usbredir 9 (x2), port 10 (QMP
    // and the serial console), webdav 11. spicy-stats does not enable the smartcard channel.
    let expected = BTreeMap::from([(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (9, 2), (10, 2), (11, 1)]);
    let start = Instant::now();
    let channels = loop {
        let channels = spice_channels(&guest);
        if channels == expected || start.elapsed() > Duration::from_secs(60) {
            break channels;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        channels, expected,
        "SPICE channels (type → count) with spicy-stats connected"
    );
    let spice = guest.qmp("query-spice", None).unwrap();
    assert_eq!(
        spice["mouse-mode"], "client",
        "the agent is attached: client mouse mode ({spice})"
    );
    drop(stats);

    assert!(
        guest.console_log().contains("sumac-init"),
        "the console log has the init's steps"
    );
    let qemu_pid = guest.pid();
    assert!(process_alive(qemu_pid));
    let report = guest.stop().unwrap();
    assert!(report.clean, "the guest powered itself off");
    assert!(!process_alive(qemu_pid), "QEMU {qemu_pid} still runs after stop");
    eprintln!("smoke test: {:.1} s in all", test_start.elapsed().as_secs_f64());
}
