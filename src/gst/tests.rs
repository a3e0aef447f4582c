//! The GStreamer decoders on real encoded frames: GStreamer's own encoders
//! (vp8enc, vp9enc, x264enc, x265enc, jpegenc; each test skips a codec whose
//! encoder is missing, and fails under `CI`) encode a test pattern, Sumac's
//! decoder decodes it, and every frame is compared with its source (PSNR).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::*;
use crate::display::{DecodeResult, EncodedFrame, VideoDecoder, VideoStreamInfo};

const W: u32 = 320;
const H: u32 = 240;
const FRAMES: usize = 30;

/// The encoder branch for `codec`: elements after `videoconvert`, ending in
/// the caps spice-server sends.
fn encoder(codec: u8) -> (&'static str, &'static str) {
    match codec {
        video_codec::VP8 => (
            "vp8enc",
            "vp8enc deadline=1 keyframe-max-dist=10 target-bitrate=3000000",
        ),
        video_codec::VP9 => (
            "vp9enc",
            "vp9enc deadline=1 cpu-used=8 keyframe-max-dist=10 target-bitrate=3000000",
        ),
        video_codec::H264 => (
            "x264enc",
            "x264enc speed-preset=ultrafast tune=zerolatency bitrate=3000 key-int-max=10 ! \
             video/x-h264,stream-format=byte-stream,alignment=au",
        ),
        video_codec::H265 => (
            "x265enc",
            "x265enc speed-preset=ultrafast tune=zerolatency bitrate=3000 key-int-max=10 ! h265parse ! \
             video/x-h265,stream-format=byte-stream,alignment=au",
        ),
        // From RGB, as spice-server encodes (JPEG's full-range YUV differs from the source's).
        _ => ("jpegenc", "video/x-raw,format=BGRx ! jpegenc quality=90"),
    }
}

/// A moving test pattern: the BGRA source frames and their encoding.
struct Clip {
    raw: Vec<Vec<u8>>,
    encoded: Vec<Vec<u8>>,
}

fn pull_all(sink: &gst_app::AppSink) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        let b = s.buffer().unwrap();
        out.push(b.map_readable().unwrap().as_slice().to_vec());
    }
    out
}

/// Encodes [`FRAMES`] frames with `codec`'s encoder; `None` when the encoder
/// is missing (then the test skips the codec, or fails under `CI`).
fn clip(codec: u8) -> Option<Clip> {
    init().unwrap();
    let (element, branch) = encoder(codec);
    if gst::ElementFactory::find(element).is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "GStreamer element {element} missing (scripts/setup installs it)"
        );
        eprintln!("skipping {}: no {element}", codec_name(codec));
        return None;
    }
    let desc = format!(
        "videotestsrc pattern=ball num-buffers={FRAMES} ! \
         video/x-raw,format=I420,width={W},height={H},framerate=25/1 ! tee name=t \
         t. ! queue ! videoconvert ! video/x-raw,format=BGRA ! appsink name=raw sync=false \
         t. ! queue ! videoconvert ! {branch} ! appsink name=enc sync=false"
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = |n: &str| pipeline.by_name(n).unwrap().downcast::<gst_app::AppSink>().unwrap();
    let (raw_sink, enc_sink) = (sink("raw"), sink("enc"));
    pipeline.set_state(gst::State::Playing).unwrap();
    let raw = pull_all(&raw_sink);
    let encoded = pull_all(&enc_sink);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(raw.len(), FRAMES);
    assert_eq!(encoded.len(), FRAMES, "{element} gave one buffer per frame");
    Some(Clip { raw, encoded })
}

/// PSNR of the B, G, R bytes of two same-sized BGRA frames.
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut sum, mut n) = (0f64, 0u64);
    for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for c in 0..3 {
            let d = f64::from(pa[c]) - f64::from(pb[c]);
            sum += d * d;
            n += 1;
        }
    }
    let mse = sum / n as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn stream(codec: u8) -> VideoStreamInfo {
    VideoStreamInfo {
        id: 3,
        codec,
        width: W,
        height: H,
    }
}

