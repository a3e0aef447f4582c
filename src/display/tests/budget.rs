//! The session's memory budget as the display channel uses it: surfaces
//! and decoded images are counted, refused when they do not fit (the
//! channel goes on), and given back.

use super::*;
use crate::budget::MemoryBudget;

fn coded(id: u64, ty: u8, image_flags: u8, width: u32, height: u32, kind: ImageKind) -> Image {
    Image {
        descriptor: ImageDescriptor {
            id,
            image_type: ty,
            flags: image_flags,
            width,
            height,
        },
        kind,
    }
}

const MIB: u64 = 1 << 20;

fn primary(s: &mut Pipeline, id: u32, w: u32, h: u32) -> Vec<DisplayEvent> {
    s.handle(&create(id, w, h, surface_fmt::XRGB32, surface_flags::PRIMARY))
}

#[test]
fn surfaces_count_against_the_session_budget_and_come_back() {
    let budget = MemoryBudget::new(MIB);
    let mut s = Pipeline::new(Limits::default()).with_budget(&budget);
    assert!(errors(&primary(&mut s, 0, 256, 256)).is_empty());
    assert_eq!(budget.used(), 256 * 256 * 4);
    // An off-screen surface that does not fit is refused; the primary stays.
    let ev = s.handle(&create(1, 512, 512, surface_fmt::XRGB32, 0));
    assert_eq!(errors(&ev), ["surface_budget"]);
    assert!(s.surface(1).is_none());
    assert_eq!(budget.used(), 256 * 256 * 4);
    // A new primary may use the old primary's bytes.
    assert!(errors(&primary(&mut s, 2, 400, 400)).is_empty());
    assert_eq!(budget.used(), 400 * 400 * 4);
    assert!(errors(&s.handle(&create(3, 100, 100, surface_fmt::XRGB32, 0))).is_empty());
    assert_eq!(budget.used(), 400 * 400 * 4 + 100 * 100 * 4);
    s.handle(&DisplayServer::SurfaceDestroy { surface_id: 3 });
    assert_eq!(budget.used(), 400 * 400 * 4);
    // The channel still draws.
    let ev = s.handle(&fill(2, Rect::ltrb(0, 0, 4, 4), Clip::None, RED, ropd::OP_PUT));
    assert!(errors(&ev).is_empty());
    assert_eq!(px(&s, 2, 1, 1), RED.to_le_bytes());
    drop(s);
    assert_eq!(budget.used(), 0, "everything given back");
    assert!(budget.peak() <= MIB);
}

#[test]
fn an_image_larger_than_what_is_left_is_refused_before_decoding() {
    let budget = MemoryBudget::new(MIB);
    let mut s = Pipeline::new(Limits::default()).with_budget(&budget);
    assert!(errors(&primary(&mut s, 0, 64, 64)).is_empty());
    // A QUIC image claiming 1024x1024 (4 MiB) with 4 KiB of data.
    let img = coded(1, image_type::QUIC, 0, 1024, 1024, ImageKind::Binary(vec![0x5a; 4096]));
    let ev = s.handle(&copy(
        0,
        Rect::ltrb(0, 0, 64, 64),
        Rect::ltrb(0, 0, 64, 64),
        Some(img),
        ropd::OP_PUT,
    ));
    assert_eq!(errors(&ev), ["over_budget"]);
    assert_eq!(budget.used(), 64 * 64 * 4, "the image's reservation is given back");
    assert_eq!(budget.refused(), 1);
}

#[test]
fn a_codec_header_larger_than_the_descriptor_allocates_nothing() {
    // A 2x2 descriptor over a QUIC header the codec would size larger: the
    // buffer is capped at the descriptor's bytes, so the codec fails first.
    let mut buf = crate::codec::ImageBuf {
        cap: Some((2, 2)),
        ..Default::default()
    };
    assert!(buf.reset("quic", 2, 2).is_ok());
    assert!(buf.reset("quic", 4096, 4096).is_err());
    assert!(buf.data.capacity() < 1024);
}

#[test]
fn the_image_cache_evicts_or_refuses_what_the_session_budget_cannot_hold() {
    use crate::display::cache::{ImageCache, ImageStats, StoreMode, Stored};
    let budget = MemoryBudget::new(100);
    let mut c = ImageCache::new(1000);
    c.attach_budget(&budget);
    let mut st = ImageStats::default();
    let mut store = |c: &mut ImageCache, id, (w, h)| c.store(id, (w, h), false, false, StoreMode::Add, &mut st, |_| {});
    assert_eq!(store(&mut c, 1, (4, 4)), Stored::Yes);
    assert_eq!(store(&mut c, 2, (3, 3)), Stored::Yes);
    assert_eq!(budget.used(), 64 + 36);
    // The cache's own budget (1000) has room; the session's does not: the
    // least recently used entry goes.
    assert_eq!(store(&mut c, 3, (2, 2)), Stored::Yes);
    assert!(!c.contains(1) && c.contains(2) && c.contains(3));
    assert_eq!(budget.used(), 36 + 16);
    // Larger than the whole session budget: refused, the others stay.
    assert_eq!(store(&mut c, 4, (6, 6)), Stored::Refused);
    assert!(c.contains(2) && c.contains(3));
    assert_eq!(budget.used(), 52);
    c.invalidate(2);
    assert_eq!(budget.used(), 16);
    c.clear();
    assert_eq!(budget.used(), 0);
    assert!(budget.peak() <= 100);
}

#[test]
fn palettes_count_against_the_session_budget() {
    use crate::display::bitmap::PaletteCache;
    let budget = MemoryBudget::new(1000);
    let mut p = PaletteCache::default();
    p.attach_budget(&budget);
    p.insert(1, &[0; 200]);
    assert_eq!(budget.used(), 800);
    // 800 more bytes do not fit: not kept.
    p.insert(2, &[0; 200]);
    assert!(p.get(2).is_none());
    // Replacing an id gives its bytes back first.
    p.insert(1, &[7; 100]);
    assert_eq!((budget.used(), p.get(1).map(<[u32]>::len)), (400, Some(100)));
    p.remove(1);
    assert_eq!(budget.used(), 0);
    p.insert(3, &[0; 10]);
    p.clear();
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_display_channel_with_the_session_budget_gives_everything_back() {
    let budget = MemoryBudget::new(MIB);
    let mut s = Pipeline::new(Limits::default()).with_budget(&budget);
    assert!(errors(&primary(&mut s, 0, 64, 64)).is_empty());
    // Cached images until the budget is full: the oldest are evicted, the
    // draws still land, and the process holds no more than the budget.
    for id in 1..40u64 {
        let data = 0xff00_00ffu32.to_le_bytes().repeat(128 * 128);
        let mut img = bitmap(
            crate::proto::channel::display::bitmap_fmt::BIT32,
            crate::proto::channel::display::bitmap_flags::TOP_DOWN,
            128,
            128,
            512,
            PaletteRef::None,
            data,
        );
        img.descriptor.id = id;
        img.descriptor.flags = crate::proto::channel::display::image_flags::CACHE_ME;
        let ev = s.handle(&copy(
            0,
            Rect::ltrb(0, 0, 64, 64),
            Rect::ltrb(0, 0, 64, 64),
            Some(img),
            ropd::OP_PUT,
        ));
        assert!(errors(&ev).is_empty(), "{id}: {:?}", errors(&ev));
        assert!(budget.used() <= MIB);
    }
    assert!(budget.used() > 64 * 64 * 4, "the cache is counted");
    drop(s);
    assert_eq!(budget.used(), 0, "everything given back");
    assert!(budget.peak() <= MIB);
}
