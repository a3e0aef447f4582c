//! A benchmark (ignored; `benches/e2e/agent.py` runs it): the `sumac` app and remote-viewer on
//! ONE real guest, each in turn on a fresh private Xvfb, each session measuring
//!
//! - guest → host clipboard: the guest's `xclip -i` owns CLIPBOARD with N fresh bytes, the host's
//!   `xclip -o` on the client's display is repeated until it prints exactly those bytes; the
//!   figure is the duration of that successful `xclip -o` (request → client → agent → guest X →
//!   back; both clients fetch lazily, on each paste);
//! - host → guest: the host's `xclip -i` on the client's display owns CLIPBOARD with N fresh
//!   bytes, the guest's `xclip -o` is repeated (in one guest command) until it prints exactly
//!   them; the figure is that `xclip -o`'s duration measured in the guest (TCG: `xclip`'s own
//!   start-up in the guest is part of it, the same for both clients);
//! - file transfer: a 50 MB random file dragged (XDND, `xdotool` moving the pointer) from a GTK
//!   drag source of this binary onto the client's window; the clock runs from the button's
//!   release until a watcher started in the guest beforehand (python3, `stat` every 20 ms, no
//!   fork per poll) reports the file in the agent's directory at its full size; then
//!   `sha256sum` in the guest must match.
//!
//! Sizes 1 KB and 5 MB; `SUMAC_BENCH_ROUNDS` sessions per client (default 2), alternating,
//! `SUMAC_BENCH_SAMPLES` samples per size and direction per session (default 3),
//! `SUMAC_BENCH_CLIENTS` (default `sumac,remote-viewer`), `SUMAC_BENCH_FILE_MB` (default 50).
//! Each sample prints a `BENCH-SAMPLE client what value` line and the end a summary of medians
//! (`BENCH-MEDIAN`).

use crate::support::app::App;
use crate::support::artifact_dir;
use crate::support::process::{Guard, stop_tree};
use crate::support::real::require_real_servers;
use crate::support::tools::{DBUS, Tool, XCLIP, XDOTOOL, XVFB};
use crate::support::x11::{Xvfb, run_x, wait_window, window_geometry, x_command, xdotool};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use sumac_test_guest::{CaseResult, Guest, GuestGroup, GuestOptions, RunOptions};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const WAIT: Duration = Duration::from_secs(120);
const XFER: &str = "/tmp/xfer";
const SOURCE_TITLE: &str = "sumac-bench-drag-source";
const SOURCE_FILE: &str = "SUMAC_BENCH_DRAG_FILE";
const TITLE: &str = "sumac-agent-bench";
const REMOTE_VIEWER: Tool = Tool {
    binary: "remote-viewer",
    package: "virt-viewer",
};

