//! Audio in the runtime: the state the playback and record channels share
//! with the embedder ([`AudioHandle`]: volume, mute, the microphone), the
//! guest-agent volume sync, and the back-ends: [`wav`] (a file, for
//! `sumac-cli`) and, with feature `audio`, `device` (cpal).
//!
//! # Volume and mute, both ways
//! There is one current volume and mute per direction. The server's VOLUME
//! and MUTE (the guest's mixer) set it and are applied to the local stream;
//! the embedder's [`AudioHandle::set_playback_volume`] (a volume control in
//! the window) sets it too, applies it locally, and sends
//! `VD_AGENT_AUDIO_VOLUME_SYNC` to the guest agent when one is connected, so
//! the guest mixer follows (the server then echoes it as VOLUME, which
//! changes nothing). Nothing is synced at connect: a client without a
//! sound card must not zero the guest's mixer (spice-gtk does).

pub mod convert;
pub mod wav;

#[cfg(feature = "audio")]
pub mod device;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::agent::AgentShared;
use crate::channel::agent::AgentCommand;
use crate::proto::vdagent::AudioVolumeSync;

/// One direction of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioDirection {
    Playback,
    Record,
}

/// What the audio channels tell the embedder (in [`SessionEvent::Audio`](super::SessionEvent::Audio)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioEvent {
    /// Playback started (PLAYBACK START) in this format.
    PlaybackStarted {
        channels: u8,
        rate: u32,
    },
    PlaybackStopped,
    /// The volume changed (server VOLUME or the embedder), 65535 = 100 %.
    Volume {
        direction: AudioDirection,
        volume: Vec<u16>,
    },
    Mute {
        direction: AudioDirection,
        mute: bool,
    },
    /// The microphone is captured (the server asked and the user allows it) or not.
    Microphone(bool),
}

/// Counters of the audio channels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioStats {
    /// DATA messages received on the playback channel.
    pub playback_packets: u64,
    /// Their audio bytes (encoded).
    pub playback_bytes: u64,
    /// Samples given to the sink (interleaved).
    pub playback_samples: u64,
    /// Playback messages dropped: DATA before START or in an unknown mode,
    /// oversized DATA, undecodable Opus, invalid START/MODE.
    pub playback_dropped: u64,
    /// Sink underruns (callbacks that played silence, and underruns of the
    /// device itself) and overflow samples.
    pub underruns: u64,
    pub overflow_samples: u64,
    /// DATA messages sent on the record channel, and their captured samples.
    pub record_frames: u64,
    pub record_samples: u64,
    /// Latest sink delay, ms (0 before one was measured).
    pub sink_delay_ms: u64,
}

/// The counters behind [`AudioStats`], updated by the channel machines.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) playback_packets: AtomicU64,
    pub(crate) playback_bytes: AtomicU64,
    pub(crate) playback_samples: AtomicU64,
    pub(crate) playback_dropped: AtomicU64,
    pub(crate) underruns: AtomicU64,
    pub(crate) overflow_samples: AtomicU64,
    pub(crate) record_frames: AtomicU64,
    pub(crate) record_samples: AtomicU64,
    pub(crate) sink_delay_ms: AtomicU64,
}

/// The volume and mute of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Level {
    pub(crate) volume: Vec<u16>,
    pub(crate) mute: bool,
    /// Set by the embedder and not applied by the channel yet.
    pub(crate) user_changed: bool,
}

impl Default for Level {
    fn default() -> Self {
        Self {
            volume: vec![u16::MAX, u16::MAX],
            mute: false,
            user_changed: false,
        }
    }
}

