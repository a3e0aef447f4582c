//! The cursor channel against the test server: every shape type decoded as
//! the server designed it, cache hits and invalidation, move and hide.

use std::time::{Duration, Instant};
use sumac::client::events::CursorEvent;
use sumac::client::{ConnectionConfig, SessionEvent, SessionOptions};
use sumac::proto::channel::cursor::{CursorServer, CursorType, flags};
use sumac::proto::channel::display::Point16;
use sumac_test_server::cursor::{self as script, CursorScript, Design};
use sumac_test_server::{ServerConfig, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(20);

fn next(rx: &mut UnboundedReceiver<SessionEvent>, until: Instant) -> Option<SessionEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(until.saturating_duration_since(Instant::now()), rx.recv())
            .await
            .ok()
            .flatten()
    })
}

/// Runs `messages` on the cursor channel and collects `count` cursor events.
fn cursor_events(messages: Vec<CursorServer>, count: usize) -> Vec<CursorEvent> {
    let cfg = ServerConfig {
        cursor: CursorScript { messages },
        ..Default::default()
    };
    let server = TestServer::start(cfg).unwrap();
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    let until = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count {
        match next(&mut rx, until) {
            Some(SessionEvent::Cursor { channel_id: 0, event }) => out.push(event),
            Some(SessionEvent::Disconnected { error }) => panic!("session ended: {error:?}"),
            Some(_) => {}
            None => panic!("only {} of {count} cursor events arrived: {out:?}", out.len()),
        }
    }
    session.disconnect();
    out
}

fn assert_shape(event: &CursorEvent, design: &Design, what: &str) {
    let CursorEvent::Set { shape, visible, .. } = event else {
        panic!("{what}: expected Set, got {event:?}")
    };
    assert!(visible, "{what}");
    assert_eq!((shape.width, shape.height), (design.width, design.height), "{what}");
    assert_eq!((shape.hot_x, shape.hot_y), (design.hot_x, design.hot_y), "{what}");
    assert_eq!(
        shape.rgba.len(),
        usize::from(design.width) * usize::from(design.height) * 4
    );
    let expected = design.expected_rgba();
    let bad: Vec<_> = shape
        .rgba
        .chunks(4)
        .zip(expected.chunks(4))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .take(5)
        .collect();
    assert!(bad.is_empty(), "{what}: pixels differ (index, got, want): {bad:?}");
}

#[test]
fn every_cursor_type_arrives_decoded() {
    let colour = script::colour_design();
    let mono = script::mono_design();
    let types = [
        CursorType::Alpha,
        CursorType::Color4,
        CursorType::Color8,
        CursorType::Color16,
        CursorType::Color24,
        CursorType::Color32,
    ];
    let mut messages = vec![script::init(script::shape(&mono, CursorType::Mono, 1, 0), 3, 4)];
    for (i, ty) in types.iter().enumerate() {
        messages.push(script::set(script::shape(&colour, *ty, 10 + i as u64, 0), 5, 6, true));
    }
    let events = cursor_events(messages, 1 + types.len());
    assert_shape(&events[0], &mono, "MONO");
    let CursorEvent::Set { x: 3, y: 4, .. } = &events[0] else {
        panic!("INIT position: {:?}", events[0])
    };
    for (ty, e) in types.iter().zip(&events[1..]) {
        assert_shape(e, &colour, &format!("{ty:?}"));
    }
}

