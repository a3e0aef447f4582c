//! The record channel: the server's START/STOP/VOLUME/MUTE drive an
//! [`AudioSource`], opened only while the server asks for audio and the
//! user allows the microphone; captured audio goes out in 10 ms frames,
//! Opus-encoded when the server has the Opus cap (and the format is 48 kHz
//! stereo), raw otherwise, after one MODE and one START_MARK.
//!
//! The source captures on its own thread; the machine collects what it has
//! every [`POLL`] (a wake the runtime schedules while capturing), so the
//! channel thread never waits for the device.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::audio::{AudioSource, PcmFormat};
use super::{ChannelError, Ctx, Handled, Machine, Outputs};
use crate::client::audio::{AudioDirection, AudioEvent, AudioShared, bump};
use crate::client::events::SessionEvent;
use crate::connector::client::Linked;
use crate::proto::Message;
use crate::proto::caps::record as caps;
use crate::proto::channel::record::{RecordClient, RecordServer, RecordStart, format, mode};

/// How often captured audio is collected and sent.
pub const POLL: Duration = Duration::from_millis(20);
/// Samples per channel in one frame (10 ms at 48 kHz, SPICE's Opus frame).
pub const FRAME_SAMPLES: usize = 480;
/// Most captured audio collected per poll (a late poll does not send seconds at once).
pub const MAX_BACKLOG_MS: u64 = 200;

/// How the record channel encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSettings {
    /// Offer and use Opus (needs feature `opus`).
    pub opus: bool,
}

/// The record channel's state.
pub struct RecordMachine {
    source: Option<Box<dyn AudioSource>>,
    shared: Arc<AudioShared>,
    settings: RecordSettings,
    server_opus: bool,
    /// The format the server asked for (START), while it asks.
    format: Option<PcmFormat>,
    /// The mode used for this capture (Opus or raw).
    mode: u16,
    #[cfg(feature = "opus")]
    encoder: Option<crate::codec::opus::OpusEncoder>,
    /// The source is capturing.
    capturing: bool,
    /// MODE and START_MARK went out for this capture.
    marked: bool,
    /// Captured samples not sent yet (less than a frame after each poll).
    pending: Vec<i16>,
    wake_at: Option<Instant>,
}

impl RecordMachine {
    pub(crate) fn new(
        source: Option<Box<dyn AudioSource>>,
        shared: Arc<AudioShared>,
        settings: RecordSettings,
    ) -> Self {
        Self {
            source,
            shared,
            settings: RecordSettings {
                opus: settings.opus && cfg!(feature = "opus"),
            },
            server_opus: false,
            format: None,
            mode: mode::RAW,
            #[cfg(feature = "opus")]
            encoder: None,
            capturing: false,
            marked: false,
            pending: Vec::new(),
            wake_at: None,
        }
    }

    fn start(&mut self, s: RecordStart, ctx: &Ctx, out: &mut Outputs) {
        let ok = s.format == format::S16 && (1..=2).contains(&s.channels) && (8_000..=192_000).contains(&s.frequency);
        if !ok {
            tracing::warn!(?s, "record START with a format Sumac cannot capture; ignored");
            return;
        }
        let f = PcmFormat {
            channels: u8::try_from(s.channels).unwrap_or(2),
            rate: s.frequency,
        };
        // Opus only for its own format (spice-gtk: the codec must be capable of the rate).
        self.mode = if self.settings.opus && self.server_opus && f == PcmFormat::OPUS {
            mode::OPUS
        } else {
            mode::RAW
        };
        self.format = Some(f);
        self.marked = false;
        self.pending.clear();
        self.begin_capture(ctx, out);
    }

    /// Opens the source if the server asks, the user allows it and it is not open.
    fn begin_capture(&mut self, ctx: &Ctx, out: &mut Outputs) {
        let Some(f) = self.format else { return };
        if self.capturing || !self.shared.microphone_allowed() {
            return;
        }
        let Some(source) = self.source.as_mut() else {
            return;
        };
        if !source.start(f) {
            tracing::warn!("the microphone could not be opened: the guest records silence");
            return;
        }
        let level = self.shared.take_level(AudioDirection::Record);
        source.set_volume(&level.volume);
        source.set_mute(level.mute);
        self.capturing = true;
        self.wake_at = Some(ctx.now + POLL);
        self.shared.set_microphone_active(true);
        tracing::info!(format = ?f, opus = self.mode == mode::OPUS, "microphone in use (the server records)");
        out.event(SessionEvent::Audio(AudioEvent::Microphone(true)));
    }

    fn end_capture(&mut self, out: &mut Outputs) {
        if !self.capturing {
            return;
        }
        if let Some(source) = &mut self.source {
            source.stop();
        }
        self.capturing = false;
        self.wake_at = None;
        self.pending.clear();
        self.shared.set_microphone_active(false);
        tracing::info!("microphone released");
        out.event(SessionEvent::Audio(AudioEvent::Microphone(false)));
    }

