//! Round-trip and hostile-input tests of the display messages.

use super::*;
use crate::proto::base::Message;
use crate::proto::error::DecodeError;

fn rt<M: Message + PartialEq + std::fmt::Debug>(m: M) {
    let body = m.to_body();
    assert_eq!(M::decode(m.msg_type(), &body).unwrap(), m);
}

fn base(clip: Clip) -> DisplayBase {
    DisplayBase {
        surface_id: 3,
        bbox: Rect::ltrb(-5, 1, 100, 200),
        clip,
    }
}

fn desc(image_type: u8) -> ImageDescriptor {
    ImageDescriptor {
        id: 0x1122_3344_5566_7788,
        image_type,
        flags: image_flags::CACHE_ME,
        width: 2,
        height: 2,
    }
}

fn bitmap_image(palette: PaletteRef) -> Image {
    let flags = match palette {
        PaletteRef::Cached(_) => bitmap_flags::TOP_DOWN | bitmap_flags::PAL_FROM_CACHE,
        _ => bitmap_flags::TOP_DOWN,
    };
    Image {
        descriptor: desc(image_type::BITMAP),
        kind: ImageKind::Bitmap(Bitmap {
            format: bitmap_fmt::BIT8,
            flags,
            width: 2,
            height: 2,
            stride: 4,
            palette,
            data: vec![0, 1, 9, 9, 1, 0, 9, 9],
        }),
    }
}

fn copy_msg(src: Option<Image>, mask: Option<Image>) -> DisplayServer {
    DisplayServer::DrawCopy {
        base: base(Clip::Rects(vec![Rect::ltrb(0, 0, 10, 10), Rect::ltrb(20, 20, 30, 30)])),
        copy: CopyOp {
            src_bitmap: src,
            src_area: Rect::ltrb(0, 0, 2, 2),
            rop_descriptor: ropd::OP_PUT,
            scale_mode: scale_mode::NEAREST,
            mask: QMask {
                flags: mask_flags::INVERS,
                pos: Point { x: -1, y: 7 },
                bitmap: mask,
            },
        },
    }
}

#[test]
fn server_round_trips() {
    rt(DisplayServer::Base(ServerBase::SetAck {
        generation: 1,
        window: 10,
    }));
    rt(DisplayServer::Mode {
        x_res: 1024,
        y_res: 768,
        bits: 32,
    });
    rt(DisplayServer::Mark);
    rt(DisplayServer::Reset);
    rt(DisplayServer::CopyBits {
        base: base(Clip::None),
        src_pos: Point { x: 4, y: -9 },
    });
    rt(DisplayServer::CopyBits {
        base: base(Clip::Rects(vec![Rect::ltrb(1, 2, 3, 4)])),
        src_pos: Point { x: 0, y: 0 },
    });
    rt(DisplayServer::InvalList(vec![
        ResourceId {
            resource_type: 1,
            id: 77,
        },
        ResourceId {
            resource_type: 1,
            id: u64::MAX,
        },
    ]));
    rt(DisplayServer::InvalAllPixmaps(vec![WaitForChannel {
        channel_type: 2,
        channel_id: 1,
        message_serial: 99,
    }]));
    rt(DisplayServer::InvalPalette { id: 5 });
    rt(DisplayServer::InvalAllPalettes);
    rt(DisplayServer::StreamDestroy { id: 4 });
    rt(DisplayServer::StreamDestroyAll);
    rt(DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: 1280,
        height: 800,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    }));
    rt(DisplayServer::SurfaceDestroy { surface_id: 0 });
    rt(DisplayServer::MonitorsConfig {
        max_allowed: 4,
        heads: vec![
            Head {
                monitor_id: 0,
                surface_id: 0,
                width: 1024,
                height: 768,
                x: 0,
                y: 0,
                flags: 0,
            },
            Head {
                monitor_id: 1,
                surface_id: 0,
                width: 800,
                height: 600,
                x: 1024,
                y: 0,
                flags: 0,
            },
        ],
    });
    rt(DisplayServer::GlDraw { x: 1, y: 2, w: 3, h: 4 });
    rt(DisplayServer::Unparsed {
        msg_type: msg::QUALITY_INDICATOR,
        data: vec![1, 2, 3],
    });
    rt(DisplayServer::Unknown {
        msg_type: 999,
        data: vec![7],
    });
}

