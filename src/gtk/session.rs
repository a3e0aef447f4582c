//! [`Session`]: a SPICE session as a GObject (GType `SumacSession`).
//!
//! It wraps [`client::connect`](crate::client::connect): the channel threads
//! run on their own, and their [`SessionEvent`]s are pumped onto the GTK main
//! context, where they become GObject signals and property changes and are
//! routed to the [`Display`] widgets of the session.

use super::display::Display;
use crate::client::config::ConfigError;
use crate::client::{ClientError, ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use crate::display::{DisplayState, MonitorHead};
use crate::proto::ChannelType;
use crate::proto::consts::mouse_mode;
use gtk::glib;
use gtk::glib::prelude::*;
use gtk::glib::subclass::prelude::*;
use std::sync::{Arc, Mutex};

/// Why [`Session::connect_uri`] could not start a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The URI is not a valid SPICE URI.
    #[error("invalid SPICE URI: {0}")]
    Uri(#[from] ConfigError),
    /// The runtime refused to start (bad settings, thread creation failed).
    #[error(transparent)]
    Client(#[from] ClientError),
}

mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    #[derive(glib::Properties)]
    #[properties(wrapper_type = super::Session)]
    pub struct Session {
        /// Whether the main channel is linked.
        #[property(get)]
        pub(super) connected: Cell<bool>,
        /// Whether a display channel has drawn its first complete frame.
        #[property(get)]
        pub(super) ready: Cell<bool>,
        /// The guest's name (SPICE_MSG_MAIN_NAME), empty until the server sends it.
        #[property(get)]
        pub(super) name: RefCell<String>,
        /// Whether the server uses client mouse mode (absolute positions).
        #[property(get)]
        pub(super) client_mouse_mode: Cell<bool>,
        /// The automatic reconnect's attempt under way (0: none).
        #[property(get)]
        pub(super) reconnect_attempt: Cell<u32>,
        /// The last session ended because the server refused the password.
        #[property(get)]
        pub(super) auth_failed: Cell<bool>,
        /// Open the playback and record channels on the sound device at the
        /// next connect (false: neither channel is opened, as
        /// `--spice-disable-audio`).
        #[property(get, set, default = true)]
        pub(super) audio_enabled: Cell<bool>,
        /// Playback volume, 0.0..=1.0: follows the guest's mixer (server
        /// VOLUME); setting it changes the local stream and the guest mixer
        /// (through the agent).
        #[property(get, set = Self::set_volume_prop, minimum = 0.0, maximum = 1.0, default = 1.0)]
        pub(super) volume: Cell<f64>,
        /// Playback muted; same two ways as `volume`.
        #[property(get, set = Self::set_mute_prop)]
        pub(super) mute: Cell<bool>,
        /// Whether the guest may record from the microphone (when the server
        /// asks); turning it off stops a running capture at once.
        #[property(get, set = Self::set_microphone_allowed_prop, default = true)]
        pub(super) microphone_allowed: Cell<bool>,
        /// Whether the microphone is being captured now (show it to the user).
        #[property(get)]
        pub(super) microphone_active: Cell<bool>,
        /// Share the CLIPBOARD and PRIMARY selections with the guest (both ways, lazily).
        #[property(get, set = Self::set_share_clipboard_prop, default = true)]
        pub(super) share_clipboard: Cell<bool>,
        /// Resize the guest to the displays (MONITORS_CONFIG through the agent).
        #[property(get, set = Self::set_resize_guest_prop)]
        pub(super) resize_guest: Cell<bool>,
        /// Whether a guest agent is connected.
        #[property(get)]
        pub(super) agent_connected: Cell<bool>,
        pub(super) clip: super::clipboard::ClipState,
        pub(super) agent: super::agent::AgentState,
        pub(super) ports: super::ports::PortState,
        pub(super) smartcard: super::sharing::SmartcardState,
        pub(super) handle: RefCell<Option<SessionHandle>>,
        /// Incremented by each connect: events of an older session are ignored.
        pub(super) generation: Cell<u64>,
        pub(super) displays: RefCell<Vec<glib::WeakRef<Display>>>,
        pub(super) monitors: RefCell<BTreeMap<u8, Vec<MonitorHead>>>,
        /// The USB device list model, made by the first `usb_devices()`.
        pub(super) usb_model: RefCell<Option<gtk::gio::ListStore>>,
        /// Why the last session ended (`None`: it was asked to, or still runs).
        pub(super) last_error: RefCell<Option<Arc<ClientError>>>,
    }

    impl Default for Session {
        fn default() -> Self {
            Self {
                connected: Cell::new(false),
                ready: Cell::new(false),
                name: RefCell::default(),
                client_mouse_mode: Cell::new(false),
                audio_enabled: Cell::new(true),
                volume: Cell::new(1.0),
                mute: Cell::new(false),
                microphone_allowed: Cell::new(true),
                microphone_active: Cell::new(false),
                reconnect_attempt: Cell::new(0),
                auth_failed: Cell::new(false),
                share_clipboard: Cell::new(true),
                resize_guest: Cell::new(false),
                agent_connected: Cell::new(false),
                clip: super::clipboard::ClipState::default(),
                agent: super::agent::AgentState::default(),
                ports: super::ports::PortState::default(),
                smartcard: super::sharing::SmartcardState::default(),
                handle: RefCell::default(),
                generation: Cell::new(0),
                displays: RefCell::default(),
                monitors: RefCell::default(),
                usb_model: RefCell::default(),
                last_error: RefCell::default(),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Session {
        const NAME: &'static str = "SumacSession";
        type Type = super::Session;
    }

    #[glib::derived_properties]
    impl ObjectImpl for Session {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                let mut signals = vec![
                    glib::subclass::Signal::builder("connected").build(),
                    glib::subclass::Signal::builder("disconnected")
                        .param_types([String::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("monitors-changed")
                        .param_types([u32::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("ready").build(),
                    glib::subclass::Signal::builder("channel-up")
                        .param_types([String::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("channel-down")
                        .param_types([String::static_type(), String::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("usb-changed").build(),
                    glib::subclass::Signal::builder("usb-error")
                        .param_types([String::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("channel-failed")
                        .param_types([String::static_type(), String::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("reconnecting")
                        .param_types([u32::static_type(), String::static_type()])
                        .build(),
                ];
                signals.extend(super::agent::signals());
                signals.extend(super::ports::signals());
                signals.extend(super::sharing::signals());
                signals
            })
        }

        fn dispose(&self) {
            if let Some(handle) = self.handle.take() {
                handle.disconnect();
            }
        }
    }
}

/// How long events gather between two wakeups of the main loop while they
/// keep coming (an event arriving after a quiet moment is handled at once).
/// Half a 60 Hz frame: measured with `benches/e2e/cpu.py` on the text
/// workload, 8 ms instead of 2 ms halves the main thread's wakeups (7,400 →
/// 3,300 in 12 s) and cuts its CPU by a quarter.
const EVENT_BATCH: std::time::Duration = std::time::Duration::from_millis(8);

pub mod agent;
mod audio;
mod clipboard;
mod early;
mod ports;
mod sharing;
mod usb;
mod video;
pub use early::Started;
pub use video::shared_video;

glib::wrapper! {
    /// A SPICE session (GType `SumacSession`).
    ///
    /// Create it with [`Session::new`], create one [`Display`] per monitor
    /// with [`Display::new`], then call [`Session::connect_uri`] (or
    /// [`Session::connect`]). Signals:
    /// - `connected()`: the main channel is linked;
    /// - `disconnected(reason: String)`: the session ended; `reason` is the
    ///   error text, empty when [`Session::disconnect`] was called;
    /// - `monitors-changed(channel_id: u32)`: a display channel's monitor
    ///   configuration changed (see [`Session::monitors`]);
    /// - `ready()`: a display channel drew its first complete frame;
    /// - `channel-up(name)`, `channel-down(name, error)`: channel lifecycle;
    /// - `usb-changed()`: the USB device list, a device's state or the free
    ///   channel count changed (see [`Session::usb`]);
    /// - `usb-error(text)`: a device the policy wanted redirected could not be.
    /// - `channel-failed(name, error)`: a channel other than main ended with
    ///   an error while the session goes on (its displays show the error);
    /// - `reconnecting(attempt, reason)`: the server went away and the
    ///   session relinks by itself ([`SessionOptions::reconnect`]); the
    ///   displays show "Reconnecting…" with Cancel ([`Session::cancel_reconnect`]),
    ///   `connected()` comes again when it worked.
    ///
    /// Audio properties: `audio-enabled` (read at connect), `volume`
    /// (0.0..=1.0) and `mute` (both ways with the guest's mixer),
    /// `microphone-allowed`, `microphone-active` (read-only).
    ///
    /// Guest agent: `share-clipboard` (default true), `resize-guest`
    /// (default false), `agent-connected` (read-only); signals
    /// `clipboard-refused(to_guest, size, max)`,
    /// `file-transfer-started(id, name, size)`,
    /// `file-transfer-progress(id, sent, total)`,
    /// `file-transfer-done(id, name, success, message)`; [`Session::send_file`].
    ///
    /// Ports: [`Session::machine`] (QMP), [`Session::port_names`], [`Session::port`],
    /// signals `ports-changed()`, `port-readable(name)`; smartcard: `smartcard-changed()`.
    pub struct Session(ObjectSubclass<imp::Session>);
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session that is not connected yet.
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// Parses a `spice://`, `spice+tls://` or `spice+unix://` URI and
    /// connects with default [`SessionOptions`].
    pub fn connect_uri(&self, uri: &str) -> Result<(), SessionError> {
        let config = ConnectionConfig::from_uri(uri)?;
        self.connect(config, SessionOptions::default())?;
        Ok(())
    }

    /// Starts the session (returns at once; progress comes as signals).
    /// A session already running is disconnected first. Without video
    /// decoders in `options.media`, the process's GStreamer decoders are
    /// used ([`shared_video`]).
    pub fn connect(&self, config: ConnectionConfig, options: SessionOptions) -> Result<(), ClientError> {
        self.disconnect();
        self.imp().last_error.replace(None);
        let options = early::with_video(self.audio_options(options));
        let (handle, rx) = crate::client::connect(config, options)?;
        self.attach(handle, rx);
        Ok(())
    }

    /// Disconnects (joins the channel threads; takes milliseconds) and emits
    /// `disconnected("")`. Does nothing when not connected.
    pub fn disconnect(&self) {
        let imp = self.imp();
        let Some(handle) = imp.handle.take() else { return };
        // Events still queued belong to the finished session.
        imp.generation.set(imp.generation.get().wrapping_add(1));
        handle.disconnect();
        self.ended(None);
    }

    /// Stops an automatic reconnect under way: the session ends with the
    /// error that started it (`disconnected(reason)`).
    pub fn cancel_reconnect(&self) {
        if let Some(h) = self.imp().handle.borrow().as_ref() {
            h.cancel_reconnect();
        }
    }

    /// Connects to `channel-failed(name, error)`.
    pub fn connect_channel_failed<F: Fn(&Self, &str, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "channel-failed",
            false,
            glib::closure_local!(move |s: &Self, name: &str, error: &str| f(s, name, error)),
        )
    }

    /// Connects to `reconnecting(attempt, reason)`.
    pub fn connect_reconnecting<F: Fn(&Self, u32, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "reconnecting",
            false,
            glib::closure_local!(move |s: &Self, attempt: u32, reason: &str| f(s, attempt, reason)),
        )
    }

    /// Whether a session runs (connecting or connected).
    pub fn is_running(&self) -> bool {
        self.imp().handle.borrow().is_some()
    }

    /// Why the last session ended, typed (the `disconnected` signal gives
    /// its text); `None` after a requested disconnect or while running.
    pub fn last_error(&self) -> Option<Arc<ClientError>> {
        self.imp().last_error.borrow().clone()
    }

    /// The shared decoded surfaces of display channel `channel_id`, once it exists.
    pub fn display_state(&self, channel_id: u8) -> Option<Arc<Mutex<DisplayState>>> {
        self.imp().handle.borrow().as_ref()?.display(channel_id)
    }

    /// Keyboard and mouse input of the running session (commands are
    /// dropped until the inputs channel is linked).
    pub fn inputs(&self) -> Option<crate::client::inputs::InputsHandle> {
        self.imp().handle.borrow().as_ref().map(SessionHandle::inputs)
    }

    /// The last monitor configuration of display channel `channel_id` (empty
    /// until the server sends one).
    pub fn monitors(&self, channel_id: u8) -> Vec<MonitorHead> {
        self.imp()
            .monitors
            .borrow()
            .get(&channel_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Runs `f` with the running session's handle (e.g. for statistics).
    pub fn with_handle<R>(&self, f: impl FnOnce(&SessionHandle) -> R) -> Option<R> {
        self.imp().handle.borrow().as_ref().map(f)
    }

    /// Connects to `connected()`.
    pub fn connect_connected<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure("connected", false, glib::closure_local!(move |s: &Self| f(s)))
    }

    /// Connects to `disconnected(reason)`; `reason` is empty for a requested disconnect.
    pub fn connect_disconnected<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "disconnected",
            false,
            glib::closure_local!(move |s: &Self, reason: &str| f(s, reason)),
        )
    }

    /// Connects to `monitors-changed(channel_id)`.
    pub fn connect_monitors_changed<F: Fn(&Self, u32) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "monitors-changed",
            false,
            glib::closure_local!(move |s: &Self, channel: u32| f(s, channel)),
        )
    }

    /// Connects to `ready()`.
    pub fn connect_ready<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure("ready", false, glib::closure_local!(move |s: &Self| f(s)))
    }

    pub(crate) fn register_display(&self, display: &Display) {
        let mut displays = self.imp().displays.borrow_mut();
        displays.retain(|w| w.upgrade().is_some());
        displays.push(display.downgrade());
    }

    fn displays_of(&self, channel_id: u8) -> Vec<Display> {
        self.imp()
            .displays
            .borrow()
            .iter()
            .filter_map(glib::WeakRef::upgrade)
            .filter(|d| d.channel_id() == channel_id)
            .collect()
    }

    fn all_displays(&self) -> Vec<Display> {
        self.imp()
            .displays
            .borrow()
            .iter()
            .filter_map(glib::WeakRef::upgrade)
            .collect()
    }

    fn ended(&self, error: Option<String>) {
        let imp = self.imp();
        if imp.handle.take().is_some() {
            // Its devices went with it.
            self.sync_usb_model();
            self.emit_by_name::<()>("usb-changed", &[]);
        }
        if imp.reconnect_attempt.replace(0) != 0 {
            self.notify_reconnect_attempt();
        }
        if imp.connected.replace(false) {
            self.notify_connected();
        }
        if imp.ready.replace(false) {
            self.notify_ready();
        }
        if imp.microphone_active.replace(false) {
            self.notify_microphone_active();
        }
        self.agent_connected_event(false);
        self.clipboard_detach();
        self.ports_ended();
        self.smartcard_channel_down(None);
        for d in self.all_displays() {
            d.session_ended(error.as_deref());
        }
        let reason = error.unwrap_or_default();
        self.emit_by_name::<()>("disconnected", &[&reason]);
    }

    fn dispatch(&self, event: SessionEvent) {
        let imp = self.imp();
        match event {
            SessionEvent::ChannelUp { channel, tls } => {
                tracing::debug!(%channel, tls, "channel up");
                if channel.channel_type == ChannelType::MAIN && !imp.connected.replace(true) {
                    self.notify_connected();
                    self.emit_by_name::<()>("connected", &[]);
                }
                if channel.channel_type == ChannelType::DISPLAY {
                    for d in self.displays_of(channel.id) {
                        d.channel_up();
                    }
                }
                self.emit_by_name::<()>("channel-up", &[&channel.to_string()]);
            }
            SessionEvent::ChannelDown { channel, error } => {
                let text = error.as_ref().map(|e| e.to_string()).unwrap_or_default();
                self.emit_by_name::<()>("channel-down", &[&channel.to_string(), &text]);
                self.smartcard_channel_down(Some(channel));
                if error.is_some() && channel.channel_type != ChannelType::MAIN {
                    self.channel_failed(channel, &text);
                }
            }
            SessionEvent::Migrated { kind } => tracing::info!(?kind, "session migrated"),
            SessionEvent::Reconnecting { attempt, error, .. } => {
                tracing::info!(attempt, error = %error, "reconnecting");
                if imp.connected.replace(false) {
                    self.notify_connected();
                }
                if imp.ready.replace(false) {
                    self.notify_ready();
                }
                if imp.reconnect_attempt.replace(attempt) != attempt {
                    self.notify_reconnect_attempt();
                }
                for d in self.all_displays() {
                    d.reconnecting(attempt);
                }
                self.emit_by_name::<()>("reconnecting", &[&attempt, &error.to_string()]);
            }
            SessionEvent::State(crate::client::SessionState::Up) if imp.reconnect_attempt.get() != 0 => {
                imp.reconnect_attempt.set(0);
                self.notify_reconnect_attempt();
            }
            SessionEvent::Init { current_mouse_mode, .. } => self.set_mouse_mode(current_mouse_mode),
            SessionEvent::MouseMode { current, .. } => self.set_mouse_mode(u32::from(current)),
            SessionEvent::Name(name) if *imp.name.borrow() != name => {
                imp.name.replace(name);
                self.notify_name();
            }
            SessionEvent::Display { channel_id, event } => {
                let marked = matches!(event, crate::display::DisplayEvent::Mark);
                for d in self.displays_of(channel_id) {
                    d.handle_display_event(&event);
                }
                if marked && !imp.ready.replace(true) {
                    self.notify_ready();
                    self.emit_by_name::<()>("ready", &[]);
                }
            }
            SessionEvent::Cursor { channel_id, event } => {
                for d in self.displays_of(channel_id) {
                    d.handle_cursor_event(&event);
                }
            }
            SessionEvent::Monitors { channel_id, heads } => {
                imp.monitors.borrow_mut().insert(channel_id, heads);
                for d in self.displays_of(channel_id) {
                    d.monitors_changed();
                }
                self.emit_by_name::<()>("monitors-changed", &[&u32::from(channel_id)]);
            }
            SessionEvent::Audio(e) => self.audio_event(&e),
            SessionEvent::AgentConnected(up) => self.agent_connected_event(up),
            SessionEvent::Agent(e) => self.agent_event(e),
            SessionEvent::Disconnected { error } => {
                let auth = error.as_ref().is_some_and(|e| e.is_auth_error());
                if imp.auth_failed.replace(auth) != auth {
                    self.notify_auth_failed();
                }
                imp.last_error.replace(error.clone());
                let text = error.map(|e| e.to_string());
                if let Some(t) = &text {
                    tracing::info!(error = %t, "session ended");
                }
                self.ended(text);
            }
            SessionEvent::Smartcard(e) => self.smartcard_event(&e),
            SessionEvent::Usb(e) => {
                self.sync_usb_model();
                if let crate::client::UsbEvent::AutoConnectFailed { error, .. } = &e {
                    self.emit_by_name::<()>("usb-error", &[error]);
                }
                self.emit_by_name::<()>("usb-changed", &[]);
            }
            SessionEvent::Port { .. } | SessionEvent::PortEvent { .. } | SessionEvent::VmcReadable { .. } => {
                self.port_event(&event);
            }
            // Notify and multimedia-time events are not used by the widget.
            _ => {}
        }
    }

    /// A channel other than main failed while the session goes on: its
    /// displays (all of them for the inputs channel) show why.
    fn channel_failed(&self, channel: crate::proto::ChannelKey, error: &str) {
        if self.imp().reconnect_attempt.get() != 0 {
            return;
        }
        // The error names the channel ("inputs channel 0: …").
        let text = crate::i18n::gettext_f("Channel stopped: {error}", &[("error", error)]);
        let displays = if channel.channel_type == ChannelType::DISPLAY {
            self.displays_of(channel.id)
        } else if channel.channel_type == ChannelType::INPUTS {
            self.all_displays()
        } else {
            Vec::new()
        };
        for d in displays {
            d.channel_failed(&text);
        }
        self.emit_by_name::<()>("channel-failed", &[&channel.to_string(), &error]);
    }

    fn set_mouse_mode(&self, mode: u32) {
        let client = mode == mouse_mode::CLIENT;
        if self.imp().client_mouse_mode.replace(client) != client {
            self.notify_client_mouse_mode();
        }
        for d in self.all_displays() {
            d.set_client_mouse_mode(client);
        }
    }
}
