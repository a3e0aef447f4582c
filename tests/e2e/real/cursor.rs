//! The cursor channel against a real Xspice: the X server's cursor follows the pointer, each
//! shape decoded with its real size and hot spot, checked against what XFixes says.

use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::session::next_event;
use crate::support::tools::{XDOTOOL, XSETROOT};
use crate::support::xfixes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sumac::client::events::{CursorEvent, CursorShape};
use sumac::client::{ConnectionConfig, SessionEvent, SessionOptions};
use tokio::sync::mpsc::UnboundedReceiver;

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
        match next_event(rx, until) {
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
    let probe = xfixes::build_probe(xspice.scratch_dir());
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&xspice.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();

    // Xspice only forwards cursor changes made while a client is connected: wait for
    // CURSOR_INIT, then give the root window its X cursor explicitly.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match next_event(&mut rx, until).expect("no CURSOR_INIT from Xspice") {
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
    let root_x = probe.as_ref().map(|probe| xfixes::cursor(probe, xspice.display));
    eprintln!("root cursor {root:?}, events {}:\n{}", ev_root.len(), ascii(&root));
    let (ibeam, ev_ibeam) = move_and_wait_shape(&xspice, &mut rx, (360, 250), Some(&root));
    let ibeam_x = probe.as_ref().map(|probe| xfixes::cursor(probe, xspice.display));
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
        let hot = (u32::from(ours.hot_x), u32::from(ours.hot_y));
        assert_eq!(
            (u32::from(ours.width), u32::from(ours.height), hot),
            (x.width, x.height, x.hot),
            "{name}: Sumac's shape vs XFixes ({})",
            x.name
        );
        // Same opaque pixels (alpha >= 128) as the X server's cursor image.
        let alpha = x.alpha();
        let differ = (0..ours.height)
            .flat_map(|y| (0..ours.width).map(move |x| (x, y)))
            .filter(|&(px, py)| {
                let a = ours.pixel(px, py).map_or(0, |p| p[3]);
                let b = alpha[usize::from(py) * x.width as usize + usize::from(px)];
                (a >= 128) != (b >= 128)
            })
            .count();
        assert_eq!(differ, 0, "{name}: opaque pixels differ from XFixes ({})", x.name);
    }
}
