//! The guest agent against Xspice with Debian's spice-vdagent (real-servers.md): clipboard both
//! ways on CLIPBOARD and PRIMARY (the X side read and written with `xclip`), a PNG pixel for
//! pixel, 5 MB of text, copies over the limit refused, files byte for byte in the agent's
//! transfer directory, a cancelled transfer reported cancelled.

use super::agent_client::{AgentClient, Ev, png_pattern, png_pixels, random_bytes, sha256_host, text};
use crate::support::{real::xspice::*, real::*, tools::*};
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use sumac::client::agent::{
    AgentEvent, AgentOptions, ClipType, ClipboardDirection, ClipboardFailure, Selection, TransferOutcome,
};

const WAIT: Duration = Duration::from_secs(60);

/// `xclip -quiet -i` owning `selection` with `data` (of MIME `target`), until killed.
fn xclip_owner(xs: &Xspice, selection: &str, target: &str, data: &[u8]) -> Child {
    let mut cmd = xs.x_command("xclip");
    cmd.args(["-quiet", "-i", "-selection", selection, "-t", target])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start xclip");
    child.stdin.take().unwrap().write_all(data).unwrap();
    child
}

/// `xclip -o` until it prints `want` (the agent takes the X selection a moment after our grab);
/// returns the output and how long the successful paste took.
fn xclip_paste(xs: &Xspice, selection: &str, target: &str, want_len: usize) -> (Vec<u8>, Duration) {
    let until = Instant::now() + WAIT;
    loop {
        let start = Instant::now();
        let out = xs
            .run_x("xclip", &["-o", "-selection", selection, "-t", target])
            .expect("run xclip -o");
        let took = start.elapsed();
        if out.status.success() && out.stdout.len() == want_len {
            return (out.stdout, took);
        }
        assert!(
            Instant::now() < until,
            "xclip -o {selection} {target}: {} bytes, wanted {want_len}; {}",
            out.stdout.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn agent_on_xspice_clipboard_and_files() {
    let Some(()) = require_real_servers(&[XSPICE, XORG, XCLIP, VDAGENT, VDAGENTD]) else {
        return;
    };
    let xs = Xspice::start(XspiceOpts {
        vdagent: true,
        ..Default::default()
    })
    .expect("start Xspice with its agent");
    let mut c = AgentClient::connect(&xs.uri(), AgentOptions::default(), WAIT);
    assert!(c.info.clipboard() && c.info.selections(), "{:?}", c.info.describe());
    assert_eq!(c.info.line_end, Some(sumac::proto::vdagent::clipboard::LineEnd::Lf));

    // Text, guest → client and client → guest, on both selections.
    for (sel, name) in [(Selection::Clipboard, "clipboard"), (Selection::Primary, "primary")] {
        let data = format!("Sumac {name} from the guest\nline two\n").into_bytes();
        let owner = xclip_owner(&xs, name, "UTF8_STRING", &data);
        c.wait_grab(sel, ClipType::Text, WAIT);
        let (got, took) = c.paste(sel, ClipType::Text, WAIT);
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&data));
        eprintln!("xspice: {name} text guest→client in {took:?}");
        stop(owner);
        let data = format!("Sumac {name} from the client\nline two\n").into_bytes();
        c.copy(sel, ClipType::Text, data.clone());
        let (got, took) = xclip_paste(&xs, name, "UTF8_STRING", data.len());
        assert_eq!(got, data);
        eprintln!("xspice: {name} text client→guest in {took:?}");
    }

    // A PNG both ways, pixel for pixel.
    let (png, pixels) = png_pattern(300, 200);
    let owner = xclip_owner(&xs, "clipboard", "image/png", &png);
    c.wait_grab(Selection::Clipboard, ClipType::Png, WAIT);
    let (got, _) = c.paste(Selection::Clipboard, ClipType::Png, WAIT);
    assert_eq!(png_pixels(&got), (300, 200, pixels.clone()), "PNG guest → client");
    stop(owner);
    c.copy(Selection::Clipboard, ClipType::Png, png.clone());
    let until = Instant::now() + WAIT;
    loop {
        let out = xs
            .run_x("xclip", &["-o", "-selection", "clipboard", "-t", "image/png"])
            .unwrap();
        if out.status.success() && out.stdout.starts_with(b"\x89PNG") {
            assert_eq!(
                png_pixels(&out.stdout),
                (300, 200, pixels.clone()),
                "PNG client → guest"
            );
            break;
        }
        assert!(Instant::now() < until, "the guest never pasted the PNG");
        std::thread::sleep(Duration::from_millis(200));
    }

    // 5 MB of text both ways.
    let big = text(5 << 20);
    let owner = xclip_owner(&xs, "clipboard", "UTF8_STRING", &big);
    c.wait_grab(Selection::Clipboard, ClipType::Text, WAIT);
    let (got, took) = c.paste(Selection::Clipboard, ClipType::Text, WAIT);
    assert!(got == big, "5 MB guest → client: {} bytes", got.len());
    eprintln!("xspice: 5 MB text guest→client in {took:?}");
    stop(owner);
    c.copy(Selection::Clipboard, ClipType::Text, big.clone());
    let (got, took) = xclip_paste(&xs, "clipboard", "UTF8_STRING", big.len());
    assert!(got == big, "5 MB client → guest changed");
    eprintln!("xspice: 5 MB text client→guest in {took:?}");

    // Two files (one of 60 MB) arrive byte for byte; a third, cancelled, is reported so.
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("notes.txt");
    let large = dir.path().join("large.bin");
    std::fs::write(&small, b"a small file\n").unwrap();
    std::fs::write(&large, random_bytes(60 << 20, 7)).unwrap();
    let (outcomes, took) = c.send_files(&[&small, &large], Duration::from_secs(300));
    assert_eq!(outcomes, vec![TransferOutcome::Success, TransferOutcome::Success]);
    eprintln!(
        "xspice: 60 MB + 13 B sent in {took:?} ({:.1} MB/s)",
        (60 << 20) as f64 / took.as_secs_f64() / 1e6
    );
    for f in [&small, &large] {
        let arrived = xs.agent_xfer_dir().join(f.file_name().unwrap());
        assert_eq!(
            sha256_host(&arrived),
            sha256_host(f),
            "{} changed on the way",
            arrived.display()
        );
    }
    let cancelled = dir.path().join("cancelled.bin");
    std::fs::write(&cancelled, random_bytes(60 << 20, 9)).unwrap();
    let id = c.agent.send_file(&cancelled).unwrap();
    c.wait_for(
        WAIT,
        |e| matches!(e, Ev::Agent(AgentEvent::FileStarted { id: i, .. }) if *i == id),
    );
    c.agent.cancel_file(id).unwrap();
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

    // The guest's answer to MONITORS_CONFIG (Xspice does not resize; the agent replies).
    c.agent
        .monitors_config(&[sumac::client::agent::MonitorSpec::new(0, 0, 1024, 768)])
        .unwrap();
    let reply = c.try_wait_for(Duration::from_secs(10), |e| {
        matches!(e, Ev::Agent(AgentEvent::Reply { .. }))
    });
    eprintln!("xspice: monitors config reply: {reply:?}");
    assert_eq!(c.agent.stats().framing_errors, 0);
    drop(c);

    // Over the limit (1 MiB), both ways: refused with an event, never truncated.
    let mut c = AgentClient::connect(
        &xs.uri(),
        AgentOptions {
            max_clipboard: 1 << 20,
            ..AgentOptions::default()
        },
        WAIT,
    );
    let two = text(2 << 20);
    let owner = xclip_owner(&xs, "clipboard", "UTF8_STRING", &two);
    c.wait_grab(Selection::Clipboard, ClipType::Text, WAIT);
    let failed = c.paste_fails(Selection::Clipboard, ClipType::Text, WAIT);
    assert!(
        matches!(
            failed,
            AgentEvent::ClipboardFailed {
                reason: ClipboardFailure::NoData { limit: Some(1048576) } | ClipboardFailure::TooLarge { .. },
                ..
            }
        ),
        "{failed:?}"
    );
    eprintln!("xspice: 2 MB over a 1 MiB limit from the guest: {failed:?}");
    stop(owner);
    c.copy(Selection::Clipboard, ClipType::Text, two);
    let until = Instant::now() + WAIT;
    while c.served().is_empty() {
        let _ = xs.run_x("xclip", &["-o", "-selection", "clipboard"]);
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
}
