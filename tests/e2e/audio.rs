//! The playback and record channels end to end against the test server: tones both ways (Opus
//! and raw), hostile playback (DATA before START, unknown MODE, VOLUME with a count larger than
//! its body, a 100 MB DATA, Opus garbage) bounded and counted, the microphone only while asked
//! and allowed, `--spice-disable-audio`, and video scheduled on the audio-corrected clock.

use crate::tone;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sumac::channel::audio::{AudioBackend, AudioSink, AudioSource, PcmFormat};
use sumac::client::audio::{AudioDirection, AudioEvent};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::proto::ChannelType;
use sumac::proto::channel::playback::{PlaybackServer, PlaybackStart, format, mode};
use sumac::proto::channel::record::{RecordClient, RecordServer, RecordStart};
use sumac_test_server::audio::{AudioConfig, tone_messages};
use sumac_test_server::{ServerConfig, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(30);

/// What the test back-end's sink got.
#[derive(Default)]
struct Played {
    formats: Vec<PcmFormat>,
    samples: Vec<i16>,
    volume: Vec<u16>,
    mute: bool,
}

/// A back-end with a sink that keeps everything (reporting a fixed delay) and a source that
/// "captures" a 1 kHz sine in real time.
#[derive(Clone, Default)]
struct TestBackend {
    played: Arc<Mutex<Played>>,
    delay_ms: Option<u32>,
    mic_opened: Arc<Mutex<u32>>,
}

struct Sink(TestBackend);

impl AudioSink for Sink {
    fn start(&mut self, format: PcmFormat) {
        self.0.played.lock().unwrap().formats.push(format);
    }
    fn play(&mut self, samples: &[i16]) {
        self.0.played.lock().unwrap().samples.extend_from_slice(samples);
    }
    fn stop(&mut self) {}
    fn set_volume(&mut self, v: &[u16]) {
        self.0.played.lock().unwrap().volume = v.to_vec();
    }
    fn set_mute(&mut self, m: bool) {
        self.0.played.lock().unwrap().mute = m;
    }
    fn delay_ms(&self) -> Option<u32> {
        self.0.delay_ms
    }
}

struct Mic {
    opened: Arc<Mutex<u32>>,
    started: Option<(Instant, PcmFormat)>,
    produced: u64,
}

impl AudioSource for Mic {
    fn start(&mut self, format: PcmFormat) -> bool {
        *self.opened.lock().unwrap() += 1;
        self.started = Some((Instant::now(), format));
        self.produced = 0;
        true
    }
    fn read(&mut self, max: usize, out: &mut Vec<i16>) {
        let Some((t0, f)) = self.started else { return };
        let due = (t0.elapsed().as_secs_f64() * f64::from(f.rate)) as u64;
        let frames = (due.saturating_sub(self.produced) as usize).min(max / usize::from(f.channels));
        for _ in 0..frames {
            let v = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * self.produced as f64 / f64::from(f.rate)).sin())
                as i16;
            for _ in 0..f.channels {
                out.push(v);
            }
            self.produced += 1;
        }
    }
    fn stop(&mut self) {
        self.started = None;
    }
}

impl AudioBackend for TestBackend {
    fn open_sink(&self) -> Option<Box<dyn AudioSink>> {
        Some(Box::new(Sink(self.clone())))
    }
    fn open_source(&self) -> Option<Box<dyn AudioSource>> {
        Some(Box::new(Mic {
            opened: Arc::clone(&self.mic_opened),
            started: None,
            produced: 0,
        }))
    }
}

fn server(audio: AudioConfig) -> TestServer {
    TestServer::start(ServerConfig {
        channels: vec![
            (ChannelType::DISPLAY, 0),
            (ChannelType::PLAYBACK, 0),
            (ChannelType::RECORD, 0),
        ],
        audio,
        ..ServerConfig::default()
    })
    .unwrap()
}

fn connect(
    server: &TestServer,
    backend: &TestBackend,
    tweak: impl FnOnce(&mut SessionOptions),
) -> (SessionHandle, UnboundedReceiver<SessionEvent>) {
    let mut opts = SessionOptions::default();
    opts.media.audio = Some(Arc::new(backend.clone()));
    tweak(&mut opts);
    sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), opts).unwrap()
}

