//! Hostile memory against a `sumac-cli` process with the default session
//! budget (512 MiB): its peak resident size (`VmHWM`, sampled from
//! `/proc/PID/status` until the run ends) stays under the budget, and the
//! session goes on or the channel that could not be held ends with a clear
//! error. The in-process counterparts are in `session.rs`
//! (`huge_surfaces_are_refused_within_the_session_budget`,
//! `a_4_gib_message_is_refused_without_allocating`).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use sumac::budget::DEFAULT_SESSION_BUDGET;
use sumac::proto::ChannelType;
use sumac::proto::base::ServerBase;
use sumac::proto::channel::display::{
    Clip, CopyOp, DisplayBase, DisplayServer, Image, ImageDescriptor, ImageKind, QMask, Rect, SurfaceCreate,
    image_type, ropd, surface_fmt,
};
use sumac::proto::consts::msgc;
use sumac_test_server::{Fault, ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(60);

/// `sumac-cli stats` running against a server until its standard input ends,
/// with its peak resident size followed from outside.
struct Cli {
    child: Child,
    peak_kib: Arc<AtomicU64>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

fn proc_field(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

impl Cli {
    fn start(uri: &str) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_sumac-cli"))
            .args(["stats", uri, "--seconds", "300", "--until-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let peak_kib = Arc::new(AtomicU64::new(0));
        let peak = Arc::clone(&peak_kib);
        // VmHWM is the process's own high-water mark: sampling it often
        // enough only matters for the last moments before it exits.
        let sampler = std::thread::spawn(move || {
            while let Some(hwm) = proc_field(pid, "VmHWM:") {
                peak.fetch_max(hwm, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self {
            child,
            peak_kib,
            sampler: Some(sampler),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ends the run (closes its standard input) and returns its peak RSS in
    /// KiB, whether it exited with success, its standard output and error.
    fn finish(mut self) -> (u64, bool, String, String) {
        let peak_now = proc_field(self.pid(), "VmHWM:").unwrap_or(0);
        self.peak_kib.fetch_max(peak_now, Ordering::Relaxed);
        drop(self.child.stdin.take());
        let mut out = String::new();
        let mut err = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let status = self.child.wait().unwrap();
        if let Some(s) = self.sampler.take() {
            s.join().unwrap();
        }
        (self.peak_kib.load(Ordering::Relaxed), status.success(), out, err)
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PING on display channel 0; once its PONG is back, everything the
/// server queued before it was handled.
fn display_round_trip(server: &TestServer, id: u32) {
    server.display_send(DisplayServer::Base(ServerBase::Ping {
        id,
        timestamp: 0,
        data: Vec::new(),
    }));
    let answered = server.wait_for(WAIT, |r| {
        r.received.iter().any(|m| {
            m.channel == (ChannelType::DISPLAY, 0)
                && m.msg_type == msgc::PONG
                && m.body.get(..4) == Some(&id.to_le_bytes()[..])
        })
    });
    assert!(answered, "display channel 0 never answered PING {id}");
}

fn report(what: &str, peak_kib: u64) {
    eprintln!(
        "{what}: peak RSS of sumac-cli {} MiB (session budget {} MiB)",
        peak_kib >> 10,
        DEFAULT_SESSION_BUDGET >> 20
    );
    assert!(
        peak_kib << 10 < DEFAULT_SESSION_BUDGET,
        "{what}: peak RSS {peak_kib} KiB is past the session budget"
    );
}

/// A 20-byte SURFACE_CREATE of 16384×16384 (1 GiB), two near-1 GiB ones and
/// a QUIC image whose header claims 16384×16384 with 4 KiB of data: each is
/// refused before anything is allocated, and the session goes on.
#[test]
fn huge_surfaces_and_a_huge_quic_image_stay_under_the_budget() {
    let cfg = ServerConfig::default();
    let server = TestServer::start(cfg.clone()).unwrap();
    let cli = Cli::start(&server.uri());
    display_round_trip(&server, 1);
    for (id, w, h) in [(10, 16384, 16384), (11, 16384, 16000), (12, 16000, 16384)] {
        server.display_send(DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id: id,
            width: w,
            height: h,
            format: surface_fmt::XRGB32,
            flags: 0,
        }));
    }
    let r = Rect::ltrb(0, 0, 64, 64);
    server.display_send(DisplayServer::DrawCopy {
        base: DisplayBase {
            surface_id: 0,
            bbox: r,
            clip: Clip::None,
        },
        copy: CopyOp {
            src_bitmap: Some(Image {
                descriptor: ImageDescriptor {
                    id: 5,
                    image_type: image_type::QUIC,
                    flags: 0,
                    width: 16384,
                    height: 16384,
                },
                kind: ImageKind::Binary(vec![0x5a; 4096]),
            }),
            src_area: r,
            rop_descriptor: ropd::OP_PUT,
            scale_mode: 0,
            mask: QMask::default(),
        },
    });
    display_round_trip(&server, 2);
    let (peak, ok, out, err) = cli.finish();
    eprintln!("{out}{err}");
    report("surfaces and QUIC", peak);
    assert!(ok, "the session went on: no channel failed\n{err}");
    let display = out.lines().find(|l| l.starts_with("display 0:")).unwrap();
    assert!(display.contains(" 4 errors"), "{display}");
    assert!(out.contains("memory budget:"), "{out}");
}

/// One 120 MiB PING on each of 24 port channels at once (2.8 GiB together):
/// a channel whose message the budget cannot hold closes with a clear
/// error, the others read theirs (and answer), main and display go on.
#[test]
fn a_120_mib_message_on_each_of_24_channels_stays_under_the_budget() {
    let mut cfg = ServerConfig::default();
    cfg.channels.extend((0..24).map(|i| (ChannelType::PORT, i)));
    cfg.fault = Some(Fault::PortHugePing(120 << 20));
    let server = TestServer::start(cfg).unwrap();
    let cli = Cli::start(&server.uri());
    // Every port channel either answered its PING or was closed.
    let settled = server.wait_for(WAIT, |r| {
        (0..24u8).all(|i| {
            let key = (ChannelType::PORT, i);
            r.closed.contains(&key) || r.received.iter().any(|m| m.channel == key && m.msg_type == msgc::PONG)
        })
    });
    assert!(settled, "port channels neither answered nor closed");
    display_round_trip(&server, 3);
    let answered = server.with_record(|r| {
        r.received
            .iter()
            .filter(|m| m.channel.0 == ChannelType::PORT && m.msg_type == msgc::PONG)
            .count()
    });
    let (peak, ok, out, err) = cli.finish();
    eprintln!("{out}{err}");
    eprintln!("{answered} of 24 port channels read their 120 MiB message");
    report("24 × 120 MiB", peak);
    assert!(answered >= 1, "a message the budget can hold is read");
    if answered < 24 {
        // The session itself went on: what failed were channels, by name.
        assert!(!ok, "channel failures make sumac-cli fail");
        assert!(err.contains("channel failure(s)"), "{err}");
        assert!(err.contains("memory budget"), "the error names the budget:\n{err}");
    }
}

/// A CHANNELS_LIST of 1,020 channels: only `MAX_LINKED_CHANNELS` are
/// linked; threads and file descriptors stay bounded.
#[test]
fn a_list_of_1020_channels_links_at_most_the_cap() {
    use sumac::channel::main::MAX_LINKED_CHANNELS;
    let mut cfg = ServerConfig::default();
    cfg.channels.extend((0..=255u8).map(|i| (ChannelType::PORT, i)));
    cfg.channels.extend((0..=255u8).map(|i| (ChannelType::WEBDAV, i)));
    cfg.channels.extend((0..=255u8).map(|i| (ChannelType::SMARTCARD, i)));
    cfg.channels.extend((1..=252u8).map(|i| (ChannelType::DISPLAY, i)));
    assert_eq!(cfg.channels.len(), 3 + 1020);
    let server = TestServer::start(cfg).unwrap();
    let cli = Cli::start(&server.uri());
    let all = server.wait_for(WAIT, |r| r.linked.len() > MAX_LINKED_CHANNELS);
    assert!(all, "the first channels were linked");
    display_round_trip(&server, 4);
    let pid = cli.pid();
    let threads = proc_field(pid, "Threads:").unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let linked = server.with_record(|r| r.linked.len());
    let (peak, _ok, out, err) = cli.finish();
    eprintln!(
        "{} lines of stats; {linked} channels linked, {threads} threads, {fds} fds",
        out.lines().count()
    );
    report("1,020 channels", peak);
    assert!(err.is_empty() || !err.contains("panicked"), "{err}");
    // Main and the first MAX_LINKED_CHANNELS of the list, no more.
    assert_eq!(linked, 1 + MAX_LINKED_CHANNELS);
    assert!(threads < 2 * MAX_LINKED_CHANNELS as u64, "{threads} threads");
    // A socket and a current-thread runtime's few descriptors per channel
    // (the uncapped list made 4,087).
    assert!(fds < 6 * MAX_LINKED_CHANNELS, "{fds} file descriptors");
}
