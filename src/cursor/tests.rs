//! Hand-computed pixels for every cursor type, and the cache rules.

use super::*;
use crate::proto::channel::cursor::{CursorInit, CursorSet};
use crate::proto::channel::display::Point16;

const T: [u8; 4] = [0, 0, 0, 0];
const K: [u8; 4] = [0, 0, 0, 0xff];
const W: [u8; 4] = [0xff, 0xff, 0xff, 0xff];

fn header(ty: CursorType, w: u16, h: u16, unique: u64) -> CursorHeader {
    CursorHeader {
        unique,
        cursor_type: ty.to_wire(),
        width: w,
        height: h,
        hot_spot_x: 1,
        hot_spot_y: 0,
    }
}

fn pixels(s: &CursorShape) -> Vec<[u8; 4]> {
    s.rgba.chunks_exact(4).map(|p| [p[0], p[1], p[2], p[3]]).collect()
}

#[test]
fn alpha_is_argb_little_endian() {
    // Two pixels: 0x80112233 (premultiplied) and 0xff000000.
    let data = [0x33, 0x22, 0x11, 0x80, 0, 0, 0, 0xff];
    let s = decode_shape(&header(CursorType::Alpha, 2, 1, 1), &data).unwrap();
    assert_eq!(pixels(&s), vec![[0x22, 0x44, 0x66, 0x80], K]);
    assert_eq!((s.hot_x, s.hot_y), (1, 0));
    assert_eq!(s.pixel(1, 0), Some(K));
    assert_eq!(s.pixel(2, 0), None);
}

#[test]
fn alpha_colour_is_unpremultiplied() {
    // Premultiplied 0x4d4b4b4b (what Xspice sends for a translucent white
    // edge), fully transparent with stray colour, and invalid data (colour
    // above alpha).
    let data = [0x4b, 0x4b, 0x4b, 0x4d, 9, 9, 9, 0, 0xc0, 0x10, 0x20, 0x80];
    let s = decode_shape(&header(CursorType::Alpha, 3, 1, 1), &data).unwrap();
    assert_eq!(
        pixels(&s),
        vec![[0xf8, 0xf8, 0xf8, 0x4d], [0, 0, 0, 0], [0x40, 0x20, 0xff, 0x80]]
    );
}

#[test]
fn mono_and_xor_truth_table_with_invert_highlight() {
    // 4 x 2. Row 0: AND 0011, XOR 0101 -> black, white, transparent, invert.
    // Row 1: AND 1111, XOR 0000 -> all transparent.
    let data = [0b0011_0000, 0b1111_0000, 0b0101_0000, 0b0000_0000];
    let s = decode_shape(&header(CursorType::Mono, 4, 2, 1), &data).unwrap();
    // The invert pixel (3,0) is black; its transparent neighbours (2,0) and
    // (3,1) turn white; (0..2,1) stay transparent.
    assert_eq!(pixels(&s), vec![K, W, W, K, T, T, T, W]);
}

#[test]
fn mono_odd_width_uses_padded_mask_rows() {
    // 9 x 2: rows are 2 bytes. AND all clear; XOR sets pixel 8 of row 0 and pixel 0 of row 1.
    let and = [0u8, 0, 0, 0];
    let xor = [0u8, 0x80, 0x80, 0];
    let mut data = and.to_vec();
    data.extend_from_slice(&xor);
    let s = decode_shape(&header(CursorType::Mono, 9, 2, 1), &data).unwrap();
    assert_eq!(s.pixel(8, 0), Some(W));
    assert_eq!(s.pixel(7, 0), Some(K));
    assert_eq!(s.pixel(0, 1), Some(W));
    assert_eq!(s.pixel(1, 1), Some(K));
}

