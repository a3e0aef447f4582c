//! Image sources: the image cache (CACHE_ME, CACHE_REPLACE_ME, FROM_CACHE,
//! FROM_CACHE_LOSSLESS, INVAL_LIST, INVAL_ALL_PIXMAPS, budget), palette
//! cache use by LZ_PLT, compressed images through the codecs, descriptor
//! size checks and SURFACE sources.

use super::*;
use crate::codec::lz::LzType;
use crate::display::cache::{Lookup, SharedImageCache, StoreMode, Stored};
use crate::proto::channel::display::{ResourceId, bitmap_flags, bitmap_fmt as fmt, image_flags as flags};

/// A w×h top-down 32-bit BITMAP of one colour, with descriptor `id` and `flags`.
fn solid(id: u64, image_flags: u8, w: u32, h: u32, color: u32) -> Image {
    let data = color.to_le_bytes().repeat((w * h) as usize);
    let mut img = bitmap(fmt::BIT32, bitmap_flags::TOP_DOWN, w, h, w * 4, PaletteRef::None, data);
    img.descriptor.id = id;
    img.descriptor.flags = image_flags;
    img
}

/// An image with no data: FROM_CACHE or FROM_CACHE_LOSSLESS of `id`.
fn cached(id: u64, ty: u8, w: u32, h: u32) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id,
            image_type: ty,
            flags: 0,
            width: w,
            height: h,
        },
        kind: ImageKind::NoData,
    }
}

/// A compressed image of type `ty` with `kind`.
fn coded(id: u64, ty: u8, image_flags: u8, w: u32, h: u32, kind: ImageKind) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id,
            image_type: ty,
            flags: image_flags,
            width: w,
            height: h,
        },
        kind,
    }
}

/// DRAW_COPY of the whole `img` (w×h) to (x, y) of surface 0.
fn draw_at(s: &mut Pipeline, img: Image, x: i32, y: i32) -> Vec<DisplayEvent> {
    let (w, h) = (img.descriptor.width as i32, img.descriptor.height as i32);
    s.handle(&copy(
        0,
        Rect::ltrb(x, y, x + w, y + h),
        Rect::ltrb(0, 0, w, h),
        Some(img),
        ropd::OP_PUT,
    ))
}

fn inval(ids: &[(u8, u64)]) -> DisplayServer {
    DisplayServer::InvalList(
        ids.iter()
            .map(|&(resource_type, id)| ResourceId { resource_type, id })
            .collect(),
    )
}

fn limits_with_cache(bytes: u64) -> Limits {
    Limits {
        image_cache_bytes: bytes,
        ..Limits::default()
    }
}

fn state_with(limits: Limits, w: u32, h: u32) -> Pipeline {
    let mut s = Pipeline::new(limits);
    s.handle(&create(0, w, h, surface_fmt::XRGB32, surface_flags::PRIMARY));
    s
}

#[test]
fn from_cache_after_cache_me() {
    let mut s = state(0, 8, 2);
    assert!(errors(&draw_at(&mut s, solid(10, flags::CACHE_ME, 2, 2, RED), 0, 0)).is_empty());
    assert_eq!(s.image_cache().len(), 1);
    assert_eq!(s.image_cache().used_bytes(), 16);
    let ev = draw_at(&mut s, cached(10, image_type::FROM_CACHE, 2, 2), 4, 0);
    assert_eq!(
        ev,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(4, 0, 6, 2)
        }]
    );
    assert_eq!(px(&s, 0, 5, 1), opaque(RED));
    assert_eq!(px(&s, 0, 3, 1), [0; 4]);
    // FROM_CACHE_LOSSLESS finds a lossless entry too
    assert!(
        errors(&draw_at(
            &mut s,
            cached(10, image_type::FROM_CACHE_LOSSLESS, 2, 2),
            6,
            0
        ))
        .is_empty()
    );
    assert_eq!(px(&s, 0, 7, 0), opaque(RED));
    let st = &s.stats().images;
    assert_eq!((st.cache_inserts, st.cache_hits, st.cache_misses), (1, 2, 0));
    assert_eq!(s.stats().draws_applied, 3);
}

