//! Display channel state (L0, sans-IO): decodes display-channel messages,
//! applies them to surfaces and reports what changed.
//!
//! A display channel is two halves:
//! - [`DisplayDecoder`], private to the channel: image decoders and their
//!   buffers, the palette cache, handles on the session's image cache and
//!   GLZ window, the video streams and their decoders. It *prepares* each
//!   message ([`DisplayDecoder::prepare`]): every image decoded, looked up
//!   or stored, in message order.
//! - [`DisplayState`], what the UI reads (surfaces, monitors, the journal,
//!   counters), shared with it behind a lock: it *applies* a prepared
//!   message ([`DisplayState::apply`]), which only draws, and returns
//!   [`DisplayEvent`]s: surfaces created or destroyed, damaged rectangles,
//!   MARK/RESET, monitor layouts, and errors.
//!
//! So no codec runs while the state is locked. [`Pipeline`] holds both for
//! a caller without a UI to share with (replay, tests, benchmarks):
//! [`Pipeline::handle`] prepares and applies a message. No threads, sockets
//! or clocks; nothing here panics on server input. A draw that cannot be
//! applied is dropped, counted in [`DisplayStats`] and reported as
//! [`DisplayEvent::Error`]; the channel keeps working.
//!
//! # Pixel storage
//! Every surface is stored as 32-bit pixels, bytes B,G,R,A in memory (the
//! cairo/pixman ARGB32 layout on little-endian machines, also what SPICE sends
//! for 32-bit bitmaps), rows `stride()` bytes apart. 16-bit surfaces are
//! stored expanded: brush colours and palettes sent for them (555 or 565) are
//! widened on the way in, and ROPs other than copy then act on the widened
//! values, an approximation of the native 16-bit result. A8/A1 surfaces keep
//! their alpha in all four bytes (grey). For `32_xRGB` surfaces the 4th byte
//! is unspecified.
//!
//! # What is drawn
//! - DRAW_FILL with a solid, pattern (or no) brush and any ROP descriptor.
//! - DRAW_COPY from images of every type ([`image`]: uncompressed BITMAPs in
//!   every format, each codec, cached images, other surfaces), with any ROP;
//!   `src_area` cropping; scaling when `src_area` and the box differ, always
//!   with nearest sampling (spice-gtk interpolates for `INTERPOLATE`).
//! - COPY_BITS, overlap-safe.
//! - OPAQUE, BLEND, BLACKNESS, WHITENESS, INVERS, ROP3 (all 256 codes),
//!   STROKE (thin lines and béziers, solid or dashed), TEXT (A1/A4/A8
//!   glyphs), TRANSPARENT, ALPHA_BLEND and COMPOSITE (every pixman
//!   operator, affine transforms, repeat modes, nearest and bilinear
//!   filters); 1-bit masks on every op that has one (see `ops`).
//! - Clip rectangles on all of them (hostile lists capped by
//!   [`Limits::max_clip_rects`]).
//! - Video streams (`stream`): frames decoded by the decoder's stream
//!   scheduler, drawn by [`DisplayState::draw_frames`].
//!
//! Not drawn (counted as unsupported): GL_DRAW, COMPOSITE with convolution
//! filters.
//!
//! # Choices
//! - RESET clears the primary surface to zero and drops the palette cache,
//!   like spice-gtk; other surfaces are kept.
//! - A SURFACE_CREATE reusing a live id is rejected (the old surface stays).
//!   A new primary replaces the previous primary (reported destroyed first),
//!   as spice-gtk does when sizes differ.
//! - Damage is reported for every surface, primary or not.

#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

mod bitmap;
mod cache;
mod canvas;
mod compact;
mod decoder;
mod error;
mod image;
mod journal;
mod ops;
mod pipeline;
mod prepare;
mod region;
mod relink;
pub mod stream;
mod surface;
mod surfaces;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use crate::proto::DecodeError;
use crate::proto::channel::display::{
    CopyOp, DisplayBase, DisplayServer, Point, Rect, SurfaceCreate, msg, ropd, surface_flags,
};

