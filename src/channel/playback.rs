//! The playback channel: START/STOP/DATA/MODE/VOLUME/MUTE/LATENCY decoded
//! into an [`AudioSink`], raw S16 or Opus (never CELT), and the sink's delay
//! driving the multimedia clock.
//!
//! # The clock (spice-gtk's rule)
//! At START (or the first packet for which a device that opens on its own
//! thread knows it), and then every [`DELAY_EVERY`] DATA packets, the sink's delay
//! `d` (what is buffered plus the device's output delay, measured before the
//! packet is queued: how long until the packet starts to be heard) sets the
//! session's multimedia time to `packet time − d` ([`Output::SetMmTime`]) and
//! publishes `d` ([`Output::PlaybackDelay`]). Video frames stamped with the
//! same time as a packet are then shown when it is heard. A sink that cannot
//! tell its delay (a file) leaves the clock alone.
//!
//! # Wake-ups
//! While a stream plays the machine asks the runtime to leave the socket
//! unread for [`READ_PAUSE`] after each batch: one wake-up then handles two
//! or three 10 ms packets instead of one (the delay measured is still the
//! one from the moment a packet is queued, so the clock stays right).
//!
//! # Hostile input
//! DATA before START, DATA in an unknown or undecodable mode, DATA larger
//! than [`MAX_DATA_BYTES`] (checked before the body is copied), Opus
//! garbage, a START with an unplayable format: dropped and counted
//! ([`AudioStats::playback_dropped`](crate::client::audio::AudioStats)); the
//! channel goes on.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::audio::{AudioSink, PcmFormat};
use super::{ChannelError, Ctx, Handled, Machine, Output, Outputs};
use crate::client::audio::{AudioDirection, AudioEvent, AudioShared, bump};
use crate::client::events::SessionEvent;
use crate::connector::client::Linked;
use crate::proto::Message;
use crate::proto::caps::playback as caps;
use crate::proto::channel::playback::{PlaybackServer, PlaybackStart, format, mode, msg};

/// Largest DATA body accepted (a 10 ms raw frame is 1,920 bytes; an Opus
/// packet at most a few KiB): larger ones are dropped without being copied.
pub const MAX_DATA_BYTES: usize = 256 << 10;
/// The sink's delay is measured at START and then every this many packets.
pub const DELAY_EVERY: u64 = 100;
/// While a stream plays, the socket is read this long after a batch (packets
/// come every 10 ms: two or three per wake-up instead of one). A sink must
/// hold more than this before it starts playing (the device sink: 50 ms).
pub const READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
/// Playable raw formats.
pub const RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;
pub const MAX_CHANNELS: u32 = 2;

/// How the playback channel decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackSettings {
    /// Offer and decode Opus (needs feature `opus`; `SPICE_DISABLE_OPUS` turns it off).
    pub opus: bool,
}

/// The playback channel's state.
pub struct PlaybackMachine {
    sink: Option<Box<dyn AudioSink>>,
    shared: Arc<AudioShared>,
    settings: PlaybackSettings,
    /// The mode of the DATA to come (MODE), RAW until told otherwise.
    mode: u16,
    #[cfg(feature = "opus")]
    decoder: Option<crate::codec::opus::OpusDecoder>,
    /// The stream's format while started.
    format: Option<PcmFormat>,
    packets: u64,
    /// The sink told its delay since START.
    delay_known: bool,
    /// Decoded samples, reused.
    pcm: Vec<i16>,
}

impl PlaybackMachine {
    /// `sink`: `None` when there is no device (data is still decoded and counted).
    pub(crate) fn new(sink: Option<Box<dyn AudioSink>>, shared: Arc<AudioShared>, settings: PlaybackSettings) -> Self {
        Self {
            sink,
            shared,
            settings: PlaybackSettings {
                opus: settings.opus && cfg!(feature = "opus"),
            },
            mode: mode::RAW,
            #[cfg(feature = "opus")]
            decoder: None,
            format: None,
            packets: 0,
            delay_known: false,
            pcm: Vec::new(),
        }
    }

    fn dropped(&self, why: &str) {
        bump(&self.shared.counters().playback_dropped, 1);
        tracing::debug!(why, "playback message dropped");
    }