#[test]
fn fill_round_trips() {
    for brush in [
        Brush::None,
        Brush::Solid(0x00ff_8000),
        Brush::Pattern {
            image: bitmap_image(PaletteRef::Cached(12)),
            pos: Point { x: 3, y: 4 },
        },
    ] {
        rt(DisplayServer::DrawFill {
            base: base(Clip::None),
            fill: FillOp {
                brush: brush.clone(),
                rop_descriptor: ropd::OP_XOR | ropd::INVERS_BRUSH,
                mask: QMask::default(),
            },
        });
        rt(DisplayServer::DrawFill {
            base: base(Clip::Rects(vec![Rect::ltrb(0, 0, 1, 1)])),
            fill: FillOp {
                brush,
                rop_descriptor: ropd::OP_PUT,
                mask: QMask {
                    flags: 0,
                    pos: Point { x: 1, y: 1 },
                    bitmap: Some(bitmap_image(PaletteRef::None)),
                },
            },
        });
    }
}

#[test]
fn copy_round_trips() {
    let palette = Palette {
        unique: 42,
        entries: vec![0x00ff_0000, 0x0000_ff00],
    };
    rt(copy_msg(Some(bitmap_image(PaletteRef::Inline(palette.clone()))), None));
    rt(copy_msg(Some(bitmap_image(PaletteRef::Cached(42))), None));
    rt(copy_msg(
        Some(bitmap_image(PaletteRef::None)),
        Some(bitmap_image(PaletteRef::None)),
    ));
    rt(copy_msg(None, None));
    let kinds = [
        (image_type::QUIC, ImageKind::Binary(vec![1, 2, 3, 4, 5])),
        (image_type::LZ4, ImageKind::Binary(vec![])),
        (
            image_type::LZ_PLT,
            ImageKind::LzPalette {
                flags: 0,
                palette: PaletteRef::Inline(palette),
                data: vec![9; 10],
            },
        ),
        (
            image_type::LZ_PLT,
            ImageKind::LzPalette {
                flags: bitmap_flags::PAL_FROM_CACHE,
                palette: PaletteRef::Cached(3),
                data: vec![9; 10],
            },
        ),
        (
            image_type::ZLIB_GLZ_RGB,
            ImageKind::ZlibGlz {
                glz_data_size: 100,
                data: vec![5; 7],
            },
        ),
        (
            image_type::JPEG_ALPHA,
            ImageKind::JpegAlpha {
                flags: 1,
                jpeg_size: 3,
                data: vec![1; 6],
            },
        ),
        (image_type::SURFACE, ImageKind::Surface { surface_id: 9 }),
        (image_type::FROM_CACHE, ImageKind::NoData),
        (image_type::FROM_CACHE_LOSSLESS, ImageKind::NoData),
        (200, ImageKind::NoData),
    ];
    for (t, kind) in kinds {
        rt(copy_msg(
            Some(Image {
                descriptor: desc(t),
                kind,
            }),
            None,
        ));
    }
}

