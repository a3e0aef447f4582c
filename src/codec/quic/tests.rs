use super::encode::{bytes_per_pixel, encode_for_tests};
use super::*;

const TYPES: [ImageType; 5] = [
    ImageType::Gray,
    ImageType::Rgb16,
    ImageType::Rgb24,
    ImageType::Rgb32,
    ImageType::Rgba,
];

/// xorshift, so the tests need no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 24) as u8
    }
}

#[derive(Debug, Clone, Copy)]
enum Content {
    Random,
    Gradient,
    Text,
    Solid,
    Stripes,
}
const CONTENTS: [Content; 5] = [
    Content::Random,
    Content::Gradient,
    Content::Text,
    Content::Solid,
    Content::Stripes,
];

/// An image in `ty`'s packed input format.
fn image(ty: ImageType, content: Content, w: usize, h: usize, seed: u64) -> Vec<u8> {
    let bpp = bytes_per_pixel(ty);
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(w * h * bpp);
    let glyph_fg = [rng.byte(), rng.byte(), rng.byte(), rng.byte()];
    for y in 0..h {
        for x in 0..w {
            let px: [u8; 4] = match content {
                Content::Random => [rng.byte(), rng.byte(), rng.byte(), rng.byte()],
                Content::Gradient => [
                    (x * 255 / w.max(2)) as u8,
                    (y * 255 / h.max(2)) as u8,
                    ((x + y) & 0xff) as u8,
                    ((x * 3 + y) & 0xff) as u8,
                ],
                Content::Text => {
                    // Light background with dark "glyph" strokes on some rows.
                    let in_line = y % 16 > 3 && y % 16 < 13;
                    if in_line && (x * 7 + y * 3) % 11 < 3 && !rng.next().is_multiple_of(4) {
                        glyph_fg
                    } else if in_line && (x % 9 == 0) {
                        [0x80, 0x80, 0x80, 0xff]
                    } else {
                        [0xf0, 0xf0, 0xf0, 0xff]
                    }
                }
                Content::Solid => [0x12, 0x34, 0x56, 0x78],
                Content::Stripes => {
                    if (x / 5 + y / 3) % 2 == 0 {
                        [0, 0, 0, 0]
                    } else {
                        [0xff, 0x7f, 0x01, 0x80]
                    }
                }
            };
            match ty {
                ImageType::Gray => out.push(px[0]),
                ImageType::Rgb16 => {
                    let v = (u16::from(px[0] >> 3) << 10)
                        | (u16::from(px[1] >> 3) << 5)
                        | u16::from(px[2] >> 3)
                        | (u16::from(px[3] & 0x80) << 8);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                ImageType::Rgb24 => out.extend_from_slice(&px[..3]),
                ImageType::Rgb32 | ImageType::Rgba => out.extend_from_slice(&px),
            }
        }
    }
    out
}

/// What the decoder must produce for an input image.
fn expected(ty: ImageType, pixels: &[u8]) -> Vec<u8> {
    let widen = |v: u16| {
        let v = (v & 0x1f) as u8;
        (v << 3) | (v >> 2)
    };
    pixels
        .chunks_exact(bytes_per_pixel(ty))
        .flat_map(|p| match ty {
            ImageType::Gray => [p[0], p[0], p[0], 0xff],
            ImageType::Rgb16 => {
                let v = u16::from_le_bytes([p[0], p[1]]);
                [widen(v), widen(v >> 5), widen(v >> 10), 0xff]
            }
            ImageType::Rgb24 | ImageType::Rgb32 => [p[0], p[1], p[2], 0xff],
            ImageType::Rgba => [p[0], p[1], p[2], p[3]],
        })
        .collect()
}

fn round_trip(ty: ImageType, content: Content, w: usize, h: usize, seed: u64, out: &mut ImageBuf) {
    let pixels = image(ty, content, w, h, seed);
    let stream = encode_for_tests(ty, w as u32, h as u32, &pixels).expect("encode");
    assert_eq!(stream.len() % 4, 0);
    decode(&stream, out).unwrap_or_else(|e| panic!("{ty:?} {content:?} {w}x{h}: {e}"));
    assert_eq!((out.width, out.height), (w as u32, h as u32));
    assert_eq!(out.has_alpha, ty == ImageType::Rgba);
    let want = expected(ty, &pixels);
    if out.data != want {
        let first = out.data.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{ty:?} {content:?} {w}x{h}: first difference at pixel {} ({:?} vs {:?})",
            first / 4,
            &out.data[first / 4 * 4..first / 4 * 4 + 4],
            &want[first / 4 * 4..first / 4 * 4 + 4]
        );
    }
}

