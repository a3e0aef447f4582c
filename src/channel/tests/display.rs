//! The display machine from byte vectors: GLZ images that wait for another
//! display channel's image, INVAL_ALL_PIXMAPS that waits for other channels.

use super::*;
use crate::channel::Output;
use crate::codec::glz::GlzWindow;
use crate::codec::glz::encode::GlzEncoder;
use crate::codec::lz::LzType;
use crate::display::{Limits, SharedImageCache};
use crate::proto::base::WaitForChannel;
use crate::proto::channel::display::{
    Clip, CopyOp, DisplayBase, Image, ImageDescriptor, ImageKind, QMask, SurfaceCreate, image_type, ropd,
    surface_flags, surface_fmt,
};

const W: u32 = 8;
const H: u32 = 8;

fn ctx() -> Ctx {
    Ctx::new(Instant::now(), 0)
}

fn settings(glz_may_wait: bool) -> DisplaySettings {
    DisplaySettings {
        image_cache_bytes: 1 << 20,
        glz_window_bytes: 1 << 20,
        preferred_compression: None,
        glz_may_wait,
    }
}

fn machine(id: u8, window: &Arc<GlzWindow>, cache: &SharedImageCache, may_wait: bool) -> DisplayMachine {
    let limits = Limits::default();
    let state = DisplayState::with_cache(limits, cache.clone());
    let decoder = DisplayDecoder::new(limits, cache.clone(), Arc::clone(window));
    let mut m = DisplayMachine::new(id, Arc::new(Mutex::new(state)), decoder, settings(may_wait));
    let create = DisplayServer::SurfaceCreate(SurfaceCreate {
        surface_id: 0,
        width: W,
        height: H,
        format: surface_fmt::XRGB32,
        flags: surface_flags::PRIMARY,
    });
    assert_eq!(feed(&mut m, &create).0, Handled::Done);
    m
}

fn feed(m: &mut DisplayMachine, msg: &DisplayServer) -> (Handled, Outputs) {
    let mut out = Outputs::new();
    let h = m.message(msg.msg_type(), &msg.to_body(), &ctx(), &mut out).unwrap();
    (h, out)
}

fn draw_glz(id: u64, data: Vec<u8>) -> DisplayServer {
    let r = Rect::ltrb(0, 0, W as i32, H as i32);
    DisplayServer::DrawCopy {
        base: DisplayBase {
            surface_id: 0,
            bbox: r,
            clip: Clip::None,
        },
        copy: CopyOp {
            src_bitmap: Some(Image {
                descriptor: ImageDescriptor {
                    id,
                    image_type: image_type::GLZ_RGB,
                    flags: 0,
                    width: W,
                    height: H,
                },
                kind: ImageKind::Binary(data),
            }),
            src_area: r,
            rop_descriptor: ropd::OP_PUT,
            scale_mode: 0,
            mask: QMask::default(),
        },
    }
}

