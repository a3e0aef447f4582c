//! Capability sets exchanged during the link phase.
//!
//! Each capability is a bit number; bit N lives in word N/32, bit N%32.

use super::cursor::{ReadCursor, WriteCursor};
use super::error::{DecodeError, ProtoResult};

/// The most capability words Sumac accepts from a peer per set (32 768 bits).
pub const MAX_CAP_WORDS: u32 = 1024;

/// `SPICE_COMMON_CAP_*`.
pub mod common {
    pub const PROTOCOL_AUTH_SELECTION: u32 = 0;
    pub const AUTH_SPICE: u32 = 1;
    pub const AUTH_SASL: u32 = 2;
    pub const MINI_HEADER: u32 = 3;
}

/// `SPICE_MAIN_CAP_*`.
pub mod main {
    pub const SEMI_SEAMLESS_MIGRATE: u32 = 0;
    pub const NAME_AND_UUID: u32 = 1;
    pub const AGENT_CONNECTED_TOKENS: u32 = 2;
    pub const SEAMLESS_MIGRATE: u32 = 3;
}

/// `SPICE_DISPLAY_CAP_*`.
pub mod display {
    pub const SIZED_STREAM: u32 = 0;
    pub const MONITORS_CONFIG: u32 = 1;
    pub const COMPOSITE: u32 = 2;
    pub const A8_SURFACE: u32 = 3;
    pub const STREAM_REPORT: u32 = 4;
    pub const LZ4_COMPRESSION: u32 = 5;
    pub const PREF_COMPRESSION: u32 = 6;
    pub const GL_SCANOUT: u32 = 7;
    pub const MULTI_CODEC: u32 = 8;
    pub const CODEC_MJPEG: u32 = 9;
    pub const CODEC_VP8: u32 = 10;
    pub const CODEC_H264: u32 = 11;
    pub const PREF_VIDEO_CODEC_TYPE: u32 = 12;
    pub const CODEC_VP9: u32 = 13;
    pub const CODEC_H265: u32 = 14;
}

/// `SPICE_INPUTS_CAP_*`.
pub mod inputs {
    pub const KEY_SCANCODE: u32 = 0;
}

/// `SPICE_PLAYBACK_CAP_*`.
pub mod playback {
    pub const CELT_0_5_1: u32 = 0;
    pub const VOLUME: u32 = 1;
    pub const LATENCY: u32 = 2;
    pub const OPUS: u32 = 3;
}

/// `SPICE_RECORD_CAP_*`.
pub mod record {
    pub const CELT_0_5_1: u32 = 0;
    pub const VOLUME: u32 = 1;
    pub const OPUS: u32 = 2;
}

/// `SPICE_SPICEVMC_CAP_*` (usbredir, port and webdav channels).
pub mod vmc {
    pub const DATA_COMPRESS_LZ4: u32 = 0;
}

/// One capability bit set (a list of u32 words).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSet {
    words: Vec<u32>,
}

impl CapSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_bits(bits: &[u32]) -> Self {
        let mut s = Self::new();
        for &b in bits {
            s.set(b);
        }
        s
    }

    pub fn from_words(words: Vec<u32>) -> Self {
        Self { words }
    }

    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// Number of words, as sent on the wire.
    pub fn word_count(&self) -> u32 {
        u32::try_from(self.words.len()).unwrap_or(u32::MAX)
    }

    pub fn set(&mut self, bit: u32) {
        let Ok(word) = usize::try_from(bit / 32) else { return };
        if word >= MAX_CAP_WORDS as usize {
            return;
        }
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        if let Some(w) = self.words.get_mut(word) {
            *w |= 1 << (bit % 32);
        }
    }

    pub fn clear(&mut self, bit: u32) {
        if let Some(w) = usize::try_from(bit / 32).ok().and_then(|i| self.words.get_mut(i)) {
            *w &= !(1 << (bit % 32));
        }
    }

    pub fn has(&self, bit: u32) -> bool {
        usize::try_from(bit / 32)
            .ok()
            .and_then(|i| self.words.get(i))
            .is_some_and(|w| w & (1 << (bit % 32)) != 0)
    }

    /// Bits set in both sets.
    pub fn intersect(&self, other: &CapSet) -> CapSet {
        CapSet {
            words: self.words.iter().zip(other.words.iter()).map(|(a, b)| a & b).collect(),
        }
    }

    pub(crate) fn encode(&self, w: &mut WriteCursor) {
        for &word in &self.words {
            w.write_u32(word);
        }
    }

    pub(crate) fn decode(r: &mut ReadCursor<'_>, what: &'static str, count: u32) -> ProtoResult<Self> {
        if count > MAX_CAP_WORDS {
            return Err(DecodeError::TooLarge {
                what,
                size: u64::from(count),
                max: u64::from(MAX_CAP_WORDS),
            });
        }
        let mut words = Vec::with_capacity(count as usize);
        for _ in 0..count {
            words.push(r.read_u32(what)?);
        }
        Ok(Self { words })
    }
}

/// The common and channel capability sets of one side of a link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    pub common: CapSet,
    pub channel: CapSet,
}

impl Caps {
    pub fn new(common: &[u32], channel: &[u32]) -> Self {
        Self {
            common: CapSet::from_bits(common),
            channel: CapSet::from_bits(channel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_words() {
        let mut s = CapSet::new();
        s.set(3);
        s.set(33);
        assert_eq!(s.words(), &[8, 2]);
        assert!(s.has(3) && s.has(33) && !s.has(4) && !s.has(1000));
        s.clear(3);
        assert!(!s.has(3));
        s.set(u32::MAX); // beyond MAX_CAP_WORDS: ignored, no huge allocation
        assert_eq!(s.words().len(), 2);
    }

    #[test]
    fn decode_refuses_huge_counts() {
        let mut r = ReadCursor::new(&[]);
        assert!(matches!(
            CapSet::decode(&mut r, "caps", u32::MAX),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
