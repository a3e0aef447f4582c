//! The main menu's Displays submenu against Xspice with two QXL heads and its
//! agent: only head 0 is on at start; choosing "Display 2"
//! (a click on the menu button, then D for its Displays submenu, 2 for the item)
//! sends the monitors config with two heads through the agent; the guest
//! turns its second head on (`xrandr --listmonitors` says 2), spice-server
//! sends MONITORS_CONFIG with two heads and the app opens a second window.
//! Choosing it again turns the head off: back to one monitor, one window.

use crate::support::app::{App, wait_app_window};
use crate::support::artifact_dir;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::tools::{DBUS, Tool, VDAGENT, VDAGENTD, XDOTOOL, XRANDR, XVFB};
use crate::support::wait::WAIT;
use crate::support::x11::{self, Xvfb};
use std::time::{Duration, Instant};

const TITLE: &str = "sumac-displays";
/// Where the main menu button is, from the window's right edge (measured on Adwaita's
/// header bar: minimize, maximize and close come after it).
const MENU_BUTTON_FROM_RIGHT: i32 = 138;

fn monitors(xs: &Xspice) -> String {
    let out = xs.run_x("xrandr", &["--listmonitors"]).expect("run xrandr");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Chooses "Display 2" in the main menu of `window`: a click on the menu
/// button (the header bar's third button from the right: it has the window
/// controls on its right), then the keyboard (D for the Displays submenu, 2
/// for its item). Screenshots of each step go to `out`, named after `what`.
fn choose_display_2(display: u32, window: &str, out: &std::path::Path, what: &str) {
    let (x, y, w, _) = x11::window_geometry(display, window);
    let (bx, by) = (x + w - MENU_BUTTON_FROM_RIGHT, y + 27);
    x11::xdotool(display, &["mousemove", "--sync", &bx.to_string(), &by.to_string()]);
    x11::xdotool(display, &["click", "1"]);
    std::thread::sleep(Duration::from_millis(700));
    x11::screenshot(display, "root", &out.join(format!("{what}-menu.png")));
    for key in ["d", "2"] {
        x11::xdotool(display, &["key", key]);
        std::thread::sleep(Duration::from_millis(700));
        x11::screenshot(display, "root", &out.join(format!("{what}-{key}.png")));
    }
}

fn wait_for(what: &str, app: &App, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < WAIT,
            "{what}: not within {WAIT:?}; log:\n{}",
            app.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    start.elapsed()
}

#[test]
fn xspice_displays_menu_turns_the_second_head_on_and_off() {
    let tools: Vec<Tool> = [XSPICE_TOOLS, &[XVFB, XDOTOOL, DBUS, XRANDR, VDAGENT, VDAGENTD]].concat();
    let Some(()) = require_real_servers(&tools) else { return };
    let out = artifact_dir("gui-displays-menu");
    let xs = Xspice::start(XspiceOpts {
        numheads: Some(2),
        vdagent: true,
        ..Default::default()
    })
    .expect("start Xspice with two heads and its agent");
    let m = monitors(&xs);
    assert!(m.starts_with("Monitors: 1"), "one head on at start: {m}");
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let app = App::start_scaled(display, &out, 1, &["-t", &format!("{TITLE} %d"), &xs.uri()]);
    let w1 = wait_app_window(display, &format!("{TITLE} 1"), &app);
    wait_for("the agent gets ready", &app, || app.log().contains("guest agent ready"));

    choose_display_2(display, &w1, &out, "on");
    wait_for("the monitors config is sent", &app, || {
        app.log().contains("displays: monitors config sent")
    });
    let took = wait_for("the guest turns its second head on", &app, || {
        monitors(&xs).starts_with("Monitors: 2")
    });
    let w2 = wait_app_window(display, &format!("{TITLE} 2"), &app);
    eprintln!("displays menu: second head on after {took:?}:\n{}", monitors(&xs));
    assert_ne!(w1, w2);
    // No window manager: both map at (0, 0). Put the second one beside the first.
    x11::xdotool(display, &["windowmove", "--sync", &w2, "1100", "0"]);

    choose_display_2(display, &w1, &out, "off");
    let took = wait_for("the guest turns its second head off", &app, || {
        monitors(&xs).starts_with("Monitors: 1")
    });
    wait_for("the second window closes", &app, || {
        x11::windows_named(display, &format!("^{TITLE} 2$")).is_empty()
    });
    assert!(
        x11::windows_named(display, &format!("^{TITLE} 1$")).contains(&w1),
        "the first window must stay"
    );
    eprintln!("displays menu: second head off after {took:?}");
}
