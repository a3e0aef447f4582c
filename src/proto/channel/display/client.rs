//! Client-to-server display messages: DISPLAY_INIT, STREAM_REPORT, preferences.

use super::*;
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::ProtoResult;

/// `SPICE_MSGC_DISPLAY_INIT`: cache sizes are in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DisplayInit {
    pub pixmap_cache_id: u8,
    pub pixmap_cache_size: i64,
    pub glz_dictionary_id: u8,
    pub glz_dictionary_window_size: i32,
}

/// `SPICE_MSGC_DISPLAY_STREAM_REPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamReport {
    pub stream_id: u32,
    pub unique_id: u32,
    pub start_frame_mm_time: u32,
    pub end_frame_mm_time: u32,
    pub num_frames: u32,
    /// `u32::MAX` with `num_frames == 0` reports an undecodable stream.
    pub num_drops: u32,
    pub last_frame_delay: i32,
    /// `u32::MAX` when there is no audio playback.
    pub audio_delay: u32,
}

/// Display channel, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayClient {
    Base(ClientBase),
    Init(DisplayInit),
    StreamReport(StreamReport),
    /// One of [`image_compression`].
    PreferredCompression {
        image_compression: u8,
    },
    GlDrawDone,
    /// Codec ids of [`video_codec`], most preferred first (at most 255).
    PreferredVideoCodecType {
        codecs: Vec<u8>,
    },
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl DisplayClient {
    pub(super) fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Init(_) => msgc::INIT,
            Self::StreamReport(_) => msgc::STREAM_REPORT,
            Self::PreferredCompression { .. } => msgc::PREFERRED_COMPRESSION,
            Self::GlDrawDone => msgc::GL_DRAW_DONE,
            Self::PreferredVideoCodecType { .. } => msgc::PREFERRED_VIDEO_CODEC_TYPE,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    pub(super) fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Init(i) => {
                w.write_u8(i.pixmap_cache_id);
                w.write_i64(i.pixmap_cache_size);
                w.write_u8(i.glz_dictionary_id);
                w.write_i32(i.glz_dictionary_window_size);
            }
            Self::StreamReport(s) => {
                for v in [
                    s.stream_id,
                    s.unique_id,
                    s.start_frame_mm_time,
                    s.end_frame_mm_time,
                    s.num_frames,
                    s.num_drops,
                ] {
                    w.write_u32(v);
                }
                w.write_i32(s.last_frame_delay);
                w.write_u32(s.audio_delay);
            }
            Self::PreferredCompression { image_compression } => w.write_u8(*image_compression),
            Self::PreferredVideoCodecType { codecs } => {
                let n = u8::try_from(codecs.len()).unwrap_or(u8::MAX);
                w.write_u8(n);
                for c in codecs.iter().take(usize::from(n)) {
                    w.write_u8(*c);
                }
            }
            Self::GlDrawDone | Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    pub(super) fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msgc::INIT => Self::Init(DisplayInit {
                pixmap_cache_id: r.read_u8("init pixmap_cache_id")?,
                pixmap_cache_size: r.read_i64("init pixmap_cache_size")?,
                glz_dictionary_id: r.read_u8("init glz_dictionary_id")?,
                glz_dictionary_window_size: r.read_i32("init glz_dictionary_window_size")?,
            }),
            msgc::STREAM_REPORT => Self::StreamReport(StreamReport {
                stream_id: r.read_u32("stream_report stream_id")?,
                unique_id: r.read_u32("stream_report unique_id")?,
                start_frame_mm_time: r.read_u32("stream_report start_frame_mm_time")?,
                end_frame_mm_time: r.read_u32("stream_report end_frame_mm_time")?,
                num_frames: r.read_u32("stream_report num_frames")?,
                num_drops: r.read_u32("stream_report num_drops")?,
                last_frame_delay: r.read_i32("stream_report last_frame_delay")?,
                audio_delay: r.read_u32("stream_report audio_delay")?,
            }),
            msgc::PREFERRED_COMPRESSION => Self::PreferredCompression {
                image_compression: r.read_u8("preferred_compression")?,
            },
            msgc::GL_DRAW_DONE => Self::GlDrawDone,
            msgc::PREFERRED_VIDEO_CODEC_TYPE => {
                let n = r.read_u8("preferred_video_codec_type count")?;
                let codecs = r
                    .read_slice("preferred_video_codec_type codecs", usize::from(n))?
                    .to_vec();
                Self::PreferredVideoCodecType { codecs }
            }
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}
