//! Packed image cache entries: aged few-colour entries are kept as palette
//! indices and still draw exactly the pixels they were stored with.

use super::*;
use crate::display::cache::{ImageCache, ImageStats, Lookup, StoreMode};
use crate::proto::channel::display::{bitmap_flags, bitmap_fmt as fmt, image_flags as flags};

/// A w×h top-down 32-bit BITMAP whose pixel (x, y) is `colours[(x·7 + y·3 + seed) % n]`.
fn pattern(id: u64, w: u32, h: u32, colours: &[u32], seed: usize) -> Image {
    let mut data = Vec::new();
    for y in 0..h as usize {
        for x in 0..w as usize {
            data.extend_from_slice(&colours[(x * 7 + y * 3 + seed) % colours.len()].to_le_bytes());
        }
    }
    let mut img = bitmap(fmt::BIT32, bitmap_flags::TOP_DOWN, w, h, w * 4, PaletteRef::None, data);
    img.descriptor.id = id;
    img.descriptor.flags = flags::CACHE_ME;
    img
}

fn from_cache(id: u64, w: u32, h: u32) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id,
            image_type: image_type::FROM_CACHE,
            flags: 0,
            width: w,
            height: h,
        },
        kind: ImageKind::NoData,
    }
}

fn draw(s: &mut Pipeline, img: Image, x: i32, y: i32) {
    let (w, h) = (img.descriptor.width as i32, img.descriptor.height as i32);
    let ev = s.handle(&copy(
        0,
        Rect::ltrb(x, y, x + w, y + h),
        Rect::ltrb(0, 0, w, h),
        Some(img),
        ropd::OP_PUT,
    ));
    assert!(errors(&ev).is_empty(), "{ev:?}");
}

fn pixels(s: &DisplayState) -> Vec<u8> {
    s.surface(0).unwrap().to_rgb()
}

#[test]
fn old_entries_are_packed_and_draw_the_same_pixels() {
    let two = [0x00ff_ffff, 0];
    let many: Vec<u32> = (0..40).map(|i| 0x0001_0305 * i).collect();
    let mut s = state(0, 64, 64);
    s.image_cache().set_full_size_limit(3 * 16 * 8 * 4);
    let mut reference = state(0, 64, 64);
    // 16×8 entries: ids 0..6 two colours, id 6 forty colours, then more two-colour ones.
    for id in 0..10u64 {
        let colours: &[u32] = if id == 6 { &many } else { &two };
        for st in [&mut s, &mut reference] {
            draw(st, pattern(id, 16, 8, colours, id as usize), 0, 0);
        }
    }
    {
        let c = s.image_cache();
        assert!(c.packed_count() >= 6, "{}", c.packed_count());
        assert!(c.peek(0).unwrap().is_packed());
        assert!(!c.peek(6).unwrap().is_packed(), "40 colours stay full size");
        assert!(!c.peek(9).unwrap().is_packed(), "the newest stay full size");
        assert_eq!(c.used_bytes(), 10 * 16 * 8 * 4, "the server's accounting is unchanged");
        assert!(c.memory_bytes() < c.used_bytes() / 2);
        // A packed entry unpacks to what was stored.
        let mut expected = Vec::new();
        for y in 0..8usize {
            for x in 0..16usize {
                expected.extend_from_slice(&opaque(two[(x * 7 + y * 3) % 2]));
            }
        }
        assert_eq!(c.peek(0).unwrap().data(), expected);
    }
    // Every entry drawn from the cache, at several places: same pixels as
    // the cache that kept everything at full size.
    reference.image_cache().set_full_size_limit(u64::MAX);
    for id in 0..10u64 {
        for st in [&mut s, &mut reference] {
            draw(st, from_cache(id, 16, 8), (id as i32 * 5) % 50, (id as i32 * 3) % 56);
        }
        assert_eq!(pixels(&s), pixels(&reference), "entry {id}");
    }
    assert_eq!(reference.image_cache().packed_count(), 0);
}

#[test]
fn a_recently_used_entry_stays_full_size() {
    let mut stats = ImageStats::default();
    let mut c = ImageCache::new(1 << 20);
    c.set_full_size_limit(2 * 64);
    let fill = |out: &mut [u8]| {
        out.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = if i % 8 < 4 { 0 } else { 255 })
    };
    c.store(1, (4, 4), false, false, StoreMode::Add, &mut stats, fill);
    c.store(2, (4, 4), false, false, StoreMode::Add, &mut stats, fill);
    // Entry 1 is used: the next store packs entry 2, the least recently used.
    assert_eq!(c.lookup(1, false), Lookup::Hit);
    c.store(3, (4, 4), false, false, StoreMode::Add, &mut stats, fill);
    assert!(!c.peek(1).unwrap().is_packed());
    assert!(c.peek(2).unwrap().is_packed());
    assert!(!c.peek(3).unwrap().is_packed());
    // Invalidation, replacement and clearing keep the memory count right.
    let full = c.memory_bytes();
    assert!(c.invalidate(2));
    assert_eq!(
        c.memory_bytes(),
        full - 4,
        "a packed 4×4 two-colour entry takes 4 bytes"
    );
    c.store(1, (4, 4), false, false, StoreMode::Replace, &mut stats, fill);
    assert_eq!(
        c.memory_bytes(),
        full - 4,
        "a packed 4×4 two-colour entry takes 4 bytes"
    );
    c.clear();
    assert_eq!((c.memory_bytes(), c.used_bytes()), (0, 0));
}