    /// Collects what the source captured and sends whole frames.
    fn pump(&mut self, ctx: &Ctx, out: &mut Outputs) {
        let (Some(f), Some(source)) = (self.format, self.source.as_mut()) else {
            return;
        };
        let channels = usize::from(f.channels.max(1));
        let frame = FRAME_SAMPLES * channels;
        let backlog = u64::from(f.rate) * channels as u64 * MAX_BACKLOG_MS / 1000;
        let room = usize::try_from(backlog)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.pending.len());
        source.read(room, &mut self.pending);
        let whole = self.pending.len() / frame * frame;
        if whole == 0 {
            return;
        }
        if !self.marked {
            out.send(&RecordClient::Mode {
                time: ctx.mm_time,
                mode: self.mode,
                data: Vec::new(),
            });
            out.send(&RecordClient::StartMark { time: ctx.mm_time });
            self.marked = true;
        }
        let samples: Vec<i16> = self.pending.drain(..whole).collect();
        for chunk in samples.chunks_exact(frame) {
            let Some(data) = self.encode(chunk) else { continue };
            out.send(&RecordClient::Data {
                time: ctx.mm_time,
                data,
            });
            let c = self.shared.counters();
            bump(&c.record_frames, 1);
            bump(&c.record_samples, chunk.len() as u64);
        }
    }

    fn encode(&mut self, chunk: &[i16]) -> Option<Vec<u8>> {
        #[cfg(feature = "opus")]
        if self.mode == mode::OPUS {
            if self.encoder.is_none() {
                self.encoder = crate::codec::opus::OpusEncoder::new()
                    .map_err(|e| tracing::warn!(error = %e, "no Opus encoder"))
                    .ok();
            }
            return match self.encoder.as_mut()?.encode(chunk) {
                Ok(p) => Some(p.to_vec()),
                Err(e) => {
                    tracing::debug!(error = %e, "Opus encoding failed; frame skipped");
                    None
                }
            };
        }
        Some(chunk.iter().flat_map(|s| s.to_le_bytes()).collect())
    }

    fn level_event(out: &mut Outputs, volume: Option<Vec<u16>>, mute: Option<bool>) {
        if let Some(volume) = volume {
            out.event(SessionEvent::Audio(AudioEvent::Volume {
                direction: AudioDirection::Record,
                volume,
            }));
        }
        if let Some(mute) = mute {
            out.event(SessionEvent::Audio(AudioEvent::Mute {
                direction: AudioDirection::Record,
                mute,
            }));
        }
    }
}

impl Machine for RecordMachine {
    fn caps(&self) -> Vec<u32> {
        let mut c = vec![caps::VOLUME];
        if self.settings.opus {
            c.push(caps::OPUS);
        }
        c
    }

    fn linked(&mut self, link: &Linked, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        self.server_opus = link.server_caps.channel.has(caps::OPUS);
        Ok(())
    }

    fn message(&mut self, msg_type: u16, body: &[u8], ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        let m = match RecordServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(msg_type, error = %e, "undecodable record message; dropped");
                return Ok(Handled::Done);
            }
        };
        match m {
            RecordServer::Start(s) => self.start(s, ctx, out),
            RecordServer::Stop => {
                self.format = None;
                self.end_capture(out);
            }
            RecordServer::Volume(v) => {
                self.shared.server_volume(AudioDirection::Record, &v);
                if let Some(source) = &mut self.source {
                    source.set_volume(&v);
                }
                Self::level_event(out, Some(v), None);
            }
            RecordServer::Mute(m) => {
                self.shared.server_mute(AudioDirection::Record, m);
                if let Some(source) = &mut self.source {
                    source.set_mute(m);
                }
                Self::level_event(out, None, Some(m));
            }
            RecordServer::Base(_) | RecordServer::Unknown { .. } => return Ok(Handled::Skipped),
        }
        Ok(Handled::Done)
    }

    fn next_wake(&self) -> Option<Instant> {
        self.wake_at
    }

    fn wake(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        if self.capturing {
            self.pump(ctx, out);
            self.wake_at = Some(ctx.now + POLL);
        }
        Ok(())
    }

    /// The embedder changed the record volume/mute or the microphone permission.
    fn commands(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        let level = self.shared.take_level(AudioDirection::Record);
        if level.user_changed {
            if let Some(source) = &mut self.source {
                source.set_volume(&level.volume);
                source.set_mute(level.mute);
            }
            Self::level_event(out, Some(level.volume), Some(level.mute));
        }
        if self.shared.microphone_allowed() {
            self.begin_capture(ctx, out);
        } else {
            self.end_capture(out);
        }
        Ok(())
    }

    fn closed(&mut self) {
        if self.capturing
            && let Some(source) = &mut self.source
        {
            source.stop();
        }
        self.capturing = false;
        self.shared.set_microphone_active(false);
    }
}

#[cfg(test)]
#[path = "tests/record.rs"]
mod tests;
