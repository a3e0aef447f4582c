use std::sync::Mutex;

use super::mjpeg::{MjpegDecoder, jpeg_tables};
use super::*;
use crate::codec::jpeg::tests::{fixture, ppm, psnr};
use crate::codec::{self, ImageBuf};
use crate::display::{DisplayDecoder, DisplayState, Limits, Pipeline};
use crate::proto::channel::display::{
    DisplayServer, StreamActivateReport, StreamClip, StreamCreate, StreamData, StreamDataSized, SurfaceCreate,
    stream_flags, surface_flags, surface_fmt,
};

const W: u32 = 200;
const H: u32 = 100;

fn state() -> Pipeline {
    let mut s = Pipeline::new(Limits::default());
    s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: W,
        height: H,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    }));
    s
}

fn create(id: u32, flags: u8, dest: Rect) -> DisplayServer {
    create_codec(id, flags, dest, video_codec::MJPEG)
}

fn create_codec(id: u32, flags: u8, dest: Rect, codec_type: u8) -> DisplayServer {
    DisplayServer::StreamCreate(StreamCreate {
        surface_id: 0,
        id,
        flags,
        codec_type,
        stamp: 0,
        stream_width: 64,
        stream_height: 48,
        src_width: 64,
        src_height: 48,
        dest,
        clip: Clip::None,
    })
}

fn data(id: u32, mm_time: u32) -> DisplayServer {
    DisplayServer::StreamData(StreamData {
        id,
        multi_media_time: mm_time,
        data: fixture("frame-64x48-q95.jpg"),
    })
}

fn dest_at(x: i32, y: i32, w: i32, h: i32) -> Rect {
    Rect::ltrb(x, y, x + w, y + h)
}

/// The surface pixels of `dest` as B,G,R,A rows.
fn pixels(s: &DisplayState, dest: &Rect) -> Vec<u8> {
    let mut out = Vec::new();
    for y in dest.top..dest.bottom {
        for x in dest.left..dest.right {
            out.extend_from_slice(&s.surface(0).unwrap().pixel(x as u32, y as u32).unwrap());
        }
    }
    out
}

fn decoded() -> ImageBuf {
    let mut b = ImageBuf::new();
    codec::jpeg::decode(&fixture("frame-64x48-q95.jpg"), &mut b).unwrap();
    b
}

#[test]
fn frame_is_drawn_at_dest_exactly_as_decoded() {
    let mut s = state();
    let dest = dest_at(10, 20, 64, 48);
    s.handle(&create(3, stream_flags::TOP_DOWN, dest));
    assert_eq!(s.stream_ids().collect::<Vec<_>>(), [3]);
    s.handle(&data(3, 1000));
    // Not yet due: a wake-up is requested, nothing drawn.
    let t = s.stream_tick(990);
    assert_eq!((t.rendered, t.dropped, t.next_wake_ms), (0, 0, Some(10)));
    let t = s.stream_tick(1000);
    assert_eq!((t.rendered, t.dropped, t.next_wake_ms), (1, 0, None));
    assert_eq!(
        t.events,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: dest
        }]
    );
    // Lossless path: the surface holds exactly the decoded frame ...
    let got = pixels(&s, &dest);
    assert_eq!(got, decoded().data);
    // ... which is close to the source image.
    let (_, _, src) = ppm("frame-src-64x48.ppm");
    let db = psnr(&got, &src);
    assert!(db >= 40.0, "{db:.1} dB");
    // Nothing outside dest.
    assert_eq!(s.surface(0).unwrap().pixel(9, 20).unwrap(), [0; 4]);
    assert_eq!(s.stream_stats().frames_rendered, 1);
    assert!(s.drain_stream_reports().next().is_none());
}

#[test]
fn bottom_up_streams_are_flipped_and_scaled_and_clipped() {
    let mut s = state();
    let dest = dest_at(0, 0, 64, 48);
    s.handle(&create(0, 0, dest));
    s.handle(&data(0, 5));
    assert_eq!(s.stream_tick(5).rendered, 1);
    let d = decoded();
    let got = pixels(&s, &dest);
    for y in 0..48usize {
        assert_eq!(got[y * 256..(y + 1) * 256], *d.row(47 - y as u32).unwrap(), "row {y}");
    }
    // Scaled 2x into a clipped destination via STREAM_DATA_SIZED.
    let mut s = state();
    s.handle(&create(1, stream_flags::TOP_DOWN, dest));
    s.handle(&DisplayServer::StreamClip(StreamClip {
        id: 1,
        clip: Clip::Rects(vec![Rect::ltrb(0, 0, 100, 50)]),
    }));
    let big = dest_at(0, 0, 128, 96);
    s.handle(&DisplayServer::StreamDataSized(StreamDataSized {
        id: 1,
        multi_media_time: 7,
        width: 64,
        height: 48,
        dest: big,
        data: fixture("frame-64x48-q95-progressive.jpg"),
    }));
    let t = s.stream_tick(7);
    assert_eq!(t.rendered, 1);
    assert_eq!(
        t.events,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: Rect::ltrb(0, 0, 100, 50)
        }]
    );
    let surf = s.surface(0).unwrap();
    let (_, _, src) = ppm("frame-src-64x48.ppm");
    let mut got = Vec::new();
    // Nearest sampling maps surface (2x, 2y + 1) to frame (x, y); the clip keeps y < 50.
    for y in 0..25u32 {
        for x in 0..50u32 {
            got.extend_from_slice(&surf.pixel(2 * x, 2 * y + 1).unwrap());
        }
    }
    let src_part: Vec<u8> = (0..25).flat_map(|y| src[y * 192..y * 192 + 150].to_vec()).collect();
    assert!(psnr(&got, &src_part) >= 40.0);
    assert_eq!(surf.pixel(100, 10).unwrap(), [0; 4], "outside the clip");
    assert_eq!(surf.pixel(10, 50).unwrap(), [0; 4], "outside the clip");
}

