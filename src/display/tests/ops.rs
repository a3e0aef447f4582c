//! The draw operations beyond solid FILL and plain COPY: masks, pattern
//! brushes, OPAQUE, BLEND, BLACKNESS/WHITENESS/INVERS, ROP3, TRANSPARENT,
//! ALPHA_BLEND, COMPOSITE, TEXT and STROKE, with hand-computed pixels.

use super::*;
use crate::proto::channel::display::{
    AlphaBlendOp, CompositeOp, GlyphString, LineAttr, OpaqueOp, PathSegment, Point16, PointFix, RasterGlyph, Rop3Op,
    StrokeOp, TextOp, Transform, TransparentOp, alpha_flags, bitmap_flags, bitmap_fmt, composite_flags, line_flags,
    mask_flags, path_flags, string_flags,
};

const WHITE: u32 = 0x00ff_ffff;

/// A top-down 32-bit bitmap of xRGB pixels.
fn img32(w: u32, h: u32, pixels: &[u32]) -> Image {
    let data = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
    bitmap(
        bitmap_fmt::BIT32,
        bitmap_flags::TOP_DOWN,
        w,
        h,
        w * 4,
        PaletteRef::None,
        data,
    )
}

/// A top-down RGBA bitmap (premultiplied B,G,R,A bytes).
fn rgba(w: u32, h: u32, pixels: &[[u8; 4]]) -> Image {
    let data = pixels.iter().flatten().copied().collect();
    bitmap(
        bitmap_fmt::RGBA,
        bitmap_flags::TOP_DOWN,
        w,
        h,
        w * 4,
        PaletteRef::None,
        data,
    )
}

/// A 1-bit big-endian (MSB first) top-down mask, one byte per row.
fn mask_img(w: u32, rows: &[u8]) -> Image {
    bitmap(
        bitmap_fmt::BIT1_BE,
        bitmap_flags::TOP_DOWN,
        w,
        rows.len() as u32,
        1,
        PaletteRef::None,
        rows.to_vec(),
    )
}

fn qmask(img: Image, pos: (i32, i32), invers: bool) -> QMask {
    QMask {
        flags: if invers { mask_flags::INVERS } else { 0 },
        pos: Point { x: pos.0, y: pos.1 },
        bitmap: Some(img),
    }
}

fn row(s: &DisplayState, y: u32, w: u32) -> Vec<[u8; 3]> {
    (0..w)
        .map(|x| {
            let [b, g, r, _] = px(s, 0, x, y);
            [b, g, r]
        })
        .collect()
}

fn rgb(c: u32) -> [u8; 3] {
    let [b, g, r, _] = c.to_le_bytes();
    [b, g, r]
}

fn full(w: i32, h: i32) -> Rect {
    Rect::ltrb(0, 0, w, h)
}

#[test]
fn fill_with_pattern_brush_tiles_from_pos() {
    let mut s = state(0, 5, 2);
    let tile = img32(2, 2, &[RED, GREEN, BLUE, WHITE]);
    let m = DisplayServer::DrawFill {
        base: base(0, full(5, 2), Clip::None),
        fill: FillOp {
            brush: Brush::Pattern {
                image: tile,
                pos: Point { x: 1, y: 1 },
            },
            rop_descriptor: ropd::OP_PUT,
            mask: QMask::default(),
        },
    };
    assert!(errors(&s.handle(&m)).is_empty());
    // pixel (x, y) takes tile ((x − 1) mod 2, (y − 1) mod 2)
    assert_eq!(
        row(&s, 0, 5),
        [rgb(WHITE), rgb(BLUE), rgb(WHITE), rgb(BLUE), rgb(WHITE)]
    );
    assert_eq!(row(&s, 1, 5), [rgb(GREEN), rgb(RED), rgb(GREEN), rgb(RED), rgb(GREEN)]);
    // XOR with the same pattern clears it again
    let mut x = m.clone();
    if let DisplayServer::DrawFill { fill, .. } = &mut x {
        fill.rop_descriptor = ropd::OP_XOR;
    }
    s.handle(&x);
    assert_eq!(row(&s, 1, 5), [[0; 3]; 5]);
    assert_eq!(s.stats().errors_of("unsupported_pattern_brush"), 0);
}

#[test]
fn fill_with_mask_and_invers_mask() {
    let mut s = state(0, 6, 1);
    // mask bits 1,0,1,1,0,0 ... at mask x = dest x − 0 + 1
    let m = |invers| DisplayServer::DrawFill {
        base: base(0, full(6, 1), Clip::None),
        fill: FillOp {
            brush: Brush::Solid(RED),
            rop_descriptor: ropd::OP_PUT,
            mask: qmask(mask_img(5, &[0b1011_0000]), (1, 0), invers),
        },
    };
    s.handle(&m(false));
    // dest x → mask x + 1: bits 0,1,1,0 then outside the 5-pixel mask
    let z = [0; 3];
    assert_eq!(row(&s, 0, 6), [z, rgb(RED), rgb(RED), z, z, z]);
    s.handle(&put(0, full(6, 1), 0));
    s.handle(&m(true));
    // inverted inside the mask only: mask x 1..5 → dest 0..4
    assert_eq!(row(&s, 0, 6), [rgb(RED), z, z, rgb(RED), z, z]);
    assert_eq!(s.stats().errors_of("unsupported_mask"), 0);
}

