//! Fills, clip regions, ROPs, COPY_BITS and surface-to-surface copies.

use super::*;
use crate::display::region::disjoint_union;

#[test]
fn fill_put_exact_pixels_and_damage() {
    let mut s = state(0, 4, 3);
    let ev = s.handle(&put(0, Rect::ltrb(1, 1, 3, 2), 0x0011_2233));
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(1, 1, 3, 2)
        }]
    );
    for y in 0..3 {
        for x in 0..4 {
            let want = if (1..3).contains(&x) && y == 1 {
                [0x33, 0x22, 0x11, 0x00]
            } else {
                [0; 4]
            };
            assert_eq!(px(&s, 0, x, y), want, "({x},{y})");
        }
    }
    assert_eq!(s.stats().draws_applied, 1);
}

#[test]
fn fill_rops() {
    let mut s = state(0, 1, 1);
    let at = |s: &DisplayState| px(s, 0, 0, 0);
    let r = Rect::ltrb(0, 0, 1, 1);
    s.handle(&put(0, r, 0x0f0f_0f0f));
    s.handle(&fill(0, r, Clip::None, 0xff00_ff00, ropd::OP_XOR));
    assert_eq!(at(&s), [0x0f, 0xf0, 0x0f, 0xf0]);
    s.handle(&fill(0, r, Clip::None, 0xff00_ff00, ropd::OP_XOR));
    assert_eq!(at(&s), [0x0f; 4]);
    s.handle(&fill(0, r, Clip::None, 0x3000_0030, ropd::OP_OR));
    assert_eq!(at(&s), [0x3f, 0x0f, 0x0f, 0x3f]);
    s.handle(&fill(0, r, Clip::None, 0x0000_00f0, ropd::OP_AND));
    assert_eq!(at(&s), [0x30, 0, 0, 0]);
    s.handle(&fill(0, r, Clip::None, 0, ropd::OP_INVERS));
    assert_eq!(at(&s), [0xcf, 0xff, 0xff, 0xff]);
    s.handle(&fill(0, r, Clip::None, 0x1234_5678, ropd::OP_BLACKNESS));
    assert_eq!(at(&s), [0; 4]);
    s.handle(&fill(0, r, Clip::None, 0, ropd::OP_WHITENESS));
    assert_eq!(at(&s), [0xff; 4]);
    // PUT of the inverted brush
    s.handle(&fill(0, r, Clip::None, 0x00ff_00ff, ropd::OP_PUT | ropd::INVERS_BRUSH));
    assert_eq!(at(&s), [0x00, 0xff, 0x00, 0xff]);
    // INVERS_SRC does not apply to brushes
    s.handle(&fill(0, r, Clip::None, 0x00ff_00ff, ropd::OP_PUT | ropd::INVERS_SRC));
    assert_eq!(at(&s), [0xff, 0x00, 0xff, 0x00]);
    // no brush: colour 0
    let none = DisplayServer::DrawFill {
        base: base(0, r, Clip::None),
        fill: FillOp {
            brush: Brush::None,
            rop_descriptor: ropd::OP_PUT,
            mask: QMask::default(),
        },
    };
    s.handle(&none);
    assert_eq!(at(&s), [0; 4]);
}

#[test]
fn rop_descriptor_table() {
    use ropd::*;
    let f = |d| Rop::from_descriptor(d, INVERS_BRUSH);
    assert_eq!(f(OP_PUT), Rop::Copy);
    assert_eq!(f(0), Rop::Copy);
    assert_eq!(f(OP_PUT | INVERS_RES), Rop::CopyInverted);
    assert_eq!(f(OP_PUT | INVERS_BRUSH | INVERS_RES), Rop::Copy);
    assert_eq!(f(OP_OR | INVERS_RES), Rop::Nor);
    assert_eq!(f(OP_OR | INVERS_BRUSH | INVERS_DEST), Rop::Nand);
    assert_eq!(f(OP_OR | INVERS_DEST), Rop::OrReverse);
    assert_eq!(f(OP_AND | INVERS_BRUSH), Rop::AndInverted);
    assert_eq!(f(OP_AND | INVERS_DEST), Rop::AndReverse);
    assert_eq!(f(OP_AND | INVERS_BRUSH | INVERS_RES), Rop::OrReverse);
    assert_eq!(f(OP_XOR | INVERS_DEST), Rop::Equiv);
    assert_eq!(f(OP_XOR | INVERS_BRUSH | INVERS_DEST), Rop::Xor);
    assert_eq!(f(OP_BLACKNESS | INVERS_RES), Rop::Clear);
    assert_eq!(Rop::from_descriptor(OP_PUT | INVERS_SRC, INVERS_SRC), Rop::CopyInverted);
    // every result agrees with its truth table on whole bytes
    for rop in [Rop::AndReverse, Rop::OrInverted, Rop::Equiv, Rop::Nand] {
        for (s, d) in [(0u8, 0u8), (0, 0xff), (0xff, 0), (0xff, 0xff)] {
            let _ = rop.apply(s, d);
        }
    }
    assert_eq!(Rop::OrInverted.apply(0xf0, 0x0c), 0x0f | 0x0c);
}

