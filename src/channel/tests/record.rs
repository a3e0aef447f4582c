//! The record machine from byte vectors: capture only while asked and
//! allowed, MODE and START_MARK before the first DATA, 10 ms frames.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::*;
use crate::client::agent::AgentShared;
use crate::client::audio::AudioHandle;
use crate::proto::caps::Caps;
use crate::proto::channel::record::{msg, msgc};
use crate::proto::frame::HeaderKind;

#[derive(Default)]
struct Mic {
    open: bool,
    starts: usize,
    /// Samples "captured" and not read yet.
    buffered: Vec<i16>,
    volume: Vec<u16>,
}

struct FakeSource(Arc<Mutex<Mic>>);

impl AudioSource for FakeSource {
    fn start(&mut self, _format: PcmFormat) -> bool {
        let mut m = self.0.lock().unwrap();
        m.open = true;
        m.starts += 1;
        true
    }
    fn read(&mut self, max: usize, out: &mut Vec<i16>) {
        let mut m = self.0.lock().unwrap();
        let n = max.min(m.buffered.len());
        out.extend(m.buffered.drain(..n));
    }
    fn stop(&mut self) {
        self.0.lock().unwrap().open = false;
    }
    fn set_volume(&mut self, volume: &[u16]) {
        self.0.lock().unwrap().volume = volume.to_vec();
    }
}

fn machine(opus_client: bool, opus_server: bool) -> (RecordMachine, Arc<Mutex<Mic>>, Arc<AudioShared>) {
    let mic = Arc::new(Mutex::new(Mic::default()));
    let shared = AudioShared::new(AgentShared::new(), true);
    let mut m = RecordMachine::new(
        Some(Box::new(FakeSource(Arc::clone(&mic)))),
        Arc::clone(&shared),
        RecordSettings { opus: opus_client },
    );
    let server: &[u32] = if opus_server {
        &[caps::VOLUME, caps::OPUS]
    } else {
        &[caps::VOLUME]
    };
    let link = Linked {
        server_caps: Caps::new(&[], server),
        client_caps: Caps::new(&[], &m.caps()),
        header: HeaderKind::Mini,
    };
    m.linked(&link, &ctx(), &mut Outputs::new()).unwrap();
    (m, mic, shared)
}

fn ctx() -> Ctx {
    Ctx::new(Instant::now(), 4242)
}

fn start_msg() -> RecordServer {
    RecordServer::Start(RecordStart {
        channels: 2,
        format: format::S16,
        frequency: 48_000,
    })
}

fn feed(m: &mut RecordMachine, msg: &RecordServer) -> Outputs {
    let mut out = Outputs::new();
    m.message(msg.msg_type(), &msg.to_body(), &ctx(), &mut out).unwrap();
    out
}

