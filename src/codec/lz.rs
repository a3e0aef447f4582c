//! LZ decoder (spice-common `lz.c` format) for LZ_RGB and LZ_PLT images, and the LZ alpha plane of JPEG_ALPHA.

use super::{CodecError, ImageBuf};

/// Decodes an LZ_RGB image, or an LZ_PLT image with `palette` (xRGB entries).
pub fn decode(data: &[u8], palette: Option<&[u32]>, out: &mut ImageBuf) -> Result<(), CodecError> {
    let _ = (data, palette, out);
    Err(CodecError::Unsupported { codec: "lz" })
}

/// Decodes an LZ alpha plane (type XXXA) into the alpha bytes of `out`, whose size must match.
pub fn decode_alpha(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let _ = (data, out);
    Err(CodecError::Unsupported { codec: "lz" })
}