#[test]
fn fill_clipped_to_surface_with_negative_coords() {
    let mut s = state(0, 3, 3);
    let ev = s.handle(&put(0, Rect::ltrb(-5, -5, 2, 2), RED));
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(0, 0, 2, 2)
        }]
    );
    assert_eq!(px(&s, 0, 1, 1), RED.to_le_bytes());
    assert_eq!(px(&s, 0, 2, 2), [0; 4]);
    // fully outside, inverted and extreme rectangles: applied, nothing drawn
    for r in [
        Rect::ltrb(3, 0, 10, 3),
        Rect::ltrb(-10, -10, 0, 0),
        Rect::ltrb(2, 2, 1, 1),
        Rect::ltrb(i32::MAX, i32::MAX, i32::MIN, i32::MIN),
    ] {
        assert!(s.handle(&put(0, r, BLUE)).is_empty(), "{r:?}");
    }
    s.handle(&put(0, Rect::ltrb(i32::MIN, i32::MIN, i32::MAX, i32::MAX), GREEN));
    assert!(
        s.surface(0)
            .unwrap()
            .pixels_bgra()
            .chunks(4)
            .all(|p| p == GREEN.to_le_bytes())
    );
    assert_eq!(s.stats().draws_applied, 6);
    assert_eq!(s.stats().draws_dropped, 0);
}

#[test]
fn clip_rects_with_overlaps_apply_once() {
    let mut s = state(0, 6, 4);
    let clip = Clip::Rects(vec![
        Rect::ltrb(0, 0, 3, 2),
        Rect::ltrb(2, 1, 5, 3),
        Rect::ltrb(2, 1, 5, 3),
        Rect::ltrb(-9, 3, 1, 99),
    ]);
    let ev = s.handle(&fill(0, Rect::ltrb(0, 0, 5, 4), clip, 0xffff_ffff, ropd::OP_XOR));
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(0, 0, 5, 4)
        }]
    );
    let inside = |x: u32, y: u32| (x < 3 && y < 2) || ((2..5).contains(&x) && (1..3).contains(&y)) || (x < 1 && y == 3);
    for y in 0..4 {
        for x in 0..6 {
            let want = if inside(x, y) { [0xff; 4] } else { [0; 4] };
            assert_eq!(px(&s, 0, x, y), want, "({x},{y})");
        }
    }
}

#[test]
fn disjoint_union_covers_exactly_once() {
    let mut rng = Rng(99);
    for _ in 0..200 {
        let n = 1 + rng.next() % 8;
        let boxes: Vec<PixBox> = (0..n)
            .filter_map(|_| {
                let (x, y) = (rng.range(0, 12), rng.range(0, 12));
                PixBox::clipped(
                    x.into(),
                    y.into(),
                    (x + rng.range(1, 6)).into(),
                    (y + rng.range(1, 6)).into(),
                    14,
                    14,
                )
            })
            .collect();
        let out = disjoint_union(boxes.clone());
        let mut cover = [[0u8; 14]; 14];
        for b in &out {
            for row in &mut cover[b.y0..b.y1] {
                for c in &mut row[b.x0..b.x1] {
                    *c += 1;
                }
            }
        }
        for (y, row) in cover.iter().enumerate() {
            for (x, &c) in row.iter().enumerate() {
                let want = boxes
                    .iter()
                    .any(|b| (b.x0..b.x1).contains(&x) && (b.y0..b.y1).contains(&y));
                assert_eq!(c, u8::from(want), "({x},{y}) {boxes:?} -> {out:?}");
            }
        }
    }
}