#[test]
fn cache_hits_invalidation_move_and_hide() {
    let arrow = script::arrow();
    let colour = script::colour_design();
    let messages = vec![
        script::init(script::shape(&arrow, CursorType::Alpha, 100, flags::CACHE_ME), 1, 1),
        script::set(
            script::shape(&colour, CursorType::Color32, 200, flags::CACHE_ME),
            2,
            2,
            true,
        ),
        // Hit on the first shape.
        script::set(script::from_cache(100), 3, 3, true),
        CursorServer::Move {
            position: Point16 { x: 40, y: -5 },
        },
        CursorServer::Hide,
        // Drop 100: FROM_CACHE 100 now misses (hide), 200 still hits.
        CursorServer::InvalOne { id: 100 },
        script::set(script::from_cache(100), 4, 4, true),
        script::set(script::from_cache(200), 5, 5, true),
        // INVAL_ALL: 200 misses too.
        CursorServer::InvalAll,
        script::set(script::from_cache(200), 6, 6, true),
        // A shape set invisible, then RESET.
        script::set(script::shape(&arrow, CursorType::Alpha, 300, 0), 7, 7, false),
        CursorServer::Reset,
    ];
    let ev = cursor_events(messages, 10);
    assert_shape(&ev[0], &arrow, "INIT arrow");
    assert_shape(&ev[1], &colour, "SET colour");
    assert_shape(&ev[2], &arrow, "FROM_CACHE arrow");
    let (CursorEvent::Set { shape: a, .. }, CursorEvent::Set { shape: b, .. }) = (&ev[0], &ev[2]) else {
        unreachable!()
    };
    assert!(std::sync::Arc::ptr_eq(a, b), "a cache hit shares the decoded shape");
    assert_eq!(ev[3], CursorEvent::Move { x: 40, y: -5 });
    assert_eq!(ev[4], CursorEvent::Hide);
    assert_eq!(ev[5], CursorEvent::Hide, "FROM_CACHE after INVAL_ONE misses");
    assert_shape(&ev[6], &colour, "FROM_CACHE colour after INVAL_ONE of the other");
    assert_eq!(ev[7], CursorEvent::Hide, "FROM_CACHE after INVAL_ALL misses");
    let CursorEvent::Set {
        visible: false,
        x: 7,
        y: 7,
        ..
    } = &ev[8]
    else {
        panic!("invisible SET: {:?}", ev[8])
    };
    assert_eq!(ev[9], CursorEvent::Reset);
}

#[test]
fn hostile_cursor_messages_do_not_end_the_channel() {
    let arrow = script::arrow();
    let mut short = script::shape(&arrow, CursorType::Alpha, 1, 0);
    short.data.truncate(10);
    let mut huge = script::shape(&arrow, CursorType::Alpha, 2, 0);
    if let Some(h) = huge.header.as_mut() {
        h.width = u16::MAX;
        h.height = u16::MAX;
    }
    let messages = vec![
        script::init(short, 0, 0),
        script::set(huge, 0, 0, true),
        CursorServer::Unknown {
            msg_type: 140,
            data: vec![1, 2, 3],
        },
        script::set(script::shape(&arrow, CursorType::Alpha, 3, 0), 9, 9, true),
    ];
    // The two bad shapes are dropped as undecodable; the good one still arrives.
    let ev = cursor_events(messages, 1);
    assert_shape(&ev[0], &arrow, "good shape after hostile ones");
}

#[test]
fn the_standard_script_shows_the_arrow() {
    let ev = cursor_events(script::standard().messages, 1);
    assert_shape(&ev[0], &script::arrow(), "standard arrow");
}

// ---- Real Xspice --------------------------------------------------------------------------------

mod xspice {
    use super::next;
    use crate::real::{Tool, XSPICE_TOOLS, Xspice, XspiceOpts, require_real_servers};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use sumac::client::events::{CursorEvent, CursorShape};
    use sumac::client::{ConnectionConfig, SessionEvent, SessionOptions};
    use tokio::sync::mpsc::UnboundedReceiver;

    const XDOTOOL: Tool = Tool {
        binary: "xdotool",
        package: "xdotool",
    };
    const XSETROOT: Tool = Tool {
        binary: "xsetroot",
        package: "x11-xserver-utils",
    };

