//! The channel-private half of a display channel: what decoding needs and
//! the UI never reads. A [`DisplayDecoder`] lives on the channel's thread,
//! outside the [`DisplayState`] lock: it prepares every message before the
//! state applies it ([`DisplayDecoder::prepare`]) and runs the video streams
//! ([`DisplayDecoder::stream_tick`]), so no codec runs while the UI waits
//! for the lock.
//!
//! It keeps:
//! - the image decoders' buffers, and handles on the session's image cache
//!   and GLZ window;
//! - the palette cache (`PAL_CACHE_ME`, INVAL_PALETTE, RESET);
//! - the video streams: their queues, schedulers, reports and decoders;
//! - the formats and sizes of the state's surfaces, learnt from the events
//!   [`DisplayState::apply`] returns ([`DisplayDecoder::observe`]): a
//!   palette is read for the destination's format, and a stream checks its
//!   surface and destination;
//! - the image and stream counters, handed to the state with each prepared
//!   message or video tick, for [`DisplayState::stats`].
//!
//! It also allocates and zeroes the pixels of a surface a SURFACE_CREATE (or
//! MODE) creates, when the state will create it (same checks), so that
//! touching megabytes of fresh memory does not happen under the lock either.

use std::collections::HashMap;
use std::sync::Arc;

use super::bitmap::PaletteCache;
use super::cache::{ImageStats, SharedImageCache};
use super::image::{DEFAULT_GLZ_WINDOW_BYTES, Images};
use super::prepare::{Counters, Prepared};
use super::stream::{StreamState, StreamStats, VideoDecoderFactory, VideoTick, VideoWake};
use super::surface::zeroed_pixels;
use super::{DisplayEvent, DisplayState, Limits, SurfaceFormat};
use crate::budget::MemoryBudget;
use crate::codec::glz::GlzWindow;
use crate::proto::channel::display::{DisplayServer, StreamReport, SurfaceCreate, surface_flags};

/// What the decoder knows of one of the state's surfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SurfaceInfo {
    pub format: SurfaceFormat,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

impl SurfaceInfo {
    fn bytes(&self) -> u64 {
        u64::from(self.width)
            .saturating_mul(u64::from(self.height))
            .saturating_mul(4)
    }
}

/// Decodes a display channel's images and video (see the module docs).
#[derive(Debug)]
pub struct DisplayDecoder {
    pub(super) limits: Limits,
    pub(super) surfaces: HashMap<u32, SurfaceInfo>,
    pub(super) palettes: PaletteCache,
    pub(super) images: Images,
    pub(super) image_stats: ImageStats,
    pub(super) streams: StreamState,
    /// The counters the state shows, as last handed over (errors aside).
    shown: Option<(ImageStats, StreamStats, u64)>,
    /// The session's memory budget (see [`Self::with_budget`]).
    budget: Option<Arc<MemoryBudget>>,
}

impl DisplayDecoder {
    /// A decoder whose images use the session's image `cache` and GLZ
    /// `window` (shared by its display channels).
    pub fn new(limits: Limits, cache: SharedImageCache, window: Arc<GlzWindow>) -> Self {
        Self {
            limits,
            surfaces: HashMap::new(),
            palettes: PaletteCache::default(),
            images: Images::new(cache, window),
            image_stats: ImageStats::default(),
            streams: StreamState::default(),
            shown: None,
            budget: None,
        }
    }

    /// Counts decoded images, the image cache, the GLZ window, the palette
    /// cache and the video queues against the session's memory `budget`, and
    /// allocates no surface it cannot hold (the state, given the same budget
    /// with [`DisplayState::set_budget`], then refuses the SURFACE_CREATE).
    pub fn with_budget(mut self, budget: Arc<MemoryBudget>) -> Self {
        self.images.set_budget(Arc::clone(&budget));
        self.palettes.attach_budget(&budget);
        self.streams.attach_budget(&budget);
        self.budget = Some(budget);
        self
    }

