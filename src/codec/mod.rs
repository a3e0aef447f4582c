//! L0 image decoders (QUIC, LZ, GLZ, ZLIB-GLZ, LZ4, JPEG): pure functions over
//! byte slices writing into a reusable [`ImageBuf`]; and [`opus`] (feature
//! `opus`), the audio codec of the playback and record channels. No I/O; every size read
//! from the stream is checked before use; nothing here can panic on input.

#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

pub mod glz;
pub mod jpeg;
pub mod lz;
pub mod lz4;
#[cfg(feature = "opus")]
pub mod opus;
pub mod quic;
pub mod zlib_glz;

use thiserror::Error;

/// Largest width or height a decoder produces.
pub const MAX_DIM: u32 = 16384;
/// Largest decoded image in bytes (BGRA).
pub const MAX_BYTES: u64 = 1 << 30;

/// Why an image could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    #[error("{codec}: the compressed data ends early")]
    Truncated { codec: &'static str },
    #[error("{codec}: invalid data: {what}")]
    Invalid { codec: &'static str, what: &'static str },
    #[error("{codec}: a {width}x{height} image exceeds the decoder limits")]
    TooLarge {
        codec: &'static str,
        width: u64,
        height: u64,
    },
    #[error("{codec}: the data describes a {got_width}x{got_height} image, the descriptor {width}x{height}")]
    SizeMismatch {
        codec: &'static str,
        width: u32,
        height: u32,
        got_width: u32,
        got_height: u32,
    },
    #[error("glz: image {id} referenced by image {by} is not in the dictionary window")]
    GlzMissing { id: u64, by: u64 },
    /// The referenced image has not arrived yet; another display channel may
    /// still bring it (only with [`glz::Absent::Pending`]). Nothing changed:
    /// retry the decode once more images arrived.
    #[error("glz: image {id} referenced by image {by} has not arrived yet")]
    GlzPending { id: u64, by: u64 },
    #[error("{codec}: not supported yet")]
    Unsupported { codec: &'static str },
}

impl CodecError {
    #[allow(dead_code)] // used by the decoders as they land
    pub(crate) fn invalid(codec: &'static str, what: &'static str) -> Self {
        Self::Invalid { codec, what }
    }
    #[allow(dead_code)] // used by the decoders as they land
    pub(crate) fn truncated(codec: &'static str) -> Self {
        Self::Truncated { codec }
    }
}

/// Decoded pixels: B,G,R,A bytes per pixel (cairo/pixman ARGB32 on little
/// endian), rows top-down, `stride == width * 4`. Reused between images so
/// the hot path does not allocate.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImageBuf {
    pub width: u32,
    pub height: u32,
    /// False when the alpha bytes carry no meaning (set to 255).
    pub has_alpha: bool,
    pub data: Vec<u8>,
    /// The image descriptor's size, when known: [`reset`](Self::reset)
    /// refuses (as a size mismatch) a codec header needing more bytes, before
    /// allocating. The display channel reserves the descriptor's bytes from
    /// the session's memory budget, so nothing beyond that is allocated.
    pub cap: Option<(u32, u32)>,
}

impl ImageBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sizes the buffer for `width`×`height`, reusing its allocation. Fails
    /// above [`MAX_DIM`] / [`MAX_BYTES`] before allocating. The content is
    /// unspecified afterwards: decoders overwrite every byte.
    pub fn reset(&mut self, codec: &'static str, width: u32, height: u32) -> Result<(), CodecError> {
        let too_large = CodecError::TooLarge {
            codec,
            width: u64::from(width),
            height: u64::from(height),
        };
        if width > MAX_DIM || height > MAX_DIM {
            return Err(too_large);
        }
        let bytes = u64::from(width) * u64::from(height) * 4;
        if bytes > MAX_BYTES {
            return Err(too_large);
        }
        if let Some((cw, ch)) = self.cap
            && bytes > u64::from(cw) * u64::from(ch) * 4
        {
            return Err(CodecError::SizeMismatch {
                codec,
                width: cw,
                height: ch,
                got_width: width,
                got_height: height,
            });
        }
        let bytes = usize::try_from(bytes).map_err(|_| too_large)?;
        self.width = width;
        self.height = height;
        self.has_alpha = false;
        self.data.resize(bytes, 0);
        Ok(())
    }

    pub fn stride(&self) -> usize {
        self.width as usize * 4
    }

    /// Row `y` (top-down), if it exists.
    pub fn row_mut(&mut self, y: u32) -> Option<&mut [u8]> {
        let stride = self.stride();
        let start = (y as usize).checked_mul(stride)?;
        self.data.get_mut(start..start.checked_add(stride)?)
    }

    pub fn row(&self, y: u32) -> Option<&[u8]> {
        let stride = self.stride();
        let start = (y as usize).checked_mul(stride)?;
        self.data.get(start..start.checked_add(stride)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_checks_limits_before_allocating() {
        let mut b = ImageBuf::new();
        assert!(b.reset("t", 16385, 1).is_err());
        assert!(b.reset("t", 100, 10).is_ok());
        assert_eq!(b.data.len(), 4000);
        assert_eq!(b.row_mut(9).map(|r| r.len()), Some(400));
        assert!(b.row_mut(10).is_none());
    }
}
