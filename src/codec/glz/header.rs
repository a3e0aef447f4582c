//! The GLZ image header: read and validated before anything is allocated.

use super::CODEC;
use crate::codec::CodecError;
use crate::codec::lz::{LzType, MAGIC, Reader, VERSION};
use crate::codec::{MAX_BYTES, MAX_DIM};

/// A parsed and validated GLZ header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub ty: LzType,
    pub top_down: bool,
    pub width: u32,
    pub height: u32,
    pub id: u64,
    pub win_head_dist: u32,
}

impl Header {
    /// The oldest image id this image (and every later one) may reference.
    pub fn head(&self) -> u64 {
        self.id.saturating_sub(u64::from(self.win_head_dist))
    }
}

pub(super) fn read_header(r: &mut Reader<'_>) -> Result<Header, CodecError> {
    if r.be32()? != MAGIC {
        return Err(CodecError::invalid(CODEC, "bad magic"));
    }
    if r.be32()? != VERSION {
        return Err(CodecError::invalid(CODEC, "unsupported version"));
    }
    let tb = r.u8()?;
    if tb >> 4 > 1 {
        return Err(CodecError::invalid(CODEC, "unknown flags in the type byte"));
    }
    let ty = match LzType::from_u32(u32::from(tb & 15)) {
        Some(t @ (LzType::Rgb16 | LzType::Rgb24 | LzType::Rgb32 | LzType::Rgba)) => t,
        Some(_) => return Err(CodecError::invalid(CODEC, "GLZ_RGB image of a palette or alpha type")),
        None => return Err(CodecError::invalid(CODEC, "unknown image type")),
    };
    let width = r.be32()?;
    let height = r.be32()?;
    let stride = r.be32()?;
    let id = r.be64()?;
    let win_head_dist = r.be32()?;
    if width == 0 || height == 0 {
        return Err(CodecError::invalid(CODEC, "empty image"));
    }
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(CodecError::invalid(CODEC, "negative size"));
    }
    if width > MAX_DIM || height > MAX_DIM || u64::from(width) * u64::from(height) * 4 > MAX_BYTES {
        return Err(CodecError::TooLarge {
            codec: CODEC,
            width: u64::from(width),
            height: u64::from(height),
        });
    }
    if ty.stride_for(width) != Some(stride) {
        return Err(CodecError::invalid(CODEC, "stride does not match the width"));
    }
    if u64::from(win_head_dist) > id {
        return Err(CodecError::invalid(CODEC, "window head before image 0"));
    }
    Ok(Header {
        ty,
        top_down: tb >> 4 == 1,
        width,
        height,
        id,
        win_head_dist,
    })
}

/// Reads and validates only the header of a GLZ image.
pub fn header(data: &[u8]) -> Result<Header, CodecError> {
    read_header(&mut Reader::new(data, CODEC))
}