fn wait(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Events received so far (non-blocking).
fn drain(rx: &mut UnboundedReceiver<SessionEvent>) -> Vec<SessionEvent> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn play_tone(opus_server: bool, opus_client: bool) {
    let s = server(AudioConfig {
        opus: opus_server,
        ..AudioConfig::default()
    });
    let backend = TestBackend::default();
    let (session, _rx) = connect(&s, &backend, |o| o.opus = opus_client);
    let opus = opus_server && opus_client;
    wait("the playback channel", || {
        session
            .stats()
            .iter()
            .any(|c| c.key.channel_type == ChannelType::PLAYBACK)
    });
    std::thread::sleep(Duration::from_millis(300));
    for m in tone_messages(440.0, 1.0, opus, 5000) {
        s.playback_send(m);
    }
    let audio = session.audio();
    wait("100 packets played", || audio.stats().playback_packets >= 100);
    let played = backend.played.lock().unwrap();
    assert_eq!(played.formats, vec![PcmFormat::OPUS]);
    let left: Vec<i16> = played.samples.iter().step_by(2).copied().collect();
    let t = tone::analyse_mono(&left, 48_000).expect("a tone");
    assert!((t.freq - 440.0).abs() < 2.0, "{t:?}");
    assert!((t.seconds - 1.0).abs() < 0.02, "{t:?}");
    let stats = audio.stats();
    assert_eq!(stats.playback_dropped, 0);
    if opus {
        assert!(stats.playback_bytes < 40_000, "Opus: {stats:?}");
    } else {
        assert_eq!(stats.playback_bytes, 192_000, "raw: {stats:?}");
    }
}

#[test]
fn a_tone_plays_over_opus() {
    play_tone(true, true);
}

#[test]
fn a_tone_plays_raw_when_the_server_or_the_client_has_no_opus() {
    play_tone(false, true);
    play_tone(true, false);
}

#[test]
fn hostile_playback_is_bounded_counted_and_survived() {
    let s = server(AudioConfig {
        opus: true,
        ..AudioConfig::default()
    });
    let backend = TestBackend::default();
    let (session, _rx) = connect(&s, &backend, |_| {});
    wait("the playback channel", || {
        session
            .stats()
            .iter()
            .any(|c| c.key.channel_type == ChannelType::PLAYBACK)
    });
    let audio = session.audio();
    let raw = |msg_type: u16, data: Vec<u8>| PlaybackServer::Unknown { msg_type, data };
    // DATA before START.
    s.playback_send(PlaybackServer::Data {
        time: 1,
        data: vec![1; 1920],
    });
    // MODE with an unknown mode, then DATA in it.
    s.playback_send(PlaybackServer::Mode {
        time: 1,
        mode: 77,
        data: vec![],
    });
    s.playback_send(PlaybackServer::Start(PlaybackStart {
        channels: 2,
        format: format::S16,
        frequency: 48_000,
        time: 1,
    }));
    s.playback_send(PlaybackServer::Data {
        time: 2,
        data: vec![1; 1920],
    });
    // VOLUME claiming 200 entries with a 2-byte body.
    s.playback_send(raw(105, vec![200, 1, 0]));
    // A 100 MB DATA.
    s.playback_send(raw(101, vec![0x55; 100 << 20]));
    // Opus garbage.
    s.playback_send(PlaybackServer::Mode {
        time: 3,
        mode: mode::OPUS,
        data: vec![],
    });
    for garbage in [vec![0xff; 50], vec![0xfb, 0], vec![]] {
        s.playback_send(PlaybackServer::Data { time: 4, data: garbage });
    }
    // Counted: DATA before START, the unknown MODE and the DATA in it, VOLUME, the 100 MB DATA,
    // three Opus packets.
    wait("8 drops counted", || audio.stats().playback_dropped >= 8);
    // The channel still plays a good tone afterwards.
    for m in tone_messages(440.0, 0.5, true, 100) {
        s.playback_send(m);
    }
    wait("the good tone", || audio.stats().playback_samples >= 48_000);
    let stats = audio.stats();
    assert_eq!(stats.playback_dropped, 8, "{stats:?}");
    assert_eq!(
        stats.playback_samples, 48_000,
        "only the good tone was played: {stats:?}"
    );
    assert!(session.running_channel_threads() >= 3, "every channel still runs");
    assert_eq!(backend.played.lock().unwrap().samples.len(), 48_000);
}

#[test]
fn volume_and_mute_reach_the_sink_and_the_embedder_both_ways() {
    let s = server(AudioConfig::default());
    let backend = TestBackend::default();
    let (session, mut rx) = connect(&s, &backend, |_| {});
    wait("the playback channel", || {
        session
            .stats()
            .iter()
            .any(|c| c.key.channel_type == ChannelType::PLAYBACK)
    });
    s.playback_send(PlaybackServer::Volume(vec![1000, 2000]));
    s.playback_send(PlaybackServer::Mute(true));
    wait("the server's level", || backend.played.lock().unwrap().mute);
    assert_eq!(backend.played.lock().unwrap().volume, vec![1000, 2000]);
    let audio = session.audio();
    assert_eq!(audio.volume(AudioDirection::Playback), vec![1000, 2000]);
    assert!(audio.mute(AudioDirection::Playback));
    let events = drain(&mut rx);
    assert!(events.iter().any(|e| matches!(
        e,
        SessionEvent::Audio(AudioEvent::Mute {
            direction: AudioDirection::Playback,
            mute: true
        })
    )));
    // The embedder's control is applied locally.
    audio.set_mute(AudioDirection::Playback, false);
    audio.set_volume(AudioDirection::Playback, 30_000);
    wait("the embedder's level", || !backend.played.lock().unwrap().mute);
    wait("the embedder's volume", || {
        backend.played.lock().unwrap().volume == vec![30_000, 30_000]
    });
}

#[test]
fn the_microphone_is_captured_only_while_the_server_asks_and_sends_mode_first() {
    let s = server(AudioConfig {
        opus: true,
        ..AudioConfig::default()
    });
    let backend = TestBackend::default();
    let (session, mut rx) = connect(&s, &backend, |_| {});
    wait("the record channel", || {
        session
            .stats()
            .iter()
            .any(|c| c.key.channel_type == ChannelType::RECORD)
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(*backend.mic_opened.lock().unwrap(), 0, "not opened before START");
    s.record_send(RecordServer::Start(RecordStart {
        channels: 2,
        format: format::S16,
        frequency: 48_000,
    }));
    assert!(s.wait_for_record(
        WAIT,
        |l| l.iter().filter(|m| matches!(m, RecordClient::Data { .. })).count() >= 100
    ));
    s.record_send(RecordServer::Stop);
    wait("the microphone released", || !session.audio().microphone_active());
    let log = s.record_log();
    assert!(
        matches!(log[0], RecordClient::Mode { mode: mode::OPUS, .. }),
        "{:?}",
        &log[..2]
    );
    assert!(matches!(log[1], RecordClient::StartMark { .. }));
    // The frames decode to the source's 1 kHz.
    let mut dec = sumac::codec::opus::OpusDecoder::new().unwrap();
    let mut pcm = Vec::new();
    for m in &log[2..] {
        if let RecordClient::Data { data, .. } = m {
            pcm.extend_from_slice(dec.decode(data).unwrap());
        }
    }
    let left: Vec<i16> = pcm.iter().step_by(2).copied().collect();
    let t = tone::analyse_mono(&left, 48_000).expect("a tone");
    assert!((t.freq - 1000.0).abs() < 3.0, "{t:?}");
    let events = drain(&mut rx);
    let mic: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Audio(AudioEvent::Microphone(on)) => Some(*on),
            _ => None,
        })
        .collect();
    assert_eq!(mic, vec![true, false]);
    // After STOP nothing more is sent.
    let n = s.record_log().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.record_log().len(), n);
}

