//! `quic` oracle (hostile-inputs row 20, CVE-2020-14355): the input is a QUIC stream as
//! carried in a SPICE QUIC image. Decoding must never panic; images above [`MAX_PIXELS`] are
//! skipped (their size alone is legitimate, and the fuzzer's malloc limit would flag the
//! buffer). A decoded image must be fully sized and opaque unless RGBA, and re-encoding its
//! pixels with the same image type must decode to the same pixels.

use sumac::codec::ImageBuf;
use sumac::codec::quic::{self, ImageType, encode::encode_for_tests};

/// Largest image the oracle decodes (64 Ki pixels: wide enough for rows past the 2048-pixel
/// wait-mask step, small enough to keep the fuzzer fast).
pub const MAX_PIXELS: u64 = 1 << 16;

pub fn fuzz(data: &[u8]) -> bool {
    let Ok(header) = quic::read_header(data) else {
        let mut out = ImageBuf::new();
        assert!(
            quic::decode(data, &mut out).is_err(),
            "a stream with a bad header was decoded"
        );
        return false;
    };
    if u64::from(header.width) * u64::from(header.height) > MAX_PIXELS {
        return false;
    }
    let mut out = ImageBuf::new();
    if quic::decode(data, &mut out).is_err() {
        return false;
    }
    let ty = header.image_type;
    assert_eq!((out.width, out.height), (header.width, header.height), "decoded size");
    assert_eq!(
        out.data.len(),
        out.width as usize * out.height as usize * 4,
        "buffer size"
    );
    assert_eq!(out.has_alpha, ty == ImageType::Rgba);
    if ty != ImageType::Rgba {
        assert!(
            out.data.chunks_exact(4).all(|p| p[3] == 0xff),
            "opaque types get alpha 255"
        );
    }
    let pixels: Vec<u8> = out
        .data
        .chunks_exact(4)
        .flat_map(|p| {
            let (b, g, r, a) = (p[0], p[1], p[2], p[3]);
            match ty {
                ImageType::Gray => {
                    assert!(b == g && g == r, "gray pixels have equal channels");
                    vec![b]
                }
                ImageType::Rgb16 => {
                    let narrow = |v: u8| {
                        let n = v >> 3;
                        assert_eq!((n << 3) | (n >> 2), v, "RGB16 channels are widened 5-bit values");
                        u16::from(n)
                    };
                    ((narrow(r) << 10) | (narrow(g) << 5) | narrow(b))
                        .to_le_bytes()
                        .to_vec()
                }
                ImageType::Rgb24 => vec![b, g, r],
                ImageType::Rgb32 => vec![b, g, r, 0],
                ImageType::Rgba => vec![b, g, r, a],
            }
        })
        .collect();
    let again = encode_for_tests(ty, out.width, out.height, &pixels).expect("re-encode the decoded image");
    let mut out2 = ImageBuf::new();
    quic::decode(&again, &mut out2).expect("a re-encoded image decodes");
    assert_eq!(out2, out, "re-encoded image decodes to the same pixels");
    true
}
