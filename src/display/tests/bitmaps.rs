//! DRAW_COPY of uncompressed bitmaps: every format, row order, palettes,
//! cropping, scaling and out-of-bounds placement.

use super::*;
use crate::proto::channel::display::{bitmap_flags as bf, bitmap_fmt as fmt};

const PAL: [u32; 4] = [0x0000_0000, RED, GREEN, BLUE];

/// Copies `img` (w×h) 1:1 to the top-left of a fresh 4×4 surface.
fn draw(img: Image, w: i32, h: i32) -> (Pipeline, Vec<DisplayEvent>) {
    let mut s = state(0, 4, 4);
    let r = Rect::ltrb(0, 0, w, h);
    let ev = s.handle(&copy(0, r, r, Some(img), ropd::OP_PUT));
    (s, ev)
}

/// Row 0 of the surface after drawing, as opaque colours.
fn row(s: &DisplayState, y: u32, n: u32) -> Vec<[u8; 4]> {
    (0..n).map(|x| px(s, 0, x, y)).collect()
}

#[test]
fn format_32bit_and_rgba() {
    let data = vec![1, 2, 3, 0x55, 4, 5, 6, 0x66];
    let (s, ev) = draw(
        bitmap(fmt::BIT32, bf::TOP_DOWN, 2, 1, 8, PaletteRef::None, data.clone()),
        2,
        1,
    );
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(0, 0, 2, 1)
        }]
    );
    assert_eq!(row(&s, 0, 3), [[1, 2, 3, 0xff], [4, 5, 6, 0xff], [0; 4]]);
    let (s, _) = draw(bitmap(fmt::RGBA, bf::TOP_DOWN, 2, 1, 8, PaletteRef::None, data), 2, 1);
    assert_eq!(row(&s, 0, 2), [[1, 2, 3, 0x55], [4, 5, 6, 0x66]]);
}

#[test]
fn format_24bit_with_padded_stride() {
    // 3 pixels of B,G,R then 3 padding bytes, two rows, bottom-up
    let data = vec![
        1, 2, 3, 4, 5, 6, 7, 8, 9, 0xee, 0xee, 0xee, //
        10, 11, 12, 13, 14, 15, 16, 17, 18, 0xee, 0xee, 0xee,
    ];
    let (s, _) = draw(bitmap(fmt::BIT24, 0, 3, 2, 12, PaletteRef::None, data), 3, 2);
    assert_eq!(
        row(&s, 0, 3),
        [[10, 11, 12, 0xff], [13, 14, 15, 0xff], [16, 17, 18, 0xff]]
    );
    assert_eq!(row(&s, 1, 3), [[1, 2, 3, 0xff], [4, 5, 6, 0xff], [7, 8, 9, 0xff]]);
}

#[test]
fn format_16bit_555() {
    let words: [u16; 4] = [0x7c00, 0x03e0, 0x001f, 0x4210];
    let data: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let (s, _) = draw(bitmap(fmt::BIT16, bf::TOP_DOWN, 4, 1, 8, PaletteRef::None, data), 4, 1);
    assert_eq!(
        row(&s, 0, 4),
        [
            [0, 0, 0xff, 0xff],
            [0, 0xff, 0, 0xff],
            [0xff, 0, 0, 0xff],
            [0x84, 0x84, 0x84, 0xff]
        ]
    );
}

#[test]
fn format_8bit_palette() {
    let (s, _) = draw(
        bitmap(fmt::BIT8, bf::TOP_DOWN, 4, 1, 4, inline_palette(&PAL), vec![3, 2, 1, 0]),
        4,
        1,
    );
    assert_eq!(row(&s, 0, 4), [opaque(BLUE), opaque(GREEN), opaque(RED), opaque(0)]);
}

#[test]
fn format_4bit_le_and_be() {
    // pixels 1,2,3 packed in one and a half bytes
    let (s, _) = draw(
        bitmap(
            fmt::BIT4_BE,
            bf::TOP_DOWN,
            3,
            1,
            2,
            inline_palette(&PAL),
            vec![0x12, 0x30],
        ),
        3,
        1,
    );
    assert_eq!(row(&s, 0, 3), [opaque(RED), opaque(GREEN), opaque(BLUE)]);
    let (s, _) = draw(
        bitmap(
            fmt::BIT4_LE,
            bf::TOP_DOWN,
            3,
            1,
            2,
            inline_palette(&PAL),
            vec![0x21, 0x03],
        ),
        3,
        1,
    );
    assert_eq!(row(&s, 0, 3), [opaque(RED), opaque(GREEN), opaque(BLUE)]);
}

