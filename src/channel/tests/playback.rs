//! The playback machine from byte vectors: modes, the clock, volume, hostile input.

use std::sync::{Arc, Mutex};

use super::*;
use crate::channel::audio::SinkStats;
use crate::client::agent::AgentShared;
use crate::proto::caps::Caps;
use crate::proto::frame::HeaderKind;

#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) started: Vec<PcmFormat>,
    pub(crate) samples: Vec<i16>,
    pub(crate) stops: usize,
    pub(crate) volume: Vec<u16>,
    pub(crate) mute: Option<bool>,
    pub(crate) latency: Option<u32>,
}

/// A sink that remembers everything and reports a fixed delay.
pub(crate) struct FakeSink {
    pub(crate) seen: Arc<Mutex<Seen>>,
    pub(crate) delay: Option<u32>,
}

impl AudioSink for FakeSink {
    fn start(&mut self, format: PcmFormat) {
        self.seen.lock().unwrap().started.push(format);
    }
    fn play(&mut self, samples: &[i16]) {
        self.seen.lock().unwrap().samples.extend_from_slice(samples);
    }
    fn stop(&mut self) {
        self.seen.lock().unwrap().stops += 1;
    }
    fn set_volume(&mut self, volume: &[u16]) {
        self.seen.lock().unwrap().volume = volume.to_vec();
    }
    fn set_mute(&mut self, mute: bool) {
        self.seen.lock().unwrap().mute = Some(mute);
    }
    fn set_latency_hint(&mut self, ms: u32) {
        self.seen.lock().unwrap().latency = Some(ms);
    }
    fn delay_ms(&self) -> Option<u32> {
        self.delay
    }
    fn stats(&self) -> SinkStats {
        SinkStats {
            underruns: 3,
            ..SinkStats::default()
        }
    }
}

fn ctx() -> Ctx {
    Ctx::new(std::time::Instant::now(), 0)
}

fn machine(opus: bool, delay: Option<u32>) -> (PlaybackMachine, Arc<Mutex<Seen>>, Arc<AudioShared>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = AudioShared::new(AgentShared::new(), true);
    let sink = FakeSink {
        seen: Arc::clone(&seen),
        delay,
    };
    let m = PlaybackMachine::new(Some(Box::new(sink)), Arc::clone(&shared), PlaybackSettings { opus });
    (m, seen, shared)
}

fn feed(m: &mut PlaybackMachine, msg: &PlaybackServer) -> Outputs {
    let mut out = Outputs::new();
    let h = m.message(msg.msg_type(), &msg.to_body(), &ctx(), &mut out).unwrap();
    assert_ne!(h, Handled::Skipped, "{msg:?}");
    out
}

fn start(time: u32) -> PlaybackServer {
    PlaybackServer::Start(PlaybackStart {
        channels: 2,
        format: format::S16,
        frequency: 48_000,
        time,
    })
}

fn raw(time: u32, samples: &[i16]) -> PlaybackServer {
    PlaybackServer::Data {
        time,
        data: samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
    }
}

fn mm_times(out: &Outputs) -> Vec<u32> {
    out.items()
        .iter()
        .filter_map(|o| match o {
            Output::SetMmTime(t) => Some(*t),
            _ => None,
        })
        .collect()
}

#[test]
fn caps_offer_opus_only_when_allowed_and_never_celt() {
    let (m, _, _) = machine(true, None);
    assert!(!m.caps().contains(&caps::CELT_0_5_1));
    assert!(m.caps().contains(&caps::VOLUME) && m.caps().contains(&caps::LATENCY));
    assert_eq!(m.caps().contains(&caps::OPUS), cfg!(feature = "opus"));
    let (m, _, _) = machine(false, None);
    assert!(!m.caps().contains(&caps::OPUS));
    let link = Linked {
        server_caps: Caps::new(&[], &[caps::VOLUME]),
        client_caps: Caps::new(&[], &m.caps()),
        header: HeaderKind::Mini,
    };
    let mut m = m;
    m.linked(&link, &ctx(), &mut Outputs::new()).unwrap();
}