fn reports(s: &mut Pipeline) -> Vec<StreamReport> {
    s.drain_stream_reports().collect()
}

#[test]
fn hostile_row_27_refused_creates_report_invalid_streams() {
    let mut s = state();
    let ok = dest_at(0, 0, 64, 48);
    let mut bad: Vec<DisplayServer> = Vec::new();
    for codec in [0, video_codec::VP8, video_codec::H264, video_codec::H265, 6, 255] {
        let DisplayServer::StreamCreate(mut c) = create(1, 0, ok) else {
            unreachable!()
        };
        c.codec_type = codec;
        bad.push(DisplayServer::StreamCreate(c));
    }
    for (w, h) in [(0, 48), (64, 0), (16385, 1), (10_000, 10_000)] {
        let DisplayServer::StreamCreate(mut c) = create(1, 0, ok) else {
            unreachable!()
        };
        c.stream_width = w;
        c.stream_height = h;
        bad.push(DisplayServer::StreamCreate(c));
    }
    for dest in [
        dest_at(-1, 0, 64, 48),
        dest_at(150, 0, 64, 48),
        Rect::ltrb(10, 10, 5, 20),
        dest_at(0, 0, 0, 0),
    ] {
        bad.push(create(1, 0, dest));
    }
    let DisplayServer::StreamCreate(mut c) = create(1, 0, ok) else {
        unreachable!()
    };
    c.surface_id = 9;
    bad.push(DisplayServer::StreamCreate(c));
    bad.push(create(64, 0, ok));
    bad.push(create(u32::MAX, 0, ok));
    for m in &bad {
        s.handle(m);
    }
    assert_eq!(s.stream_ids().count(), 0);
    let r = reports(&mut s);
    assert_eq!(r.len(), bad.len());
    assert!(r.iter().all(|r| r.num_frames == 0 && r.num_drops == u32::MAX));
    assert_eq!(r.last().unwrap().stream_id, u32::MAX);
    assert_eq!(s.stream_stats().refused, bad.len() as u64);
    assert_eq!(s.stats().errors_of("stream_codec_not_advertised"), 3);
    assert_eq!(s.stats().errors_of("stream_unknown_codec"), 3);
    assert_eq!(s.stats().errors_of("stream_bad_dest"), 4);
    // A duplicate create keeps the live stream and sends no report.
    s.handle(&create(1, 0, ok));
    s.handle(&create(1, 0, dest_at(1, 1, 64, 48)));
    assert_eq!(s.stream_stats().created, 1);
    assert_eq!(s.stats().errors_of("stream_duplicate"), 1);
    assert!(reports(&mut s).is_empty());
}