fn sent(out: &Outputs) -> Vec<RecordClient> {
    out.items()
        .iter()
        .filter_map(|o| match o {
            crate::channel::Output::Send { msg_type, body } => Some(RecordClient::decode(*msg_type, body).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_microphone_opens_only_while_the_server_asks() {
    let (mut m, mic, shared) = machine(false, false);
    assert!(!mic.lock().unwrap().open);
    assert_eq!(m.next_wake(), None);
    let out = feed(&mut m, &start_msg());
    assert!(mic.lock().unwrap().open);
    assert!(AudioHandle::new(Arc::clone(&shared)).microphone_active());
    assert!(matches!(
        out.items(),
        [crate::channel::Output::Event(SessionEvent::Audio(
            AudioEvent::Microphone(true)
        ))]
    ));
    assert!(m.next_wake().is_some());
    // Nothing captured yet: nothing sent, not even MODE.
    let mut out = Outputs::new();
    m.wake(&ctx(), &mut out).unwrap();
    assert!(sent(&out).is_empty());
    // 25 ms captured: two 10 ms frames go, after MODE and START_MARK; 5 ms wait.
    mic.lock().unwrap().buffered = (0..2400).map(|i| i as i16).collect();
    let mut out = Outputs::new();
    m.wake(&ctx(), &mut out).unwrap();
    let msgs = sent(&out);
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert_eq!(
        msgs[0],
        RecordClient::Mode {
            time: 4242,
            mode: mode::RAW,
            data: vec![]
        }
    );
    assert_eq!(msgs[1], RecordClient::StartMark { time: 4242 });
    let RecordClient::Data { data, .. } = &msgs[2] else {
        panic!()
    };
    assert_eq!(data.len(), 960 * 2);
    assert_eq!(&data[..4], &[0, 0, 1, 0]);
    // The next frames come without a second MODE.
    mic.lock().unwrap().buffered = vec![0; 720];
    let mut out = Outputs::new();
    m.wake(&ctx(), &mut out).unwrap();
    assert_eq!(sent(&out).len(), 1);
    // STOP closes the device and stops the polling.
    let out = feed(&mut m, &RecordServer::Stop);
    assert!(!mic.lock().unwrap().open);
    assert_eq!(m.next_wake(), None);
    assert!(matches!(
        out.items(),
        [crate::channel::Output::Event(SessionEvent::Audio(
            AudioEvent::Microphone(false)
        ))]
    ));
    let stats = AudioHandle::new(shared).stats();
    assert_eq!((stats.record_frames, stats.record_samples), (3, 3 * 960));
}

#[test]
fn a_refused_microphone_is_never_opened_and_a_refusal_stops_it() {
    let (mut m, mic, shared) = machine(false, false);
    let h = AudioHandle::new(Arc::clone(&shared));
    h.set_microphone_allowed(false);
    m.commands(&ctx(), &mut Outputs::new()).unwrap();
    feed(&mut m, &start_msg());
    assert_eq!(mic.lock().unwrap().starts, 0);
    // Allowed again while the server asks: it opens.
    h.set_microphone_allowed(true);
    m.commands(&ctx(), &mut Outputs::new()).unwrap();
    assert!(mic.lock().unwrap().open);
    // Refused during capture: closed at once.
    h.set_microphone_allowed(false);
    let mut out = Outputs::new();
    m.commands(&ctx(), &mut out).unwrap();
    assert!(!mic.lock().unwrap().open);
    assert!(!h.microphone_active());
}

#[test]
fn volume_from_the_server_reaches_the_source_and_bad_messages_are_dropped() {
    let (mut m, mic, _) = machine(false, false);
    feed(&mut m, &RecordServer::Volume(vec![9, 9]));
    assert_eq!(mic.lock().unwrap().volume, vec![9, 9]);
    let mut out = Outputs::new();
    assert_eq!(
        m.message(msg::VOLUME, &[9, 1], &ctx(), &mut out).unwrap(),
        Handled::Done
    );
    assert_eq!(m.message(msg::START, &[1], &ctx(), &mut out).unwrap(), Handled::Done);
    // An unknown format is not captured.
    feed(
        &mut m,
        &RecordServer::Start(RecordStart {
            channels: 2,
            format: 7,
            frequency: 48_000,
        }),
    );
    assert_eq!(mic.lock().unwrap().starts, 0);
    let _ = msgc::DATA;
}

#[cfg(feature = "opus")]
#[test]
fn opus_frames_when_the_server_has_the_cap() {
    let (mut m, mic, _) = machine(true, true);
    assert!(m.caps().contains(&caps::OPUS) && !m.caps().contains(&caps::CELT_0_5_1));
    feed(&mut m, &start_msg());
    mic.lock().unwrap().buffered = vec![500; 960 * 3];
    let mut out = Outputs::new();
    m.wake(&ctx(), &mut out).unwrap();
    let msgs = sent(&out);
    assert!(matches!(msgs[0], RecordClient::Mode { mode: mode::OPUS, .. }));
    let mut dec = crate::codec::opus::OpusDecoder::new().unwrap();
    for d in &msgs[2..] {
        let RecordClient::Data { data, .. } = d else { panic!() };
        assert!(data.len() <= crate::codec::opus::MAX_PACKET);
        assert_eq!(dec.decode(data).unwrap().len(), 960);
    }
    assert_eq!(msgs.len(), 5);
    // Without the server's cap: raw.
    let (mut m, mic, _) = machine(true, false);
    feed(&mut m, &start_msg());
    mic.lock().unwrap().buffered = vec![1; 960];
    let mut out = Outputs::new();
    m.wake(&ctx(), &mut out).unwrap();
    assert!(matches!(sent(&out)[0], RecordClient::Mode { mode: mode::RAW, .. }));
}