#[test]
fn client_round_trips() {
    rt(DisplayClient::Base(ClientBase::Ack));
    rt(DisplayClient::Init(DisplayInit {
        pixmap_cache_id: 1,
        pixmap_cache_size: 20 * 1024 * 1024,
        glz_dictionary_id: 1,
        glz_dictionary_window_size: 4 * 1024 * 1024,
    }));
    rt(DisplayClient::StreamReport(StreamReport {
        stream_id: 1,
        unique_id: 2,
        start_frame_mm_time: 3,
        end_frame_mm_time: 4,
        num_frames: 0,
        num_drops: u32::MAX,
        last_frame_delay: -20,
        audio_delay: u32::MAX,
    }));
    rt(DisplayClient::PreferredCompression {
        image_compression: image_compression::AUTO_GLZ,
    });
    rt(DisplayClient::GlDrawDone);
    rt(DisplayClient::PreferredVideoCodecType {
        codecs: vec![video_codec::H264, video_codec::VP8, video_codec::MJPEG],
    });
    rt(DisplayClient::Unknown {
        msg_type: 150,
        data: vec![1],
    });
}

#[test]
fn init_wire_layout() {
    let body = DisplayClient::Init(DisplayInit {
        pixmap_cache_id: 1,
        pixmap_cache_size: 0x0102,
        glz_dictionary_id: 1,
        glz_dictionary_window_size: 0x0304,
    })
    .to_body();
    assert_eq!(body, [1, 2, 1, 0, 0, 0, 0, 0, 0, 1, 4, 3, 0, 0]);
}

/// A DRAW_COPY built byte by byte the way spice-server's marshaller lays it
/// out: clip rects inline, image pointer relative to the body start, bitmap
/// pixels inline after the palette pointer, palette at the end.
#[test]
fn copy_wire_layout() {
    let mut w = WriteCursor::new();
    w.write_u32(0); // surface_id
    for v in [10, 20, 12, 23] {
        w.write_i32(v); // box: top, left, bottom, right
    }
    w.write_u8(clip_type::RECTS);
    w.write_u32(1);
    for v in [10, 20, 11, 21] {
        w.write_i32(v);
    }
    let img_ptr = w.len();
    w.write_u32(0); // src_bitmap, patched below
    for v in [0, 0, 2, 3] {
        w.write_i32(v); // src_area
    }
    w.write_u16(ropd::OP_PUT);
    w.write_u8(scale_mode::INTERPOLATE);
    w.write_u8(0); // mask flags
    w.write_i32(0);
    w.write_i32(0);
    w.write_u32(0); // mask bitmap: none
    let img_off = w.len();
    w.patch_u32(img_ptr, img_off as u32);
    w.write_u64(7); // descriptor id
    w.write_u8(image_type::BITMAP);
    w.write_u8(0);
    w.write_u32(3);
    w.write_u32(2);
    w.write_u8(bitmap_fmt::BIT1_BE);
    w.write_u8(0); // bottom-up
    w.write_u32(3);
    w.write_u32(2);
    w.write_u32(1); // stride
    let pal_ptr = w.len();
    w.write_u32(0);
    w.write_slice(&[0b1010_0000, 0b0100_0000]);
    let pal_off = w.len();
    w.patch_u32(pal_ptr, pal_off as u32);
    w.write_u64(55);
    w.write_u16(2);
    w.write_u32(0);
    w.write_u32(0x00ff_ffff);
    let body = w.into_inner();
    let m = DisplayServer::decode(msg::DRAW_COPY, &body).unwrap();
    let DisplayServer::DrawCopy { base, copy } = &m else {
        panic!("{m:?}")
    };
    assert_eq!(base.bbox, Rect::ltrb(20, 10, 23, 12));
    assert_eq!(base.clip, Clip::Rects(vec![Rect::ltrb(20, 10, 21, 11)]));
    assert_eq!(copy.src_area, Rect::ltrb(0, 0, 3, 2));
    let img = copy.src_bitmap.as_ref().unwrap();
    assert_eq!(img.descriptor.id, 7);
    let ImageKind::Bitmap(b) = &img.kind else { panic!() };
    assert_eq!((b.width, b.height, b.stride), (3, 2, 1));
    assert_eq!(b.data, [0b1010_0000, 0b0100_0000]);
    assert_eq!(
        b.palette,
        PaletteRef::Inline(Palette {
            unique: 55,
            entries: vec![0, 0x00ff_ffff]
        })
    );
    // and our encoder produces exactly the same bytes
    assert_eq!(m.to_body(), body);
}