pub use crate::proto::channel::display::Head as MonitorHead;
pub use cache::{
    CachedImage, DEFAULT_IMAGE_CACHE_BYTES, ImageCache, ImageStats, MAX_CACHED_IMAGES, RES_TYPE_PIXMAP,
    SharedImageCache,
};
pub use canvas::Rop;
pub use decoder::DisplayDecoder;
pub use error::{DisplayError, Unsupported};
pub use image::{DEFAULT_GLZ_WINDOW_BYTES, ImageError};
pub use journal::{JournalCursor, Patch, Plan, PlannedMove};
pub use pipeline::Pipeline;
pub use prepare::Prepared;
use region::{PixBox, draw_region};
pub use stream::{
    DecodeResult, DecodedFrame, EncodedFrame, FrameMemory, Pixels, StreamError, StreamInfo, StreamStats, StreamTick,
    VideoDecoder, VideoDecoderFactory, VideoError, VideoStreamInfo, VideoTick, VideoWake,
};
pub use surface::{Surface, SurfaceFormat};

/// spice-gtk's `MONITORS_MAX`: the most heads one display channel may report.
pub const MAX_MONITORS: u16 = 256;

/// Caps enforced before allocating (hostile-inputs rows 15 and 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest width or height of one surface.
    pub max_surface_dim: u32,
    /// Largest pixel storage of one surface.
    pub max_surface_bytes: u64,
    /// Largest pixel storage of all surfaces together.
    pub max_total_bytes: u64,
    /// Most clip rectangles one draw may carry.
    pub max_clip_rects: usize,
    /// Image cache budget in bytes: the `pixmap_cache_size` announced in
    /// DISPLAY_INIT (pixels) × 4.
    pub image_cache_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_surface_dim: 16384,
            max_surface_bytes: 1 << 30,
            max_total_bytes: 2 << 30,
            max_clip_rects: 10_000,
            image_cache_bytes: DEFAULT_IMAGE_CACHE_BYTES,
        }
    }
}

/// What a handled message changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayEvent {
    SurfaceCreated {
        id: u32,
        width: u32,
        height: u32,
        format: SurfaceFormat,
        primary: bool,
    },
    SurfaceDestroyed {
        id: u32,
    },
    /// Pixels inside `rect` (clipped to the surface) may have changed.
    Damage {
        surface_id: u32,
        rect: Rect,
    },
    /// The server finished the first complete frame.
    Mark,
    Reset,
    MonitorsConfig(Vec<MonitorHead>),
    Error(DisplayError),
}

/// Counters for diagnostics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisplayStats {
    /// Messages applied ([`DisplayState::apply`]).
    pub messages: u64,
    pub draws_applied: u64,
    /// Draws not applied (error, unsupported, missing surface).
    pub draws_dropped: u64,
    pub unknown_messages: u64,
    /// Errors by [`DisplayError::kind`].
    pub errors: BTreeMap<&'static str, u64>,
    /// Image decoding and image cache counters.
    pub images: ImageStats,
}

