//! Video stream messages of the display channel: STREAM_CREATE (122),
//! STREAM_DATA (123), STREAM_CLIP (124), STREAM_DATA_SIZED (316) and
//! STREAM_ACTIVATE_REPORT (319). STREAM_DESTROY(_ALL) carry only an id and
//! live with the other display messages.
//!
//! Layouts (spice.proto, all little endian, everything inline):
//! - STREAM_CREATE: u32 surface_id, u32 id, u8 flags, u8 codec_type, u64 stamp,
//!   u32 stream_width, u32 stream_height, u32 src_width, u32 src_height,
//!   Rect dest, Clip clip.
//! - STREAM_DATA: u32 id, u32 multi_media_time, u32 data_size, data.
//! - STREAM_DATA_SIZED: u32 id, u32 multi_media_time, u32 width, u32 height,
//!   Rect dest, u32 data_size, data.
//! - STREAM_CLIP: u32 id, Clip clip.
//! - STREAM_ACTIVATE_REPORT: u32 stream_id, u32 unique_id, u32 max_window_size,
//!   u32 timeout_ms.
//!
//! `data_size` must fit in the body; bytes after the data are ignored.

use super::{Clip, Rect};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::ProtoResult;

/// `stream_flags`.
pub mod stream_flags {
    /// Frames are stored top row first; without it they are drawn flipped.
    pub const TOP_DOWN: u8 = 1 << 0;
}

/// STREAM_CREATE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamCreate {
    pub surface_id: u32,
    pub id: u32,
    /// Bits of [`stream_flags`].
    pub flags: u8,
    /// One of [`super::video_codec`].
    pub codec_type: u8,
    pub stamp: u64,
    /// Size of the encoded frames.
    pub stream_width: u32,
    pub stream_height: u32,
    /// Size of the source area on the server.
    pub src_width: u32,
    pub src_height: u32,
    /// Where frames are drawn (scaled to fit).
    pub dest: Rect,
    pub clip: Clip,
}

/// STREAM_DATA: one encoded frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamData {
    pub id: u32,
    /// When to show the frame, on the session's multimedia clock (ms).
    pub multi_media_time: u32,
    pub data: Vec<u8>,
}

/// STREAM_DATA_SIZED: a frame with its own size and destination.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamDataSized {
    pub id: u32,
    pub multi_media_time: u32,
    pub width: u32,
    pub height: u32,
    pub dest: Rect,
    pub data: Vec<u8>,
}

/// STREAM_CLIP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamClip {
    pub id: u32,
    pub clip: Clip,
}

/// STREAM_ACTIVATE_REPORT: start sending STREAM_REPORT for this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamActivateReport {
    pub stream_id: u32,
    pub unique_id: u32,
    /// Report after this many frames at most.
    pub max_window_size: u32,
    /// Report after this many milliseconds at most.
    pub timeout_ms: u32,
}

fn read_data(r: &mut ReadCursor<'_>, what: &'static str) -> ProtoResult<Vec<u8>> {
    let n = r.read_u32(what)?;
    let n = usize::try_from(n).map_err(|_| crate::proto::DecodeError::Overflow { what })?;
    Ok(r.read_slice(what, n)?.to_vec())
}

fn write_data(w: &mut WriteCursor, data: &[u8]) {
    let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
    w.write_u32(n);
    w.write_slice(data.get(..usize::try_from(n).unwrap_or(usize::MAX)).unwrap_or(data));
}

impl StreamCreate {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            surface_id: r.read_u32("stream_create surface_id")?,
            id: r.read_u32("stream_create id")?,
            flags: r.read_u8("stream_create flags")?,
            codec_type: r.read_u8("stream_create codec_type")?,
            stamp: r.read_u64("stream_create stamp")?,
            stream_width: r.read_u32("stream_create stream_width")?,
            stream_height: r.read_u32("stream_create stream_height")?,
            src_width: r.read_u32("stream_create src_width")?,
            src_height: r.read_u32("stream_create src_height")?,
            dest: Rect::decode(r)?,
            clip: Clip::decode(r)?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.surface_id);
        w.write_u32(self.id);
        w.write_u8(self.flags);
        w.write_u8(self.codec_type);
        w.write_u64(self.stamp);
        for v in [self.stream_width, self.stream_height, self.src_width, self.src_height] {
            w.write_u32(v);
        }
        self.dest.encode(w);
        self.clip.encode(w);
    }
}

impl StreamData {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            id: r.read_u32("stream_data id")?,
            multi_media_time: r.read_u32("stream_data multi_media_time")?,
            data: read_data(r, "stream_data data")?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.id);
        w.write_u32(self.multi_media_time);
        write_data(w, &self.data);
    }
}

impl StreamDataSized {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            id: r.read_u32("stream_data_sized id")?,
            multi_media_time: r.read_u32("stream_data_sized multi_media_time")?,
            width: r.read_u32("stream_data_sized width")?,
            height: r.read_u32("stream_data_sized height")?,
            dest: Rect::decode(r)?,
            data: read_data(r, "stream_data_sized data")?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.id);
        w.write_u32(self.multi_media_time);
        w.write_u32(self.width);
        w.write_u32(self.height);
        self.dest.encode(w);
        write_data(w, &self.data);
    }
}

impl StreamClip {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            id: r.read_u32("stream_clip id")?,
            clip: Clip::decode(r)?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        w.write_u32(self.id);
        self.clip.encode(w);
    }
}

