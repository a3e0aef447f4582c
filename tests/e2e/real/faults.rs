//! Network faults between Sumac and a real Xspice (and QEMU for the reset),
//! made by the test's own fault proxy (`sumac_test_server::fault`): resets, a server killed and
//! started again, a slow link (200 ms round trip, 1 Mbit/s), and blackholes
//! of 20 s and 60 s. A blackhole must be silent at the kernel level (no ACK,
//! no RST), so for those the client (`sumac-cli stats --reconnect`) runs in a
//! network namespace whose link the test cuts ([`NetNs`]); that needs root.

use crate::support::image::compare_images;
use crate::support::process::Guard;
use crate::support::real::netns::{NETNS_TOOLS, NetNs, is_root};
use crate::support::real::qemu::{Qemu, QemuOpts};
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{QEMU_TOOLS, XSPICE_TOOLS, require_real_servers};
use crate::support::session::{next_event, primary_image, wait_mark};
use crate::support::tools::in_ci;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sumac::client::{ConnectionConfig, ReconnectPolicy, SessionEvent, SessionHandle, SessionOptions, SessionState};
use sumac_test_server::fault::FaultProxy;
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(60);
/// The long blackhole: past the client's dead-peer detection.
const BLACKHOLE: Duration = Duration::from_secs(60);

fn xspice_addr(x: &Xspice) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], x.port.expect("a plain port")))
}

/// Xspice with an xterm, settled.
fn xspice() -> Xspice {
    let mut x = Xspice::start(XspiceOpts::default()).expect("start Xspice");
    x.spawn_xterm("60x10+100+100", "Sumac fault tests").expect("xterm");
    x.wait_for_stable_framebuffer(Duration::from_millis(600), WAIT)
        .expect("Xspice settles");
    x
}

fn reconnecting_options() -> SessionOptions {
    SessionOptions {
        reconnect: Some(ReconnectPolicy {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(2),
            max_attempts: None,
        }),
        ..SessionOptions::default()
    }
}

fn connect(port: u16, options: SessionOptions) -> (SessionHandle, UnboundedReceiver<SessionEvent>) {
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&format!("spice://127.0.0.1:{port}")).unwrap(),
        options,
    )
    .unwrap();
    wait_mark(&mut rx, WAIT);
    (session, rx)
}

fn wait_event(rx: &mut UnboundedReceiver<SessionEvent>, what: &str, f: impl Fn(&SessionEvent) -> bool) {
    let until = Instant::now() + WAIT;
    loop {
        let e = next_event(rx, until).unwrap_or_else(|| panic!("no {what} within {WAIT:?}"));
        if let SessionEvent::Disconnected { error } = &e {
            panic!("the session ended while waiting for {what}: {error:?}");
        }
        if f(&e) {
            return;
        }
    }
}