fn frame(seq: u64, data: &[u8]) -> EncodedFrame {
    EncodedFrame {
        seq,
        mm_time: 1000 + u32::try_from(seq).unwrap() * 40,
        width: W,
        height: H,
        data: data.to_vec(),
    }
}

/// Polls until `want` results came back (or 20 s passed).
fn collect(d: &mut dyn VideoDecoder, want: usize) -> Vec<DecodeResult> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        match d.poll() {
            Some(r) => out.push(r),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    out
}

/// Every frame back once, in order, decoded close to its source.
fn check_all(codec: u8, clip: &Clip, results: &[DecodeResult], first_seq: u64) {
    let name = codec_name(codec);
    assert_eq!(results.len(), FRAMES, "{name}: frames given back");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.seq, first_seq + i as u64, "{name}: frame order");
        let f = r
            .frame
            .as_ref()
            .unwrap_or_else(|e| panic!("{name}: frame {i} failed: {e}"));
        assert_eq!((f.width, f.height), (W, H), "{name}: frame size");
        let p = psnr(&f.to_packed(), &clip.raw[i]);
        assert!(p >= 30.0, "{name}: frame {i} PSNR {p:.1} dB < 30");
        assert!(
            f.to_packed().chunks_exact(4).all(|px| px[3] == 0xff),
            "{name}: opaque pixels"
        );
    }
}

#[test]
fn the_registry_finds_software_decoders_for_every_codec() {
    let v = GstVideo::new(true).unwrap();
    let codecs = v.codecs();
    for c in CODECS.into_iter().chain([video_codec::MJPEG]) {
        let list = v.candidates(c);
        eprintln!("{}: {:?}", codec_name(c), list);
        if std::env::var_os("CI").is_some() {
            assert!(codecs.contains(&c), "no decoder for {}", codec_name(c));
        }
        // Whatever is listed can be built; hardware ones come first.
        let first_sw = list.iter().position(|c| !c.hardware).unwrap_or(list.len());
        assert!(list[first_sw..].iter().all(|c| !c.hardware));
    }
    // Without the option, MJPEG stays Sumac's own.
    assert!(!GstVideo::new(false).unwrap().codecs().contains(&video_codec::MJPEG));
}

#[test]
fn every_codec_decodes_real_frames_close_to_the_source() {
    let v = GstVideo::new(true).unwrap();
    for codec in CODECS.into_iter().chain([video_codec::MJPEG]) {
        let Some(clip) = clip(codec) else { continue };
        let mut d = v.create(&stream(codec), Arc::new(|| {})).expect("a decoder");
        let status = v.decoders();
        assert_eq!(status.len(), 1, "{status:?}");
        assert_eq!(status[0].codec, codec_name(codec));
        assert!(!status[0].decoder.is_empty());
        for (i, data) in clip.encoded.iter().enumerate() {
            d.queue(frame(100 + i as u64, data));
        }
        let results = collect(d.as_mut(), FRAMES);
        check_all(codec, &clip, &results, 100);
        eprintln!("{}: {FRAMES} frames via {}", codec_name(codec), status[0].decoder);
        d.destroy();
        drop(d);
        assert!(v.decoders().is_empty(), "the status goes with the decoder");
    }
}

