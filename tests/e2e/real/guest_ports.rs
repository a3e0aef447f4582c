//! Sumac's port channels and shared folder against the real guest (`sumac-test-guest`): one
//! guest with spice-webdavd, QEMU's QMP monitor and HMP on port channels, and a shell on a
//! spiceport serial console (ttyS1).
//!
//! - shared folder: the guest's spice-webdavd serves Sumac's folder on 127.0.0.1:9843 (PROPFIND,
//!   exact bytes with GET, a davfs2 mount of the tree), read-only refuses PUT/DELETE/MOVE, and a
//!   symlink out of the folder or `..` segments give nothing outside it;
//! - serial console: what the guest's shell prints reaches the port stream and a command written
//!   to it runs in the guest;
//! - QMP over the port: stop / cont (QEMU's own QMP socket agrees), system_powerdown reaches the
//!   guest's ACPI power button (an input event in the guest);
//! - reset (its own guest, `-action reboot=reset`: the group's guest runs with `-no-reboot`): the
//!   guest boots again (a second boot on its console, uptime restarts, its /tmp is new).
//!
//! Sumac runs as a library here (`sumac::client::connect`), the same code the app's Machine menu
//! and `sumac-cli qmp` use.

use std::path::Path;
use std::time::{Duration, Instant};
use sumac::client::qmp::{QMP_PORT, QmpClient, QmpEvent};
use sumac::client::sharing::SharedFolder;
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions, VmcStream};
use sumac_test_guest::{Guest, GuestGroup, GuestOptions, WEBDAV_PORT, shell_quote};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::support::session::next_event;

type CaseResult = sumac_test_guest::CaseResult;

const WAIT: Duration = Duration::from_secs(60);
const SERIAL: &str = "org.qemu.console.serial.0";
const HMP: &str = "org.qemu.monitor.hmp.0";
const WEBDAV: &str = "org.spice-space.webdav.0";

/// A Sumac session on the guest.
struct Client {
    session: SessionHandle,
    rx: UnboundedReceiver<SessionEvent>,
}

impl Client {
    fn connect(g: &Guest, options: SessionOptions) -> Client {
        let config = ConnectionConfig::from_uri(&g.spice_uri()).unwrap();
        let (session, rx) = sumac::client::connect(config, options).unwrap();
        Client { session, rx }
    }

    /// Waits for the port named `name` (PORT_INIT).
    fn wait_port(&mut self, name: &str) {
        let until = Instant::now() + WAIT;
        loop {
            match next_event(&mut self.rx, until).unwrap_or_else(|| panic!("no port {name} within {WAIT:?}")) {
                SessionEvent::Port { name: n, .. } if n == name => return,
                SessionEvent::Disconnected { error } => panic!("session ended: {error:?}"),
                _ => {}
            }
        }
    }

    fn stream(&mut self, name: &str) -> VmcStream {
        if let Some(s) = self.session.port(name) {
            return s;
        }
        self.wait_port(name);
        self.session.port(name).unwrap()
    }

    /// Reads the stream until `done` holds on what came (or the time is up); returns it all.
    fn read_until(&mut self, stream: &VmcStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let until = Instant::now() + WAIT;
        let mut got = Vec::new();
        while !done(&got) && Instant::now() < until {
            let data = stream.read();
            if data.is_empty() {
                let _ = next_event(&mut self.rx, Instant::now() + Duration::from_millis(100));
            }
            got.extend(data);
        }
        got
    }

    fn disconnect(self) {
        self.session.disconnect();
    }
}

/// QMP commands through Sumac's QMP client on the port.
struct PortQmp<'a> {
    client: &'a mut Client,
    stream: VmcStream,
    qmp: QmpClient,
    buf: Vec<QmpEvent>,
}

impl<'a> PortQmp<'a> {
    fn open(client: &'a mut Client) -> Self {
        let stream = client.stream(QMP_PORT);
        Self {
            client,
            stream,
            qmp: QmpClient::new(),
            buf: Vec::new(),
        }
    }

    fn execute(&mut self, command: &str) -> serde_json::Value {
        let id = self.qmp.execute(command, None);
        let until = Instant::now() + WAIT;
        loop {
            let out = self.qmp.take_output();
            if !out.is_empty() {
                self.stream.write(&out).unwrap();
            }
            if let Some(pos) = self
                .buf
                .iter()
                .position(|e| matches!(e, QmpEvent::Return { id: i, .. } | QmpEvent::Error { id: i, .. } if *i == id))
            {
                return match self.buf.remove(pos) {
                    QmpEvent::Return { value, .. } => value,
                    other => panic!("{command}: {other:?}"),
                };
            }
            assert!(Instant::now() < until, "no answer to {command} over the QMP port");
            let data = self.stream.read();
            if data.is_empty() {
                let _ = next_event(&mut self.client.rx, Instant::now() + Duration::from_millis(50));
            } else {
                let events = self.qmp.receive(&data);
                self.buf.extend(events);
            }
        }
    }
}