#[test]
fn mask_bit_order_and_bottom_up_rows() {
    let mut s = state(0, 4, 2);
    // 1BIT_LE, bottom-up: first data row is the bottom row; bit 0 is x = 0
    let img = bitmap(
        bitmap_fmt::BIT1_LE,
        0,
        4,
        2,
        1,
        PaletteRef::None,
        vec![0b0000_0001, 0b0000_1000],
    );
    s.handle(&DisplayServer::DrawWhiteness {
        base: base(0, full(4, 2), Clip::None),
        mask: qmask(img, (0, 0), false),
    });
    let (z, w) = ([0; 3], [0xff; 3]);
    assert_eq!(row(&s, 0, 4), [z, z, z, w]);
    assert_eq!(row(&s, 1, 4), [w, z, z, z]);
}

#[test]
fn copy_with_mask() {
    let mut s = state(0, 4, 1);
    let m = DisplayServer::DrawCopy {
        base: base(0, full(4, 1), Clip::None),
        copy: CopyOp {
            src_bitmap: Some(img32(4, 1, &[RED, GREEN, BLUE, WHITE])),
            src_area: full(4, 1),
            rop_descriptor: ropd::OP_PUT,
            scale_mode: 0,
            mask: qmask(mask_img(4, &[0b0110_0000]), (0, 0), false),
        },
    };
    assert!(errors(&s.handle(&m)).is_empty());
    assert_eq!(row(&s, 0, 4), [[0; 3], rgb(GREEN), rgb(BLUE), [0; 3]]);
}

#[test]
fn blackness_whiteness_invers_with_clip() {
    let mut s = state(0, 4, 1);
    s.handle(&put(0, full(4, 1), 0x0012_3456));
    let clip = Clip::Rects(vec![Rect::ltrb(1, 0, 3, 1)]);
    s.handle(&DisplayServer::DrawInvers {
        base: base(0, full(4, 1), clip.clone()),
        mask: QMask::default(),
    });
    assert_eq!(row(&s, 0, 4)[1], [0xa9, 0xcb, 0xed]);
    assert_eq!(row(&s, 0, 4)[0], [0x56, 0x34, 0x12]);
    s.handle(&DisplayServer::DrawBlackness {
        base: base(0, Rect::ltrb(0, 0, 2, 1), Clip::None),
        mask: QMask::default(),
    });
    assert_eq!(px(&s, 0, 1, 0), [0; 4]);
    s.handle(&DisplayServer::DrawWhiteness {
        base: base(0, Rect::ltrb(3, 0, 4, 1), Clip::None),
        mask: QMask::default(),
    });
    assert_eq!(px(&s, 0, 3, 0), [0xff; 4]);
    assert_eq!(row(&s, 0, 4)[2], [0xa9, 0xcb, 0xed]);
}

/// All 16 binary ROPs through DRAW_FILL: brush 0xCC onto dest 0xAA.
#[test]
fn all_sixteen_rop2() {
    use ropd::*;
    let cases: [(u16, u8); 15] = [
        (OP_BLACKNESS, 0x00),
        (OP_AND, 0x88),
        (OP_AND | INVERS_DEST, 0x44),
        (OP_PUT, 0xcc),
        (OP_AND | INVERS_BRUSH, 0x22),
        (OP_XOR, 0x66),
        (OP_OR, 0xee),
        (OP_OR | INVERS_RES, 0x11),
        (OP_XOR | INVERS_RES, 0x99),
        (OP_INVERS, 0x55),
        (OP_OR | INVERS_DEST, 0xdd),
        (OP_PUT | INVERS_BRUSH, 0x33),
        (OP_OR | INVERS_BRUSH, 0xbb),
        (OP_AND | INVERS_RES, 0x77),
        (OP_WHITENESS, 0xff),
    ];
    for (desc, want) in cases {
        let mut s = state(0, 1, 1);
        s.handle(&put(0, full(1, 1), 0xaaaa_aaaa));
        s.handle(&fill(0, full(1, 1), Clip::None, 0xcccc_cccc, desc));
        assert_eq!(px(&s, 0, 0, 0), [want; 4], "descriptor {desc:#x}");
    }
    // the 16th, NOOP, is only reachable as a table entry
    assert_eq!(Rop::Noop.apply(0xcc, 0xaa), 0xaa);
    let all = [
        Rop::Clear,
        Rop::And,
        Rop::AndReverse,
        Rop::Copy,
        Rop::AndInverted,
        Rop::Noop,
        Rop::Xor,
        Rop::Or,
        Rop::Nor,
        Rop::Equiv,
        Rop::Invert,
        Rop::OrReverse,
        Rop::CopyInverted,
        Rop::OrInverted,
        Rop::Nand,
        Rop::Set,
    ];
    let want = [
        0x00, 0x88, 0x44, 0xcc, 0x22, 0xaa, 0x66, 0xee, 0x11, 0x99, 0x55, 0xdd, 0x33, 0xbb, 0x77, 0xff,
    ];
    for (r, w) in all.iter().zip(want) {
        assert_eq!(r.apply(0xcc, 0xaa), w, "{r:?}");
    }
}

