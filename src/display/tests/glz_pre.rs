//! GLZ images decoded before the state lock ([`GlzPredecoder`]): the wait
//! for another channel's image leaves the waiting channel's state free.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::*;
use crate::codec::CodecError;
use crate::codec::glz::encode::GlzEncoder;
use crate::codec::glz::{Absent, GlzWindow};
use crate::codec::lz::LzType;
use crate::display::cache::SharedImageCache;

const W: u32 = 8;
const H: u32 = 8;

/// B,G,R,x pixels, top-down, a gradient so rows differ.
fn pixels(seed: u8) -> Vec<u8> {
    (0..W * H)
        .flat_map(|i| {
            let v = seed.wrapping_add((i * 7) as u8);
            [v, v.wrapping_add(1), v.wrapping_add(2), 0]
        })
        .collect()
}

fn glz_image(id: u64, ty: u8, kind: ImageKind) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id,
            image_type: ty,
            flags: 0,
            width: W,
            height: H,
        },
        kind,
    }
}

fn draw(img: Image) -> DisplayServer {
    copy(
        0,
        Rect::ltrb(0, 0, W as i32, H as i32),
        Rect::ltrb(0, 0, W as i32, H as i32),
        Some(img),
        ropd::OP_PUT,
    )
}

fn channel(window: &Arc<GlzWindow>, cache: &SharedImageCache) -> DisplayState {
    let mut s = DisplayState::with_shared(Limits::default(), Arc::clone(window), cache.clone());
    s.handle(&create(0, W, H, surface_fmt::XRGB32, surface_flags::PRIMARY));
    s
}

