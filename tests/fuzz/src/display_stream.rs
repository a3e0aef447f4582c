//! `display_stream` oracle (hostile-inputs rows 27–29): a script of stream messages and clock
//! ticks run against a display `Pipeline` with one 256x128 primary surface. Each command is one
//! opcode byte and its fixed-size arguments; frame data is either the embedded 64x48 MJPEG
//! frame or a slice of the input. MJPEG is decoded by Sumac; VP8, H.264, VP9 and H.265 streams
//! get a fake inter-coded decoder (which also runs the key-frame detector the GStreamer
//! decoders' fallback uses) (every frame decoded, some only at a later poll, frames with an empty
//! payload failing) so that both drop policies run. Properties: no panic; every tick asks to
//! wake within `MAX_WAIT_MS`, draws at most one frame per stream, and damages only surface
//! pixels; every queued report names a stream id; an inter-coded stream's decoder gets its
//! frames in arrival order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sumac::display::stream::keyframe::is_key_frame;
use sumac::display::stream::{DecodeResult, DecodedFrame, EncodedFrame, VideoError};
use sumac::display::{
    DisplayDecoder, DisplayEvent, DisplayState, Limits, Pipeline, VideoDecoder, VideoDecoderFactory, VideoStreamInfo,
    VideoWake,
};
use sumac::proto::channel::display::{
    Clip, DisplayServer, Rect, StreamActivateReport, StreamClip, StreamCreate, StreamData, StreamDataSized,
    SurfaceCreate, surface_flags, surface_fmt, video_codec,
};

/// Sequence numbers each fake decoder received, per stream id, shared with the oracle.
type Received = Arc<Mutex<Vec<(u32, u64)>>>;

/// A fake inter-coded decoder: a small grey frame per encoded frame; every other frame comes
/// back only at the next poll (as from a decoder thread).
struct Fake {
    id: u32,
    codec: u8,
    received: Received,
    done: VecDeque<DecodeResult>,
    held: Option<DecodeResult>,
}

impl VideoDecoder for Fake {
    fn queue(&mut self, f: EncodedFrame) {
        self.received.lock().expect("log").push((self.id, f.seq));
        std::hint::black_box(is_key_frame(self.codec, &f.data));
        let frame = match f.data.first() {
            None => Err(VideoError::Backend("empty frame".into())),
            Some(&v) => {
                let (w, h) = (f.width.clamp(1, 16), f.height.clamp(1, 16));
                Ok(DecodedFrame {
                    width: w,
                    height: h,
                    pixels: vec![v; (w * h * 4) as usize].into(),
                    red_first: false,
                })
            }
        };
        let r = DecodeResult { seq: f.seq, frame };
        if f.seq % 2 == 1 {
            self.done.extend(self.held.take());
            self.held = Some(r);
        } else {
            self.done.push_back(r);
        }
    }

    fn poll(&mut self) -> Option<DecodeResult> {
        match self.done.pop_front() {
            Some(r) => Some(r),
            None => self.held.take(),
        }
    }
}

struct Factory(Received);

impl VideoDecoderFactory for Factory {
    fn codecs(&self) -> Vec<u8> {
        vec![video_codec::VP8, video_codec::H264, video_codec::VP9, video_codec::H265]
    }

    fn create(&self, stream: &VideoStreamInfo, _wake: VideoWake) -> Option<Box<dyn VideoDecoder>> {
        Some(Box::new(Fake {
            id: stream.id,
            codec: stream.codec,
            received: Arc::clone(&self.0),
            done: VecDeque::new(),
            held: None,
        }))
    }
}

const FRAME: &[u8] = include_bytes!("../../fixtures/jpeg/frame-64x48-q95.jpg");
const SURFACE_W: i32 = 256;
const SURFACE_H: i32 = 128;
const MAX_COMMANDS: usize = 256;
/// `sumac::display` stream constants, restated so a change in them is noticed here.
const MAX_WAIT_MS: u32 = 1000;
const MAX_STREAMS: u32 = 64;

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn i16(&mut self) -> Option<i32> {
        Some(i32::from(i16::from_le_bytes([self.u8()?, self.u8()?])))
    }
    fn rect(&mut self) -> Option<Rect> {
        let (l, t) = (self.i16()?, self.i16()?);
        let (w, h) = (self.i16()?, self.i16()?);
        Some(Rect::ltrb(l, t, l.saturating_add(w), t.saturating_add(h)))
    }
    fn data(&mut self) -> Option<Vec<u8>> {
        let n = usize::from(self.u8()?);
        if n == 0 {
            return Some(FRAME.to_vec());
        }
        let (d, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        Some(d.to_vec())
    }
}

