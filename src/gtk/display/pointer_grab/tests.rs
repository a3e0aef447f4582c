use super::*;

#[test]
fn grabs_on_click_in_server_mode_only() {
    let mut g = PointerGrabState::default();
    assert_eq!(g.click(false), GrabAction::None, "client mode never grabs");
    assert!(!g.grabbed());
    assert_eq!(g.click(true), GrabAction::Grab);
    assert!(g.grabbed());
    assert_eq!(g.click(true), GrabAction::None, "clicks while grabbed go to the guest");
    assert_eq!(g.hotkey(), GrabAction::Ungrab);
    assert_eq!(g.hotkey(), GrabAction::None);
    assert_eq!(g.click(true), GrabAction::Grab);
    assert_eq!(g.focus_out(), GrabAction::Ungrab);
    assert_eq!(g.focus_out(), GrabAction::None);
    assert_eq!(g.click(true), GrabAction::Grab);
    assert_eq!(g.mode_changed(true), GrabAction::None);
    assert_eq!(g.mode_changed(false), GrabAction::Ungrab, "client mode releases");
    assert_eq!(g.click(true), GrabAction::Grab);
    assert_eq!(g.release(), GrabAction::Ungrab);
    assert!(!g.grabbed());
}

#[test]
fn warp_echo_gives_no_delta() {
    let mut t = WarpTracker::default();
    t.reset(None);
    assert!(t.needs_warp((500, 400)), "unknown position: warp to the centre");
    // The first position only sets the origin.
    assert_eq!(t.motion(10, 500, 400), (0, 0));
    assert_eq!(t.motion(11, 510, 395), (10, -5));
    assert!(t.needs_warp((500, 400)));
    t.warped(12, (500, 400));
    assert!(!t.needs_warp((500, 400)), "one warp at a time");
    // The user moved again before the server processed the warp: counted from 510,395.
    assert_eq!(t.motion(11, 530, 405), (20, 10));
    // The warp's own motion: nothing.
    assert_eq!(t.motion(12, 500, 400), (0, 0));
    // Then the user's moves from the centre.
    assert_eq!(t.motion(12, 503, 401), (3, 1));
    assert_eq!(t.motion(13, 490, 401), (-13, 0));
    assert!(t.needs_warp((500, 400)));
}

#[test]
fn warp_without_echo_and_overtaken_warps() {
    let mut t = WarpTracker::default();
    t.reset(Some((100, 100)));
    t.warped(5, (50, 50));
    t.warped(6, (60, 60));
    // The first event after both warps is a user move from the last target.
    assert_eq!(t.motion(7, 70, 65), (10, 5));
    // A warp whose echo never came (pointer already there) is overtaken by any later event.
    t.warped(8, (70, 65));
    assert_eq!(t.motion(9, 71, 65), (1, 0));
    // Sequence numbers wrap at 2^16.
    t.warped(0xfffe, (0, 0));
    assert_eq!(t.motion(0xfffd, 75, 65), (4, 0), "before the warp");
    assert_eq!(t.motion(0x0001, 2, 3), (2, 3), "after the warp, across the wrap");
    // Pending warps are capped.
    for s in 0..100u16 {
        t.warped(s.wrapping_add(10), (0, 0));
    }
    assert!(t.warps.len() <= MAX_PENDING_WARPS);
}

#[test]
fn deltas_scale_and_keep_fractions() {
    let mut s = DeltaScaler::default();
    assert_eq!(s.push(10.0, -4.0, 1.0), (10, -4));
    assert_eq!(s.push(1.0, 1.0, 0.5), (0, 0));
    assert_eq!(s.push(1.0, 1.0, 0.5), (1, 1));
    assert_eq!(s.push(3.0, 0.0, 2.0), (6, 0));
    assert_eq!(s.push(f64::NAN, 1.0, 1.0), (0, 0));
    assert_eq!(s.push(1.0, 0.0, f64::INFINITY), (1, 0), "a bad scale counts as 1");
    assert_eq!(s.push(1e300, -1e300, 1.0), (i32::MAX, i32::MIN));
    s.reset();
    assert_eq!(s.push(0.4, 0.0, 1.0), (0, 0));
}

#[test]
fn wayland_fixed_point_fractions_add_up() {
    // Relative motion comes in wl_fixed (1/256) surface-local units: a slow
    // hand sends fractions that must add up, never be dropped.
    let mut s = DeltaScaler::default();
    let mut sum = (0, 0);
    for _ in 0..256 {
        let (x, y) = s.push(1.0 / 256.0, -3.0 / 256.0, 1.0);
        sum = (sum.0 + x, sum.1 + y);
    }
    assert_eq!(sum, (1, -3));
    // HiDPI (2 device pixels per surface unit) at 100 % zoom, then a 50 % zoom.
    s.reset();
    assert_eq!(s.push(0.75, 0.25, 2.0), (1, 0), "1.5 and 0.5 pixels: the halves wait");
    assert_eq!(s.push(0.75, 0.25, 2.0), (2, 1), "3 and 1 pixels in all");
    s.reset();
    let mut sum = 0;
    for _ in 0..10 {
        sum += s.push(0.3, 0.0, 0.5).0;
    }
    assert_eq!(sum, 1, "0.3 × 10 × 0.5 = 1.5: one pixel sent, half a pixel kept");
}

#[test]
fn x_buttons_map_to_spice() {
    assert_eq!(x_button(1), Some(XButton::Button(MouseButton::Left)));
    assert_eq!(x_button(2), Some(XButton::Button(MouseButton::Middle)));
    assert_eq!(x_button(3), Some(XButton::Button(MouseButton::Right)));
    assert_eq!(x_button(4), Some(XButton::Wheel(ScrollDirection::Up)));
    assert_eq!(x_button(5), Some(XButton::Wheel(ScrollDirection::Down)));
    assert_eq!(x_button(6), None);
    assert_eq!(x_button(8), Some(XButton::Button(MouseButton::Side)));
    assert_eq!(x_button(9), Some(XButton::Button(MouseButton::Extra)));
    assert_eq!(x_button(0), None);
}

#[test]
fn keycode_table_selection() {
    assert_eq!(
        keycode_table_from_x11::<String>(Ok(Some(KeycodeTable::X11Xfree86))),
        KeycodeTable::X11Xfree86
    );
    assert_eq!(
        keycode_table_from_x11::<String>(Ok(Some(KeycodeTable::X11Xquartz))),
        KeycodeTable::X11Xquartz
    );
    assert_eq!(keycode_table_from_x11::<String>(Ok(None)), KeycodeTable::X11Evdev);
    assert_eq!(keycode_table_from_x11(Err("broken pipe")), KeycodeTable::X11Evdev);
    // From the XKB names X servers report.
    let from_name = |n: &str| keycode_table_from_x11::<String>(Ok(sumac_platform::keymap::keycode_table_for_x11(n)));
    assert_eq!(from_name("xfree86+aliases(qwerty)"), KeycodeTable::X11Xfree86);
    assert_eq!(from_name("evdev+aliases(qwerty)"), KeycodeTable::X11Evdev);
    assert_eq!(from_name("sun(type6)"), KeycodeTable::X11Evdev);
}