#[test]
fn clip_rect_cap() {
    let mut s = Pipeline::new(Limits {
        max_clip_rects: 10,
        ..Limits::default()
    });
    s.handle(&create(0, 4, 4, surface_fmt::XRGB32, surface_flags::PRIMARY));
    let many = Clip::Rects(vec![Rect::ltrb(0, 0, 1, 1); 11]);
    assert_eq!(
        errors(&s.handle(&fill(0, Rect::ltrb(0, 0, 4, 4), many, RED, ropd::OP_PUT))),
        ["too_many_clip_rects"]
    );
    assert_eq!(px(&s, 0, 0, 0), [0; 4]);
    // a million rects with the default cap: refused at once
    let mut s = state(0, 4, 4);
    let huge = Clip::Rects(vec![Rect::ltrb(0, 0, 1, 1); 1_000_000]);
    let start = std::time::Instant::now();
    assert_eq!(
        errors(&s.handle(&fill(0, Rect::ltrb(0, 0, 4, 4), huge, RED, ropd::OP_PUT))),
        ["too_many_clip_rects"]
    );
    assert!(start.elapsed().as_secs() < 2);
    // 10 000 distinct rects (the default cap) are still processed quickly
    let rects = (0..10_000)
        .map(|i| Rect::ltrb(i % 97, i % 89, i % 97 + 3, i % 89 + 2))
        .collect();
    let mut s = state(0, 100, 100);
    let start = std::time::Instant::now();
    s.handle(&fill(
        0,
        Rect::ltrb(0, 0, 100, 100),
        Clip::Rects(rects),
        RED,
        ropd::OP_XOR,
    ));
    assert!(start.elapsed().as_secs() < 5);
    assert_eq!(s.stats().draws_applied, 1);
}

#[test]
fn fill_on_16bit_surfaces_uses_native_colours() {
    let mut s = Pipeline::new(Limits::default());
    s.handle(&create(1, 2, 1, surface_fmt::RGB16_555, 0));
    s.handle(&create(2, 2, 1, surface_fmt::RGB16_565, 0));
    s.handle(&put(1, Rect::ltrb(0, 0, 1, 1), 0x7c00)); // red in 555
    s.handle(&put(2, Rect::ltrb(0, 0, 1, 1), 0x07e0)); // green in 565
    assert_eq!(px(&s, 1, 0, 0), [0, 0, 0xff, 0xff]);
    assert_eq!(px(&s, 2, 0, 0), [0, 0xff, 0, 0xff]);
    s.handle(&put(1, Rect::ltrb(1, 0, 2, 1), 0x4210)); // 16,16,16
    assert_eq!(px(&s, 1, 1, 0), [0x84, 0x84, 0x84, 0xff]);
}

/// A 4x4 surface whose pixel (x, y) holds the value 10·y + x in every byte.
fn numbered(clip_w: u32, clip_h: u32) -> Pipeline {
    let mut s = state(0, clip_w, clip_h);
    for y in 0..clip_h {
        for x in 0..clip_w {
            let v = 10 * y + x;
            s.handle(&put(
                0,
                Rect::ltrb(x as i32, y as i32, x as i32 + 1, y as i32 + 1),
                v * 0x0101_0101,
            ));
        }
    }
    s
}

fn value(s: &DisplayState, x: u32, y: u32) -> u32 {
    u32::from(px(s, 0, x, y)[0])
}

/// COPY_BITS checked against a direct model computed from a snapshot.
fn check_copy_bits(bbox: Rect, clip: Clip, src: Point) {
    let (w, h) = (6u32, 5u32);
    let mut s = numbered(w, h);
    let before: Vec<Vec<u32>> = (0..h).map(|y| (0..w).map(|x| value(&s, x, y)).collect()).collect();
    s.handle(&DisplayServer::CopyBits {
        base: base(0, bbox, clip.clone()),
        src_pos: src,
    });
    let (dx, dy) = (
        i64::from(bbox.left) - i64::from(src.x),
        i64::from(bbox.top) - i64::from(src.y),
    );
    for y in 0..h as i32 {
        for x in 0..w as i32 {
            let in_box = x >= bbox.left && x < bbox.right && y >= bbox.top && y < bbox.bottom;
            let in_clip = match &clip {
                Clip::None => true,
                Clip::Rects(r) => r
                    .iter()
                    .any(|r| x >= r.left && x < r.right && y >= r.top && y < r.bottom),
            };
            let (sx, sy) = (i64::from(x) - dx, i64::from(y) - dy);
            let src_ok = sx >= 0 && sy >= 0 && sx < i64::from(w) && sy < i64::from(h);
            let want = if in_box && in_clip && src_ok {
                before[sy as usize][sx as usize]
            } else {
                before[y as usize][x as usize]
            };
            assert_eq!(
                value(&s, x as u32, y as u32),
                want,
                "({x},{y}) box {bbox:?} src {src:?}"
            );
        }
    }
}

