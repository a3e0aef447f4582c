//! LZ4 images (spice-common `lz4` image format over `lz4_flex` blocks).

use super::{CodecError, ImageBuf};

pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let _ = (data, out);
    Err(CodecError::Unsupported { codec: "lz4" })
}
