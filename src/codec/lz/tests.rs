#![allow(clippy::cast_possible_truncation)] // test data
use super::encode::encode;
use super::*;

/// xorshift64*: deterministic test data.
pub(crate) struct Rng(pub u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Content {
    /// Few colours, long runs and repeated glyph-like blocks.
    Text,
    /// Noise: almost only literals.
    Photo,
    Solid,
}

/// `len` source bytes following `content`, made of `unit`-byte values.
pub(crate) fn bytes(content: Content, len: usize, unit: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    match content {
        Content::Solid => (0..len).map(|i| [0x12u8, 0x34, 0x56, 0x78][i % unit.min(4)]).collect(),
        Content::Photo => (0..len).map(|_| rng.next() as u8).collect(),
        Content::Text => {
            let palette: Vec<u8> = (0..4 * unit).map(|_| rng.next() as u8).collect();
            let mut out = Vec::with_capacity(len);
            while out.len() < len {
                let run = 1 + rng.below(40) as usize;
                let c = rng.below(4) as usize;
                if rng.below(5) == 0 && out.len() > 64 * unit {
                    // repeat an earlier piece (a "glyph")
                    let back = unit * (1 + rng.below((out.len() / unit).min(5000) as u64 - 1) as usize);
                    let start = out.len() - back;
                    for k in 0..(run * unit).min(back) {
                        let b = out[start + k];
                        out.push(b);
                    }
                } else {
                    for _ in 0..run {
                        out.extend_from_slice(&palette[c * unit..(c + 1) * unit]);
                    }
                }
            }
            out.truncate(len);
            out
        }
    }
}

/// What the decoder must produce from stream-order `src` (reference conversion).
pub(crate) fn expected(ty: LzType, w: u32, h: u32, top_down: bool, src: &[u8], palette: &[u32]) -> Vec<u8> {
    let stride = ty.stride_for(w).unwrap() as usize;
    let mut rows: Vec<Vec<u8>> = Vec::new();
    for s in 0..h as usize {
        let row = &src[s * stride..(s + 1) * stride];
        let mut o = Vec::new();
        for x in 0..w as usize {
            let px: [u8; 4] = match ty {
                LzType::Rgb32 | LzType::Rgb24 => {
                    let bpp = ty.bytes_per_pixel() as usize;
                    [row[x * bpp], row[x * bpp + 1], row[x * bpp + 2], 255]
                }
                LzType::Rgba => [row[x * 4], row[x * 4 + 1], row[x * 4 + 2], row[x * 4 + 3]],
                LzType::Xxxa => [0, 0, 0, row[x * 4 + 3]],
                LzType::A8 => [0, 0, 0, row[x]],
                LzType::Rgb16 => {
                    let v = u16::from_le_bytes([row[2 * x], row[2 * x + 1]]);
                    let e = |c: u16| ((c & 31) << 3 | (c & 31) >> 2) as u8;
                    [e(v), e(v >> 5), e(v >> 10), 255]
                }
                _ => {
                    let idx = match ty {
                        LzType::Plt8 => row[x],
                        LzType::Plt4Le => (row[x / 2] >> (4 * (x % 2))) & 15,
                        LzType::Plt4Be => (row[x / 2] >> (4 * (1 - x % 2))) & 15,
                        LzType::Plt1Le => (row[x / 8] >> (x % 8)) & 1,
                        _ => (row[x / 8] >> (7 - x % 8)) & 1,
                    };
                    let [b, g, r, _] = palette[idx as usize].to_le_bytes();
                    [b, g, r, 255]
                }
            };
            o.extend_from_slice(&px);
        }
        rows.push(o);
    }
    if !top_down {
        rows.reverse();
    }
    rows.concat()
}

const ALL: [LzType; 11] = [
    LzType::Plt1Le,
    LzType::Plt1Be,
    LzType::Plt4Le,
    LzType::Plt4Be,
    LzType::Plt8,
    LzType::Rgb16,
    LzType::Rgb24,
    LzType::Rgb32,
    LzType::Rgba,
    LzType::Xxxa,
    LzType::A8,
];

/// Source bytes of a `ty` image: palette indices stay below `palette_len`.
fn source(ty: LzType, w: u32, h: u32, content: Content, seed: u64, palette_len: usize) -> Vec<u8> {
    let stride = ty.stride_for(w).unwrap() as usize;
    let len = stride * h as usize;
    let mut src = bytes(content, len, ty.bytes_per_pixel() as usize, seed);
    match ty {
        LzType::Plt8 => src.iter_mut().for_each(|b| *b = (*b as usize % palette_len) as u8),
        LzType::Plt4Le | LzType::Plt4Be => src.iter_mut().for_each(|b| {
            *b = ((*b & 15) as usize % palette_len.min(16)) as u8
                | (((*b >> 4) as usize % palette_len.min(16)) as u8) << 4
        }),
        _ => {}
    }
    src
}

#[test]
fn round_trips_every_type_size_and_content() {
    let palette: Vec<u32> = (0..200u32).map(|i| i.wrapping_mul(0x0103_0507) & 0xff_ffff).collect();
    let sizes = [
        (1, 1),
        (2, 1),
        (1, 3),
        (7, 5),
        (8, 2),
        (9, 9),
        (33, 17),
        (64, 64),
        (131, 47),
        (300, 3),
    ];
    let mut out = ImageBuf::new();
    let mut n = 0;
    for ty in ALL {
        for &(w, h) in &sizes {
            for content in [Content::Text, Content::Photo, Content::Solid] {
                for top_down in [true, false] {
                    let src = source(ty, w, h, content, u64::from(w * 31 + h) + ty as u64, palette.len());
                    let enc = encode(ty, w, h, top_down, &src).unwrap();
                    decode(&enc, Some(&palette), &mut out)
                        .unwrap_or_else(|e| panic!("{ty:?} {w}x{h} {content:?}: {e}"));
                    assert_eq!((out.width, out.height), (w, h));
                    assert_eq!(out.has_alpha, matches!(ty, LzType::Rgba | LzType::Xxxa | LzType::A8));
                    assert!(
                        out.data == expected(ty, w, h, top_down, &src, &palette),
                        "{ty:?} {w}x{h} {content:?} top_down={top_down}"
                    );
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, 11 * 10 * 3 * 2);
}

#[test]
fn compresses_text_and_uses_far_matches() {
    // 200x200 RGB32 whose second half repeats the first: distances beyond 8191 pixels.
    let (w, h) = (200u32, 200u32);
    let half = bytes(Content::Photo, (w * h / 2 * 4) as usize, 4, 7);
    let src = [half.clone(), half].concat();
    let enc = encode(LzType::Rgb32, w, h, true, &src).unwrap();
    assert!(
        enc.len() < src.len() * 3 / 4 / 2 + 1000,
        "far matches were not used: {}",
        enc.len()
    );
    let mut out = ImageBuf::new();
    decode(&enc, None, &mut out).unwrap();
    assert_eq!(out.data, expected(LzType::Rgb32, w, h, true, &src, &[]));
    let text = bytes(Content::Text, 256 * 256 * 4, 4, 3);
    let enc = encode(LzType::Rgb32, 256, 256, true, &text).unwrap();
    assert!(enc.len() * 5 < text.len(), "text compresses: {}", enc.len());
}

#[test]
fn alpha_plane_replaces_only_alpha() {
    let (w, h) = (37u32, 11u32);
    let src = bytes(Content::Text, (w * h * 4) as usize, 4, 9);
    for top_down in [true, false] {
        let enc = encode(LzType::Xxxa, w, h, top_down, &src).unwrap();
        let mut out = ImageBuf::new();
        out.reset("t", w, h).unwrap();
        out.data.iter_mut().enumerate().for_each(|(i, b)| *b = (i * 7) as u8);
        let before = out.data.clone();
        decode_alpha(&enc, &mut out).unwrap();
        assert!(out.has_alpha);
        let want = expected(LzType::Xxxa, w, h, top_down, &src, &[]);
        for (i, (&got, &old)) in out.data.iter().zip(&before).enumerate() {
            if i % 4 == 3 {
                assert_eq!(got, want[i]);
            } else {
                assert_eq!(got, old);
            }
        }
        // size mismatch and wrong type are refused and leave `out` alone
        let mut small = ImageBuf::new();
        small.reset("t", w - 1, h).unwrap();
        assert!(matches!(
            decode_alpha(&enc, &mut small),
            Err(CodecError::SizeMismatch { .. })
        ));
        let rgb = encode(LzType::Rgb32, w, h, top_down, &src).unwrap();
        let snapshot = out.clone();
        assert!(decode_alpha(&rgb, &mut out).is_err());
        assert_eq!(out, snapshot);
    }
}

fn header_bytes(words: [u32; 7]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

#[test]
fn hostile_headers_are_rejected() {
    let mut out = ImageBuf::new();
    let pal = [0u32; 2];
    let ok = |ty: u32, w: u32, h: u32, stride: u32| header_bytes([MAGIC, VERSION, ty, w, h, stride, 1]);
    // type byte out of range (row 21 / CVE-2018-10893)
    for ty in [0, 12, 15, 255, 0x8000_0008] {
        let e = decode(&ok(ty, 4, 4, 16), Some(&pal), &mut out).unwrap_err();
        assert_eq!(e, CodecError::invalid(CODEC, "unknown image type"));
    }
    // stride != w * bpp
    assert!(decode(&ok(8, 4, 4, 15), None, &mut out).is_err());
    assert!(decode(&ok(8, 4, 4, 20), None, &mut out).is_err());
    assert!(decode(&ok(1, 9, 4, 1), Some(&pal), &mut out).is_err());
    // stride * height overflowing / above 1 GiB
    assert!(matches!(
        decode(&ok(8, 0x4000_0000, 0x4000_0000, 0), None, &mut out),
        Err(CodecError::Invalid { .. })
    ));
    assert!(matches!(
        decode(&ok(8, 16384, 16384, 65536), None, &mut out),
        Err(CodecError::TooLarge { .. })
    ));
    // negative sizes
    for (w, h, s) in [
        (u32::MAX, 1, u32::MAX.wrapping_mul(4)),
        (1, u32::MAX, 4),
        (0x8000_0000, 1, 0),
    ] {
        assert!(decode(&ok(8, w, h, s), None, &mut out).is_err());
    }
    // empty image, bad magic, bad version, truncated header
    assert!(decode(&ok(8, 0, 4, 0), None, &mut out).is_err());
    assert!(decode(&header_bytes([0, VERSION, 8, 1, 1, 4, 1]), None, &mut out).is_err());
    assert!(decode(&header_bytes([MAGIC, 2, 8, 1, 1, 4, 1]), None, &mut out).is_err());
    assert_eq!(
        decode(&ok(8, 1, 1, 4)[..20], None, &mut out),
        Err(CodecError::truncated(CODEC))
    );
    // palette image without a palette
    assert!(decode(&ok(5, 1, 1, 1), None, &mut out).is_err());
}

#[test]
fn hostile_streams_are_rejected() {
    let mut out = ImageBuf::new();
    let head = |ty: u32, w: u32, h: u32| {
        let stride = LzType::from_u32(ty).unwrap().stride_for(w).unwrap();
        header_bytes([MAGIC, VERSION, ty, w, h, stride, 1])
    };
    let with = |ty, w, h, body: &[u8]| [head(ty, w, h), body.to_vec()].concat();
    // literal run past the end
    assert!(decode(&with(8, 2, 1, &[2, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None, &mut out).is_err());
    // match before the start
    assert!(decode(&with(8, 4, 1, &[0, 1, 2, 3, 0x20, 1]), None, &mut out).is_err());
    // match past the end
    assert!(decode(&with(8, 4, 1, &[0, 1, 2, 3, 0xe0, 10, 0]), None, &mut out).is_err());
    // truncated data and trailing data
    assert_eq!(
        decode(&with(8, 4, 1, &[3, 1, 2]), None, &mut out),
        Err(CodecError::truncated(CODEC))
    );
    assert!(decode(&with(8, 1, 1, &[0, 1, 2, 3, 9]), None, &mut out).is_err());
    // palette index beyond the palette (row 19)
    assert!(decode(&with(5, 2, 1, &[1, 0, 3]), Some(&[1, 2, 3]), &mut out).is_err());
    assert!(decode(&with(5, 2, 1, &[1, 0, 2]), Some(&[1, 2, 3]), &mut out).is_ok());
    // a long length chain is bounded by the image
    let mut chain = vec![0u8, 1, 2, 3, 0xe0];
    chain.extend(std::iter::repeat_n(255u8, 10_000));
    chain.extend([0, 0]);
    assert!(decode(&with(8, 8, 1, &chain), None, &mut out).is_err());
}

#[test]
fn bottom_up_rle_with_overlap() {
    // one literal pixel then a run of 99: the overlapping copy repeats it
    let mut body = vec![0u8, 10, 20, 30];
    body.push(0xe0);
    body.push(99 - 7);
    body.push(0);
    let data = [header_bytes([MAGIC, VERSION, 8, 10, 10, 40, 0]), body].concat();
    let mut out = ImageBuf::new();
    decode(&data, None, &mut out).unwrap();
    assert!(out.data.chunks_exact(4).all(|p| p == [10, 20, 30, 255]));
    // a period-3 overlap
    let mut buf: Vec<u8> = vec![1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0];
    copy_back(&mut buf, 3, 3, 8, 1).unwrap();
    assert_eq!(buf, [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2]);
    assert!(copy_back(&mut buf, 3, 4, 1, 1).is_none());
    assert!(copy_back(&mut buf, 3, 1, 9, 1).is_none());
}

#[test]
fn huge_images_with_little_data_are_refused_before_allocating() {
    let mut out = ImageBuf::new();
    let big = header_bytes([MAGIC, VERSION, 8, 16000, 16000, 64000, 1]);
    let data = [big, vec![0xe0; 100]].concat();
    assert_eq!(decode(&data, None, &mut out), Err(CodecError::truncated(CODEC)));
    assert!(out.data.capacity() < 1 << 20);
}