    /// Bounding box (x0, y0, x1, y1 exclusive) of the opaque pixels (alpha >= 128).
    fn opaque_bbox(s: &CursorShape) -> Option<(u16, u16, u16, u16)> {
        let mut b: Option<(u16, u16, u16, u16)> = None;
        for y in 0..s.height {
            for x in 0..s.width {
                if s.pixel(x, y).is_some_and(|p| p[3] >= 128) {
                    b = Some(match b {
                        None => (x, y, x + 1, y + 1),
                        Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)),
                    });
                }
            }
        }
        b
    }

    fn ascii(s: &CursorShape) -> String {
        let mut out = String::new();
        for y in 0..s.height {
            for x in 0..s.width {
                out.push(match s.pixel(x, y) {
                    Some([_, _, _, a]) if a < 128 => '.',
                    Some([r, g, b, _]) if u32::from(r) + u32::from(g) + u32::from(b) > 384 => 'o',
                    _ => '#',
                });
            }
            out.push('\n');
        }
        out
    }

    /// The X server's current cursor, as XFixes reports it.
    struct XCursor {
        width: u16,
        height: u16,
        hot_x: u16,
        hot_y: u16,
        name: String,
        alpha: Vec<u8>,
    }

    const XFIXES_PROBE: &str = r#"
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>
#include <stdio.h>
int main(void) {
    Display *d = XOpenDisplay(NULL);
    if (!d) return 2;
    XFixesCursorImage *c = XFixesGetCursorImage(d);
    if (!c) return 3;
    printf("%d %d %d %d %s\n", c->width, c->height, c->xhot, c->yhot, c->name ? c->name : "-");
    for (int i = 0; i < c->width * c->height; i++)
        printf("%lu\n", (c->pixels[i] >> 24) & 0xff);
    return 0;
}
"#;

    /// Builds a small XFixes probe with `cc`; `None` (and the cross-check is skipped) when the
    /// compiler or the Xfixes headers are missing.
    fn build_xfixes_tool(xspice: &Xspice) -> Option<std::path::PathBuf> {
        let dir = xspice.scratch_dir();
        let src = dir.join("xfixes_cursor.c");
        let bin = dir.join("xfixes_cursor");
        std::fs::write(&src, XFIXES_PROBE).ok()?;
        let status = std::process::Command::new("cc")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .args(["-lX11", "-lXfixes"])
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(bin)
    }

    fn xfixes_cursor(xspice: &Xspice, tool: &std::path::Path) -> XCursor {
        let out = xspice.run_x(tool.to_str().unwrap(), &[]).expect("run the XFixes probe");
        assert!(out.status.success(), "XFixes probe failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let n = |i: usize| head[i].parse::<u16>().unwrap();
        XCursor {
            width: n(0),
            height: n(1),
            hot_x: n(2),
            hot_y: n(3),
            name: head.get(4).unwrap_or(&"-").to_string(),
            alpha: lines.map(|l| l.parse::<u8>().unwrap()).collect(),
        }
    }

    /// Moves the X pointer, then waits for a SET whose shape differs from `previous`.
    fn move_and_wait_shape(
        xspice: &Xspice,
        rx: &mut UnboundedReceiver<SessionEvent>,
        (x, y): (u32, u32),
        previous: Option<&Arc<CursorShape>>,
    ) -> (Arc<CursorShape>, Vec<CursorEvent>) {
        let out = xspice
            .run_x("xdotool", &["mousemove", &x.to_string(), &y.to_string()])
            .expect("xdotool mousemove");
        assert!(
            out.status.success(),
            "xdotool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let until = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        loop {
            match next(rx, until) {
                Some(SessionEvent::Cursor { event, .. }) => {
                    seen.push(event.clone());
                    if let CursorEvent::Set { shape, .. } = event
                        && previous.is_none_or(|p| p.rgba != shape.rgba || p.width != shape.width)
                    {
                        return (shape, seen);
                    }
                }
                Some(SessionEvent::Disconnected { error }) => panic!("session ended: {error:?}"),
                Some(_) => {}
                None => panic!("no new cursor shape after moving to ({x}, {y}); cursor events: {seen:?}"),
            }
        }
    }

    /// The X server's cursor follows the pointer: the root window's X cursor,
    /// then xterm's I-beam, each decoded with its real size and hot spot.
    #[test]
    fn xspice_cursor_follows_the_pointer_between_root_and_xterm() {
        let Some(()) = require_real_servers(&[XSPICE_TOOLS, &[XDOTOOL, XSETROOT]].concat()) else {
            return;
        };
        let mut xspice = Xspice::start(XspiceOpts::default()).expect("start Xspice");
        // The xterm covers (300, 200) .. about (300 + 40 * 6, 200 + 10 * 13). By default
        // xterm uses the core-font I-beam, which Xspice's qxl driver refuses as a hardware
        // cursor (the X server then draws it into the framebuffer and the cursor channel only
        // says HIDE); with a cursor theme it is an ARGB cursor, sent as a SPICE ALPHA cursor.
        xspice
            .spawn_x(
                "xterm",
                &[
                    "-xrm",
                    "*cursorTheme: Adwaita",
                    "-geometry",
                    "40x10+300+200",
                    "-e",
                    "sleep",
                    "100000",
                ],
            )
            .expect("start xterm");
        let start = Instant::now();
        loop {
            let out = xspice
                .run_x("xdotool", &["search", "--class", "xterm"])
                .expect("xdotool search");
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "xterm never mapped");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Let xterm map and define its cursor.
        std::thread::sleep(Duration::from_millis(500));
        let xfixes = build_xfixes_tool(&xspice);
        let (session, mut rx) = sumac::client::connect(
            ConnectionConfig::from_uri(&xspice.uri()).unwrap(),
            SessionOptions::default(),
        )
        .unwrap();

        // Xspice only forwards cursor changes made while a client is connected: wait for
        // CURSOR_INIT, then give the root window its X cursor explicitly.
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            match next(&mut rx, until).expect("no CURSOR_INIT from Xspice") {
                SessionEvent::Cursor { .. } => break,
                SessionEvent::Disconnected { error } => panic!("session ended: {error:?}"),
                _ => {}
            }
        }
        let out = xspice
            .run_x("xsetroot", &["-cursor_name", "X_cursor"])
            .expect("xsetroot");
        assert!(
            out.status.success(),
            "xsetroot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (root, ev_root) = move_and_wait_shape(&xspice, &mut rx, (40, 40), None);
        let root_x = xfixes.as_ref().map(|tool| xfixes_cursor(&xspice, tool));
        eprintln!("root cursor {root:?}, events {}:\n{}", ev_root.len(), ascii(&root));
        let (ibeam, ev_ibeam) = move_and_wait_shape(&xspice, &mut rx, (360, 250), Some(&root));
        let ibeam_x = xfixes.as_ref().map(|tool| xfixes_cursor(&xspice, tool));
        eprintln!("xterm cursor {ibeam:?}, events {}:\n{}", ev_ibeam.len(), ascii(&ibeam));
        // Back on the root: the X cursor again.
        let (root2, _) = move_and_wait_shape(&xspice, &mut rx, (40, 600), Some(&ibeam));
        session.disconnect();

        for s in [&root, &ibeam, &root2] {
            assert_eq!(s.rgba.len(), usize::from(s.width) * usize::from(s.height) * 4);
            assert!(s.hot_x <= s.width && s.hot_y <= s.height);
        }
        assert_eq!(root2.rgba, root.rgba, "the root cursor comes back unchanged");
        let (rx0, ry0, rx1, ry1) = opaque_bbox(&root).expect("root cursor has opaque pixels");
        let (ix0, iy0, ix1, iy1) = opaque_bbox(&ibeam).expect("I-beam has opaque pixels");
        let (rw, rh) = (rx1 - rx0, ry1 - ry0);
        let (iw, ih) = (ix1 - ix0, iy1 - iy0);
        // The X cursor is about as wide as tall; the I-beam is a narrow, tall column.
        assert!(rw * 2 > rh && rh * 2 > rw, "root cursor is not X-shaped: {rw}x{rh}");
        assert!(ih >= 2 * iw && ih >= 10, "xterm cursor is not an I-beam: {iw}x{ih}");
        // The I-beam's hot spot is within its column and near its middle.
        assert!(
            (ix0..=ix1).contains(&ibeam.hot_x),
            "I-beam hot x {} outside {ix0}..{ix1}",
            ibeam.hot_x
        );
        assert!(
            ibeam.hot_y > iy0 && ibeam.hot_y < iy1,
            "I-beam hot y {} outside {iy0}..{iy1}",
            ibeam.hot_y
        );
        // The X cursor's hot spot is its centre, give or take a pixel.
        let (cx, cy) = ((rx0 + rx1) / 2, (ry0 + ry1) / 2);
        assert!(
            root.hot_x.abs_diff(cx) <= 2 && root.hot_y.abs_diff(cy) <= 2,
            "X cursor hot spot {:?} vs centre ({cx}, {cy})",
            (root.hot_x, root.hot_y)
        );
        // The I-beam's middle row is a thin opaque run: one to three pixels.
        let mid = (iy0 + iy1) / 2;
        let run = (0..ibeam.width)
            .filter(|&x| ibeam.pixel(x, mid).is_some_and(|p| p[3] >= 128))
            .count();
        assert!((1..=3).contains(&run), "I-beam middle row has {run} opaque pixels");
        // What the X server itself says (XFixes), when the probe could be built.
        for (name, ours, theirs) in [("root", &root, root_x), ("xterm", &ibeam, ibeam_x)] {
            let Some(x) = theirs else {
                eprintln!("XFixes probe unavailable (needs cc and libxfixes-dev): {name} not cross-checked");
                continue;
            };
            assert_eq!(
                (ours.width, ours.height, ours.hot_x, ours.hot_y),
                (x.width, x.height, x.hot_x, x.hot_y),
                "{name}: Sumac's shape vs XFixes ({})",
                x.name
            );
            // Same opaque pixels (alpha >= 128) as the X server's cursor image.
            let differ = (0..ours.height)
                .flat_map(|y| (0..ours.width).map(move |x| (x, y)))
                .filter(|&(px, py)| {
                    let a = ours.pixel(px, py).map_or(0, |p| p[3]);
                    let b = x.alpha[usize::from(py) * usize::from(x.width) + usize::from(px)];
                    (a >= 128) != (b >= 128)
                })
                .count();
            assert_eq!(differ, 0, "{name}: opaque pixels differ from XFixes ({})", x.name);
        }
    }
}