/// The client's picture equals the X server's.
fn assert_shows(session: &SessionHandle, x: &Xspice) {
    let until = Instant::now() + WAIT;
    loop {
        let truth = x.framebuffer().expect("xwd");
        if let Some(client) = primary_image(session) {
            let diff = compare_images(&client, &truth, &[]);
            if diff.is_identical() {
                return;
            }
            assert!(
                Instant::now() < until,
                "the client never showed the server's screen: {diff}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Typing reaches an xterm running `cat > FILE` on the server.
fn assert_typing_works(session: &SessionHandle, x: &mut Xspice) {
    let out = x.scratch_dir().join(format!("typed-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let script = format!("cat > '{}'", out.display());
    x.spawn_x(
        "xterm",
        &[
            "-title",
            "sumac-typing",
            "-geometry",
            "80x10+0+300",
            "-e",
            "sh",
            "-c",
            &script,
        ],
    )
    .expect("xterm");
    let win = x.wait_window("sumac-typing", WAIT);
    x.xdotool(&["mousemove", "200", "400"]);
    x.xdotool(&["windowfocus", "--sync", &win]);
    let inputs = session.inputs();
    assert!(crate::support::wait::poll_until(WAIT, || inputs.is_ready()));
    // "ok" Enter.
    for code in [0x18, 0x25, 0x1c] {
        inputs.send_keys(&[code]);
    }
    crate::support::wait::wait_file(&out, "ok\n");
}

#[test]
fn xspice_reset_connections_reconnect() {
    let Some(()) = require_real_servers(XSPICE_TOOLS) else {
        return;
    };
    let x = xspice();
    let proxy = FaultProxy::start(xspice_addr(&x)).unwrap();
    let (session, mut rx) = connect(proxy.port(), reconnecting_options());
    proxy.reset_all();
    let reset = Instant::now();
    wait_event(&mut rx, "Reconnecting", |e| {
        matches!(e, SessionEvent::Reconnecting { .. })
    });
    wait_event(&mut rx, "the session up again", |e| {
        matches!(e, SessionEvent::State(SessionState::Up))
    });
    eprintln!("reconnected {:.1?} after the reset", reset.elapsed());
    assert_shows(&session, &x);
    session.disconnect();
}

/// The same through QEMU (SeaBIOS): every connection reset, the session
/// relinks by itself and shows the VM's screen again.
#[test]
fn qemu_reset_connections_reconnect() {
    let Some(()) = require_real_servers(QEMU_TOOLS) else {
        return;
    };
    let vm = Qemu::start(QemuOpts::default()).expect("start QEMU");
    let stable = vm
        .wait_for_stable_screen(Duration::from_secs(2), Duration::from_secs(120))
        .expect("the VM's screen settles");
    let port = vm.port.expect("a plain port");
    let proxy = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let (session, mut rx) = connect(proxy.port(), reconnecting_options());
    let linked = proxy.accepted();
    proxy.reset_all();
    let reset = Instant::now();
    wait_event(&mut rx, "Reconnecting", |e| {
        matches!(e, SessionEvent::Reconnecting { .. })
    });
    wait_event(&mut rx, "the session up again", |e| {
        matches!(e, SessionEvent::State(SessionState::Up))
    });
    eprintln!("QEMU: reconnected {:.1?} after the reset", reset.elapsed());
    assert!(proxy.accepted() > linked, "the channels linked again");
    let until = Instant::now() + WAIT;
    loop {
        let diff = primary_image(&session).map(|c| compare_images(&c, &stable.image, &stable.mask()));
        if diff.as_ref().is_some_and(|d| d.is_identical()) {
            break;
        }
        assert!(Instant::now() < until, "the VM's screen never came back: {diff:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    session.disconnect();
}

#[test]
fn xspice_killed_and_restarted_gets_the_session_back_without_a_click() {
    let Some(()) = require_real_servers(XSPICE_TOOLS) else {
        return;
    };
    let x = xspice();
    let proxy = FaultProxy::start(xspice_addr(&x)).unwrap();
    let (session, mut rx) = connect(proxy.port(), reconnecting_options());
    let display = session.display(0).unwrap();
    drop(x);
    let killed = Instant::now();
    wait_event(&mut rx, "Reconnecting", |e| {
        matches!(e, SessionEvent::Reconnecting { .. })
    });
    // A new server (another port, as after a restart); the proxy points there.
    let mut x = xspice();
    proxy.set_upstream(xspice_addr(&x));
    wait_event(&mut rx, "the session up again", |e| {
        matches!(e, SessionEvent::State(SessionState::Up))
    });
    eprintln!("session back {:.1?} after the server was killed", killed.elapsed());
    assert!(
        Arc::ptr_eq(&display, &session.display(0).unwrap()),
        "the same display state"
    );
    assert_shows(&session, &x);
    assert_typing_works(&session, &mut x);
    session.disconnect();
}

#[test]
fn xspice_over_a_slow_link_is_usable() {
    let Some(()) = require_real_servers(XSPICE_TOOLS) else {
        return;
    };
    let mut x = xspice();
    let proxy = FaultProxy::start(xspice_addr(&x)).unwrap();
    proxy.set_delay(Duration::from_millis(100));
    proxy.set_bandwidth(1_000_000);
    let started = Instant::now();
    let (session, _rx) = connect(proxy.port(), SessionOptions::default());
    eprintln!("first frame over 200 ms RTT / 1 Mbit/s after {:.1?}", started.elapsed());
    assert_shows(&session, &x);
    let typed = Instant::now();
    assert_typing_works(&session, &mut x);
    eprintln!("typing went through after {:.1?}", typed.elapsed());
    session.disconnect();
}

/// `sumac-cli stats --reconnect` inside a namespace, its stderr lines collected with their time.
struct NsClient {
    child: Guard,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl NsClient {
    fn start(ns: &NetNs, port: u16) -> NsClient {
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_sumac-cli"));
        cmd.args([
            "stats",
            &format!("spice://{}:{port}", ns.host_ip),
            "--reconnect",
            "--seconds",
            "600",
            "--until-eof",
        ])
        .env_remove("DISPLAY")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start sumac-cli in the namespace");
        let stderr = child.stderr.take().unwrap();
        let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("sumac-cli: {line}");
                l.lock().unwrap().push((Instant::now(), line));
            }
        });
        NsClient {
            child: Guard(child),
            lines,
        }
    }

    /// When the first line after `since` containing `text` came.
    fn wait_line(&self, text: &str, since: Instant, timeout: Duration) -> Instant {
        let until = Instant::now() + timeout;
        loop {
            if let Some((t, _)) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|(t, l)| *t >= since && l.contains(text))
            {
                return *t;
            }
            assert!(Instant::now() < until, "sumac-cli never printed {text:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn has_line(&self, text: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|(_, l)| l.contains(text))
    }

    /// Closes its stdin (it prints its counters and exits).
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.child.0.stdin.take());
        let until = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.0.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < until, "sumac-cli did not exit");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Xspice, a proxy on the namespace link, the client in the namespace, up.
fn blackhole_rig() -> Option<(Xspice, FaultProxy, NetNs, NsClient)> {
    require_real_servers(&[XSPICE_TOOLS, NETNS_TOOLS].concat())?;
    if !is_root() {
        assert!(
            !in_ci(),
            "the blackhole tests need root (network namespaces) and CI is set"
        );
        eprintln!("skipping: the blackhole tests need root (network namespaces)");
        return None;
    }
    let x = xspice();
    let ns = NetNs::create().expect("network namespace");
    let listen: SocketAddr = format!("{}:0", ns.host_ip).parse().unwrap();
    let proxy = FaultProxy::start_at(listen, xspice_addr(&x)).unwrap();
    let client = NsClient::start(&ns, proxy.port());
    client.wait_line("state: Up", Instant::now() - Duration::from_secs(1), WAIT);
    // Let the channels link and go idle.
    std::thread::sleep(Duration::from_secs(5));
    Some((x, proxy, ns, client))
}

#[test]
fn xspice_20s_blackhole_keeps_the_session() {
    let Some((_x, proxy, ns, client)) = blackhole_rig() else {
        return;
    };
    let linked = proxy.accepted();
    ns.cut().unwrap();
    std::thread::sleep(Duration::from_secs(20));
    ns.restore().unwrap();
    std::thread::sleep(Duration::from_secs(10));
    assert!(!client.has_line("reconnecting"), "the session reconnected");
    assert!(!client.has_line("channel failed"), "a channel failed");
    assert_eq!(proxy.accepted(), linked, "no channel relinked");
    let status = client.finish();
    assert!(status.success(), "sumac-cli stats: {status}");
}

#[test]
fn xspice_60s_blackhole_is_reported_then_the_session_comes_back() {
    let Some((_x, _proxy, ns, client)) = blackhole_rig() else {
        return;
    };
    ns.cut().unwrap();
    let cut = Instant::now();
    // Reported while the link is still cut (the wait ends before it comes back).
    let reported = client.wait_line("reconnecting (attempt 1)", cut, BLACKHOLE);
    eprintln!(
        "the blackhole was reported after {:.1?} (dead-peer detection: 30 s TCP user timeout)",
        reported - cut
    );
    // Attempts fail while the link is cut...
    let left = BLACKHOLE.saturating_sub(cut.elapsed());
    std::thread::sleep(left);
    ns.restore().unwrap();
    let restored = Instant::now();
    // ...and the session comes back by itself once traffic flows again.
    let up = client.wait_line("state: Up", restored, WAIT);
    eprintln!("the session came back {:.1?} after the link", up - restored);
    client.finish();
}