    /// A decoder with an image cache (`limits.image_cache_bytes`) and a GLZ
    /// window of its own: a session with one display channel.
    pub fn standalone(limits: Limits) -> Self {
        let cache = SharedImageCache::new(limits.image_cache_bytes);
        Self::new(limits, cache, Arc::new(GlzWindow::new(DEFAULT_GLZ_WINDOW_BYTES)))
    }

    /// Decoders for video codecs beyond MJPEG (the embedder's); `wake` is
    /// called, from any thread, when a decoder has frames ready (see
    /// [`super::VideoDecoder`]).
    pub fn with_video(mut self, factory: Option<Arc<dyn VideoDecoderFactory>>, wake: VideoWake) -> Self {
        self.streams.set_factory(factory, wake);
        self
    }

    /// The video codecs streams may use (SPICE numbering): MJPEG, then the
    /// factory's.
    pub fn video_codecs(&self) -> Vec<u8> {
        self.streams.codecs()
    }

    /// The GLZ window (the runtime waits for its arrivals).
    pub fn glz_window(&self) -> &Arc<GlzWindow> {
        &self.images.glz
    }

    /// The image cache.
    pub fn image_cache(&self) -> &SharedImageCache {
        &self.images.cache
    }

    /// Learns what the state did to its surfaces from the events of
    /// [`DisplayState::apply`] (call it with every list of events).
    pub fn observe(&mut self, events: &[DisplayEvent]) {
        for e in events {
            match e {
                DisplayEvent::SurfaceCreated {
                    id,
                    width,
                    height,
                    format,
                    primary,
                } => {
                    let info = SurfaceInfo {
                        format: *format,
                        width: *width,
                        height: *height,
                        primary: *primary,
                    };
                    self.surfaces.insert(*id, info);
                }
                DisplayEvent::SurfaceDestroyed { id } => {
                    self.surfaces.remove(id);
                }
                _ => {}
            }
        }
    }

    /// The bookkeeping of a message that is the decoder's, not the state's;
    /// the pixels of a surface the state is about to create.
    pub(super) fn message(&mut self, m: &DisplayServer, p: &mut Prepared) {
        match m {
            DisplayServer::SurfaceCreate(c) => p.surface = self.surface_pixels(c),
            DisplayServer::Mode { x_res, y_res, bits } => {
                p.surface = self.surface_pixels(&super::mode_create(*x_res, *y_res, *bits));
            }
            DisplayServer::InvalPalette { id } => self.palettes.remove(*id),
            // RESET drops the palette cache, like spice-gtk.
            DisplayServer::InvalAllPalettes | DisplayServer::Reset => self.palettes.clear(),
            DisplayServer::InvalList(list) => self.images.cache.lock().inval_list(list, &mut self.image_stats),
            // The wait list is honoured by the runtime before this is prepared.
            DisplayServer::InvalAllPixmaps(_) => self.images.cache.lock().inval_all(&mut self.image_stats),
            DisplayServer::StreamCreate(_)
            | DisplayServer::StreamData(_)
            | DisplayServer::StreamDataSized(_)
            | DisplayServer::StreamClip(_)
            | DisplayServer::StreamActivateReport(_)
            | DisplayServer::StreamDestroy { .. }
            | DisplayServer::StreamDestroyAll => self.streams.handle(m, &self.surfaces, &self.limits),
            _ => {}
        }
    }

