//! Opus as SPICE uses it (spice-common `snd_codec`): 48 kHz, 2 channels,
//! 10 ms frames (480 samples per channel), at most 480 bytes a packet,
//! encoder tuned for audio. A thin wrapper over libopus (`audiopus`, the
//! system libopus): pure computation, no I/O; every packet from the wire is
//! checked for size before libopus sees it, and libopus itself validates
//! the packet structure (a bad packet is an error, never a panic).

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Channels, SampleRate};

/// The only rate SPICE's Opus mode uses.
pub const RATE: u32 = 48_000;
/// Interleaved channels.
pub const CHANNELS: usize = 2;
/// Samples per channel in one SPICE Opus frame (10 ms).
pub const FRAME_SAMPLES: usize = 480;
/// Interleaved samples in one frame.
pub const FRAME_LEN: usize = FRAME_SAMPLES * CHANNELS;
/// Largest encoded packet the encoder produces (spice-common's limit).
pub const MAX_PACKET: usize = 480;
/// Largest packet accepted from the wire (an Opus packet cannot exceed 1275
/// bytes per frame, six frames at most; anything larger is garbage).
pub const MAX_WIRE_PACKET: usize = 1275 * 6;
/// Longest output one packet may decode to: 120 ms, Opus's maximum.
pub const MAX_DECODED_SAMPLES: usize = 5760;

/// Why Opus could not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpusError {
    #[error("opus packet of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("empty opus packet")]
    Empty,
    #[error("an opus frame must be exactly {FRAME_LEN} interleaved samples, got {0}")]
    FrameSize(usize),
    #[error("libopus: {0}")]
    Library(String),
}

fn lib(e: audiopus::Error) -> OpusError {
    OpusError::Library(e.to_string())
}

/// Decodes SPICE Opus packets into interleaved S16 stereo at 48 kHz.
pub struct OpusDecoder {
    inner: Decoder,
    out: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl OpusDecoder {
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            inner: Decoder::new(SampleRate::Hz48000, Channels::Stereo).map_err(lib)?,
            out: vec![0; MAX_DECODED_SAMPLES * CHANNELS],
        })
    }

    /// Decodes one packet; returns the interleaved samples (valid until the next call).
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], OpusError> {
        if packet.is_empty() {
            return Err(OpusError::Empty);
        }
        if packet.len() > MAX_WIRE_PACKET {
            return Err(OpusError::TooLarge(packet.len()));
        }
        let per_channel = self.inner.decode(Some(packet), &mut self.out[..], false).map_err(lib)?;
        let n = per_channel.saturating_mul(CHANNELS).min(self.out.len());
        Ok(self.out.get(..n).unwrap_or_default())
    }
}

/// Encodes 10 ms frames of interleaved S16 stereo at 48 kHz.
pub struct OpusEncoder {
    inner: Encoder,
    out: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            inner: Encoder::new(SampleRate::Hz48000, Channels::Stereo, Application::Audio).map_err(lib)?,
            out: vec![0; MAX_PACKET],
        })
    }

    /// Encodes exactly one frame ([`FRAME_LEN`] samples) into one packet.
    pub fn encode(&mut self, frame: &[i16]) -> Result<&[u8], OpusError> {
        if frame.len() != FRAME_LEN {
            return Err(OpusError::FrameSize(frame.len()));
        }
        let n = self.inner.encode(frame, &mut self.out).map_err(lib)?;
        Ok(self.out.get(..n).unwrap_or_default())
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn sine(freq: f64, frames: usize) -> Vec<i16> {
        (0..frames * FRAME_SAMPLES)
            .flat_map(|i| {
                let v = (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(RATE)).sin() * 12000.0;
                [v as i16, v as i16]
            })
            .collect()
    }

    #[test]
    fn a_tone_survives_a_round_trip() {
        let pcm = sine(440.0, 50);
        let (mut enc, mut dec) = (OpusEncoder::new().unwrap(), OpusDecoder::new().unwrap());
        let mut out = Vec::new();
        for frame in pcm.chunks(FRAME_LEN) {
            let packet = enc.encode(frame).unwrap().to_vec();
            assert!(packet.len() <= MAX_PACKET);
            out.extend_from_slice(dec.decode(&packet).unwrap());
        }
        assert_eq!(out.len(), pcm.len());
        // Zero crossings of the left channel over the last 400 ms: 440 Hz.
        let left: Vec<i16> = out.iter().step_by(2).copied().skip(4800).collect();
        let crossings = left.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        let freq = crossings as f64 / 2.0 / (left.len() as f64 / f64::from(RATE));
        assert!((freq - 440.0).abs() < 5.0, "{freq}");
    }

    #[test]
    fn garbage_and_bad_sizes_are_errors() {
        let mut dec = OpusDecoder::new().unwrap();
        assert_eq!(dec.decode(&[]), Err(OpusError::Empty));
        assert!(matches!(
            dec.decode(&vec![0; MAX_WIRE_PACKET + 1]),
            Err(OpusError::TooLarge(_))
        ));
        // A code-3 packet whose frame count byte says 0 frames: invalid.
        assert!(dec.decode(&[0xfb, 0x00]).is_err());
        let mut enc = OpusEncoder::new().unwrap();
        assert_eq!(enc.encode(&[0; 10]), Err(OpusError::FrameSize(10)));
    }
}
