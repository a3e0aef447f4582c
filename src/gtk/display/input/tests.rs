//! Unit tests of the input layer (no display needed except the `#[gtk::test]`s).
use super::*;

/// A grab state with a live guest, focused, its window active.
fn live_focused() -> GrabState {
    let mut g = GrabState::new(true);
    g.set_hotkey(Hotkey::parse("ctrl+alt").unwrap());
    assert_eq!(g.set_live(true), GrabAction::None);
    assert_eq!(
        g.focus_in(),
        GrabAction::None,
        "the pointer is not over the display yet"
    );
    g
}

#[test]
fn grab_only_while_the_pointer_is_over_the_live_display() {
    let mut g = live_focused();
    assert_eq!(g.enter(), GrabAction::Grab);
    assert!(g.grabbed());
    // Ctrl alone, then 'a': no hotkey.
    assert_eq!(g.key_press(0x1d), GrabAction::None);
    assert_eq!(g.key_press(0x1e), GrabAction::None);
    g.key_release(0x1e);
    // Right Alt with Left Ctrl: Ctrl+Alt in any variant releases the grab.
    assert_eq!(g.key_press(0x138), GrabAction::Ungrab);
    assert!(!g.grabbed());
    assert!(g.fired);
    g.key_release(0x138);
    g.key_release(0x1d);
    assert!(!g.fired);
    // Released by the hotkey: moving over the display does not take it back...
    assert_eq!(g.enter(), GrabAction::None);
    // ...a click does.
    assert_eq!(g.click(), GrabAction::Grab);
    assert_eq!(g.click(), GrabAction::None);
    // Leaving the display releases it; coming back takes it again.
    assert_eq!(g.leave(), GrabAction::Ungrab);
    assert_eq!(g.enter(), GrabAction::Grab);
    // After the hotkey, leaving and entering again grabs.
    g.key_press(0x1d);
    assert_eq!(g.key_press(0x38), GrabAction::Ungrab);
    g.key_release(0x38);
    g.key_release(0x1d);
    assert_eq!(g.leave(), GrabAction::None);
    assert_eq!(g.enter(), GrabAction::Grab);
    assert_eq!(g.focus_out(), GrabAction::Ungrab);
    // Not focused: a click does not grab.
    assert_eq!(g.click(), GrabAction::None);
}

#[test]
fn no_grab_while_a_toolbar_covers_the_display() {
    let mut g = live_focused();
    assert_eq!(g.enter(), GrabAction::Grab);
    // The full-screen toolbar shows under the pointer: released.
    assert_eq!(g.set_covered(true), GrabAction::Ungrab);
    // Crossing events its surface causes, and a click on it, take nothing.
    assert_eq!(g.leave(), GrabAction::None);
    assert_eq!(g.enter(), GrabAction::None);
    assert_eq!(g.click(), GrabAction::None);
    assert!(!g.grabbed());
    // Hidden with the pointer back over the guest: grabbed again.
    assert_eq!(g.set_covered(false), GrabAction::Grab);
}

#[test]
fn no_grab_without_a_live_session_an_active_window_or_the_focus() {
    // Connecting: focused, pointer over the display, clicked: nothing.
    let mut g = GrabState::new(true);
    g.focus_in();
    assert_eq!(g.enter(), GrabAction::None);
    assert_eq!(g.click(), GrabAction::None);
    assert_eq!(g.set_explicit(true), GrabAction::None);
    assert_eq!(g.set_explicit(false), GrabAction::None);
    // The guest shows: grabbed; the error screen: released.
    assert_eq!(g.set_live(true), GrabAction::Grab);
    assert_eq!(g.set_live(false), GrabAction::Ungrab);
    assert_eq!(g.set_live(true), GrabAction::Grab);
    // Window switch or minimise.
    assert_eq!(g.set_active(false), GrabAction::Ungrab);
    assert_eq!(g.click(), GrabAction::None);
    assert_eq!(g.set_active(true), GrabAction::Grab);
    // Disabled (grab-keyboard off).
    assert_eq!(g.set_enabled(false), GrabAction::Ungrab);
    assert_eq!(g.click(), GrabAction::None);
    assert_eq!(g.set_enabled(true), GrabAction::Grab);
}

