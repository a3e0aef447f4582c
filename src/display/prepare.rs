//! Preparing a message before the state lock is taken: every image of a
//! draw decoded (or looked up), in the order the draw reads them, and the
//! channel-private bookkeeping of the other messages (palettes, image cache
//! invalidations, video streams) done. [`DisplayState::apply`] then only
//! draws.
//!
//! A GLZ image may reference images that another display channel of the
//! session has not decoded yet. Nothing here waits: with
//! [`Absent::Pending`], [`DisplayDecoder::prepare`] stops at such an image
//! and says which image it waits for; the runtime then waits
//! (asynchronously, bounded, cancelled by shutdown) for the GLZ window's next
//! arrival and calls `prepare` again with the same [`Prepared`], which
//! resumes where it stopped ([`Absent::Missing`] gives up on the image: it
//! fails).
//!
//! Messages are prepared in order on the channel's own thread and each is
//! applied before the next is prepared, so the shared window, the image
//! cache and the palette cache see the images exactly in message order.

use super::cache::ImageStats;
use super::image::{Env, Held, Ready, Slot};
use super::stream::StreamStats;
use super::{DisplayDecoder, DisplayState};
use crate::codec::CodecError;
use crate::codec::glz::Absent;
use crate::proto::channel::display::{Brush, DisplayServer, Image, QMask};

/// How a draw reads an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Pixels: a source bitmap, a brush pattern, a composite mask.
    Pixels,
    /// The bits of a `QMask`.
    Mask,
}

/// Counters the decoder keeps for the state to show ([`DisplayState::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub images: ImageStats,
    pub streams: StreamStats,
    /// Bit `i`: stream `i` exists.
    pub live_streams: u64,
    /// The live streams' own figures.
    pub stream_infos: Vec<super::stream::StreamInfo>,
    /// Errors to count, by kind (stream messages the decoder refused).
    pub errors: Vec<&'static str>,
}

/// One message prepared by [`DisplayDecoder::prepare`], for
/// [`DisplayState::apply`]. Reuse it for the next message once
/// [`DisplayDecoder::recycle`] took back its buffers.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The message's images, in [`message_images`] order.
    pub(super) images: Vec<Slot>,
    /// The message's own bookkeeping is done (images may still wait).
    started: bool,
    /// What the state shows of the decoder's counters, if they changed.
    pub(super) counters: Option<Counters>,
    /// The zeroed pixels of the surface a SURFACE_CREATE or MODE creates.
    pub(super) surface: Option<Vec<u8>>,
}

impl Prepared {
    /// How many images were prepared (successfully or not).
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// How many images were decoded by a codec or taken from a cache:
    /// pixels the draw reads without decoding.
    pub fn decoded(&self) -> usize {
        self.images
            .iter()
            .filter(|s| matches!(s, Ok(Ready::Pixels { .. } | Ready::Mask(_))))
            .count()
    }
}

/// The name draws use in their errors.
fn op_name(m: &DisplayServer) -> &'static str {
    match m {
        DisplayServer::DrawFill { .. } => "draw_fill",
        DisplayServer::DrawCopy { .. } | DisplayServer::DrawBlend { .. } => "draw_copy",
        DisplayServer::DrawOpaque { .. } => "draw_opaque",
        DisplayServer::DrawBlackness { .. } => "draw_blackness",
        DisplayServer::DrawWhiteness { .. } => "draw_whiteness",
        DisplayServer::DrawInvers { .. } => "draw_invers",
        DisplayServer::DrawRop3 { .. } => "draw_rop3",
        DisplayServer::DrawStroke { .. } => "draw_stroke",
        DisplayServer::DrawText { .. } => "draw_text",
        DisplayServer::DrawTransparent { .. } => "draw_transparent",
        DisplayServer::DrawAlphaBlend { .. } => "draw_alpha_blend",
        DisplayServer::DrawComposite { .. } => "draw_composite",
        _ => "display",
    }
}

/// Every image a display message carries, in the order its draw reads them
/// (the mask first: the draw region depends on it).
pub(super) fn message_images(msg: &DisplayServer) -> Vec<(&Image, Role)> {
    fn brush(b: &Brush) -> Option<(&Image, Role)> {
        match b {
            Brush::Pattern { image, .. } => Some((image, Role::Pixels)),
            _ => None,
        }
    }
    fn mask(m: &QMask) -> Option<(&Image, Role)> {
        m.bitmap.as_ref().map(|i| (i, Role::Mask))
    }
    fn pixels(i: Option<&Image>) -> Option<(&Image, Role)> {
        i.map(|i| (i, Role::Pixels))
    }
    let images = match msg {
        DisplayServer::DrawFill { fill, .. } => vec![mask(&fill.mask), brush(&fill.brush)],
        DisplayServer::DrawCopy { copy, .. } | DisplayServer::DrawBlend { blend: copy, .. } => {
            vec![mask(&copy.mask), pixels(copy.src_bitmap.as_ref())]
        }
        DisplayServer::DrawOpaque { opaque: o, .. } => {
            vec![mask(&o.mask), pixels(o.src_bitmap.as_ref()), brush(&o.brush)]
        }
        DisplayServer::DrawBlackness { mask: m, .. }
        | DisplayServer::DrawWhiteness { mask: m, .. }
        | DisplayServer::DrawInvers { mask: m, .. } => vec![mask(m)],
        DisplayServer::DrawRop3 { rop3, .. } => {
            vec![mask(&rop3.mask), pixels(rop3.src_bitmap.as_ref()), brush(&rop3.brush)]
        }
        DisplayServer::DrawStroke { stroke, .. } => vec![brush(&stroke.brush)],
        DisplayServer::DrawText { text, .. } => vec![brush(&text.back_brush), brush(&text.fore_brush)],
        DisplayServer::DrawTransparent { transparent: t, .. } => vec![pixels(t.src_bitmap.as_ref())],
        DisplayServer::DrawAlphaBlend { alpha_blend: a, .. } => vec![pixels(a.src_bitmap.as_ref())],
        DisplayServer::DrawComposite { composite: c, .. } => {
            vec![pixels(c.src_bitmap.as_ref()), pixels(c.mask_bitmap.as_ref())]
        }
        _ => Vec::new(),
    };
    images.into_iter().flatten().collect()
}