#[test]
fn copy_bits_overlap_both_directions() {
    let full = Rect::ltrb(0, 0, 6, 5);
    // scroll up, down, left, right and diagonally within the surface
    check_copy_bits(Rect::ltrb(0, 0, 6, 4), Clip::None, Point { x: 0, y: 1 });
    check_copy_bits(Rect::ltrb(0, 1, 6, 5), Clip::None, Point { x: 0, y: 0 });
    check_copy_bits(Rect::ltrb(0, 0, 5, 5), Clip::None, Point { x: 1, y: 0 });
    check_copy_bits(Rect::ltrb(1, 0, 6, 5), Clip::None, Point { x: 0, y: 0 });
    check_copy_bits(Rect::ltrb(1, 1, 5, 4), Clip::None, Point { x: 0, y: 0 });
    check_copy_bits(Rect::ltrb(0, 0, 4, 3), Clip::None, Point { x: 1, y: 2 });
    // several clip boxes that read each other's destination
    let clip = Clip::Rects(vec![
        Rect::ltrb(0, 0, 6, 2),
        Rect::ltrb(0, 3, 3, 5),
        Rect::ltrb(4, 2, 6, 4),
    ]);
    check_copy_bits(full, clip.clone(), Point { x: 0, y: 1 });
    check_copy_bits(full, clip.clone(), Point { x: 1, y: -1 });
    check_copy_bits(full, clip, Point { x: -2, y: 1 });
    // sources partly or fully outside, destinations partly outside
    check_copy_bits(full, Clip::None, Point { x: -3, y: -2 });
    check_copy_bits(Rect::ltrb(-2, -2, 3, 3), Clip::None, Point { x: 0, y: 0 });
    check_copy_bits(full, Clip::None, Point { x: 100, y: 0 });
    check_copy_bits(
        full,
        Clip::None,
        Point {
            x: i32::MIN,
            y: i32::MAX,
        },
    );
    check_copy_bits(Rect::ltrb(3, 3, 9, 9), Clip::None, Point { x: 0, y: 0 });
}

#[test]
fn copy_bits_damage_and_missing_surface() {
    let mut s = numbered(4, 4);
    let ev = s.handle(&DisplayServer::CopyBits {
        base: base(0, Rect::ltrb(0, 0, 4, 3), Clip::None),
        src_pos: Point { x: 0, y: 1 },
    });
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(0, 0, 4, 3)
        }]
    );
    let ev = s.handle(&DisplayServer::CopyBits {
        base: base(9, Rect::ltrb(0, 0, 4, 3), Clip::None),
        src_pos: Point { x: 0, y: 1 },
    });
    assert_eq!(errors(&ev), ["no_such_surface"]);
}

fn surface_image(id: u32) -> Option<Image> {
    Some(Image {
        descriptor: ImageDescriptor {
            id: 0,
            image_type: image_type::SURFACE,
            flags: 0,
            width: 0,
            height: 0,
        },
        kind: ImageKind::Surface { surface_id: id },
    })
}

#[test]
fn copy_from_another_surface_and_itself() {
    let mut s = numbered(4, 4);
    s.handle(&create(1, 2, 2, surface_fmt::XRGB32, 0));
    // off-screen 1 <- primary (1,1)-(3,3)
    let ev = s.handle(&copy(
        1,
        Rect::ltrb(0, 0, 2, 2),
        Rect::ltrb(1, 1, 3, 3),
        surface_image(0),
        ropd::OP_PUT,
    ));
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 1,
            rect: Rect::ltrb(0, 0, 2, 2)
        }]
    );
    assert_eq!(px(&s, 1, 0, 0)[0], 11);
    assert_eq!(px(&s, 1, 1, 1)[0], 22);
    // primary <- itself, overlapping, source partly outside the surface
    s.handle(&copy(
        0,
        Rect::ltrb(1, 1, 4, 4),
        Rect::ltrb(0, 0, 3, 3),
        surface_image(0),
        ropd::OP_PUT,
    ));
    assert_eq!(value(&s, 1, 1), 0);
    assert_eq!(value(&s, 3, 3), 22);
    s.handle(&copy(
        0,
        Rect::ltrb(0, 0, 2, 2),
        Rect::ltrb(-1, -1, 1, 1),
        surface_image(1),
        ropd::OP_PUT,
    ));
    assert_eq!(value(&s, 0, 0), 0, "outside the source: untouched");
    assert_eq!(value(&s, 1, 1), 11);
    assert_eq!(
        errors(&s.handle(&copy(
            0,
            Rect::ltrb(0, 0, 1, 1),
            Rect::ltrb(0, 0, 1, 1),
            surface_image(5),
            ropd::OP_PUT
        ))),
        ["no_such_surface"]
    );
}
