//! The USB devices dialog (`sumac::gtk::UsbDialog`) on a private Xvfb against
//! the test server's scripted usb-guest (one usbredir channel).
//!
//! This test binary is re-run as the GTK client ([`usb_dialog_child`], ignored
//! unless `SUMAC_USB_DIALOG_URI` is set): a `Session`, the dialog, and the
//! user's steps done on the dialog's own widgets: "Add Disk Image…" (through
//! `add_image`, the file chooser's callback; Read-only checked), the row's
//! switch turned off, the row's trash button clicked, a second image that
//! cannot be opened. After each step the child waits until the dialog shows
//! what the session did (the rows follow `usb-changed`) and writes what it
//! saw to a report; the parent checks the report and what the server
//! received (the disk's DEVICE_CONNECT, then DEVICE_DISCONNECT).
//!
//! And the `sumac` app tells the user when a disk given on the command line
//! cannot be redirected (the session's `usb-error`).

use crate::support::app::App;
use crate::support::artifact_dir;
use crate::support::process::Guard;
use crate::support::tools::{DBUS, XDOTOOL, XVFB, require_tools};
use crate::support::wait::poll_until;
use crate::support::x11::{self, Xvfb};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use sumac::proto::ChannelType;
use sumac::usbredir::proto::packet_type;
use sumac_test_server::usbredir::{UsbStep, guest_hello, raw_header};
use sumac_test_server::{ServerConfig, TestServer};

const CHILD_URI: &str = "SUMAC_USB_DIALOG_URI";
const CHILD_IMAGE: &str = "SUMAC_USB_DIALOG_IMAGE";
const CHILD_REPORT: &str = "SUMAC_USB_DIALOG_REPORT";