#[test]
fn cached_bitmap_keeps_converted_pixels() {
    // a palettised bitmap is cached as the colours it was drawn with
    let mut s = state(0, 4, 1);
    let mut img = bitmap(
        fmt::BIT8,
        bitmap_flags::TOP_DOWN,
        2,
        1,
        2,
        inline_palette(&[GREEN, BLUE]),
        vec![1, 0],
    );
    img.descriptor.id = 3;
    img.descriptor.flags = flags::CACHE_ME;
    assert!(errors(&draw_at(&mut s, img, 0, 0)).is_empty());
    assert!(errors(&draw_at(&mut s, cached(3, image_type::FROM_CACHE, 2, 1), 2, 0)).is_empty());
    assert_eq!([px(&s, 0, 2, 0), px(&s, 0, 3, 0)], [opaque(BLUE), opaque(GREEN)]);
}

#[test]
fn missing_ids_drop_the_draw() {
    let mut s = state(0, 4, 4);
    s.handle(&put(0, Rect::ltrb(0, 0, 4, 4), GREEN));
    for ty in [image_type::FROM_CACHE, image_type::FROM_CACHE_LOSSLESS] {
        let ev = draw_at(&mut s, cached(99, ty, 2, 2), 0, 0);
        assert_eq!(errors(&ev), ["image_cache_missing"]);
    }
    assert_eq!(px(&s, 0, 0, 0), GREEN.to_le_bytes());
    let st = s.stats();
    assert_eq!(st.draws_dropped, 2);
    assert_eq!(st.images.cache_misses, 2);
    assert_eq!(st.errors_of("image_cache_missing"), 2);
    // inval of an unknown id is counted, nothing else happens
    assert!(s.handle(&inval(&[(RES_TYPE_PIXMAP, 99)])).is_empty());
    assert_eq!(s.stats().images.cache_inval_unknown, 1);
    // the channel goes on
    assert!(errors(&draw_at(&mut s, solid(1, 0, 1, 1, RED), 0, 0)).is_empty());
}

#[test]
fn replace_me_replaces_pixels_and_keeps_references() {
    let mut s = state(0, 4, 1);
    draw_at(&mut s, solid(5, flags::CACHE_ME, 1, 1, RED), 0, 0);
    let ev = draw_at(&mut s, solid(5, flags::CACHE_REPLACE_ME, 1, 1, GREEN), 1, 0);
    assert!(errors(&ev).is_empty());
    assert_eq!(px(&s, 0, 1, 0), opaque(GREEN));
    draw_at(&mut s, cached(5, image_type::FROM_CACHE, 1, 1), 2, 0);
    assert_eq!(px(&s, 0, 2, 0), opaque(GREEN));
    assert_eq!(s.stats().images.cache_replaces, 1);
    assert_eq!(s.image_cache().len(), 1);
    // one reference: one INVAL removes it
    s.handle(&inval(&[(RES_TYPE_PIXMAP, 5)]));
    assert!(s.image_cache().is_empty());
    assert_eq!(s.image_cache().used_bytes(), 0);
}

#[test]
fn cache_me_twice_needs_two_invals() {
    // like spice-gtk: every add is one reference (the same id may come
    // through several display channels)
    let mut s = state(0, 4, 1);
    draw_at(&mut s, solid(6, flags::CACHE_ME, 1, 1, RED), 0, 0);
    draw_at(&mut s, solid(6, flags::CACHE_ME, 1, 1, BLUE), 0, 0);
    assert_eq!(s.image_cache().used_bytes(), 4);
    s.handle(&inval(&[(RES_TYPE_PIXMAP, 6)]));
    assert!(s.image_cache().contains(6));
    draw_at(&mut s, cached(6, image_type::FROM_CACHE, 1, 1), 3, 0);
    assert_eq!(px(&s, 0, 3, 0), opaque(BLUE));
    s.handle(&inval(&[(RES_TYPE_PIXMAP, 6)]));
    assert!(!s.image_cache().contains(6));
}