#[test]
fn a_decoder_failing_mid_stream_falls_back_and_loses_no_frame() {
    init().unwrap();
    for (codec, software) in [(video_codec::VP8, "vp8dec"), (video_codec::H264, "avdec_h264")] {
        if gst::ElementFactory::find(software).is_none() {
            continue;
        }
        let Some(clip) = clip(codec) else { continue };
        // The "hardware" decoder errors out on its 13th buffer (after a key frame, mid-GOP).
        let failing = Candidate {
            description: format!("identity error-after=13 ! {software}"),
            hardware: true,
        };
        let v = GstVideo::with_candidates([(codec, vec![failing, Candidate::software(software)])]);
        let mut d = v.create(&stream(codec), Arc::new(|| {})).unwrap();
        assert!(v.decoders()[0].hardware);
        // Frames arrive while the failure is noticed and handled.
        let mut results = Vec::new();
        for (i, data) in clip.encoded.iter().enumerate() {
            d.queue(frame(i as u64, data));
            std::thread::sleep(Duration::from_millis(10));
            while let Some(r) = d.poll() {
                results.push(r);
            }
        }
        results.extend(collect(d.as_mut(), FRAMES - results.len()));
        check_all(codec, &clip, &results, 0);
        let s = &v.decoders()[0];
        assert_eq!(
            (s.decoder.as_str(), s.hardware, s.fallbacks),
            (software, false, 1),
            "{s}"
        );
    }
}

#[test]
fn garbage_is_survived_and_the_next_key_frame_decodes() {
    let v = GstVideo::new(false).unwrap();
    for codec in CODECS {
        junk_then_clip(&v, codec);
    }
}

/// The junk's error is noticed only after the real frames are all queued
/// (each buffer takes 20 ms in the pipeline, queueing takes far less): the
/// queued key frame starts over, the real frames are not lost with the junk.
#[test]
fn an_error_noticed_late_does_not_lose_the_queued_key_frame() {
    init().unwrap();
    for (codec, software) in [(video_codec::H264, "avdec_h264"), (video_codec::VP8, "vp8dec")] {
        if gst::ElementFactory::find(software).is_none() {
            continue;
        }
        let slow = Candidate {
            description: format!("identity sleep-time=20000 ! {software}"),
            hardware: false,
        };
        let v = GstVideo::with_candidates([(codec, vec![slow])]);
        junk_then_clip(&v, codec);
    }
}

/// Queues 20 junk frames then a real clip at once; the real frames must come
/// back decoded from one of its key frames on, every one after it good.
fn junk_then_clip(v: &GstVideo, codec: u8) {
    {
        let Some(clip) = clip(codec) else { return };
        let mut d = v.create(&stream(codec), Arc::new(|| {})).unwrap();
        // Deterministic junk, including start codes and key-frame-looking bytes.
        let mut x = 0x1234_5678u32;
        for i in 0..20u64 {
            let len = 16 + (i as usize * 997) % 5000;
            let junk: Vec<u8> = (0..len)
                .map(|j| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if j % 64 < 3 { [0, 0, 1][j % 64] } else { x as u8 }
                })
                .collect();
            d.queue(frame(i, &junk));
        }
        for (i, data) in clip.encoded.iter().enumerate() {
            d.queue(frame(1000 + i as u64, data));
        }
        // Whatever the junk gave (failures, nothing, or damaged pictures), the
        // real frames come back decoded from a key frame on (the decoder may
        // need a later one than the first: avdec_h264 after this junk
        // resumes at the third), up to the last one.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut good = 0;
        let mut last = None;
        let mut log = Vec::new();
        while Instant::now() < deadline && last != Some(1000 + FRAMES as u64 - 1) {
            let Some(r) = d.poll() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            last = Some(r.seq);
            log.push(match &r.frame {
                Ok(f) if r.seq >= 1000 && (f.width, f.height) == (W, H) => {
                    format!(
                        "{}:{:.0}",
                        r.seq,
                        psnr(&f.to_packed(), &clip.raw[(r.seq - 1000) as usize])
                    )
                }
                Ok(f) => format!("{}:{}x{}", r.seq, f.width, f.height),
                Err(e) => format!("{}:{e}", r.seq),
            });
            if r.seq >= 1000
                && let Ok(f) = &r.frame
                && (f.width, f.height) == (W, H)
                && psnr(&f.to_packed(), &clip.raw[(r.seq - 1000) as usize]) >= 30.0
            {
                good += 1;
            }
        }
        let first_good = log.iter().position(|l| {
            l.split(':')
                .nth(1)
                .and_then(|p| p.parse::<f64>().ok())
                .is_some_and(|p| p >= 30.0)
        });
        let tail_good = first_good.is_some_and(|i| log.len() - i == good);
        assert!(
            good >= 10 && tail_good && last == Some(1000 + FRAMES as u64 - 1),
            "{}: {good} good frames after junk, last {last:?}, first good at {first_good:?}: {log:?}",
            codec_name(codec)
        );
    }
}

