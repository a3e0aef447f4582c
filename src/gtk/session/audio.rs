//! The audio side of [`Session`]: the sound device at connect, the
//! `volume`/`mute`/`microphone-*` properties kept in step with the
//! session's [`AudioEvent`]s and forwarded to its
//! [`AudioHandle`](crate::client::AudioHandle).

use super::{Session, imp};
use crate::client::SessionOptions;
use crate::client::audio::{AudioDirection, AudioEvent};
use crate::proto::ChannelType;
use gtk::glib::subclass::prelude::*;

/// The current volume as one level, 0.0..=1.0 (the loudest channel).
fn level(volume: &[u16]) -> f64 {
    f64::from(volume.iter().copied().max().unwrap_or(u16::MAX)) / f64::from(u16::MAX)
}

/// What [`Session::audio_options`] makes of `options` for a session whose
/// `audio-enabled` and `microphone-allowed` are as given.
pub(super) fn audio_options(mut options: SessionOptions, enabled: bool, microphone_allowed: bool) -> SessionOptions {
    let disabled = |o: &SessionOptions, t| o.disabled_channels.contains(&t);
    if !enabled {
        for t in [ChannelType::PLAYBACK, ChannelType::RECORD] {
            if !disabled(&options, t) {
                options.disabled_channels.push(t);
            }
        }
    }
    let wants_audio = !(disabled(&options, ChannelType::PLAYBACK) && disabled(&options, ChannelType::RECORD));
    #[cfg(feature = "audio")]
    if wants_audio && options.media.audio.is_none() {
        options.media.audio = Some(std::sync::Arc::new(crate::client::audio::device::DeviceBackend::new()));
    }
    #[cfg(not(feature = "audio"))]
    if wants_audio && options.media.audio.is_none() {
        tracing::info!("built without the `audio` feature: sound is decoded, not played");
    }
    options.microphone &= microphone_allowed;
    options
}

impl Session {
    /// The options of a session started now: the sound device (unless audio
    /// is off or the embedder gave its own back-end), the microphone choice.
    pub(super) fn audio_options(&self, options: SessionOptions) -> SessionOptions {
        let imp = self.imp();
        audio_options(options, imp.audio_enabled.get(), imp.microphone_allowed.get())
    }

    pub(super) fn audio_event(&self, e: &AudioEvent) {
        let imp = self.imp();
        match e {
            AudioEvent::Volume {
                direction: AudioDirection::Playback,
                volume,
            } => {
                let v = level(volume);
                if (imp.volume.replace(v) - v).abs() > f64::EPSILON {
                    self.notify_volume();
                }
            }
            AudioEvent::Mute {
                direction: AudioDirection::Playback,
                mute,
            } => {
                let old = imp.mute.replace(*mute);
                if old != *mute {
                    self.notify_mute();
                }
            }
            AudioEvent::Microphone(on) => {
                let old = imp.microphone_active.replace(*on);
                if old != *on {
                    self.notify_microphone_active();
                }
            }
            _ => {}
        }
    }
}

impl imp::Session {
    fn audio(&self) -> Option<crate::client::AudioHandle> {
        self.handle.borrow().as_ref().map(crate::client::SessionHandle::audio)
    }

    pub(super) fn set_volume_prop(&self, v: f64) {
        let v = v.clamp(0.0, 1.0);
        if (self.volume.replace(v) - v).abs() <= f64::EPSILON {
            return;
        }
        if let Some(a) = self.audio() {
            // In range after the clamp.
            let raw = (v * f64::from(u16::MAX)).round() as u16;
            a.set_volume(AudioDirection::Playback, raw);
        }
        self.obj().notify_volume();
    }

    pub(super) fn set_mute_prop(&self, mute: bool) {
        if self.mute.replace(mute) == mute {
            return;
        }
        if let Some(a) = self.audio() {
            a.set_mute(AudioDirection::Playback, mute);
        }
        self.obj().notify_mute();
    }

    pub(super) fn set_microphone_allowed_prop(&self, allowed: bool) {
        if self.microphone_allowed.replace(allowed) == allowed {
            return;
        }
        if let Some(a) = self.audio() {
            a.set_microphone_allowed(allowed);
        }
        self.obj().notify_microphone_allowed();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn level_is_the_loudest_channel() {
        assert_eq!(super::level(&[0, u16::MAX]), 1.0);
        assert_eq!(super::level(&[]), 1.0);
        assert!((super::level(&[32768, 0]) - 0.5).abs() < 0.001);
    }
}
