//! JPEG images, JPEG_ALPHA images and MJPEG stream frames (zune-jpeg).

use super::{CodecError, ImageBuf};

/// Decodes a JPEG into `out` (alpha 255).
pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let _ = (data, out);
    Err(CodecError::Unsupported { codec: "jpeg" })
}

/// JPEG_ALPHA: the first `jpeg_size` bytes are a JPEG, the rest an LZ alpha plane.
pub fn decode_alpha(flags: u8, jpeg_size: u32, data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let _ = (flags, jpeg_size, data, out);
    Err(CodecError::Unsupported { codec: "jpeg-alpha" })
}
