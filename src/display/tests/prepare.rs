//! Messages prepared before the state lock ([`DisplayDecoder::prepare`]):
//! every image kind is decoded off the lock and draws the pixels the codec
//! gives, the same as [`Pipeline::handle`]; the wait for another channel's
//! GLZ image leaves the waiting channel's state free.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::*;
use crate::codec::glz::encode::GlzEncoder;
use crate::codec::glz::{Absent, GlzWindow};
use crate::codec::lz::LzType;
use crate::codec::{CodecError, ImageBuf};
use crate::display::cache::SharedImageCache;
use crate::proto::channel::display::image_flags;

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
    image(id, ty, W, H, kind)
}

fn image(id: u64, ty: u8, w: u32, h: u32, kind: ImageKind) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id,
            image_type: ty,
            flags: 0,
            width: w,
            height: h,
        },
        kind,
    }
}

/// DRAW_COPY of the whole image to (0, 0) of surface 0.
fn draw(img: Image) -> DisplayServer {
    let (w, h) = (img.descriptor.width as i32, img.descriptor.height as i32);
    copy(
        0,
        Rect::ltrb(0, 0, w, h),
        Rect::ltrb(0, 0, w, h),
        Some(img),
        ropd::OP_PUT,
    )
}

fn channel(window: &Arc<GlzWindow>, cache: &SharedImageCache) -> Pipeline {
    let mut s = Pipeline::with_shared(Limits::default(), Arc::clone(window), cache.clone());
    s.handle(&create(0, W, H, surface_fmt::XRGB32, surface_flags::PRIMARY));
    s
}

/// A display channel as the machine runs it: the decoder on the channel's
/// thread, the state behind the lock the UI shares.
struct Split {
    decoder: DisplayDecoder,
    state: Arc<Mutex<DisplayState>>,
}

impl Split {
    fn new(window: &Arc<GlzWindow>, cache: &SharedImageCache, w: u32, h: u32) -> Self {
        let limits = Limits::default();
        let mut s = Self {
            decoder: DisplayDecoder::new(limits, cache.clone(), Arc::clone(window)),
            state: Arc::new(Mutex::new(DisplayState::with_cache(limits, cache.clone()))),
        };
        s.run(&create(0, w, h, surface_fmt::XRGB32, surface_flags::PRIMARY));
        s
    }

    /// Prepares `m` (with the state locked by someone else meanwhile), then
    /// applies it: the events, and how many images were decoded (or taken
    /// from the cache) before the lock.
    fn run(&mut self, m: &DisplayServer) -> (Vec<DisplayEvent>, usize) {
        let mut p = Prepared::default();
        {
            let _ui = self.state.lock().unwrap();
            assert_eq!(self.decoder.prepare(m, &mut p, Absent::Pending), None);
        }
        let decoded = self.decoder.image_stats.decoded;
        let ready = p.decoded();
        let events = self.state.lock().unwrap().apply(m, &mut p);
        assert_eq!(
            self.decoder.image_stats.decoded, decoded,
            "nothing decoded under the lock"
        );
        self.decoder.observe(&events);
        self.decoder.recycle(&mut p);
        (events, ready)
    }
}

/// The surface as B,G,R bytes (alpha left out: copies store it opaque).
fn surface_bgr(s: &DisplayState) -> Vec<u8> {
    let (w, h) = s.surface(0).unwrap().dims();
    (0..h as u32)
        .flat_map(|y| (0..w as u32).map(move |x| (x, y)))
        .flat_map(|(x, y)| px(s, 0, x, y)[..3].to_vec())
        .collect()
}

/// The top-left `w`×`h` of surface 0 as B,G,R bytes.
fn area_bgr(s: &DisplayState, w: u32, h: u32) -> Vec<u8> {
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
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
    let mut a = Split::new(&window, &cache, W, H);
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

    // Channel A gets image 1 first, as the channel machine does it: the
    // message is prepared outside the lock, then applied under it. Image 0
    // has not arrived: preparing stops (the runtime waits, no thread blocks).
    let mut p = Prepared::default();
    assert_eq!(a.decoder.prepare(&msg1, &mut p, Absent::Pending), Some(0));
    assert!(p.is_empty());
    // Meanwhile A's state is free: the widget can copy A's surface.
    {
        let guard = a.state.try_lock().expect("A's state is not locked during the GLZ wait");
        assert_eq!(px(&guard, 0, 0, 0), [0; 4], "nothing drawn yet");
    }

    // Channel B draws image 0 (into the shared window): A goes on.
    let b_draws_at = Instant::now();
    let ev = b.lock().unwrap().handle(&msg0);
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(a.decoder.prepare(&msg1, &mut p, Absent::Pending), None);
    let decoded_at = Instant::now();
    assert_eq!((p.len(), p.decoded()), (1, 1));
    let events = a.state.lock().unwrap().apply(&msg1, &mut p);
    a.decoder.recycle(&mut p);
    assert!(errors(&events).is_empty(), "{events:?}");
    assert!(decoded_at >= b_draws_at, "A decoded image 1 before image 0 existed");
    assert_eq!(surface_bgr(&a.state.lock().unwrap()), bgr(&first));
    assert_eq!(surface_bgr(&b.lock().unwrap()), bgr(&first));
    assert_eq!(a.state.lock().unwrap().stats().images.decoded, 1);
}

