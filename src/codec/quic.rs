//! QUIC decoder (spice-common `quic.c` format): RGB32, RGB24, RGB16, RGBA and GRAY images.

use super::{CodecError, ImageBuf};

pub fn decode(data: &[u8], out: &mut ImageBuf) -> Result<(), CodecError> {
    let _ = (data, out);
    Err(CodecError::Unsupported { codec: "quic" })
}
