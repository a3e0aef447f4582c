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