/// The surface a draw message draws on.
fn draw_surface(m: &DisplayServer) -> Option<u32> {
    Some(match m {
        DisplayServer::DrawFill { base, .. }
        | DisplayServer::DrawCopy { base, .. }
        | DisplayServer::DrawBlend { base, .. }
        | DisplayServer::DrawOpaque { base, .. }
        | DisplayServer::DrawBlackness { base, .. }
        | DisplayServer::DrawWhiteness { base, .. }
        | DisplayServer::DrawInvers { base, .. }
        | DisplayServer::DrawRop3 { base, .. }
        | DisplayServer::DrawStroke { base, .. }
        | DisplayServer::DrawText { base, .. }
        | DisplayServer::DrawTransparent { base, .. }
        | DisplayServer::DrawAlphaBlend { base, .. }
        | DisplayServer::DrawComposite { base, .. } => base.surface_id,
        _ => return None,
    })
}

impl DisplayDecoder {
    /// Prepares `m` (see the module docs) into `p`, which must be fresh (or
    /// recycled) for a new message and the same one when resuming a wait.
    /// Returns the id of a GLZ image that an image references and that has
    /// not arrived yet (only with [`Absent::Pending`]): call again once the
    /// window has had another arrival. `None`: `m` is ready to apply.
    pub fn prepare(&mut self, m: &DisplayServer, p: &mut Prepared, absent: Absent) -> Option<u64> {
        if !p.started {
            p.started = true;
            self.message(m, p);
        }
        let op = op_name(m);
        // The destination's format decides how palettes are read; a draw on
        // a surface that does not exist fails before it reads its images.
        let dest = draw_surface(m).and_then(|id| self.surfaces.get(&id)).map(|s| s.format);
        for (image, role) in message_images(m).into_iter().skip(p.images.len()) {
            let slot = match (dest, role) {
                (None, _) => Ok(Ready::Skipped),
                (Some(_), Role::Mask) => self.images.mask(&mut self.image_stats, op, image),
                (Some(format), Role::Pixels) => {
                    let env = Env {
                        palettes: &mut self.palettes,
                        stats: &mut self.image_stats,
                    };
                    self.images.resolve(env, op, image, format, absent)
                }
            };
            if let Err(super::DisplayError::Image {
                error: super::ImageError::Codec(CodecError::GlzPending { id, .. }),
                ..
            }) = &slot
            {
                return Some(*id);
            }
            p.images.push(slot);
        }
        p.counters = self.counters();
        None
    }

    /// Done with an applied message: its decode buffers go back to the pool
    /// and `p` is ready for the next message.
    pub fn recycle(&mut self, p: &mut Prepared) {
        for slot in p.images.drain(..) {
            if let Ok(Ready::Pixels {
                pixels: Held::Buf(buf), ..
            }) = slot
            {
                self.images.give_back(buf);
            }
        }
        p.started = false;
        p.counters = None;
        p.surface = None;
    }
}

impl DisplayState {
    /// Applies one message prepared by the channel's [`DisplayDecoder`]:
    /// only the drawing and the bookkeeping the surfaces need happen here
    /// (under the lock the UI shares). Never panics; failures come back as
    /// [`super::DisplayEvent::Error`] and are counted.
    pub fn apply(&mut self, m: &DisplayServer, p: &mut Prepared) -> Vec<super::DisplayEvent> {
        if let Some(c) = p.counters.take() {
            self.publish(c);
        }
        self.ready_at.clear();
        self.ready_at.extend(
            message_images(m)
                .iter()
                .map(|(image, _)| std::ptr::from_ref(*image).addr()),
        );
        std::mem::swap(&mut self.ready, &mut p.images);
        self.ready_surface = p.surface.take();
        let events = self.handle(m);
        // Not taken (the create failed): freed by the decoder, off the lock.
        p.surface = self.ready_surface.take();
        std::mem::swap(&mut self.ready, &mut p.images);
        self.ready_at.clear();
        events
    }
}