/// Streams made by spice-common's own `quic_encode`, and its `quic_decode` output
/// (tests/fixtures/quic/README.md): the decoder matches it byte for byte, and the test
/// encoder reproduces spice-common's stream exactly.
#[test]
fn matches_spice_common_fixtures() {
    macro_rules! fixture {
        ($ty:expr, $name:literal) => {
            (
                $ty,
                $name,
                &include_bytes!(concat!("../../../tests/fixtures/quic/", $name, ".raw"))[..],
                &include_bytes!(concat!("../../../tests/fixtures/quic/", $name, ".quic"))[..],
                &include_bytes!(concat!("../../../tests/fixtures/quic/", $name, ".bgra"))[..],
            )
        };
    }
    let fixtures = [
        fixture!(ImageType::Gray, "gray-61x17"),
        fixture!(ImageType::Rgb16, "rgb16-61x17"),
        fixture!(ImageType::Rgb24, "rgb24-61x17"),
        fixture!(ImageType::Rgb32, "rgb32-61x17"),
        fixture!(ImageType::Rgba, "rgba-61x17"),
    ];
    let mut out = ImageBuf::new();
    for (ty, name, raw, stream, bgra) in fixtures {
        assert_eq!(read_header(stream).map(|h| h.image_type), Ok(ty), "{name}");
        decode(stream, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((out.width, out.height), (61, 17), "{name}");
        assert!(out.data == bgra, "{name}: pixels differ from spice-common's decoder");
        assert_eq!(expected(ty, raw), bgra, "{name}: lossless");
        let mine = encode_for_tests(ty, 61, 17, raw).expect("encode");
        assert!(mine == stream, "{name}: the encoder differs from spice-common's");
    }
}

/// QUIC images captured from a real Xspice (`--image-compression quic`) and checked
/// against `xwd -root` of the same screen (tests/fixtures/quic/README.md).
#[test]
fn decodes_real_xspice_images() {
    fn fnv1a(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }
    let mut out = ImageBuf::new();
    let screen = include_bytes!("../../../tests/fixtures/quic/xspice-rgb32-1024x768.quic");
    decode(screen, &mut out).expect("Xspice screen");
    assert_eq!((out.width, out.height, out.has_alpha), (1024, 768, false));
    assert_eq!(
        fnv1a(&out.data),
        0x60d9_b864_9d28_7692,
        "pixels verified against xwd -root"
    );
    let small: [(&[u8], &[u8], u32); 2] = [
        (
            include_bytes!("../../../tests/fixtures/quic/xspice-rgba-228x13.quic"),
            include_bytes!("../../../tests/fixtures/quic/xspice-rgba-228x13.bgra"),
            228,
        ),
        (
            include_bytes!("../../../tests/fixtures/quic/xspice-rgba-240x13.quic"),
            include_bytes!("../../../tests/fixtures/quic/xspice-rgba-240x13.bgra"),
            240,
        ),
    ];
    for (stream, bgra, width) in small {
        decode(stream, &mut out).expect("Xspice RGBA image");
        assert_eq!((out.width, out.height, out.has_alpha), (width, 13, true));
        assert!(out.data == bgra);
    }
}

#[test]
fn round_trips_every_type_content_and_size() {
    let sizes = [
        (1, 1),
        (1, 7),
        (7, 1),
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 3),
        (17, 9),
        (33, 1),
        (1, 40),
        (64, 64),
        (255, 17),
        (2047, 2),
        (2048, 2),
        (2049, 3),
        (4099, 2),
        (13000, 2),
    ];
    let mut out = ImageBuf::new();
    for ty in TYPES {
        for content in CONTENTS {
            for (k, &(w, h)) in sizes.iter().enumerate() {
                round_trip(ty, content, w, h, k as u64 + 7, &mut out);
            }
        }
    }
}

#[test]
fn round_trips_large_images() {
    let mut out = ImageBuf::new();
    for ty in TYPES {
        round_trip(ty, Content::Text, 640, 480, 3, &mut out);
        round_trip(ty, Content::Random, 301, 203, 5, &mut out);
        round_trip(ty, Content::Gradient, 1021, 150, 9, &mut out);
    }
}

