//! Which stream config the device is opened with: its channels and rate
//! when it supports the stream's, and the period asked of it.

use cpal::SampleFormat;

use crate::channel::audio::PcmFormat;

/// The output period asked of the device, ms: cpal asks ALSA for a buffer of two periods
/// (100 ms here; ALSA's PulseAudio plugin splits it into three periods of 33 ms), and its callback
/// runs once per period. 0 leaves the device's own (periods of 1024 frames there: the sound
/// broke up on a loaded machine). `SUMAC_AUDIO_PERIOD_MS` overrides it.
const PERIOD_MS: u32 = 50;

/// The device config closest to `want`: its channels and rate when the
/// device supports them, else the device's default.
pub(super) fn choose(
    ranges: Vec<cpal::SupportedStreamConfigRange>,
    default: cpal::SupportedStreamConfig,
    want: PcmFormat,
) -> (cpal::StreamConfig, SampleFormat, cpal::SupportedBufferSize) {
    let usable = |f: SampleFormat| matches!(f, SampleFormat::F32 | SampleFormat::I16);
    let exact = ranges.iter().find(|r| {
        r.channels() == u16::from(want.channels)
            && r.min_sample_rate() <= want.rate
            && want.rate <= r.max_sample_rate()
            && usable(r.sample_format())
    });
    match exact {
        Some(r) => (
            cpal::StreamConfig {
                channels: r.channels(),
                sample_rate: want.rate,
                buffer_size: cpal::BufferSize::Default,
            },
            r.sample_format(),
            *r.buffer_size(),
        ),
        None => (default.config(), default.sample_format(), *default.buffer_size()),
    }
}

/// The device period to ask for at `rate`: [`PERIOD_MS`] or `SUMAC_AUDIO_PERIOD_MS`; `None`
/// leaves it to the device.
pub(super) fn period_frames(rate: u32) -> Option<u32> {
    let ms = std::env::var("SUMAC_AUDIO_PERIOD_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(PERIOD_MS)
        .min(500);
    (ms > 0).then(|| rate.saturating_mul(ms) / 1000)
}
