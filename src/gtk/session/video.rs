//! The process's shared GStreamer video decoders.

/// The GStreamer video decoders every session of the process shares (the
/// registry is read once); `None` when GStreamer cannot start.
pub fn shared_video() -> Option<std::sync::Arc<crate::gst::GstVideo>> {
    static VIDEO: std::sync::OnceLock<Option<std::sync::Arc<crate::gst::GstVideo>>> = std::sync::OnceLock::new();
    VIDEO
        .get_or_init(|| match crate::gst::GstVideo::new(false) {
            Ok(v) => Some(std::sync::Arc::new(v)),
            Err(e) => {
                tracing::warn!(error = %e, "no GStreamer video decoders");
                None
            }
        })
        .clone()
}