impl DisplayStats {
    pub fn errors_of(&self, kind: &str) -> u64 {
        self.errors.get(kind).copied().unwrap_or(0)
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// What the UI sees of one display channel: surfaces, monitors, the
/// journal, counters. Shared with the UI behind a lock, and only ever
/// changed by applying messages its channel's [`DisplayDecoder`] prepared
/// (see the module docs).
#[derive(Debug, Default)]
pub struct DisplayState {
    limits: Limits,
    surfaces: HashMap<u32, Surface>,
    primary: Option<u32>,
    monitors: Vec<MonitorHead>,
    /// MONITORS_CONFIG's `max_allowed` (0 until the server sent one).
    monitors_max: u16,
    stats: DisplayStats,
    total_bytes: u64,
    marked: bool,
    /// Recent changes of the primary surface, once a consumer follows them.
    journal: journal::Journal,
    /// The primary surface is an earlier server's ([`Self::forget_server`]).
    stale_primary: bool,
    /// The earlier server's picture, painted into the new server's primary
    /// surfaces until it draws (see [`relink`]); counted in `total_bytes`.
    stale_picture: Option<Surface>,
    /// The session's image cache, for [`Self::image_cache`] (the decoder uses it).
    cache: SharedImageCache,
    /// The video streams as the decoder last reported them.
    video: stream::VideoView,
    /// While a message is applied: its prepared images, and the address of
    /// the image each is for (see [`image::find`]).
    ready: Vec<image::Slot>,
    ready_at: Vec<usize>,
    /// While a SURFACE_CREATE (or MODE) is applied: its pixels, zeroed by the decoder.
    ready_surface: Option<Vec<u8>>,
    /// The surfaces' pixels held from the session's memory budget (`None`:
    /// only [`Limits`] apply).
    surface_budget: Option<crate::budget::Reservation>,
}

/// The primary surface a MODE message (old servers) creates.
fn mode_create(width: u32, height: u32, bits: u32) -> SurfaceCreate {
    SurfaceCreate {
        surface_id: 0,
        width,
        height,
        format: if bits == 32 {
            SurfaceFormat::Xrgb32.to_wire()
        } else {
            SurfaceFormat::Rgb555.to_wire()
        },
        flags: surface_flags::PRIMARY,
    }
}

type DrawResult = Result<Option<PixBox>, DisplayError>;

impl DisplayState {
    /// A state with an image cache handle of its own (for
    /// [`Self::image_cache`]).
    pub fn new(limits: Limits) -> Self {
        Self::with_cache(limits, SharedImageCache::new(limits.image_cache_bytes))
    }

    /// A state of a session whose display channels share the image `cache`.
    pub fn with_cache(limits: Limits, cache: SharedImageCache) -> Self {
        Self {
            limits,
            cache,
            ..Self::default()
        }
    }

    /// Counts the surfaces' pixels against the session's memory `budget`: a
    /// SURFACE_CREATE that does not fit is refused (an error event) and the
    /// session goes on.
    pub fn set_budget(&mut self, budget: &std::sync::Arc<crate::budget::MemoryBudget>) {
        let mut r = budget.empty();
        // Surfaces created before count too (none in practice: set at channel start).
        if r.resize(self.total_bytes).is_ok() {
            self.surface_budget = Some(r);
        }
    }

    /// The image (pixmap) cache, locked: do not hold it while the channel
    /// prepares a message.
    pub fn image_cache(&self) -> std::sync::MutexGuard<'_, ImageCache> {
        self.cache.lock()
    }

    /// Applies one prepared message (see [`Self::apply`]).
    fn handle(&mut self, m: &DisplayServer) -> Vec<DisplayEvent> {
        let mut ev = Vec::new();
        self.stats.messages = self.stats.messages.saturating_add(1);
        match m {
            DisplayServer::Base(_) => {}
            DisplayServer::Mode { x_res, y_res, bits } => {
                self.surface_create(&mode_create(*x_res, *y_res, *bits), &mut ev);
            }
            DisplayServer::Mark => {
                self.drop_stale_picture();
                self.marked = true;
                ev.push(DisplayEvent::Mark);
            }
            DisplayServer::Reset => self.reset(&mut ev),
            DisplayServer::CopyBits { base, src_pos } => {
                // Journaled as a move by `copy_bits`, not as damage.
                let r = self.copy_bits(base, src_pos);
                self.finish_draw_unjournaled(base.surface_id, r, &mut ev);
            }
            DisplayServer::DrawFill { base, fill } => {
                let r = self.draw_fill(base, fill);
                self.finish_draw(base.surface_id, r, &mut ev);
            }
            DisplayServer::DrawCopy { base, copy } => {
                let r = self.draw_copy(base, copy);
                self.finish_draw(base.surface_id, r, &mut ev);
            }
            DisplayServer::SurfaceCreate(c) => self.surface_create(c, &mut ev),
            DisplayServer::SurfaceDestroy { surface_id } => self.surface_destroy(*surface_id, &mut ev),
            DisplayServer::MonitorsConfig { max_allowed, heads } => self.monitors_config(*max_allowed, heads, &mut ev),
            // The decoder's: palettes, the image cache, video streams.
            DisplayServer::InvalPalette { .. }
            | DisplayServer::InvalAllPalettes
            | DisplayServer::InvalList(_)
            | DisplayServer::InvalAllPixmaps(_)
            | DisplayServer::StreamCreate(_)
            | DisplayServer::StreamData(_)
            | DisplayServer::StreamDataSized(_)
            | DisplayServer::StreamClip(_)
            | DisplayServer::StreamActivateReport(_)
            | DisplayServer::StreamDestroy { .. }
            | DisplayServer::StreamDestroyAll => {}
            DisplayServer::GlDraw { .. } => {
                let what = Unsupported::Message(msg::GL_DRAW);
                self.error(DisplayError::Unsupported { op: "gl_draw", what }, &mut ev);
            }
            DisplayServer::DrawOpaque { .. }
            | DisplayServer::DrawBlend { .. }
            | DisplayServer::DrawBlackness { .. }
            | DisplayServer::DrawWhiteness { .. }
            | DisplayServer::DrawInvers { .. }
            | DisplayServer::DrawRop3 { .. }
            | DisplayServer::DrawStroke { .. }
            | DisplayServer::DrawText { .. }
            | DisplayServer::DrawTransparent { .. }
            | DisplayServer::DrawAlphaBlend { .. }
            | DisplayServer::DrawComposite { .. } => {
                if let Some((id, r)) = self.handle_draw_op(m) {
                    self.finish_draw(id, r, &mut ev);
                }
            }
            DisplayServer::Unparsed { msg_type, .. } if msg::is_draw(*msg_type) => {
                self.stats.draws_dropped = self.stats.draws_dropped.saturating_add(1);
                let what = Unsupported::DrawOp(*msg_type);
                self.error(DisplayError::Unsupported { op: "draw", what }, &mut ev);
            }
            DisplayServer::Unparsed { msg_type, .. } => {
                let what = Unsupported::Message(*msg_type);
                self.error(DisplayError::Unsupported { op: "display", what }, &mut ev);
            }
            DisplayServer::Unknown { .. } => {
                self.stats.unknown_messages = self.stats.unknown_messages.saturating_add(1);
            }
        }
        ev
    }

    /// Counts a message the runtime could not decode (a dropped draw if it was one).
    pub fn record_decode_error(&mut self, msg_type: u16, error: DecodeError) -> DisplayEvent {
        self.stats.messages = self.stats.messages.saturating_add(1);
        if msg::is_draw(msg_type) || msg_type == msg::COPY_BITS {
            self.stats.draws_dropped = self.stats.draws_dropped.saturating_add(1);
        }
        let e = DisplayError::Decode { msg_type, error };
        self.count(&e);
        DisplayEvent::Error(e)
    }

    pub fn surface(&self, id: u32) -> Option<&Surface> {
        self.surfaces.get(&id)
    }

    pub fn primary(&self) -> Option<(u32, &Surface)> {
        let id = self.primary?;
        Some((id, self.surfaces.get(&id)?))
    }

    /// Ids of all live surfaces, in no particular order.
    pub fn surface_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.surfaces.keys().copied()
    }

