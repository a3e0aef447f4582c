//! The guest agent against the real Linux guest (`sumac-test-guest`, one boot for every case):
//! clipboard both ways on CLIPBOARD and PRIMARY (the guest side read and written with `xclip`), a
//! PNG pixel for pixel, 5 MB of text, a copy over the limit refused with a message, the guest
//! resized by MONITORS_CONFIG (QEMU's qxl device takes it; the harness's udev rule applies the
//! mode), two files (one of 50 MB) byte for byte in `/tmp/xfer` and a cancelled one reported
//! cancelled. Timings are printed as `BENCH ...` lines (BENCHMARKS.md).

use super::agent_client::{AgentClient, Ev, png_pattern, png_pixels, random_bytes, sha256_host, text};
use std::time::{Duration, Instant};
use sumac::client::agent::{
    AgentEvent, AgentOptions, ClipType, ClipboardDirection, ClipboardFailure, MonitorSpec, Selection, TransferOutcome,
};
use sumac_test_guest::{CaseResult, Guest, GuestGroup, GuestOptions};

const WAIT: Duration = Duration::from_secs(90);
const XFER: &str = "/tmp/xfer";

fn client(g: &Guest, options: AgentOptions) -> AgentClient {
    AgentClient::connect(&g.spice_uri(), options, WAIT)
}