/// State shared by the audio channels and the embedder's [`AudioHandle`].
#[derive(Debug)]
pub(crate) struct AudioShared {
    playback: Mutex<Level>,
    record: Mutex<Level>,
    playback_notify: Arc<tokio::sync::Notify>,
    record_notify: Arc<tokio::sync::Notify>,
    microphone_allowed: AtomicBool,
    microphone_active: AtomicBool,
    counters: Counters,
    agent: Arc<AgentShared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Adds to a counter.
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl AudioShared {
    pub(crate) fn new(agent: Arc<AgentShared>, microphone_allowed: bool) -> Arc<Self> {
        Arc::new(Self {
            playback: Mutex::new(Level::default()),
            record: Mutex::new(Level::default()),
            playback_notify: Arc::new(tokio::sync::Notify::new()),
            record_notify: Arc::new(tokio::sync::Notify::new()),
            microphone_allowed: AtomicBool::new(microphone_allowed),
            microphone_active: AtomicBool::new(false),
            counters: Counters::default(),
            agent,
        })
    }

    fn level(&self, d: AudioDirection) -> &Mutex<Level> {
        match d {
            AudioDirection::Playback => &self.playback,
            AudioDirection::Record => &self.record,
        }
    }

    pub(crate) fn notify(&self, d: AudioDirection) -> Arc<tokio::sync::Notify> {
        Arc::clone(match d {
            AudioDirection::Playback => &self.playback_notify,
            AudioDirection::Record => &self.record_notify,
        })
    }

    /// The server set the volume (VOLUME): it becomes the current one.
    pub(crate) fn server_volume(&self, d: AudioDirection, volume: &[u16]) {
        lock(self.level(d)).volume = volume.to_vec();
    }

    pub(crate) fn server_mute(&self, d: AudioDirection, mute: bool) {
        lock(self.level(d)).mute = mute;
    }

    /// The current level; clears "changed by the user".
    pub(crate) fn take_level(&self, d: AudioDirection) -> Level {
        let mut l = lock(self.level(d));
        let out = l.clone();
        l.user_changed = false;
        out
    }

    fn user_level(&self, d: AudioDirection, f: impl FnOnce(&mut Level)) {
        let level = {
            let mut l = lock(self.level(d));
            f(&mut l);
            l.user_changed = true;
            l.clone()
        };
        self.notify(d).notify_one();
        // The guest mixer follows (when an agent is there to hear it).
        let _ = self
            .agent
            .push_command(AgentCommand::VolumeSync(volume_sync(d, level.mute, &level.volume)), 0);
    }

    pub(crate) fn microphone_allowed(&self) -> bool {
        self.microphone_allowed.load(Ordering::Relaxed)
    }

    pub(crate) fn set_microphone_active(&self, active: bool) {
        self.microphone_active.store(active, Ordering::Relaxed);
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    fn stats(&self) -> AudioStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AudioStats {
            playback_packets: get(&c.playback_packets),
            playback_bytes: get(&c.playback_bytes),
            playback_samples: get(&c.playback_samples),
            playback_dropped: get(&c.playback_dropped),
            underruns: get(&c.underruns),
            overflow_samples: get(&c.overflow_samples),
            record_frames: get(&c.record_frames),
            record_samples: get(&c.record_samples),
            sink_delay_ms: get(&c.sink_delay_ms),
        }
    }
}

/// `VD_AGENT_AUDIO_VOLUME_SYNC` for the agent (at most 255 channels, the wire's bound).
pub fn volume_sync(direction: AudioDirection, mute: bool, volume: &[u16]) -> AudioVolumeSync {
    AudioVolumeSync {
        is_playback: direction == AudioDirection::Playback,
        mute,
        volumes: volume.iter().take(usize::from(u8::MAX)).copied().collect(),
    }
}

/// The embedder's handle on a session's audio: volume, mute, the microphone,
/// counters. Cheap to clone; every method returns at once.
#[derive(Debug, Clone)]
pub struct AudioHandle {
    shared: Arc<AudioShared>,
}

impl AudioHandle {
    pub(crate) fn new(shared: Arc<AudioShared>) -> Self {
        Self { shared }
    }

    /// The current volume of `direction` (per channel, 65535 = 100 %).
    pub fn volume(&self, direction: AudioDirection) -> Vec<u16> {
        lock(self.shared.level(direction)).volume.clone()
    }

    pub fn mute(&self, direction: AudioDirection) -> bool {
        lock(self.shared.level(direction)).mute
    }

    /// Sets the volume of every channel of `direction` (0..=65535): applied
    /// to the local stream and synced to the guest agent.
    pub fn set_volume(&self, direction: AudioDirection, volume: u16) {
        self.shared.user_level(direction, |l| {
            let n = l.volume.len().max(2);
            l.volume = vec![volume; n];
        });
    }

    /// Mutes or unmutes `direction`: applied locally and synced to the guest agent.
    pub fn set_mute(&self, direction: AudioDirection, mute: bool) {
        self.shared.user_level(direction, |l| l.mute = mute);
    }

    /// Whether the microphone may be captured when the server asks.
    pub fn microphone_allowed(&self) -> bool {
        self.shared.microphone_allowed()
    }

    /// Allows or refuses the microphone; refusing stops a running capture at once.
    pub fn set_microphone_allowed(&self, allowed: bool) {
        self.shared.microphone_allowed.store(allowed, Ordering::Relaxed);
        self.shared.notify(AudioDirection::Record).notify_one();
    }

    /// Whether the microphone is being captured now.
    pub fn microphone_active(&self) -> bool {
        self.shared.microphone_active.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> AudioStats {
        self.shared.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_sync_keeps_at_most_255_channels() {
        let v = volume_sync(AudioDirection::Playback, true, &[0x1234, 0xffff]);
        assert!(v.is_playback && v.mute);
        assert_eq!(v.volumes, vec![0x1234, 0xffff]);
        let v = volume_sync(AudioDirection::Record, false, &[7; 300]);
        assert!(!v.is_playback && !v.mute);
        assert_eq!(v.volumes.len(), 255);
    }

    #[test]
    fn the_user_level_reaches_the_agent_only_when_one_is_there() {
        let agent = AgentShared::new();
        let shared = AudioShared::new(Arc::clone(&agent), true);
        let h = AudioHandle::new(Arc::clone(&shared));
        h.set_volume(AudioDirection::Playback, 1000);
        assert_eq!(agent.queued_bytes(), 0, "no agent: nothing queued");
        let l = shared.take_level(AudioDirection::Playback);
        assert!(l.user_changed);
        assert_eq!(l.volume, vec![1000, 1000]);
        assert!(!shared.take_level(AudioDirection::Playback).user_changed);
        agent.set_up(true);
        h.set_mute(AudioDirection::Record, true);
        let sent = agent.take();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].cmd,
            AgentCommand::VolumeSync(AudioVolumeSync {
                is_playback: false,
                mute: true,
                volumes: vec![u16::MAX, u16::MAX]
            })
        );
        // The server's level does not count as the user's.
        shared.server_volume(AudioDirection::Playback, &[7]);
        assert_eq!(h.volume(AudioDirection::Playback), vec![7]);
        assert!(!shared.take_level(AudioDirection::Playback).user_changed);
    }
}
