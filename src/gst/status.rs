//! What a stream's decoder is doing, for the stats overlay and `sumac-cli stats`.

/// One live GStreamer stream decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecoderStatus {
    /// The display channel's stream id.
    pub stream_id: u32,
    /// `vp8`, `vp9`, `h264`, `h265`, `mjpeg`.
    pub codec: &'static str,
    /// The decoder element in use (empty while none works).
    pub decoder: String,
    /// Whether it is a hardware decoder.
    pub hardware: bool,
    /// Times the stream switched to the next decoder after a failure.
    pub fallbacks: u32,
}

impl std::fmt::Display for DecoderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.hardware { "hardware" } else { "software" };
        let decoder = if self.decoder.is_empty() { "none" } else { &self.decoder };
        write!(f, "stream {} {} via {decoder} ({kind})", self.stream_id, self.codec)?;
        if self.fallbacks > 0 {
            write!(f, ", {} fallback(s)", self.fallbacks)?;
        }
        Ok(())
    }
}

impl From<&DecoderStatus> for crate::client::live_stats::DecoderLabel {
    fn from(s: &DecoderStatus) -> Self {
        Self {
            stream_id: s.stream_id,
            codec: s.codec,
            element: s.decoder.clone(),
            hardware: s.hardware,
        }
    }
}
