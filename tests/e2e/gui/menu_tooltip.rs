//! The main menu button's tooltip ("Main Menu") goes away while its menu is open: GTK would
//! otherwise leave it over the menu's first item. The `sumac` app on Xvfb with openbox: the
//! pointer rests on the button until its tooltip shows (an override-redirect X window of the
//! app), a click opens the menu; the tooltip's window must be gone while the menu is shown and no
//! other window of the app may cover the menu. The session window against the test server and the
//! connect window.

use crate::support::app::App;
use crate::support::artifact_dir;
use crate::support::desktop::{Desktop, OPENBOX, XPROP, desktop_tools, start_openbox};
use crate::support::mouse::wait_inputs_linked;
use crate::support::tools::{XDOTOOL, XVFB, require_tools};
use crate::support::wait::{WAIT, poll};
use crate::support::x11::{self, Xvfb};
use std::path::{Path, PathBuf};
use std::time::Duration;

type Geometry = (i32, i32, i32, i32);

/// What the check needs of a rig: its X display, the artifact directory, the app.
struct Screen<'a> {
    display: u32,
    out: &'a Path,
    app: &'a App,
}

impl Screen<'_> {
    fn xdo(&self, args: &[&str]) -> String {
        x11::xdotool(self.display, args)
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let path = self.out.join(format!("{name}.png"));
        x11::screenshot(self.display, "root", &path);
        path
    }
}

/// The visible windows of the app other than `main`, with their geometry.
fn popups(screen: &Screen, main: &str) -> Vec<(String, Geometry)> {
    let ids = x11::run_x(
        screen.display,
        "xdotool",
        &["search", "--onlyvisible", "--class", "io.github.sumac.Sumac"],
    )
    .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
    .unwrap_or_default();
    ids.split_whitespace()
        .filter(|id| *id != main)
        .map(|id| (id.to_owned(), x11::window_geometry(screen.display, id)))
        .collect()
}

fn overlaps(a: Geometry, b: Geometry) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

/// Rests the pointer on the main menu button of `main` (the first button left of the window
/// controls, at the right end of the header bar) until its tooltip shows, clicks it, and checks
/// that the open menu has no tooltip over it.
fn check_menu_has_no_tooltip(screen: &Screen, main: &str, name: &str) {
    // Nothing of the app shown but its window: the tooltip is the next window to appear.
    let before = popups(screen, main);
    assert!(before.is_empty(), "windows of the app besides {main}: {before:?}");
    let (wx, wy, ww, _) = x11::window_geometry(screen.display, main);
    let (bx, by) = (wx + ww - MENU_BUTTON_FROM_RIGHT, wy + HEADER_MIDDLE);
    screen.xdo(&["mousemove", "--sync", &bx.to_string(), &by.to_string()]);
    // A small move on the button: GTK starts the tooltip timer on motion.
    std::thread::sleep(Duration::from_millis(100));
    screen.xdo(&["mousemove", "--sync", &(bx + 1).to_string(), &by.to_string()]);
    let tooltip = poll(WAIT, Duration::from_millis(100), || {
        popups(screen, main).into_iter().next()
    });
    let shot = screen.screenshot(&format!("{name}-tooltip"));
    let Some((tooltip, tooltip_geo)) = tooltip else {
        panic!(
            "no tooltip on the main menu button at ({bx}, {by}) (screen: {}); log:\n{}",
            shot.display(),
            screen.app.log()
        );
    };
    // The button's tooltip: under the pointer's column, below it.
    let (tx, ty, tw, _) = tooltip_geo;
    assert!(
        tx <= bx && bx < tx + tw && ty > by,
        "the window {tooltip} {tooltip_geo:?} is no tooltip of the button at ({bx}, {by}) (screen: {})",
        shot.display()
    );

    screen.xdo(&["click", "1"]);
    // The menu: a new window of the app.
    let menu = poll(WAIT, Duration::from_millis(100), || {
        popups(screen, main).into_iter().find(|(id, _)| *id != tooltip)
    });
    // Time for a tooltip that stays to be drawn over the menu.
    std::thread::sleep(Duration::from_secs(2));
    let shot = screen.screenshot(&format!("{name}-menu"));
    let Some((menu, menu_geo)) = menu else {
        panic!(
            "the click on the main menu button opened no menu (screen: {}); log:\n{}",
            shot.display(),
            screen.app.log()
        );
    };
    let shown = popups(screen, main);
    assert!(
        shown.iter().any(|(id, _)| *id == menu),
        "the menu closed by itself: {shown:?} (screen: {})",
        shot.display()
    );
    // The tooltip's window (GTK may show it again under a new id): no window of the app but the
    // menu while the menu is open, so nothing over its first item.
    let others: Vec<_> = shown
        .iter()
        .filter(|(id, _)| *id != menu)
        .map(|(id, geo)| (id, geo, overlaps(*geo, menu_geo)))
        .collect();
    assert!(
        others.is_empty(),
        "with the menu {menu} {menu_geo:?} open, other windows of the app are shown \
         (id, geometry, over the menu): {others:?}; the tooltip was {tooltip} {tooltip_geo:?} \
         (screen: {})",
        shot.display()
    );
}

/// From the window's right edge to the middle of the main menu button: left of the window
/// controls (minimize, maximize, close: GTK's default layout on X11).
const MENU_BUTTON_FROM_RIGHT: i32 = 143;
/// From the window's top to the middle of the header bar.
const HEADER_MIDDLE: i32 = 27;

#[test]
fn session_menu_hides_its_tooltip_while_open() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = crate::support::desktop::client_mouse_server();
    let desktop = Desktop::start("menu-tooltip-session", &[&server.uri()]);
    wait_inputs_linked(&server, &desktop.app);
    let screen = Screen {
        display: desktop.xvfb.display,
        out: &desktop.out,
        app: &desktop.app,
    };
    check_menu_has_no_tooltip(&screen, &desktop.window, "session");
}

#[test]
fn connect_menu_hides_its_tooltip_while_open() {
    let Some(()) = require_tools(&[XVFB, XDOTOOL, OPENBOX, XPROP]) else {
        return;
    };
    let out = artifact_dir("gui-menu-tooltip-connect");
    let xvfb = Xvfb::start((1600, 1200), Some(&out.join("xvfb.log")));
    let _wm = start_openbox(&xvfb, &out);
    let config = out.join("config");
    let _ = std::fs::remove_dir_all(&config);
    std::fs::create_dir_all(&config).unwrap();
    let app = App::spawn(App::x11_command(xvfb.display, &config, &[]), out.join("sumac.log"));
    let window = x11::wait_window(xvfb.display, "^Connect", WAIT)
        .unwrap_or_else(|| panic!("no connect window; log:\n{}", app.log()));
    x11::xdotool(xvfb.display, &["windowmove", "--sync", &window, "0", "0"]);
    let screen = Screen {
        display: xvfb.display,
        out: &out,
        app: &app,
    };
    check_menu_has_no_tooltip(&screen, &window, "connect");
}
