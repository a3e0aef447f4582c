//! [`LaunchRequest`] (what the command line asks for) and its merge with the
//! target into a [`Launch`].

use thiserror::Error;

use super::Target;
use super::options::{AutoResize, Compression, KeyRemap, KioskQuit, MouseModeArg, Renderer};
use super::spice_options::SpiceOptions;
use crate::client::SessionOptions;
use crate::client::config::{CaSource, ConfigError, ConnectionConfig};
use crate::client::usb::{UsbOptions, UsbPolicy};
use crate::client::vv::{Effect, Hotkey, HotkeyAction, Hotkeys, VvError, VvFile, VvSource};
use crate::proto::ChannelType;

/// What the command line asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchRequest {
    /// `None`: show the connect window.
    pub target: Option<Target>,
    pub title: Option<String>,
    pub full_screen: bool,
    /// 10–400.
    pub zoom: Option<u32>,
    /// `-H`: replaces the whole hotkey set.
    pub hotkeys: Option<Hotkeys>,
    pub kiosk: bool,
    pub kiosk_quit: KioskQuit,
    pub auto_resize: Option<AutoResize>,
    pub keymap: Vec<KeyRemap>,
    pub renderer: Option<Renderer>,
    /// `--mouse-mode`; `None`: client mode when offered.
    pub mouse_mode: Option<MouseModeArg>,
    /// `--reconnect`: relink by itself when the server goes away.
    pub reconnect: bool,
    pub verbose: bool,
    /// `--debug` or `--spice-debug`.
    pub debug: bool,
    pub spice: SpiceOptions,
}

impl LaunchRequest {
    /// The `tracing` filter the options ask for (`RUST_LOG` still wins in the binary).
    pub fn log_filter(&self) -> &'static str {
        if self.debug {
            "sumac=debug,info"
        } else if self.verbose {
            "sumac=info,warn"
        } else {
            "warn"
        }
    }

    /// Makes the file names of this command line absolute against `cwd`:
    /// the `.vv` target, `--spice-ca-file`, `--spice-share-cd`,
    /// `--spice-shared-dir` and `--usb-disk`. For a command line forwarded
    /// from another process, whose working directory is not ours.
    pub fn relative_to(&mut self, cwd: &std::path::Path) {
        let fix = |p: &mut std::path::PathBuf| {
            if p.is_relative() {
                *p = cwd.join(&*p);
            }
        };
        if let Some(Target::VvFile(p)) = &mut self.target {
            fix(p);
        }
        let s = &mut self.spice;
        s.ca_file.iter_mut().for_each(fix);
        s.share_cd.iter_mut().for_each(fix);
        s.shared_dir.iter_mut().for_each(fix);
        s.usb_disks.iter_mut().for_each(|d| fix(&mut d.path));
    }
}

/// Why the target cannot be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LaunchError {
    #[error("{0}")]
    Uri(#[from] ConfigError),
    #[error("{source}")]
    Vv {
        #[source]
        source: VvError,
    },
}

impl From<VvError> for LaunchError {
    fn from(source: VvError) -> Self {
        Self::Vv { source }
    }
}

/// A target resolved and merged with the options: everything needed to open
/// the session and its windows.
#[derive(Debug, Clone)]
pub struct Launch {
    pub connection: ConnectionConfig,
    pub session: SessionOptions,
    /// Window title template (`%d` = monitor number; see [`crate::client::vv::title_for_monitor`]).
    pub title: Option<String>,
    pub fullscreen: bool,
    pub hotkeys: Hotkeys,
    /// The release-cursor hotkey `-H` or the `.vv` file's `release-cursor`
    /// key asks for; `None` when neither names one (kiosk mode, `-H` without
    /// it, or no such key), and the embedder's own choice applies.
    pub release_cursor: Option<Hotkey>,
    pub disable_effects: Vec<Effect>,
    pub enable_smartcard: bool,
    pub enable_usbredir: bool,
    pub usb_autoshare: bool,
    pub usb_filter: Option<String>,
    /// The parsed `.vv` file, if the target was one.
    pub vv: Option<VvFile>,
}

impl LaunchRequest {
    /// Reads the target (a `.vv` file is read once, and deleted if it says
    /// `delete-this-file=1` unless `VIRT_VIEWER_KEEP_FILE` is set) and merges
    /// it with the options. `Ok(None)` when there is no target.
    pub fn resolve(&self) -> Result<Option<Launch>, LaunchError> {
        let vv = match &self.target {
            None => return Ok(None),
            Some(Target::Uri(uri)) => {
                return Ok(Some(self.merge(ConnectionConfig::from_uri(uri)?, None)));
            }
            Some(Target::VvFile(path)) => VvFile::load(&VvSource::Path(path.clone()))?,
            Some(Target::Stdin) => VvFile::load(&VvSource::Stdin)?,
        };
        Ok(Some(self.merge(vv.connection.clone(), Some(vv))))
    }