/// The guest's `xclip -o` until it prints `len` bytes (the agent takes the X selection a moment
/// after our grab). Returns the bytes and the paste's duration measured in the guest.
fn guest_paste(
    g: &Guest,
    selection: &str,
    target: &str,
    len: usize,
) -> Result<(Vec<u8>, Duration), Box<dyn std::error::Error + Send + Sync>> {
    let until = Instant::now() + WAIT;
    loop {
        let script = format!(
            "s=$(date +%s%N); xclip -o -selection {selection} -t {target} > /tmp/paste.out; rc=$?; e=$(date +%s%N); echo $rc $((e - s))"
        );
        let out = g.run_x_ok(&script)?;
        let mut words = out.split_whitespace();
        let rc: i32 = words.next().and_then(|w| w.parse().ok()).unwrap_or(-1);
        let ns: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        if rc == 0 {
            let data = g.read_file("/tmp/paste.out")?;
            if data.len() == len {
                g.run_ok("rm -f /tmp/paste.out")?;
                return Ok((data, Duration::from_nanos(ns)));
            }
        }
        if Instant::now() > until {
            return Err(format!("guest xclip -o {selection} {target}: never {len} bytes").into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Guest→client then client→guest for one selection and type; returns both durations.
fn both_ways(
    g: &Guest,
    c: &mut AgentClient,
    sel: Selection,
    name: &str,
    clip: ClipType,
    target: &str,
    data: &[u8],
) -> Result<(Duration, Duration), Box<dyn std::error::Error + Send + Sync>> {
    g.write_file("/tmp/clip.in", data)?;
    let owner = g.spawn(
        &format!("exec xclip -quiet -i -selection {name} -t {target} /tmp/clip.in"),
        true,
    )?;
    c.wait_grab(sel, clip, WAIT);
    let (got, from_guest) = c.paste(sel, clip, WAIT);
    let same = match clip {
        ClipType::Png => png_pixels(&got) == png_pixels(data),
        _ => got == data,
    };
    assert!(
        same,
        "{name} {target} guest → client: {} bytes, sent {}",
        got.len(),
        data.len()
    );
    owner.kill()?;
    g.run_ok("rm -f /tmp/clip.in")?;
    c.copy(sel, clip, data.to_vec());
    let want_len = data.len();
    let (pasted, to_guest) = if clip == ClipType::Png {
        // The guest may hand the PNG on as it is or re-encode it: compare pixels.
        let until = Instant::now() + WAIT;
        loop {
            let out = g.run_x(&format!(
                "xclip -o -selection {name} -t image/png > /tmp/paste.png && stat -c %s /tmp/paste.png"
            ))?;
            if out.success() && out.stdout.trim().parse::<usize>().unwrap_or(0) > 8 {
                let bytes = g.read_file("/tmp/paste.png")?;
                g.run_ok("rm -f /tmp/paste.png")?;
                if bytes.starts_with(b"\x89PNG") {
                    break (bytes, Duration::ZERO);
                }
            }
            if Instant::now() > until {
                return Err("the guest never pasted the PNG".into());
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    } else {
        guest_paste(g, name, target, want_len)?
    };
    let same = match clip {
        ClipType::Png => png_pixels(&pasted) == png_pixels(data),
        _ => pasted.as_slice() == data,
    };
    assert!(same, "{name} {target} client → guest: {} bytes", pasted.len());
    c.agent.clipboard_release(sel)?;
    Ok((from_guest, to_guest))
}

fn guest_screen(g: &Guest) -> String {
    g.run_x("xrandr --current | head -n 1")
        .map(|o| o.stdout)
        .unwrap_or_default()
}

fn wait_guest_mode(g: &Guest, w: u32, h: u32) -> bool {
    let want = format!("current {w} x {h}");
    let until = Instant::now() + WAIT;
    while Instant::now() < until {
        if guest_screen(g).contains(&want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

fn text_case(g: &Guest) -> CaseResult {
    let mut c = client(g, AgentOptions::default());
    assert!(c.info.clipboard() && c.info.selections(), "{:?}", c.info.describe());
    for (sel, name) in [(Selection::Clipboard, "clipboard"), (Selection::Primary, "primary")] {
        let data = format!("Sumac and the real guest: {name}\nsecond line\n").into_bytes();
        let (a, b) = both_ways(g, &mut c, sel, name, ClipType::Text, "UTF8_STRING", &data)?;
        eprintln!("guest: {name} text guest→client {a:?}, client→guest (guest xclip -o) {b:?}");
    }
    let kb = text(1024);
    let (a, b) = both_ways(
        g,
        &mut c,
        Selection::Clipboard,
        "clipboard",
        ClipType::Text,
        "UTF8_STRING",
        &kb,
    )?;
    eprintln!("BENCH sumac clipboard 1 KB: guest→client request-to-data {a:?}; client→guest guest xclip -o {b:?}");
    Ok(())
}

fn png_case(g: &Guest) -> CaseResult {
    let mut c = client(g, AgentOptions::default());
    let (png, _) = png_pattern(320, 240);
    both_ways(
        g,
        &mut c,
        Selection::Clipboard,
        "clipboard",
        ClipType::Png,
        "image/png",
        &png,
    )?;
    Ok(())
}

fn big_text_case(g: &Guest) -> CaseResult {
    let mut c = client(g, AgentOptions::default());
    let big = text(5 << 20);
    let (a, b) = both_ways(
        g,
        &mut c,
        Selection::Clipboard,
        "clipboard",
        ClipType::Text,
        "UTF8_STRING",
        &big,
    )?;
    eprintln!("BENCH sumac clipboard 5 MB: guest→client request-to-data {a:?}; client→guest guest xclip -o {b:?}");
    Ok(())
}

fn over_limit_case(g: &Guest) -> CaseResult {
    let mut c = client(
        g,
        AgentOptions {
            max_clipboard: 1 << 20,
            ..AgentOptions::default()
        },
    );
    // Guest → client: the agent (MAX_CLIPBOARD) answers with nothing; the request fails with a reason.
    g.write_file("/tmp/clip.in", &text(2 << 20))?;
    let owner = g.spawn("exec xclip -quiet -i -selection clipboard /tmp/clip.in", true)?;
    c.wait_grab(Selection::Clipboard, ClipType::Text, WAIT);
    let failed = c.paste_fails(Selection::Clipboard, ClipType::Text, WAIT);
    let AgentEvent::ClipboardFailed { reason, .. } = &failed else {
        unreachable!()
    };
    assert!(
        matches!(
            reason,
            ClipboardFailure::NoData { limit: Some(1048576) } | ClipboardFailure::TooLarge { .. }
        ),
        "{failed:?}"
    );
    eprintln!("guest: 2 MB copy over a 1 MiB limit: \"{reason}\"");
    owner.kill()?;
    g.run_ok("rm -f /tmp/clip.in")?;
    // Client → guest: refused, reported, the guest pastes nothing.
    c.copy(Selection::Clipboard, ClipType::Text, text(2 << 20));
    let until = Instant::now() + WAIT;
    while c.served().is_empty() {
        let _ = g.run_x("xclip -o -selection clipboard > /dev/null");
        assert!(Instant::now() < until, "the guest never asked");
    }
    let (_, refused) = c.wait_for(WAIT, |e| matches!(e, Ev::Agent(AgentEvent::ClipboardRefused { .. })));
    assert!(
        matches!(
            refused,
            Ev::Agent(AgentEvent::ClipboardRefused {
                direction: ClipboardDirection::ToGuest,
                size: 2097152,
                max: 1048576,
                ..
            })
        ),
        "{refused:?}"
    );
    c.agent.clipboard_release(Selection::Clipboard)?;
    Ok(())
}

fn resize_case(g: &Guest) -> CaseResult {
    let mut c = client(g, AgentOptions::default());
    assert!(c.info.monitors_config());
    let start = Instant::now();
    c.agent.monitors_config(&[MonitorSpec::new(0, 0, 1280, 800)])?;
    assert!(wait_guest_mode(g, 1280, 800), "guest screen: {}", guest_screen(g));
    let took = start.elapsed();
    assert!(c.wait_display(1280, 800, WAIT), "display 0 never showed 1280x800");
    eprintln!("BENCH sumac resize 1024x768 → 1280x800: guest xrandr after {took:?}");
    c.agent.monitors_config(&[MonitorSpec::new(0, 0, 1024, 768)])?;
    assert!(wait_guest_mode(g, 1024, 768), "guest screen: {}", guest_screen(g));
    Ok(())
}

fn files_case(g: &Guest) -> CaseResult {
    let mut c = client(g, AgentOptions::default());
    assert!(c.info.file_transfer());
    let dir = tempfile::tempdir()?;
    let small = dir.path().join("readme.txt");
    let large = dir.path().join("fifty.bin");
    std::fs::write(&small, b"two files for the guest\n")?;
    std::fs::write(&large, random_bytes(50 << 20, 3))?;
    let (outcomes, took) = c.send_files(&[&small, &large], Duration::from_secs(900));
    assert_eq!(outcomes, vec![TransferOutcome::Success, TransferOutcome::Success]);
    eprintln!(
        "BENCH sumac file transfer 50 MB + 24 B: {took:?} ({:.2} MB/s)",
        (50 << 20) as f64 / took.as_secs_f64() / 1e6
    );
    for f in [&small, &large] {
        let name = f.file_name().unwrap().to_string_lossy();
        let sum = g.run_ok(&format!("sha256sum {XFER}/{name} | cut -d' ' -f1"))?;
        assert_eq!(sum.trim(), sha256_host(f), "{name} changed on the way");
    }
    let cancelled = dir.path().join("cancelled.bin");
    std::fs::write(&cancelled, random_bytes(50 << 20, 4))?;
    let id = c.agent.send_file(&cancelled)?;
    c.wait_for(
        WAIT,
        |e| matches!(e, Ev::Agent(AgentEvent::FileStarted { id: i, .. }) if *i == id),
    );
    c.agent.cancel_file(id)?;
    let (_, done) = c.wait_for(
        WAIT,
        |e| matches!(e, Ev::Agent(AgentEvent::FileDone { id: i, .. }) if *i == id),
    );
    assert!(
        matches!(
            done,
            Ev::Agent(AgentEvent::FileDone {
                outcome: TransferOutcome::Cancelled,
                ..
            })
        ),
        "{done:?}"
    );
    drop(c);
    g.run_ok(&format!("rm -rf {XFER}/* "))?;
    Ok(())
}

#[test]
fn agent_on_the_real_guest() {
    GuestGroup::new("agent", GuestOptions::default().agent())
        .case("clipboard text both ways, both selections", text_case)
        .case("clipboard png both ways", png_case)
        .case("clipboard 5 MB both ways", big_text_case)
        .case("clipboard over the limit", over_limit_case)
        .case("resize by monitors config", resize_case)
        .case("files and a cancel", files_case)
        .run();
}

/// An Xvfb of our own (`-displayfd` picks a free display), killed when dropped.
struct Xvfb {
    child: std::process::Child,
    display: u32,
}

impl Xvfb {
    fn start() -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = line.trim().parse().expect("Xvfb display number");
        Self { child, display }
    }

    fn command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env("DISPLAY", format!(":{}", self.display))
            .env_remove("XAUTHORITY");
        cmd
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Guest pastes of `len` bytes: the first that succeeds, then `n` more; their guest-side times.
fn guest_pastes(g: &Guest, len: usize, n: usize) -> Result<Vec<Duration>, Box<dyn std::error::Error + Send + Sync>> {
    guest_paste(g, "clipboard", "UTF8_STRING", len)?;
    (0..n)
        .map(|_| guest_paste(g, "clipboard", "UTF8_STRING", len).map(|(_, d)| d))
        .collect()
}

/// Sumac and remote-viewer on the same guest: clipboard round trips of 1 KB and 5 MB each way
/// (median of 3). Guest → client: Sumac from its request to the data; remote-viewer from the host
/// `xclip -o` on its display to the data. Client → guest: the guest's `xclip -o` for both.
/// `cargo test --release --test e2e agent_bench -- --ignored --nocapture` (one heavy test at a time).
#[test]
#[ignore = "a benchmark: boots a guest and runs remote-viewer; see BENCHMARKS.md"]
fn agent_bench_vs_remote_viewer() {
    GuestGroup::new("agent-bench", GuestOptions::default().agent())
        .case("clipboard round trips", |g| {
            for (label, size) in [("1 KB", 1024usize), ("5 MB", 5 << 20)] {
                let data = text(size);
                // Sumac.
                let mut c = client(g, AgentOptions::default());
                g.write_file("/tmp/clip.in", &data)?;
                let owner = g.spawn("exec xclip -quiet -i -selection clipboard /tmp/clip.in", true)?;
                c.wait_grab(Selection::Clipboard, ClipType::Text, WAIT);
                let from: Vec<Duration> = (0..3)
                    .map(|_| {
                        let (got, d) = c.paste(Selection::Clipboard, ClipType::Text, WAIT);
                        assert_eq!(got.len(), size);
                        d
                    })
                    .collect();
                owner.kill()?;
                c.copy(Selection::Clipboard, ClipType::Text, data.clone());
                let to = guest_pastes(g, size, 3)?;
                drop(c);
                eprintln!(
                    "BENCH {label} sumac: guest→client {:?} (request → data), client→guest {:?} (guest xclip -o); runs {from:?} / {to:?}",
                    median(from.clone()),
                    median(to.clone())
                );
                // remote-viewer on a private Xvfb, its clipboard sharing on (the default).
                let x = Xvfb::start();
                let mut rv = x
                    .command("remote-viewer")
                    .arg(g.spice_uri())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()?;
                std::thread::sleep(Duration::from_secs(8));
                let owner = g.spawn("exec xclip -quiet -i -selection clipboard /tmp/clip.in", true)?;
                let until = Instant::now() + WAIT;
                let mut from_rv = Vec::new();
                while from_rv.len() < 3 {
                    let start = Instant::now();
                    let out = x.command("xclip").args(["-o", "-selection", "clipboard"]).output()?;
                    let took = start.elapsed();
                    if out.stdout.len() == size {
                        from_rv.push(took);
                    } else {
                        assert!(Instant::now() < until, "remote-viewer never served the guest's clipboard");
                        std::thread::sleep(Duration::from_millis(300));
                    }
                }
                owner.kill()?;
                let mut host_owner = x
                    .command("xclip")
                    .args(["-quiet", "-i", "-selection", "clipboard"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()?;
                {
                    use std::io::Write;
                    let mut stdin = host_owner.stdin.take().unwrap();
                    stdin.write_all(&data)?;
                }
                let to_rv = guest_pastes(g, size, 3)?;
                let _ = host_owner.kill();
                let _ = host_owner.wait();
                let _ = rv.kill();
                let _ = rv.wait();
                drop(x);
                g.run_ok("rm -f /tmp/clip.in")?;
                eprintln!(
                    "BENCH {label} remote-viewer: guest→client {:?} (host xclip -o), client→guest {:?} (guest xclip -o); runs {from_rv:?} / {to_rv:?}",
                    median(from_rv.clone()),
                    median(to_rv.clone())
                );
            }
            Ok(())
        })
        .run();
}
