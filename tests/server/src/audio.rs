//! The test server's playback and record channels: playback sends a
//! scripted list of messages after the link (and whatever a test queues
//! later, hostile ones included); record sends what a test queues (START,
//! STOP, VOLUME...) and logs every client message decoded.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use sumac::codec::opus::{FRAME_LEN, OpusEncoder};
use sumac::proto::base::Message;
use sumac::proto::channel::playback::{PlaybackServer, PlaybackStart, format, mode};
use sumac::proto::channel::record::{RecordClient, RecordServer};

/// How the audio channels behave.
#[derive(Debug, Clone, Default)]
pub struct AudioConfig {
    /// Announce `SPICE_PLAYBACK_CAP_OPUS` / `SPICE_RECORD_CAP_OPUS`.
    pub opus: bool,
    /// Sent on the playback channel right after the link.
    pub playback_script: Vec<PlaybackServer>,
    /// Sent on the record channel right after the link.
    pub record_script: Vec<RecordServer>,
}

/// A tone as the playback channel sends it: MODE, START, 10 ms DATA packets
/// (Opus or raw, 48 kHz stereo), STOP; packet times start at `time`.
pub fn tone_messages(freq: f64, seconds: f64, opus: bool, time: u32) -> Vec<PlaybackServer> {
    let frames = (seconds * 100.0).round() as usize;
    let mut out = vec![
        PlaybackServer::Mode {
            time,
            mode: if opus { mode::OPUS } else { mode::RAW },
            data: vec![],
        },
        PlaybackServer::Start(PlaybackStart {
            channels: 2,
            format: format::S16,
            frequency: 48_000,
            time,
        }),
    ];
    let mut enc = opus.then(|| OpusEncoder::new().expect("Opus encoder"));
    for f in 0..frames {
        let pcm: Vec<i16> = (0..FRAME_LEN / 2)
            .flat_map(|i| {
                let n = (f * FRAME_LEN / 2 + i) as f64;
                let v = (10_000.0 * (2.0 * std::f64::consts::PI * freq * n / 48_000.0).sin()) as i16;
                [v, v]
            })
            .collect();
        let data = match enc.as_mut() {
            Some(e) => e.encode(&pcm).expect("encode").to_vec(),
            None => pcm.iter().flat_map(|s| s.to_le_bytes()).collect(),
        };
        out.push(PlaybackServer::Data {
            time: time.wrapping_add(10 * f as u32),
            data,
        });
    }
    out.push(PlaybackServer::Stop);
    out
}

/// What the audio channels saw and what is queued for them to send.
#[derive(Debug, Default)]
pub(crate) struct AudioState {
    playback_out: Mutex<VecDeque<PlaybackServer>>,
    record_out: Mutex<VecDeque<RecordServer>>,
    record_log: Mutex<Vec<(Instant, RecordClient)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AudioState {
    pub(crate) fn queue_playback(&self, m: PlaybackServer) {
        lock(&self.playback_out).push_back(m);
    }

    pub(crate) fn queue_record(&self, m: RecordServer) {
        lock(&self.record_out).push_back(m);
    }

    /// At most `max` queued playback messages (so a long tone is paced by the caller's loop).
    pub(crate) fn take_playback(&self, max: usize) -> Vec<PlaybackServer> {
        let mut q = lock(&self.playback_out);
        let n = max.min(q.len());
        q.drain(..n).collect()
    }

    pub(crate) fn take_record(&self) -> Vec<RecordServer> {
        lock(&self.record_out).drain(..).collect()
    }

    pub(crate) fn on_record_message(&self, msg_type: u16, body: &[u8]) {
        let m = RecordClient::decode(msg_type, body).unwrap_or(RecordClient::Unknown {
            msg_type,
            data: body.to_vec(),
        });
        lock(&self.record_log).push((Instant::now(), m));
    }

    pub(crate) fn record_log(&self) -> Vec<RecordClient> {
        lock(&self.record_log).iter().map(|(_, m)| m.clone()).collect()
    }

    pub(crate) fn wait_for_record(&self, timeout: Duration, cond: impl Fn(&[RecordClient]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&self.record_log()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
