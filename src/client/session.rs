//! The red client: a session whose main channel owns every other channel.
//!
//! [`connect`] starts the main channel on its own thread and returns at once.
//! When CHANNELS_LIST arrives the main channel's machine asks for each listed
//! channel ([`crate::channel::Output::Spawn`]); the channel factory
//! ([`super::factory`]) builds its machine and it runs on a thread of its
//! own. When the main channel ends (error, server gone, or
//! [`SessionHandle::disconnect`]) it stops every child and joins their
//! threads; then, when [`SessionOptions::reconnect`] allows it and the
//! server went away, the session relinks by itself with backoff (the
//! embedder's handles and display states stay valid), else it emits
//! [`SessionEvent::Disconnected`] last. A migration (MIGRATE_BEGIN,
//! MIGRATE_SWITCH_HOST) moves the same session to another server.
//!
//! What channels share is split by need: [`Target`] (where to connect,
//! replaceable for migration), the display resources, the serial board and
//! GLZ arrivals ([`super::sync`]), the multimedia clock, the inputs and agent
//! inboxes, the VMC streams, the USB manager.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::agent::{AgentHandle, AgentShared};
use super::audio::{AudioHandle, AudioShared};
use super::config::ConnectionConfig;
use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::inputs::{InputsHandle, InputsShared};
use super::media::Media;
use super::runtime::control::Children;
use super::stats::{ChannelStats, StatsSnapshot};
use super::sync::{GlzArrivals, MmClock, SerialBoard};
use super::tls::{self, TlsOptions};
use super::usb::{UsbHandle, UsbManager};
use super::vmc::{VmcShared, VmcStream};
use crate::budget::MemoryBudget;
use crate::channel::Ctx;
use crate::codec::glz::GlzWindow;
use crate::display::{DisplayState, SharedImageCache};
use crate::proto::ChannelType;
use crate::proto::frame::DEFAULT_MAX_MESSAGE;

pub use crate::display::DEFAULT_GLZ_WINDOW_BYTES;

/// Default [`SessionOptions::link_timeout`].
pub const DEFAULT_LINK_TIMEOUT: Duration = Duration::from_secs(15);
/// Default [`SessionOptions::first_message_timeout`].
pub const DEFAULT_FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(15);

pub use super::reconnect::{MigrationKind, MigrationSupport, ReconnectPolicy};

