//! A second `sumac` while one runs (same session bus) forwards its whole command line: the new
//! window gets its `-t` title and `-f` full screen, a `.vv` named relative to the second
//! process's directory is found, the second process exits 0 without a GLib warning, and a target
//! that cannot be opened makes it exit 1. The first process connects before GTK starts; the
//! second neither connects nor reads its target (its one-shot `.vv`, delete-this-file, is read by
//! the running instance). The `sumac` app on Xvfb with openbox.

use crate::support::app::{App, SessionBus};
use crate::support::artifact_dir;
use crate::support::desktop::{OPENBOX, XPROP, is_fullscreen, start_openbox};
use crate::support::tools::{DBUS, XDOTOOL, XVFB, require_tools};
use crate::support::wait::{WAIT, poll};
use crate::support::x11::{self, Xvfb};
use std::time::Duration;
use sumac_test_server::{ServerConfig, TestServer};

#[test]
fn a_second_invocation_keeps_its_options() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, DBUS, OPENBOX, XPROP]) else {
        return;
    };
    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let out = artifact_dir("gui-forward-command-line");
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let _wm = start_openbox(&xvfb, &out);
    let bus = SessionBus::start();
    let config = out.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let first = App::spawn(
        App::x11_command_on_bus(
            xvfb.display,
            &config,
            &bus.address,
            &["-t", "first-window", &server.uri()],
        ),
        out.join("first.log"),
    );
    let first_window = x11::wait_window(xvfb.display, "^first-window$", WAIT)
        .unwrap_or_else(|| panic!("no first window; log:\n{}", first.log()));

    // The second one names a .vv file relative to its own directory.
    let dir = out.join("cwd");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("vm.vv"),
        format!(
            "[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport={}\ndelete-this-file=1\n",
            server.port()
        ),
    )
    .unwrap();
    let mut cmd = App::x11_command_on_bus(
        xvfb.display,
        &config,
        &bus.address,
        &["-t", "Some title", "-f", "-z", "50", "vm.vv"],
    );
    cmd.current_dir(&dir);
    let mut second = App::spawn(cmd, out.join("second.log"));
    assert_eq!(
        second.wait_exit(WAIT),
        Some(0),
        "second: {}\nfirst: {}",
        second.log(),
        first.log()
    );
    let log = second.log();
    assert!(log.contains("handing the command line over"), "{log}");
    assert!(
        !log.contains("GLib"),
        "the forwarding process printed a GLib message:\n{log}"
    );
    assert!(
        !log.contains("session started before GTK") && !log.contains("channel linked"),
        "the forwarding process connected:\n{log}"
    );
    assert!(
        first.log().contains("session started before GTK"),
        "the first process did not connect before GTK:\n{}",
        first.log()
    );

    let window = x11::wait_window(xvfb.display, "^Some title$", WAIT)
        .unwrap_or_else(|| panic!("no window titled by the second -t; log:\n{}", first.log()));
    let full = poll(WAIT, Duration::from_millis(200), || {
        is_fullscreen(xvfb.display, &window).then_some(())
    });
    x11::screenshot(xvfb.display, "root", &out.join("forwarded.png"));
    assert!(full.is_some(), "the second -f did not give a full-screen window");
    assert!(
        !dir.join("vm.vv").exists(),
        "the running instance did not delete the one-shot .vv"
    );
    assert!(
        !is_fullscreen(xvfb.display, &first_window),
        "the first window went full screen"
    );
    assert!(
        first.log().contains("command line from another process"),
        "{}",
        first.log()
    );

    // A target the running instance cannot open: exit status 1.
    let mut third = App::spawn(
        App::x11_command_on_bus(xvfb.display, &config, &bus.address, &["/nonexistent/none.vv"]),
        out.join("third.log"),
    );
    assert_eq!(third.wait_exit(WAIT), Some(1), "{}", first.log());
    assert!(
        first.log().contains("cannot open the forwarded target"),
        "{}",
        first.log()
    );
}