#[test]
fn inval_list_and_inval_all() {
    let mut s = state(0, 4, 1);
    for id in 1..=3 {
        draw_at(&mut s, solid(id, flags::CACHE_ME, 1, 1, RED), 0, 0);
    }
    // pixmap 1 and an unknown id; a resource of another type is skipped
    s.handle(&inval(&[(RES_TYPE_PIXMAP, 1), (RES_TYPE_PIXMAP, 42), (2, 2)]));
    assert!(!s.image_cache().contains(1));
    assert!(s.image_cache().contains(2) && s.image_cache().contains(3));
    let st = &s.stats().images;
    assert_eq!((st.cache_invalidated, st.cache_inval_unknown), (1, 1));
    assert_eq!(
        errors(&draw_at(&mut s, cached(1, image_type::FROM_CACHE, 1, 1), 0, 0)),
        ["image_cache_missing"]
    );
    // INVAL_ALL_PIXMAPS (its wait list is the runtime's business)
    let wait = crate::proto::base::WaitForChannel {
        channel_type: 2,
        channel_id: 1,
        message_serial: 7,
    };
    assert!(s.handle(&DisplayServer::InvalAllPixmaps(vec![wait])).is_empty());
    assert!(s.image_cache().is_empty());
    assert_eq!(s.image_cache().used_bytes(), 0);
    assert_eq!(s.stats().images.cache_clears, 1);
    assert_eq!(
        errors(&draw_at(&mut s, cached(2, image_type::FROM_CACHE, 1, 1), 0, 0)),
        ["image_cache_missing"]
    );
    // the cache works again afterwards
    draw_at(&mut s, solid(2, flags::CACHE_ME, 1, 1, BLUE), 0, 0);
    assert!(errors(&draw_at(&mut s, cached(2, image_type::FROM_CACHE, 1, 1), 1, 0)).is_empty());
}

#[test]
fn budget_evicts_least_recently_used() {
    // room for two 2x2 images
    let mut s = state_with(limits_with_cache(32), 8, 2);
    draw_at(&mut s, solid(1, flags::CACHE_ME, 2, 2, RED), 0, 0);
    draw_at(&mut s, solid(2, flags::CACHE_ME, 2, 2, GREEN), 0, 0);
    // use 1, so 2 is the least recently used
    draw_at(&mut s, cached(1, image_type::FROM_CACHE, 2, 2), 0, 0);
    draw_at(&mut s, solid(3, flags::CACHE_ME, 2, 2, BLUE), 0, 0);
    let c = s.image_cache();
    assert!(c.contains(1) && !c.contains(2) && c.contains(3));
    assert_eq!((c.used_bytes(), c.budget()), (32, 32));
    drop(c);
    assert_eq!(s.stats().images.cache_evictions, 1);
    assert_eq!(
        errors(&draw_at(&mut s, cached(2, image_type::FROM_CACHE, 2, 2), 0, 0)),
        ["image_cache_missing"]
    );
    // an image larger than the whole budget is refused, but still drawn
    let ev = draw_at(&mut s, solid(4, flags::CACHE_ME, 3, 3, GREEN), 4, 0);
    assert!(errors(&ev).is_empty());
    assert_eq!(px(&s, 0, 6, 1), opaque(GREEN));
    assert!(!s.image_cache().contains(4));
    assert_eq!(s.stats().images.cache_refused, 1);
    // ...and older entries are left alone
    assert!(s.image_cache().contains(1) && s.image_cache().contains(3));
}

#[test]
fn refused_replacement_drops_the_stale_entry() {
    let mut s = state_with(limits_with_cache(16), 4, 4);
    draw_at(&mut s, solid(1, flags::CACHE_ME, 2, 2, RED), 0, 0);
    assert!(s.image_cache().contains(1));
    // the server thinks id 1 is now the 4x4 image: better a miss than stale pixels
    draw_at(&mut s, solid(1, flags::CACHE_ME, 4, 4, GREEN), 0, 0);
    assert!(!s.image_cache().contains(1));
    assert_eq!(s.image_cache().used_bytes(), 0);
}

#[test]
fn zero_budget_caches_nothing() {
    let mut s = state_with(limits_with_cache(0), 4, 4);
    assert!(errors(&draw_at(&mut s, solid(1, flags::CACHE_ME, 1, 1, RED), 0, 0)).is_empty());
    assert!(s.image_cache().is_empty());
    assert_eq!(s.stats().images.cache_refused, 1);
}