/// Hostile streams through the whole display path with the real decoders:
/// a huge declared size, garbage in every codec, frames for destroyed streams.
#[test]
fn hostile_streams_are_counted_and_dropped() {
    use crate::display::{DisplayDecoder, DisplayState, Limits, Pipeline};
    use crate::proto::channel::display::{
        Clip, DisplayServer, Rect, StreamCreate, StreamData, SurfaceCreate, surface_flags, surface_fmt,
    };

    let v = Arc::new(GstVideo::new(false).unwrap());
    let limits = Limits::default();
    let decoder = DisplayDecoder::standalone(limits).with_video(Some(Arc::clone(&v) as _), Arc::new(|| {}));
    let cache = decoder.image_cache().clone();
    let mut s = Pipeline::from_parts(DisplayState::with_cache(limits, cache), decoder);
    s.handle(&DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: W,
        height: H,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    }));
    let create = |id: u32, codec: u8, w: u32, h: u32| {
        DisplayServer::StreamCreate(StreamCreate {
            surface_id: 0,
            id,
            flags: 0,
            codec_type: codec,
            stamp: 0,
            stream_width: w,
            stream_height: h,
            src_width: w,
            src_height: h,
            dest: Rect::ltrb(0, 0, W as i32, H as i32),
            clip: Clip::None,
        })
    };
    let codecs: Vec<u8> = CODECS.into_iter().filter(|c| v.codecs().contains(c)).collect();
    // A huge declared size: refused before any decoder is made.
    for (i, &c) in codecs.iter().enumerate() {
        s.handle(&create(i as u32, c, 1 << 20, 1 << 20));
    }
    assert_eq!(s.stream_stats().refused, codecs.len() as u64);
    assert!(v.decoders().is_empty(), "no decoder for a refused stream");
    // Garbage in every codec.
    let mut x = 0x9e37_79b9u32;
    let mut junk = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    };
    for (i, &c) in codecs.iter().enumerate() {
        s.handle(&create(i as u32, c, W, H));
    }
    assert_eq!(v.decoders().len(), codecs.len());
    let frames = 40u32;
    for f in 0..frames {
        for i in 0..codecs.len() {
            let data = junk(64 + (f as usize * 131) % 3000);
            s.handle(&DisplayServer::StreamData(StreamData {
                id: i as u32,
                multi_media_time: 1000 + f * 40,
                data,
            }));
        }
        s.stream_tick(1000 + f * 40);
    }
    // Let the decoders answer, ticking on.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut now = 1000 + frames * 40;
    while Instant::now() < deadline {
        s.stream_tick(now);
        now += 40;
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = *s.stream_stats();
    eprintln!("after garbage: {st:?}, errors {:?}", s.stats().errors);
    assert_eq!(st.frames_received, u64::from(frames) * codecs.len() as u64);
    assert!(st.frames_rendered + st.frames_late + st.frames_overflow + st.frames_failed <= st.frames_received);
    // Destroyed: decoders stopped; their frames are unknown-id messages.
    for i in 0..codecs.len() {
        s.handle(&DisplayServer::StreamDestroy { id: i as u32 });
    }
    assert!(v.decoders().is_empty(), "decoders go with their streams");
    for i in 0..codecs.len() {
        s.handle(&DisplayServer::StreamData(StreamData {
            id: i as u32,
            multi_media_time: now,
            data: junk(100),
        }));
    }
    assert_eq!(s.stream_stats().unknown_id, codecs.len() as u64);
    assert_eq!(s.stream_stats().destroyed, codecs.len() as u64);
}