/// Tunables of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Largest message body accepted (hostile-inputs row 8).
    pub max_message: u32,
    /// Offer the mini data header.
    pub mini_header: bool,
    /// Preferred image compression sent to display channels (SPICE numbering), if any.
    pub preferred_compression: Option<u8>,
    /// Preferred video codec (`video_codec::*`) sent to display channels,
    /// if any and if a decoder exists for it (the server then streams in it
    /// when it can encode it).
    pub preferred_video_codec: Option<u8>,
    /// Channel types not to open even if the server lists them.
    pub disabled_channels: Vec<ChannelType>,
    /// Records every received message (`sumac-cli record`).
    pub recorder: Option<Arc<super::record::Recorder>>,
    /// Image cache announced to the server and held per display channel, in bytes.
    pub image_cache_bytes: u64,
    /// GLZ dictionary window shared by the display channels, in bytes.
    pub glz_window_bytes: u64,
    /// Audio devices and video decoders given by the embedder.
    pub media: Media,
    /// Longest the link handshake of one channel may take once its
    /// transport is connected (a server that accepts and then says nothing).
    pub link_timeout: Duration,
    /// Longest the main channel waits for the server's first message
    /// (MAIN_INIT) after the link.
    pub first_message_timeout: Duration,
    /// A folder shared with the guest over the webdav channel (feature
    /// `webdav`); without one (and without `webdav_server`) the webdav
    /// channel is a plain byte stream. It can change while connected:
    /// [`SessionHandle::set_shared_folder`].
    pub shared_folder: Option<super::sharing::SharedFolder>,
    /// Serve the webdav channel with the folder server even when no folder
    /// is shared at connect (the guest gets `503 Service Unavailable` until
    /// [`SessionHandle::set_shared_folder`] gives one), so that sharing can
    /// be turned on later, as remote-viewer's "Share folder" preference.
    pub webdav_server: bool,
    /// Smartcard emulation on the smartcard channel (feature `smartcard`);
    /// without it the channel is not served.
    pub smartcard: Option<super::sharing::SmartcardConfig>,
    /// Bytes the server may make this session hold (message buffers of all
    /// channels, surfaces, decoded images, video queues): [`crate::budget`].
    pub memory_budget: u64,
    /// USB redirection: start-up disks, policy, physical devices.
    pub usb: super::usb::UsbOptions,
    /// Relink by itself when the server goes away after the session was up
    /// (`None`: the session ends with the error, as remote-viewer).
    pub reconnect: Option<ReconnectPolicy>,
    /// Which migrations the client offers the server.
    pub migration: MigrationSupport,
    /// Offer Opus on the playback and record channels (with feature `opus`;
    /// off: raw PCM only, as spice-gtk's `SPICE_DISABLE_OPUS`).
    pub opus: bool,
    /// Capture the microphone when the server asks (the user's choice; it can
    /// change during the session through [`SessionHandle::audio`]).
    pub microphone: bool,
    /// The guest agent: clipboard limit (MAX_CLIPBOARD), display effects.
    pub agent: super::agent::AgentOptions,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            max_message: DEFAULT_MAX_MESSAGE,
            mini_header: true,
            // The server's own choice, as remote-viewer.
            preferred_compression: None,
            preferred_video_codec: None,
            disabled_channels: Vec::new(),
            recorder: None,
            image_cache_bytes: crate::display::DEFAULT_IMAGE_CACHE_BYTES,
            glz_window_bytes: DEFAULT_GLZ_WINDOW_BYTES,
            media: Media::default(),
            link_timeout: DEFAULT_LINK_TIMEOUT,
            first_message_timeout: DEFAULT_FIRST_MESSAGE_TIMEOUT,
            shared_folder: None,
            webdav_server: false,
            smartcard: None,
            memory_budget: crate::budget::DEFAULT_SESSION_BUDGET,
            usb: super::usb::UsbOptions::default(),
            reconnect: None,
            migration: MigrationSupport::default(),
            opus: true,
            microphone: true,
            agent: super::agent::AgentOptions::default(),
        }
    }
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Linking the main channel.
    Connecting,
    /// MAIN_INIT arrived: the session runs.
    Up,
    /// Moving to another server (migration, switch-host): channels relink.
    Migrating,
    /// The server went away; the session relinks by itself (attempt N,
    /// from 1) after a delay ([`SessionOptions::reconnect`]).
    Reconnecting { attempt: u32 },
    /// Every channel is gone.
    Closed,
}

/// The server a session talks to. Replaced as a whole (migration,
/// switch-host): a channel reads it when it connects.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) config: ConnectionConfig,
    pub(crate) tls_options: TlsOptions,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
}

impl Target {
    pub(crate) fn new(config: ConnectionConfig) -> Self {
        let tls_options = TlsOptions::from_config(&config);
        Self {
            config,
            tls_options,
            tls: OnceLock::new(),
        }
    }

    /// The TLS configuration, built on first use (so plain sessions never load CAs).
    pub(crate) fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        if let Some(c) = self.tls.get() {
            return Ok(Arc::clone(c));
        }
        let c = tls::client_config(&self.tls_options)?;
        Ok(Arc::clone(self.tls.get_or_init(|| c)))
    }
}

/// What the display channels of a session share.
#[derive(Debug)]
pub(crate) struct DisplayResources {
    /// The GLZ dictionary shared by every display channel.
    pub(crate) glz: Arc<GlzWindow>,
    pub(crate) glz_arrivals: Arc<GlzArrivals>,
    /// The pixmap cache shared by every display channel (as the server's).
    pub(crate) image_cache: SharedImageCache,
    /// The surfaces of each display channel, read by the embedder.
    pub(crate) states: Mutex<BTreeMap<u8, Arc<Mutex<DisplayState>>>>,
}