#[test]
fn prepared_glz_draws_equal_plain_handle() {
    // The same GLZ and ZLIB_GLZ stream through `handle` on one pipeline and
    // through a decoder + `apply` on a locked state.
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
    let mut ahead = Split::new(
        &Arc::new(GlzWindow::new(1 << 20)),
        &SharedImageCache::new(1 << 20),
        W,
        H,
    );
    for (i, m) in msgs.iter().enumerate() {
        let expected = plain.handle(m);
        let (got, ready) = ahead.run(m);
        assert_eq!(ready, usize::from(i < 3), "message {i}");
        assert_eq!(errors(&got), errors(&expected), "message {i}");
        let state = ahead.state.lock().unwrap();
        assert_eq!(surface_bgr(&state), surface_bgr(&plain), "message {i}");
        if i < 3 {
            assert_eq!(surface_bgr(&state), bgr(&imgs[i]), "message {i}");
        }
    }
    let state = ahead.state.lock().unwrap();
    assert_eq!(plain.stats().images.decoded, 3);
    assert_eq!(state.stats().images.decoded, 3);
    assert_eq!(state.stats().errors, plain.stats().errors);
}

#[test]
fn images_in_every_slot_are_prepared() {
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
    // Masks are 1-bit bitmaps (a GLZ mask is refused, as by spice-common).
    let mask = |id| QMask {
        bitmap: Some(masks::mask_of(id)),
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
                    mask: mask(2),
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
                    mask: mask(5),
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
                mask: mask(8),
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
    for (i, (m, n)) in msgs.iter().enumerate() {
        let mut p = Prepared::default();
        let decoder = s.decoder_mut();
        assert_eq!(decoder.prepare(m, &mut p, Absent::Pending), None);
        assert_eq!(p.len(), *n, "message {i}: {m:?}");
        assert!(p.images.iter().all(Result::is_ok), "message {i}: {:?}", p.images);
        decoder.recycle(&mut p);
    }
    // On a surface that does not exist, nothing is decoded.
    let mut p = Prepared::default();
    let mut m = draw(bitmap_image(30));
    if let DisplayServer::DrawCopy { base, .. } = &mut m {
        base.surface_id = 9;
    }
    assert_eq!(s.decoder_mut().prepare(&m, &mut p, Absent::Pending), None);
    assert_eq!((p.len(), p.decoded()), (1, 0));
    let ev = s.state_mut().apply(&m, &mut p);
    assert_eq!(errors(&ev), ["no_such_surface"]);
}

mod masks {
    use super::*;
    use crate::proto::channel::display::{Bitmap, bitmap_flags, bitmap_fmt};

    /// A W×H 1-bit mask bitmap, a checkerboard of columns.
    pub(super) fn mask_of(id: u64) -> Image {
        let kind = ImageKind::Bitmap(Bitmap {
            format: bitmap_fmt::BIT1_BE,
            flags: bitmap_flags::TOP_DOWN,
            width: W,
            height: H,
            stride: 1,
            palette: PaletteRef::None,
            data: vec![0b1010_1010; H as usize],
        });
        super::image(id, image_type::BITMAP, W, H, kind)
    }
}

/// A W×H 32-bit BITMAP (not decoded, only validated).
fn bitmap_image(id: u64) -> Image {
    let data = pixels(1);
    image(
        id,
        image_type::BITMAP,
        W,
        H,
        ImageKind::Bitmap(crate::proto::channel::display::Bitmap {
            format: crate::proto::channel::display::bitmap_fmt::BIT32,
            flags: crate::proto::channel::display::bitmap_flags::TOP_DOWN,
            width: W,
            height: H,
            stride: W * 4,
            palette: PaletteRef::None,
            data,
        }),
    )
}

/// One image of every kind the codecs decode, with the B,G,R,A pixels the
/// codec itself gives for it: (name, image, width, height, pixels).
fn every_kind() -> Vec<(&'static str, Image, u32, u32, Vec<u8>)> {
    use crate::codec::{jpeg, lz, lz4, quic};
    let (w, h) = (W, H);
    let bgrx = pixels(9);
    let run = |f: &dyn Fn(&mut ImageBuf)| {
        let mut b = ImageBuf::new();
        f(&mut b);
        b.data
    };
    let mut kinds = Vec::new();
    let q = quic::encode::encode_for_tests(quic::ImageType::Rgb32, w, h, &bgrx).unwrap();
    let want = run(&|b| quic::decode(&q, b).unwrap());
    kinds.push((
        "quic",
        image(1, image_type::QUIC, w, h, ImageKind::Binary(q)),
        w,
        h,
        want,
    ));
    let l = lz::encode::encode(LzType::Rgb32, w, h, true, &bgrx).unwrap();
    let want = run(&|b| lz::decode(&l, None, b).unwrap());
    kinds.push((
        "lz_rgb",
        image(2, image_type::LZ_RGB, w, h, ImageKind::Binary(l)),
        w,
        h,
        want,
    ));
    let indices: Vec<u8> = (0..w * h).map(|i| (i % 3) as u8).collect();
    let plt = lz::encode::encode(LzType::Plt8, w, h, true, &indices).unwrap();
    let entries = [RED, GREEN, BLUE];
    let want = run(&|b| lz::decode(&plt, Some(&entries), b).unwrap());
    let kind = ImageKind::LzPalette {
        flags: 0,
        palette: inline_palette(&entries),
        data: plt,
    };
    kinds.push(("lz_plt", image(3, image_type::LZ_PLT, w, h, kind), w, h, want));
    let l4 = lz4::encode(
        &bgrx,
        (w * 4) as usize,
        1,
        true,
        crate::proto::channel::display::bitmap_fmt::BIT32,
    );
    let want = run(&|b| {
        b.reset("lz4", w, h).unwrap();
        lz4::decode(&l4, b).unwrap();
    });
    kinds.push((
        "lz4",
        image(4, image_type::LZ4, w, h, ImageKind::Binary(l4)),
        w,
        h,
        want,
    ));
    let j = jpeg::tests::fixture("color-61x37-444-q95.jpg");
    let want = run(&|b| jpeg::decode(&j, b).unwrap());
    kinds.push((
        "jpeg",
        image(5, image_type::JPEG, 61, 37, ImageKind::Binary(j.clone())),
        61,
        37,
        want,
    ));
    let plane: Vec<u8> = (0..61 * 37).flat_map(|i| [0, 0, 0, (i % 200) as u8]).collect();
    let mut ja = j.clone();
    ja.extend_from_slice(&lz::encode::encode(LzType::Xxxa, 61, 37, true, &plane).unwrap());
    let want = run(&|b| jpeg::decode_alpha(jpeg::JPEG_ALPHA_TOP_DOWN, j.len() as u32, &ja, b).unwrap());
    let kind = ImageKind::JpegAlpha {
        flags: jpeg::JPEG_ALPHA_TOP_DOWN,
        jpeg_size: j.len() as u32,
        data: ja,
    };
    kinds.push((
        "jpeg_alpha",
        image(6, image_type::JPEG_ALPHA, 61, 37, kind),
        61,
        37,
        want,
    ));
    let mut enc = GlzEncoder::new(1 << 16);
    let g = enc.encode(LzType::Rgb32, w, h, true, &bgrx).unwrap();
    let want = run(&|b| GlzWindow::new(1 << 20).decode(&g, b, Absent::Missing).unwrap());
    kinds.push((
        "glz",
        image(7, image_type::GLZ_RGB, w, h, ImageKind::Binary(g)),
        w,
        h,
        want,
    ));
    let other = pixels(77);
    let g = GlzEncoder::new(1 << 16)
        .encode(LzType::Rgb32, w, h, true, &other)
        .unwrap();
    let want = run(&|b| GlzWindow::new(1 << 20).decode(&g, b, Absent::Missing).unwrap());
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&g).unwrap();
    let kind = ImageKind::ZlibGlz {
        glz_data_size: g.len() as u32,
        data: z.finish().unwrap(),
    };
    kinds.push(("zlib_glz", image(8, image_type::ZLIB_GLZ_RGB, w, h, kind), w, h, want));
    kinds
}