#[test]
fn format_1bit_le_and_be() {
    let pal = inline_palette(&[GREEN, BLUE]);
    let want = [opaque(BLUE), opaque(BLUE), opaque(GREEN)];
    let (s, _) = draw(
        bitmap(fmt::BIT1_BE, bf::TOP_DOWN, 3, 1, 1, pal.clone(), vec![0b1100_0000]),
        3,
        1,
    );
    assert_eq!(row(&s, 0, 3), want);
    let (s, _) = draw(
        bitmap(fmt::BIT1_LE, bf::TOP_DOWN, 3, 1, 1, pal, vec![0b0000_0011]),
        3,
        1,
    );
    assert_eq!(row(&s, 0, 3), want);
}

#[test]
fn bottom_up_versus_top_down() {
    let data = vec![1, 0, 0, 0, 2, 0, 0, 0];
    let (s, _) = draw(bitmap(fmt::BIT32, 0, 1, 2, 4, PaletteRef::None, data.clone()), 1, 2);
    assert_eq!((px(&s, 0, 0, 0)[0], px(&s, 0, 0, 1)[0]), (2, 1));
    let (s, _) = draw(bitmap(fmt::BIT32, bf::TOP_DOWN, 1, 2, 4, PaletteRef::None, data), 1, 2);
    assert_eq!((px(&s, 0, 0, 0)[0], px(&s, 0, 0, 1)[0]), (1, 2));
}

#[test]
fn palette_on_16bit_surface_is_555() {
    let mut s = Pipeline::new(Limits::default());
    s.handle(&create(0, 1, 1, surface_fmt::RGB16_555, surface_flags::PRIMARY));
    let img = bitmap(fmt::BIT8, 0, 1, 1, 1, inline_palette(&[0x001f]), vec![0]);
    let r = Rect::ltrb(0, 0, 1, 1);
    s.handle(&copy(0, r, r, Some(img), ropd::OP_PUT));
    assert_eq!(px(&s, 0, 0, 0), [0xff, 0, 0, 0xff]);
}

#[test]
fn palette_errors() {
    // index beyond the palette (hostile-inputs row 19)
    let (s, ev) = draw(
        bitmap(fmt::BIT8, 0, 2, 1, 2, inline_palette(&PAL[..2]), vec![1, 5]),
        2,
        1,
    );
    assert_eq!(errors(&ev), ["palette_index"]);
    assert!(matches!(
        ev[0],
        DisplayEvent::Error(DisplayError::PaletteIndex { index: 5, len: 2, .. })
    ));
    assert_eq!(px(&s, 0, 0, 0), [0; 4], "nothing drawn");
    let (_, ev) = draw(
        bitmap(fmt::BIT4_BE, 0, 3, 1, 2, inline_palette(&PAL[..3]), vec![0x12, 0x30]),
        3,
        1,
    );
    assert_eq!(errors(&ev), ["palette_index"]);
    let (_, ev) = draw(
        bitmap(fmt::BIT1_LE, 0, 2, 1, 1, inline_palette(&PAL[..1]), vec![0b10]),
        2,
        1,
    );
    assert_eq!(errors(&ev), ["palette_index"]);
    // padding bits past the width are not pixels
    let (_, ev) = draw(
        bitmap(fmt::BIT1_LE, 0, 1, 1, 1, inline_palette(&PAL[..1]), vec![0b10]),
        1,
        1,
    );
    assert!(errors(&ev).is_empty());
    let (_, ev) = draw(bitmap(fmt::BIT8, 0, 1, 1, 1, PaletteRef::None, vec![0]), 1, 1);
    assert_eq!(errors(&ev), ["no_palette"]);
    let (_, ev) = draw(
        bitmap(fmt::BIT8, bf::PAL_FROM_CACHE, 1, 1, 1, PaletteRef::Cached(4), vec![0]),
        1,
        1,
    );
    assert_eq!(errors(&ev), ["palette_missing"]);
}

#[test]
fn palette_cache_and_invalidation() {
    let mut s = state(0, 2, 1);
    let r = Rect::ltrb(0, 0, 1, 1);
    let cache_me = bitmap(fmt::BIT8, bf::PAL_CACHE_ME, 1, 1, 1, inline_palette(&PAL), vec![2]);
    s.handle(&copy(0, r, r, Some(cache_me), ropd::OP_PUT));
    let from_cache = || bitmap(fmt::BIT8, bf::PAL_FROM_CACHE, 1, 1, 1, PaletteRef::Cached(77), vec![3]);
    let r2 = Rect::ltrb(1, 0, 2, 1);
    assert!(errors(&s.handle(&copy(0, r2, r, Some(from_cache()), ropd::OP_PUT))).is_empty());
    assert_eq!(row(&s, 0, 2), [opaque(GREEN), opaque(BLUE)]);
    s.handle(&DisplayServer::InvalPalette { id: 77 });
    assert_eq!(
        errors(&s.handle(&copy(0, r2, r, Some(from_cache()), ropd::OP_PUT))),
        ["palette_missing"]
    );
}