#[test]
fn raw_playback_reaches_the_sink() {
    let (mut m, seen, shared) = machine(false, None);
    let out = feed(&mut m, &start(1000));
    assert!(matches!(
        out.items(),
        [Output::Event(SessionEvent::Audio(AudioEvent::PlaybackStarted {
            channels: 2,
            rate: 48_000
        }))]
    ));
    feed(&mut m, &raw(1010, &[1, -1, 2, -2]));
    // An odd trailing byte is not a sample.
    let mut odd = raw(1020, &[3]).to_body();
    odd.push(7);
    m.message(msg::DATA, &odd, &ctx(), &mut Outputs::new()).unwrap();
    let out = feed(&mut m, &PlaybackServer::Stop);
    assert!(out.items().iter().any(|o| matches!(o, Output::PlaybackDelay(None))));
    let s = seen.lock().unwrap();
    assert_eq!(s.started, vec![PcmFormat::OPUS]);
    assert_eq!(s.samples, vec![1, -1, 2, -2, 3]);
    assert_eq!(s.stops, 1);
    let stats = AudioHandleView(&shared).stats();
    assert_eq!(
        (stats.playback_packets, stats.playback_samples, stats.playback_dropped),
        (2, 5, 0)
    );
    assert_eq!(stats.underruns, 3, "the sink's counters are published");
}

#[test]
fn the_socket_is_read_in_pauses_only_while_a_stream_plays() {
    let (mut m, _seen, _shared) = machine(false, None);
    assert_eq!(m.read_pause(), None, "before START: read at once");
    feed(&mut m, &start(1000));
    assert_eq!(m.read_pause(), Some(READ_PAUSE));
    feed(&mut m, &PlaybackServer::Stop);
    assert_eq!(m.read_pause(), None, "after STOP: read at once");
}

/// Reads the shared counters the way the embedder does.
struct AudioHandleView<'a>(&'a Arc<AudioShared>);

impl AudioHandleView<'_> {
    fn stats(&self) -> crate::client::audio::AudioStats {
        crate::client::audio::AudioHandle::new(Arc::clone(self.0)).stats()
    }
}

#[test]
fn the_sink_delay_corrects_the_clock_at_start_and_every_100_packets() {
    let (mut m, _, _) = machine(false, Some(120));
    let out = feed(&mut m, &start(10_000));
    assert_eq!(mm_times(&out), vec![10_000 - 120]);
    assert!(
        out.items()
            .iter()
            .any(|o| matches!(o, Output::PlaybackDelay(Some(120))))
    );
    let mut set = Vec::new();
    for i in 0..201u32 {
        let out = feed(&mut m, &raw(10_000 + 10 * i, &[0; 960]));
        set.extend(mm_times(&out));
    }
    // Packets 0, 100 and 200 of the stream re-measure the delay.
    assert_eq!(set, vec![10_000 - 120, 11_000 - 120, 12_000 - 120]);
    // Wrapping time stamps stay wrapping.
    let out = feed(&mut m, &start(50));
    assert_eq!(mm_times(&out), vec![50u32.wrapping_sub(120)]);
}

#[test]
fn a_sink_without_delay_leaves_the_clock_alone() {
    let (mut m, _, _) = machine(false, None);
    assert!(mm_times(&feed(&mut m, &start(5))).is_empty());
    assert!(mm_times(&feed(&mut m, &raw(5, &[0; 4]))).is_empty());
}

