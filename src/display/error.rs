//! Errors of the display state: every way a display message can fail to apply.

use thiserror::Error;

use crate::proto::DecodeError;

/// A feature a message needs that is not implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unsupported {
    ImageType(u8),
    BitmapFormat(u8),
    Mask,
    PatternBrush,
    DrawOp(u16),
    Message(u16),
}

impl Unsupported {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::ImageType(_) => "unsupported_image_type",
            Self::BitmapFormat(_) => "unsupported_bitmap_format",
            Self::Mask => "unsupported_mask",
            Self::PatternBrush => "unsupported_pattern_brush",
            Self::DrawOp(_) => "unsupported_draw_op",
            Self::Message(_) => "unsupported_message",
        }
    }
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ImageType(t) => write!(f, "image type {t}"),
            Self::BitmapFormat(t) => write!(f, "bitmap format {t}"),
            Self::Mask => f.write_str("mask"),
            Self::PatternBrush => f.write_str("pattern brush"),
            Self::DrawOp(t) => write!(f, "draw operation {t}"),
            Self::Message(t) => write!(f, "message {t}"),
        }
    }
}

/// Why a display message was not (fully) applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DisplayError {
    #[error("surface {id}: {width}x{height} exceeds the surface limits")]
    SurfaceTooLarge { id: u32, width: u32, height: u32 },
    #[error("surface {id}: empty size {width}x{height}")]
    SurfaceEmpty { id: u32, width: u32, height: u32 },
    #[error("surface {id}: {requested} bytes would exceed the budget ({in_use} of {max} in use)")]
    SurfaceBudget {
        id: u32,
        requested: u64,
        in_use: u64,
        max: u64,
    },
    #[error("{op}: {requested} bytes would take the session past its memory budget ({used} of {limit} bytes in use)")]
    OverBudget {
        op: &'static str,
        requested: u64,
        used: u64,
        limit: u64,
    },
    #[error("surface {id}: could not allocate {bytes} bytes")]
    SurfaceAlloc { id: u32, bytes: u64 },
    #[error("surface {id} already exists")]
    DuplicateSurface { id: u32 },
    #[error("surface {id}: unknown format {format}")]
    BadSurfaceFormat { id: u32, format: u32 },
    #[error("{op}: no surface {id}")]
    NoSuchSurface { op: &'static str, id: u32 },
    #[error("{op}: {count} clip rectangles exceed the limit of {max}")]
    TooManyClipRects { op: &'static str, count: usize, max: usize },
    #[error("{op}: unsupported {what}")]
    Unsupported { op: &'static str, what: Unsupported },
    #[error("{op}: bad bitmap: {reason}")]
    BadBitmap { op: &'static str, reason: &'static str },
    #[error("{op}: no source image")]
    NoSourceImage { op: &'static str },
    #[error("{op}: palettised bitmap without a palette")]
    NoPalette { op: &'static str },
    #[error("{op}: palette {id} is not cached")]
    PaletteMissing { op: &'static str, id: u64 },
    #[error("{op}: palette index {index} outside the {len}-entry palette")]
    PaletteIndex { op: &'static str, index: u32, len: usize },
    #[error("display message {msg_type}: {error}")]
    Decode { msg_type: u16, error: DecodeError },
    #[error("{op}: {error}")]
    Image {
        op: &'static str,
        error: super::image::ImageError,
    },
}

impl DisplayError {
    /// A stable name for counting errors by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SurfaceTooLarge { .. } => "surface_too_large",
            Self::SurfaceEmpty { .. } => "surface_empty",
            Self::SurfaceBudget { .. } => "surface_budget",
            Self::SurfaceAlloc { .. } => "surface_alloc",
            Self::OverBudget { .. } => "over_budget",
            Self::DuplicateSurface { .. } => "duplicate_surface",
            Self::BadSurfaceFormat { .. } => "bad_surface_format",
            Self::NoSuchSurface { .. } => "no_such_surface",
            Self::TooManyClipRects { .. } => "too_many_clip_rects",
            Self::Unsupported { what, .. } => what.kind(),
            Self::BadBitmap { .. } => "bad_bitmap",
            Self::NoSourceImage { .. } => "no_source_image",
            Self::NoPalette { .. } => "no_palette",
            Self::PaletteMissing { .. } => "palette_missing",
            Self::PaletteIndex { .. } => "palette_index",
            Self::Decode { .. } => "decode",
            Self::Image { error, .. } => error.kind(),
        }
    }
}