#[test]
fn bad_bitmaps_and_unsupported_images() {
    // stride shorter than a row
    let (_, ev) = draw(bitmap(fmt::BIT32, 0, 2, 1, 4, PaletteRef::None, vec![0; 4]), 2, 1);
    assert_eq!(errors(&ev), ["bad_bitmap"]);
    // data shorter than stride × height (only possible when built by hand)
    let (_, ev) = draw(bitmap(fmt::BIT32, 0, 1, 2, 4, PaletteRef::None, vec![0; 4]), 1, 2);
    assert_eq!(errors(&ev), ["bad_bitmap"]);
    for f in [fmt::INVALID, fmt::BIT8_A, 42] {
        let (_, ev) = draw(bitmap(f, 0, 1, 1, 4, PaletteRef::None, vec![0; 4]), 1, 1);
        assert_eq!(errors(&ev), ["unsupported_bitmap_format"]);
    }
    let quic = Image {
        descriptor: ImageDescriptor {
            id: 1,
            image_type: image_type::RESERVED,
            flags: 0,
            width: 1,
            height: 1,
        },
        kind: ImageKind::Binary(vec![1, 2, 3]),
    };
    let (s, ev) = draw(quic.clone(), 1, 1);
    assert_eq!(errors(&ev), ["unsupported_image_type"]);
    assert!(matches!(
        ev[0],
        DisplayEvent::Error(DisplayError::Unsupported {
            what: Unsupported::ImageType(image_type::RESERVED),
            ..
        })
    ));
    assert_eq!(s.stats().draws_dropped, 1);
    let mut s = state(0, 2, 2);
    let r = Rect::ltrb(0, 0, 1, 1);
    assert_eq!(
        errors(&s.handle(&copy(0, r, r, None, ropd::OP_PUT))),
        ["no_source_image"]
    );
    let masked = DisplayServer::DrawCopy {
        base: base(0, r, Clip::None),
        copy: CopyOp {
            src_bitmap: Some(quic.clone()),
            src_area: r,
            rop_descriptor: ropd::OP_PUT,
            scale_mode: 0,
            mask: QMask {
                flags: 0,
                pos: Point::default(),
                bitmap: Some(quic),
            },
        },
    };
    // masks are drawn now; a mask of an image type no codec handles is not
    assert_eq!(errors(&s.handle(&masked)), ["unsupported_image_type"]);
}

/// A 4×4 32-bit image whose pixel (x, y) has blue = 10·y + x.
fn numbered_image() -> Image {
    let data = (0..4u8)
        .flat_map(|y| (0..4u8).flat_map(move |x| [10 * y + x, 0, 0, 0]))
        .collect();
    bitmap(fmt::BIT32, bf::TOP_DOWN, 4, 4, 16, PaletteRef::None, data)
}

fn blues(s: &DisplayState, w: u32, h: u32) -> Vec<Vec<u8>> {
    (0..h).map(|y| (0..w).map(|x| px(s, 0, x, y)[0]).collect()).collect()
}