fn rop3_msg(code: u8, brush: Brush, src: Image, w: i32) -> DisplayServer {
    DisplayServer::DrawRop3 {
        base: base(0, full(w, 1), Clip::None),
        rop3: Rop3Op {
            src_bitmap: Some(src),
            src_area: full(w, 1),
            brush,
            rop3: code,
            scale_mode: 0,
            mask: QMask::default(),
        },
    }
}

/// With pattern 0xF0, source 0xCC and dest 0xAA every ROP3 code yields itself.
#[test]
fn rop3_codes_identity_table() {
    for code in [0x00u8, 0xff, 0xcc, 0x66, 0xca, 0xf0, 0x5a, 0xb8] {
        let mut s = state(0, 1, 1);
        s.handle(&put(0, full(1, 1), 0xaaaa_aaaa));
        let ev = s.handle(&rop3_msg(
            code,
            Brush::Solid(0xf0f0_f0f0),
            img32(1, 1, &[0xcccc_cccc]),
            1,
        ));
        assert!(errors(&ev).is_empty(), "{ev:?}");
        // 32BIT bitmaps are read with an opaque 4th byte
        let [b, g, r, _] = px(&s, 0, 0, 0);
        assert_eq!([b, g, r], [code; 3], "code {code:#04x}");
    }
    for code in 0..=255u8 {
        assert_eq!(
            crate::display::ops::rop3_apply(code, 0xf0f0_f0f0, 0xcccc_cccc, 0xaaaa_aaaa),
            u32::from_le_bytes([code; 4])
        );
    }
}

#[test]
fn rop3_with_pattern_brush_and_mask() {
    let mut s = state(0, 4, 1);
    s.handle(&put(0, full(4, 1), 0x0000_00ff));
    let tile = img32(2, 1, &[0x0000_ff00, 0x00ff_0000]);
    let mut m = rop3_msg(
        0xca, // DPSDxax: p ? s : d
        Brush::Pattern {
            image: tile,
            pos: Point { x: 0, y: 0 },
        },
        img32(4, 1, &[WHITE, WHITE, WHITE, WHITE]),
        4,
    );
    if let DisplayServer::DrawRop3 { rop3, .. } = &mut m {
        rop3.mask = qmask(mask_img(4, &[0b1110_0000]), (0, 0), false);
    }
    s.handle(&m);
    // bitwise: B from dest (pattern 0), G or R from the source where the
    // pattern has them
    assert_eq!(
        row(&s, 0, 4),
        [[0xff, 0xff, 0], [0xff, 0, 0xff], [0xff, 0xff, 0], rgb(BLUE)]
    );
    // a same-size source smaller than the box is refused
    let bad = rop3_msg(0xcc, Brush::Solid(0), img32(2, 1, &[0, 0]), 4);
    assert_eq!(errors(&s.handle(&bad)), ["bad_bitmap"]);
}

#[test]
fn opaque_copies_then_combines_the_brush() {
    let mut s = state(0, 2, 1);
    let m = |desc| DisplayServer::DrawOpaque {
        base: base(0, full(2, 1), Clip::None),
        opaque: OpaqueOp {
            src_bitmap: Some(img32(2, 1, &[0x0011_2233, 0x00f0_f0f0])),
            src_area: full(2, 1),
            brush: Brush::Solid(0x00ff_00ff),
            rop_descriptor: desc,
            scale_mode: 0,
            mask: QMask::default(),
        },
    };
    s.handle(&m(ropd::OP_XOR));
    assert_eq!(row(&s, 0, 2), [[0xcc, 0x22, 0xee], [0x0f, 0xf0, 0x0f]]);
    // INVERS_SRC inverts the copied image (the second operand): brush & !src
    s.handle(&m(ropd::OP_AND | ropd::INVERS_SRC));
    assert_eq!(row(&s, 0, 2), [[0xcc, 0x00, 0xee], [0x0f, 0x00, 0x0f]]);
    // INVERS_DEST is ignored by OPAQUE
    s.handle(&m(ropd::OP_PUT | ropd::INVERS_DEST));
    assert_eq!(row(&s, 0, 2), [[0xff, 0, 0xff], [0xff, 0, 0xff]]);
}

#[test]
fn blend_draws_like_copy() {
    let mut s = state(0, 2, 1);
    s.handle(&put(0, full(2, 1), 0x000f_0f0f));
    s.handle(&DisplayServer::DrawBlend {
        base: base(0, full(2, 1), Clip::None),
        blend: CopyOp {
            src_bitmap: Some(img32(2, 1, &[0x00f0_0000, 0x0000_00f0])),
            src_area: full(2, 1),
            rop_descriptor: ropd::OP_OR,
            scale_mode: 0,
            mask: QMask::default(),
        },
    });
    assert_eq!(row(&s, 0, 2), [[0x0f, 0x0f, 0xff], [0xff, 0x0f, 0x0f]]);
}