#[test]
fn every_image_kind_is_decoded_before_the_lock() {
    for (name, img, w, h, want) in every_kind() {
        // Each kind on a fresh channel (the GLZ images are the first of
        // their windows), through the split and through `handle`.
        let window = Arc::new(GlzWindow::new(1 << 20));
        let mut split = Split::new(&window, &SharedImageCache::new(1 << 20), 64, 64);
        let mut plain = Pipeline::new(Limits::default());
        plain.handle(&create(0, 64, 64, surface_fmt::XRGB32, surface_flags::PRIMARY));
        let m = draw(img);
        let (ev, ready) = split.run(&m);
        assert!(errors(&ev).is_empty(), "{name}: {ev:?}");
        assert_eq!(ready, 1, "{name}: decoded before the lock");
        assert!(errors(&plain.handle(&m)).is_empty(), "{name}");
        let state = split.state.lock().unwrap();
        assert_eq!(area_bgr(&state, w, h), bgr(&want), "{name}: the codec's pixels");
        assert_eq!(surface_bgr(&state), surface_bgr(&plain), "{name}: as `handle` draws it");
        assert_eq!(state.stats().images.decoded, 1, "{name}");
    }
}

#[test]
fn cached_images_are_read_before_the_lock_even_kept_encoded() {
    // A photo-like QUIC image (too many colours to pack), cached, aged until
    // the cache keeps only its encoded image, then drawn FROM_CACHE: decoded
    // again before the lock, the same pixels.
    let (w, h) = (32u32, 32u32);
    let bgrx: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [(x * 8) as u8, (y * 8) as u8, ((x + y) * 4) as u8, 0]
        })
        .collect();
    let q = crate::codec::quic::encode::encode_for_tests(crate::codec::quic::ImageType::Rgb32, w, h, &bgrx).unwrap();
    let mut photo = image(40, image_type::QUIC, w, h, ImageKind::Binary(q));
    photo.descriptor.flags = image_flags::CACHE_ME;
    let cache = SharedImageCache::new(1 << 22);
    let mut split = Split::new(&Arc::new(GlzWindow::new(1 << 20)), &cache, w, h);
    let (ev, ready) = split.run(&draw(photo));
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(ready, 1);
    let drawn = surface_bgr(&split.state.lock().unwrap());
    cache.lock().set_full_size_limit(0);
    assert!(cache.lock().peek(40).unwrap().is_encoded(), "kept encoded");
    split.run(&put(0, Rect::ltrb(0, 0, w as i32, h as i32), 0));
    let from_cache = image(40, image_type::FROM_CACHE, w, h, ImageKind::NoData);
    let before = split.decoder.image_stats.cache_hits;
    let (ev, ready) = split.run(&draw(from_cache));
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(ready, 1, "read before the lock");
    assert_eq!(split.decoder.image_stats.cache_hits, before + 1);
    assert_eq!(surface_bgr(&split.state.lock().unwrap()), drawn);
}