#[test]
fn src_area_cropping() {
    let mut s = state(0, 3, 3);
    s.handle(&copy(
        0,
        Rect::ltrb(1, 1, 3, 3),
        Rect::ltrb(1, 2, 3, 4),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(blues(&s, 3, 3), [vec![0, 0, 0], vec![0, 21, 22], vec![0, 31, 32]]);
}

#[test]
fn scaling_nearest() {
    // up: 2×2 source area → 4×4
    let mut s = state(0, 4, 4);
    s.handle(&copy(
        0,
        Rect::ltrb(0, 0, 4, 4),
        Rect::ltrb(1, 1, 3, 3),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(
        blues(&s, 4, 4),
        [
            vec![11, 11, 12, 12],
            vec![11, 11, 12, 12],
            vec![21, 21, 22, 22],
            vec![21, 21, 22, 22]
        ]
    );
    // down: 4×4 → 2×2 samples pixel centres 1 and 3
    let mut s = state(0, 2, 2);
    let ev = s.handle(&copy(
        0,
        Rect::ltrb(0, 0, 2, 2),
        Rect::ltrb(0, 0, 4, 4),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(blues(&s, 2, 2), [vec![11, 13], vec![31, 33]]);
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(0, 0, 2, 2)
        }]
    );
    // scaled box partly off-surface and source area partly off-image
    let mut s = state(0, 3, 3);
    s.handle(&copy(
        0,
        Rect::ltrb(-2, -2, 6, 6),
        Rect::ltrb(-2, -2, 6, 6),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(blues(&s, 3, 3), [vec![0, 1, 2], vec![10, 11, 12], vec![20, 21, 22]]);
    let mut s = state(0, 3, 3);
    // 2:1, destination pixel 0 samples source centre 2 + 1 = 3; pixel 1 samples 5, off the image
    s.handle(&copy(
        0,
        Rect::ltrb(0, 0, 3, 3),
        Rect::ltrb(2, 2, 8, 8),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(blues(&s, 3, 3), [vec![33, 0, 0], vec![0, 0, 0], vec![0, 0, 0]]);
    // an empty source area draws nothing
    assert!(
        s.handle(&copy(
            0,
            Rect::ltrb(0, 0, 3, 3),
            Rect::ltrb(2, 2, 2, 8),
            Some(numbered_image()),
            ropd::OP_PUT
        ))
        .is_empty()
    );
}

#[test]
fn copy_out_of_bounds_and_clipped() {
    let mut s = state(0, 3, 3);
    s.handle(&copy(
        0,
        Rect::ltrb(-3, -3, 1, 1),
        Rect::ltrb(0, 0, 4, 4),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(blues(&s, 3, 3), [vec![33, 0, 0], vec![0, 0, 0], vec![0, 0, 0]]);
    let mut s = state(0, 3, 3);
    let ev = s.handle(&copy(
        0,
        Rect::ltrb(2, 2, 6, 6),
        Rect::ltrb(0, 0, 4, 4),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(blues(&s, 3, 3)[2], [0, 0, 0]);
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(2, 2, 3, 3)
        }]
    );
    // src_area larger than the image at the same size: only image pixels drawn
    let mut s = state(0, 3, 3);
    s.handle(&copy(
        0,
        Rect::ltrb(0, 0, 3, 3),
        Rect::ltrb(2, 2, 5, 5),
        Some(numbered_image()),
        ropd::OP_PUT,
    ));
    assert_eq!(blues(&s, 3, 3), [vec![22, 23, 0], vec![32, 33, 0], vec![0, 0, 0]]);
    // clip rects apply to copies too
    let mut s = state(0, 4, 4);
    let mut m = copy(
        0,
        Rect::ltrb(0, 0, 4, 4),
        Rect::ltrb(0, 0, 4, 4),
        Some(numbered_image()),
        ropd::OP_PUT,
    );
    if let DisplayServer::DrawCopy { base, .. } = &mut m {
        base.clip = Clip::Rects(vec![Rect::ltrb(1, 1, 2, 3)]);
    }
    s.handle(&m);
    assert_eq!(
        blues(&s, 4, 4),
        [vec![0; 4], vec![0, 11, 0, 0], vec![0, 21, 0, 0], vec![0; 4]]
    );
}

#[test]
fn copy_rops() {
    let mut s = state(0, 1, 1);
    let r = Rect::ltrb(0, 0, 1, 1);
    let img = || {
        Some(bitmap(
            fmt::RGBA,
            0,
            1,
            1,
            4,
            PaletteRef::None,
            vec![0xf0, 0x0f, 0xff, 0x00],
        ))
    };
    s.handle(&put(0, r, 0x0f0f_0f0f));
    s.handle(&copy(0, r, r, img(), ropd::OP_XOR));
    assert_eq!(px(&s, 0, 0, 0), [0xff, 0x00, 0xf0, 0x0f]);
    s.handle(&copy(0, r, r, img(), ropd::OP_PUT | ropd::INVERS_SRC));
    assert_eq!(px(&s, 0, 0, 0), [0x0f, 0xf0, 0x00, 0xff]);
    s.handle(&copy(0, r, r, img(), ropd::OP_AND));
    assert_eq!(px(&s, 0, 0, 0), [0x00, 0x00, 0x00, 0x00]);
}

/// Throughput check: `cargo test --release --lib display -- --ignored --nocapture`.
#[test]
#[ignore]
fn perf_full_hd() {
    let (w, h) = (1920u32, 1080u32);
    let mut s = state(0, w, h);
    let full = Rect::ltrb(0, 0, w as i32, h as i32);
    let img = bitmap(
        fmt::BIT32,
        0,
        w,
        h,
        w * 4,
        PaletteRef::None,
        vec![0x5a; (w * h * 4) as usize],
    );
    let m = copy(0, full, full, Some(img), ropd::OP_PUT);
    let fill_m = put(0, full, RED);
    let scroll = DisplayServer::CopyBits {
        base: base(0, Rect::ltrb(0, 0, w as i32, h as i32 - 20), Clip::None),
        src_pos: Point { x: 0, y: 20 },
    };
    for (name, msg) in [("copy 32bit", &m), ("fill", &fill_m), ("copy_bits", &scroll)] {
        let t = std::time::Instant::now();
        for _ in 0..20 {
            s.handle(msg);
        }
        eprintln!("{name}: {:?} per 1920x1080 op", t.elapsed() / 20);
    }
}