#[test]
fn a_refused_microphone_is_never_opened() {
    let s = server(AudioConfig::default());
    let backend = TestBackend::default();
    let (session, _rx) = connect(&s, &backend, |o| o.microphone = false);
    wait("the record channel", || {
        session
            .stats()
            .iter()
            .any(|c| c.key.channel_type == ChannelType::RECORD)
    });
    s.record_send(RecordServer::Start(RecordStart {
        channels: 2,
        format: format::S16,
        frequency: 48_000,
    }));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(*backend.mic_opened.lock().unwrap(), 0);
    assert!(s.record_log().is_empty());
    // Allowed during the session: capture begins (raw: the server has no Opus).
    session.audio().set_microphone_allowed(true);
    assert!(s.wait_for_record(WAIT, |l| l.len() >= 3));
    assert!(matches!(s.record_log()[0], RecordClient::Mode { mode: mode::RAW, .. }));
}

#[test]
fn disabled_audio_opens_neither_channel() {
    let s = server(AudioConfig::default());
    let backend = TestBackend::default();
    let (session, _rx) = connect(&s, &backend, |o| {
        o.disabled_channels.extend([ChannelType::PLAYBACK, ChannelType::RECORD]);
    });
    wait("the display channel", || {
        session
            .stats()
            .iter()
            .any(|c| c.key.channel_type == ChannelType::DISPLAY)
    });
    std::thread::sleep(Duration::from_millis(300));
    let linked: Vec<ChannelType> = s.with_record(|r| r.linked.iter().map(|l| l.0).collect());
    assert!(
        !linked.contains(&ChannelType::PLAYBACK) && !linked.contains(&ChannelType::RECORD),
        "{linked:?}"
    );
}

