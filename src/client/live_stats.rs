//! Live statistics of a running session, for an on-screen panel (the app's
//! stats overlay): a [`Sample`] of the channels' traffic counters and of each
//! video stream's figures, taken a few times a second, and a [`Sampler`]
//! that turns two samples into rates ([`LiveStats`]).
//!
//! Taking a sample locks each display state once, for the copy of a few
//! small structures; nothing here runs per frame. What decodes each stream
//! comes from the embedder's video decoders ([`DecoderLabel`]: the GStreamer
//! ones say it through `gst::GstVideo::decoders`); MJPEG streams without a
//! label are Sumac's own decoder.

use super::SessionHandle;
use super::stats::StatsSnapshot;
use crate::display::StreamInfo;
use crate::proto::channel::display::video_codec;
use crate::proto::{ChannelKey, ChannelType};
use std::time::{Duration, Instant};

/// The name of Sumac's own MJPEG decoder, as the panel shows it.
pub const BUILTIN_MJPEG: &str = "sumac-mjpeg";

/// What decodes one stream (an embedder's decoder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderLabel {
    /// The display channel's stream id.
    pub stream_id: u32,
    /// [`codec_name`] of the stream's codec.
    pub codec: &'static str,
    /// The decoder in use (a GStreamer element name); empty while none works.
    pub element: String,
    /// A hardware decoder.
    pub hardware: bool,
}

/// A short name for a SPICE video codec: `mjpeg`, `vp8`, `vp9`, `h264`, `h265`.
pub fn codec_name(codec: u8) -> &'static str {
    match codec {
        video_codec::MJPEG => "mjpeg",
        video_codec::VP8 => "vp8",
        video_codec::VP9 => "vp9",
        video_codec::H264 => "h264",
        video_codec::H265 => "h265",
        _ => "unknown",
    }
}

/// Every counter at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: Instant,
    /// Each channel's traffic counters.
    pub channels: Vec<StatsSnapshot>,
    /// Each live stream's figures, with its display channel id.
    pub streams: Vec<(u8, StreamInfo)>,
}

impl Sample {
    /// Reads `session`'s counters now (each display state locked once, briefly).
    pub fn take(session: &SessionHandle) -> Self {
        let channels = session.stats();
        let mut streams = Vec::new();
        let mut displays: Vec<u8> = channels
            .iter()
            .filter(|c| c.key.channel_type == ChannelType::DISPLAY)
            .map(|c| c.key.id)
            .collect();
        displays.sort_unstable();
        displays.dedup();
        for id in displays {
            let Some(state) = session.display(id) else { continue };
            let state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            streams.extend(state.stream_infos().iter().map(|i| (id, *i)));
        }
        Self {
            at: Instant::now(),
            channels,
            streams,
        }
    }
}

/// One stream as the panel shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRow {
    /// Display channel id.
    pub channel: u8,
    pub id: u32,
    /// [`codec_name`].
    pub codec: &'static str,
    /// The decoder (element name), when known.
    pub decoder: Option<String>,
    pub hardware: bool,
    /// Frame size.
    pub width: u32,
    pub height: u32,
    /// Frames per second received, shown, dropped (since the previous sample).
    pub fps_received: f64,
    pub fps_shown: f64,
    pub fps_dropped: f64,
    /// Mean lateness of the frames shown since the previous sample, in
    /// milliseconds behind their time on the multimedia clock (`None`: none shown).
    pub delay_ms: Option<f64>,
    /// Encoded bits per second received.
    pub bitrate: f64,
    /// Frames shown since the stream started.
    pub frames_shown: u64,
}

/// One channel's bandwidth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelRow {
    pub key: ChannelKey,
    /// Bytes per second read from the server and written to it.
    pub bytes_in: f64,
    pub bytes_out: f64,
}

/// What the panel shows: rates between the last two samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveStats {
    pub streams: Vec<StreamRow>,
    pub channels: Vec<ChannelRow>,
}