#[test]
fn round_trips_many_random_small_images() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = ImageBuf::new();
    for n in 0..400 {
        let ty = TYPES[(rng.next() % 5) as usize];
        let content = CONTENTS[(rng.next() % 5) as usize];
        let w = 1 + (rng.next() % 70) as usize;
        let h = 1 + (rng.next() % 20) as usize;
        round_trip(ty, content, w, h, n, &mut out);
    }
}

/// Small-alphabet noise makes many short runs, zero-length runs and run restarts.
#[test]
fn round_trips_run_heavy_noise() {
    let mut out = ImageBuf::new();
    for ty in TYPES {
        for (w, h, seed) in [(50, 40, 1u64), (3, 100, 2), (200, 7, 3), (2100, 3, 4)] {
            let mut pixels = image(ty, Content::Solid, w, h, seed);
            let mut rng = Rng(seed * 77 + 1);
            let bpp = bytes_per_pixel(ty);
            for px in pixels.chunks_exact_mut(bpp) {
                if rng.next().is_multiple_of(3) {
                    let v = if rng.next().is_multiple_of(2) { 0x00 } else { 0xff };
                    px.iter_mut().for_each(|b| *b = v);
                }
            }
            let stream = encode_for_tests(ty, w as u32, h as u32, &pixels).unwrap();
            decode(&stream, &mut out).unwrap();
            assert_eq!(out.data, expected(ty, &pixels), "{ty:?} {w}x{h}");
        }
    }
}

fn header_words(words: [u32; 5]) -> Vec<u8> {
    let mut v: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    v.extend_from_slice(&[0; 64]);
    v
}

fn err(data: &[u8]) -> CodecError {
    let mut out = ImageBuf::new();
    decode(data, &mut out).expect_err("hostile input accepted")
}

#[test]
fn hostile_headers_are_rejected() {
    // Row 20: zero input words.
    assert_eq!(err(&[]), CodecError::truncated(CODEC));
    assert_eq!(err(&[0x51, 0x55, 0x49]), CodecError::truncated(CODEC));
    assert!(matches!(
        err(b"QUIC"),
        CodecError::Invalid { .. } | CodecError::Truncated { .. }
    ));
    assert_eq!(
        err(&header_words([0x1234_5678, 0, 4, 1, 1])),
        CodecError::invalid(CODEC, "bad magic")
    );
    assert_eq!(
        err(&header_words([MAGIC, 1, 4, 1, 1])),
        CodecError::invalid(CODEC, "unsupported version")
    );
    for ty in [0, 6, 0xffff_ffff] {
        assert_eq!(
            err(&header_words([MAGIC, 0, ty, 1, 1])),
            CodecError::invalid(CODEC, "unknown image type")
        );
    }
    // Row 20: w/h <= 0 (as spice-common's int).
    for (w, h) in [(0, 1), (1, 0), (0x8000_0000, 1), (1, 0xffff_ffff)] {
        assert_eq!(
            err(&header_words([MAGIC, 0, 4, w, h])),
            CodecError::invalid(CODEC, "zero or negative image size")
        );
    }
    // Row 20: w*h > 512 Mi pixels, and our own dimension cap.
    for (w, h) in [(0x7fff_ffff, 0x7fff_ffff), (65536, 8192), (16385, 1), (1, 20000)] {
        assert!(matches!(
            err(&header_words([MAGIC, 0, 4, w, h])),
            CodecError::TooLarge { .. }
        ));
    }
    // The header alone (no look-ahead word) is truncated.
    let only: Vec<u8> = [MAGIC, 0, 4, 1, 1].iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(err(&only), CodecError::truncated(CODEC));
    assert_eq!(
        read_header(&header_words([MAGIC, 0, 5, 3, 2])),
        Ok(Header {
            image_type: ImageType::Rgba,
            width: 3,
            height: 2
        })
    );
}

#[test]
fn every_truncation_is_rejected() {
    for ty in TYPES {
        let pixels = image(ty, Content::Text, 37, 20, 1);
        let stream = encode_for_tests(ty, 37, 20, &pixels).unwrap();
        let mut out = ImageBuf::new();
        // Partial trailing words are ignored.
        let mut padded = stream.clone();
        padded.extend_from_slice(&[0xaa; 3]);
        decode(&padded, &mut out).unwrap();
        for cut in 0..stream.len() / 4 {
            let got = decode(&stream[..cut * 4], &mut out);
            assert!(got.is_err(), "{ty:?}: {cut} of {} words accepted", stream.len() / 4);
            let got = decode(&stream[..cut * 4 + 3], &mut out);
            assert!(got.is_err());
        }
    }
}