#[test]
fn transparent_skips_the_key_colour() {
    let mut s = state(0, 3, 1);
    s.handle(&put(0, full(3, 1), BLUE));
    let ev = s.handle(&DisplayServer::DrawTransparent {
        base: base(0, full(3, 1), Clip::None),
        transparent: TransparentOp {
            src_bitmap: Some(img32(3, 1, &[0x00ff_00ff, RED, 0xff00_0000 | 0x00ff_00ff])),
            src_area: full(3, 1),
            src_color: 0,
            // the 4th byte is ignored in the comparison
            true_color: 0x7fff_00ff,
        },
    });
    assert!(errors(&ev).is_empty());
    assert_eq!(row(&s, 0, 3), [rgb(BLUE), rgb(RED), rgb(BLUE)]);
}

fn alpha_blend(alpha: u8, flags: u8, src: Image, w: i32) -> DisplayServer {
    DisplayServer::DrawAlphaBlend {
        base: base(0, full(w, 1), Clip::None),
        alpha_blend: AlphaBlendOp {
            alpha_flags: flags,
            alpha,
            src_bitmap: Some(src),
            src_area: full(w, 1),
        },
    }
}

/// pixman's MUL_UN8 is round(a·b/255); worked out by hand here.
#[test]
fn alpha_blend_rounds_like_pixman() {
    let mut s = state(0, 1, 1);
    s.handle(&put(0, full(1, 1), 0x0020_4060));
    s.handle(&alpha_blend(0x80, 0, img32(1, 1, &[0x00ff_8000]), 1));
    // s·128: (0, 64, 128, a 128); d·127 + s: B 96·127/255 = 47.8 → 48,
    // G 64·127/255 = 31.9 → 32 (+64), R 32·127/255 = 15.9 → 16 (+128)
    assert_eq!(row(&s, 0, 1), [[48, 96, 144]]);
    // alpha 0 draws nothing
    assert!(s.handle(&alpha_blend(0, 0, img32(1, 1, &[0]), 1)).is_empty());
    assert_eq!(row(&s, 0, 1), [[48, 96, 144]]);
    // premultiplied RGBA source at full global alpha: d·(1 − 0x80/255) + s
    let mut s = state(0, 1, 1);
    s.handle(&put(0, full(1, 1), WHITE));
    s.handle(&alpha_blend(0xff, 0, rgba(1, 1, &[[0, 0, 0x80, 0x80]]), 1));
    // 255·127/255 = 127; R 127 + 128 = 255
    assert_eq!(row(&s, 0, 1), [[127, 127, 255]]);
    // against the formula on a sweep
    for (d, sv, a) in [(200u8, 10u8, 1u8), (1, 254, 254), (77, 77, 77), (255, 0, 128)] {
        let mut st = state(0, 1, 1);
        st.handle(&put(0, full(1, 1), u32::from(d)));
        st.handle(&alpha_blend(a, 0, img32(1, 1, &[u32::from(sv)]), 1));
        let mul = |x: u32, y: u32| (x * y + 127) / 255;
        let sa = mul(255, u32::from(a));
        let want = mul(u32::from(d), 255 - sa) + mul(u32::from(sv), u32::from(a));
        assert_eq!(px(&st, 0, 0, 0)[0] as u32, want, "d {d} s {sv} a {a}");
    }
}

#[test]
fn alpha_blend_dest_alpha_flag_on_argb_surfaces() {
    let mut s = Pipeline::new(Limits::default());
    s.handle(&create(0, 1, 1, surface_fmt::ARGB32, surface_flags::PRIMARY));
    s.handle(&put(0, full(1, 1), 0x0000_0000));
    s.handle(&alpha_blend(
        0x80,
        alpha_flags::DEST_HAS_ALPHA,
        img32(1, 1, &[0x00ff_ffff]),
        1,
    ));
    assert_eq!(px(&s, 0, 0, 0), [128, 128, 128, 128]);
}

fn text(flags: u8, glyphs: Vec<RasterGlyph>, back: Rect, fore: u32) -> DisplayServer {
    DisplayServer::DrawText {
        base: base(0, full(8, 4), Clip::None),
        text: TextOp {
            string: GlyphString { flags, glyphs },
            back_area: back,
            fore_brush: Brush::Solid(fore),
            back_brush: Brush::Solid(BLUE),
            fore_mode: ropd::OP_PUT,
            back_mode: ropd::OP_PUT,
        },
    }
}

fn glyph(x: i32, y: i32, w: u16, h: u16, data: Vec<u8>) -> RasterGlyph {
    RasterGlyph {
        render_pos: Point { x, y },
        glyph_origin: Point { x: 0, y: 0 },
        width: w,
        height: h,
        data,
    }
}

