use super::*;

/// The tests share one pointer (and one may grab it): one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static POINTER: std::sync::Mutex<()> = std::sync::Mutex::new(());
    POINTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Connects to `$DISPLAY`, or says why the test is skipped (fails under CI).
fn display() -> Option<X11Pointer> {
    let has_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty());
    if !has_display {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but DISPLAY is not: run under xvfb-run"
        );
        eprintln!("skipped: no DISPLAY (run under `xvfb-run -a`)");
        return None;
    }
    // Without -noreset, Xvfb resets when its last client leaves (the tests run
    // one at a time) and refuses connections meanwhile: retry a little.
    let mut attempts = 0;
    loop {
        match X11Pointer::connect() {
            Ok(pointer) => return Some(pointer),
            Err(e) if attempts < 50 => {
                attempts += 1;
                eprintln!("connect to $DISPLAY: {e}; retrying");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("connect to $DISPLAY: {e}"),
        }
    }
}

#[test]
fn warp_then_query() {
    let _serial = serial();
    let Some(pointer) = display() else { return };
    for (x, y) in [(10, 20), (321, 123), (0, 0), (77, 5)] {
        pointer.warp(x, y).unwrap();
        let pos = pointer.position().unwrap();
        assert_eq!((pos.root_x, pos.root_y), (x, y));
    }
    // Relative to a window: the root's origin is (0, 0).
    pointer.warp_in(pointer.root_window(), 50, 60).unwrap();
    let pos = pointer.position().unwrap();
    assert_eq!((pos.root_x, pos.root_y), (50, 60));
}

#[test]
fn warp_errors() {
    let _serial = serial();
    let Some(pointer) = display() else { return };
    assert!(matches!(
        pointer.warp(40_000, 0),
        Err(X11Error::OutOfRange { x: 40_000, y: 0 })
    ));
    assert!(matches!(pointer.warp(0, -40_000), Err(X11Error::OutOfRange { .. })));
    // A window id the server never handed out: BadWindow comes back as an error.
    let bogus = pointer.root_window().wrapping_add(0x00ab_cdef);
    assert!(matches!(pointer.warp_in(bogus, 1, 1), Err(X11Error::Reply(_))));
}

#[test]
fn keycodes_name_of_this_server() {
    let Some(pointer) = display() else { return };
    let name = pointer.xkb_keycodes_name().unwrap();
    eprintln!("XKB keycodes name: {name:?}");
    // Xvfb and Xorg load evdev keycodes by default.
    let name = name.expect("the X server has XKB keycodes");
    assert_eq!(keycode_table_for_x11(&name), Some(KeycodeTable::X11Evdev), "{name}");
    assert_eq!(pointer.keycode_table().unwrap(), Some(KeycodeTable::X11Evdev));
}

/// A private Xvfb (killed when dropped), so that grabbing its pointer
/// disturbs no other test process sharing `$DISPLAY` (nextest runs tests in
/// parallel processes). `None` (fails under CI) without Xvfb.
struct PrivateXvfb {
    child: std::process::Child,
    name: String,
}

impl Drop for PrivateXvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn private_xvfb() -> Option<PrivateXvfb> {
    use std::io::BufRead as _;
    let spawned = std::process::Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "640x480x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but Xvfb cannot start: {e}");
            eprintln!("skipped: cannot start Xvfb ({e}); install the xvfb package");
            return None;
        }
    };
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("Xvfb display number");
    let number: u32 = line.trim().parse().expect("Xvfb printed its display number");
    Some(PrivateXvfb {
        child,
        name: format!(":{number}"),
    })
}

/// A mapped 200x150 window at (100, 80) owned by a connection of its own.
fn mapped_window(display: &str) -> (RustConnection, XWindow) {
    let (conn, screen) = x11rb::connect(Some(display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let window = conn.generate_id().unwrap();
    let aux = xproto::CreateWindowAux::new().override_redirect(1);
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        window,
        root,
        100,
        80,
        200,
        150,
        0,
        xproto::WindowClass::INPUT_OUTPUT,
        x11rb::COPY_FROM_PARENT,
        &aux,
    )
    .unwrap();
    conn.map_window(window).unwrap();
    x11rb::wrapper::ConnectionExt::sync(&conn).unwrap();
    (conn, window)
}

fn next_event(pointer: &X11Pointer) -> GrabEvent {
    for _ in 0..200 {
        if let Some(e) = pointer.poll_event().unwrap() {
            return e;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("no pointer event within 1 s");
}

#[test]
fn grab_confines_hides_and_reports_warps() {
    let Some(xvfb) = private_xvfb() else { return };
    let mut pointer = X11Pointer::connect_to(&xvfb.name).unwrap();
    let (_owner, window) = mapped_window(&xvfb.name);
    pointer.warp(150, 100).unwrap();
    let before = pointer.cursor_image().unwrap();
    assert!(before.opaque_pixels > 0, "the default cursor is visible: {before:?}");
    assert_eq!(pointer.grab(window).unwrap(), GrabStatus::Success);
    // A grab from another connection now fails.
    let mut other = X11Pointer::connect_to(&xvfb.name).unwrap();
    assert_eq!(other.grab(window).unwrap(), GrabStatus::AlreadyGrabbed);
    let hidden = pointer.cursor_image().unwrap();
    assert_eq!(hidden.opaque_pixels, 0, "{hidden:?}");
    // Confined: a warp far outside lands on the window's edge.
    pointer.warp(5, 5).unwrap();
    let pos = pointer.position().unwrap();
    assert_eq!((pos.root_x, pos.root_y), (100, 80));
    // The warp's motion comes to us, relative to the window, with the warp's sequence number.
    while pointer.poll_event().unwrap().is_some() {}
    let seq = pointer.warp_in_nowait(window, 120, 70).unwrap();
    match next_event(&pointer) {
        GrabEvent::Motion { x, y, sequence } => {
            assert_eq!((x, y), (120, 70));
            assert_eq!(sequence, seq);
        }
        other => panic!("expected a motion, got {other:?}"),
    }
    pointer.ungrab().unwrap();
    pointer.warp(5, 5).unwrap();
    let pos = pointer.position().unwrap();
    assert_eq!((pos.root_x, pos.root_y), (5, 5), "free again after ungrab");
    assert!(pointer.cursor_image().unwrap().opaque_pixels > 0);
    assert!(matches!(
        pointer.warp_in_nowait(window, 40_000, 0),
        Err(X11Error::OutOfRange { .. })
    ));
}

#[test]
fn connect_failure_is_an_error() {
    // No server on display 59000 (port 65000).
    let error = X11Pointer::connect_to(":59000").unwrap_err();
    assert!(matches!(error, X11Error::Connect(_)), "{error}");
    // Display numbers whose TCP port would overflow are refused before x11rb sees them.
    for name in [":65000", "localhost:60000.0", "unix:99999"] {
        let error = X11Pointer::connect_to(name).unwrap_err();
        assert!(matches!(error, X11Error::BadDisplay(_)), "{name}: {error}");
    }
}