#[test]
fn random_cache_traffic_with_packing_draws_like_without() {
    let palettes: [&[u32]; 3] = [&[RED, GREEN], &[RED, GREEN, BLUE, 0x0012_3456, 0], &[0x00ab_cdef]];
    let mut packed = state_with_budget(4000);
    packed.image_cache().set_full_size_limit(300);
    let mut full = state_with_budget(4000);
    full.image_cache().set_full_size_limit(u64::MAX);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for step in 0..2000 {
        let id = rng.next() % 16;
        let (w, h) = (1 + (rng.next() % 9) as u32, 1 + (rng.next() % 9) as u32);
        let (x, y) = (rng.range(0, 24), rng.range(0, 24));
        let msg = match rng.next() % 5 {
            0 | 1 => {
                let img = pattern(id, w, h, palettes[(rng.next() % 3) as usize], step);
                copy(
                    0,
                    Rect::ltrb(x, y, x + w as i32, y + h as i32),
                    Rect::ltrb(0, 0, w as i32, h as i32),
                    Some(img),
                    ropd::OP_PUT,
                )
            }
            2 | 3 => {
                // Whatever size the entry has: the draw fails the same way in both when it differs.
                copy(
                    0,
                    Rect::ltrb(x, y, x + w as i32, y + h as i32),
                    Rect::ltrb(0, 0, w as i32, h as i32),
                    Some(from_cache(id, w, h)),
                    ropd::OP_PUT,
                )
            }
            _ => DisplayServer::InvalList(vec![crate::proto::channel::display::ResourceId {
                resource_type: crate::display::RES_TYPE_PIXMAP,
                id,
            }]),
        };
        assert_eq!(packed.handle(&msg), full.handle(&msg), "step {step}");
        assert_eq!(pixels(&packed), pixels(&full), "step {step}");
        assert_eq!(packed.image_cache().used_bytes(), full.image_cache().used_bytes());
    }
    assert!(packed.image_cache().packed_count() > 100);
    assert!(packed.stats().images.cache_hits > 100);
}

fn state_with_budget(bytes: u64) -> Pipeline {
    let mut s = Pipeline::new(Limits {
        image_cache_bytes: bytes,
        ..Limits::default()
    });
    s.handle(&create(0, 32, 32, surface_fmt::XRGB32, surface_flags::PRIMARY));
    s
}

#[test]
fn aged_photos_keep_their_encoded_image_and_draw_the_same_pixels() {
    use crate::codec::lz::LzType;
    let (w, h) = (24u32, 16u32);
    // 24 colours across (not packable), the same on every row (compresses well).
    let photo = |seed: u32| -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let x = i % w;
                [(x * 9 + seed) as u8, (x * 13 + seed * 3) as u8, (x * 5) as u8, 0]
            })
            .collect()
    };
    let mut s = state(0, 64, 64);
    s.image_cache().set_full_size_limit(u64::from(w * h * 4) * 2);
    let mut reference = state(0, 64, 64);
    reference.image_cache().set_full_size_limit(u64::MAX);
    for id in 0..6u64 {
        let px = photo(id as u32);
        let (ty, data) = match id % 3 {
            0 => (
                image_type::QUIC,
                crate::codec::quic::encode::encode_for_tests(crate::codec::quic::ImageType::Rgb32, w, h, &px).unwrap(),
            ),
            1 => (
                image_type::LZ_RGB,
                crate::codec::lz::encode::encode(LzType::Rgb32, w, h, true, &px).unwrap(),
            ),
            // BITMAP: no encoded form to keep.
            _ => (image_type::BITMAP, Vec::new()),
        };
        let img = if ty == image_type::BITMAP {
            let mut b = bitmap(fmt::BIT32, bitmap_flags::TOP_DOWN, w, h, w * 4, PaletteRef::None, px);
            b.descriptor.id = id;
            b.descriptor.flags = flags::CACHE_ME | flags::HIGH_BITS_SET;
            b
        } else {
            Image {
                descriptor: ImageDescriptor {
                    id,
                    image_type: ty,
                    flags: flags::CACHE_ME | flags::HIGH_BITS_SET,
                    width: w,
                    height: h,
                },
                kind: ImageKind::Binary(data),
            }
        };
        for st in [&mut s, &mut reference] {
            draw(st, img.clone(), 0, 0);
        }
    }
    {
        let c = s.image_cache();
        assert!(
            c.peek(0).unwrap().is_encoded(),
            "an aged QUIC photo keeps its QUIC data"
        );
        assert!(c.peek(1).unwrap().is_encoded(), "an aged LZ photo keeps its LZ data");
        assert!(
            !c.peek(2).unwrap().is_encoded() && !c.peek(2).unwrap().is_packed(),
            "a BITMAP photo stays"
        );
        assert!(!c.peek(5).unwrap().is_encoded(), "the newest stay full size");
        assert_eq!(
            c.peek(0).unwrap().data(),
            reference.image_cache().peek(0).unwrap().data()
        );
        assert!(c.memory_bytes() < reference.image_cache().memory_bytes());
        assert_eq!(c.used_bytes(), reference.image_cache().used_bytes());
    }
    for id in 0..6u64 {
        for st in [&mut s, &mut reference] {
            draw(st, from_cache(id, w, h), (id as i32 * 7) % 40, (id as i32 * 5) % 48);
        }
        assert_eq!(pixels(&s), pixels(&reference), "entry {id}");
    }
}
