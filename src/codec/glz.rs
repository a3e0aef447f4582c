//! GLZ decoder and the global dictionary window shared by every display channel of a session.

use super::{CodecError, ImageBuf};

use std::time::Duration;

/// The GLZ dictionary window (thread-safe; share it with `Arc`).
#[derive(Debug, Default)]
pub struct GlzWindow {
    _private: (),
}

impl GlzWindow {
    /// A window holding at most `max_bytes` of decoded images.
    pub fn new(max_bytes: u64) -> Self {
        let _ = max_bytes;
        Self::default()
    }

    /// Decodes a GLZ_RGB image, waiting at most `wait` for referenced images
    /// that another display channel has not decoded yet.
    pub fn decode(&self, data: &[u8], out: &mut ImageBuf, wait: Duration) -> Result<(), CodecError> {
        let _ = (data, out, wait);
        Err(CodecError::Unsupported { codec: "glz" })
    }

    /// Forgets every image (display channel reset).
    pub fn clear(&self) {}
}