impl StreamActivateReport {
    pub fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        Ok(Self {
            stream_id: r.read_u32("stream_activate_report stream_id")?,
            unique_id: r.read_u32("stream_activate_report unique_id")?,
            max_window_size: r.read_u32("stream_activate_report max_window_size")?,
            timeout_ms: r.read_u32("stream_activate_report timeout_ms")?,
        })
    }

    pub fn encode(&self, w: &mut WriteCursor) {
        for v in [self.stream_id, self.unique_id, self.max_window_size, self.timeout_ms] {
            w.write_u32(v);
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::super::{DisplayServer, msg, video_codec};
    use super::*;
    use crate::proto::DecodeError;

    fn body(m: &DisplayServer) -> Vec<u8> {
        let mut w = WriteCursor::new();
        m.encode_channel_body(&mut w);
        w.as_slice().to_vec()
    }

    fn round_trip(m: DisplayServer, t: u16) -> Vec<u8> {
        let b = body(&m);
        assert_eq!(DisplayServer::decode_channel(t, &b).unwrap(), m);
        assert_eq!(m.channel_msg_type(), t);
        b
    }

    fn create() -> StreamCreate {
        StreamCreate {
            surface_id: 0,
            id: 7,
            flags: stream_flags::TOP_DOWN,
            codec_type: video_codec::MJPEG,
            stamp: 0x0102_0304_0506_0708,
            stream_width: 64,
            stream_height: 48,
            src_width: 64,
            src_height: 48,
            dest: Rect::ltrb(10, 20, 74, 68),
            clip: Clip::Rects(vec![Rect::ltrb(10, 20, 40, 68)]),
        }
    }

    #[test]
    fn stream_messages_round_trip() {
        let b = round_trip(DisplayServer::StreamCreate(create()), msg::STREAM_CREATE);
        // surface_id, id, flags, codec, stamp, 4 sizes, rect, clip type, count, one rect.
        assert_eq!(b.len(), 4 + 4 + 1 + 1 + 8 + 16 + 16 + 1 + 4 + 16);
        assert_eq!(&b[8..10], &[1, 1]);
        let data = StreamData {
            id: 7,
            multi_media_time: 1000,
            data: vec![0xff, 0xd8, 0xff, 0xd9],
        };
        let b = round_trip(DisplayServer::StreamData(data), msg::STREAM_DATA);
        assert_eq!(b, [7, 0, 0, 0, 0xe8, 3, 0, 0, 4, 0, 0, 0, 0xff, 0xd8, 0xff, 0xd9]);
        let sized = StreamDataSized {
            id: 1,
            multi_media_time: 2,
            width: 3,
            height: 4,
            dest: Rect::ltrb(0, 0, 3, 4),
            data: vec![9; 5],
        };
        let b = round_trip(DisplayServer::StreamDataSized(sized), msg::STREAM_DATA_SIZED);
        assert_eq!(b.len(), 16 + 16 + 4 + 5);
        let clip = StreamClip {
            id: 3,
            clip: Clip::None,
        };
        assert_eq!(
            round_trip(DisplayServer::StreamClip(clip), msg::STREAM_CLIP),
            [3, 0, 0, 0, 0]
        );
        let rep = StreamActivateReport {
            stream_id: 1,
            unique_id: 2,
            max_window_size: 3,
            timeout_ms: 4,
        };
        let b = round_trip(DisplayServer::StreamActivateReport(rep), msg::STREAM_ACTIVATE_REPORT);
        assert_eq!(b, [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]);
    }

    #[test]
    fn hostile_stream_messages_are_rejected() {
        // data_size past the end of the body.
        let mut b = body(&DisplayServer::StreamData(StreamData {
            id: 1,
            multi_media_time: 1,
            data: vec![1, 2, 3],
        }));
        b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            DisplayServer::decode_channel(msg::STREAM_DATA, &b),
            Err(DecodeError::NotEnoughBytes { .. })
        ));
        // Trailing bytes after the data are ignored; a shorter data_size is honoured.
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        let DisplayServer::StreamData(d) = DisplayServer::decode_channel(msg::STREAM_DATA, &b).unwrap() else {
            panic!("not stream data");
        };
        assert_eq!(d.data, [1]);
        // Truncated fixed parts.
        let full = body(&DisplayServer::StreamCreate(create()));
        for cut in [0, 9, 30, full.len() - 1] {
            assert!(DisplayServer::decode_channel(msg::STREAM_CREATE, &full[..cut]).is_err());
        }
        // A clip count that cannot fit.
        let mut c = body(&DisplayServer::StreamClip(StreamClip {
            id: 1,
            clip: Clip::Rects(vec![]),
        }));
        c[5..9].copy_from_slice(&0x8000_0002u32.to_le_bytes());
        assert!(DisplayServer::decode_channel(msg::STREAM_CLIP, &c).is_err());
        // Bad clip type; short activate report and sized data.
        let mut bad = full.clone();
        bad[50] = 9;
        assert!(DisplayServer::decode_channel(msg::STREAM_CREATE, &bad).is_err());
        assert!(DisplayServer::decode_channel(msg::STREAM_ACTIVATE_REPORT, &[0; 15]).is_err());
        assert!(DisplayServer::decode_channel(msg::STREAM_DATA_SIZED, &[0; 35]).is_err());
    }
}
