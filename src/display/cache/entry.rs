//! One cached image and how it keeps its pixels (see "Packed entries" and
//! "Encoded entries" in the parent module).

use std::sync::Arc;

use super::super::compact::{self, Packed};
use crate::proto::channel::display::{Image, ImageKind};

/// How a cached image keeps its pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CachedPixels {
    /// Top-down B,G,R,A rows, `width × 4` bytes each (maybe shared with the GLZ window).
    Full(Arc<Vec<u8>>),
    /// At most [`compact::MAX_COLOURS`] colours, packed.
    Packed(Arc<Packed>),
    /// Only the image as the server sent it (QUIC, LZ or JPEG, each
    /// self-contained): decoded again when drawn.
    Encoded(Arc<Image>),
}

/// Bytes of the payload of a kept encoded image.
pub(super) fn encoded_len(image: &Image) -> u64 {
    match &image.kind {
        ImageKind::Binary(d) => d.len() as u64,
        _ => 0,
    }
}

/// One cached image: top-down B,G,R,A rows, `width × 4` bytes each (or
/// packed, see "Packed entries").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedImage {
    pub width: u32,
    pub height: u32,
    /// False when the alpha bytes carry no meaning (they are 255).
    pub has_alpha: bool,
    /// Decoded from a lossy codec (JPEG, JPEG_ALPHA).
    pub lossy: bool,
    pub(super) pixels: CachedPixels,
    /// The image as sent, kept while the pixels are full size: it replaces
    /// them when the entry ages and cannot be packed.
    pub(super) encoded: Option<Arc<Image>>,
    /// Full size with too many colours to pack (checked once).
    pub(super) unpackable: bool,
    pub(super) refs: u32,
    pub(super) tick: u64,
}

impl CachedImage {
    /// A copy of the pixels: `height` rows of `width × 4` bytes (empty if
    /// an encoded entry no longer decodes, which cannot happen: it did once).
    pub fn data(&self) -> Vec<u8> {
        match &self.pixels {
            CachedPixels::Full(d) => d.to_vec(),
            CachedPixels::Packed(p) => compact::unpack(p, self.width as usize, self.height as usize),
            CachedPixels::Encoded(img) => {
                let mut buf = crate::codec::ImageBuf::new();
                match crate::display::image::decode_standalone(img, &mut buf) {
                    Ok(()) => buf.data,
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    /// Whether the entry is held packed.
    pub fn is_packed(&self) -> bool {
        matches!(self.pixels, CachedPixels::Packed(_))
    }

    /// Whether only the encoded image is held.
    pub fn is_encoded(&self) -> bool {
        matches!(self.pixels, CachedPixels::Encoded(_))
    }

    /// The pixels, shared (a lookup that outlives the cache lock holds this).
    pub(crate) fn shared_pixels(&self) -> CachedPixels {
        self.pixels.clone()
    }

    /// Bytes charged: the server's `width × height` pixels × 4, however held.
    pub(super) fn bytes(&self) -> u64 {
        u64::from(self.width)
            .saturating_mul(u64::from(self.height))
            .saturating_mul(4)
    }

    /// Bytes of memory the pixels (and a kept encoded image) take.
    pub(super) fn held(&self) -> u64 {
        let pixels = match &self.pixels {
            CachedPixels::Full(d) => d.len() as u64,
            CachedPixels::Packed(p) => p.data.len() as u64,
            CachedPixels::Encoded(img) => encoded_len(img),
        };
        pixels.saturating_add(self.encoded.as_deref().map_or(0, encoded_len))
    }

    /// Bytes of full-size pixels.
    pub(super) fn full_bytes(&self) -> u64 {
        match &self.pixels {
            CachedPixels::Full(d) => d.len() as u64,
            _ => 0,
        }
    }
}
