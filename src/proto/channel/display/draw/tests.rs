use super::super::{
    Bitmap, Clip, DisplayBase, DisplayServer, ImageDescriptor, ImageKind, PaletteRef, bitmap_fmt, image_type,
    mask_flags, msg, ropd,
};
use super::*;
use crate::proto::base::Message;

fn rt(m: DisplayServer) -> Vec<u8> {
    let body = m.to_body();
    assert_eq!(DisplayServer::decode(m.msg_type(), &body).unwrap(), m);
    body
}

fn base() -> DisplayBase {
    DisplayBase {
        surface_id: 1,
        bbox: Rect::ltrb(1, 2, 30, 40),
        clip: Clip::Rects(vec![Rect::ltrb(0, 0, 5, 5)]),
    }
}

fn img(w: u32, h: u32) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id: 9,
            image_type: image_type::BITMAP,
            flags: 0,
            width: w,
            height: h,
        },
        kind: ImageKind::Bitmap(Bitmap {
            format: bitmap_fmt::BIT1_BE,
            flags: 0,
            width: w,
            height: h,
            stride: 1,
            palette: PaletteRef::None,
            data: vec![0xa5; usize::try_from(h).unwrap()],
        }),
    }
}

fn mask() -> QMask {
    QMask {
        flags: mask_flags::INVERS,
        pos: Point { x: 3, y: -4 },
        bitmap: Some(img(8, 2)),
    }
}

fn pattern() -> Brush {
    Brush::Pattern {
        image: img(4, 4),
        pos: Point { x: -1, y: 2 },
    }
}

fn stroke(flags: u8, style: Vec<i32>) -> DisplayServer {
    DisplayServer::DrawStroke {
        base: base(),
        stroke: StrokeOp {
            path: vec![
                PathSegment {
                    flags: path_flags::BEGIN,
                    points: vec![PointFix { x: 16, y: 32 }, PointFix { x: 160, y: 32 }],
                },
                PathSegment {
                    flags: path_flags::BEZIER | path_flags::END | path_flags::CLOSE,
                    points: vec![
                        PointFix { x: 1, y: 2 },
                        PointFix { x: 3, y: 4 },
                        PointFix { x: 5, y: 6 },
                    ],
                },
            ],
            attr: LineAttr { flags, style },
            brush: pattern(),
            fore_mode: ropd::OP_XOR,
            back_mode: ropd::OP_PUT,
        },
    }
}