/// Turns successive [`Sample`]s into [`LiveStats`].
#[derive(Debug, Default)]
pub struct Sampler {
    last: Option<Sample>,
}

/// `now − before` of a counter; a counter that went back (a new stream with
/// the same id, a reconnect) counts from zero.
fn delta(now: u64, before: Option<u64>) -> u64 {
    match before {
        Some(b) if b <= now => now - b,
        _ => now,
    }
}

#[allow(clippy::cast_precision_loss, reason = "rates for display")]
fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

impl Sampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The rates since the previous sample (all zero for the first one).
    pub fn update(&mut self, sample: Sample, decoders: &[DecoderLabel]) -> LiveStats {
        let last = self.last.take();
        let secs = last
            .as_ref()
            .map_or(Duration::ZERO, |l| sample.at.saturating_duration_since(l.at))
            .as_secs_f64();
        let channels = sample
            .channels
            .iter()
            .map(|c| {
                let before = last
                    .as_ref()
                    .and_then(|l| l.channels.iter().find(|p| p.key == c.key))
                    .filter(|_| secs > 0.0);
                ChannelRow {
                    key: c.key,
                    bytes_in: rate(delta(c.bytes_read, before.map(|p| p.bytes_read)), secs),
                    bytes_out: rate(delta(c.bytes_written, before.map(|p| p.bytes_written)), secs),
                }
            })
            .collect();
        let streams = sample
            .streams
            .iter()
            .map(|(channel, s)| {
                let before = last
                    .as_ref()
                    .and_then(|l| l.streams.iter().find(|(c, p)| c == channel && p.id == s.id))
                    .map(|(_, p)| *p)
                    .filter(|p| p.codec == s.codec && secs > 0.0);
                stream_row(*channel, s, before.as_ref(), secs, decoders)
            })
            .collect();
        self.last = Some(sample);
        LiveStats { streams, channels }
    }
}

fn stream_row(
    channel: u8,
    s: &StreamInfo,
    before: Option<&StreamInfo>,
    secs: f64,
    decoders: &[DecoderLabel],
) -> StreamRow {
    let codec = codec_name(s.codec);
    let label = decoders.iter().find(|d| d.stream_id == s.id && d.codec == codec);
    let (decoder, hardware) = match label {
        Some(d) if !d.element.is_empty() => (Some(d.element.clone()), d.hardware),
        Some(_) => (None, false),
        None if s.codec == video_codec::MJPEG => (Some(BUILTIN_MJPEG.to_owned()), false),
        None => (None, false),
    };
    // A stream that went back (a new one under the same id) counts from zero.
    let before = before.filter(|p| p.frames_received <= s.frames_received && p.frames_shown <= s.frames_shown);
    let shown = delta(s.frames_shown, before.map(|p| p.frames_shown));
    let delay = s.delay_total_ms.saturating_sub(before.map_or(0, |p| p.delay_total_ms));
    #[allow(clippy::cast_precision_loss, reason = "a mean for display")]
    let delay_ms = (shown > 0).then(|| delay as f64 / shown as f64);
    StreamRow {
        channel,
        id: s.id,
        codec,
        decoder,
        hardware,
        width: s.width,
        height: s.height,
        fps_received: rate(delta(s.frames_received, before.map(|p| p.frames_received)), secs),
        fps_shown: rate(shown, secs),
        fps_dropped: rate(delta(s.frames_dropped, before.map(|p| p.frames_dropped)), secs),
        delay_ms: delay_ms.filter(|_| secs > 0.0),
        bitrate: rate(
            delta(s.bytes_received, before.map(|p| p.bytes_received)).saturating_mul(8),
            secs,
        ),
        frames_shown: s.frames_shown,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::float_cmp)]
mod tests {
    use super::*;

    fn channel(t: ChannelType, id: u8, read: u64, written: u64) -> StatsSnapshot {
        StatsSnapshot {
            key: ChannelKey { channel_type: t, id },
            bytes_read: read,
            bytes_written: written,
            messages_read: 0,
            messages_written: 0,
            messages_skipped: 0,
            tls: false,
        }
    }

