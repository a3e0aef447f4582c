//! The process's shared GStreamer video decoders.

/// The GStreamer video decoders every session of the process shares (the
/// registry is read once, on a thread: the first call returns at once and
/// the display channel's link waits for the answer).
pub fn shared_video() -> std::sync::Arc<crate::gst::PendingVideo> {
    static VIDEO: std::sync::OnceLock<std::sync::Arc<crate::gst::PendingVideo>> = std::sync::OnceLock::new();
    VIDEO
        .get_or_init(|| std::sync::Arc::new(crate::gst::PendingVideo::start(crate::gst::mjpeg_by_gstreamer())))
        .clone()
}