#[test]
fn text_a1_glyphs_bottom_up_over_back_area() {
    let mut s = state(0, 8, 4);
    // 3×2 glyph at (1,1): data rows bottom-up, MSB first
    let g = glyph(1, 1, 3, 2, vec![0b1010_0000, 0b0100_0000]);
    let ev = s.handle(&text(string_flags::RASTER_A1, vec![g], Rect::ltrb(0, 0, 2, 4), RED));
    assert!(errors(&ev).is_empty());
    let (z, b, r) = ([0; 3], rgb(BLUE), rgb(RED));
    assert_eq!(row(&s, 0, 5), [b, b, z, z, z]);
    assert_eq!(row(&s, 1, 5), [b, b, r, z, z]);
    assert_eq!(row(&s, 2, 5), [b, r, z, r, z]);
    assert_eq!(row(&s, 3, 5), [b, b, z, z, z]);
}

#[test]
fn text_a4_and_a8_coverage_and_overlap_maximum() {
    let mut s = state(0, 8, 4);
    // A4: nibble 8 → coverage 0x80: white over black = 255·128/255 = 128
    let g = glyph(0, 0, 2, 1, vec![0x8f]);
    s.handle(&text(string_flags::RASTER_A4, vec![g], Rect::default(), WHITE));
    assert_eq!(row(&s, 0, 3), [[128; 3], [0xf0; 3], [0; 3]]);
    // A8, two overlapping glyphs: the larger coverage wins (0x40 vs 0xc0)
    let mut s = state(0, 8, 4);
    let g1 = glyph(0, 0, 1, 1, vec![0x40]);
    let g2 = glyph(0, 0, 1, 1, vec![0xc0]);
    s.handle(&text(string_flags::RASTER_A8, vec![g1, g2], Rect::default(), WHITE));
    assert_eq!(row(&s, 0, 1), [[0xc0; 3]]);
    // glyphs far outside the surface cost nothing and draw nothing
    let far = glyph(i32::MAX - 2, i32::MIN, 100, 100, vec![0xff; 10000]);
    assert!(errors(&s.handle(&text(string_flags::RASTER_A8, vec![far], Rect::default(), RED))).is_empty());
}

fn fixp(x: i32, y: i32) -> PointFix {
    PointFix { x: x << 4, y: y << 4 }
}

fn stroke(points: Vec<PointFix>, flags: u8, rop: u16) -> DisplayServer {
    DisplayServer::DrawStroke {
        base: base(0, full(8, 8), Clip::None),
        stroke: StrokeOp {
            path: vec![PathSegment {
                flags: flags | path_flags::BEGIN | path_flags::END,
                points,
            }],
            attr: LineAttr::default(),
            brush: Brush::Solid(RED),
            fore_mode: rop,
            back_mode: ropd::OP_PUT,
        },
    }
}

fn lit(s: &DisplayState) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for y in 0..8 {
        for x in 0..8 {
            if px(s, 0, x, y) != [0; 4] {
                v.push((x, y));
            }
        }
    }
    v
}

/// A styled version of [`stroke`].
fn dashed(points: Vec<PointFix>, path: u8, line: u8, style: Vec<i32>) -> DisplayServer {
    let mut m = stroke(points, path, ropd::OP_PUT);
    if let DisplayServer::DrawStroke { stroke, .. } = &mut m {
        stroke.attr = LineAttr {
            flags: line_flags::STYLED | line,
            style,
        };
    }
    m
}

#[test]
fn dashed_thin_lines() {
    // 2 on, 1 off along a horizontal line (end point excluded)
    let mut s = state(0, 8, 8);
    s.handle(&dashed(vec![fixp(0, 1), fixp(8, 1)], 0, 0, vec![2 << 4, 1 << 4]));
    assert_eq!(lit(&s), [(0, 1), (1, 1), (3, 1), (4, 1), (6, 1), (7, 1)]);
    // the pattern runs on around a corner: 3 on, 2 off
    let mut s = state(0, 8, 8);
    s.handle(&dashed(
        vec![fixp(0, 0), fixp(4, 0), fixp(4, 7)],
        0,
        0,
        vec![3 << 4, 2 << 4],
    ));
    assert_eq!(lit(&s), [(0, 0), (1, 0), (2, 0), (4, 1), (4, 2), (4, 3), (4, 6)]);
    // START_WITH_GAP: spice-common rotates [gap 1, dash 2, gap 1] to
    // [2, 1, 1] and starts one dash in (offset 2): off 1, then on 1 + 2
    let mut s = state(0, 8, 8);
    s.handle(&dashed(
        vec![fixp(0, 2), fixp(8, 2)],
        0,
        line_flags::START_WITH_GAP,
        vec![1 << 4, 2 << 4, 1 << 4],
    ));
    assert_eq!(lit(&s), [(1, 2), (2, 2), (3, 2), (5, 2), (6, 2), (7, 2)]);
    // 28.4 lengths are rounded by fix_to_int: 1.5 → 1, 1.5625 → 2
    let mut s = state(0, 8, 8);
    s.handle(&dashed(vec![fixp(0, 3), fixp(8, 3)], 0, 0, vec![0x18, 0x19]));
    assert_eq!(lit(&s), [(0, 3), (3, 3), (6, 3)]);
    // each subpath restarts the pattern
    let mut s = state(0, 8, 8);
    let mut m = dashed(vec![fixp(0, 4), fixp(3, 4)], 0, 0, vec![1 << 4, 1 << 4]);
    if let DisplayServer::DrawStroke { stroke, .. } = &mut m {
        stroke.path.push(PathSegment {
            flags: path_flags::BEGIN | path_flags::END,
            points: vec![fixp(0, 5), fixp(3, 5)],
        });
    }
    s.handle(&m);
    assert_eq!(lit(&s), [(0, 4), (2, 4), (0, 5), (2, 5)]);
    // a diagonal: dash lengths along its Euclidean length (√2 per step):
    // 3 on, 3 off → steps at 0, 1.41, 2.83 on, 4.24, 5.66 off, 7.07 on
    let mut s = state(0, 8, 8);
    s.handle(&dashed(vec![fixp(0, 0), fixp(7, 7)], 0, 0, vec![3 << 4, 3 << 4]));
    assert_eq!(lit(&s), [(0, 0), (1, 1), (2, 2), (5, 5), (6, 6)]);
    // a style spice-common cannot draw (all dashes empty, or none) is refused
    let mut s = state(0, 8, 8);
    let r = s.handle(&dashed(vec![fixp(0, 0), fixp(7, 0)], 0, 0, vec![0, 0]));
    assert_eq!(errors(&r), ["unsupported_draw_op"]);
    let r = s.handle(&dashed(vec![fixp(0, 0), fixp(7, 0)], 0, 0, vec![]));
    assert_eq!(errors(&r), ["unsupported_draw_op"]);
    let gap = line_flags::START_WITH_GAP;
    let r = s.handle(&dashed(vec![fixp(0, 0), fixp(7, 0)], 0, gap, vec![]));
    assert_eq!(errors(&r), ["unsupported_draw_op"]);
    assert!(lit(&s).is_empty());
}