/// The dialog's GTK client; see the module documentation.
#[test]
#[ignore = "run by usb_dialog_follows_the_session as a child process"]
fn usb_dialog_child() {
    use gtk::glib;
    use gtk::prelude::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Instant;
    use sumac::gtk::{Session, UsbDialog};

    let Ok(uri) = std::env::var(CHILD_URI) else {
        eprintln!("{CHILD_URI} not set: nothing to do");
        return;
    };
    let image = PathBuf::from(std::env::var(CHILD_IMAGE).expect("image path"));
    let report = PathBuf::from(std::env::var(CHILD_REPORT).expect("report path"));
    sumac::gtk::init().expect("gtk init");
    let session = Session::new();
    session.connect_uri(&uri).expect("connect");
    let dialog = UsbDialog::new(&session, None::<&gtk::Window>);
    // The embedders' list model, beside the dialog.
    let model = session.usb_devices();
    let model_state = move || {
        let devices: Vec<sumac::gtk::UsbDevice> = (0..model.n_items())
            .filter_map(|i| model.item(i).and_downcast::<sumac::gtk::UsbDevice>())
            .collect();
        let active = devices.iter().filter(|d| d.active()).count();
        format!("model={} active={active}", devices.len())
    };
    dialog.present();

    let lines = Rc::new(RefCell::new(Vec::<String>::new()));
    let say = {
        let (lines, report) = (Rc::clone(&lines), report.clone());
        move |line: String| {
            eprintln!("child: {line}");
            lines.borrow_mut().push(line);
            std::fs::write(&report, lines.borrow().join("\n") + "\n").expect("write report");
        }
    };
    let step = Rc::new(Cell::new(0u32));
    let main_loop = glib::MainLoop::new(None, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (ml, d) = (main_loop.clone(), dialog.clone());
    glib::timeout_add_local(Duration::from_millis(50), move || {
        let texts = label_texts(d.upcast_ref());
        let has = |t: &str| texts.iter().any(|x| x == t);
        let switch = find_widget::<gtk::Switch>(d.upcast_ref(), |_| true);
        let next = match step.get() {
            0 if has("1 of 1 USB redirection channels free") && has("No USB devices") => {
                say(format!("listed: no devices, 1 of 1 channels free, {}", model_state()));
                d.add_image(&image);
                true
            }
            1 if has("Redirected to the virtual machine") && has("0 of 1 USB redirection channels free") => {
                let title = texts
                    .iter()
                    .find(|t| t.contains("disk image"))
                    .cloned()
                    .unwrap_or_default();
                let on = switch.as_ref().is_some_and(|s| s.is_active());
                say(format!("connected: {title} switch={on}, {}", model_state()));
                if let Some(png) = widget_png(d.upcast_ref()) {
                    let _ = std::fs::write(report.with_file_name("dialog-connected.png"), png);
                }
                if let Some(s) = switch {
                    s.set_active(false);
                }
                true
            }
            2 if !texts
                .iter()
                .any(|t| t.contains("Redirected") || t.contains("Disconnecting"))
                && has("1 of 1 USB redirection channels free")
                && switch.as_ref().is_some_and(|s| !s.is_active()) =>
            {
                let rows = texts.iter().filter(|t| t.contains("disk image")).count();
                say(format!("unplugged: rows={rows}, {}", model_state()));
                let trash = find_widget::<gtk::Button>(d.upcast_ref(), |b| {
                    b.tooltip_text().is_some_and(|t| t == "Remove this disk image")
                });
                match trash {
                    Some(b) => b.emit_clicked(),
                    None => say("no trash button".into()),
                }
                true
            }
            3 if has("No USB devices") => {
                say(format!("removed: no devices, {}", model_state()));
                d.add_image(std::path::Path::new("/nonexistent/sumac-missing.img"));
                true
            }
            4 => {
                let error = find_widget::<gtk::Label>(d.upcast_ref(), |l| l.has_css_class("error") && l.is_visible())
                    .map(|l| l.text().to_string())
                    .unwrap_or_default();
                say(format!("error: {error}"));
                ml.quit();
                return glib::ControlFlow::Break;
            }
            _ => false,
        };
        if next {
            step.set(step.get() + 1);
        } else if Instant::now() > deadline {
            say(format!("timeout at step {}: {texts:?}", step.get()));
            ml.quit();
            return glib::ControlFlow::Break;
        }
        glib::ControlFlow::Continue
    });
    main_loop.run();
    session.disconnect();
}

/// What `w` shows now, as PNG bytes (rendered by its window's renderer; an artifact for people).
fn widget_png(w: &gtk::Widget) -> Option<Vec<u8>> {
    use gtk::prelude::*;
    let paintable = gtk::WidgetPaintable::new(Some(w));
    let snapshot = gtk::Snapshot::new();
    paintable.snapshot(&snapshot, f64::from(w.width()), f64::from(w.height()));
    let node = snapshot.to_node()?;
    let texture = w.native()?.renderer()?.render_texture(node, None);
    Some(texture.save_to_png_bytes().to_vec())
}

/// Every label's text under `w`, in tree order.
fn label_texts(w: &gtk::Widget) -> Vec<String> {
    use gtk::prelude::*;
    let mut out = Vec::new();
    if let Some(l) = w.downcast_ref::<gtk::Label>() {
        out.push(l.text().to_string());
    }
    let mut child = w.first_child();
    while let Some(c) = child {
        out.extend(label_texts(&c));
        child = c.next_sibling();
    }
    out
}

/// The first widget of type `T` under `w` (tree order) that `ok` accepts.
fn find_widget<T: gtk::prelude::IsA<gtk::Widget>>(w: &gtk::Widget, ok: impl Fn(&T) -> bool + Copy) -> Option<T> {
    use gtk::prelude::*;
    if let Some(t) = w.downcast_ref::<T>()
        && ok(t)
    {
        return Some(t.clone());
    }
    let mut child = w.first_child();
    while let Some(c) = child {
        if let Some(found) = find_widget(&c, ok) {
            return Some(found);
        }
        child = c.next_sibling();
    }
    None
}

#[test]
fn usb_dialog_follows_the_session() {
    let Some(()) = require_tools(&[XVFB]) else {
        return;
    };
    let out = artifact_dir("gui-usb-dialog");
    let mut cfg = ServerConfig::default();
    cfg.channels.push((ChannelType::USBREDIR, 0));
    cfg.usbredir = vec![
        UsbStep::Send(guest_hello()),
        UsbStep::Await(packet_type::DEVICE_CONNECT),
        UsbStep::Await(packet_type::DEVICE_DISCONNECT),
        UsbStep::Send(raw_header(packet_type::DEVICE_DISCONNECT_ACK, 0, 0)),
    ];
    let server = TestServer::start(cfg).expect("test server");
    let image = out.join("stick.img");
    std::fs::write(&image, vec![0u8; 4 << 20]).unwrap();
    let report = out.join("report.txt");
    let _ = std::fs::remove_file(&report);

    let xvfb = Xvfb::start((1024, 768), Some(&out.join("xvfb.log")));
    let exe = std::env::current_exe().unwrap();
    let mut cmd = x11::x_command(xvfb.display, exe.to_str().unwrap());
    cmd.args([
        "--exact",
        "gui::usb_dialog::usb_dialog_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_URI, server.uri())
    .env(CHILD_IMAGE, &image)
    .env(CHILD_REPORT, &report)
    .env("GDK_BACKEND", "x11")
    .env("GTK_A11Y", "none")
    .env("LANGUAGE", "C")
    .env("LC_ALL", "C.UTF-8")
    .env("RUST_LOG", "sumac=debug")
    .env_remove("WAYLAND_DISPLAY")
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(out.join("child.log")).unwrap())
    .stderr(std::fs::File::create(out.join("child.err")).unwrap());
    let mut child = Guard(cmd.spawn().expect("start the GTK child"));
    let ended = poll_until(Duration::from_secs(120), || child.0.try_wait().ok().flatten().is_some());
    assert!(
        ended,
        "the GTK child never finished; see {}",
        out.join("child.err").display()
    );
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let hint = format!("report {text:?}; see {}", out.join("child.err").display());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{hint}");
    assert_eq!(
        lines[0], "listed: no devices, 1 of 1 channels free, model=0 active=0",
        "{hint}"
    );
    assert_eq!(
        lines[1], "connected: stick.img (1209:0001) (read-only disk image) switch=true, model=1 active=1",
        "{hint}"
    );
    assert_eq!(lines[2], "unplugged: rows=1, model=1 active=0", "{hint}");
    assert_eq!(lines[3], "removed: no devices, model=0 active=0", "{hint}");
    assert!(
        lines[4].starts_with("error: cannot open the disk image /nonexistent/sumac-missing.img"),
        "{hint}"
    );
    let seen = server.with_record(|r| r.usbredir.iter().map(|&(_, t)| t).collect::<Vec<_>>());
    let connect = seen.iter().position(|&t| t == packet_type::DEVICE_CONNECT);
    let disconnect = seen.iter().position(|&t| t == packet_type::DEVICE_DISCONNECT);
    assert!(connect.is_some() && connect < disconnect, "{seen:?}");
}

#[test]
fn app_shows_an_unusable_usb_disk() {
    let Some(()) = require_tools(&[XVFB, DBUS, XDOTOOL]) else {
        return;
    };
    let out = artifact_dir("gui-usb-error");
    let mut cfg = ServerConfig::default();
    cfg.channels.push((ChannelType::USBREDIR, 0));
    let server = TestServer::start(cfg.clone()).expect("test server");
    let xvfb = Xvfb::start((1024, 768), Some(&out.join("xvfb.log")));
    let config = out.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let uri = server.uri();
    let mut cmd = App::x11_command(
        xvfb.display,
        &config,
        &["--usb-disk=/nonexistent/sumac-missing.img,ro", &uri],
    );
    cmd.env("LANGUAGE", "C").env("LC_ALL", "C.UTF-8");
    let app = App::spawn(cmd, out.join("sumac.log"));
    let session = x11::wait_window(xvfb.display, &cfg.name, Duration::from_secs(60));
    assert!(session.is_some(), "no session window; log:\n{}", app.log());
    let error = x11::wait_window(xvfb.display, "^USB Redirection Error$", Duration::from_secs(30));
    assert!(error.is_some(), "no USB error dialog; log:\n{}", app.log());
    let log = app.log();
    assert!(
        log.contains("cannot open the disk image /nonexistent/sumac-missing.img"),
        "{log}"
    );
}
