//! Which GStreamer decoders exist for each SPICE codec on this machine, in
//! the order they are tried: hardware decoders first (VA-API, NVDEC, V4L2,
//! MSDK/QSV: whatever the registry marks "Hardware"; GStreamer 1.22's `va*`
//! and `nv*` elements register per device, so they are listed only when a
//! device exists), then software ones, each group by rank.

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::proto::channel::display::video_codec;

/// One way to decode a codec: the element (or a pipeline fragment, for
/// tests) placed between the parser and the converter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// A `gst-launch` fragment, usually one element name.
    pub description: String,
    /// A hardware decoder (shown in the stats).
    pub hardware: bool,
}

impl Candidate {
    pub fn software(description: &str) -> Self {
        Self {
            description: description.to_owned(),
            hardware: false,
        }
    }
}

/// The caps spice-server's frames have for `codec` (what `appsrc` announces).
pub fn codec_caps(codec: u8) -> Option<&'static str> {
    Some(match codec {
        video_codec::MJPEG => "image/jpeg",
        video_codec::VP8 => "video/x-vp8",
        video_codec::VP9 => "video/x-vp9",
        // spice-server sends H.264 and H.265 as Annex B byte streams, one access unit a frame.
        video_codec::H264 => "video/x-h264,stream-format=byte-stream,alignment=au",
        video_codec::H265 => "video/x-h265,stream-format=byte-stream,alignment=au",
        _ => return None,
    })
}

/// The parser placed before the decoder (it gives decoders the caps they want).
pub fn parser(codec: u8) -> Option<&'static str> {
    match codec {
        video_codec::H264 => Some("h264parse"),
        video_codec::H265 => Some("h265parse"),
        // Decoders of parsed JPEG (avdec_mjpeg) need it; jpegdec takes either.
        video_codec::MJPEG => Some("jpegparse"),
        _ => None,
    }
}

/// A short name for logs and stats.
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

/// Elements never picked automatically: `vaapi*` decoders of the old
/// gstreamer-vaapi plugin misbehave without a display (GStreamer's own
/// `va*` ones replace them), and wrappers that are not decoders proper.
fn excluded(name: &str) -> bool {
    name.starts_with("vaapi") || name.ends_with("decodebin") || name.contains("bin")
}

/// The decoders the registry has for `codec`, hardware first (see the module docs).
/// Nothing when the codec's parser is missing. GStreamer must be initialised.
pub fn candidates(codec: u8) -> Vec<Candidate> {
    let Some(caps) = codec_caps(codec).and_then(|c| c.parse::<gst::Caps>().ok()) else {
        return Vec::new();
    };
    if let Some(p) = parser(codec)
        && gst::ElementFactory::find(p).is_none()
    {
        return Vec::new();
    }
    // JPEG decoders call themselves image decoders.
    let kind =
        gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO | gst::ElementFactoryType::MEDIA_IMAGE;
    let mut found: Vec<(bool, gst::Rank, String)> = gst::ElementFactory::factories_with_type(kind, gst::Rank::MARGINAL)
        .into_iter()
        .filter(|f| f.can_sink_any_caps(&caps))
        .filter_map(|f| {
            let name = f.name().to_string();
            if excluded(&name) {
                return None;
            }
            let hardware = f.klass().contains("Hardware");
            Some((hardware, f.rank(), name))
        })
        .collect();
    // Hardware first, then higher rank, then by name (stable order).
    found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    found
        .into_iter()
        .map(|(hardware, _, description)| Candidate { description, hardware })
        .collect()
}