#[test]
fn an_explicit_pointer_grab_keeps_the_keyboard_outside_the_display() {
    let mut g = live_focused();
    g.enter();
    assert_eq!(g.set_explicit(true), GrabAction::None);
    // The X pointer grab makes GTK see the pointer leave: the keyboard stays.
    assert_eq!(g.leave(), GrabAction::None);
    assert!(g.grabbed());
    // The hotkey releases both; the ungrab's crossing back in does not grab again.
    g.key_press(0x1d);
    assert_eq!(g.key_press(0x38), GrabAction::Ungrab);
    assert_eq!(g.set_explicit(false), GrabAction::None);
    assert_eq!(g.enter(), GrabAction::None);
    // Focus loss while explicitly grabbed.
    g.key_release(0x38);
    g.key_release(0x1d);
    assert_eq!(g.click(), GrabAction::Grab);
    g.set_explicit(true);
    assert_eq!(g.focus_out(), GrabAction::Ungrab);
}

#[test]
fn hotkey_needs_exactly_its_keys() {
    let mut g = live_focused();
    g.enter();
    g.key_press(0x2a); // Shift held first
    g.key_press(0x1d);
    assert_eq!(g.key_press(0x38), GrabAction::None, "Shift+Ctrl+Alt is not Ctrl+Alt");
    let mut off = GrabState::new(false);
    off.set_live(true);
    assert_eq!(off.focus_in(), GrabAction::None);
    assert_eq!(off.click(), GrabAction::None);
}

#[test]
fn hotkey_parsing() {
    assert_eq!(Hotkey::parse("shift+f12"), Some(Hotkey::default()));
    let h = Hotkey::parse("Shift + F12").unwrap();
    assert_eq!(h.groups, vec![SHIFT.to_vec(), vec![0x58]]);
    assert_eq!(Hotkey::parse("f1").unwrap().groups, vec![vec![0x3b]]);
    assert_eq!(
        Hotkey::parse("super+a").unwrap().groups,
        vec![SUPER.to_vec(), vec![0x1e]]
    );
    assert_eq!(Hotkey::parse("ctrl+f13"), None);
    assert_eq!(Hotkey::parse("ctrl+é"), None);
    assert_eq!(Hotkey::parse("ctrl+ab"), None);
}

#[test]
fn hotkeys_from_remote_viewer_specs() {
    let keys = |s: &str| Hotkey::from_spec(&crate::client::vv::Hotkey::parse(s).unwrap()).map(|h| h.groups);
    assert_eq!(
        keys("Ctrl+Alt+Ins"),
        Some(vec![CTRL.to_vec(), ALT.to_vec(), vec![0x152]])
    );
    assert_eq!(keys("alt+ctrl+r"), Some(vec![CTRL.to_vec(), ALT.to_vec(), vec![0x13]]));
    assert_eq!(keys("shift+f12"), Some(vec![SHIFT.to_vec(), vec![0x58]]));
    assert_eq!(keys("ctrl+shift"), Some(vec![CTRL.to_vec(), SHIFT.to_vec()]));
    assert_eq!(keys("meta+a"), Some(vec![SUPER.to_vec(), vec![0x1e]]));
    assert_eq!(keys("ctrl+0"), Some(vec![CTRL.to_vec(), vec![0x0b]]));
    assert_eq!(keys("alt+1"), Some(vec![ALT.to_vec(), vec![0x02]]));
    assert_eq!(keys("ctrl+m"), Some(vec![CTRL.to_vec(), vec![0x32]]));
    assert_eq!(keys("ctrl+pgdn"), Some(vec![CTRL.to_vec(), vec![0x151]]));
    assert_eq!(keys("ctrl+/"), Some(vec![CTRL.to_vec(), vec![0x35]]));
    assert_eq!(keys("f10"), Some(vec![vec![0x44]]));
    assert_eq!(keys("ctrl+escape"), Some(vec![CTRL.to_vec(), vec![0x01]]));
    // Keys the widget cannot watch for.
    assert_eq!(keys("hyper+a"), None);
    assert_eq!(keys("ctrl+f13"), None);
    assert_eq!(keys("ctrl+plus"), None);
    assert_eq!(keys("ctrl+Multi_key"), None);
}