#[test]
fn lossy_entries_and_lossless_lookups() {
    // the cache itself: a lossy entry serves FROM_CACHE, not FROM_CACHE_LOSSLESS
    let mut stats = ImageStats::default();
    let mut c = ImageCache::new(1024);
    let stored = c.store(7, (1, 1), false, true, StoreMode::Add, &mut stats, |out| {
        out.copy_from_slice(&[1, 2, 3, 255])
    });
    assert_eq!(stored, Stored::Yes);
    assert!(c.peek(7).unwrap().lossy);
    assert_eq!(c.lookup(7, true), Lookup::Lossy);
    assert_eq!(c.lookup(7, false), Lookup::Hit);
    // CACHE_REPLACE_ME stores the lossless version, keeping the reference
    c.store(7, (1, 1), false, false, StoreMode::Replace, &mut stats, |out| {
        out.copy_from_slice(&[4, 5, 6, 255])
    });
    assert_eq!(c.lookup(7, true), Lookup::Hit);
    assert_eq!(c.peek(7).unwrap().data(), [4, 5, 6, 255]);
    assert!(c.invalidate(7));
    assert!(c.is_empty());

    // through the state: a lossy image may not be a CACHE_REPLACE_ME
    let mut s = state(0, 4, 4);
    for ty in [image_type::JPEG, image_type::JPEG_ALPHA] {
        let kind = if ty == image_type::JPEG {
            ImageKind::Binary(vec![0xff, 0xd8])
        } else {
            ImageKind::JpegAlpha {
                flags: 0,
                jpeg_size: 2,
                data: vec![0xff, 0xd8],
            }
        };
        let ev = draw_at(&mut s, coded(8, ty, flags::CACHE_REPLACE_ME, 2, 2, kind), 0, 0);
        assert_eq!(errors(&ev), ["image_cache_replace_lossy"]);
    }
    assert_eq!(s.stats().draws_dropped, 2);
}

#[test]
fn lz4_image_cached_and_reused() {
    let (w, h) = (3u32, 2u32);
    let pixels: Vec<u8> = (0..w * h)
        .flat_map(|i| [i as u8, 10 + i as u8, 20 + i as u8, 0x80])
        .collect();
    let data = crate::codec::lz4::encode(&pixels, (w * 4) as usize, 1, true, fmt::RGBA);
    let mut s = state(0, 8, 2);
    let img = coded(20, image_type::LZ4, flags::CACHE_ME, w, h, ImageKind::Binary(data));
    assert!(errors(&draw_at(&mut s, img, 0, 0)).is_empty());
    assert_eq!(px(&s, 0, 2, 1), [5, 15, 25, 0x80]);
    assert!(errors(&draw_at(&mut s, cached(20, image_type::FROM_CACHE, w, h), 4, 0)).is_empty());
    assert_eq!(px(&s, 0, 6, 1), [5, 15, 25, 0x80]);
    assert_eq!(px(&s, 0, 4, 0), [0, 10, 20, 0x80]);
    let st = &s.stats().images;
    assert_eq!((st.decoded, st.cache_inserts, st.cache_hits), (1, 1, 1));
}

#[test]
fn high_bits_set_makes_opaque() {
    // a 32BIT (xRGB) image whose unused byte is 0
    let pixels = [1u8, 2, 3, 0, 4, 5, 6, 0];
    let data = crate::codec::lz4::encode(&pixels, 8, 1, true, fmt::BIT32);
    let mut s = state(0, 2, 1);
    let img = coded(1, image_type::LZ4, flags::HIGH_BITS_SET, 2, 1, ImageKind::Binary(data));
    assert!(errors(&draw_at(&mut s, img, 0, 0)).is_empty());
    assert_eq!([px(&s, 0, 0, 0), px(&s, 0, 1, 0)], [[1, 2, 3, 0xff], [4, 5, 6, 0xff]]);
}