    /// Merges the options over a connection (and the `.vv` it came from).
    pub fn merge(&self, mut connection: ConnectionConfig, vv: Option<VvFile>) -> Launch {
        let s = &self.spice;
        if let Some(ca) = &s.ca_file {
            connection.ca = Some(CaSource::File(ca.clone()));
        }
        if let Some(subject) = &s.host_subject {
            connection.host_subject = Some(subject.clone());
        }
        if let Some(secure) = &s.secure_channels {
            connection.secure_channels = secure.clone();
        }
        if let Some(mode) = self.mouse_mode {
            connection.mouse_mode = Some(mode.mode());
        }

        // A kiosk that quits when the session ends must not stay to reconnect.
        let reconnect = self.reconnect && !(self.kiosk && self.kiosk_quit == KioskQuit::OnDisconnect);
        let mut session = SessionOptions {
            preferred_compression: s.preferred_compression.map(Compression::to_spice),
            shared_folder: s
                .shared_dir
                .as_ref()
                .map(|dir| crate::client::sharing::SharedFolder::new(dir, s.shared_dir_read_only)),
            smartcard: (s.smartcard || vv.as_ref().and_then(|v| v.enable_smartcard) == Some(true)).then(|| {
                crate::client::sharing::SmartcardConfig {
                    certificates: s
                        .smartcard_certificates
                        .as_deref()
                        .map(crate::client::sharing::SmartcardConfig::parse_certificates)
                        .unwrap_or_default(),
                    database: s.smartcard_db.clone(),
                }
            }),
            reconnect: reconnect.then(crate::client::ReconnectPolicy::default),
            preferred_video_codec: s.preferred_video_codec.map(super::VideoCodec::to_spice),
            ..SessionOptions::default()
        };
        let mut disabled: Vec<ChannelType> = vv.as_ref().map(|v| v.disable_channels.clone()).unwrap_or_default();
        if s.disable_audio {
            disabled.extend([ChannelType::PLAYBACK, ChannelType::RECORD]);
        }
        if s.disable_usbredir {
            disabled.push(ChannelType::USBREDIR);
        }
        disabled.dedup();
        for ty in disabled {
            if !session.disabled_channels.contains(&ty) {
                session.disabled_channels.push(ty);
            }
        }
        if let Some(bytes) = s.cache_size {
            session.image_cache_bytes = bytes;
        }
        if let Some(bytes) = s.glz_window_size {
            session.glz_window_bytes = bytes;
        }

        let (hotkeys, release_cursor) = if self.kiosk {
            (Hotkeys::none(), None)
        } else if let Some(h) = &self.hotkeys {
            (h.clone(), h.get(HotkeyAction::ReleaseCursor).cloned())
        } else {
            let mut h = Hotkeys::default();
            let mut release = None;
            if let Some(v) = &vv {
                v.apply_hotkeys(&mut h);
                release = v
                    .hotkeys
                    .iter()
                    .rev()
                    .find(|(action, _)| *action == HotkeyAction::ReleaseCursor)
                    .map(|(_, hk)| hk.clone());
            }
            (h, release)
        };
        let from_vv = |f: fn(&VvFile) -> Option<bool>| vv.as_ref().and_then(f).unwrap_or(false);
        let disable_effects = s
            .disable_effects
            .clone()
            .unwrap_or_else(|| vv.as_ref().map(|v| v.disable_effects.clone()).unwrap_or_default());
        let color_depth = s.color_depth.or_else(|| vv.as_ref().and_then(|v| v.color_depth));
        session.agent.display = crate::client::agent::display_effects(&disable_effects, color_depth);
        if let Some(max) = crate::client::agent::max_clipboard_from_env() {
            session.agent.max_clipboard = max;
        }
        let enable_usbredir = !s.disable_usbredir && vv.as_ref().and_then(|v| v.enable_usbredir).unwrap_or(true);
        let usb_autoshare = from_vv(|v| v.enable_usb_autoshare);
        let usb_filter = s
            .usbredir_auto_redirect_filter
            .clone()
            .or_else(|| vv.as_ref().and_then(|v| v.usb_filter.clone()));
        session.usb = usb_options(s, enable_usbredir, usb_autoshare, usb_filter.as_deref());
        Launch {
            title: self.title.clone().or_else(|| vv.as_ref().and_then(|v| v.title.clone())),
            fullscreen: self.full_screen || self.kiosk || from_vv(|v| v.fullscreen),
            hotkeys,
            release_cursor,
            disable_effects,
            enable_smartcard: s.smartcard || from_vv(|v| v.enable_smartcard),
            enable_usbredir,
            usb_autoshare,
            usb_filter,
            connection,
            session,
            vv,
        }
    }
}

/// The session's USB options: the start-up disks, the auto-connect and
/// redirect-on-connect filters (an unusable filter falls back to the default
/// one, with a warning), the physical-device backend when redirection is on.
fn usb_options(s: &SpiceOptions, enabled: bool, autoshare: bool, filter: Option<&str>) -> UsbOptions {
    let policy =
        UsbPolicy::from_strings(autoshare, filter, s.usbredir_redirect_on_connect.as_deref()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unusable USB filter; using the default");
            UsbPolicy {
                auto_connect: autoshare,
                ..UsbPolicy::default()
            }
        });
    UsbOptions {
        enabled,
        disks: s.usb_disks.clone(),
        policy,
        backend: if enabled {
            crate::client::usb::default_backend()
        } else {
            None
        },
    }
}