#[test]
fn a_configured_hotkey_releases_the_grab_and_ctrl_alt_does_not() {
    let mut g = GrabState::new(true);
    g.set_hotkey(Hotkey::parse("shift+f12").unwrap());
    g.set_live(true);
    g.focus_in();
    g.enter();
    g.key_press(0x1d);
    assert_eq!(
        g.key_press(0x38),
        GrabAction::None,
        "Ctrl+Alt is not the hotkey any more"
    );
    g.key_release(0x38);
    g.key_release(0x1d);
    g.key_press(0x36); // Right Shift
    assert_eq!(g.key_press(0x58), GrabAction::Ungrab);
    assert!(g.hotkey_held() && g.fired);
}

#[test]
fn smooth_scroll_accumulates_into_steps() {
    let mut s = ScrollAccumulator::default();
    assert_eq!(s.push(0.4), None);
    assert_eq!(s.push(0.4), None);
    assert_eq!(s.push(0.4), Some((ScrollDirection::Down, 1)));
    assert_eq!(s.push(2.9), Some((ScrollDirection::Down, 3)));
    // Direction change drops the leftover.
    assert_eq!(s.push(-0.5), None);
    assert_eq!(s.push(-0.5), Some((ScrollDirection::Up, 1)));
    assert_eq!(s.push(f64::NAN), None);
    assert_eq!(s.push(-1e300), Some((ScrollDirection::Up, u32::MAX)));
    s.reset();
    assert_eq!(s.push(1.0), Some((ScrollDirection::Down, 1)));
}

use crate::client::inputs::{Command, InputsShared};
use crate::proto::consts::mouse_mode;
use std::sync::Arc;

/// A handler on `widget` in server mouse mode, with the commands it sends and its grab reports.
fn server_mode_handler(widget: &gtk::Widget) -> (Rc<InputHandler>, Arc<InputsShared>, Rc<RefCell<Vec<bool>>>) {
    let shared = InputsShared::new();
    shared.set_up(true);
    shared.set_mouse_mode(mouse_mode::SERVER);
    let h = InputHandler::new(InputsHandle::new(Arc::clone(&shared)), 0);
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = Rc::clone(&reports);
    h.connect_pointer_grab_changed(move |g| r.borrow_mut().push(g));
    h.attach(widget, Rc::new(|_, _| None));
    (h, shared, reports)
}

fn cursor_name(widget: &gtk::Widget) -> Option<String> {
    widget.cursor().and_then(|c| c.name()).map(|n| n.to_string())
}

/// Grab on a click, deltas only while grabbed, release on the hotkey and on focus loss.
/// (An unrealized widget: no X window to confine to, so GTK positions give the deltas.)
#[gtk::test]
fn pointer_grab_through_the_handler() {
    let widget: gtk::Widget = gtk::DrawingArea::new().upcast();
    let (h, shared, reports) = server_mode_handler(&widget);
    // Not grabbed: motions are not sent.
    h.motion(10.0, 10.0, &|_, _| None);
    h.motion(20.0, 15.0, &|_, _| None);
    assert!(shared.take().is_empty());
    // The grabbing click.
    assert_eq!(h.pointer.borrow_mut().click(true), GrabAction::Grab);
    h.apply_pointer(GrabAction::Grab);
    assert!(h.pointer_grabbed());
    assert_eq!(cursor_name(&widget).as_deref(), Some("none"), "the pointer is hidden");
    h.motion(100.0, 100.0, &|_, _| None);
    h.motion(103.0, 98.0, &|_, _| None);
    h.motion(103.5, 98.0, &|_, _| None);
    h.motion(104.0, 98.0, &|_, _| None);
    let cmds: Vec<Command> = shared.take().into_iter().collect();
    assert_eq!(
        cmds,
        vec![Command::Motion { dx: 3, dy: -2 }, Command::Motion { dx: 1, dy: 0 }]
    );
    // Shift+F12 (evdev keycodes 50, 96; the default) releases it; the guest gets the keys released.
    h.key(50, true);
    h.key(96, true);
    assert!(!h.pointer_grabbed());
    assert_eq!(cursor_name(&widget), None);
    let cmds: Vec<Command> = shared.take().into_iter().collect();
    assert_eq!(
        cmds,
        vec![
            Command::KeyPress(0x2a),
            Command::KeyPress(0x58),
            Command::ReleaseAllKeys
        ]
    );
    h.key(96, false);
    h.key(50, false);
    assert!(shared.take().is_empty(), "the hotkey's releases are swallowed");
    h.motion(150.0, 150.0, &|_, _| None);
    h.motion(160.0, 150.0, &|_, _| None);
    assert!(shared.take().is_empty(), "no deltas once released");
    // Focus loss and a switch to client mode release it too.
    let grab = h.pointer.borrow_mut().click(true);
    h.apply_pointer(grab);
    h.focus_out();
    assert!(!h.pointer_grabbed());
    let grab = h.pointer.borrow_mut().click(true);
    h.apply_pointer(grab);
    h.mouse_mode_changed(true);
    assert!(!h.pointer_grabbed());
    let grab = h.pointer.borrow_mut().click(true);
    h.apply_pointer(grab);
    h.release_pointer();
    assert_eq!(
        *reports.borrow(),
        vec![true, false, true, false, true, false, true, false]
    );
}