#[test]
fn thin_lines_like_x11_zero_width_lines() {
    // horizontal: end point excluded (cap "not last")
    let mut s = state(0, 8, 8);
    s.handle(&stroke(vec![fixp(0, 1), fixp(4, 1)], 0, ropd::OP_PUT));
    assert_eq!(lit(&s), [(0, 1), (1, 1), (2, 1), (3, 1)]);
    // x-major 4×2, octant without bias: Bresenham steps at x = 1 and 3
    let mut s = state(0, 8, 8);
    s.handle(&stroke(vec![fixp(0, 0), fixp(4, 2)], 0, ropd::OP_PUT));
    assert_eq!(lit(&s), [(0, 0), (1, 1), (2, 1), (3, 2)]);
    // the same line drawn backwards is biased (octant 4): steps later
    let mut s = state(0, 8, 8);
    s.handle(&stroke(vec![fixp(4, 2), fixp(0, 0)], 0, ropd::OP_PUT));
    assert_eq!(lit(&s), [(1, 1), (2, 1), (3, 2), (4, 2)]);
    // diagonal is y-major; a closed triangle with XOR draws each pixel once
    let mut s = state(0, 8, 8);
    s.handle(&stroke(vec![fixp(0, 0), fixp(3, 3)], 0, ropd::OP_PUT));
    assert_eq!(lit(&s), [(0, 0), (1, 1), (2, 2)]);
    let mut s = state(0, 8, 8);
    s.handle(&stroke(
        vec![fixp(1, 1), fixp(5, 1), fixp(5, 4)],
        path_flags::CLOSE,
        ropd::OP_XOR,
    ));
    // (5,4) → (1,1) is x-major in the biased octant 4: (5,4) (4,3) (3,3) (2,2)
    assert_eq!(
        lit(&s),
        [
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 1),
            (2, 2),
            (5, 2),
            (3, 3),
            (4, 3),
            (5, 3),
            (5, 4)
        ]
    );
    // 28.4 rounding: 0x18 (1.5) → 1, 0x19 → 2
    let mut s = state(0, 8, 8);
    s.handle(&stroke(
        vec![PointFix { x: 0x18, y: 0 }, PointFix { x: 0x19 + 0x30, y: 0 }],
        0,
        ropd::OP_PUT,
    ));
    assert_eq!(lit(&s), [(1, 0), (2, 0), (3, 0), (4, 0)]);
}