#[test]
fn surfaces_are_allocated_and_zeroed_before_the_lock() {
    let limits = Limits {
        max_total_bytes: 64 * 64 * 4 * 2,
        ..Limits::default()
    };
    let cache = SharedImageCache::new(1 << 20);
    let mut dec = DisplayDecoder::new(limits, cache.clone(), Arc::new(GlzWindow::new(1 << 20)));
    let mut state = DisplayState::with_cache(limits, cache);
    fn run(
        dec: &mut DisplayDecoder,
        state: &mut DisplayState,
        m: &DisplayServer,
        allocated: bool,
    ) -> Vec<DisplayEvent> {
        let mut p = Prepared::default();
        assert_eq!(dec.prepare(m, &mut p, Absent::Missing), None);
        assert_eq!(p.surface.is_some(), allocated, "{m:?}");
        let ptr = p.surface.as_ref().map(|s| s.as_ptr());
        let ev = state.apply(m, &mut p);
        assert!(p.surface.is_none(), "{m:?}: the state took the pixels");
        if let (Some(ptr), Some(DisplayEvent::SurfaceCreated { id, .. })) = (ptr, ev.last()) {
            assert_eq!(state.surface(*id).unwrap().pixels_bgra().as_ptr(), ptr);
        }
        dec.observe(&ev);
        dec.recycle(&mut p);
        ev
    }
    let mut run = |m: &DisplayServer, allocated: bool| run(&mut dec, &mut state, m, allocated);
    let primary = surface_flags::PRIMARY;
    assert!(errors(&run(&create(0, 64, 64, surface_fmt::XRGB32, primary), true)).is_empty());
    // Creates the state refuses get nothing: a live id, over the budget, a bad format.
    assert_eq!(
        errors(&run(&create(0, 8, 8, surface_fmt::XRGB32, 0), false)),
        ["duplicate_surface"]
    );
    assert_eq!(
        errors(&run(&create(1, 64, 65, surface_fmt::XRGB32, 0), false)),
        ["surface_budget"]
    );
    assert_eq!(errors(&run(&create(1, 8, 8, 12345, 0), false)), ["bad_surface_format"]);
    // A new primary replaces the old one: its bytes do not count.
    let ev = run(&create(2, 64, 100, surface_fmt::XRGB32, primary), true);
    assert_eq!(ev[0], DisplayEvent::SurfaceDestroyed { id: 0 });
    // MODE creates a primary surface too.
    run(&DisplayServer::SurfaceDestroy { surface_id: 2 }, false);
    assert!(
        errors(&run(
            &DisplayServer::Mode {
                x_res: 32,
                y_res: 16,
                bits: 32
            },
            true
        ))
        .is_empty()
    );
    assert_eq!(state.primary().unwrap().1.dims(), (32, 16));
}