fn copy_body() -> Vec<u8> {
    copy_msg(
        Some(bitmap_image(PaletteRef::Inline(Palette {
            unique: 1,
            entries: vec![1, 2],
        }))),
        None,
    )
    .to_body()
}

#[test]
fn truncations_never_panic() {
    let bodies = [
        (msg::DRAW_COPY, copy_body()),
        (
            msg::DRAW_FILL,
            DisplayServer::DrawFill {
                base: base(Clip::Rects(vec![Rect::default(); 3])),
                fill: FillOp {
                    brush: Brush::Pattern {
                        image: bitmap_image(PaletteRef::None),
                        pos: Point::default(),
                    },
                    rop_descriptor: 0,
                    mask: QMask::default(),
                },
            }
            .to_body(),
        ),
        (
            msg::MONITORS_CONFIG,
            DisplayServer::MonitorsConfig {
                max_allowed: 1,
                heads: vec![Head::default(); 2],
            }
            .to_body(),
        ),
    ];
    for (t, body) in bodies {
        for n in 0..body.len() {
            // Either an error or (when only a trailing pointer target is cut)
            // an error too: every prefix is missing something.
            assert!(DisplayServer::decode(t, &body[..n]).is_err(), "type {t} len {n}");
        }
        assert!(DisplayServer::decode(t, &body).is_ok());
    }
}

#[test]
fn offsets_outside_the_body() {
    let body = copy_body();
    // the src_bitmap pointer sits right after DisplayBase
    let ptr = 4 + 16 + 1 + 4 + 2 * 16;
    for off in [body.len() as u32, body.len() as u32 + 1, u32::MAX] {
        let mut b = body.clone();
        b[ptr..ptr + 4].copy_from_slice(&off.to_le_bytes());
        assert!(matches!(
            DisplayServer::decode(msg::DRAW_COPY, &b),
            Err(DecodeError::BadOffset { .. })
        ));
    }
    // pointing at the last byte: the image does not fit
    let mut b = body.clone();
    b[ptr..ptr + 4].copy_from_slice(&(body.len() as u32 - 1).to_le_bytes());
    assert!(DisplayServer::decode(msg::DRAW_COPY, &b).is_err());
}

#[test]
fn clip_count_overflow() {
    let mut w = WriteCursor::new();
    w.write_u32(0);
    Rect::default().encode(&mut w);
    w.write_u8(clip_type::RECTS);
    w.write_u32(u32::MAX);
    Rect::default().encode(&mut w);
    let e = DisplayServer::decode(msg::COPY_BITS, w.as_slice());
    assert!(matches!(e, Err(DecodeError::NotEnoughBytes { .. })), "{e:?}");
    // 0x1000_0001 * 16 wraps in 32 bits
    let mut w = WriteCursor::new();
    w.write_u32(0);
    Rect::default().encode(&mut w);
    w.write_u8(clip_type::RECTS);
    w.write_u32(0x1000_0001);
    Rect::default().encode(&mut w);
    Point::default().encode(&mut w);
    assert!(DisplayServer::decode(msg::COPY_BITS, w.as_slice()).is_err());
}

#[test]
fn bad_enums_are_rejected() {
    let mut w = WriteCursor::new();
    w.write_u32(0);
    Rect::default().encode(&mut w);
    w.write_u8(7); // clip type
    Point::default().encode(&mut w);
    assert!(matches!(
        DisplayServer::decode(msg::COPY_BITS, w.as_slice()),
        Err(DecodeError::InvalidValue { .. })
    ));
    let mut w = WriteCursor::new();
    base(Clip::None).encode(&mut w);
    w.write_u8(9); // brush type
    w.write_slice(&[0; 30]);
    assert!(DisplayServer::decode(msg::DRAW_FILL, w.as_slice()).is_err());
    // pattern brush with a null image
    let mut w = WriteCursor::new();
    base(Clip::None).encode(&mut w);
    w.write_u8(brush_type::PATTERN);
    w.write_slice(&[0; 30]);
    assert!(DisplayServer::decode(msg::DRAW_FILL, w.as_slice()).is_err());
}

