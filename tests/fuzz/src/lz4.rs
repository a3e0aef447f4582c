//! `lz4` oracle (hostile-inputs row 24): byte 0 = width − 1, byte 1 = height − 1, the rest an
//! LZ4 image payload (top_down, format, big-endian-sized blocks). Decoding must never panic
//! or write outside the image; a decoded image must be fully sized, opaque unless RGBA, and
//! (for RGBA) re-encode to a payload that decodes to the same pixels.

use sumac::codec::{ImageBuf, lz4};
use sumac::proto::channel::display::bitmap_fmt;

pub fn fuzz(data: &[u8]) -> bool {
    let Some((&[w, h], payload)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let (w, h) = (u32::from(w) + 1, u32::from(h) + 1);
    let mut out = ImageBuf::new();
    out.reset("lz4", w, h).expect("small sizes are accepted");
    if lz4::decode(payload, &mut out).is_err() {
        return false;
    }
    assert_eq!(out.data.len(), (w * h * 4) as usize, "decoded size");
    let rgba = payload.get(1) == Some(&bitmap_fmt::RGBA);
    assert_eq!(out.has_alpha, rgba);
    if !rgba {
        assert!(
            out.data.chunks_exact(4).all(|p| p[3] == 0xff),
            "opaque formats get alpha 255"
        );
        return true;
    }
    let again = lz4::encode(&out.data, (w * 4) as usize, 7, true, bitmap_fmt::RGBA);
    let mut out2 = ImageBuf::new();
    out2.reset("lz4", w, h).expect("size");
    lz4::decode(&again, &mut out2).expect("re-encoded image decodes");
    assert_eq!(out2.data, out.data, "re-encoded RGBA image decodes to the same pixels");
    true
}