    fn set_mode(&mut self, m: u16) {
        tracing::debug!(mode = m, "playback mode");
        let known = m == mode::RAW || (m == mode::OPUS && self.settings.opus);
        if !known {
            self.dropped("unknown or unoffered mode");
            self.mode = mode::INVALID;
            return;
        }
        self.mode = m;
    }

    fn start(&mut self, s: PlaybackStart, out: &mut Outputs) {
        let format = if self.mode == mode::OPUS {
            if (s.channels, s.frequency) != (2, PcmFormat::OPUS.rate) {
                tracing::debug!(
                    ?s,
                    "Opus playback START with another format: Opus decodes 48 kHz stereo"
                );
            }
            PcmFormat::OPUS
        } else {
            let ok =
                s.format == format::S16 && (1..=MAX_CHANNELS).contains(&s.channels) && RATES.contains(&s.frequency);
            if !ok {
                self.dropped("unplayable START format");
                self.stop_stream(out);
                return;
            }
            PcmFormat {
                channels: u8::try_from(s.channels).unwrap_or(2),
                rate: s.frequency,
            }
        };
        self.format = Some(format);
        self.packets = 0;
        self.delay_known = false;
        let level = self.shared.take_level(AudioDirection::Playback);
        if let Some(sink) = &mut self.sink {
            sink.start(format);
            sink.set_volume(&level.volume);
            sink.set_mute(level.mute);
        }
        tracing::debug!(?format, time = s.time, "playback started");
        self.sync_clock(s.time, out);
        out.event(SessionEvent::Audio(AudioEvent::PlaybackStarted {
            channels: format.channels,
            rate: format.rate,
        }));
    }

    fn stop_stream(&mut self, out: &mut Outputs) {
        if self.format.take().is_some() {
            if let Some(sink) = &mut self.sink {
                sink.stop();
            }
            out.push(Output::PlaybackDelay(None));
            out.event(SessionEvent::Audio(AudioEvent::PlaybackStopped));
        }
    }

    /// mm-time = `time` − sink delay (when the sink knows its delay); false when it does not (yet).
    fn sync_clock(&mut self, time: u32, out: &mut Outputs) -> bool {
        let Some(delay) = self.sink.as_ref().and_then(|s| s.delay_ms()) else {
            return false;
        };
        tracing::debug!(time, delay, "playback clock: mm-time = packet time - sink delay");
        self.shared
            .counters()
            .sink_delay_ms
            .store(u64::from(delay), Ordering::Relaxed);
        out.push(Output::PlaybackDelay(Some(delay)));
        out.push(Output::SetMmTime(time.wrapping_sub(delay)));
        self.delay_known = true;
        true
    }

    fn data(&mut self, body: &[u8], out: &mut Outputs) {
        let c = self.shared.counters();
        bump(&c.playback_packets, 1);
        bump(&c.playback_bytes, body.len().saturating_sub(4) as u64);
        if body.len() > MAX_DATA_BYTES {
            return self.dropped("oversized DATA");
        }
        let Some(time) = PlaybackServer::data_time(body) else {
            return self.dropped("short DATA");
        };
        let audio = body.get(4..).unwrap_or_default();
        if self.format.is_none() {
            return self.dropped("DATA before START");
        }
        self.pcm.clear();
        match self.mode {
            mode::RAW => self.pcm.extend(
                audio
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)])),
            ),
            #[cfg(feature = "opus")]
            mode::OPUS => {
                if self.decoder.is_none() {
                    match crate::codec::opus::OpusDecoder::new() {
                        Ok(d) => self.decoder = Some(d),
                        Err(e) => {
                            tracing::warn!(error = %e, "no Opus decoder");
                            return self.dropped("no Opus decoder");
                        }
                    }
                }
                let Some(dec) = self.decoder.as_mut() else { return };
                match dec.decode(audio) {
                    Ok(samples) => self.pcm.extend_from_slice(samples),
                    Err(e) => {
                        tracing::debug!(error = %e, "undecodable Opus packet");
                        return self.dropped("undecodable Opus");
                    }
                }
            }
            _ => return self.dropped("DATA in an unknown mode"),
        }
        // The delay before this packet is queued: when it starts to be heard. A device
        // opening asynchronously cannot tell it at START: ask again until it can.
        if self.packets.is_multiple_of(DELAY_EVERY) || !self.delay_known {
            self.sync_clock(time, out);
        }
        self.packets = self.packets.wrapping_add(1);
        bump(&self.shared.counters().playback_samples, self.pcm.len() as u64);
        if let Some(sink) = &mut self.sink {
            sink.play(&self.pcm);
        }
    }

    fn apply_level(&mut self, out: &mut Outputs, volume: Option<&[u16]>, mute: Option<bool>) {
        if let Some(v) = volume {
            if let Some(sink) = &mut self.sink {
                sink.set_volume(v);
            }
            out.event(SessionEvent::Audio(AudioEvent::Volume {
                direction: AudioDirection::Playback,
                volume: v.to_vec(),
            }));
        }
        if let Some(m) = mute {
            if let Some(sink) = &mut self.sink {
                sink.set_mute(m);
            }
            out.event(SessionEvent::Audio(AudioEvent::Mute {
                direction: AudioDirection::Playback,
                mute: m,
            }));
        }
    }

    fn publish_sink_stats(&self) {
        if let Some(sink) = &self.sink {
            let s = sink.stats();
            let c = self.shared.counters();
            c.underruns.store(s.underruns, Ordering::Relaxed);
            c.overflow_samples.store(s.overflow_samples, Ordering::Relaxed);
        }
    }
}