#[test]
fn run_past_the_row_end_is_rejected() {
    let ones = [0xffu8; 32];
    let mut plane = DecodePlane::<3, 8>::new(16);
    let mut r = BitReader::new(&ones);
    assert_eq!(
        plane.decode_run_for_tests(&mut r, 10),
        Err(CodecError::invalid(CODEC, "RLE run past the end of the row"))
    );
    // A zero bit: a run of 0 at state 0, fine; a run of exactly the row end is too.
    let mut plane = DecodePlane::<1, 8>::new(16);
    let bits = [0u8; 16];
    assert_eq!(plane.decode_run_for_tests(&mut BitReader::new(&bits), 0), Ok(0));
    // "1110": three hits of order 1 (states 0..2 all have order 1).
    let bits = [0, 0, 0, 0b1110_0000, 0, 0, 0, 0];
    let mut plane = DecodePlane::<1, 8>::new(16);
    assert_eq!(plane.decode_run_for_tests(&mut BitReader::new(&bits), 3), Ok(3));
    let mut plane = DecodePlane::<1, 8>::new(16);
    assert!(plane.decode_run_for_tests(&mut BitReader::new(&bits), 2).is_err());
}

/// Flips every bit of small streams: never a panic, and the RLE check is reached.
#[test]
fn bit_flips_never_panic() {
    let mut out = ImageBuf::new();
    let mut rle_errors = 0;
    let mut accepted = 0;
    for ty in TYPES {
        for content in [Content::Solid, Content::Stripes, Content::Text] {
            let pixels = image(ty, content, 23, 6, 3);
            let stream = encode_for_tests(ty, 23, 6, &pixels).unwrap();
            for bit in 0..stream.len() * 8 {
                let mut s = stream.clone();
                s[bit / 8] ^= 1 << (bit % 8);
                match decode(&s, &mut out) {
                    Ok(()) => {
                        accepted += 1;
                        assert_eq!(out.data.len(), out.width as usize * out.height as usize * 4);
                    }
                    Err(CodecError::Invalid { what, .. }) if what.starts_with("RLE") => rle_errors += 1,
                    Err(_) => {}
                }
            }
        }
    }
    assert!(rle_errors > 0, "no corrupted stream reached the RLE check");
    assert!(accepted > 0);
}

#[test]
fn buffer_is_reused_across_sizes() {
    let mut out = ImageBuf::new();
    round_trip(ImageType::Rgba, Content::Random, 50, 50, 1, &mut out);
    round_trip(ImageType::Gray, Content::Text, 3, 2, 1, &mut out);
    assert_eq!(out.data.len(), 24);
    round_trip(ImageType::Rgb32, Content::Gradient, 9, 70, 1, &mut out);
}

#[test]
fn family_tables_match_spice_common_parameters() {
    // 8 bpc, code 0: 18 Golomb-Rice values, escape codewords of 18 + 8 bits.
    assert_eq!(FAMILY_8BPC.gr_values[0], 18);
    assert_eq!(FAMILY_8BPC.esc_len[0], 26);
    assert_eq!(FAMILY_8BPC.gr_threshold[0], 0x3fff);
    // 8 bpc, code 7: one prefix, 128 values.
    assert_eq!(FAMILY_8BPC.gr_values[7], 128);
    // 5 bpc, code 0: 21 values, 4-bit escape suffix.
    assert_eq!(FAMILY_5BPC.gr_values[0], 21);
    assert_eq!(FAMILY_5BPC.esc_len[0], 25);
    // Buckets of 1, 2, 4, ... contexts, the last one merged.
    assert_eq!(FAMILY_8BPC.bucket_of[0], 0);
    assert_eq!(FAMILY_8BPC.bucket_of[2], 1);
    assert_eq!(FAMILY_8BPC.bucket_of[126], 6);
    assert_eq!(FAMILY_8BPC.bucket_of[127], 7);
    assert_eq!(FAMILY_8BPC.bucket_of[255], 7);
    assert_eq!(FAMILY_5BPC.bucket_of[14], 3);
    assert_eq!(FAMILY_5BPC.bucket_of[15], 4);
    assert_eq!(FAMILY_5BPC.bucket_of[31], 4);
    for f in [&FAMILY_8BPC, &FAMILY_5BPC] {
        for s in 0..=f.mask {
            assert_eq!(u32::from(f.unfold[usize::from(f.fold[s as usize])]), s);
        }
    }
}