fn events(out: &Outputs) -> Vec<&DisplayEvent> {
    out.items()
        .iter()
        .filter_map(|o| match o {
            Output::Event(SessionEvent::Display { event, .. }) => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn a_glz_image_waits_for_another_channels_image_without_holding_the_state() {
    let window = Arc::new(GlzWindow::new(1 << 20));
    let cache = SharedImageCache::new(1 << 20);
    let mut a = machine(0, &window, &cache, true);
    let mut b = machine(1, &window, &cache, true);
    let pixels: Vec<u8> = (0..W * H * 4).map(|i| (i % 251) as u8).collect();
    let mut enc = GlzEncoder::new(1 << 16);
    let data0 = enc.encode(LzType::Rgb32, W, H, true, &pixels).unwrap();
    let data1 = enc.encode(LzType::Rgb32, W, H, true, &pixels).unwrap();

    // A gets image 1 (a copy of image 0) first: it must wait for image 0.
    let (h, out) = feed(&mut a, &draw_glz(101, data1));
    assert_eq!(h, Handled::Wait(Wait::GlzImage { id: 0 }));
    assert!(out.is_empty());
    assert!(a.state.try_lock().is_ok(), "the state is free while A waits");
    // Woken too early (another arrival): still waiting.
    let mut out = Outputs::new();
    assert_eq!(
        a.resume(WaitEnd::Ready, &ctx(), &mut out).unwrap(),
        Handled::Wait(Wait::GlzImage { id: 0 })
    );
    // B draws image 0; A goes on and draws image 1.
    let (h, _) = feed(&mut b, &draw_glz(100, data0));
    assert_eq!(h, Handled::Done);
    assert_eq!(a.resume(WaitEnd::Ready, &ctx(), &mut out).unwrap(), Handled::Done);
    a.after_batch(&ctx(), &mut out).unwrap();
    assert!(matches!(events(&out)[..], [DisplayEvent::Damage { .. }]), "{out:?}");
    assert_eq!(a.state.lock().unwrap().stats().draws_applied, 1);

    // An image that references one nobody sends: after the wait, dropped as missing.
    let mut enc2 = GlzEncoder::new(1 << 16);
    let mut orphan = Vec::new();
    for _ in 0..5 {
        // Ids 0..=4: only id 4 is sent; it references an image the window never saw.
        orphan = enc2.encode(LzType::Rgb32, W, H, true, &pixels).unwrap();
    }
    let (h, _) = feed(&mut a, &draw_glz(102, orphan.clone()));
    assert!(matches!(h, Handled::Wait(Wait::GlzImage { .. })), "{h:?}");
    let mut out = Outputs::new();
    assert_eq!(a.resume(WaitEnd::TimedOut, &ctx(), &mut out).unwrap(), Handled::Done);
    assert!(
        events(&out)
            .iter()
            .any(|e| matches!(e, DisplayEvent::Error(err) if err.kind() == "glz_missing")),
        "{out:?}"
    );
    // With one display channel nothing waits: a missing reference is an error at once.
    let mut single = machine(
        2,
        &Arc::new(GlzWindow::new(1 << 20)),
        &SharedImageCache::new(1 << 20),
        false,
    );
    let (h, out) = feed(&mut single, &draw_glz(103, orphan));
    assert_eq!(h, Handled::Done);
    assert!(events(&out).iter().any(|e| matches!(e, DisplayEvent::Error(_))));
}

#[test]
fn inval_all_pixmaps_waits_for_the_listed_channels_first() {
    let window = Arc::new(GlzWindow::new(1 << 20));
    let cache = SharedImageCache::new(1 << 20);
    let mut a = machine(0, &window, &cache, true);
    let list = vec![WaitForChannel {
        channel_type: 2,
        channel_id: 1,
        message_serial: 9,
    }];
    let (h, _) = feed(&mut a, &DisplayServer::InvalAllPixmaps(list.clone()));
    assert_eq!(h, Handled::Wait(Wait::Serials(list)));
    let mut out = Outputs::new();
    assert_eq!(a.resume(WaitEnd::TimedOut, &ctx(), &mut out).unwrap(), Handled::Done);
    // An empty list does not wait.
    let (h, _) = feed(&mut a, &DisplayServer::InvalAllPixmaps(Vec::new()));
    assert_eq!(h, Handled::Done);
    assert_eq!(
        a.resume(WaitEnd::Ready, &ctx(), &mut out),
        Err(ChannelError::NothingToResume)
    );
}

#[test]
fn display_init_announces_the_caches_in_pixels() {
    let window = Arc::new(GlzWindow::new(1 << 20));
    let mut m = machine(0, &window, &SharedImageCache::new(1 << 20), true);
    let link = Linked {
        server_caps: crate::proto::caps::Caps::new(&[], &[caps::STREAM_REPORT]),
        client_caps: crate::proto::caps::Caps::new(&[], &m.caps()),
        header: crate::proto::frame::HeaderKind::Mini,
    };
    let mut out = Outputs::new();
    m.linked(&link, &ctx(), &mut out).unwrap();
    let [Output::Send { msg_type, body }] = out.items() else {
        panic!("{out:?}");
    };
    assert_eq!(
        DisplayClient::decode(*msg_type, body).unwrap(),
        DisplayClient::Init(DisplayInit {
            pixmap_cache_id: 1,
            pixmap_cache_size: (1 << 20) / 4,
            glz_dictionary_id: 1,
            glz_dictionary_window_size: (1 << 20) / 4,
        })
    );
    assert!(m.reports);
}

#[test]
fn the_codecs_advertised_are_those_a_decoder_exists_for() {
    use crate::display::{VideoDecoder, VideoDecoderFactory, VideoStreamInfo, VideoWake};
    struct Vp9;
    impl VideoDecoderFactory for Vp9 {
        fn codecs(&self) -> Vec<u8> {
            vec![crate::proto::channel::display::video_codec::VP9]
        }
        fn create(&self, _: &VideoStreamInfo, _: VideoWake) -> Option<Box<dyn VideoDecoder>> {
            None
        }
    }
    let window = Arc::new(GlzWindow::new(1 << 20));
    let m = machine(0, &window, &SharedImageCache::new(1 << 20), true);
    let c = m.caps();
    assert!(c.contains(&caps::MULTI_CODEC) && c.contains(&caps::CODEC_MJPEG));
    for codec in [caps::CODEC_VP8, caps::CODEC_VP9, caps::CODEC_H264, caps::CODEC_H265] {
        assert!(!c.contains(&codec), "{codec}");
    }
    let cache = SharedImageCache::new(1 << 20);
    let limits = Limits::default();
    let decoder = DisplayDecoder::new(limits, cache.clone(), window).with_video(Some(Arc::new(Vp9)), Arc::new(|| {}));
    let state = Arc::new(Mutex::new(DisplayState::with_cache(limits, cache)));
    let m = DisplayMachine::new(1, state, decoder, settings(true));
    let c = m.caps();
    assert!(c.contains(&caps::CODEC_MJPEG) && c.contains(&caps::CODEC_VP9));
    assert!(!c.contains(&caps::CODEC_VP8) && !c.contains(&caps::CODEC_H264));
}

/// A video frame that became due before a draw covering it arrived is drawn
/// first: the draw (here the lossless fill a server sends when a stream
/// ends) is what stays on screen.
#[test]
fn a_due_frame_is_drawn_before_a_later_draw_over_it() {
    use crate::proto::channel::display::{Brush, FillOp, StreamCreate, StreamData, stream_flags, video_codec};
    let jpeg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jpeg/frame-64x48-q95.jpg"
    ))
    .unwrap();
    let window = Arc::new(GlzWindow::new(1 << 20));
    let cache = SharedImageCache::new(1 << 20);
    let limits = Limits::default();
    let state = Arc::new(Mutex::new(DisplayState::with_cache(limits, cache.clone())));
    let decoder = DisplayDecoder::new(limits, cache, window);
    let mut m = DisplayMachine::new(0, Arc::clone(&state), decoder, settings(false));
    let start = Instant::now();
    let at = |m: &mut DisplayMachine, msg: DisplayServer, mm: u32| {
        let mut out = Outputs::new();
        let ctx = Ctx::new(start + Duration::from_millis(u64::from(mm)), mm);
        m.message(msg.msg_type(), &msg.to_body(), &ctx, &mut out).unwrap();
        out
    };
    at(
        &mut m,
        DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id: 0,
            width: 128,
            height: 96,
            format: surface_fmt::XRGB32,
            flags: surface_flags::PRIMARY,
        }),
        0,
    );
    let area = Rect::ltrb(0, 0, 64, 48);
    at(
        &mut m,
        DisplayServer::StreamCreate(StreamCreate {
            surface_id: 0,
            id: 1,
            flags: stream_flags::TOP_DOWN,
            codec_type: video_codec::MJPEG,
            stamp: 0,
            stream_width: 64,
            stream_height: 48,
            src_width: 64,
            src_height: 48,
            dest: area,
            clip: Clip::None,
        }),
        0,
    );
    // Due at 100: not yet at 0.
    at(
        &mut m,
        DisplayServer::StreamData(StreamData {
            id: 1,
            multi_media_time: 100,
            data: jpeg,
        }),
        0,
    );
    assert_eq!(state.lock().unwrap().stream_stats().frames_rendered, 0);
    // At 110 (due, within the late tolerance) the server's lossless fill of the area arrives.
    let fill = DisplayServer::DrawFill {
        base: DisplayBase {
            surface_id: 0,
            bbox: area,
            clip: Clip::None,
        },
        fill: FillOp {
            brush: Brush::Solid(0x0012_3456),
            rop_descriptor: ropd::OP_PUT,
            mask: QMask::default(),
        },
    };
    at(&mut m, fill, 110);
    let st = state.lock().unwrap();
    assert_eq!(st.stream_stats().frames_rendered, 1, "the due frame was shown");
    let px = st.surface(0).unwrap().pixel(10, 10).unwrap();
    assert_eq!(&px[..3], &[0x56, 0x34, 0x12], "the fill, drawn after the frame, stays");
}
