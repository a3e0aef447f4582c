//! `lz` oracle (hostile-inputs rows 19 and 21): byte 0 = palette length (0 = no palette), the
//! rest an LZ image (header + stream). Decoding must never panic; a decoded image must be fully
//! sized, opaque unless it carries alpha, and re-encode (as RGBA through Sumac's test encoder)
//! to data that decodes to the same pixels. The same bytes go through `decode_alpha` over an
//! image of the header's size, which must either leave it untouched or change only alpha bytes.

use sumac::codec::lz::{self, LzType, encode};
use sumac::codec::{CodecError, ImageBuf};

/// Largest image the oracle re-encodes (keeps an iteration fast).
const MAX_REENCODE_PIXELS: u32 = 1 << 16;

pub fn fuzz(data: &[u8]) -> bool {
    let Some((&plt_len, payload)) = data.split_first() else {
        return false;
    };
    let palette: Vec<u32> = (0..u32::from(plt_len))
        .map(|i| i.wrapping_mul(0x0001_0305) ^ 0x00ab_cdef)
        .collect();
    let palette = (plt_len > 0).then_some(palette.as_slice());

    if let Ok(h) = lz::header(payload)
        && h.width.saturating_mul(h.height) <= MAX_REENCODE_PIXELS
    {
        let mut base = ImageBuf::new();
        // a header may describe a size the decoders refuse (above MAX_DIM): nothing to check then
        if base.reset("lz", h.width, h.height).is_err() {
            assert!(lz::decode_alpha(payload, &mut base).is_err());
            return lz::decode(payload, palette, &mut ImageBuf::new()).is_ok();
        }
        base.data.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let before = base.clone();
        match lz::decode_alpha(payload, &mut base) {
            Ok(()) => {
                assert!(base.has_alpha);
                for (i, (a, b)) in base.data.iter().zip(&before.data).enumerate() {
                    assert!(i % 4 == 3 || a == b, "decode_alpha changed a colour byte");
                }
            }
            Err(_) => assert_eq!(base, before, "a failed decode_alpha left changes"),
        }
    }

    let mut out = ImageBuf::new();
    let r = lz::decode(payload, palette, &mut out);
    if let Err(e) = r {
        assert!(
            !matches!(e, CodecError::Unsupported { .. }),
            "every LZ type is supported: {e:?}"
        );
        return false;
    }
    let h = lz::header(payload).expect("a decoded image has a valid header");
    assert_eq!((out.width, out.height), (h.width, h.height));
    assert_eq!(
        out.data.len(),
        (h.width as usize) * (h.height as usize) * 4,
        "decoded size"
    );
    let alpha = matches!(h.ty, LzType::Rgba | LzType::Xxxa | LzType::A8);
    assert_eq!(out.has_alpha, alpha);
    if !alpha {
        assert!(
            out.data.chunks_exact(4).all(|p| p[3] == 255),
            "opaque types get alpha 255"
        );
    }
    if out.width * out.height <= MAX_REENCODE_PIXELS {
        let again = encode::encode(LzType::Rgba, out.width, out.height, true, &out.data).expect("re-encode");
        let mut out2 = ImageBuf::new();
        lz::decode(&again, None, &mut out2).expect("re-encoded image decodes");
        assert_eq!(out2.data, out.data, "re-encoded image decodes to the same pixels");
    }
    true
}