/// The fast decoder against the reference one (the straightforward transcription it
/// replaced): same verdict and, when accepted, the same pixels.
fn same_as_reference(data: &[u8], what: &str) {
    let mut fast = ImageBuf::new();
    let mut slow = ImageBuf::new();
    let got = decode(data, &mut fast);
    let want = reference::decode(data, &mut slow);
    assert_eq!(got, want, "{what}: verdicts differ");
    if want.is_ok() {
        assert_eq!(
            (fast.width, fast.height, fast.has_alpha),
            (slow.width, slow.height, slow.has_alpha)
        );
        assert!(fast.data == slow.data, "{what}: pixels differ");
    }
}

#[test]
fn fast_decoder_matches_reference_on_valid_streams() {
    for ty in TYPES {
        for content in CONTENTS {
            for (w, h) in [
                (1, 1),
                (2, 3),
                (3, 1),
                (5, 7),
                (64, 40),
                (2049, 3),
                (300, 50),
                (7000, 3),
            ] {
                let pixels = image(ty, content, w, h, (w * 31 + h) as u64);
                let stream = encode_for_tests(ty, w as u32, h as u32, &pixels).unwrap();
                same_as_reference(&stream, &format!("{ty:?} {content:?} {w}x{h}"));
            }
        }
    }
}

#[test]
fn fast_decoder_matches_reference_on_corrupted_streams() {
    let mut rng = Rng(0x5eed);
    for ty in TYPES {
        for content in CONTENTS {
            let pixels = image(ty, content, 29, 9, 5);
            let stream = encode_for_tests(ty, 29, 9, &pixels).unwrap();
            for bit in (0..stream.len() * 8).step_by(7) {
                let mut s = stream.clone();
                s[bit / 8] ^= 1 << (bit % 8);
                same_as_reference(&s, &format!("{ty:?} {content:?} bit {bit}"));
            }
            for cut in 0..stream.len() {
                same_as_reference(&stream[..cut], &format!("{ty:?} {content:?} cut {cut}"));
            }
            // Valid header, random body (mostly escapes, long runs, garbage lengths).
            for n in 0..40 {
                let mut s = stream[..20].to_vec();
                s.extend((0..(n * 13) % 200).map(|_| rng.byte()));
                if n % 2 == 0 {
                    s.extend_from_slice(&[0xff; 16]);
                }
                same_as_reference(&s, &format!("{ty:?} {content:?} random {n}"));
            }
        }
    }
}

#[test]
fn two_codewords_fit_one_refill() {
    for f in [&FAMILY_8BPC, &FAMILY_5BPC] {
        for l in 0..f.bpc as usize {
            assert!(f.esc_len[l] <= decode::MAX_CODEWORD_LEN);
            for v in 0..256 {
                assert!(u32::from(f.code_len[v][l]) <= decode::MAX_CODEWORD_LEN);
            }
            // Golomb-Rice codewords are at most prefix + l bits (a window above the
            // threshold has fewer than `prefix` leading zeros).
            let prefix = f.gr_threshold[l].leading_zeros();
            assert!(prefix + l as u32 <= decode::MAX_CODEWORD_LEN);
        }
    }
    const { assert!(2 * decode::MAX_CODEWORD_LEN <= 56) };
}

#[test]
fn bucket_ranges_cover_their_contexts() {
    fn check<const BPC: u32>(f: &Family) {
        let ranges = decode::bucket_ranges_for_tests::<BPC>();
        for (v, &b) in f.bucket_of.iter().enumerate().take(f.mask as usize + 1) {
            let (start, end) = ranges[usize::from(b)];
            assert!(
                (usize::from(start)..usize::from(end)).contains(&v),
                "{BPC} bpc: context {v}"
            );
        }
        let covered: usize = ranges.iter().map(|&(s, e)| usize::from(e - s)).sum();
        assert_eq!(covered, f.mask as usize + 1);
    }
    check::<8>(&FAMILY_8BPC);
    check::<5>(&FAMILY_5BPC);
}