#[test]
fn hostile_image_sizes() {
    // bitmap stride * height far beyond the body, and overflowing u32
    for (stride, height) in [(u32::MAX, u32::MAX), (0x1_0000, 0x1_0001), (4, 3)] {
        let img = Image {
            descriptor: desc(image_type::BITMAP),
            kind: ImageKind::Bitmap(Bitmap {
                format: bitmap_fmt::BIT32,
                flags: 0,
                width: 1,
                height,
                stride,
                palette: PaletteRef::None,
                data: vec![0; 8],
            }),
        };
        let body = copy_msg(Some(img), None).to_body();
        assert!(DisplayServer::decode(msg::DRAW_COPY, &body).is_err());
    }
    // palette claiming more entries than present
    let body = copy_body();
    let n = body.len();
    let mut b = body.clone();
    b[n - 10..n - 8].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(DisplayServer::decode(msg::DRAW_COPY, &b).is_err());
    // binary data size beyond the body
    let img = Image {
        descriptor: desc(image_type::QUIC),
        kind: ImageKind::Binary(vec![1, 2, 3]),
    };
    let mut body = copy_msg(Some(img), None).to_body();
    let n = body.len();
    body[n - 7..n - 3].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(DisplayServer::decode(msg::DRAW_COPY, &body).is_err());
    // LZ_PLT requires a palette
    let mut img = Image {
        descriptor: desc(image_type::LZ_PLT),
        kind: ImageKind::LzPalette {
            flags: 0,
            palette: PaletteRef::None,
            data: vec![1],
        },
    };
    let body = copy_msg(Some(img.clone()), None).to_body();
    assert!(DisplayServer::decode(msg::DRAW_COPY, &body).is_err());
    img.kind = ImageKind::NoData;
    img.descriptor.image_type = image_type::FROM_CACHE;
    assert!(DisplayServer::decode(msg::DRAW_COPY, &copy_msg(Some(img), None).to_body()).is_ok());
}

#[test]
fn hostile_lists() {
    // monitors: count larger than the heads present
    let mut w = WriteCursor::new();
    w.write_u16(u16::MAX);
    w.write_u16(1);
    w.write_slice(&[0; 28]);
    assert!(DisplayServer::decode(msg::MONITORS_CONFIG, w.as_slice()).is_err());
    assert!(DisplayServer::decode(msg::INVAL_LIST, &[3, 0, 1, 0, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(DisplayServer::decode(msg::INVAL_ALL_PIXMAPS, &[2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(DisplayClient::decode(msgc::PREFERRED_VIDEO_CODEC_TYPE, &[4, 1, 2]).is_err());
    assert!(DisplayClient::decode(msgc::INIT, &[1; 13]).is_err());
}

#[test]
fn unparsed_and_unknown() {
    for t in [msg::GL_SCANOUT_UNIX, msg::QUALITY_INDICATOR] {
        assert!(matches!(
            DisplayServer::decode(t, &[1, 2]).unwrap(),
            DisplayServer::Unparsed { msg_type, .. } if msg_type == t
        ));
    }
    assert!(matches!(
        DisplayServer::decode(200, &[]).unwrap(),
        DisplayServer::Unknown { msg_type: 200, .. }
    ));
    assert!(msg::is_draw(msg::DRAW_COMPOSITE) && msg::is_draw(msg::DRAW_FILL) && !msg::is_draw(msg::SURFACE_CREATE));
}
