//! The guest agent through the `sumac` app's GTK side, against the test server's scripted
//! agent, on a private Xvfb: the desktop's CLIPBOARD and PRIMARY (written and read with
//! `xclip`) shared both ways, lazily (a grab first, the data only when the other side pastes),
//! and the window size reaching the agent as MONITORS_CONFIG when the window is resized.

use crate::support::app::{App, wait_app_window};
use crate::support::artifact_dir;
use crate::support::process::Guard;
use crate::support::tools::{DBUS, Tool, XCLIP, XDOTOOL, XVFB, require_tools};
use crate::support::x11::{Xvfb, run_x, window_geometry, x_command, xdotool};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};
use sumac::proto::vdagent::clipboard::{clip_type, selection as sel};
use sumac::proto::vdagent::{AgentMessage, ClipboardGrab};
use sumac_test_server::agent::{AgentConfig, AgentLog};
use sumac_test_server::{ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(30);
const TITLE: &str = "sumac-agent-gui";

/// `xclip -quiet -i` owning `selection` with `text` on `:display`, until stopped.
fn xclip_owner(display: u32, selection: &str, text: &str) -> Guard {
    let mut cmd = x_command(display, "xclip");
    cmd.args(["-quiet", "-i", "-selection", selection])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start xclip");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    Guard(child)
}

/// `xclip -o` on `:display` until it prints `want`; panics with the app's log after [`WAIT`].
fn wait_paste(display: u32, selection: &str, want: &str, app: &App) {
    let until = Instant::now() + WAIT;
    loop {
        let out = run_x(display, "xclip", &["-o", "-selection", selection, "-t", "UTF8_STRING"]).unwrap();
        let last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && last == want {
            return;
        }
        assert!(
            Instant::now() < until,
            "xclip -o {selection} gave {last:?}, wanted {want:?}; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn grabs(log: &AgentLog, selection: u8) -> Vec<ClipboardGrab> {
    log.messages
        .iter()
        .filter_map(|m| match m {
            AgentMessage::ClipboardGrab(g) if g.selection == selection => Some(g.clone()),
            _ => None,
        })
        .collect()
}

fn clipboard_data(log: &AgentLog, selection: u8) -> Vec<Vec<u8>> {
    log.messages
        .iter()
        .filter_map(|m| match m {
            AgentMessage::Clipboard(c) if c.selection == selection && c.clip_type == clip_type::UTF8_TEXT => {
                Some(c.data.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn clipboard_both_ways_and_guest_resize_through_the_app() {
    let tools: Vec<Tool> = vec![XVFB, XDOTOOL, DBUS, XCLIP];
    let Some(()) = require_tools(&tools) else { return };
    let out = artifact_dir("gui-agent");
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
    let app = App::start_scaled(display, &out, 1, &["-t", &format!("{TITLE} %d"), &server.uri()]);
    let window = wait_app_window(display, &format!("{TITLE} 1"), &app);
    assert!(
        server.agent_wait_for(WAIT, |l| l.client_caps.is_some()),
        "the app never announced its agent capabilities; log:\n{}",
        app.log()
    );
    // The guest's grab serials: each grab on a selection, ours or the guest's, counts.
    let mut serials = [0u32; 2];

    for (selection, name) in [(sel::CLIPBOARD, "clipboard"), (sel::PRIMARY, "primary")] {
        let index = usize::from(selection);
        // Desktop → guest: a grab with the type only, the data when the guest asks.
        let text = format!("copied on the desktop ({name})\nsecond line");
        let owner = xclip_owner(display, name, &text);
        let ok = server.agent_wait_for(WAIT, |l| {
            grabs(l, selection)
                .iter()
                .any(|g| g.types.contains(&clip_type::UTF8_TEXT))
        });
        assert!(ok, "no {name} grab reached the agent; log:\n{}", app.log());
        let sent_early = server.with_agent_log(|l| clipboard_data(l, selection).len());
        assert_eq!(sent_early, 0, "{name}: data went to the guest before it asked");
        serials[index] = server.with_agent_log(|l| grabs(l, selection).len()) as u32;
        server.agent_send(&AgentMessage::ClipboardRequest {
            selection,
            clip_type: clip_type::UTF8_TEXT,
        });
        let ok = server.agent_wait_for(WAIT, |l| {
            clipboard_data(l, selection).iter().any(|d| d == text.as_bytes())
        });
        assert!(
            ok,
            "{name}: the guest never got {text:?}: {:?}; log:\n{}",
            server.with_agent_log(|l| clipboard_data(l, selection)),
            app.log()
        );
        eprintln!("gui agent: {name} desktop → guest ok");

        // Guest → desktop: the guest grabs; a local paste fetches the data.
        let guest_text = format!("copied in the guest ({name})\nline two");
        server.agent_set_clipboard(selection, clip_type::UTF8_TEXT, guest_text.clone().into_bytes());
        server.agent_send(&AgentMessage::ClipboardGrab(ClipboardGrab {
            selection,
            serial: serials[index],
            types: vec![clip_type::UTF8_TEXT],
        }));
        serials[index] += 1;
        wait_paste(display, name, &guest_text, &app);
        drop(owner);
        let requests = server.with_agent_log(|l| {
            l.messages
                .iter()
                .filter(|m| matches!(m, AgentMessage::ClipboardRequest { selection: s, .. } if *s == selection))
                .count()
        });
        assert!(requests >= 1, "{name}: pasted without asking the guest");
        eprintln!("gui agent: {name} guest → desktop ok ({requests} request(s))");
    }

    // The window is resized: the guest is asked for the display's new size.
    let (_, _, w0, h0) = window_geometry(display, &window);
    let (w, h) = (900, 640);
    xdotool(display, &["windowsize", &window, &w.to_string(), &h.to_string()]);
    let until = Instant::now() + WAIT;
    let (_, _, gw, gh) = loop {
        let g = window_geometry(display, &window);
        if (g.2, g.3) == (w, h) {
            break g;
        }
        assert!(Instant::now() < until, "the window stayed {:?}", (g.2, g.3));
        std::thread::sleep(Duration::from_millis(100));
    };
    let fits = |l: &AgentLog| {
        l.messages.iter().any(|m| match m {
            AgentMessage::MonitorsConfig(c) => c.monitors.first().is_some_and(|m| {
                // The display fills the window but for GTK's client-side frame (no window
                // manager: a few pixels of border) and, in height, the header bar.
                let (gw, gh) = (gw as u32, gh as u32);
                m.width <= gw && m.width + 20 >= gw && m.height <= gh && m.height + 100 > gh && m.x == 0 && m.y == 0
            }),
            _ => false,
        })
    };
    let ok = server.agent_wait_for(WAIT, fits);
    let configs: Vec<String> = server.with_agent_log(|l| {
        l.messages
            .iter()
            .filter(|m| matches!(m, AgentMessage::MonitorsConfig(_)))
            .map(|m| format!("{m:?}"))
            .collect()
    });
    assert!(
        ok,
        "no MONITORS_CONFIG for the {gw}x{gh} window (was {w0}x{h0}): {configs:?}; log:\n{}",
        app.log()
    );
    eprintln!("gui agent: window {w0}x{h0} → {gw}x{gh}: {}", configs.last().unwrap());
}

/// `xclip -quiet -i -t target file` owning the clipboard on `:display`, until stopped.
fn xclip_file_owner(display: u32, target: &str, file: &std::path::Path) -> Guard {
    let mut cmd = x_command(display, "xclip");
    cmd.args(["-quiet", "-i", "-selection", "clipboard", "-t", target])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Guard(cmd.spawn().expect("start xclip"))
}

fn data_of(log: &AgentLog, selection: u8, t: u32) -> Vec<Vec<u8>> {
    log.messages
        .iter()
        .filter_map(|m| match m {
            AgentMessage::Clipboard(c) if c.selection == selection && c.clip_type == t => Some(c.data.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn png_both_ways_and_copies_over_the_limit_refused_with_a_message() {
    use crate::support::image::RgbImage;
    let tools: Vec<Tool> = vec![XVFB, XDOTOOL, DBUS, XCLIP];
    let Some(()) = require_tools(&tools) else { return };
    let out = artifact_dir("gui-agent-png-limit");
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
    let config = out.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let mut cmd = App::x11_command(display, &config, &["-t", &format!("{TITLE} %d"), &server.uri()]);
    // A 4 KiB limit both ways (spice-gtk's variable).
    cmd.env("SPICE_MAX_CLIPBOARD", "4096");
    let app = App::spawn(cmd, out.join("sumac.log"));
    wait_app_window(display, &format!("{TITLE} 1"), &app);
    assert!(
        server.agent_wait_for(WAIT, |l| l.client_caps.is_some()),
        "no agent; log:\n{}",
        app.log()
    );
    let mut serial = 0u32;

    // A PNG from the desktop, as its bytes (under the limit: 40x20 of two colours).
    let image = RgbImage {
        width: 40,
        height: 20,
        data: (0..40 * 20)
            .flat_map(|i| if i % 3 == 0 { [200, 10, 10] } else { [10, 10, 200] })
            .collect(),
    };
    let png_path = out.join("copied.png");
    image.save_png(&png_path).unwrap();
    let png = std::fs::read(&png_path).unwrap();
    assert!(png.len() < 4096);
    let owner = xclip_file_owner(display, "image/png", &png_path);
    let ok = server.agent_wait_for(WAIT, |l| {
        grabs(l, sel::CLIPBOARD)
            .iter()
            .any(|g| g.types.contains(&clip_type::IMAGE_PNG))
    });
    assert!(ok, "no PNG grab; log:\n{}", app.log());
    serial += server.with_agent_log(|l| grabs(l, sel::CLIPBOARD).len()) as u32;
    server.agent_send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::IMAGE_PNG,
    });
    let ok = server.agent_wait_for(WAIT, |l| {
        data_of(l, sel::CLIPBOARD, clip_type::IMAGE_PNG).contains(&png)
    });
    assert!(ok, "the guest never got the PNG; log:\n{}", app.log());
    drop(owner);
    eprintln!("gui agent: PNG desktop → guest byte for byte");

    // A PNG from the guest.
    server.agent_set_clipboard(sel::CLIPBOARD, clip_type::IMAGE_PNG, png.clone());
    server.agent_send(&AgentMessage::ClipboardGrab(ClipboardGrab {
        selection: sel::CLIPBOARD,
        serial,
        types: vec![clip_type::IMAGE_PNG],
    }));
    serial += 1;
    let until = Instant::now() + WAIT;
    loop {
        let out = run_x(display, "xclip", &["-o", "-selection", "clipboard", "-t", "image/png"]).unwrap();
        if out.status.success() && out.stdout == png {
            break;
        }
        assert!(Instant::now() < until, "no PNG pasted; log:\n{}", app.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("gui agent: PNG guest → desktop byte for byte");

    // Over the limit, desktop → guest: the guest gets nothing, the user a message.
    let big = "x".repeat(10_000);
    let owner = xclip_owner(display, "clipboard", &big);
    let until = Instant::now() + WAIT;
    while (server.with_agent_log(|l| grabs(l, sel::CLIPBOARD).len()) as u32) < serial {
        assert!(Instant::now() < until, "no grab for the big text; log:\n{}", app.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    serial = server.with_agent_log(|l| grabs(l, sel::CLIPBOARD).len()) as u32 + 1;
    server.agent_send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::UTF8_TEXT,
    });
    let ok = server.agent_wait_for(WAIT, |l| {
        l.messages.iter().any(|m| {
            matches!(m, AgentMessage::Clipboard(c) if c.selection == sel::CLIPBOARD && c.clip_type == clip_type::NONE)
        })
    });
    assert!(ok, "the guest was not answered with nothing; log:\n{}", app.log());
    let leaked = server.with_agent_log(|l| {
        data_of(l, sel::CLIPBOARD, clip_type::UTF8_TEXT)
            .iter()
            .any(|d| d.len() > 4096)
    });
    assert!(!leaked, "over-limit data reached the guest");
    let dialog = crate::support::x11::wait_window(display, "^Clipboard Not Shared$", WAIT);
    assert!(dialog.is_some(), "no message for the refused copy; log:\n{}", app.log());
    drop(owner);
    eprintln!("gui agent: 10 kB over a 4 KiB limit refused towards the guest, with a message");

    // Over the limit, guest → desktop: refused from its header on, a message again.
    server.agent_set_clipboard(sel::CLIPBOARD, clip_type::UTF8_TEXT, big.clone().into_bytes());
    server.agent_send(&AgentMessage::ClipboardGrab(ClipboardGrab {
        selection: sel::CLIPBOARD,
        serial,
        types: vec![clip_type::UTF8_TEXT],
    }));
    let until = Instant::now() + WAIT;
    loop {
        let out = run_x(
            display,
            "xclip",
            &["-o", "-selection", "clipboard", "-t", "UTF8_STRING"],
        )
        .unwrap();
        assert!(out.stdout.len() < big.len(), "over-limit guest data was pasted");
        if app.log().matches("clipboard data over the limit refused").count() >= 2 {
            break;
        }
        assert!(
            Instant::now() < until,
            "no refusal from the guest side; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The message (one at a time) is still up.
    assert!(
        crate::support::x11::wait_window(display, "^Clipboard Not Shared$", WAIT).is_some(),
        "no message for the refused paste; log:\n{}",
        app.log()
    );
    eprintln!("gui agent: 10 kB over a 4 KiB limit refused from the guest, with a message");
}