impl Machine for PlaybackMachine {
    fn caps(&self) -> Vec<u32> {
        let mut c = vec![caps::VOLUME, caps::LATENCY];
        if self.settings.opus {
            c.push(caps::OPUS);
        }
        c
    }

    fn linked(&mut self, link: &Linked, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        tracing::debug!(
            server_opus = link.server_caps.channel.has(caps::OPUS),
            client_opus = self.settings.opus,
            "playback channel linked"
        );
        Ok(())
    }

    fn message(&mut self, msg_type: u16, body: &[u8], _ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        // DATA is handled from the body in place: never copied, size checked first.
        if msg_type == msg::DATA {
            self.data(body, out);
            return Ok(Handled::Done);
        }
        let m = match PlaybackServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                // A malformed audio message costs that message, not the channel.
                tracing::debug!(msg_type, error = %e, "undecodable playback message");
                self.dropped("undecodable message");
                return Ok(Handled::Done);
            }
        };
        match m {
            PlaybackServer::Mode { mode, .. } => self.set_mode(mode),
            PlaybackServer::Start(s) => self.start(s, out),
            PlaybackServer::Stop => {
                self.publish_sink_stats();
                self.stop_stream(out);
            }
            PlaybackServer::Volume(v) => {
                self.shared.server_volume(AudioDirection::Playback, &v);
                self.apply_level(out, Some(&v), None);
            }
            PlaybackServer::Mute(m) => {
                self.shared.server_mute(AudioDirection::Playback, m);
                self.apply_level(out, None, Some(m));
            }
            PlaybackServer::Latency(ms) => {
                if let Some(sink) = &mut self.sink {
                    sink.set_latency_hint(ms);
                }
            }
            PlaybackServer::Data { .. } | PlaybackServer::Base(_) | PlaybackServer::Unknown { .. } => {
                return Ok(Handled::Skipped);
            }
        }
        Ok(Handled::Done)
    }

    fn after_batch(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        self.publish_sink_stats();
        Ok(())
    }

    /// Packets gather while a stream plays (the sink's buffer covers the pause).
    fn read_pause(&self) -> Option<std::time::Duration> {
        self.format.is_some().then_some(READ_PAUSE)
    }

    /// The embedder changed the volume or mute.
    fn commands(&mut self, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        let level = self.shared.take_level(AudioDirection::Playback);
        if level.user_changed {
            self.apply_level(out, Some(&level.volume), Some(level.mute));
        }
        Ok(())
    }

    fn closed(&mut self) {
        if self.format.take().is_some()
            && let Some(sink) = &mut self.sink
        {
            sink.stop();
        }
    }
}

#[cfg(test)]
#[path = "tests/playback.rs"]
mod tests;