#[test]
fn lz_rgb_and_quic_images() {
    let (w, h) = (4u32, 3u32);
    let bgrx: Vec<u8> = (0..w * h)
        .flat_map(|i| [i as u8 * 3, i as u8 * 5, i as u8 * 7, 0])
        .collect();
    let expect = |i: u32| [i as u8 * 3, i as u8 * 5, i as u8 * 7, 0xff];
    let lz = crate::codec::lz::encode::encode(LzType::Rgb32, w, h, true, &bgrx).unwrap();
    let quic = crate::codec::quic::encode::encode_for_tests(crate::codec::quic::ImageType::Rgb32, w, h, &bgrx).unwrap();
    for (ty, data) in [(image_type::LZ_RGB, lz), (image_type::QUIC, quic)] {
        let mut s = state(0, w, h);
        let ev = draw_at(&mut s, coded(1, ty, 0, w, h, ImageKind::Binary(data)), 0, 0);
        assert!(errors(&ev).is_empty(), "type {ty}: {ev:?}");
        assert_eq!(px(&s, 0, 0, 0), expect(0), "type {ty}");
        assert_eq!(px(&s, 0, 3, 2), expect(11), "type {ty}");
        assert_eq!(s.stats().images.decoded, 1);
    }
}

#[test]
fn lz_plt_with_inline_and_cached_palette() {
    let (w, h) = (4u32, 1u32);
    let data = crate::codec::lz::encode::encode(LzType::Plt8, w, h, true, &[0, 1, 1, 0]).unwrap();
    let lz_plt = |palette: PaletteRef, pflags: u8| {
        coded(
            1,
            image_type::LZ_PLT,
            0,
            w,
            h,
            ImageKind::LzPalette {
                flags: pflags,
                palette,
                data: data.clone(),
            },
        )
    };
    let mut s = state(0, 4, 2);
    // inline palette 77, stored
    let ev = draw_at(
        &mut s,
        lz_plt(inline_palette(&[RED, GREEN]), bitmap_flags::PAL_CACHE_ME),
        0,
        0,
    );
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(s.decoder().palettes.len(), 1);
    assert_eq!(px(&s, 0, 1, 0), opaque(GREEN));
    // then the cached palette
    let ev = draw_at(
        &mut s,
        lz_plt(PaletteRef::Cached(77), bitmap_flags::PAL_FROM_CACHE),
        0,
        1,
    );
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(
        (0..4).map(|x| px(&s, 0, x, 1)).collect::<Vec<_>>(),
        [opaque(RED), opaque(GREEN), opaque(GREEN), opaque(RED)]
    );
    // INVAL_PALETTE and INVAL_ALL_PALETTES are wired
    s.handle(&DisplayServer::InvalPalette { id: 77 });
    let ev = draw_at(
        &mut s,
        lz_plt(PaletteRef::Cached(77), bitmap_flags::PAL_FROM_CACHE),
        0,
        1,
    );
    assert_eq!(errors(&ev), ["palette_missing"]);
    draw_at(
        &mut s,
        lz_plt(inline_palette(&[RED, GREEN]), bitmap_flags::PAL_CACHE_ME),
        0,
        0,
    );
    assert_eq!(s.decoder().palettes.len(), 1);
    s.handle(&DisplayServer::InvalAllPalettes);
    assert_eq!(s.decoder().palettes.len(), 0);
}

#[test]
fn lz_plt_on_a_555_surface_widens_the_palette() {
    let data = crate::codec::lz::encode::encode(LzType::Plt8, 2, 1, true, &[0, 1]).unwrap();
    let mut s = state(0, 1, 1);
    s.handle(&create(1, 2, 1, surface_fmt::RGB16_555, 0));
    let img = coded(
        1,
        image_type::LZ_PLT,
        0,
        2,
        1,
        ImageKind::LzPalette {
            flags: 0,
            palette: inline_palette(&[0x7c00, 0x001f]),
            data,
        },
    );
    let ev = s.handle(&DisplayServer::DrawCopy {
        base: base(1, Rect::ltrb(0, 0, 2, 1), Clip::None),
        copy: CopyOp {
            src_bitmap: Some(img),
            src_area: Rect::ltrb(0, 0, 2, 1),
            rop_descriptor: ropd::OP_PUT,
            scale_mode: 0,
            mask: QMask::default(),
        },
    });
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(px(&s, 1, 0, 0), [0, 0, 0xff, 0xff]);
    assert_eq!(px(&s, 1, 1, 0), [0xff, 0, 0, 0xff]);
}