/// How long after the server sent it a video frame stamped 100 ms ahead of the server's clock
/// was drawn, with playback running into a sink of `sink_delay` (`None`: a sink that cannot tell).
fn frame_delay(sink_delay: Option<u32>) -> Duration {
    use sumac::display::DisplayEvent;
    use sumac::proto::channel::display::{Clip, DisplayServer, Rect, StreamCreate, StreamData, video_codec};
    let s = TestServer::start(ServerConfig {
        channels: vec![(ChannelType::DISPLAY, 0), (ChannelType::PLAYBACK, 0)],
        ..ServerConfig::default()
    })
    .unwrap();
    let backend = TestBackend {
        delay_ms: sink_delay,
        ..TestBackend::default()
    };
    let (session, mut rx) = connect(&s, &backend, |_| {});
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut next = |until: Instant| {
        rt.block_on(async { tokio::time::timeout(until.saturating_duration_since(Instant::now()), rx.recv()).await })
            .ok()
            .flatten()
    };
    // The scene is drawn (first MARK) and the playback channel is up.
    let until = Instant::now() + WAIT;
    while !matches!(
        next(until).expect("a first frame"),
        SessionEvent::Display {
            event: DisplayEvent::Mark,
            ..
        }
    ) {}
    wait("the playback channel", || {
        session
            .stats()
            .iter()
            .any(|c| c.key.channel_type == ChannelType::PLAYBACK)
    });
    // Audio plays, stamped with the server's clock.
    for m in tone_messages(440.0, 0.2, false, s.mm_time()).into_iter().take(22) {
        s.playback_send(m);
    }
    let audio = session.audio();
    wait("the audio packets", || audio.stats().playback_packets >= 20);
    // A video stream; its frame is stamped 100 ms ahead (the server's video latency).
    let dest = Rect::ltrb(200, 150, 264, 198);
    s.display_send(DisplayServer::StreamCreate(StreamCreate {
        surface_id: 0,
        id: 1,
        flags: 0,
        codec_type: video_codec::MJPEG,
        stamp: 0,
        stream_width: 64,
        stream_height: 48,
        src_width: 64,
        src_height: 48,
        dest,
        clip: Clip::None,
    }));
    let jpeg = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jpeg/frame-64x48-q95.jpg"
    ))
    .unwrap();
    let sent = Instant::now();
    s.display_send(DisplayServer::StreamData(StreamData {
        id: 1,
        multi_media_time: s.mm_time().wrapping_add(100),
        data: jpeg,
    }));
    let until = Instant::now() + WAIT;
    loop {
        match next(until).expect("the frame is drawn") {
            SessionEvent::Display {
                event: DisplayEvent::Damage { rect, .. },
                ..
            } if rect.left >= 200 && rect.top >= 150 => return sent.elapsed(),
            _ => {}
        }
    }
}

/// A/V sync end to end: with playback into a sink 400 ms deep, the clock is `packet time − 400`,
/// so a frame stamped with a time is drawn when the sound stamped with it is heard: ~400 ms
/// later than without the correction. Bounds are generous (a loaded machine); the measure is
/// printed.
#[test]
fn video_frames_wait_for_the_sound_heard_at_their_time() {
    let plain = frame_delay(None);
    let synced = frame_delay(Some(400));
    let offset = synced.as_secs_f64() - plain.as_secs_f64();
    eprintln!(
        "frame drawn {:.0} ms after sending without audio correction, {:.0} ms with a 400 ms sink: offset {:.0} ms",
        plain.as_secs_f64() * 1e3,
        synced.as_secs_f64() * 1e3,
        offset * 1e3
    );
    assert!(
        (0.25..0.60).contains(&offset),
        "offset {offset:.3} s, expected about 0.4 s"
    );
}