/// The drag source: a window whose label drags the file named in `SUMAC_BENCH_DRAG_FILE`'s
/// list file (re-read at each drag, so one source serves every sample).
#[test]
#[ignore = "run by the agent benchmark as a child process"]
fn bench_drag_source_child() {
    use gtk::prelude::*;
    use gtk::{gdk, gio, glib};
    let Ok(list) = std::env::var(SOURCE_FILE) else {
        eprintln!("{SOURCE_FILE} not set: nothing to do");
        return;
    };
    gtk::init().expect("gtk init");
    let label = gtk::Label::new(Some("drag me"));
    label.set_size_request(200, 150);
    let source = gtk::DragSource::new();
    source.set_actions(gdk::DragAction::COPY);
    source.connect_prepare(move |_, _, _| {
        let path = std::fs::read_to_string(&list).ok()?;
        let files = gdk::FileList::from_array(&[gio::File::for_path(path.trim())]);
        Some(gdk::ContentProvider::for_value(&files.to_value()))
    });
    label.add_controller(source);
    let window = gtk::Window::builder().title(SOURCE_TITLE).child(&label).build();
    window.present();
    glib::MainLoop::new(None, false).run();
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `n` bytes of text lines, starting with `tag` so that every sample differs.
fn sample_text(tag: &str, n: usize) -> Vec<u8> {
    let mut data = crate::agent_client::text(n);
    let tag = tag.as_bytes();
    let k = tag.len().min(n);
    data[..k].copy_from_slice(&tag[..k]);
    data
}

/// One client on its own Xvfb, with the drag source beside it.
struct Session {
    name: &'static str,
    xvfb: Xvfb,
    window: String,
    source: String,
    _source: Guard,
    app: Option<App>,
    rv: Option<Guard>,
}

impl Session {
    fn start(name: &'static str, g: &Guest, round: usize, list: &Path) -> Session {
        let out = artifact_dir(&format!("agent-bench-{name}-{round}"));
        let xvfb = Xvfb::start((1600, 1000), Some(&out.join("xvfb.log")));
        let display = xvfb.display;
        let (app, rv, title) = if name == "sumac" {
            let app = App::start_scaled(display, &out, 1, &["-t", &format!("{TITLE} %d"), &g.spice_uri()]);
            (Some(app), None, format!("^{TITLE} 1$"))
        } else {
            let mut cmd = x_command(display, "remote-viewer");
            cmd.args(["-t", TITLE, &g.spice_uri()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(out.join("remote-viewer.log")).unwrap());
            (
                None,
                Some(Guard(cmd.spawn().expect("start remote-viewer"))),
                format!("^{TITLE}"),
            )
        };
        let window = wait_window(display, &title, WAIT).unwrap_or_else(|| panic!("no {name} window"));
        let exe = std::env::current_exe().unwrap();
        let mut cmd = x_command(display, exe.to_str().unwrap());
        cmd.args([
            "--exact",
            "gui::agent_bench::bench_drag_source_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SOURCE_FILE, list)
        .env("GDK_BACKEND", "x11")
        .env("GTK_A11Y", "none")
        .env("GDK_DEBUG", "gl-disable")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(out.join("drag-source.log")).unwrap());
        let source_guard = Guard(cmd.spawn().expect("start the drag source"));
        let source = wait_window(display, &format!("^{SOURCE_TITLE}$"), WAIT).expect("the drag source window");
        xdotool(display, &["windowmove", "--sync", &source, "1300", "300"]);
        xdotool(display, &["windowmove", "--sync", &window, "0", "0"]);
        Session {
            name,
            xvfb,
            window,
            source,
            _source: source_guard,
            app,
            rv,
        }
    }

    fn display(&self) -> u32 {
        self.xvfb.display
    }

    /// The host's CLIPBOARD as text, when `xclip -o` succeeds, and how long it took.
    fn host_paste(&self) -> (Option<Vec<u8>>, Duration) {
        let start = Instant::now();
        let out = run_x(
            self.display(),
            "xclip",
            &["-o", "-selection", "clipboard", "-t", "UTF8_STRING"],
        );
        let took = start.elapsed();
        (out.ok().filter(|o| o.status.success()).map(|o| o.stdout), took)
    }

    /// An `xclip -i` on the client's display owning CLIPBOARD with `data`, until dropped.
    fn host_copy(&self, data: &[u8]) -> Guard {
        let mut cmd = x_command(self.display(), "xclip");
        cmd.args(["-quiet", "-i", "-selection", "clipboard"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start xclip");
        child.stdin.take().unwrap().write_all(data).unwrap();
        Guard(child)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut rv) = self.rv.take() {
            stop_tree(&mut rv.0);
        }
        self.app.take();
    }
}

/// Guest → host, one sample: the guest copies `data`, the host pastes until it gets it.
fn guest_to_host(g: &Guest, s: &Session, data: &[u8]) -> Res<Duration> {
    g.write_file("/tmp/bench-clip.in", data)?;
    let owner = g.spawn("exec xclip -quiet -i -selection clipboard /tmp/bench-clip.in", true)?;
    let until = Instant::now() + WAIT;
    let took = loop {
        let (got, took) = s.host_paste();
        if got.as_deref() == Some(data) {
            break took;
        }
        if Instant::now() > until {
            return Err(format!("{}: the host never pasted the guest's {} bytes", s.name, data.len()).into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    owner.kill()?;
    Ok(took)
}

/// Host → guest, one sample: the host copies `data`, the guest pastes until it gets it; the
/// successful paste's duration in the guest.
fn host_to_guest(g: &Guest, s: &Session, data: &[u8]) -> Res<Duration> {
    g.write_file("/tmp/bench-want", data)?;
    let owner = s.host_copy(data);
    let script = "for i in $(seq 600); do \
         s=$(date +%s%N); xclip -o -selection clipboard -t UTF8_STRING > /tmp/bench-paste 2>/dev/null; e=$(date +%s%N); \
         if cmp -s /tmp/bench-paste /tmp/bench-want; then echo $((e - s)); rm -f /tmp/bench-paste; exit 0; fi; \
         sleep 0.05; done; echo never; exit 1";
    let out = g.run_with(
        script,
        &RunOptions {
            timeout: WAIT,
            display: true,
        },
    )?;
    drop(owner);
    let ns: u64 = out
        .stdout
        .trim()
        .parse()
        .map_err(|_| format!("{}: the guest never pasted {} bytes: {out:?}", s.name, data.len()))?;
    Ok(Duration::from_nanos(ns))
}

/// Drags from the middle of `from` to the middle of `to`; returns the moment the button was
/// released (the drop).
fn drag(display: u32, from: (i32, i32, i32, i32), to: (i32, i32, i32, i32)) -> Instant {
    let (fx, fy) = (from.0 + from.2 / 2, from.1 + from.3 / 2);
    let (tx, ty) = (to.0 + to.2 / 2, to.1 + to.3 / 2);
    xdotool(display, &["mousemove", "--sync", &fx.to_string(), &fy.to_string()]);
    std::thread::sleep(Duration::from_millis(200));
    xdotool(display, &["mousedown", "1"]);
    for i in 1..=20 {
        let x = fx + (tx - fx) * i / 20;
        let y = fy + (ty - fy) * i / 20;
        xdotool(display, &["mousemove", &x.to_string(), &y.to_string()]);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let drop_at = Instant::now();
    xdotool(display, &["mouseup", "1"]);
    drop_at
}

/// One file sample: drop `file` on the client's window, wait until the guest has it whole.
/// Returns the time from the drop to the complete file, and the guest's own first-byte →
/// complete time.
fn file_sample(g: &Guest, s: &Session, file: &Path, list: &Path) -> Res<(Duration, Duration)> {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let size = std::fs::metadata(file)?.len();
    std::fs::write(list, file.display().to_string())?;
    g.run_ok(&format!("mkdir -p {XFER}; rm -f {XFER}/*"))?;
    // Complete: the full size, and no process holds the file open any more (the agent may
    // size the file before its data is in).
    let watcher = format!(
        "exec python3 -u -c 'import os, sys, time\n\
         p, n = sys.argv[1], int(sys.argv[2]); first = None\n\
         def held():\n\
         \x20   for pid in os.listdir(\"/proc\"):\n\
         \x20       if not pid.isdigit(): continue\n\
         \x20       try: fds = os.listdir(\"/proc/\" + pid + \"/fd\")\n\
         \x20       except OSError: continue\n\
         \x20       for fd in fds:\n\
         \x20           try:\n\
         \x20               if os.readlink(\"/proc/\" + pid + \"/fd/\" + fd) == p: return True\n\
         \x20           except OSError: pass\n\
         \x20   return False\n\
         while True:\n\
         \x20   try: size = os.stat(p).st_size\n\
         \x20   except OSError: size = -1\n\
         \x20   if size >= 0 and first is None: first = time.monotonic(); print(\"appeared\", flush=True)\n\
         \x20   if size >= n and not held(): print(\"complete\", int((time.monotonic() - first) * 1e9), flush=True); break\n\
         \x20   time.sleep(0.05)\n' {XFER}/{name} {size}"
    );
    let watch = g.spawn(&watcher, false)?;
    // python3's start-up in the guest (TCG) takes a while: wait for it to run.
    std::thread::sleep(Duration::from_secs(3));
    let display = s.display();
    let mut drop_at = drag(
        display,
        window_geometry(display, &s.source),
        window_geometry(display, &s.window),
    );
    let mut redragged = false;
    let until = Instant::now() + Duration::from_secs(900);
    let guest_ns = loop {
        let out = watch.stdout();
        if let Some(rest) = out.lines().find_map(|l| l.strip_prefix("complete ")) {
            break rest.trim().parse::<u64>().unwrap_or(0);
        }
        // A drop that did not take (no file after 15 s): drag once more.
        if !redragged && !out.contains("appeared") && drop_at.elapsed() > Duration::from_secs(15) {
            eprintln!("{}: no file 15 s after the drop, dragging again", s.name);
            redragged = true;
            drop_at = drag(
                display,
                window_geometry(display, &s.source),
                window_geometry(display, &s.window),
            );
        }
        if Instant::now() > until {
            return Err(format!("{}: {name} never arrived whole", s.name).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = drop_at.elapsed();
    drop(watch);
    let want = crate::agent_client::sha256_host(file);
    let sum = g.run_ok(&format!("sha256sum {XFER}/{name} | cut -d' ' -f1"))?;
    if sum.trim() != want {
        let ls = g.run(&format!("ls -la {XFER}/"))?.stdout;
        std::thread::sleep(Duration::from_secs(10));
        let later = g.run_ok(&format!("sha256sum {XFER}/{name} | cut -d' ' -f1"))?;
        return Err(format!(
            "{}: {name} changed on the way (sha256 {} then {}, want {want}); {XFER}: {ls}",
            s.name,
            sum.trim(),
            later.trim()
        )
        .into());
    }
    g.run_ok(&format!("rm -f {XFER}/*"))?;
    Ok((took, Duration::from_nanos(guest_ns)))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn bench(g: &Guest) -> CaseResult {
    let rounds = env_usize("SUMAC_BENCH_ROUNDS", 2);
    let samples = env_usize("SUMAC_BENCH_SAMPLES", 3);
    let file_mb = env_usize("SUMAC_BENCH_FILE_MB", 50);
    let clients: Vec<&'static str> = std::env::var("SUMAC_BENCH_CLIENTS")
        .unwrap_or_else(|_| "sumac,remote-viewer".into())
        .split(',')
        .map(|c| if c == "sumac" { "sumac" } else { "remote-viewer" })
        .collect();
    let files = tempfile::tempdir()?;
    let list = files.path().join("drag-list");
    let mut results: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut record = |client: &str, what: &str, value: f64| {
        println!("BENCH-SAMPLE {client} {what} {value:.3}");
        results
            .entry((what.to_owned(), client.to_owned()))
            .or_default()
            .push(value);
    };
    for round in 0..rounds {
        for &client in &clients {
            let s = Session::start(client, g, round, &list);
            // Ready: a first copy from the guest reaches the host (not counted).
            let start = Instant::now();
            guest_to_host(g, &s, format!("{client} ready {round}").as_bytes())?;
            eprintln!("{client}: clipboard ready {:?} after its window", start.elapsed());
            for (label, size) in [("1KB", 1024usize), ("5MB", 5 << 20)] {
                for i in 0..samples {
                    let data = sample_text(&format!("{client} g2h {label} {round} {i} "), size);
                    let d = guest_to_host(g, &s, &data)?;
                    record(
                        client,
                        &format!("clipboard-{label}-guest-to-host-ms"),
                        d.as_secs_f64() * 1e3,
                    );
                    let data = sample_text(&format!("{client} h2g {label} {round} {i} "), size);
                    let d = host_to_guest(g, &s, &data)?;
                    record(
                        client,
                        &format!("clipboard-{label}-host-to-guest-ms"),
                        d.as_secs_f64() * 1e3,
                    );
                }
            }
            let file = files.path().join(format!("bench-{client}-{round}.bin"));
            std::fs::write(
                &file,
                crate::agent_client::random_bytes(file_mb << 20, 7 + round as u64),
            )?;
            let (took, guest) = file_sample(g, &s, &file, &list)?;
            let mb = (file_mb << 20) as f64 / 1e6;
            record(client, "file-drop-to-complete-s", took.as_secs_f64());
            record(client, "file-MB/s", mb / took.as_secs_f64());
            record(client, "file-guest-first-byte-to-complete-s", guest.as_secs_f64());
            std::fs::remove_file(&file)?;
            drop(s);
        }
    }
    for ((what, client), v) in &results {
        println!(
            "BENCH-MEDIAN {what} {client} {:.3} (n={}, min {:.3}, max {:.3})",
            median(v),
            v.len(),
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        );
    }
    Ok(())
}

/// `benches/e2e/agent.py` (or `cargo test --release --test real gui::agent_bench -- --ignored
/// --nocapture --test-threads=1`, the app from `SUMAC_TEST_APP`).
#[test]
#[ignore = "a benchmark: boots a guest, runs the app and remote-viewer; see BENCHMARKS.md"]
fn agent_bench_app_vs_remote_viewer() {
    let tools: Vec<Tool> = vec![XVFB, XDOTOOL, DBUS, XCLIP, REMOTE_VIEWER];
    let Some(()) = require_real_servers(&tools) else { return };
    GuestGroup::new("agent-bench-gui", GuestOptions::default().agent())
        .case("clipboard and file transfer, app vs remote-viewer", bench)
        .run();
}