#[test]
fn bezier_and_clipped_lines() {
    // a straight bézier is one line
    let mut s = state(0, 8, 8);
    s.handle(&DisplayServer::DrawStroke {
        base: base(0, full(8, 8), Clip::None),
        stroke: StrokeOp {
            path: vec![
                PathSegment {
                    flags: path_flags::BEGIN,
                    points: vec![fixp(0, 2)],
                },
                PathSegment {
                    flags: path_flags::BEZIER | path_flags::END,
                    points: vec![fixp(1, 2), fixp(2, 2), fixp(3, 2)],
                },
            ],
            attr: LineAttr::default(),
            brush: Brush::Solid(RED),
            fore_mode: ropd::OP_PUT,
            back_mode: ropd::OP_PUT,
        },
    });
    assert_eq!(lit(&s), [(0, 2), (1, 2), (2, 2)]);
    // a curved one starts at its first point, stays in the control hull and
    // leaves the base line
    let mut s = state(0, 8, 8);
    let mut m = stroke(vec![fixp(0, 0)], 0, ropd::OP_PUT);
    if let DisplayServer::DrawStroke { stroke, .. } = &mut m {
        stroke.path[0].flags = path_flags::BEGIN;
        stroke.path.push(PathSegment {
            flags: path_flags::BEZIER | path_flags::END,
            points: vec![fixp(0, 6), fixp(6, 6), fixp(6, 0)],
        });
    }
    s.handle(&m);
    let l = lit(&s);
    assert!(l.contains(&(0, 0)) && !l.contains(&(6, 0)), "{l:?}");
    assert!(l.iter().all(|&(x, y)| x <= 6 && y <= 6));
    assert!(l.iter().any(|&(_, y)| y >= 4));
    // clip: only the clipped part, and a line from far outside is cheap
    let mut s = state(0, 8, 8);
    let mut m = stroke(vec![fixp(-1_000_000, 3), fixp(1_000_000, 3)], 0, ropd::OP_PUT);
    if let DisplayServer::DrawStroke { base, .. } = &mut m {
        base.clip = Clip::Rects(vec![Rect::ltrb(2, 0, 4, 8)]);
    }
    s.handle(&m);
    assert_eq!(lit(&s), [(2, 3), (3, 3)]);
    let mut s = state(0, 8, 8);
    s.handle(&stroke(
        vec![
            PointFix {
                x: i32::MIN,
                y: i32::MIN,
            },
            PointFix {
                x: i32::MAX,
                y: i32::MAX,
            },
        ],
        0,
        ropd::OP_PUT,
    ));
    assert_eq!(lit(&s).len(), 8);
}

#[test]
fn composite_over_src_and_translation() {
    let mut s = state(0, 3, 1);
    s.handle(&put(0, full(3, 1), WHITE));
    let src = rgba(2, 1, &[[0, 0, 0x80, 0x80], [0, 0, 0, 0]]);
    let m = |flags: u32, t: Option<Transform>, origin: i16| DisplayServer::DrawComposite {
        base: base(0, full(3, 1), Clip::None),
        composite: CompositeOp {
            flags,
            src_bitmap: Some(src.clone()),
            mask_bitmap: None,
            src_transform: t,
            mask_transform: None,
            src_origin: Point16 { x: origin, y: 0 },
            mask_origin: Point16::default(),
        },
    };
    // OVER: white·127/255 + s; outside the source (repeat none) nothing changes
    s.handle(&m(3, None, 0));
    assert_eq!(row(&s, 0, 3), [[127, 127, 255], [255; 3], [255; 3]]);
    // SRC through a translation of one pixel: dest 0 ← source 1 (transparent)
    let t = Transform([0x10000, 0, 1 << 16, 0, 0x10000, 0]);
    s.handle(&m(1, Some(t), 0));
    assert_eq!(row(&s, 0, 3), [[0; 3], [0; 3], [0; 3]]);
    // scale 2× (each source pixel covers two destination pixels), nearest
    s.handle(&put(0, full(3, 1), WHITE));
    let scale = Transform([0x8000, 0, 0, 0, 0x10000, 0]);
    s.handle(&m(1, Some(scale), 0));
    assert_eq!(row(&s, 0, 3), [[0, 0, 0x80], [0, 0, 0x80], [0; 3]]);
    // a convolution filter is refused, nothing drawn
    s.handle(&put(0, full(3, 1), WHITE));
    assert_eq!(
        errors(&s.handle(&m(1 | (5 << composite_flags::SRC_FILTER_SHIFT), None, 0))),
        ["unsupported_draw_op"]
    );
    // so is an operator pixman does not have
    assert_eq!(errors(&s.handle(&m(0x0e, None, 0))), ["unsupported_draw_op"]);
    assert_eq!(row(&s, 0, 3), [[255; 3]; 3]);
    // NORMAL repeat tiles the source
    s.handle(&m(1 | (1 << composite_flags::SRC_REPEAT_SHIFT), None, 0));
    assert_eq!(row(&s, 0, 3), [[0, 0, 0x80], [0; 3], [0, 0, 0x80]]);
    // REFLECT mirrors it: 0 1 | 1 0
    s.handle(&m(1 | (3 << composite_flags::SRC_REPEAT_SHIFT), None, 0));
    assert_eq!(row(&s, 0, 3), [[0, 0, 0x80], [0; 3], [0; 3]]);
    // PAD repeats the edge pixel
    s.handle(&m(1 | (2 << composite_flags::SRC_REPEAT_SHIFT), None, -1));
    assert_eq!(row(&s, 0, 3), [[0, 0, 0x80], [0, 0, 0x80], [0; 3]]);
    // a 90° rotation of a 1×2 column source into the row:
    // T·(x+½, ½) = (½, 2 − (x+½)): x = 0 → row 1 (blue), x = 1 → row 0 (red)
    let column = rgba(1, 2, &[[0, 0, 0xff, 0xff], [0xff, 0, 0, 0xff]]);
    let rot = Transform([0, 0x10000, 0, 0xffff_0000, 0, 2 << 16]);
    s.handle(&DisplayServer::DrawComposite {
        base: base(0, full(3, 1), Clip::None),
        composite: CompositeOp {
            flags: 1,
            src_bitmap: Some(column),
            mask_bitmap: None,
            src_transform: Some(rot),
            mask_transform: None,
            src_origin: Point16::default(),
            mask_origin: Point16::default(),
        },
    });
    assert_eq!(row(&s, 0, 3), [[0xff, 0, 0], [0, 0, 0xff], [0; 3]]);
}