    fn stream(id: u32, codec: u8, received: u64, shown: u64, dropped: u64, bytes: u64, delay: i64) -> StreamInfo {
        StreamInfo {
            id,
            codec,
            width: 640,
            height: 360,
            frames_received: received,
            bytes_received: bytes,
            frames_shown: shown,
            frames_dropped: dropped,
            delay_total_ms: delay,
        }
    }

    #[test]
    fn two_samples_give_rates_per_stream_and_per_channel() {
        let t0 = Instant::now();
        let display = ChannelType::DISPLAY;
        let first = Sample {
            at: t0,
            channels: vec![channel(display, 0, 1000, 100), channel(ChannelType::MAIN, 0, 50, 50)],
            streams: vec![
                (0, stream(1, video_codec::VP8, 10, 9, 1, 10_000, 90)),
                (0, stream(2, video_codec::MJPEG, 0, 0, 0, 0, 0)),
            ],
        };
        let second = Sample {
            at: t0 + Duration::from_millis(500),
            channels: vec![
                channel(display, 0, 501_000, 1100),
                channel(ChannelType::MAIN, 0, 50, 50),
            ],
            streams: vec![
                (0, stream(1, video_codec::VP8, 25, 24, 1, 72_500, 240)),
                (0, stream(2, video_codec::MJPEG, 5, 4, 1, 1000, -8)),
            ],
        };
        let decoders = [DecoderLabel {
            stream_id: 1,
            codec: "vp8",
            element: "vp8dec".into(),
            hardware: false,
        }];
        let mut s = Sampler::new();
        let zero = s.update(first, &decoders);
        assert_eq!(zero.streams[0].fps_received, 0.0);
        assert_eq!(zero.streams[0].delay_ms, None);
        assert_eq!(zero.channels[0].bytes_in, 0.0);
        let l = s.update(second, &decoders);
        let vp8 = &l.streams[0];
        assert_eq!(
            (vp8.codec, vp8.decoder.as_deref(), vp8.hardware),
            ("vp8", Some("vp8dec"), false)
        );
        assert_eq!((vp8.width, vp8.height, vp8.frames_shown), (640, 360, 24));
        assert_eq!((vp8.fps_received, vp8.fps_shown, vp8.fps_dropped), (30.0, 30.0, 0.0));
        assert_eq!(vp8.delay_ms, Some(10.0));
        assert_eq!(vp8.bitrate, 1_000_000.0);
        let mjpeg = &l.streams[1];
        assert_eq!(mjpeg.decoder.as_deref(), Some(BUILTIN_MJPEG));
        assert_eq!(
            (mjpeg.fps_shown, mjpeg.fps_dropped, mjpeg.delay_ms),
            (8.0, 2.0, Some(-2.0))
        );
        assert_eq!((l.channels[0].bytes_in, l.channels[0].bytes_out), (1_000_000.0, 2000.0));
        assert_eq!(l.channels[1].bytes_in, 0.0);
    }

    #[test]
    fn a_new_stream_under_an_old_id_counts_from_zero() {
        let t0 = Instant::now();
        let mut s = Sampler::new();
        let at = |ms, info| Sample {
            at: t0 + Duration::from_millis(ms),
            channels: Vec::new(),
            streams: vec![(0, info)],
        };
        s.update(at(0, stream(1, video_codec::H264, 100, 100, 0, 1, 0)), &[]);
        let l = s.update(at(1000, stream(1, video_codec::H264, 3, 3, 0, 1, 0)), &[]);
        assert_eq!(l.streams[0].fps_shown, 3.0);
        // An unknown decoder for a non-MJPEG stream is not made up.
        assert_eq!((l.streams[0].decoder.as_ref(), l.streams[0].codec), (None, "h264"));
        // Another codec under the same id: a new stream too.
        let l = s.update(at(2000, stream(1, video_codec::VP9, 2, 2, 0, 1, 0)), &[]);
        assert_eq!(l.streams[0].fps_shown, 2.0);
    }
}