fn command(s: &mut Pipeline, inp: &mut Input<'_>, now: &mut u32) -> Option<()> {
    let op = inp.u8()?;
    let id = u32::from(inp.u8()? % 70);
    let m = match op % 8 {
        0 => DisplayServer::StreamCreate(StreamCreate {
            surface_id: u32::from(inp.u8()? % 2),
            id,
            flags: inp.u8()?,
            codec_type: inp.u8()? % 7,
            stamp: 0,
            stream_width: u32::from(inp.u16()?),
            stream_height: u32::from(inp.u16()?),
            src_width: 0,
            src_height: 0,
            dest: inp.rect()?,
            clip: Clip::None,
        }),
        1 | 2 => DisplayServer::StreamData(StreamData {
            id,
            multi_media_time: now.wrapping_add(u32::from(inp.u16()?)).wrapping_sub(300),
            data: inp.data()?,
        }),
        3 => DisplayServer::StreamDataSized(StreamDataSized {
            id,
            multi_media_time: now.wrapping_add(u32::from(inp.u16()?)).wrapping_sub(300),
            width: u32::from(inp.u8()?),
            height: u32::from(inp.u8()?),
            dest: inp.rect()?,
            data: inp.data()?,
        }),
        4 => {
            let n = inp.u8()? % 4;
            let mut rects = Vec::new();
            for _ in 0..n {
                rects.push(inp.rect()?);
            }
            DisplayServer::StreamClip(StreamClip {
                id,
                clip: if n == 0 { Clip::None } else { Clip::Rects(rects) },
            })
        }
        5 => DisplayServer::StreamActivateReport(StreamActivateReport {
            stream_id: id,
            unique_id: 1,
            max_window_size: u32::from(inp.u8()?),
            timeout_ms: u32::from(inp.u16()?),
        }),
        6 => {
            if id % 7 == 0 {
                DisplayServer::StreamDestroyAll
            } else {
                DisplayServer::StreamDestroy { id }
            }
        }
        _ => {
            *now = now.wrapping_add(u32::from(inp.u16()?));
            tick(s, *now);
            return Some(());
        }
    };
    s.handle(&m);
    Some(())
}

fn tick(s: &mut Pipeline, now: u32) {
    let t = s.stream_tick(now);
    assert!(
        t.next_wake_ms.is_none_or(|w| (1..=MAX_WAIT_MS).contains(&w)),
        "wake {t:?}"
    );
    assert!(t.rendered <= MAX_STREAMS);
    for e in &t.events {
        if let DisplayEvent::Damage { rect, .. } = e {
            assert!(
                !rect.is_empty()
                    && rect.left >= 0
                    && rect.top >= 0
                    && rect.right <= SURFACE_W
                    && rect.bottom <= SURFACE_H,
                "damage {rect:?} outside the surface"
            );
        }
    }
}

pub fn fuzz(data: &[u8]) -> bool {
    let received = Received::default();
    let limits = Limits::default();
    let factory: Arc<dyn VideoDecoderFactory> = Arc::new(Factory(Arc::clone(&received)));
    let decoder = DisplayDecoder::standalone(limits).with_video(Some(factory), Arc::new(|| {}));
    let cache = decoder.image_cache().clone();
    let mut s = Pipeline::from_parts(DisplayState::with_cache(limits, cache), decoder);
    s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: SURFACE_W as u32,
        height: SURFACE_H as u32,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    }));
    let mut inp = Input(data);
    let mut now = 1000u32;
    for _ in 0..MAX_COMMANDS {
        if command(&mut s, &mut inp, &mut now).is_none() {
            break;
        }
        for r in s.drain_stream_reports() {
            assert!(
                r.num_drops != u32::MAX || r.num_frames == 0,
                "invalid-stream report {r:?}"
            );
        }
    }
    tick(&mut s, now.wrapping_add(MAX_WAIT_MS));
    // Each fake decoder saw its stream's frames in order (sequence numbers increase).
    let received = received.lock().expect("log");
    for id in 0..MAX_STREAMS {
        let seqs: Vec<u64> = received.iter().filter(|(i, _)| *i == id).map(|(_, q)| *q).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "stream {id}: {seqs:?}");
    }
    s.stream_stats().frames_rendered > 0
}