fn text(flags: u8) -> DisplayServer {
    let glyph = |w: u16, h: u16, n: usize| RasterGlyph {
        render_pos: Point { x: 10, y: 20 },
        glyph_origin: Point { x: -1, y: -9 },
        width: w,
        height: h,
        data: (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect(),
    };
    let bpp = bpp_of(flags).unwrap_or(1);
    let size = |w: u16, h: u16| glyph_row_bytes(w, bpp) * usize::from(h);
    DisplayServer::DrawText {
        base: base(),
        text: TextOp {
            string: GlyphString {
                flags,
                glyphs: vec![glyph(9, 3, size(9, 3)), glyph(1, 1, size(1, 1)), glyph(0, 5, 0)],
            },
            back_area: Rect::ltrb(0, 0, 3, 3),
            fore_brush: Brush::Solid(0x00ff_0000),
            back_brush: pattern(),
            fore_mode: ropd::OP_PUT,
            back_mode: ropd::OP_PUT,
        },
    }
}

fn composite(flags: u32) -> DisplayServer {
    DisplayServer::DrawComposite {
        base: base(),
        composite: CompositeOp {
            flags,
            src_bitmap: Some(img(2, 2)),
            mask_bitmap: (flags & composite_flags::HAS_MASK != 0).then(|| img(3, 1)),
            src_transform: (flags & composite_flags::HAS_SRC_TRANSFORM != 0).then_some(Transform([
                0x10000,
                0,
                5 << 16,
                0,
                0x10000,
                0,
            ])),
            mask_transform: (flags & composite_flags::HAS_MASK_TRANSFORM != 0).then_some(Transform([1; 6])),
            src_origin: Point16 { x: -3, y: 4 },
            mask_origin: Point16 { x: 1, y: -2 },
        },
    }
}

#[test]
fn every_draw_op_round_trips() {
    let copy = CopyOp {
        src_bitmap: Some(img(8, 3)),
        src_area: Rect::ltrb(0, 0, 8, 3),
        rop_descriptor: ropd::OP_AND,
        scale_mode: 1,
        mask: mask(),
    };
    let msgs = vec![
        DisplayServer::DrawOpaque {
            base: base(),
            opaque: OpaqueOp {
                src_bitmap: Some(img(8, 3)),
                src_area: Rect::ltrb(0, 0, 8, 3),
                brush: pattern(),
                rop_descriptor: ropd::OP_OR | ropd::INVERS_SRC,
                scale_mode: 0,
                mask: mask(),
            },
        },
        DisplayServer::DrawBlend {
            base: base(),
            blend: copy,
        },
        DisplayServer::DrawBlackness {
            base: base(),
            mask: mask(),
        },
        DisplayServer::DrawWhiteness {
            base: base(),
            mask: QMask::default(),
        },
        DisplayServer::DrawInvers {
            base: base(),
            mask: mask(),
        },
        DisplayServer::DrawRop3 {
            base: base(),
            rop3: Rop3Op {
                src_bitmap: Some(img(8, 3)),
                src_area: Rect::ltrb(0, 0, 8, 3),
                brush: Brush::Solid(7),
                rop3: 0xb8,
                scale_mode: 1,
                mask: mask(),
            },
        },
        stroke(0, vec![]),
        stroke(line_flags::STYLED | line_flags::START_WITH_GAP, vec![16, -32, 48]),
        stroke(line_flags::STYLED, vec![]),
        text(string_flags::RASTER_A1),
        text(string_flags::RASTER_A4 | string_flags::RASTER_TOP_DOWN),
        text(string_flags::RASTER_A8),
        DisplayServer::DrawTransparent {
            base: base(),
            transparent: TransparentOp {
                src_bitmap: Some(img(8, 1)),
                src_area: Rect::ltrb(0, 0, 8, 1),
                src_color: 1,
                true_color: 0x00ff_00ff,
            },
        },
        DisplayServer::DrawAlphaBlend {
            base: base(),
            alpha_blend: AlphaBlendOp {
                alpha_flags: alpha_flags::DEST_HAS_ALPHA | alpha_flags::SRC_SURFACE_HAS_ALPHA,
                alpha: 0x80,
                src_bitmap: Some(img(8, 1)),
                src_area: Rect::ltrb(0, 0, 8, 1),
            },
        },
        composite(3),
        composite(
            3 | composite_flags::HAS_MASK
                | composite_flags::HAS_SRC_TRANSFORM
                | composite_flags::HAS_MASK_TRANSFORM
                | composite_flags::COMPONENT_ALPHA,
        ),
    ];
    for m in msgs {
        rt(m);
    }
}

#[test]
fn stroke_layout_matches_spice_proto() {
    // path 1 segment of 1 point, unstyled, no brush
    let m = DisplayServer::DrawStroke {
        base: DisplayBase::default(),
        stroke: StrokeOp {
            path: vec![PathSegment {
                flags: path_flags::BEGIN,
                points: vec![PointFix { x: 0x10, y: 0x20 }],
            }],
            attr: LineAttr::default(),
            brush: Brush::None,
            fore_mode: 0x8,
            back_mode: 0x9,
        },
    };
    let body = rt(m);
    // base: 4 + 16 + 1; path ptr 4; attr flags 1; brush 1; modes 4.
    let fixed = 21 + 4 + 1 + 1 + 4;
    assert_eq!(u32::from_le_bytes(body[21..25].try_into().unwrap()), fixed);
    assert_eq!(
        &body[fixed as usize..],
        &[1, 0, 0, 0, 1, 1, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0]
    );
}

#[test]
fn composite_optional_members_follow_the_flags() {
    let plain = rt(composite(3));
    let full = rt(composite(
        3 | composite_flags::HAS_MASK | composite_flags::HAS_SRC_TRANSFORM | composite_flags::HAS_MASK_TRANSFORM,
    ));
    // mask pointer (4) and two transforms (2 × 24) more in the fixed part;
    // plus the mask image itself.
    assert!(full.len() > plain.len() + 52);
    assert_eq!(&plain[41..45], &3u32.to_le_bytes());
}

fn decode(t: u16, body: &[u8]) -> ProtoResult<DisplayServer> {
    DisplayServer::decode(t, body)
}

#[test]
fn hostile_offsets_and_counts_are_rejected() {
    // base() carries one clip rectangle: the op data starts at 41.
    let s = stroke(0, vec![]).to_body();
    // path offset outside the body
    let mut b = s.clone();
    b[41..45].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode(msg::DRAW_STROKE, &b).is_err());
    // null path
    b[41..45].copy_from_slice(&0u32.to_le_bytes());
    assert!(decode(msg::DRAW_STROKE, &b).is_err());
    // segment count overflowing the body
    let path_at = u32::from_le_bytes(s[41..45].try_into().unwrap()) as usize;
    let mut b = s.clone();
    b[path_at..path_at + 4].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    assert!(matches!(
        decode(msg::DRAW_STROKE, &b),
        Err(DecodeError::TooLarge { .. })
    ));
    // point count overflowing
    let mut b = s.clone();
    b[path_at + 5..path_at + 9].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode(msg::DRAW_STROKE, &b).is_err());
    // styled with a style pointer outside the body
    let st = stroke(line_flags::STYLED, vec![1, 2]).to_body();
    let mut b = st.clone();
    b[47..51].copy_from_slice(&0xffffu32.to_le_bytes());
    assert!(decode(msg::DRAW_STROKE, &b).is_err());
    b[47..51].copy_from_slice(&0u32.to_le_bytes());
    assert!(decode(msg::DRAW_STROKE, &b).is_err());

    let t = text(string_flags::RASTER_A8).to_body();
    let str_at = u32::from_le_bytes(t[41..45].try_into().unwrap()) as usize;
    // glyph count overflowing the body
    let mut b = t.clone();
    b[str_at..str_at + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(decode(msg::DRAW_TEXT, &b).is_err());
    // glyph size overflowing: width and height of the first glyph
    let mut b = t.clone();
    b[str_at + 19..str_at + 23].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(decode(msg::DRAW_TEXT, &b).is_err());
    // no raster type with glyphs
    let mut b = t.clone();
    b[str_at + 2] = string_flags::RASTER_TOP_DOWN;
    assert!(decode(msg::DRAW_TEXT, &b).is_err());
    // null string
    let mut b = t;
    b[41..45].copy_from_slice(&0u32.to_le_bytes());
    assert!(decode(msg::DRAW_TEXT, &b).is_err());

    // every truncation of every op fails cleanly, never panics
    for m in [
        stroke(line_flags::STYLED, vec![5]),
        text(string_flags::RASTER_A4),
        composite(0x38_0003),
    ] {
        let body = m.to_body();
        for n in 0..body.len() {
            let _ = decode(m.msg_type(), &body[..n]);
        }
    }
}

#[test]
fn draw_ops_are_no_longer_unparsed() {
    for t in [
        msg::DRAW_OPAQUE,
        msg::DRAW_BLEND,
        msg::DRAW_BLACKNESS,
        msg::DRAW_WHITENESS,
        msg::DRAW_INVERS,
        msg::DRAW_ROP3,
        msg::DRAW_STROKE,
        msg::DRAW_TEXT,
        msg::DRAW_TRANSPARENT,
        msg::DRAW_ALPHA_BLEND,
        msg::DRAW_COMPOSITE,
    ] {
        assert!(!matches!(decode(t, &[]), Ok(DisplayServer::Unparsed { .. })), "{t}");
    }
}