#[test]
fn volume_mute_and_latency_from_the_server() {
    let (mut m, seen, shared) = machine(false, None);
    let out = feed(&mut m, &PlaybackServer::Volume(vec![100, 200]));
    assert!(matches!(
        out.items(),
        [Output::Event(SessionEvent::Audio(AudioEvent::Volume { direction: AudioDirection::Playback, volume }))] if volume == &vec![100, 200]
    ));
    feed(&mut m, &PlaybackServer::Mute(true));
    feed(&mut m, &PlaybackServer::Latency(250));
    {
        let s = seen.lock().unwrap();
        assert_eq!(
            (s.volume.clone(), s.mute, s.latency),
            (vec![100, 200], Some(true), Some(250))
        );
    }
    // A stream started later gets the current level.
    seen.lock().unwrap().volume.clear();
    feed(&mut m, &start(0));
    assert_eq!(seen.lock().unwrap().volume, vec![100, 200]);
    // The embedder's change is applied by `commands`.
    crate::client::audio::AudioHandle::new(Arc::clone(&shared)).set_volume(AudioDirection::Playback, 7);
    let mut out = Outputs::new();
    m.commands(&ctx(), &mut out).unwrap();
    assert_eq!(seen.lock().unwrap().volume, vec![7, 7]);
    assert_eq!(out.len(), 2, "volume and mute events");
}

#[test]
fn hostile_messages_are_dropped_and_counted() {
    let (mut m, seen, shared) = machine(false, None);
    let stats = || crate::client::audio::AudioHandle::new(Arc::clone(&shared)).stats();
    // DATA before START.
    feed(&mut m, &raw(1, &[5, 5]));
    assert_eq!(stats().playback_dropped, 1);
    // MODE with an unknown mode (and CELT, never offered): DATA in it is dropped.
    feed(&mut m, &start(0));
    for bad in [77u16, mode::CELT_0_5_1] {
        feed(
            &mut m,
            &PlaybackServer::Mode {
                time: 0,
                mode: bad,
                data: vec![],
            },
        );
        feed(&mut m, &raw(2, &[5, 5]));
    }
    assert_eq!(stats().playback_dropped, 5);
    // VOLUME whose count exceeds its body: dropped, the channel goes on.
    let mut out = Outputs::new();
    assert_eq!(
        m.message(msg::VOLUME, &[200, 1, 0], &ctx(), &mut out).unwrap(),
        Handled::Done
    );
    assert_eq!(stats().playback_dropped, 6);
    // A huge DATA is refused before anything is copied.
    feed(
        &mut m,
        &PlaybackServer::Mode {
            time: 0,
            mode: mode::RAW,
            data: vec![],
        },
    );
    let huge = vec![0u8; MAX_DATA_BYTES + 5];
    m.message(msg::DATA, &huge, &ctx(), &mut Outputs::new()).unwrap();
    assert_eq!(stats().playback_dropped, 7);
    // A short DATA and an unplayable START.
    m.message(msg::DATA, &[1, 2], &ctx(), &mut Outputs::new()).unwrap();
    let bad_start = PlaybackServer::Start(PlaybackStart {
        channels: 9,
        format: format::S16,
        frequency: 48_000,
        time: 0,
    });
    feed(&mut m, &bad_start);
    feed(&mut m, &raw(3, &[5]));
    assert_eq!(stats().playback_dropped, 10);
    assert!(seen.lock().unwrap().samples.is_empty());
}

#[cfg(feature = "opus")]
#[test]
fn opus_packets_are_decoded_and_garbage_counted() {
    use crate::codec::opus::{FRAME_LEN, OpusEncoder};
    let (mut m, seen, shared) = machine(true, Some(40));
    feed(
        &mut m,
        &PlaybackServer::Mode {
            time: 0,
            mode: mode::OPUS,
            data: vec![],
        },
    );
    feed(&mut m, &start(0));
    let mut enc = OpusEncoder::new().unwrap();
    for i in 0..10u32 {
        let packet = enc.encode(&[1000; FRAME_LEN]).unwrap().to_vec();
        feed(
            &mut m,
            &PlaybackServer::Data {
                time: i * 10,
                data: packet,
            },
        );
    }
    assert_eq!(seen.lock().unwrap().samples.len(), 10 * FRAME_LEN);
    for garbage in [vec![], vec![0xff; 3], vec![0xfb, 0]] {
        feed(&mut m, &PlaybackServer::Data { time: 1, data: garbage });
    }
    let stats = crate::client::audio::AudioHandle::new(Arc::clone(&shared)).stats();
    assert_eq!(stats.playback_dropped, 3);
    assert_eq!(stats.sink_delay_ms, 40);
}