fn palette(entries: usize, set: &[(usize, u32)]) -> Vec<u8> {
    let mut p = vec![0u8; entries * 4];
    for &(i, v) in set {
        p[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    p
}

#[test]
fn color4_uses_nibbles_high_first_and_the_palette() {
    // 3 x 1: indices 1, 2, 15 -> row bytes 0x12, 0xf0.
    let mut data = vec![0x12, 0xf0];
    data.extend(palette(16, &[(1, 0x00ff_0000), (2, 0x0000_ff00), (15, 0x00ff_ffff)]));
    // AND mask: third pixel (white) masked -> invert.
    data.push(0b0010_0000);
    let s = decode_shape(&header(CursorType::Color4, 3, 1, 1), &data).unwrap();
    assert_eq!(pixels(&s), vec![[0xff, 0, 0, 0xff], [0, 0xff, 0, 0xff], K]);
}

#[test]
fn color8_masked_non_white_is_transparent() {
    // 2 x 2: indices 0, 1 / 2, 3; index 3 masked (blue -> transparent).
    let mut data = vec![0, 1, 2, 3];
    data.extend(palette(
        256,
        &[(0, 0x0010_2030), (1, 0x0040_5060), (2, 0x0070_8090), (3, 0x0000_00ff)],
    ));
    data.extend_from_slice(&[0, 0b0100_0000]);
    let s = decode_shape(&header(CursorType::Color8, 2, 2, 1), &data).unwrap();
    assert_eq!(
        pixels(&s),
        vec![
            [0x10, 0x20, 0x30, 0xff],
            [0x40, 0x50, 0x60, 0xff],
            [0x70, 0x80, 0x90, 0xff],
            T
        ]
    );
}

#[test]
fn color16_is_x1r5g5b5() {
    // Pure red 0x7c00, green 0x03e0, blue 0x001f, mid grey 0x4210 (r=g=b=16 -> 0x84).
    let mut data = Vec::new();
    for v in [0x7c00u16, 0x03e0, 0x001f, 0x4210] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.push(0);
    let s = decode_shape(&header(CursorType::Color16, 4, 1, 1), &data).unwrap();
    assert_eq!(
        pixels(&s),
        vec![
            [0xff, 0, 0, 0xff],
            [0, 0xff, 0, 0xff],
            [0, 0, 0xff, 0xff],
            [0x84, 0x84, 0x84, 0xff]
        ]
    );
}

#[test]
fn color24_is_bgr() {
    // 2 x 1: (B,G,R) = (1,2,3) and (4,5,6); second pixel masked (not white -> transparent).
    let data = [1, 2, 3, 4, 5, 6, 0b0100_0000];
    let s = decode_shape(&header(CursorType::Color24, 2, 1, 1), &data).unwrap();
    assert_eq!(pixels(&s), vec![[3, 2, 1, 0xff], T]);
}

#[test]
fn color32_with_and_mask_and_white_invert() {
    // 3 x 1: red, white masked (invert), black masked (transparent -> highlighted
    // because it touches the invert pixel).
    let mut data = Vec::new();
    for v in [0x00ff_0000u32, 0x00ff_ffff, 0] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.push(0b0110_0000);
    let s = decode_shape(&header(CursorType::Color32, 3, 1, 1), &data).unwrap();
    assert_eq!(pixels(&s), vec![[0xff, 0, 0, 0xff], K, W]);
}

#[test]
fn hostile_shapes_fail_cleanly() {
    assert_eq!(
        decode_shape(&header(CursorType::Alpha, 2, 2, 1), &[0; 15]),
        Err(CursorError::DataSize {
            expected: 16,
            received: 15
        })
    );
    let mut h = header(CursorType::Alpha, 2000, 1, 1);
    assert!(matches!(decode_shape(&h, &[]), Err(CursorError::TooLarge { .. })));
    h.cursor_type = 9;
    assert_eq!(decode_shape(&h, &[]), Err(CursorError::UnknownType(9)));
    // A hot spot outside the shape is clamped.
    let mut h = header(CursorType::Alpha, 1, 1, 1);
    h.hot_spot_x = 500;
    h.hot_spot_y = 3;
    let s = decode_shape(&h, &[0; 4]).unwrap();
    assert_eq!((s.hot_x, s.hot_y), (1, 1));
    // Zero-sized shapes decode to nothing.
    let s = decode_shape(&header(CursorType::Color8, 0, 0, 1), &[0; 1024]).unwrap();
    assert!(s.rgba.is_empty());
}

fn alpha_cursor(unique: u64, flags: u16, fill: u8) -> Cursor {
    Cursor {
        flags,
        header: Some(header(CursorType::Alpha, 2, 2, unique)),
        data: vec![fill; 16],
    }
}

fn set(cursor: Cursor) -> CursorServer {
    CursorServer::Set(CursorSet {
        position: Point16 { x: 5, y: 6 },
        visible: 1,
        cursor,
    })
}

fn from_cache(unique: u64) -> Cursor {
    Cursor {
        flags: flags::FROM_CACHE,
        header: Some(header(CursorType::Alpha, 2, 2, unique)),
        data: Vec::new(),
    }
}

#[test]
fn cache_me_then_from_cache_shares_the_shape() {
    let mut st = CursorState::new(CacheLimits::default());
    let ev = st.handle(&CursorServer::Init(CursorInit {
        position: Point16 { x: 1, y: 2 },
        trail_length: 0,
        trail_frequency: 0,
        visible: 1,
        cursor: alpha_cursor(7, flags::CACHE_ME, 0x40),
    }));
    let CursorEvent::Set {
        shape: first,
        x: 1,
        y: 2,
        visible: true,
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(st.cache().len(), 1);
    let ev = st.handle(&set(from_cache(7)));
    let CursorEvent::Set { shape, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert!(Arc::ptr_eq(first, shape), "the cached shape is shared, not copied");
    assert_eq!(st.stats().cache_hits, 1);
    // INVAL_ONE drops it: the next FROM_CACHE misses and hides the cursor.
    assert!(st.handle(&CursorServer::InvalOne { id: 7 }).is_empty());
    assert_eq!(st.handle(&set(from_cache(7))), vec![CursorEvent::Hide]);
    assert_eq!(st.stats().cache_misses, 1);
    assert!(!st.visible());
    // INVAL_ALL and RESET clear everything.
    st.handle(&set(alpha_cursor(8, flags::CACHE_ME, 1)));
    st.handle(&set(alpha_cursor(9, flags::CACHE_ME, 2)));
    assert_eq!(st.cache().len(), 2);
    st.handle(&CursorServer::InvalAll);
    assert!(st.cache().is_empty());
    st.handle(&set(alpha_cursor(8, flags::CACHE_ME, 1)));
    assert_eq!(st.handle(&CursorServer::Reset), vec![CursorEvent::Reset]);
    assert!(st.cache().is_empty() && st.current().is_none());
}

#[test]
fn move_hide_none_and_trail() {
    let mut st = CursorState::new(CacheLimits::default());
    assert_eq!(
        st.handle(&CursorServer::Move {
            position: Point16 { x: -4, y: 9 }
        }),
        vec![CursorEvent::Move { x: -4, y: 9 }]
    );
    assert_eq!(st.position(), (-4, 9));
    assert_eq!(st.handle(&CursorServer::Hide), vec![CursorEvent::Hide]);
    assert_eq!(st.handle(&set(Cursor::none())), vec![CursorEvent::Hide]);
    assert_eq!(
        st.handle(&CursorServer::Trail {
            length: 3,
            frequency: 4
        }),
        vec![CursorEvent::Trail {
            length: 3,
            frequency: 4
        }]
    );
    // A bad inline shape hides the cursor and is counted.
    let mut bad = alpha_cursor(1, 0, 0);
    bad.data.pop();
    assert_eq!(st.handle(&set(bad)), vec![CursorEvent::Hide]);
    assert_eq!(st.stats().bad_shapes, 1);
}

#[test]
fn cache_budget_evicts_oldest() {
    let one = decode_shape(&header(CursorType::Alpha, 2, 2, 0), &[0; 16])
        .unwrap()
        .byte_size();
    let mut c = CursorCache::new(CacheLimits {
        max_entries: 3,
        max_bytes: one * 10,
    });
    for id in 0..5u64 {
        let s = decode_shape(&header(CursorType::Alpha, 2, 2, id), &[0; 16]).unwrap();
        c.insert(id, Arc::new(s));
    }
    assert_eq!(c.len(), 3);
    assert!(c.get(0).is_none() && c.get(1).is_none() && c.get(4).is_some());
    assert_eq!(c.bytes(), one * 3);
    // Byte budget: two fit, the third evicts the oldest.
    let mut c = CursorCache::new(CacheLimits {
        max_entries: 100,
        max_bytes: one * 2,
    });
    for id in 0..3u64 {
        let s = decode_shape(&header(CursorType::Alpha, 2, 2, id), &[0; 16]).unwrap();
        c.insert(id, Arc::new(s));
    }
    assert_eq!(c.len(), 2);
    assert!(c.get(0).is_none());
    // Replacing an id keeps one entry and the byte count right.
    let s = Arc::new(decode_shape(&header(CursorType::Alpha, 2, 2, 2), &[1; 16]).unwrap());
    c.insert(2, Arc::clone(&s));
    assert_eq!(c.len(), 2);
    assert_eq!(c.bytes(), one * 2);
    // A shape over the whole budget is not kept.
    let big = decode_shape(&header(CursorType::Alpha, 16, 16, 9), &[0; 1024]).unwrap();
    assert!(big.byte_size() > one * 2);
    c.insert(9, Arc::new(big));
    assert!(c.get(9).is_none());
}

#[test]
fn the_cache_counts_against_the_session_budget() {
    let one = decode_shape(&header(CursorType::Alpha, 2, 2, 0), &[0; 16])
        .unwrap()
        .byte_size();
    let budget = crate::budget::MemoryBudget::new(one as u64 * 2);
    let mut st = CursorState::new(CacheLimits::default());
    st.attach_budget(&budget);
    let mut c = st.cache;
    for id in 0..3u64 {
        let s = decode_shape(&header(CursorType::Alpha, 2, 2, id), &[0; 16]).unwrap();
        c.insert(id, Arc::new(s));
        assert!(budget.used() <= budget.limit());
    }
    // The session's budget holds two: the oldest went.
    assert_eq!(c.len(), 2);
    assert!(c.get(0).is_none() && c.get(2).is_some());
    assert_eq!(budget.used(), one as u64 * 2);
    c.remove(1);
    assert_eq!(budget.used(), one as u64);
    c.clear();
    assert_eq!(budget.used(), 0);
}
