//! GLZ images decoded before a display channel takes its state lock.
//!
//! A GLZ image may reference images that another display channel of the
//! session has not decoded yet. Nothing here waits: a [`GlzPredecoder`] runs
//! the GLZ decodes of a message first, without the state lock, and stops at
//! an image whose reference has not arrived ([`Absent::Pending`]); the runtime
//! then waits (asynchronously, bounded, cancelled by shutdown) for the GLZ
//! window's next arrival and calls [`GlzPredecoder::decode`] again, which
//! resumes where it stopped. Once every image is done,
//! [`DisplayState::handle_predecoded`] uses them instead of decoding.
//!
//! The decodes happen in message order on the channel's own thread, so the
//! shared window sees the images exactly as it would through `handle`. An
//! image the predecoder did not reach is decoded by `handle` with
//! [`Absent::Missing`] (never pending under the lock).

use std::sync::Arc;

use super::image::DEFAULT_GLZ_WINDOW_BYTES;
use super::{DisplayEvent, DisplayState};
use crate::codec::glz::{Absent, Decoded, GlzWindow};
use crate::codec::{self, CodecError};
use crate::proto::channel::display::{Brush, DisplayServer, Image, ImageKind, QMask, image_type};

/// One GLZ image decoded ahead of its draw: its pixels are shared with the
/// GLZ window (and with the image cache if the draw caches it).
#[derive(Debug)]
pub(crate) struct Predecoded {
    pub id: u64,
    pub image_type: u8,
    pub result: Result<Decoded, CodecError>,
    /// Taken by the draw.
    pub used: bool,
}

/// The GLZ images of one message, decoded by [`GlzPredecoder::decode`].
#[derive(Debug, Default)]
pub struct GlzImages {
    pub(crate) items: Vec<Predecoded>,
    /// Images of the message looked at so far (GLZ or not).
    seen: usize,
}

impl GlzImages {
    /// How many images were decoded ahead (successfully or not).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Decodes the GLZ images of display messages outside the state lock, with
/// the window of the [`DisplayState`] it came from.
#[derive(Debug)]
pub struct GlzPredecoder {
    window: Arc<GlzWindow>,
    inflate: Vec<u8>,
}

impl GlzPredecoder {
    /// Decodes the GLZ and ZLIB_GLZ images of `msg` not in `images` yet, in
    /// order. Returns the id of an image that an image references and that
    /// has not arrived yet (only with [`Absent::Pending`]): call again, with
    /// the same `images`, once the window has had another arrival (or with
    /// [`Absent::Missing`] to give up on it). `None`: every image is done.
    pub fn decode(&mut self, msg: &DisplayServer, images: &mut GlzImages, absent: Absent) -> Option<u64> {
        for image in message_images(msg).into_iter().skip(images.seen) {
            let d = &image.descriptor;
            let result = match &image.kind {
                _ if !matches!(d.image_type, image_type::GLZ_RGB | image_type::ZLIB_GLZ_RGB) => None,
                ImageKind::Binary(data) if d.image_type == image_type::GLZ_RGB => {
                    Some(self.window.decode_shared(data, absent))
                }
                ImageKind::ZlibGlz { glz_data_size, data } if d.image_type == image_type::ZLIB_GLZ_RGB => Some(
                    codec::zlib_glz::decode_shared(*glz_data_size, data, &self.window, &mut self.inflate, absent),
                ),
                // A type/kind mismatch: left to `handle`, which reports it.
                _ => None,
            };
            if let Some(Err(CodecError::GlzPending { id, .. })) = &result {
                return Some(*id);
            }
            images.seen = images.seen.saturating_add(1);
            if let Some(result) = result {
                images.items.push(Predecoded {
                    id: d.id,
                    image_type: d.image_type,
                    result,
                    used: false,
                });
            }
        }
        None
    }

    /// The GLZ window (the runtime waits for its arrivals).
    pub fn window(&self) -> &Arc<GlzWindow> {
        &self.window
    }

    /// Done with `images` (their pixels live on in the window and cache only).
    pub fn recycle(&mut self, images: GlzImages) {
        drop(images);
    }
}

impl DisplayState {
    /// A predecoder sharing this state's GLZ window.
    pub fn glz_predecoder(&mut self) -> GlzPredecoder {
        let window = self
            .images
            .glz
            .get_or_insert_with(|| Arc::new(GlzWindow::new(DEFAULT_GLZ_WINDOW_BYTES)));
        GlzPredecoder {
            window: Arc::clone(window),
            inflate: Vec::new(),
        }
    }

    /// [`DisplayState::handle`] with the GLZ images of `m` already decoded by
    /// a [`GlzPredecoder`] of this state: nothing waits here.
    pub fn handle_predecoded(&mut self, m: &DisplayServer, glz: &mut GlzImages) -> Vec<DisplayEvent> {
        std::mem::swap(&mut self.images.predecoded, &mut glz.items);
        let events = self.handle(m);
        std::mem::swap(&mut self.images.predecoded, &mut glz.items);
        events
    }
}

/// Every image a display message carries (sources, brush patterns, masks).
fn message_images(msg: &DisplayServer) -> Vec<&Image> {
    fn brush(b: &Brush) -> Option<&Image> {
        match b {
            Brush::Pattern { image, .. } => Some(image),
            _ => None,
        }
    }
    fn mask(m: &QMask) -> Option<&Image> {
        m.bitmap.as_ref()
    }
    let images = match msg {
        DisplayServer::DrawFill { fill, .. } => vec![brush(&fill.brush), mask(&fill.mask)],
        DisplayServer::DrawCopy { copy, .. } | DisplayServer::DrawBlend { blend: copy, .. } => {
            vec![copy.src_bitmap.as_ref(), mask(&copy.mask)]
        }
        DisplayServer::DrawOpaque { opaque, .. } => {
            vec![opaque.src_bitmap.as_ref(), brush(&opaque.brush), mask(&opaque.mask)]
        }
        DisplayServer::DrawBlackness { mask: m, .. }
        | DisplayServer::DrawWhiteness { mask: m, .. }
        | DisplayServer::DrawInvers { mask: m, .. } => vec![mask(m)],
        DisplayServer::DrawRop3 { rop3, .. } => {
            vec![rop3.src_bitmap.as_ref(), brush(&rop3.brush), mask(&rop3.mask)]
        }
        DisplayServer::DrawStroke { stroke, .. } => vec![brush(&stroke.brush)],
        DisplayServer::DrawText { text, .. } => vec![brush(&text.fore_brush), brush(&text.back_brush)],
        DisplayServer::DrawTransparent { transparent, .. } => vec![transparent.src_bitmap.as_ref()],
        DisplayServer::DrawAlphaBlend { alpha_blend, .. } => vec![alpha_blend.src_bitmap.as_ref()],
        DisplayServer::DrawComposite { composite, .. } => {
            vec![composite.src_bitmap.as_ref(), composite.mask_bitmap.as_ref()]
        }
        _ => Vec::new(),
    };
    images.into_iter().flatten().collect()
}
