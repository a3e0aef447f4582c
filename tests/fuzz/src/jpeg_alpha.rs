//! `jpeg_alpha` oracle (hostile-inputs row 26): byte 0 = JPEG_ALPHA flags, bytes 1..3 =
//! `jpeg_size` (u16 little endian), the rest the image data (JPEG, then the LZ alpha plane).
//! Decoded with a 1 Mpx cap so the fuzzer cannot make it allocate much; must not panic, and a
//! decoded image has the size of its JPEG header. The plain JPEG decoder runs on the JPEG part
//! too, with and without an expected size.

use sumac::codec::{CodecError, ImageBuf, jpeg};

/// Pixel cap for fuzzing: 1 Mpx (4 MiB of output).
pub const MAX_PIXELS: u64 = 1 << 20;

pub fn fuzz(data: &[u8]) -> bool {
    let Some((&[flags, a, b], rest)) = data.split_first_chunk::<3>() else {
        return false;
    };
    let jpeg_size = u32::from(u16::from_le_bytes([a, b]));
    let mut out = ImageBuf::new();
    let jpeg_part = rest.get(..jpeg_size as usize).unwrap_or(rest);
    if jpeg::decode_capped(jpeg_part, MAX_PIXELS, None, &mut out).is_ok() {
        let dims = jpeg::dimensions(jpeg_part).expect("a decoded JPEG has a header");
        assert_eq!((out.width, out.height), dims);
        assert_eq!(out.data.len(), (out.width * out.height * 4) as usize);
        assert!(!out.has_alpha);
        let mismatch = jpeg::decode_capped(jpeg_part, MAX_PIXELS, Some((dims.0 + 1, dims.1)), &mut out);
        assert!(matches!(mismatch, Err(CodecError::SizeMismatch { .. })));
    }
    let mut out = ImageBuf::new();
    match jpeg::decode_alpha_capped(flags, jpeg_size, rest, MAX_PIXELS, &mut out) {
        Ok(()) => {
            assert!(out.has_alpha);
            assert_eq!(out.data.len(), (out.width * out.height * 4) as usize);
            true
        }
        Err(_) => false,
    }
}