    /// Zeroed pixels for the surface `c` creates, when the state will create
    /// it (the same checks, on what the decoder knows of its surfaces): the
    /// allocation and the zeroing happen off the lock too.
    fn surface_pixels(&self, c: &SurfaceCreate) -> Option<Vec<u8>> {
        let lim = &self.limits;
        SurfaceFormat::from_wire(c.format)?;
        let (w, h) = (c.width, c.height);
        let bytes = u64::from(w).saturating_mul(u64::from(h)).saturating_mul(4);
        if self.surfaces.contains_key(&c.surface_id)
            || w == 0
            || h == 0
            || w > lim.max_surface_dim
            || h > lim.max_surface_dim
            || bytes > lim.max_surface_bytes
        {
            return None;
        }
        let primary = c.flags & surface_flags::PRIMARY != 0;
        let in_use: u64 = self
            .surfaces
            .values()
            .filter(|s| !(primary && s.primary))
            .map(SurfaceInfo::bytes)
            .sum();
        if in_use.saturating_add(bytes) > lim.max_total_bytes {
            return None;
        }
        if let Some(budget) = &self.budget {
            // A new primary replaces the old one, whose bytes come back.
            let replaced: u64 = self
                .surfaces
                .values()
                .filter(|s| primary && s.primary)
                .map(SurfaceInfo::bytes)
                .sum();
            if bytes > budget.available().saturating_add(replaced) {
                return None;
            }
        }
        zeroed_pixels(usize::try_from(bytes).ok()?)
    }

    /// Runs the video scheduler at multimedia time `now_mm_time`: frames
    /// due are decoded (when their codec is decoded at show time) and handed
    /// over to be drawn by [`DisplayState::draw_frames`], late ones dropped.
    ///
    /// Call it after every prepared message (so a frame's arrival margin is
    /// measured promptly), when [`VideoTick::next_wake_ms`] has elapsed, and
    /// when a decoder's wake was called.
    pub fn stream_tick(&mut self, now_mm_time: u32) -> VideoTick {
        let mut tick = self.streams.tick(now_mm_time, &self.surfaces);
        tick.counters = self.counters();
        tick
    }

    /// The multimedia clock jumped (ahead by more than the usual drift, or
    /// back): frames waiting for their time are rescheduled on the new clock.
    pub fn reschedule(&mut self, now_mm_time: u32) {
        self.streams.reschedule(now_mm_time);
    }

    /// Gives the frames of a tick back to their decoders, once drawn.
    pub fn recycle_frames(&mut self, tick: &mut VideoTick) {
        self.streams.recycle_frames(tick);
    }

    /// STREAM_REPORT messages to send, oldest first. Send each as
    /// `DisplayClient::StreamReport` when the server has the `STREAM_REPORT`
    /// display capability (spice-gtk checks it too), after replacing
    /// `audio_delay` with the playback latency when audio plays. Drain them
    /// after every prepared message and tick; they are also capped at
    /// [`super::stream::MAX_PENDING_REPORTS`].
    pub fn drain_stream_reports(&mut self) -> std::vec::Drain<'_, StreamReport> {
        self.streams.drain_reports()
    }

    /// Stream counters (the state shows the same, as of the last apply or draw).
    pub fn stream_stats(&self) -> &StreamStats {
        self.streams.stats()
    }

    /// The counters for the state, when they changed since last handed over.
    pub(super) fn counters(&mut self) -> Option<Counters> {
        let errors = self.streams.take_errors();
        let now = (
            self.image_stats.clone(),
            *self.streams.stats(),
            self.streams.live_mask(),
        );
        if errors.is_empty() && self.shown.as_ref() == Some(&now) {
            return None;
        }
        let (images, streams, live_streams) = now.clone();
        self.shown = Some(now);
        // Every change of a stream's own figures changes the channel's
        // counters too, so they are looked at only then.
        Some(Counters {
            images,
            streams,
            live_streams,
            stream_infos: self.streams.infos(),
            errors,
        })
    }
}

impl DisplayState {
    /// Shows the decoder's counters.
    pub(super) fn publish(&mut self, c: Counters) {
        self.stats.images = c.images;
        self.video.set(c.streams, c.live_streams, c.stream_infos);
        for kind in c.errors {
            let n = self.stats.errors.entry(kind).or_default();
            *n = n.saturating_add(1);
        }
    }
}
