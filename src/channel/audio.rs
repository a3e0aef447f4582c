//! The audio seams: what the playback and record channels play to and
//! capture from. Implementations (the cpal device back-end, a WAV file,
//! an embedder's own) are given by the embedder through
//! [`crate::client::media::Media`], so the core stays free of audio
//! libraries and of GLib.
//!
//! Contract: every method returns at once. A sink is fed from the channel's
//! thread and plays on its own (a device callback fed by a bounded ring,
//! silence on underrun); a source captures on its own and hands over what
//! it has.

/// Interleaved signed 16-bit PCM (host order in memory; little-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    pub channels: u8,
    pub rate: u32,
}

impl PcmFormat {
    /// SPICE's Opus format (and what Xspice and QEMU play): 48 kHz stereo.
    pub const OPUS: Self = Self {
        channels: 2,
        rate: 48_000,
    };

    /// Milliseconds of `samples` interleaved samples.
    pub fn duration_ms(self, samples: u64) -> u64 {
        let per_second = u64::from(self.channels.max(1)).saturating_mul(u64::from(self.rate.max(1)));
        samples.saturating_mul(1000) / per_second
    }
}

/// What a sink counted (for statistics; all zero for sinks that do not count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Device callbacks that found the ring empty and played silence, and
    /// underruns of the device itself.
    pub underruns: u64,
    /// Samples dropped because the ring was full.
    pub overflow_samples: u64,
    /// Samples the device consumed.
    pub played_samples: u64,
}

/// Where decoded playback goes.
pub trait AudioSink: Send {
    /// A stream starts (PLAYBACK START).
    fn start(&mut self, format: PcmFormat);
    /// Samples to play, in order; never blocks (a sink whose buffer is full
    /// drops what does not fit, and counts it).
    fn play(&mut self, samples: &[i16]);
    /// The stream stops (PLAYBACK STOP): what is buffered may drain.
    fn stop(&mut self);
    /// Per-channel volume, 0..=65535 (the server's VOLUME or the user's control).
    fn set_volume(&mut self, _volume: &[u16]) {}
    fn set_mute(&mut self, _mute: bool) {}
    /// PLAYBACK LATENCY: the buffering the server would like (a hint).
    fn set_latency_hint(&mut self, _ms: u32) {}
    /// How long a sample given now takes to be heard: what is buffered plus
    /// the device's own output delay. `None` when the sink cannot tell (a
    /// file): then the multimedia clock is not corrected by audio.
    fn delay_ms(&self) -> Option<u32> {
        None
    }
    fn stats(&self) -> SinkStats {
        SinkStats::default()
    }
}

/// Where recorded audio comes from.
pub trait AudioSource: Send {
    /// The server asks for audio (RECORD START): open the device now (not
    /// before: the microphone is used only while the server asks). False
    /// when it cannot capture.
    fn start(&mut self, format: PcmFormat) -> bool;
    /// Appends at most `max` captured samples (interleaved, in the started
    /// format) to `out`; never blocks.
    fn read(&mut self, max: usize, out: &mut Vec<i16>);
    /// The server stops asking (RECORD STOP), or the user refused the
    /// microphone: close the device.
    fn stop(&mut self);
    fn set_volume(&mut self, _volume: &[u16]) {}
    fn set_mute(&mut self, _mute: bool) {}
}

/// Opens sinks and sources for a session (one each per channel).
pub trait AudioBackend: Send + Sync {
    fn open_sink(&self) -> Option<Box<dyn AudioSink>>;
    fn open_source(&self) -> Option<Box<dyn AudioSource>>;
}

/// Scales interleaved samples by per-channel volume (65535 = unity),
/// muting when `mute`; the volume list repeats its last entry for extra
/// channels (a mono volume applies to both).
pub fn apply_volume(samples: &mut [i16], channels: usize, volume: &[u16], mute: bool) {
    if mute {
        samples.fill(0);
        return;
    }
    let channels = channels.max(1);
    let gain = |c: usize| -> i32 { i32::from(volume.get(c).or(volume.last()).copied().unwrap_or(u16::MAX)) };
    if (0..channels).all(|c| gain(c) == i32::from(u16::MAX)) {
        return;
    }
    for frame in samples.chunks_mut(channels) {
        for (c, s) in frame.iter_mut().enumerate() {
            let v = (i32::from(*s) * gain(c)) / i32::from(u16::MAX);
            *s = i16::try_from(v).unwrap_or(if v < 0 { i16::MIN } else { i16::MAX });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_scales_each_channel() {
        let mut s = [1000i16, -1000, 1000, -1000];
        apply_volume(&mut s, 2, &[u16::MAX, u16::MAX / 2], false);
        assert_eq!(s, [1000, -499, 1000, -499]);
        let mut s = [1000i16, 1000];
        apply_volume(&mut s, 2, &[0], false);
        assert_eq!(s, [0, 0]);
        let mut s = [i16::MIN, i16::MAX];
        apply_volume(&mut s, 2, &[], false);
        assert_eq!(s, [i16::MIN, i16::MAX]);
        apply_volume(&mut s, 2, &[u16::MAX], true);
        assert_eq!(s, [0, 0]);
        assert_eq!(PcmFormat::OPUS.duration_ms(96_000), 1000);
    }
}
