use super::*;
use sumac::display::{DisplayEvent, Limits, Pipeline};

fn apply(p: &mut Pipeline, messages: &[DisplayServer]) {
    for m in messages {
        let ev = p.handle(m);
        assert!(!ev.iter().any(|e| matches!(e, DisplayEvent::Error(_))), "{m:?}: {ev:?}");
    }
}

fn rgb_at(rgb: &[u8], x: i32, y: i32) -> [u8; 3] {
    let i = (y as usize * WIDTH as usize + x as usize) * 3;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

/// Pixels of `rgb` inside the box that differ from `bg`.
fn ink(rgb: &[u8], (x, y, w, h): (i32, i32, i32, i32), bg: u32) -> usize {
    let bg = [(bg >> 16) as u8, (bg >> 8) as u8, bg as u8];
    let mut n = 0;
    for yy in y..y + h {
        for xx in x..x + w {
            n += usize::from(rgb_at(rgb, xx, yy) != bg);
        }
    }
    n
}

fn key(d: &mut Desktop, code: u16) {
    d.input(DemoInput::Key { code, down: true });
    d.input(DemoInput::Key { code, down: false });
}

/// Sumac's own display code, fed the desktop's messages, shows exactly the
/// expected image, through frames, typing (with scrolling) and clicks.
#[test]
fn the_desktop_is_drawn_as_expected_frame_by_frame() {
    let mut d = Desktop::new();
    let mut p = Pipeline::new(Limits::default());
    apply(&mut p, &d.take_messages());
    let (_, surface) = p.primary().unwrap();
    assert_eq!((surface.width, surface.height), (WIDTH, HEIGHT));
    assert_eq!(surface.to_rgb(), d.expected_rgb());
    for f in 0..400u32 {
        d.tick();
        if f % 7 == 0 {
            key(&mut d, 0x1e + (f % 9) as u16);
        }
        if f % 50 == 0 {
            key(&mut d, 0x1c);
        }
        if f % 33 == 0 {
            d.input(DemoInput::Click {
                x: (f * 37 % WIDTH) as i32,
                y: (f * 53 % HEIGHT) as i32,
                button: 1,
            });
        }
        apply(&mut p, &d.take_messages());
        if f % 40 == 0 {
            assert_eq!(p.primary().unwrap().1.to_rgb(), d.expected_rgb(), "frame {f}");
        }
    }
    assert_eq!(p.primary().unwrap().1.to_rgb(), d.expected_rgb());
}

/// What a person sees: a panel, text in the terminal, icons, the hint line;
/// the animation and the moving window change between frames.
#[test]
fn the_desktop_has_text_an_animation_and_a_moving_window() {
    let mut d = Desktop::new();
    let first = d.expected_rgb().to_vec();
    assert!(ink(&first, (0, 0, 200, PANEL_H), PANEL) > 100, "panel text");
    assert!(
        ink(&first, (TERM.0, TERM.1 + TITLE_H, TERM.2, 100), TERM_BODY) > 1000,
        "terminal text"
    );
    assert!(ink(&first, (140, HINT_Y, 700, 8), BG) > 500, "hint line");
    let mover = (MOVER_X.0, MOVER_Y, MOVER.0, MOVER.1);
    assert_eq!(
        ink(&first, mover, BG),
        (MOVER.0 * MOVER.1) as usize,
        "the moving window is opaque"
    );
    for _ in 0..10 {
        d.tick();
    }
    let later = d.expected_rgb();
    // The window moved right by 10 steps: its old left edge shows the desktop.
    assert_eq!(ink(later, (MOVER_X.0, MOVER_Y, 10 * MOVER_STEP, MOVER.1), BG), 0);
    assert_eq!(
        ink(later, (MOVER_X.0 + 10 * MOVER_STEP, MOVER_Y, MOVER.0, MOVER.1), BG),
        (MOVER.0 * MOVER.1) as usize
    );
    let anim = (ANIM.0, ANIM.1 + TITLE_H, ANIM.2, ANIM.3 - TITLE_H);
    let changed = (anim.1..anim.1 + anim.3)
        .flat_map(|y| (anim.0..anim.0 + anim.2).map(move |x| (x, y)))
        .filter(|&(x, y)| rgb_at(&first, x, y) != rgb_at(later, x, y))
        .count();
    assert!(changed > 500, "the animation moved: {changed} pixels");
}

/// A key echoes its glyph at the terminal's cursor; Shift gives the capital;
/// Enter and Backspace move; a click draws a cross centred on its position.
#[test]
fn keys_echo_and_clicks_leave_marks() {
    let mut d = Desktop::new();
    let (x, y, _, _) = ECHO;
    d.input(DemoInput::Key { code: 0x2a, down: true });
    key(&mut d, 0x23); // H
    d.input(DemoInput::Key {
        code: 0x2a,
        down: false,
    });
    key(&mut d, 0x17); // i
    let rgb = d.expected_rgb().to_vec();
    for (i, ch) in ['H', 'i'].into_iter().enumerate() {
        for (dy, bits) in glyph_rows(ch).iter().enumerate() {
            for dx in 0..8 {
                let want = if bits & (0x80 >> dx) != 0 { [255; 3] } else { [0x12; 3] };
                assert_eq!(
                    rgb_at(&rgb, x + i as i32 * CELL + dx, y + dy as i32),
                    want,
                    "{ch} ({dx}, {dy})"
                );
            }
        }
    }
    key(&mut d, 0x1c);
    key(&mut d, 0x10); // q, on the second line
    assert!(ink(d.expected_rgb(), (x, y + LINE_H, CELL, 8), TERM_BODY) > 5);

    d.input(DemoInput::Click {
        x: 600,
        y: 650,
        button: 1,
    });
    let rgb = d.expected_rgb();
    let red = [0xff, 0x55, 0x55];
    assert_eq!(rgb_at(rgb, 600, 650), red);
    assert_eq!(rgb_at(rgb, 593, 650), red);
    assert_eq!(rgb_at(rgb, 600, 643), red);
    assert_eq!(rgb_at(rgb, 592, 650), [0x2f, 0x5f, 0x80]);
    assert_eq!(rgb_at(rgb, 595, 645), [0x2f, 0x5f, 0x80]);
}
