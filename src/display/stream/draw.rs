//! Drawing decoded video frames into their surfaces, under the state lock,
//! and what the state shows of the streams.

use super::*;
use crate::display::DisplayState;
use crate::display::bitmap::Source;
use crate::display::canvas::{self, Rop};
use crate::display::region::{PixBox, draw_region};

/// The streams as the state shows them: the decoder's counters, corrected
/// by the frames this state could not draw.
#[derive(Debug, Clone, Default)]
pub(crate) struct VideoView {
    /// As the decoder counted them.
    decoder: StreamStats,
    shown: StreamStats,
    /// Bit `i`: stream `i` exists.
    live: u64,
    draw_failures: u64,
    /// The live streams' own figures.
    infos: Vec<StreamInfo>,
}

impl VideoView {
    pub(crate) fn set(&mut self, stats: StreamStats, live: u64, infos: Vec<StreamInfo>) {
        self.decoder = stats;
        self.live = live;
        self.infos = infos;
        self.update();
    }

    fn update(&mut self) {
        self.shown = self.decoder;
        self.shown.frames_rendered = self.shown.frames_rendered.saturating_sub(self.draw_failures);
        self.shown.frames_failed = self.shown.frames_failed.saturating_add(self.draw_failures);
    }
}

impl DisplayState {
    /// Stream counters, as of the last message applied or frames drawn.
    pub fn stream_stats(&self) -> &StreamStats {
        &self.video.shown
    }

    /// Each live stream's own figures (codec, size, frames, bytes, delay),
    /// as of the last message applied or frames drawn. Read it a few times
    /// a second (the embedder's statistics), not per frame.
    pub fn stream_infos(&self) -> &[StreamInfo] {
        &self.video.infos
    }

    /// Ids of the live streams.
    pub fn stream_ids(&self) -> impl Iterator<Item = u32> + '_ {
        let live = self.video.live;
        (0..MAX_STREAMS).filter(move |&id| live.checked_shr(id).is_some_and(|m| m & 1 != 0))
    }

    /// Draws the frames a [`super::super::DisplayDecoder::stream_tick`] handed
    /// over (and shows its counters): the damage, and `video.rendered` set.
    /// The frames stay in `video` for the decoder to recycle (or, for mapped
    /// memory, to release).
    pub fn draw_frames(&mut self, video: &mut VideoTick) -> Vec<DisplayEvent> {
        if let Some(c) = video.counters.take() {
            self.publish(c);
        }
        let mut events = Vec::new();
        video.rendered = 0;
        for i in 0..video.frames.len() {
            let Some(f) = video.frames.get(i) else { break };
            match self.draw_frame(f) {
                Ok(damage) => {
                    video.rendered = video.rendered.saturating_add(1);
                    if let Some(b) = damage {
                        if self.primary == Some(f.surface_id) {
                            self.journal.damage(b);
                        }
                        events.push(DisplayEvent::Damage {
                            surface_id: f.surface_id,
                            rect: b.to_rect(),
                        });
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "video frame not drawn");
                    self.video.draw_failures = self.video.draw_failures.saturating_add(1);
                    self.video.update();
                    let n = self.stats.errors.entry(e.kind()).or_default();
                    *n = n.saturating_add(1);
                }
            }
        }
        events
    }

    /// Draws one frame at its destination, clipped by the stream clip.
    fn draw_frame(&mut self, f: &ShowFrame) -> Result<Option<PixBox>, StreamError> {
        let id = f.stream;
        let max_rects = self.limits.max_clip_rects;
        let surface_id = f.surface_id;
        let surface = self
            .surfaces
            .get_mut(&surface_id)
            .ok_or(StreamError::NoSurface { id, surface_id })?;
        if !dest_inside(&f.dest, surface.width, surface.height) {
            return Err(StreamError::BadDest { id, dest: f.dest });
        }
        let (sw, sh) = surface.dims();
        let region = draw_region("stream", &f.dest, &f.clip, sw, sh, max_rects)
            .map_err(|_| StreamError::TooManyClipRects { id, count: usize::MAX })?;
        // Read the decoded pixels where they are (a decoder's buffer or
        // mapped GStreamer memory): this is their one copy, into the surface.
        let (width, height) = (f.frame.width, f.frame.height);
        let stride = f.frame.pixels.stride(width);
        let data = f.frame.pixels.bytes();
        match Source::frame("stream", width, height, stride, f.top_down, data) {
            Ok(src) => {
                let src = if f.frame.red_first { src.red_first() } else { src };
                let area = Rect::ltrb(
                    0,
                    0,
                    i32::try_from(width).unwrap_or(i32::MAX),
                    i32::try_from(height).unwrap_or(i32::MAX),
                );
                Ok(canvas::blit(surface, &region, &src, &f.dest, &area, Rop::Copy))
            }
            Err(_) => Err(StreamError::Decode {
                id,
                error: VideoError::BadFrame {
                    width,
                    height,
                    len: data.len(),
                },
            }),
        }
    }
}