#[test]
fn descriptor_size_mismatch_is_counted() {
    let mut s = state(0, 4, 4);
    // bitmap 2x2 under a 3x2 descriptor
    let mut img = solid(1, flags::CACHE_ME, 2, 2, RED);
    img.descriptor.width = 3;
    let ev = draw_at(&mut s, img, 0, 0);
    assert_eq!(errors(&ev), ["image_size_mismatch"]);
    assert!(s.image_cache().is_empty());
    // an LZ stream of 2x1 under a 1x1 descriptor
    let data = crate::codec::lz::encode::encode(LzType::Rgb32, 2, 1, true, &[0; 8]).unwrap();
    let ev = draw_at(
        &mut s,
        coded(2, image_type::LZ_RGB, flags::CACHE_ME, 1, 1, ImageKind::Binary(data)),
        0,
        0,
    );
    assert_eq!(errors(&ev), ["image_size_mismatch"]);
    assert!(s.image_cache().is_empty());
    assert_eq!(s.stats().errors_of("image_size_mismatch"), 2);
    assert_eq!(s.stats().draws_dropped, 2);
    assert_eq!(px(&s, 0, 0, 0), [0; 4]);
}

#[test]
fn codec_errors_are_counted_not_fatal() {
    let mut s = state(0, 4, 4);
    let garbage = vec![0xa5u8; 40];
    let images = [
        coded(1, image_type::QUIC, 0, 2, 2, ImageKind::Binary(garbage.clone())),
        coded(1, image_type::LZ_RGB, 0, 2, 2, ImageKind::Binary(garbage.clone())),
        coded(1, image_type::GLZ_RGB, 0, 2, 2, ImageKind::Binary(garbage.clone())),
        coded(1, image_type::LZ4, 0, 2, 2, ImageKind::Binary(garbage.clone())),
        coded(1, image_type::JPEG, 0, 2, 2, ImageKind::Binary(garbage.clone())),
        coded(
            1,
            image_type::ZLIB_GLZ_RGB,
            0,
            2,
            2,
            ImageKind::ZlibGlz {
                glz_data_size: 100,
                data: garbage.clone(),
            },
        ),
        coded(
            1,
            image_type::JPEG_ALPHA,
            0,
            2,
            2,
            ImageKind::JpegAlpha {
                flags: 0,
                jpeg_size: 20,
                data: garbage.clone(),
            },
        ),
        coded(
            1,
            image_type::LZ_PLT,
            0,
            2,
            2,
            ImageKind::LzPalette {
                flags: 0,
                palette: inline_palette(&[RED]),
                data: garbage.clone(),
            },
        ),
    ];
    let n = images.len() as u64;
    for img in images {
        let ty = img.descriptor.image_type;
        let ev = draw_at(&mut s, img, 0, 0);
        let e = errors(&ev);
        assert_eq!(e.len(), 1, "type {ty}: {ev:?}");
        assert!(
            ["codec_error", "codec_unsupported", "image_size_mismatch", "glz_missing"].contains(&e[0]),
            "type {ty}: {ev:?}"
        );
    }
    // a codec that is not there yet is one of these errors as well
    assert_eq!(
        ImageError::Codec(crate::codec::CodecError::Unsupported { codec: "x" }).kind(),
        "codec_unsupported"
    );
    // a descriptor beyond the decoder limits fails before allocating
    let ev = draw_at(
        &mut s,
        coded(1, image_type::LZ4, 0, 100_000, 2, ImageKind::Binary(vec![])),
        0,
        0,
    );
    assert_eq!(errors(&ev), ["image_too_large"]);
    // unknown types, and data not matching the type
    let ev = draw_at(&mut s, coded(1, image_type::RESERVED, 0, 2, 2, ImageKind::NoData), 0, 0);
    assert_eq!(errors(&ev), ["unsupported_image_type"]);
    let ev = draw_at(&mut s, coded(1, image_type::QUIC, 0, 2, 2, ImageKind::NoData), 0, 0);
    assert_eq!(errors(&ev), ["bad_image"]);
    assert_eq!(s.stats().draws_dropped, n + 3);
    assert_eq!(px(&s, 0, 0, 0), [0; 4]);
    // still drawing
    assert!(errors(&draw_at(&mut s, solid(1, 0, 1, 1, RED), 0, 0)).is_empty());
}