/// The surface as B,G,R bytes (alpha left out: copies store it opaque).
fn surface_bgr(s: &DisplayState) -> Vec<u8> {
    (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .flat_map(|(x, y)| px(s, 0, x, y)[..3].to_vec())
        .collect()
}

fn bgr(p: &[u8]) -> Vec<u8> {
    p.chunks(4).flat_map(|c| c[..3].to_vec()).collect()
}

#[test]
fn glz_wait_happens_outside_the_state_lock() {
    let window = Arc::new(GlzWindow::new(1 << 20));
    let cache = SharedImageCache::new(1 << 20);
    let a = Arc::new(Mutex::new(channel(&window, &cache)));
    let b = Arc::new(Mutex::new(channel(&window, &cache)));

    // Image 1 repeats image 0: its GLZ data references image 0.
    let mut enc = GlzEncoder::new(1 << 16);
    let first = pixels(3);
    let data0 = enc.encode(LzType::Rgb32, W, H, true, &first).unwrap();
    let data1 = enc.encode(LzType::Rgb32, W, H, true, &first).unwrap();
    let mut out = crate::codec::ImageBuf::new();
    assert!(
        matches!(
            GlzWindow::new(1 << 20).decode(&data1, &mut out, Absent::Missing),
            Err(CodecError::GlzMissing { id: 0, by: 1 })
        ),
        "image 1 must reference image 0"
    );
    let msg0 = draw(glz_image(100, image_type::GLZ_RGB, ImageKind::Binary(data0)));
    let msg1 = draw(glz_image(101, image_type::GLZ_RGB, ImageKind::Binary(data1)));

    // Channel A gets image 1 first, as the channel machine does it: GLZ
    // decodes outside the lock, then the draw under it. Image 0 has not
    // arrived: the predecode stops (the runtime waits, no thread blocks).
    let mut pre = a.lock().unwrap().glz_predecoder();
    let mut glz = GlzImages::default();
    assert_eq!(pre.decode(&msg1, &mut glz, Absent::Pending), Some(0));
    assert!(glz.is_empty());
    // Meanwhile A's state is free: the widget can copy A's surface.
    {
        let guard = a.try_lock().expect("A's state is not locked during the GLZ wait");
        assert_eq!(px(&guard, 0, 0, 0), [0; 4], "nothing drawn yet");
    }

    // Channel B draws image 0 (into the shared window): A goes on.
    let b_draws_at = Instant::now();
    let ev = b.lock().unwrap().handle(&msg0);
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(pre.decode(&msg1, &mut glz, Absent::Pending), None);
    let decoded_at = Instant::now();
    let events = a.lock().unwrap().handle_predecoded(&msg1, &mut glz);
    assert_eq!(glz.len(), 1);
    pre.recycle(glz);
    assert!(errors(&events).is_empty(), "{events:?}");
    assert!(decoded_at >= b_draws_at, "A decoded image 1 before image 0 existed");
    assert_eq!(surface_bgr(&a.lock().unwrap()), bgr(&first));
    assert_eq!(surface_bgr(&b.lock().unwrap()), bgr(&first));
    assert_eq!(a.lock().unwrap().stats().images.decoded, 1);
}

#[test]
fn predecoded_draws_equal_plain_handle() {
    // The same GLZ and ZLIB_GLZ stream through `handle` on one state and
    // through a predecoder + `handle_predecoded` on another.
    let mut enc = GlzEncoder::new(1 << 16);
    let imgs = [pixels(0), pixels(40), pixels(0)];
    let mut msgs = Vec::new();
    for (i, p) in imgs.iter().enumerate() {
        let glz = enc.encode(LzType::Rgb32, W, H, true, p).unwrap();
        let img = if i == 1 {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(&glz).unwrap();
            let kind = ImageKind::ZlibGlz {
                glz_data_size: glz.len() as u32,
                data: z.finish().unwrap(),
            };
            glz_image(i as u64, image_type::ZLIB_GLZ_RGB, kind)
        } else {
            glz_image(i as u64, image_type::GLZ_RGB, ImageKind::Binary(glz))
        };
        msgs.push(draw(img));
    }
    // A draw without GLZ images and a corrupt GLZ image.
    msgs.push(put(0, Rect::ltrb(0, 0, 2, 2), RED));
    msgs.push(draw(glz_image(
        9,
        image_type::GLZ_RGB,
        ImageKind::Binary(vec![1, 2, 3]),
    )));

    let cache = SharedImageCache::new(1 << 20);
    let mut plain = channel(&Arc::new(GlzWindow::new(1 << 20)), &cache);
    let mut ahead = channel(&Arc::new(GlzWindow::new(1 << 20)), &SharedImageCache::new(1 << 20));
    let mut pre = ahead.glz_predecoder();
    for (i, m) in msgs.iter().enumerate() {
        let expected = plain.handle(m);
        let mut glz = GlzImages::default();
        assert_eq!(pre.decode(m, &mut glz, Absent::Pending), None, "message {i}");
        assert_eq!(glz.len(), usize::from(i != 3), "message {i}");
        let got = ahead.handle_predecoded(m, &mut glz);
        pre.recycle(glz);
        assert_eq!(errors(&got), errors(&expected), "message {i}");
        assert_eq!(surface_bgr(&ahead), surface_bgr(&plain), "message {i}");
        if i < 3 {
            assert_eq!(surface_bgr(&ahead), bgr(&imgs[i]), "message {i}");
        }
    }
    assert_eq!(plain.stats().images.decoded, 3);
    assert_eq!(ahead.stats().images.decoded, 3);
    assert_eq!(ahead.stats().errors, plain.stats().errors);
}

#[test]
fn glz_images_in_every_slot_are_predecoded() {
    use crate::proto::channel::display::{
        AlphaBlendOp, CompositeOp, OpaqueOp, Point, Rop3Op, StrokeOp, TextOp, TransparentOp,
    };
    let mut enc = GlzEncoder::new(1 << 16);
    let mut next = |id: u64| {
        let data = enc.encode(LzType::Rgb32, W, H, true, &pixels(id as u8)).unwrap();
        glz_image(id, image_type::GLZ_RGB, ImageKind::Binary(data))
    };
    let pattern = |image| Brush::Pattern {
        image,
        pos: Point::default(),
    };
    let mask = |image| QMask {
        bitmap: Some(image),
        ..QMask::default()
    };
    let b = || base(0, Rect::ltrb(0, 0, W as i32, H as i32), Clip::None);
    let msgs = vec![
        (
            DisplayServer::DrawFill {
                base: b(),
                fill: FillOp {
                    brush: pattern(next(1)),
                    rop_descriptor: ropd::OP_PUT,
                    mask: mask(next(2)),
                },
            },
            2,
        ),
        (
            DisplayServer::DrawOpaque {
                base: b(),
                opaque: OpaqueOp {
                    src_bitmap: Some(next(3)),
                    brush: pattern(next(4)),
                    mask: mask(next(5)),
                    ..OpaqueOp::default()
                },
            },
            3,
        ),
        (
            DisplayServer::DrawRop3 {
                base: b(),
                rop3: Rop3Op {
                    src_bitmap: Some(next(6)),
                    brush: pattern(next(7)),
                    ..Rop3Op::default()
                },
            },
            2,
        ),
        (
            DisplayServer::DrawInvers {
                base: b(),
                mask: mask(next(8)),
            },
            1,
        ),
        (
            DisplayServer::DrawStroke {
                base: b(),
                stroke: StrokeOp {
                    brush: pattern(next(9)),
                    ..StrokeOp::default()
                },
            },
            1,
        ),
        (
            DisplayServer::DrawText {
                base: b(),
                text: TextOp {
                    fore_brush: pattern(next(10)),
                    back_brush: pattern(next(11)),
                    ..TextOp::default()
                },
            },
            2,
        ),
        (
            DisplayServer::DrawTransparent {
                base: b(),
                transparent: TransparentOp {
                    src_bitmap: Some(next(12)),
                    ..TransparentOp::default()
                },
            },
            1,
        ),
        (
            DisplayServer::DrawAlphaBlend {
                base: b(),
                alpha_blend: AlphaBlendOp {
                    src_bitmap: Some(next(13)),
                    ..AlphaBlendOp::default()
                },
            },
            1,
        ),
        (
            DisplayServer::DrawComposite {
                base: b(),
                composite: CompositeOp {
                    src_bitmap: Some(next(14)),
                    mask_bitmap: Some(next(15)),
                    ..CompositeOp::default()
                },
            },
            2,
        ),
        (draw(next(16)), 1),
        (put(0, Rect::ltrb(0, 0, 1, 1), RED), 0),
    ];
    let mut s = channel(&Arc::new(GlzWindow::new(1 << 20)), &SharedImageCache::new(1 << 20));
    let mut pre = s.glz_predecoder();
    for (i, (m, n)) in msgs.iter().enumerate() {
        let mut glz = GlzImages::default();
        assert_eq!(pre.decode(m, &mut glz, Absent::Pending), None);
        assert_eq!(glz.len(), *n, "message {i}: {m:?}");
        assert!(glz.items.iter().all(|p| p.result.is_ok()), "message {i}");
        pre.recycle(glz);
    }
}