#[test]
fn hostile_row_28_unknown_ids_and_odd_times() {
    let mut s = state();
    s.handle(&data(5, 100));
    s.handle(&DisplayServer::StreamClip(StreamClip {
        id: 6,
        clip: Clip::None,
    }));
    s.handle(&DisplayServer::StreamActivateReport(StreamActivateReport {
        stream_id: 7,
        ..Default::default()
    }));
    s.handle(&DisplayServer::StreamDestroy { id: 8 });
    s.handle(&data(u32::MAX, 100));
    assert_eq!(s.stream_stats().unknown_id, 5);
    let ids: Vec<u32> = reports(&mut s).iter().map(|r| r.stream_id).collect();
    assert_eq!(ids, [5, 6, 7, u32::MAX], "destroy of an unknown id is not reported");

    // A huge mm_time waits at most MAX_WAIT_MS, then is shown.
    s.handle(&create(2, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    s.handle(&data(2, 0x8000_0000));
    let t = s.stream_tick(1000);
    assert_eq!((t.rendered, t.next_wake_ms), (0, Some(MAX_WAIT_MS)));
    assert_eq!(s.stream_tick(1500).next_wake_ms, Some(500));
    assert_eq!(s.stream_tick(2000).rendered, 1);
    // mm_time 0 is shown at once.
    s.handle(&data(2, 0));
    assert_eq!(s.stream_tick(5000).rendered, 1);
    // Non-monotonic time flushes the queue: the older frame replaces the newer.
    s.handle(&data(2, 6000));
    s.handle(&data(2, 5900));
    assert_eq!(s.stream_stats().frames_overflow, 1);
    let t = s.stream_tick(5900);
    assert_eq!((t.rendered, t.next_wake_ms), (1, None));
    // Late frames are dropped for a newer one; the newest is drawn even late (a late
    // picture beats a stale one); within the tolerance they are drawn.
    s.handle(&data(2, 6900));
    s.handle(&data(2, 7000));
    let t = s.stream_tick(7000 + LATE_TOLERANCE_MS + 1);
    assert_eq!((t.rendered, t.dropped), (1, 1));
    s.handle(&data(2, 8000));
    assert_eq!(s.stream_tick(8000 + LATE_TOLERANCE_MS).rendered, 1);
    // Wrap-around of the clock is not lateness.
    s.handle(&data(2, 5));
    let t = s.stream_tick(u32::MAX - 4);
    assert_eq!((t.rendered, t.next_wake_ms), (0, Some(10)));
    assert_eq!(s.stream_tick(5).rendered, 1);
    // Destroy, then data for it: dropped and reported.
    s.handle(&DisplayServer::StreamDestroy { id: 2 });
    s.handle(&data(2, 9000));
    assert_eq!(s.stream_stats().destroyed, 1);
    assert_eq!(reports(&mut s).len(), 1);
}

#[test]
fn hostile_row_29_flood_is_bounded() {
    let mut s = state();
    s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    // 2000 frames 1 ms apart, faster than we tick: at most MAX_QUEUED_FRAMES stay queued.
    for i in 0..2000u32 {
        s.handle(&data(0, 100_000 + i));
        let q = s.decoder_mut().streams.get_mut(0).unwrap().queue.len();
        assert!(q <= MAX_QUEUED_FRAMES);
    }
    assert_eq!(s.stream_stats().frames_overflow, 2000 - MAX_QUEUED_FRAMES as u64);
    assert!(s.decoder().streams.queued_bytes <= MAX_QUEUED_FRAMES * fixture("frame-64x48-q95.jpg").len());
    // A span of more than MAX_QUEUE_SPAN_MS keeps only the recent frames.
    let mut s = state();
    s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    s.handle(&data(0, 1000));
    let later = 1000 + MAX_QUEUE_SPAN_MS + 100;
    s.handle(&data(0, later));
    assert_eq!(s.decoder_mut().streams.get_mut(0).unwrap().queue.len(), 1);
    // Everything due at once: only the newest is drawn.
    s.handle(&data(0, later + 10));
    s.handle(&data(0, later + 20));
    let t = s.stream_tick(later + 20);
    assert_eq!((t.rendered, t.dropped), (1, 2));
    // Oversized frames are refused.
    s.handle(&DisplayServer::StreamData(StreamData {
        id: 0,
        multi_media_time: later + 100,
        data: vec![0; MAX_FRAME_BYTES + 1],
    }));
    assert_eq!(s.stats().errors_of("stream_frame_too_large"), 1);
}

#[test]
fn reports_follow_the_activate_window() {
    let mut s = state();
    s.handle(&create(4, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    s.handle(&DisplayServer::StreamActivateReport(StreamActivateReport {
        stream_id: 4,
        unique_id: 77,
        max_window_size: 3,
        timeout_ms: 10_000,
    }));
    for (i, now) in [(0u32, 990u32), (1, 1010), (2, 1020)] {
        s.handle(&data(4, 1000 + i * 10));
        s.stream_tick(now);
    }
    let r = reports(&mut s);
    assert_eq!(r.len(), 1);
    let r = r[0];
    assert_eq!((r.stream_id, r.unique_id, r.num_frames, r.num_drops), (4, 77, 3, 0));
    assert_eq!((r.start_frame_mm_time, r.end_frame_mm_time), (1000, 1020));
    assert_eq!((r.last_frame_delay, r.audio_delay), (0, u32::MAX));
    // Three late arrivals in a row force a report.
    for i in 0..3u32 {
        s.handle(&data(4, 2000 + i));
        s.stream_tick(3000 + i);
    }
    let r = reports(&mut s);
    assert_eq!((r.len(), r[0].num_drops, r[0].num_frames), (1, 3, 3));
    assert!(r[0].last_frame_delay < 0);
}

#[test]
fn bad_frames_are_dropped_and_the_stream_survives() {
    let mut s = state();
    s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    // Garbage, a frame of the wrong size, a sized frame outside the surface.
    s.handle(&DisplayServer::StreamData(StreamData {
        id: 0,
        multi_media_time: 10,
        data: vec![0xff, 0xd8, 0xff],
    }));
    assert_eq!(s.stream_tick(10).rendered, 0);
    s.handle(&DisplayServer::StreamData(StreamData {
        id: 0,
        multi_media_time: 20,
        data: fixture("color-61x37-444-q95.jpg"),
    }));
    assert_eq!(s.stream_tick(20).rendered, 0);
    s.handle(&DisplayServer::StreamDataSized(StreamDataSized {
        id: 0,
        multi_media_time: 30,
        width: 64,
        height: 48,
        dest: dest_at(190, 0, 64, 48),
        data: fixture("frame-64x48-q95.jpg"),
    }));
    assert_eq!(s.stream_stats().frames_failed, 3);
    assert_eq!(s.stats().errors_of("stream_decode"), 2);
    s.handle(&data(0, 40));
    assert_eq!(s.stream_tick(40).rendered, 1);
    // The surface goes away: the stream is torn down at the next frame.
    s.handle(&DisplayServer::SurfaceDestroy { surface_id: 0 });
    s.handle(&data(0, 50));
    assert_eq!(s.stream_ids().count(), 0);
    s.handle(&create(1, 0, dest_at(0, 0, 64, 48)));
    assert_eq!(s.stream_ids().count(), 0, "no surface: refused");
    s.handle(&DisplayServer::StreamDestroyAll);
}

/// `data` without its DHT segments, like the later frames of spice-server's MJPEG encoder.
fn without_huffman_tables(data: &[u8]) -> Vec<u8> {
    let t = jpeg_tables(data).unwrap();
    assert!(!t.dht.is_empty(), "the fixture has Huffman tables");
    let mut out = Vec::new();
    let mut at = 0;
    for r in &t.dht {
        out.extend_from_slice(&data[at..r.start]);
        at = r.end;
    }
    out.extend_from_slice(&data[at..]);
    out
}

#[test]
fn abbreviated_frames_reuse_the_streams_huffman_tables() {
    let full = fixture("frame-64x48-q95.jpg");
    let short = without_huffman_tables(&full);
    assert!(jpeg_tables(&short).unwrap().dht.is_empty());
    let mut b = ImageBuf::new();
    assert!(
        codec::jpeg::decode(&short, &mut b).is_err(),
        "the decoder needs the tables"
    );
    let frame = |mm_time, data: &Vec<u8>| {
        DisplayServer::StreamData(StreamData {
            id: 0,
            multi_media_time: mm_time,
            data: data.clone(),
        })
    };
    // A stream that never saw tables cannot decode an abbreviated frame.
    let mut s = state();
    s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    s.handle(&frame(10, &short));
    assert_eq!(s.stream_tick(10).rendered, 0);
    assert_eq!(s.stream_stats().frames_failed, 1);
    // Once a full frame has come, abbreviated ones decode to the same pixels.
    s.handle(&frame(20, &full));
    assert_eq!(s.stream_tick(20).rendered, 1);
    let first = pixels(&s, &dest_at(0, 0, 64, 48));
    s.handle(&DisplayServer::StreamDataSized(StreamDataSized {
        id: 0,
        multi_media_time: 30,
        width: 64,
        height: 48,
        dest: dest_at(100, 40, 64, 48),
        data: short.clone(),
    }));
    s.handle(&frame(40, &short));
    assert_eq!(s.stream_tick(30).rendered, 1);
    assert_eq!(pixels(&s, &dest_at(100, 40, 64, 48)), first);
    assert_eq!(s.stream_tick(40).rendered, 1);
    assert_eq!(s.stream_stats().frames_failed, 1);
    assert_eq!(s.stats().errors_of("stream_decode"), 1);
    // Tables are per stream: a new stream starts without them.
    s.handle(&create(1, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    s.handle(&DisplayServer::StreamData(StreamData {
        id: 1,
        multi_media_time: 50,
        data: short,
    }));
    assert_eq!(s.stream_tick(50).rendered, 0);
    assert_eq!(s.stream_stats().frames_failed, 2);
    // Marker walking is bounded by the data.
    assert!(jpeg_tables(&[0xff, 0xd8, 0xff, 0xc4, 0xff, 0xff]).is_none());
    assert!(jpeg_tables(&[0xff, 0xd8, 0xff]).is_none());
    assert!(jpeg_tables(&[0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01]).is_none());
    assert!(jpeg_tables(&[0xff, 0xd8, 0xff, 0xd0, 0xff, 0xda]).is_some_and(|t| t.sos == 4));
}

#[test]
fn the_mjpeg_decoder_decodes_each_frame_as_it_is_queued() {
    let mut d = MjpegDecoder::default();
    let frame = |seq, width, data| EncodedFrame {
        seq,
        mm_time: 0,
        width,
        height: 48,
        data,
    };
    d.queue(frame(7, 64, fixture("frame-64x48-q95.jpg")));
    d.queue(frame(8, 60, fixture("frame-64x48-q95.jpg")));
    let r = d.poll().unwrap();
    assert_eq!(r.seq, 7);
    let f = r.frame.unwrap();
    // Left R,G,B,A for the draw to swap: the same pixels as the B,G,R,A decoding.
    assert!(f.red_first);
    let swapped: Vec<u8> = f
        .pixels
        .bytes()
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0], p[3]])
        .collect();
    assert_eq!((f.width, f.height, &swapped), (64, 48, &decoded().data));
    // The announced size must match.
    let r = d.poll().unwrap();
    assert_eq!(r.seq, 8);
    assert!(matches!(r.frame, Err(VideoError::Codec(_))), "{:?}", r.frame);
    assert!(d.poll().is_none());
    // A drawn frame's buffer is decoded into again.
    let ptr = f.pixels.bytes().as_ptr();
    d.recycle(f.pixels);
    d.queue(frame(9, 64, fixture("frame-64x48-q95.jpg")));
    assert_eq!(d.poll().unwrap().frame.unwrap().pixels.bytes().as_ptr(), ptr);
}

/// What a fake decoder was asked, shared with the test.
#[derive(Debug, Default)]
struct Log {
    /// Sequence numbers queued, per stream id.
    queued: Vec<(u32, u64)>,
    rescheduled: Vec<u32>,
    destroyed: Vec<u32>,
    /// Decoded frames are held back (a decoder thread still working).
    hold: bool,
}

/// A fake inter-coded decoder: every frame decodes to a 4x4 frame of its first byte.
struct Fake {
    id: u32,
    log: Arc<Mutex<Log>>,
    done: VecDeque<DecodeResult>,
    wake: VideoWake,
}

impl VideoDecoder for Fake {
    fn queue(&mut self, f: EncodedFrame) {
        self.log.lock().unwrap().queued.push((self.id, f.seq));
        let v = f.data.first().copied().unwrap_or(0);
        self.done.push_back(DecodeResult {
            seq: f.seq,
            frame: Ok(DecodedFrame {
                width: 4,
                height: 4,
                pixels: vec![v; 64].into(),
                red_first: false,
            }),
        });
    }

    fn poll(&mut self) -> Option<DecodeResult> {
        if self.log.lock().unwrap().hold {
            return None;
        }
        self.done.pop_front()
    }

    fn reschedule(&mut self, now_mm: u32) {
        self.log.lock().unwrap().rescheduled.push(now_mm);
    }

    fn destroy(&mut self) {
        self.log.lock().unwrap().destroyed.push(self.id);
        (self.wake)();
    }
}

struct Factory(Arc<Mutex<Log>>);

impl VideoDecoderFactory for Factory {
    fn codecs(&self) -> Vec<u8> {
        vec![video_codec::VP8, video_codec::H264, 77, video_codec::VP8]
    }

    fn create(&self, stream: &VideoStreamInfo, wake: VideoWake) -> Option<Box<dyn VideoDecoder>> {
        if stream.codec == video_codec::H264 {
            return None;
        }
        Some(Box::new(Fake {
            id: stream.id,
            log: Arc::clone(&self.0),
            done: VecDeque::new(),
            wake,
        }))
    }
}

/// A pipeline whose decoder has the fake VP8 (and failing H.264) factory; wakes are counted.
fn with_fake() -> (Pipeline, Arc<Mutex<Log>>, Arc<std::sync::atomic::AtomicU32>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let wakes = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let w = Arc::clone(&wakes);
    let wake: VideoWake = Arc::new(move || {
        w.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let s = with_factory(
        Arc::new(Factory(Arc::clone(&log))),
        wake,
        &[video_codec::MJPEG, video_codec::VP8, video_codec::H264],
    );
    (s, log, wakes)
}

/// A pipeline whose decoder has `factory` (advertising `codecs`) and a primary surface.
fn with_factory(factory: Arc<dyn VideoDecoderFactory>, wake: VideoWake, codecs: &[u8]) -> Pipeline {
    let limits = Limits::default();
    let decoder = DisplayDecoder::standalone(limits).with_video(Some(factory), wake);
    assert_eq!(decoder.video_codecs(), codecs);
    let cache = decoder.image_cache().clone();
    let mut s = Pipeline::from_parts(DisplayState::with_cache(limits, cache), decoder);
    s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: W,
        height: H,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    }));
    s
}

fn frame_of(id: u32, mm_time: u32, first: u8) -> DisplayServer {
    DisplayServer::StreamData(StreamData {
        id,
        multi_media_time: mm_time,
        data: vec![first, 1, 2, 3],
    })
}

#[test]
fn inter_coded_frames_are_decoded_even_when_late_and_the_newest_is_shown() {
    let (mut s, log, wakes) = with_fake();
    let dest = dest_at(0, 0, 64, 48);
    s.handle(&create_codec(1, stream_flags::TOP_DOWN, dest, video_codec::VP8));
    // A codec the factory names but cannot make a decoder for is refused.
    s.handle(&create_codec(2, 0, dest, video_codec::H264));
    assert_eq!(s.stream_ids().collect::<Vec<_>>(), [1]);
    assert_eq!(s.stats().errors_of("stream_no_decoder"), 1);
    assert_eq!(reports(&mut s).len(), 1);
    // Three frames, all late when the stream is ticked: every one reaches the decoder, only the
    // newest is drawn (late, at once: nothing newer is there).
    for (i, mm) in [1000u32, 1010, 1020].into_iter().enumerate() {
        s.handle(&frame_of(1, mm, 10 + i as u8));
    }
    assert_eq!(log.lock().unwrap().queued.len(), 3, "handed over as they arrive");
    let t = s.stream_tick(2000);
    assert_eq!((t.rendered, t.dropped, t.next_wake_ms), (1, 2, None));
    assert_eq!(s.stream_stats().frames_late, 2);
    // On time: shown at its time, with the decoder's pixels (scaled to dest).
    s.handle(&frame_of(1, 2100, 0x42));
    let t = s.stream_tick(2050);
    assert_eq!((t.rendered, t.next_wake_ms), (0, Some(50)));
    let t = s.stream_tick(2100);
    assert_eq!((t.rendered, t.dropped), (1, 0));
    assert_eq!(
        t.events,
        [DisplayEvent::Damage {
            surface_id: 0,
            rect: dest
        }]
    );
    assert_eq!(s.surface(0).unwrap().pixel(63, 47).unwrap()[..3], [0x42; 3]);
    let queued: Vec<u64> = log.lock().unwrap().queued.iter().map(|q| q.1).collect();
    assert!(queued.windows(2).all(|w| w[0] < w[1]), "in order: {queued:?}");
    // MJPEG, by contrast, drops late frames before decoding: only the newest is decoded.
    s.handle(&create(3, stream_flags::TOP_DOWN, dest));
    for mm in [3000u32, 3010] {
        s.handle(&DisplayServer::StreamData(StreamData {
            id: 3,
            multi_media_time: mm,
            data: vec![1, 2, 3],
        }));
    }
    let t = s.stream_tick(4000);
    assert_eq!((t.rendered, t.dropped), (0, 1));
    assert_eq!(s.stats().errors_of("stream_decode"), 1, "only the newest decoded");
    // Destroyed streams destroy their decoder.
    s.handle(&DisplayServer::StreamDestroyAll);
    assert_eq!(log.lock().unwrap().destroyed, [1]);
    assert_eq!(wakes.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn frames_a_decoder_gives_back_later_are_shown_at_their_time() {
    let (mut s, log, _) = with_fake();
    s.handle(&create_codec(
        0,
        stream_flags::TOP_DOWN,
        dest_at(0, 0, 64, 48),
        video_codec::VP8,
    ));
    log.lock().unwrap().hold = true;
    s.handle(&frame_of(0, 1000, 7));
    s.handle(&frame_of(0, 1020, 8));
    // Still decoding: nothing to draw, and a poll within MAX_WAIT_MS in case no wake comes.
    let t = s.stream_tick(990);
    assert_eq!((t.rendered, t.next_wake_ms), (0, Some(MAX_WAIT_MS)));
    log.lock().unwrap().hold = false;
    // Both decoded now; the first is due, the second waits.
    let t = s.stream_tick(1000);
    assert_eq!((t.rendered, t.next_wake_ms), (1, Some(20)));
    assert_eq!(s.surface(0).unwrap().pixel(0, 0).unwrap()[..3], [7; 3]);
    let t = s.stream_tick(1020);
    assert_eq!((t.rendered, t.next_wake_ms), (1, None));
    assert_eq!(s.surface(0).unwrap().pixel(0, 0).unwrap()[..3], [8; 3]);
    // A frame older than the last one flushes what waits (decoded, not shown).
    s.handle(&frame_of(0, 1100, 9));
    s.stream_tick(1050);
    s.handle(&frame_of(0, 1060, 10));
    assert_eq!(s.stream_stats().frames_overflow, 1);
    let t = s.stream_tick(1060);
    assert_eq!(t.rendered, 1);
    assert_eq!(s.surface(0).unwrap().pixel(0, 0).unwrap()[..3], [10; 3]);
    // A decoder that never answers: at most MAX_QUEUED_FRAMES in flight, the rest refused.
    log.lock().unwrap().hold = true;
    for i in 0..MAX_QUEUED_FRAMES as u32 + 5 {
        s.handle(&frame_of(0, 5000 + i, 1));
    }
    assert_eq!(s.stream_stats().frames_overflow, 1 + 5);
    assert_eq!(log.lock().unwrap().queued.len(), 4 + MAX_QUEUED_FRAMES);
}

#[test]
fn a_clock_jump_restarts_the_waits() {
    let (mut s, log, _) = with_fake();
    s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    s.handle(&data(0, 9000));
    // Seen at 1000, far ahead: it waits at most MAX_WAIT_MS from then.
    assert_eq!(s.stream_tick(1000).next_wake_ms, Some(MAX_WAIT_MS));
    assert_eq!(s.stream_tick(1600).next_wake_ms, Some(400));
    // The clock jumped to 1600 (say, from much later): the wait starts again.
    s.decoder_mut().reschedule(1600);
    assert_eq!(s.stream_tick(1600).next_wake_ms, Some(MAX_WAIT_MS));
    assert_eq!(s.stream_tick(2600).rendered, 1);
    // Decoders are told.
    s.handle(&create_codec(1, 0, dest_at(0, 0, 64, 48), video_codec::VP8));
    s.decoder_mut().reschedule(3000);
    assert_eq!(log.lock().unwrap().rescheduled, [3000]);
    // Backwards: a frame seen before the jump no longer counts as waited long.
    s.handle(&data(0, 700));
    assert_eq!(s.stream_tick(100).next_wake_ms, Some(600));
    s.decoder_mut().reschedule(50);
    assert_eq!(s.stream_tick(50).next_wake_ms, Some(650));
}

#[test]
fn queued_frames_count_against_the_session_budget() {
    let budget = crate::budget::MemoryBudget::new(1 << 20);
    let mut s = Pipeline::new(Limits::default()).with_budget(&budget);
    s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: W,
        height: H,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    }));
    s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    // Frames of 100 KiB queued faster than they are shown: the budget, not
    // the queue's own caps, bounds them.
    let frame = vec![0u8; 100 << 10];
    for i in 0..40u32 {
        s.handle(&DisplayServer::StreamData(StreamData {
            id: 0,
            multi_media_time: 100_000 + i,
            data: frame.clone(),
        }));
        assert!(budget.used() <= budget.limit());
    }
    let queued = s.decoder_mut().streams.get_mut(0).unwrap().queue.len();
    assert!((1..20).contains(&queued), "{queued} frames queued");
    assert!(s.stream_stats().frames_overflow >= 20);
    s.handle(&DisplayServer::StreamDestroy { id: 0 });
    assert_eq!(budget.used(), u64::from(W * H * 4), "the queue's bytes came back");
    drop(s);
    assert_eq!(budget.used(), 0);
}

#[test]
fn each_stream_has_its_own_figures_for_the_stats() {
    let mut s = state();
    s.handle(&create(3, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    s.handle(&create(5, stream_flags::TOP_DOWN, dest_at(100, 0, 64, 48)));
    let len = fixture("frame-64x48-q95.jpg").len() as u64;
    for t in [1000, 1010, 1020] {
        s.handle(&data(3, t));
    }
    s.handle(&data(5, 1100));
    // At 1100 the two older frames of stream 3 are late behind a newer one:
    // dropped; its newest is shown 80 ms behind its time; stream 5's on time.
    let t = s.stream_tick(1100);
    assert_eq!((t.rendered, t.dropped), (2, 2));
    let infos = s.stream_infos().to_vec();
    assert_eq!(infos.len(), 2);
    let a = infos[0];
    assert_eq!((a.id, a.codec, a.width, a.height), (3, video_codec::MJPEG, 64, 48));
    assert_eq!((a.frames_received, a.frames_shown, a.frames_dropped), (3, 1, 2));
    assert_eq!(a.bytes_received, 3 * len);
    assert_eq!(a.delay_total_ms, 80);
    let b = infos[1];
    assert_eq!(
        (b.id, b.frames_received, b.frames_shown, b.frames_dropped),
        (5, 1, 1, 0)
    );
    assert_eq!((b.bytes_received, b.delay_total_ms), (len, 0));
    // A frame for a stream that is gone counts nowhere; a destroyed stream leaves the list.
    s.handle(&DisplayServer::StreamDestroy { id: 3 });
    s.handle(&data(3, 1200));
    s.stream_tick(1200);
    assert_eq!(s.stream_infos().iter().map(|i| i.id).collect::<Vec<_>>(), [5]);
}

/// A factory that also decodes MJPEG (GStreamer's jpegdec, as an option):
/// its decoder records what it is given and gives back a flat frame.
struct MjpegFactory(Arc<Mutex<Vec<Vec<u8>>>>);

struct Recorder {
    given: Arc<Mutex<Vec<Vec<u8>>>>,
    done: VecDeque<DecodeResult>,
}

impl VideoDecoder for Recorder {
    fn queue(&mut self, f: EncodedFrame) {
        self.given.lock().unwrap().push(f.data);
        self.done.push_back(DecodeResult {
            seq: f.seq,
            frame: Ok(DecodedFrame {
                width: 64,
                height: 48,
                pixels: vec![0x5a; 64 * 48 * 4].into(),
                red_first: false,
            }),
        });
    }

    fn poll(&mut self) -> Option<DecodeResult> {
        self.done.pop_front()
    }

    fn reschedule(&mut self, _now_mm: u32) {}

    fn destroy(&mut self) {}
}

impl VideoDecoderFactory for MjpegFactory {
    fn codecs(&self) -> Vec<u8> {
        vec![video_codec::MJPEG]
    }

    fn create(&self, stream: &VideoStreamInfo, _wake: VideoWake) -> Option<Box<dyn VideoDecoder>> {
        assert_eq!(stream.codec, video_codec::MJPEG);
        Some(Box::new(Recorder {
            given: Arc::clone(&self.0),
            done: VecDeque::new(),
        }))
    }
}

#[test]
fn a_factory_that_names_mjpeg_decodes_every_frame_with_the_tables_restored() {
    let given = Arc::new(Mutex::new(Vec::new()));
    let mut s = with_factory(
        Arc::new(MjpegFactory(Arc::clone(&given))),
        Arc::new(|| {}),
        &[video_codec::MJPEG],
    );
    let full = fixture("frame-64x48-q95.jpg");
    let short = without_huffman_tables(&full);
    s.handle(&create(0, stream_flags::TOP_DOWN, dest_at(0, 0, 64, 48)));
    for (mm, data) in [(10, &full), (20, &short), (30, &short)] {
        s.handle(&DisplayServer::StreamData(StreamData {
            id: 0,
            multi_media_time: mm,
            data: data.clone(),
        }));
    }
    // Every frame went to the factory's decoder as it came (none waits
    // encoded), the abbreviated ones with the first frame's tables.
    {
        let given = given.lock().unwrap();
        assert_eq!(given.len(), 3);
        assert!(given.iter().all(|d| *d == full), "tables restored before the decoder");
    }
    // Late ones are decoded and not shown; the newest is.
    assert_eq!(s.stream_tick(30).rendered, 1);
    assert_eq!(pixels(&s, &dest_at(0, 0, 64, 48))[..4], [0x5a; 4]);
}

/// Frame memory a fake backend lends: rows `stride` apart with junk in the
/// padding; counts the frames alive.
struct Lent {
    bytes: Vec<u8>,
    alive: Arc<std::sync::atomic::AtomicUsize>,
}

impl FrameMemory for Lent {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A decoder giving back 64x48 frames as lent memory, rows 300 bytes apart:
/// row `y` of the frame whose first byte is `v` is all `v + y`; a frame whose
/// first byte is 0 lacks its last row.
struct Lender {
    alive: Arc<std::sync::atomic::AtomicUsize>,
    done: VecDeque<DecodeResult>,
}

const LENT_STRIDE: usize = 300;

impl VideoDecoder for Lender {
    fn queue(&mut self, f: EncodedFrame) {
        let v = f.data.first().copied().unwrap_or(0);
        let mut bytes = vec![0xee; LENT_STRIDE * 48];
        for (y, row) in bytes.chunks_mut(LENT_STRIDE).enumerate() {
            row[..64 * 4].fill(v.wrapping_add(y as u8));
        }
        if v == 0 {
            bytes.truncate(LENT_STRIDE * 47);
        }
        self.alive.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let memory = Box::new(Lent {
            bytes,
            alive: Arc::clone(&self.alive),
        });
        self.done.push_back(DecodeResult {
            seq: f.seq,
            frame: Ok(DecodedFrame {
                width: 64,
                height: 48,
                pixels: Pixels::Mapped {
                    memory,
                    stride: LENT_STRIDE,
                },
                red_first: false,
            }),
        });
    }

    fn poll(&mut self) -> Option<DecodeResult> {
        self.done.pop_front()
    }
}

struct LenderFactory(Arc<std::sync::atomic::AtomicUsize>);

impl VideoDecoderFactory for LenderFactory {
    fn codecs(&self) -> Vec<u8> {
        vec![video_codec::VP8]
    }

    fn create(&self, _stream: &VideoStreamInfo, _wake: VideoWake) -> Option<Box<dyn VideoDecoder>> {
        Some(Box::new(Lender {
            alive: Arc::clone(&self.0),
            done: VecDeque::new(),
        }))
    }
}

#[test]
fn lent_frames_are_drawn_with_their_stride_and_released_once_drawn() {
    let alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut s = with_factory(
        Arc::new(LenderFactory(Arc::clone(&alive))),
        Arc::new(|| {}),
        &[video_codec::MJPEG, video_codec::VP8],
    );
    let dest = dest_at(0, 0, 64, 48);
    s.handle(&create_codec(0, stream_flags::TOP_DOWN, dest, video_codec::VP8));
    s.handle(&frame_of(0, 10, 7));
    assert_eq!(s.stream_tick(10).rendered, 1);
    let px = pixels(&s, &dest);
    for (y, row) in px.chunks(64 * 4).enumerate() {
        assert!(
            row.iter().all(|&b| b == 7 + y as u8),
            "row {y} read {} bytes apart",
            LENT_STRIDE
        );
    }
    assert_eq!(alive.load(std::sync::atomic::Ordering::SeqCst), 0, "drawn and released");
    // Memory short of stride × height is not drawn (and released too).
    let failed = s.stream_stats().frames_failed;
    s.handle(&frame_of(0, 20, 0));
    assert_eq!(s.stream_tick(20).rendered, 0);
    assert_eq!(s.stream_stats().frames_failed, failed + 1);
    assert_eq!(pixels(&s, &dest), px, "nothing drawn");
    assert_eq!(alive.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Frames still waiting are released with their stream.
    s.handle(&frame_of(0, 1000, 9));
    s.stream_tick(30);
    assert_eq!(
        alive.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "waiting for its time"
    );
    s.handle(&DisplayServer::StreamDestroy { id: 0 });
    assert_eq!(alive.load(std::sync::atomic::Ordering::SeqCst), 0);
}
