//! Files dropped on the `sumac` window go to the guest: a drag source of our own (this test
//! binary re-run as a GTK child offering a `gdk::FileList`) is dragged with `xdotool` onto the
//! display on a private Xvfb (XDND between two X clients), and the test server's scripted agent
//! receives the file byte for byte; a transfer in flight is cancelled from the File Transfers
//! window (the agent gets CANCELLED, the row says so); a file the agent refuses (not enough
//! space) is reported in words there.

use crate::support::app::{App, wait_app_window};
use crate::support::artifact_dir;
use crate::support::process::Guard;
use crate::support::tools::{DBUS, Tool, XDOTOOL, XVFB, require_tools};
use crate::support::x11::{Xvfb, wait_window, window_geometry, x_command, xdotool};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use sumac::proto::vdagent::XferResult;
use sumac_test_server::agent::{AgentConfig, XferMode};
use sumac_test_server::{ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(30);
const TITLE: &str = "sumac-drop";
const SOURCE_TITLE: &str = "sumac-drag-source";
const SOURCE_FILE: &str = "SUMAC_DRAG_SOURCE_FILE";

/// The drag source run by [`files_dropped_on_the_window_reach_the_agent`]: a window whose label
/// drags the file named by `SUMAC_DRAG_SOURCE_FILE` (re-read at each drag).
#[test]
#[ignore = "run by the drop test as a child process"]
fn drag_source_child() {
    use gtk::prelude::*;
    use gtk::{gdk, gio, glib};
    let Ok(list) = std::env::var(SOURCE_FILE) else {
        eprintln!("{SOURCE_FILE} not set: nothing to do");
        return;
    };
    gtk::init().expect("gtk init");
    let label = gtk::Label::new(Some("drag me"));
    label.set_size_request(300, 200);
    let source = gtk::DragSource::new();
    source.set_actions(gdk::DragAction::COPY);
    source.connect_prepare(move |_, _, _| {
        // The file to drag now: the list file's content.
        let path = std::fs::read_to_string(&list).ok()?;
        let files = [gio::File::for_path(path.trim())];
        let files = gdk::FileList::from_array(&files);
        Some(gdk::ContentProvider::for_value(&files.to_value()))
    });
    label.add_controller(source);
    let window = gtk::Window::builder().title(SOURCE_TITLE).child(&label).build();
    window.present();
    glib::MainLoop::new(None, false).run();
}

/// Drags from the middle of `from` to the middle of `to` with the pointer (XTEST).
fn drag(display: u32, from: (i32, i32, i32, i32), to: (i32, i32, i32, i32)) {
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
    xdotool(display, &["mouseup", "1"]);
}

fn write_list(list: &Path, file: &Path) {
    std::fs::write(list, file.display().to_string()).unwrap();
}

#[test]
fn files_dropped_on_the_window_reach_the_agent() {
    let tools: Vec<Tool> = vec![XVFB, XDOTOOL, DBUS];
    let Some(()) = require_tools(&tools) else { return };
    let out = artifact_dir("gui-agent-drop");
    let server = TestServer::start(ServerConfig {
        agent: AgentConfig {
            connected: true,
            ..AgentConfig::default()
        },
        ..ServerConfig::default()
    })
    .expect("test server");
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let app = App::start_scaled(
        display,
        &out,
        1,
        &["--renderer", "cairo", "-t", &format!("{TITLE} %d"), &server.uri()],
    );
    let window = wait_app_window(display, &format!("{TITLE} 1"), &app);
    assert!(
        server.agent_wait_for(WAIT, |l| l.client_caps.is_some()),
        "no agent; log:\n{}",
        app.log()
    );

    let files = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sent = files.path().join("dropped file.bin");
    std::fs::write(&sent, &data).unwrap();
    let list = files.path().join("drag-list");
    write_list(&list, &sent);

    let exe = std::env::current_exe().unwrap();
    let mut cmd = x_command(display, exe.to_str().unwrap());
    cmd.args([
        "--exact",
        "gui::agent_drop::drag_source_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SOURCE_FILE, &list)
    .env("GDK_BACKEND", "x11")
    .env("GTK_A11Y", "none")
    .env("GDK_DEBUG", "gl-disable")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(out.join("drag-source.log")).unwrap());
    let _source = Guard(cmd.spawn().expect("start the drag source"));
    let source = wait_window(display, &format!("^{SOURCE_TITLE}$"), WAIT).expect("the drag source window");
    xdotool(display, &["windowmove", "--sync", &source, "900", "300"]);
    xdotool(display, &["windowmove", "--sync", &window, "0", "0"]);
    std::thread::sleep(Duration::from_millis(500));

    // A file the agent takes.
    let until = Instant::now() + WAIT;
    loop {
        drag(
            display,
            window_geometry(display, &source),
            window_geometry(display, &window),
        );
        let arrived = server.agent_wait_for(Duration::from_secs(5), |l| {
            l.files.values().any(|f| f.completed && f.name == "dropped file.bin")
        });
        if arrived {
            break;
        }
        assert!(
            Instant::now() < until,
            "the dropped file never reached the agent; log:\n{}",
            app.log()
        );
    }
    let got = server.with_agent_log(|l| {
        l.files
            .values()
            .find(|f| f.name == "dropped file.bin")
            .map(|f| (f.size, f.data.clone()))
    });
    assert_eq!(got.as_ref().map(|g| g.0), Some(data.len() as u64));
    assert!(got.is_some_and(|g| g.1 == data), "the file changed on the way");
    eprintln!("gui drop: {} bytes dropped and received byte for byte", data.len());

    // A transfer in flight (the agent accepts and stays silent) is cancelled from the File
    // Transfers window (keyboard: its only focusable widget is the Cancel button).
    server.agent_set_xfer_mode(XferMode::AcceptSilently);
    let slow = files.path().join("slow.bin");
    std::fs::write(&slow, vec![7u8; 1 << 20]).unwrap();
    write_list(&list, &slow);
    drag(
        display,
        window_geometry(display, &source),
        window_geometry(display, &window),
    );
    let transfers = wait_window(display, "^File Transfers$", WAIT).expect("the File Transfers window");
    assert!(
        server.agent_wait_for(WAIT, |l| l.files.values().any(|f| f.name == "slow.bin")),
        "slow.bin never started; log:\n{}",
        app.log()
    );
    let until = Instant::now() + WAIT;
    loop {
        xdotool(display, &["windowfocus", "--sync", &transfers]);
        xdotool(display, &["key", "space"]);
        let cancelled = server.agent_wait_for(Duration::from_secs(2), |l| {
            l.files.values().any(|f| f.name == "slow.bin" && f.cancelled)
        });
        if cancelled {
            break;
        }
        assert!(
            Instant::now() < until,
            "Cancel never reached the agent; log:\n{}",
            app.log()
        );
    }
    let until = Instant::now() + WAIT;
    while !app
        .log()
        .contains("file transfer failed (shown in File Transfers) file=\"slow.bin\" reason=\"Cancelled\"")
    {
        assert!(
            Instant::now() < until,
            "the cancel was not reported; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("gui drop: a transfer in flight cancelled from the File Transfers window");
    // Remove the cancelled row (the button is now Remove): the window hides when empty.
    xdotool(display, &["windowfocus", "--sync", &transfers]);
    xdotool(display, &["key", "space"]);

    // A file the agent refuses: the reason in words in the File Transfers window.
    server.agent_set_xfer_mode(XferMode::Refuse(XferResult::NotEnoughSpace(Some(4096))));
    let refused = files.path().join("too big.bin");
    std::fs::write(&refused, b"no room for this").unwrap();
    write_list(&list, &refused);
    drag(
        display,
        window_geometry(display, &source),
        window_geometry(display, &window),
    );
    let until = Instant::now() + WAIT;
    let shown =
        "file transfer failed (shown in File Transfers) file=\"too big.bin\" reason=\"Not enough space in the guest";
    while !app.log().contains(shown) {
        assert!(Instant::now() < until, "no failure shown; log:\n{}", app.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = app.log();
    assert!(
        wait_window(display, "^File Transfers$", WAIT).is_some(),
        "no File Transfers window; log:\n{log}"
    );
    eprintln!("gui drop: a refused file is shown as refused for lack of space");
}