/// Under X11 the realized widget takes the X server's keycode set (Xvfb: evdev).
#[gtk::test]
fn keycode_table_from_the_x_server() {
    let widget: gtk::Widget = gtk::DrawingArea::new().upcast();
    let window = gtk::Window::builder().child(&widget).build();
    let (h, _shared, _reports) = server_mode_handler(&widget);
    h.set_keycode_table(KeycodeTable::X11Xfree86);
    window.present();
    assert!(widget.is_realized());
    let on_x11 = widget.display().type_().name() == "GdkX11Display";
    if on_x11 && cfg!(all(feature = "x11", unix, not(target_os = "macos"))) {
        assert_eq!(h.keycode_table(), KeycodeTable::X11Evdev, "asked on realize");
    } else {
        eprintln!("not X11 ({}): the table is left alone", widget.display().type_().name());
        assert_eq!(h.keycode_table(), KeycodeTable::X11Xfree86);
    }
    window.close();
}

#[test]
fn gdk_buttons_map_to_spice() {
    assert_eq!(spice_button(1), Some(MouseButton::Left));
    assert_eq!(spice_button(2), Some(MouseButton::Middle));
    assert_eq!(spice_button(3), Some(MouseButton::Right));
    assert_eq!(spice_button(8), Some(MouseButton::Side));
    assert_eq!(spice_button(9), Some(MouseButton::Extra));
    assert_eq!(spice_button(4), None);
}

/// The keyboard grab through the handler: only over the live display, released on leave, on
/// the end of the live session (which also releases the pointer) and on focus loss.
#[gtk::test]
fn keyboard_grab_follows_the_policy_through_the_handler() {
    let widget: gtk::Widget = gtk::DrawingArea::new().upcast();
    let (h, shared, pointer_reports) = server_mode_handler(&widget);
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = Rc::clone(&reports);
    h.connect_grab_changed(move |g| r.borrow_mut().push(g));
    h.focus_in();
    h.pointer_enter(5.0, 5.0);
    assert!(!h.keyboard_grabbed(), "connecting: nothing grabbed");
    h.set_live(true);
    assert!(h.keyboard_grabbed());
    h.pointer_leave();
    assert!(!h.keyboard_grabbed(), "the pointer left the display");
    h.motion(6.0, 6.0, &|_, _| None);
    assert!(h.keyboard_grabbed(), "a motion over the display counts as entering");
    // Server mode: the pointer grab holds the keyboard even when GTK sees the pointer leave.
    let grab = h.pointer.borrow_mut().click(true);
    h.apply_pointer(grab);
    h.pointer_leave();
    assert!(h.keyboard_grabbed() && h.pointer_grabbed());
    // The session ends: both go.
    h.set_live(false);
    assert!(!h.keyboard_grabbed() && !h.pointer_grabbed());
    h.set_live(true);
    h.pointer_enter(5.0, 5.0);
    assert!(h.keyboard_grabbed());
    h.focus_out();
    assert!(!h.keyboard_grabbed());
    assert_eq!(*reports.borrow(), vec![true, false, true, false, true, false]);
    assert_eq!(*pointer_reports.borrow(), vec![true, false]);
    let _ = shared.take();
}