#[test]
fn surface_source() {
    let mut s = state(0, 4, 4);
    s.handle(&create(1, 2, 2, surface_fmt::XRGB32, 0));
    s.handle(&put(1, Rect::ltrb(0, 0, 2, 2), BLUE));
    s.handle(&put(1, Rect::ltrb(1, 1, 2, 2), RED));
    let img = coded(
        0,
        image_type::SURFACE,
        flags::CACHE_ME,
        2,
        2,
        ImageKind::Surface { surface_id: 1 },
    );
    // the lower-right pixel of surface 1 to (3, 3)
    let ev = s.handle(&copy(
        0,
        Rect::ltrb(3, 3, 4, 4),
        Rect::ltrb(1, 1, 2, 2),
        Some(img.clone()),
        ropd::OP_PUT,
    ));
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(px(&s, 0, 3, 3), RED.to_le_bytes());
    assert_eq!(px(&s, 0, 2, 2), [0; 4]);
    // surfaces are never put in the image cache
    assert!(s.image_cache().is_empty());
    s.handle(&DisplayServer::SurfaceDestroy { surface_id: 1 });
    let ev = draw_at(&mut s, img, 0, 0);
    assert_eq!(errors(&ev), ["no_such_surface"]);
}

#[test]
fn glz_through_a_shared_window() {
    use crate::codec::glz::GlzWindow;
    use std::sync::Arc;
    let window = Arc::new(GlzWindow::new(1 << 20));
    let mut s = Pipeline::with_glz(Limits::default(), Arc::clone(&window));
    s.handle(&create(0, 2, 2, surface_fmt::XRGB32, surface_flags::PRIMARY));
    let pixels: Vec<u8> = (0..4u8).flat_map(|i| [i, i, i, 0]).collect();
    let mut enc = crate::codec::glz::encode::GlzEncoder::new(1 << 18);
    let data = enc.encode(LzType::Rgb32, 2, 2, true, &pixels).unwrap();
    let img = coded(1, image_type::GLZ_RGB, 0, 2, 2, ImageKind::Binary(data));
    let ev = draw_at(&mut s, img, 0, 0);
    assert!(errors(&ev).is_empty(), "{ev:?}");
    assert_eq!(px(&s, 0, 1, 1), [3, 3, 3, 0xff]);
}

#[test]
fn random_cache_traffic_stays_within_budget() {
    let budget = 200;
    let mut s = state_with(limits_with_cache(budget), 8, 8);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let id = rng.next() % 12;
        let (w, h) = (1 + (rng.next() % 5) as u32, 1 + (rng.next() % 5) as u32);
        match rng.next() % 6 {
            0 | 1 => {
                let f = [flags::CACHE_ME, flags::CACHE_REPLACE_ME][(rng.next() % 2) as usize];
                draw_at(&mut s, solid(id, f, w, h, RED), 0, 0);
            }
            2 => {
                draw_at(&mut s, cached(id, image_type::FROM_CACHE, w, h), 0, 0);
            }
            3 => {
                draw_at(&mut s, cached(id, image_type::FROM_CACHE_LOSSLESS, w, h), 0, 0);
            }
            4 => {
                s.handle(&inval(&[(RES_TYPE_PIXMAP, id), (RES_TYPE_PIXMAP, rng.next() % 12)]));
            }
            _ => {
                if rng.next().is_multiple_of(20) {
                    s.handle(&DisplayServer::InvalAllPixmaps(vec![]));
                }
            }
        }
        let c = s.image_cache();
        assert!(c.used_bytes() <= budget);
        let sum: u64 = (0..12).filter_map(|i| c.peek(i)).map(|e| e.data().len() as u64).sum();
        assert_eq!(sum, c.used_bytes());
    }
    assert!(s.stats().images.cache_hits > 0 && s.stats().images.cache_evictions > 0);
}