    pub fn monitors(&self) -> &[MonitorHead] {
        &self.monitors
    }

    /// How many monitors the guest allows on this channel (MONITORS_CONFIG
    /// `max_allowed`, at most [`MAX_MONITORS`]); 0 until the server said.
    pub fn monitors_max(&self) -> u16 {
        self.monitors_max
    }

    pub fn stats(&self) -> &DisplayStats {
        &self.stats
    }

    /// Whether MARK arrived since the last RESET.
    pub fn is_marked(&self) -> bool {
        self.marked
    }

    /// For a consumer that has just copied the primary surface (under the
    /// same lock): where it is in the surface's journal. The first call
    /// starts recording (see [`journal`]). `None` without a primary surface.
    pub fn journal_position(&mut self) -> Option<JournalCursor> {
        let id = self.primary?;
        Some(self.journal.position(id))
    }

    /// What a consumer at `cursor` with a copy of `monitor` (a rectangle of
    /// the primary surface) must do to be up to date, and its new position;
    /// `None` when it must copy everything again (it fell behind, or the
    /// primary surface changed).
    pub fn journal_plan(&self, cursor: JournalCursor, monitor: Patch) -> Option<(Plan, JournalCursor)> {
        let id = self.primary?;
        let x1 = monitor.x.checked_add(monitor.w)?;
        let y1 = monitor.y.checked_add(monitor.h)?;
        let c = |v: u32| usize::try_from(v).ok();
        let b = PixBox {
            x0: c(monitor.x)?,
            y0: c(monitor.y)?,
            x1: c(x1)?,
            y1: c(y1)?,
        };
        self.journal.plan(id, cursor, b)
    }

