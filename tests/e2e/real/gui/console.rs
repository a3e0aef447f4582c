//! A console window ([`ConsoleWindow`], what the app's View > Consoles opens) on a real QEMU's
//! human monitor (HMP on the SPICE port `org.qemu.monitor.hmp.0`): `info version` typed into the
//! window with xdotool on a private Xvfb runs in QEMU, and QEMU's version (as its own QMP socket
//! gives it) shows in the window's text after the command.
//!
//! The GTK side runs in a child process (this test binary again, [`console_child`]): a
//! [`Session`] and the console window; it writes the window's text to a report file, which the
//! test reads.

use crate::support::artifact_dir;
use crate::support::process::Guard;
use crate::support::real::qemu::{Qemu, QemuOpts, spiceport_monitors};
use crate::support::real::{QEMU_TOOLS, require_real_servers};
use crate::support::tools::{XDOTOOL, XVFB};
use crate::support::wait::{WAIT, wait_until};
use crate::support::x11::{self, Xvfb};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

const CHILD_URI: &str = "SUMAC_CONSOLE_CHILD_URI";
const CHILD_REPORT: &str = "SUMAC_CONSOLE_CHILD_REPORT";
const HMP: &str = "org.qemu.monitor.hmp.0";
const TITLE: &str = "sumac-console-test";

/// The GTK client run by [`qemu_hmp_console_window`].
#[test]
#[ignore = "run by qemu_hmp_console_window as a child process"]
fn console_child() {
    use gtk::glib;
    use gtk::prelude::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use sumac::app::console_window::ConsoleWindow;
    use sumac::gtk::Session;

    let Ok(uri) = std::env::var(CHILD_URI) else {
        eprintln!("{CHILD_URI} not set: nothing to do");
        return;
    };
    let report = PathBuf::from(std::env::var(CHILD_REPORT).expect("report path"));
    gtk::init().expect("gtk init");
    let session = Session::new();
    let window: Rc<RefCell<Option<ConsoleWindow>>> = Rc::default();
    {
        let window = Rc::clone(&window);
        session.connect_ports_changed(move |s| {
            if window.borrow().is_none() && s.port_names().iter().any(|n| n == HMP) {
                let w = ConsoleWindow::new(s, HMP, TITLE);
                w.present();
                window.replace(Some(w));
            }
        });
    }
    glib::timeout_add_local(Duration::from_millis(200), move || {
        if let Some(w) = &*window.borrow() {
            std::fs::write(&report, w.text()).expect("write the report");
        }
        glib::ControlFlow::Continue
    });
    session.connect_disconnected(|_, reason| eprintln!("child: disconnected: {reason}"));
    session.connect_uri(&uri).expect("connect");
    glib::MainLoop::new(None, false).run();
}

#[test]
fn qemu_hmp_console_window() {
    let tools = [QEMU_TOOLS, &[XVFB, XDOTOOL]].concat();
    let Some(()) = require_real_servers(&tools) else {
        return;
    };
    let out = artifact_dir("gui-console-hmp");
    let qemu = Qemu::start(QemuOpts {
        extra: spiceport_monitors(),
        ..QemuOpts::default()
    })
    .expect("QEMU");
    let v = qemu.qmp("query-version", None).expect("query-version");
    let q = &v["qemu"];
    let version = format!("{}.{}.{}", q["major"], q["minor"], q["micro"]);

    let xvfb = Xvfb::start((1280, 1024), Some(&out.join("xvfb.log")));
    let report = out.join("console-text.txt");
    let _ = std::fs::remove_file(&report);
    let exe = std::env::current_exe().unwrap();
    let mut cmd = x11::x_command(xvfb.display, exe.to_str().unwrap());
    cmd.args([
        "--exact",
        "gui::console::console_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_URI, qemu.uri())
    .env(CHILD_REPORT, &report)
    .env("GDK_BACKEND", "x11")
    .env("GTK_A11Y", "none")
    .env("RUST_LOG", "sumac=debug")
    .env_remove("WAYLAND_DISPLAY")
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(out.join("child.log")).unwrap())
    .stderr(std::fs::File::create(out.join("child.err")).unwrap());
    let _child = Guard(cmd.spawn().expect("start the GTK child"));
    let window = x11::wait_window(xvfb.display, TITLE, WAIT)
        .unwrap_or_else(|| panic!("no console window; see {}", out.join("child.err").display()));
    let text = || std::fs::read_to_string(&report).unwrap_or_default();
    // HMP greets with its banner and prompt when the port opens.
    wait_until("the monitor's prompt in the window", || text().contains("(qemu)"));
    x11::xdotool(xvfb.display, &["windowfocus", "--sync", &window]);
    std::thread::sleep(Duration::from_millis(300));
    x11::xdotool(xvfb.display, &["type", "--delay", "30", "info version"]);
    x11::xdotool(xvfb.display, &["key", "Return"]);
    let answered = |t: &str| {
        t.rsplit_once("info version")
            .is_some_and(|(_, after)| after.contains(&version))
    };
    let start = std::time::Instant::now();
    while !answered(&text()) && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(200));
    }
    x11::screenshot(xvfb.display, "root", &out.join("console.png"));
    let t = text();
    assert!(
        answered(&t),
        "QEMU {version} not shown after `info version`; the window shows:\n{t}"
    );
    // The monitor's line editor redraws the line at each key: the window shows it once.
    assert!(t.contains("(qemu) info version\n"), "the typed line: {t:?}");
}