#[test]
fn composite_blend_mode_on_xrgb_and_a8_destinations() {
    // MULTIPLY of an opaque grey 0x80 onto white: 0x80 everywhere
    let mut s = state(0, 2, 1);
    s.handle(&put(0, full(2, 1), WHITE));
    let grey = rgba(1, 1, &[[0x80, 0x80, 0x80, 0xff]]);
    let m = |surface_id: u32, op: u32| DisplayServer::DrawComposite {
        base: base(surface_id, full(2, 1), Clip::None),
        composite: CompositeOp {
            flags: op | (1 << composite_flags::SRC_REPEAT_SHIFT),
            src_bitmap: Some(grey.clone()),
            mask_bitmap: None,
            src_transform: None,
            mask_transform: None,
            src_origin: Point16::default(),
            mask_origin: Point16::default(),
        },
    };
    s.handle(&m(0, 0x30));
    assert_eq!(row(&s, 0, 2), [[0x80; 3]; 2]);
    // onto an A8 surface holding 0x40: OVER gives 0xff + 0x40·0 = 0xff
    s.handle(&create(1, 2, 1, surface_fmt::A8, 0));
    s.handle(&put(1, full(2, 1), 0x40));
    s.handle(&m(1, 3));
    assert_eq!(px(&s, 1, 0, 0), [0xff; 4]);
    // ADD of a half-transparent source onto A8 0x40: 0x40 + 0x80 = 0xc0
    let half = rgba(1, 1, &[[0x10, 0x20, 0x30, 0x80]]);
    s.handle(&put(1, full(2, 1), 0x40));
    s.handle(&DisplayServer::DrawComposite {
        base: base(1, full(2, 1), Clip::None),
        composite: CompositeOp {
            flags: 0x0c | (1 << composite_flags::SRC_REPEAT_SHIFT),
            src_bitmap: Some(half),
            mask_bitmap: None,
            src_transform: None,
            mask_transform: None,
            src_origin: Point16::default(),
            mask_origin: Point16::default(),
        },
    });
    assert_eq!(px(&s, 1, 1, 0), [0xc0; 4]);
}

#[test]
fn composite_with_mask_unified_and_component_alpha() {
    let mut s = state(0, 1, 1);
    let white = rgba(1, 1, &[[0xff; 4]]);
    let mask = rgba(1, 1, &[[0x40, 0x80, 0xff, 0x80]]);
    let m = |ca: u32| DisplayServer::DrawComposite {
        base: base(0, full(1, 1), Clip::None),
        composite: CompositeOp {
            flags: 3 | composite_flags::HAS_MASK | ca,
            src_bitmap: Some(white.clone()),
            mask_bitmap: Some(mask.clone()),
            src_transform: None,
            mask_transform: None,
            src_origin: Point16::default(),
            mask_origin: Point16::default(),
        },
    };
    s.handle(&m(0));
    assert_eq!(row(&s, 0, 1), [[128; 3]]);
    s.handle(&put(0, full(1, 1), 0));
    s.handle(&m(composite_flags::COMPONENT_ALPHA));
    assert_eq!(row(&s, 0, 1), [[0x40, 0x80, 0xff]]);
}

/// Random mutations of every op never panic and never resize a surface.
#[test]
fn random_draw_ops_never_panic() {
    use crate::proto::base::Message;
    let mut s = state(0, 16, 16);
    s.handle(&create(1, 4, 4, surface_fmt::A1, 0));
    let templates = [
        rop3_msg(0xb8, Brush::Solid(1), img32(2, 1, &[1, 2]), 2),
        stroke(
            vec![fixp(0, 0), fixp(9, 5), fixp(3, 12)],
            path_flags::CLOSE,
            ropd::OP_XOR,
        ),
        text(
            string_flags::RASTER_A4,
            vec![glyph(1, 1, 3, 2, vec![0x12, 0x34, 0x56, 0x78])],
            Rect::ltrb(0, 0, 3, 3),
            RED,
        ),
        alpha_blend(0x80, 3, rgba(1, 1, &[[1, 2, 3, 4]]), 1),
        DisplayServer::DrawInvers {
            base: base(0, full(16, 16), Clip::None),
            mask: qmask(mask_img(7, &[0xa5, 0x5a]), (1, -1), true),
        },
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for t in &templates {
        let body = t.to_body();
        for _ in 0..2000 {
            let mut b = body.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() % b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            if let Ok(m) = DisplayServer::decode(t.msg_type(), &b) {
                s.handle(&m);
            }
        }
    }
    assert_eq!(s.surface(0).unwrap().pixels_bgra().len(), 16 * 16 * 4);
    assert!(s.stats().draws_applied > 100);
}