fn run_state(g: &Guest) -> String {
    let v = g.qmp("query-status", None).unwrap();
    v["status"].as_str().unwrap_or_default().to_owned()
}

fn sha256_host(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn curl(g: &Guest, args: &str) -> sumac_test_guest::Output {
    g.run(&format!("curl -s --max-time 30 {args}")).unwrap()
}

fn shared_folder(g: &Guest, read_only: bool) -> (tempfile::TempDir, tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    crate::support::sharing::shared_tree(dir.path(), outside.path());
    let mut client = Client::connect(
        g,
        SessionOptions {
            shared_folder: Some(SharedFolder::new(dir.path(), read_only)),
            ..SessionOptions::default()
        },
    );
    client.wait_port(WEBDAV);
    // spice-webdavd serves again once it saw the port open: after a previous session's
    // disconnect that takes a moment.
    let until = Instant::now() + WAIT;
    loop {
        let code = curl(g, &format!("-o /dev/null -w '%{{http_code}}' {}", url("/"))).stdout;
        if code.trim() != "000" {
            break;
        }
        assert!(Instant::now() < until, "spice-webdavd does not answer on {WEBDAV_PORT}");
        std::thread::sleep(Duration::from_millis(500));
    }
    (dir, outside, client)
}

fn url(path: &str) -> String {
    shell_quote(&format!("http://127.0.0.1:{WEBDAV_PORT}{path}"))
}

fn webdav_reads(g: &Guest) -> CaseResult {
    let (dir, _outside, client) = shared_folder(g, false);
    let listing = curl(g, &format!("-X PROPFIND -H 'Depth: 1' {}", url("/")));
    assert!(
        listing.stdout.contains("hello.txt") && listing.stdout.contains("sub/"),
        "PROPFIND: {listing:?}"
    );
    let sum = g.run_ok(&format!("curl -s --max-time 60 {} | sha256sum", url("/sub/data.bin")))?;
    assert_eq!(
        sum.split_whitespace().next(),
        Some(sha256_host(&dir.path().join("sub/data.bin")).as_str())
    );
    // A davfs2 mount lists and reads the tree.
    let mount = "set -e\n\
        mkdir -p /run/mount.davfs /var/cache/davfs2 /tmp/davfs\n\
        printf 'ask_auth 0\\nuse_locks 0\\n' >/tmp/davfs2.conf\n\
        mount -t davfs -o ro,conf=/tmp/davfs2.conf http://127.0.0.1:9843/ /tmp/davfs </dev/null\n\
        ls -R /tmp/davfs\n\
        cat /tmp/davfs/hello.txt\n\
        sha256sum /tmp/davfs/sub/data.bin";
    let out = g.run(mount)?;
    let _ = g.run("umount /tmp/davfs; rmdir /tmp/davfs");
    assert!(out.success(), "davfs2: {out:?}");
    assert!(out.stdout.contains("hello from the host"), "{out:?}");
    assert!(out.stdout.contains("data.bin") && out.stdout.contains("sub"), "{out:?}");
    assert!(
        out.stdout.contains(&sha256_host(&dir.path().join("sub/data.bin"))),
        "{out:?}"
    );
    // Writes reach the host folder.
    let put = curl(
        g,
        &format!(
            "-o /dev/null -w '%{{http_code}}' -T /etc/hostname {}",
            url("/from-guest.txt")
        ),
    );
    assert_eq!(put.stdout.trim(), "201", "{put:?}");
    assert_eq!(
        std::fs::read(dir.path().join("from-guest.txt"))?,
        std::fs::read("/etc/hostname")?
    );
    client.disconnect();
    Ok(())
}

/// The shared folder changed while connected ([`SessionHandle::set_shared_folder`]): the guest's
/// next PROPFIND through spice-webdavd lists the new folder; read-only refuses PUT; sharing off
/// answers every request 503, and spice-webdavd lives on.
fn webdav_folder_changes(g: &Guest) -> CaseResult {
    let (_dir, _outside, client) = shared_folder(g, false);
    let listing = || curl(g, &format!("-X PROPFIND -H 'Depth: 1' {}", url("/"))).stdout;
    assert!(listing().contains("hello.txt"), "{}", listing());
    let second = tempfile::tempdir()?;
    std::fs::write(second.path().join("other.txt"), b"the second folder")?;
    client
        .session
        .set_shared_folder(Some(SharedFolder::new(second.path(), false)));
    let text = listing();
    assert!(text.contains("other.txt") && !text.contains("hello.txt"), "{text}");
    let get = curl(g, &url("/other.txt"));
    assert_eq!(get.stdout, "the second folder");

    let code = |args: &str| curl(g, &format!("-o /dev/null -w '%{{http_code}}' {args}")).stdout;
    client
        .session
        .set_shared_folder(Some(SharedFolder::new(second.path(), true)));
    let put = code(&format!("-T /etc/hostname {}", url("/new.txt")));
    assert!(put.trim().starts_with('4'), "PUT on a read-only share: {put}");
    assert!(!second.path().join("new.txt").exists());

    client.session.set_shared_folder(None);
    assert_eq!(code(&url("/other.txt")).trim(), "503", "sharing off");
    assert_eq!(code(&format!("-X PROPFIND -H 'Depth: 1' {}", url("/"))).trim(), "503");
    client.disconnect();
    Ok(())
}

fn webdav_read_only(g: &Guest) -> CaseResult {
    let (dir, _outside, client) = shared_folder(g, true);
    let code = |args: &str| curl(g, &format!("-o /dev/null -w '%{{http_code}}' {args}")).stdout;
    assert_eq!(code(&url("/hello.txt")), "200");
    let dest = format!(
        "-H {}",
        shell_quote(&format!("Destination: http://127.0.0.1:{WEBDAV_PORT}/moved.txt"))
    );
    for (what, args) in [
        ("PUT", format!("-T /etc/hostname {}", url("/new.txt"))),
        ("DELETE", format!("-X DELETE {}", url("/hello.txt"))),
        ("MOVE", format!("-X MOVE {dest} {}", url("/hello.txt"))),
    ] {
        let status: u16 = code(&args).trim().parse().unwrap_or(0);
        assert!(status >= 400, "{what} answered {status}");
    }
    assert!(dir.path().join("hello.txt").exists());
    assert!(!dir.path().join("new.txt").exists() && !dir.path().join("moved.txt").exists());
    client.disconnect();
    Ok(())
}

fn webdav_escapes(g: &Guest) -> CaseResult {
    let (_dir, outside, client) = shared_folder(g, false);
    let name = outside.path().file_name().unwrap().to_string_lossy().into_owned();
    for path in [
        "/escape/secret".to_owned(),
        "/secret-link".to_owned(),
        "/../secret".to_owned(),
        format!("/sub/../../{name}/secret"),
        format!("/..%2f{name}%2fsecret"),
        format!("/%2e%2e/{name}/secret"),
    ] {
        let out = curl(g, &format!("--path-as-is -w ' %{{http_code}}' {}", url(&path)));
        assert!(!out.stdout.contains("top secret"), "{path}: {out:?}");
        let status: u16 = out.stdout.rsplit(' ').next().unwrap_or("").trim().parse().unwrap_or(0);
        assert!(status >= 400, "{path}: {out:?}");
    }
    let listing = curl(g, &format!("-X PROPFIND -H 'Depth: 1' {}", url("/")));
    assert!(
        !listing.stdout.contains("escape") && !listing.stdout.contains("secret"),
        "{listing:?}"
    );
    client.disconnect();
    Ok(())
}

fn serial_console(g: &Guest) -> CaseResult {
    let mut client = Client::connect(g, SessionOptions::default());
    let serial = client.stream(SERIAL);
    // The shell on ttyS1 prints, and runs what we type.
    serial.write(b"\recho SUMAC-$((6*7)); touch /tmp/typed-on-serial\r")?;
    let got = client.read_until(&serial, |b| b.windows(8).any(|w| w == b"SUMAC-42"));
    assert!(
        got.windows(8).any(|w| w == b"SUMAC-42"),
        "serial console output: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(g.run("test -e /tmp/typed-on-serial")?.success());
    g.run_ok("rm -f /tmp/typed-on-serial")?;
    // HMP on its own port: a monitor command's answer.
    let hmp = client.stream(HMP);
    // The whole answer, prompt included (see hmp_leave_while_answering for leaving earlier).
    hmp.write(b"info status\r")?;
    let got = client.read_until(&hmp, hmp_answered);
    assert!(hmp_answered(&got), "HMP: {:?}", String::from_utf8_lossy(&got));
    client.disconnect();
    Ok(())
}

fn qmp_pause_resume(g: &Guest) -> CaseResult {
    let mut client = Client::connect(g, SessionOptions::default());
    let mut qmp = PortQmp::open(&mut client);
    assert_eq!(qmp.execute("query-status")["status"], "running");
    qmp.execute("stop");
    assert_eq!(run_state(g), "paused", "QEMU's own QMP socket");
    assert_eq!(qmp.execute("query-status")["running"], false);
    qmp.execute("cont");
    assert_eq!(run_state(g), "running");
    // The guest answers commands again before the group checks it (a loaded TCG guest can take
    // a while after a pause).
    let until = Instant::now() + Duration::from_secs(120);
    while g.run("true").is_err() {
        assert!(Instant::now() < until, "the guest does not answer after cont");
    }
    drop(qmp);
    client.disconnect();
    Ok(())
}

/// The kernel's count of ACPI fixed-event power button presses.
fn power_button_count(g: &Guest) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let line = g.run_ok("cat /sys/firmware/acpi/interrupts/ff_pwr_btn")?;
    Ok(line.split_whitespace().next().unwrap_or_default().parse()?)
}

fn qmp_power_down(g: &Guest) -> CaseResult {
    // The ACPI power button is an input device in the guest: read its first event, with the
    // device open before the command is sent.
    let dev = g.run_ok(
        "for d in /sys/class/input/event*; do \
         [ \"$(cat $d/device/name)\" = 'Power Button' ] && echo /dev/input/${d##*/} && break; done",
    )?;
    let dev = dev.trim().to_owned();
    assert!(dev.starts_with("/dev/input/event"), "no ACPI power button in the guest");
    let presses = power_button_count(g)?;
    g.run_ok("rm -f /tmp/power-button /tmp/power-button-ready")?;
    let reader = g.spawn(
        &format!("exec 3<{dev} && touch /tmp/power-button-ready && head -c 24 <&3 >/tmp/power-button"),
        false,
    )?;
    let until = Instant::now() + WAIT;
    while !g.run("test -e /tmp/power-button-ready")?.success() {
        assert!(Instant::now() < until, "the reader did not open {dev}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut client = Client::connect(g, SessionOptions::default());
    let mut qmp = PortQmp::open(&mut client);
    qmp.execute("system_powerdown");
    drop(qmp);
    let until = Instant::now() + WAIT;
    let (mut size, mut count) = (0, presses);
    while Instant::now() < until {
        size = g.run_ok("stat -c %s /tmp/power-button")?.trim().parse().unwrap_or(0);
        count = power_button_count(g)?;
        if size >= 24 && count > presses {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = reader.kill();
    g.run_ok("rm -f /tmp/power-button /tmp/power-button-ready")?;
    assert!(
        count > presses,
        "ACPI counted no power button press ({presses} before, {count} after)"
    );
    assert!(size >= 24, "the guest's power button input device reported no event");
    assert_eq!(run_state(g), "running", "the guest (no ACPI daemon) keeps running");
    client.disconnect();
    Ok(())
}

fn hmp_port() -> Vec<String> {
    [
        "-chardev",
        "spiceport,id=hmpport,name=org.qemu.monitor.hmp.0",
        "-mon",
        "chardev=hmpport,mode=readline",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn guest_shared_folder_consoles_and_qmp() {
    let mut options = GuestOptions::default().webdav().qmp_port().serial();
    options.qemu_extra = hmp_port();
    GuestGroup::new("ports", options)
        .case("webdav: PROPFIND, GET, davfs2, PUT", webdav_reads)
        .case("webdav: read-only", webdav_read_only)
        .case("webdav: no escape", webdav_escapes)
        .case("serial console and HMP", serial_console)
        .case("hmp: leaving while the monitor answers", hmp_leave_while_answering)
        .case("qmp: pause and resume", qmp_pause_resume)
        .run();
}

/// Power Down reaches the guest's ACPI handler, on a guest of its own: after the button press
/// the guest may go on to shut down (seen in full runs: it stopped answering commands), which a
/// group would report as a broken guest.
#[test]
fn guest_qmp_power_down_reaches_acpi() {
    let g = match Guest::boot(GuestOptions::default().qmp_port()) {
        Ok(g) => g,
        Err(sumac_test_guest::Error::MissingPackages { packages }) if !sumac_test_guest::in_ci() => {
            eprintln!("skipping: missing Debian packages {}", packages.join(" "));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    if let Err(e) = qmp_power_down(&g) {
        panic!("qmp: power down reaches ACPI: {e}");
    }
}

/// The shared folder changed while connected, on a guest of its own: in the group above, the
/// next case's client once made spice-server 0.15.1 abort (char-device.cpp,
/// write_buffer_release: `cur_write_buf != write_buf`) right after this case's client went.
#[test]
fn guest_shared_folder_changed_while_connected() {
    GuestGroup::new("ports-folder", GuestOptions::default().webdav())
        .case("webdav: the folder changed while connected", webdav_folder_changes)
        .run();
}

/// Reset reboots the guest: its own guest (the group's runs with `-no-reboot`, where QEMU would
/// exit instead), booted directly rather than as a group case: a reboot gives every daemon a new
/// PID, which a group reports as a broken guest.
#[test]
fn guest_qmp_reset_reboots() {
    let mut options = GuestOptions::default().qmp_port();
    options.qemu_extra = ["-action", "reboot=reset"].map(String::from).to_vec();
    let g = match Guest::boot(options) {
        Ok(g) => g,
        Err(sumac_test_guest::Error::MissingPackages { packages }) if !sumac_test_guest::in_ci() => {
            eprintln!("skipping: missing Debian packages {}", packages.join(" "));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    // A file on the guest's tmpfs: gone after a reboot.
    g.run_ok("touch /tmp/before-reset").unwrap();
    let mut client = Client::connect(&g, SessionOptions::default());
    let mut qmp = PortQmp::open(&mut client);
    qmp.execute("system_reset");
    let reset_at = Instant::now();
    drop(qmp);
    client.disconnect();
    // A second boot on the console (the initramfs and the guest init log each boot; the kernel
    // runs with loglevel=4), up to the guest init's "ready".
    let until = Instant::now() + Duration::from_secs(300);
    let rebooted = |log: &str| {
        log.matches("switching to the overlay root").count() >= 2
            && log
                .rsplit("switching to the overlay root")
                .next()
                .is_some_and(|l| l.contains("] ready"))
    };
    while !rebooted(&g.console_log()) {
        assert!(
            Instant::now() < until,
            "the guest did not boot again:\n{}",
            g.console_log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The uptime restarted at the reset: the guest has been up no longer than since then.
    let after: f64 = g.run_ok("cut -d' ' -f1 /proc/uptime").unwrap().trim().parse().unwrap();
    let since = reset_at.elapsed().as_secs_f64();
    assert!(after <= since + 1.0, "uptime {after} s, {since} s after the reset");
    assert!(
        !g.run("test -e /tmp/before-reset").unwrap().success(),
        "/tmp survived the reset"
    );
    assert_eq!(run_state(&g), "running");
    g.stop().unwrap();
}

/// HMP's answer to `info status` has come when its prompt follows "running" (a command ends with
/// `\r` alone: `\r\n` would be two, the second an empty line answered by another prompt).
fn hmp_answered(b: &[u8]) -> bool {
    b.windows(7)
        .position(|w| w == b"running")
        .is_some_and(|at| b.get(at..).is_some_and(|rest| rest.windows(7).any(|w| w == b"(qemu) ")))
}

/// A client leaves while the monitor is still answering the commands it sent: spice-server 0.15.1
/// aborted, taking the VM with it (`char-device.cpp write_buffer_release`), in every round when
/// the client closed its sockets at once (the send failed inside the device write of the
/// commands); Sumac closes its side and reads until the server closes (`close_gracefully`). The
/// client waits a moment after the port opens: leaving within about half a second of connecting
/// crashed QEMU (SIGSEGV) now and then whichever way the client closed, another server bug.
fn hmp_leave_while_answering(g: &Guest) -> CaseResult {
    for round in 0..3 {
        let mut client = Client::connect(g, SessionOptions::default());
        let hmp = client.stream(HMP);
        std::thread::sleep(Duration::from_millis(1500));
        hmp.write("info status\r".repeat(40).as_bytes())?;
        let got = client.read_until(&hmp, |b| b.windows(7).any(|w| w == b"running"));
        assert!(
            got.windows(7).any(|w| w == b"running"),
            "HMP: {:?}",
            String::from_utf8_lossy(&got)
        );
        client.disconnect();
        assert_eq!(
            run_state(g),
            "running",
            "QEMU lives on after the client left (round {round})"
        );
    }
    Ok(())
}
