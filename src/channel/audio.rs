//! The audio seams: what the playback and record channels play to and
//! capture from. Implementations (cpal/rodio, GStreamer, a WAV file) are
//! given by the embedder through [`crate::client::media::Media`], so the core
//! stays free of audio libraries and of GLib.
//!
//! Contract: every method returns at once. A sink is fed from the channel's
//! thread and plays on its own (a device callback fed by a bounded ring);
//! a source captures on its own and hands over what it has.

/// Interleaved signed 16-bit little-endian PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    pub channels: u8,
    pub rate: u32,
}

/// Where decoded playback goes.
pub trait AudioSink: Send {
    /// A stream starts (PLAYBACK START).
    fn start(&mut self, format: PcmFormat);
    /// Samples to play, in order; never blocks (an overfull sink drops the oldest).
    fn play(&mut self, samples: &[i16]);
    /// The stream stops (PLAYBACK STOP): what is buffered may drain.
    fn stop(&mut self);
    /// Per-channel volume, 0..=65535.
    fn set_volume(&mut self, _volume: &[u16]) {}
    fn set_mute(&mut self, _mute: bool) {}
    /// How long a sample given now takes to be heard (drives the multimedia clock).
    fn delay_ms(&self) -> Option<u32> {
        None
    }
}

/// Where recorded audio comes from.
pub trait AudioSource: Send {
    /// The server asks for audio (RECORD START); false when it cannot capture.
    fn start(&mut self, format: PcmFormat) -> bool;
    /// Appends at most `max` captured samples to `out`, never blocks.
    fn read(&mut self, max: usize, out: &mut Vec<i16>);
    /// The server stops asking (RECORD STOP).
    fn stop(&mut self);
    fn set_volume(&mut self, _volume: &[u16]) {}
    fn set_mute(&mut self, _mute: bool) {}
}

/// Opens sinks and sources for a session (one each per channel).
pub trait AudioBackend: Send + Sync {
    fn open_sink(&self) -> Option<Box<dyn AudioSink>>;
    fn open_source(&self) -> Option<Box<dyn AudioSource>>;
}