    /// Pixel bytes held by all surfaces.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    fn count(&mut self, e: &DisplayError) {
        let n = self.stats.errors.entry(e.kind()).or_default();
        *n = n.saturating_add(1);
    }

    fn error(&mut self, e: DisplayError, ev: &mut Vec<DisplayEvent>) {
        tracing::debug!(error = %e, "display message not applied");
        self.count(&e);
        ev.push(DisplayEvent::Error(e));
    }

    fn finish_draw(&mut self, surface_id: u32, r: DrawResult, ev: &mut Vec<DisplayEvent>) {
        if let Ok(Some(b)) = &r
            && self.primary == Some(surface_id)
        {
            self.journal.damage(*b);
        }
        self.finish_draw_unjournaled(surface_id, r, ev);
    }

    fn finish_draw_unjournaled(&mut self, surface_id: u32, r: DrawResult, ev: &mut Vec<DisplayEvent>) {
        match r {
            Ok(damage) => {
                if self.primary == Some(surface_id) {
                    self.drop_stale_picture();
                }
                self.stats.draws_applied = self.stats.draws_applied.saturating_add(1);
                if let Some(b) = damage {
                    ev.push(DisplayEvent::Damage {
                        surface_id,
                        rect: b.to_rect(),
                    });
                }
            }
            Err(e) => {
                self.stats.draws_dropped = self.stats.draws_dropped.saturating_add(1);
                self.error(e, ev);
            }
        }
    }

    fn reset(&mut self, ev: &mut Vec<DisplayEvent>) {
        self.drop_stale_picture();
        self.marked = false;
        ev.push(DisplayEvent::Reset);
        if let Some(id) = self.primary
            && let Some(s) = self.surfaces.get_mut(&id)
        {
            s.clear();
            let (w, h) = s.dims();
            if let Some(b) = PixBox::clipped(0, 0, i64::MAX, i64::MAX, w, h) {
                self.journal.damage(b);
                ev.push(DisplayEvent::Damage {
                    surface_id: id,
                    rect: b.to_rect(),
                });
            }
        }
    }

    /// Like spice-gtk: an empty list is ignored, `max_allowed` is clamped to
    /// 1..=256 and the list to `max_allowed` heads.
    fn monitors_config(&mut self, max_allowed: u16, heads: &[MonitorHead], ev: &mut Vec<DisplayEvent>) {
        if heads.is_empty() {
            return;
        }
        self.monitors_max = max_allowed.clamp(1, MAX_MONITORS);
        let max = usize::from(self.monitors_max);
        self.monitors = heads.iter().take(max).copied().collect();
        ev.push(DisplayEvent::MonitorsConfig(self.monitors.clone()));
    }

    fn surface_mut(&mut self, op: &'static str, id: u32) -> Result<&mut Surface, DisplayError> {
        self.surfaces.get_mut(&id).ok_or(DisplayError::NoSuchSurface { op, id })
    }

    fn region(&self, op: &'static str, base: &DisplayBase, s: &Surface) -> Result<Vec<PixBox>, DisplayError> {
        let (w, h) = s.dims();
        draw_region(op, &base.bbox, &base.clip, w, h, self.limits.max_clip_rects)
    }

    fn copy_bits(&mut self, base: &DisplayBase, src_pos: &Point) -> DrawResult {
        const OP: &str = "copy_bits";
        let surface = self.surface(base.surface_id).ok_or(DisplayError::NoSuchSurface {
            op: OP,
            id: base.surface_id,
        })?;
        let region = self.region(OP, base, surface)?;
        let dx = i64::from(base.bbox.left) - i64::from(src_pos.x);
        let dy = i64::from(base.bbox.top) - i64::from(src_pos.y);
        let moved = canvas::copy_bits(self.surface_mut(OP, base.surface_id)?, &region, dx, dy);
        if self.primary == Some(base.surface_id) {
            self.journal.moved(&moved, dx, dy);
        }
        Ok(region::extents(&moved))
    }

    fn draw_copy(&mut self, base: &DisplayBase, copy: &CopyOp) -> DrawResult {
        const OP: &str = "draw_copy";
        let (_, region) = self.masked_region(OP, base, Some(&copy.mask))?;
        let image = copy.src_bitmap.as_ref().ok_or(DisplayError::NoSourceImage { op: OP })?;
        let ready = image::find(&self.ready, &self.ready_at, OP, image)?;
        let (source, src_area) = ready.source(OP, image, &copy.src_area, &self.surfaces)?;
        let rop = Rop::from_descriptor(copy.rop_descriptor, ropd::INVERS_SRC);
        let surface = self
            .surfaces
            .get_mut(&base.surface_id)
            .ok_or(DisplayError::NoSuchSurface {
                op: OP,
                id: base.surface_id,
            })?;
        Ok(canvas::blit(surface, &region, &source, &base.bbox, &src_area, rop))
    }
}