#[test]
fn masks_are_cached_as_black_and_white() {
    use crate::proto::channel::display::{Point, mask_flags};
    let mut s = state(0, 3, 1);
    let mut img = bitmap(
        fmt::BIT1_BE,
        bitmap_flags::TOP_DOWN,
        3,
        1,
        1,
        PaletteRef::None,
        vec![0b1010_0000],
    );
    img.descriptor.id = 4;
    img.descriptor.flags = flags::CACHE_ME;
    // WHITENESS through a mask: only the set bits are painted.
    let whiteness = |mask: Image, invert: bool| DisplayServer::DrawWhiteness {
        base: base(0, Rect::ltrb(0, 0, 3, 1), Clip::None),
        mask: QMask {
            flags: if invert { mask_flags::INVERS } else { 0 },
            pos: Point { x: 0, y: 0 },
            bitmap: Some(mask),
        },
    };
    let row = |s: &Pipeline| (0..3).map(|x| px(s, 0, x, 0)[0]).collect::<Vec<_>>();
    let clear = |s: &mut Pipeline| s.handle(&put(0, Rect::ltrb(0, 0, 3, 1), 0));
    assert!(errors(&s.handle(&whiteness(img, false))).is_empty());
    assert_eq!(row(&s), [0xff, 0, 0xff]);
    // Cached as a set-is-white bitmap, not inverted.
    let white = [0xff; 4];
    let black = [0, 0, 0, 0xff];
    assert_eq!(s.image_cache().peek(4).unwrap().data(), [white, black, white].concat());
    // FROM_CACHE masks, plain and inverted.
    clear(&mut s);
    assert!(errors(&s.handle(&whiteness(cached(4, image_type::FROM_CACHE, 3, 1), false))).is_empty());
    assert_eq!(row(&s), [0xff, 0, 0xff]);
    clear(&mut s);
    assert!(errors(&s.handle(&whiteness(cached(4, image_type::FROM_CACHE, 3, 1), true))).is_empty());
    assert_eq!(row(&s), [0, 0xff, 0]);
    let ev = s.handle(&whiteness(cached(5, image_type::FROM_CACHE_LOSSLESS, 3, 1), false));
    assert_eq!(errors(&ev), ["image_cache_missing"]);
    // other formats and types are not masks
    let ev = s.handle(&whiteness(solid(6, 0, 1, 1, RED), false));
    assert_eq!(errors(&ev), ["unsupported_bitmap_format"]);
    let quic = coded(7, image_type::QUIC, 0, 1, 1, ImageKind::Binary(vec![]));
    assert_eq!(errors(&s.handle(&whiteness(quic, false))), ["unsupported_image_type"]);
    assert_eq!((s.stats().images.cache_hits, s.stats().images.cache_misses), (2, 1));
}

#[test]
fn display_channels_of_a_session_share_one_image_cache() {
    use crate::codec::glz::GlzWindow;
    use std::sync::Arc;
    let window = Arc::new(GlzWindow::new(1 << 20));
    let cache = SharedImageCache::new(1 << 20);
    let mut a = Pipeline::with_shared(Limits::default(), Arc::clone(&window), cache.clone());
    let mut b = Pipeline::with_shared(Limits::default(), window, cache.clone());
    for s in [&mut a, &mut b] {
        s.handle(&create(0, 4, 2, surface_fmt::XRGB32, surface_flags::PRIMARY));
    }
    // CACHE_ME through channel A, FROM_CACHE through channel B
    assert!(errors(&draw_at(&mut a, solid(7, flags::CACHE_ME, 2, 2, RED), 0, 0)).is_empty());
    assert!(errors(&draw_at(&mut b, cached(7, image_type::FROM_CACHE, 2, 2), 2, 0)).is_empty());
    assert_eq!(px(&b, 0, 3, 1), opaque(RED));
    assert_eq!(px(&b, 0, 1, 1), [0; 4]);
    assert_eq!(b.stats().images.cache_hits, 1);
    assert!(cache.lock().contains(7));
    // the last reference dropped through B is gone for A too
    b.handle(&inval(&[(RES_TYPE_PIXMAP, 7)]));
    assert!(a.image_cache().is_empty());
    let ev = draw_at(&mut a, cached(7, image_type::FROM_CACHE, 2, 2), 0, 0);
    assert_eq!(errors(&ev), ["image_cache_missing"]);
    // INVAL_ALL_PIXMAPS on one channel clears the session's cache
    assert!(errors(&draw_at(&mut b, solid(8, flags::CACHE_ME, 1, 1, RED), 0, 0)).is_empty());
    a.handle(&DisplayServer::InvalAllPixmaps(Vec::new()));
    assert!(b.image_cache().is_empty());
}