/// State shared by all channel threads of a session.
pub(crate) struct Session {
    target: RwLock<Arc<Target>>,
    pub(crate) options: SessionOptions,
    /// What every server-driven allocation of the session counts against.
    pub(crate) budget: Arc<MemoryBudget>,
    events: mpsc::UnboundedSender<SessionEvent>,
    shutdown: watch::Sender<bool>,
    state: watch::Sender<SessionState>,
    children: Mutex<Children>,
    stats: Mutex<Vec<Arc<ChannelStats>>>,
    /// Migration and reconnect bookkeeping shared by the channel threads.
    pub(crate) life: super::reconnect::Life,
    pub(crate) display: DisplayResources,
    pub(crate) serials: SerialBoard,
    pub(crate) clock: MmClock,
    pub(crate) inputs: Arc<InputsShared>,
    pub(crate) agent: Arc<AgentShared>,
    pub(crate) audio: Arc<AudioShared>,
    pub(crate) vmc: Mutex<BTreeMap<ChannelKey, Arc<VmcShared>>>,
    pub(crate) usb: Arc<UsbManager>,
    /// The folder the webdav channel serves now.
    pub(crate) folder: super::sharing::FolderShare,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Session {
    pub(crate) fn new(
        config: ConnectionConfig,
        options: SessionOptions,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Arc<Self> {
        let glz = Arc::new(GlzWindow::new(options.glz_window_bytes));
        let glz_arrivals = GlzArrivals::attach(&glz);
        let image_cache = SharedImageCache::new(options.image_cache_bytes);
        let budget = MemoryBudget::new(options.memory_budget);
        let usb = UsbManager::new(&options.usb, events.clone());
        let agent = AgentShared::new();
        let audio = AudioShared::new(Arc::clone(&agent), options.microphone);
        let folder = super::sharing::FolderShare::new(options.shared_folder.clone());
        Arc::new(Self {
            target: RwLock::new(Arc::new(Target::new(config))),
            budget,
            options,
            events,
            shutdown: watch::channel(false).0,
            state: watch::channel(SessionState::Connecting).0,
            children: Mutex::new(Children::default()),
            stats: Mutex::new(Vec::new()),
            life: super::reconnect::Life::default(),
            display: DisplayResources {
                glz,
                glz_arrivals,
                image_cache,
                states: Mutex::new(BTreeMap::new()),
            },
            serials: SerialBoard::default(),
            clock: MmClock::default(),
            inputs: InputsShared::new(),
            agent,
            audio,
            vmc: Mutex::new(BTreeMap::new()),
            usb,
            folder,
        })
    }

    pub(crate) fn emit(&self, e: SessionEvent) {
        let _ = self.events.send(e);
    }

    /// Where to connect now.
    pub(crate) fn target(&self) -> Arc<Target> {
        Arc::clone(&self.target.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Points the session at another server (migration, switch-host):
    /// channels connected from now on use it.
    pub(crate) fn replace_target(&self, config: ConnectionConfig) {
        *self.target.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(Target::new(config));
    }

    pub(crate) fn set_state(&self, state: SessionState) {
        let changed = self.state.send_if_modified(|s| {
            let changed = *s != state;
            *s = state;
            changed
        });
        if changed {
            if state == SessionState::Up {
                self.life.mark_up();
            }
            self.emit(SessionEvent::State(state));
            if state == SessionState::Up && self.life.take_switched_host() {
                self.emit(SessionEvent::Migrated {
                    kind: super::reconnect::MigrationKind::SwitchHost,
                });
            }
        }
    }

    pub(crate) fn state(&self) -> SessionState {
        *self.state.borrow()
    }

    /// What a machine gets to know about "now".
    pub(crate) fn ctx(&self) -> Ctx {
        let now = Instant::now();
        Ctx {
            clock_resets: self.clock.resets(),
            audio_delay_ms: self.clock.audio_delay(),
            ..Ctx::new(now, self.clock.at(now))
        }
    }

    pub(crate) fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(crate) fn stop(&self) {
        // `send_replace`: `send` does not store the value when no receiver exists yet
        // (a disconnect right after connect), and the channels would never see it.
        self.shutdown.send_replace(true);
        lock(&self.children).stop();
    }

    /// The counters of `key` (the same ones again when it relinks).
    pub(crate) fn register_stats(&self, key: ChannelKey) -> Arc<ChannelStats> {
        let mut stats = lock(&self.stats);
        if let Some(s) = stats.iter().find(|s| s.key == key) {
            return Arc::clone(s);
        }
        let s = Arc::new(ChannelStats::new(key));
        stats.push(Arc::clone(&s));
        s
    }

    /// The child channels of the main channel's current link.
    pub(crate) fn children(&self) -> MutexGuard<'_, Children> {
        lock(&self.children)
    }

    /// Stops every child channel and waits for their threads.
    pub(crate) fn join_children(&self) {
        let children = lock(&self.children).take();
        for c in children {
            let _ = c.join();
        }
    }

    /// Forgets what the server that went away left behind, before the
    /// session relinks (reconnect, switch-host, semi-seamless migration):
    /// the image cache and the GLZ window, the message serials, and every
    /// display's surfaces but the primary one, which stays on screen until
    /// the new server draws.
    pub(crate) fn forget_server(&self) {
        // A seamless migration that did not finish is over too.
        lock(&self.life.migration).take();
        self.display.image_cache.lock().clear();
        self.display.glz.clear();
        self.serials.clear();
        for state in lock(&self.display.states).values() {
            lock(state).forget_server();
        }
    }
}

/// The embedder's handle on a running session.
pub struct SessionHandle {
    session: Arc<Session>,
    main: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle").finish_non_exhaustive()
    }
}

impl SessionHandle {
    /// Asks every channel to stop and waits for all threads to end.
    pub fn disconnect(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.session.stop();
        if let Some(h) = self.main.take() {
            let _ = h.join();
        }
    }

    /// Where the session is in its life.
    pub fn state(&self) -> SessionState {
        self.session.state()
    }

    /// The decoded surfaces of display channel `id`, once it exists.
    pub fn display(&self, id: u8) -> Option<Arc<Mutex<DisplayState>>> {
        lock(&self.session.display.states).get(&id).cloned()
    }

    /// Keyboard and mouse input; valid from connect time (commands are dropped
    /// and counted until the inputs channel is linked).
    pub fn inputs(&self) -> InputsHandle {
        InputsHandle::new(Arc::clone(&self.session.inputs))
    }

    /// Messages to the guest agent; valid from connect time (refused while
    /// no agent is connected).
    pub fn agent(&self) -> AgentHandle {
        AgentHandle::new(Arc::clone(&self.session.agent))
    }

    /// Volume, mute and the microphone; valid from connect time.
    pub fn audio(&self) -> AudioHandle {
        AudioHandle::new(Arc::clone(&self.session.audio))
    }

    /// The byte stream of a SpiceVMC channel (usbredir, port, webdav), once linked.
    pub fn vmc_stream(&self, channel: ChannelKey) -> Option<VmcStream> {
        lock(&self.session.vmc)
            .get(&channel)
            .map(|s| VmcStream::new(Arc::clone(s)))
    }

    /// The port channel named `name` (PORT_INIT, e.g. `org.qemu.monitor.qmp.0`), once announced.
    pub fn port(&self, name: &str) -> Option<VmcStream> {
        lock(&self.session.vmc)
            .values()
            .find(|s| s.port_name().as_deref() == Some(name))
            .map(|s| VmcStream::new(Arc::clone(s)))
    }

    /// USB redirection: the device list, connect and disconnect; valid from
    /// connect time (devices wait for a usbredir channel).
    pub fn usb(&self) -> UsbHandle {
        UsbHandle::new(Arc::clone(&self.session.usb))
    }

    /// The folder shared with the guest now (`None`: none).
    pub fn shared_folder(&self) -> Option<super::sharing::SharedFolder> {
        self.session.folder.get()
    }

    /// Shares `folder` from now on (`None`: stop sharing): the webdav
    /// channel drops the guest's open connections and serves the new
    /// folder (or nothing). Applies to a webdav channel served by the
    /// folder server: one linked with `SessionOptions::shared_folder` or
    /// `SessionOptions::webdav_server`.
    pub fn set_shared_folder(&self, folder: Option<super::sharing::SharedFolder>) {
        self.session.folder.set(folder);
    }

    /// The session's memory budget (limit, bytes in use, peak, refusals).
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.session.budget
    }

    /// Counters of every channel opened so far.
    pub fn stats(&self) -> Vec<StatsSnapshot> {
        lock(&self.session.stats).iter().map(|s| s.snapshot()).collect()
    }

    /// Number of channel threads still running (main excluded).
    pub fn running_channel_threads(&self) -> usize {
        lock(&self.session.children).running()
    }

    /// Stops an automatic reconnect under way: the session ends with the
    /// error that started it ([`SessionEvent::Disconnected`]). Does nothing
    /// while the session is up.
    pub fn cancel_reconnect(&self) {
        self.session.life.cancel_reconnect(self.session.state());
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts a session. Returns at once; progress arrives as [`SessionEvent`]s.
pub fn connect(
    config: ConnectionConfig,
    options: SessionOptions,
) -> Result<(SessionHandle, mpsc::UnboundedReceiver<SessionEvent>), ClientError> {
    // Validate what can be validated before any thread starts.
    config.endpoint_for(ChannelType::MAIN)?;
    config.effective_proxy()?;
    let main_key = ChannelKey::new(ChannelType::MAIN, 0);
    if let Some(pw) = &config.password {
        crate::connector::ticket::check_password(pw.as_bytes()).map_err(|source| ClientError::Link {
            channel: main_key,
            source,
        })?;
    }
    let (events, rx) = mpsc::unbounded_channel();
    let session = Session::new(config, options, events);
    let main = super::runtime::spawn_main(&session)?;
    Ok((
        SessionHandle {
            session,
            main: Some(main),
        },
        rx,
    ))
}
