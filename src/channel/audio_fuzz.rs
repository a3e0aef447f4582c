//! Entry points for the fuzz targets of the audio channels
//! (`tests/fuzz`: `playback_messages`, `record_messages`, `opus_packet`):
//! the real machines, fed server messages, with a counting sink and a
//! silent source. Not an API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::audio::{AudioSink, AudioSource, PcmFormat};
use super::playback::{PlaybackMachine, PlaybackSettings};
use super::record::{RecordMachine, RecordSettings};
use super::{Ctx, Machine, Output, Outputs};
use crate::client::agent::AgentShared;
use crate::client::audio::{AudioHandle, AudioShared, AudioStats};
use crate::proto::Message;
use crate::proto::caps::{Caps, playback as pcaps, record as rcaps};
use crate::proto::channel::record::RecordClient;
use crate::proto::frame::HeaderKind;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct FuzzOutcome {
    pub stats: AudioStats,
    /// Largest batch of samples one `play` got.
    pub largest_play: usize,
    /// Messages the record machine sent, decoded.
    pub sent: Vec<RecordClient>,
}

#[derive(Default)]
struct Counting {
    largest: Arc<std::sync::atomic::AtomicUsize>,
}

impl AudioSink for Counting {
    fn start(&mut self, _format: PcmFormat) {}
    fn play(&mut self, samples: &[i16]) {
        self.largest
            .fetch_max(samples.len(), std::sync::atomic::Ordering::Relaxed);
    }
    fn stop(&mut self) {}
    fn delay_ms(&self) -> Option<u32> {
        Some(40)
    }
}

struct Silence(Option<PcmFormat>);

impl AudioSource for Silence {
    fn start(&mut self, format: PcmFormat) -> bool {
        self.0 = Some(format);
        true
    }
    fn read(&mut self, max: usize, out: &mut Vec<i16>) {
        if self.0.is_some() {
            out.extend(std::iter::repeat_n(0, max.min(4800)));
        }
    }
    fn stop(&mut self) {
        self.0 = None;
    }
}

fn link(server: &[u32], client: &[u32]) -> crate::connector::client::Linked {
    crate::connector::client::Linked {
        server_caps: Caps::new(&[], server),
        client_caps: Caps::new(&[], client),
        header: HeaderKind::Mini,
    }
}

/// Feeds `messages` (type, body) to a playback machine offering Opus.
pub fn playback(messages: &[(u16, &[u8])]) -> FuzzOutcome {
    let shared = AudioShared::new(AgentShared::new(), true);
    let sink = Counting::default();
    let largest = Arc::clone(&sink.largest);
    let mut m = PlaybackMachine::new(
        Some(Box::new(sink)),
        Arc::clone(&shared),
        PlaybackSettings { opus: true },
    );
    let ctx = Ctx::new(Instant::now(), 0);
    let mut out = Outputs::new();
    let caps = m.caps();
    let _ = m.linked(&link(&[pcaps::VOLUME, pcaps::OPUS], &caps), &ctx, &mut out);
    for (t, body) in messages {
        let _ = m.message(*t, body, &ctx, &mut out);
        let _ = m.after_batch(&ctx, &mut out);
        out.drain();
    }
    FuzzOutcome {
        stats: AudioHandle::new(shared).stats(),
        largest_play: largest.load(std::sync::atomic::Ordering::Relaxed),
        sent: Vec::new(),
    }
}

/// Feeds `messages` to a record machine (server with Opus) and wakes it
/// after each, as the runtime's timer would.
pub fn record(messages: &[(u16, &[u8])]) -> FuzzOutcome {
    let shared = AudioShared::new(AgentShared::new(), true);
    let mut m = RecordMachine::new(
        Some(Box::new(Silence(None))),
        Arc::clone(&shared),
        RecordSettings { opus: true },
    );
    let t0 = Instant::now();
    let mut out = Outputs::new();
    let caps = m.caps();
    let _ = m.linked(&link(&[rcaps::VOLUME, rcaps::OPUS], &caps), &Ctx::new(t0, 0), &mut out);
    let mut sent = Vec::new();
    for (i, (t, body)) in messages.iter().enumerate() {
        let ctx = Ctx::new(t0 + Duration::from_millis(20 * i as u64), 0);
        let _ = m.message(*t, body, &ctx, &mut out);
        let _ = m.wake(&ctx, &mut out);
        for o in out.drain() {
            if let Output::Send { msg_type, body } = o
                && let Ok(msg) = RecordClient::decode(msg_type, &body)
            {
                sent.push(msg);
            }
        }
    }
    FuzzOutcome {
        stats: AudioHandle::new(shared).stats(),
        largest_play: 0,
        sent,
    }
}
