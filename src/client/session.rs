//! The red client: a session whose main channel owns every other channel.
//!
//! [`connect`] starts the main channel on its own thread and returns at once.
//! When CHANNELS_LIST arrives the main channel links each listed channel on
//! a thread of its own. When the main channel ends (error, server gone, or
//! [`SessionHandle::disconnect`]) it stops every child, joins their threads and
//! emits [`SessionEvent::Disconnected`] last.

use super::config::ConnectionConfig;
use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::inputs::{InputsHandle, InputsShared};
use super::main_channel::MainHandler;
use super::red_channel::{ChannelHandler, SkipHandler, run_channel};
use super::stats::{ChannelStats, StatsSnapshot};
use super::tls::{self, TlsOptions};
use crate::codec::glz::GlzWindow;
use crate::display::{DisplayState, Limits, SharedImageCache};
use crate::proto::ChannelType;
use crate::proto::base::WaitForChannel;
use crate::proto::frame::DEFAULT_MAX_MESSAGE;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// GLZ window: spice-gtk's minimum default (12 MiB), enough for the server's
/// 1080p dictionaries; larger windows only help multi-monitor sessions.
pub const DEFAULT_GLZ_WINDOW_BYTES: u64 = 16 << 20;

/// Tunables of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Largest message body accepted (hostile-inputs row 8).
    pub max_message: u32,
    /// Offer the mini data header.
    pub mini_header: bool,
    /// Preferred image compression sent to display channels (SPICE numbering), if any.
    pub preferred_compression: Option<u8>,
    /// Channel types not to open even if the server lists them.
    pub disabled_channels: Vec<ChannelType>,
    /// Records every received message (`sumac-cli record`).
    pub recorder: Option<Arc<super::record::Recorder>>,
    /// Image cache announced to the server and held per display channel, in bytes.
    pub image_cache_bytes: u64,
    /// GLZ dictionary window shared by the display channels, in bytes.
    pub glz_window_bytes: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            max_message: DEFAULT_MAX_MESSAGE,
            mini_header: true,
            // The server's own choice, as remote-viewer.
            preferred_compression: None,
            disabled_channels: Vec::new(),
            recorder: None,
            image_cache_bytes: crate::display::DEFAULT_IMAGE_CACHE_BYTES,
            glz_window_bytes: DEFAULT_GLZ_WINDOW_BYTES,
        }
    }
}

/// State shared by all channel threads of a session.
pub(crate) struct Shared {
    pub(crate) config: ConnectionConfig,
    pub(crate) options: SessionOptions,
    pub(crate) tls_options: TlsOptions,
    /// The GLZ dictionary shared by every display channel.
    pub(crate) glz: Arc<GlzWindow>,
    /// The pixmap cache shared by every display channel (as the server's).
    image_cache: SharedImageCache,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
    events: mpsc::UnboundedSender<SessionEvent>,
    shutdown: watch::Sender<bool>,
    children: Mutex<Vec<JoinHandle<()>>>,
    displays: Mutex<BTreeMap<u8, Arc<Mutex<DisplayState>>>>,
    stats: Mutex<Vec<Arc<ChannelStats>>>,
    /// Last message serial each channel has fully processed (WAIT_FOR_CHANNELS).
    serials: Mutex<Serials>,
    serials_changed: Condvar,
    /// The server's multimedia time and when it was received.
    mm_time: Mutex<Option<(u32, Instant)>>,
    /// Command queue and state of the inputs channel ([`SessionHandle::inputs`]).
    pub(crate) inputs: Arc<InputsShared>,
}

/// What WAIT_FOR_CHANNELS waits on.
#[derive(Debug, Default)]
pub(crate) struct Serials {
    /// Last serial processed, by (channel type, id).
    done: HashMap<(u8, u8), u64>,
    /// Threads in [`Shared::wait_for_serials`]: only then is a change notified
    /// (every message of every channel is recorded; a wake-up system call for
    /// each would cost more than the record).
    waiters: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn emit(&self, e: SessionEvent) {
        let _ = self.events.send(e);
    }

    /// Sets the multimedia clock (MAIN_INIT, MULTI_MEDIA_TIME).
    pub(crate) fn set_mm_time(&self, mm: u32) {
        *lock(&self.mm_time) = Some((mm, Instant::now()));
    }

    /// The server's multimedia time now, in ms (wrapping); 0 before the server sent one.
    pub(crate) fn mm_now(&self) -> u32 {
        match *lock(&self.mm_time) {
            Some((mm, at)) => mm.wrapping_add(u32::try_from(at.elapsed().as_millis()).unwrap_or(u32::MAX)),
            None => 0,
        }
    }

    /// Records that `key` has processed every message up to `serial`.
    pub(crate) fn processed(&self, key: ChannelKey, serial: u64) {
        let mut serials = lock(&self.serials);
        serials.done.insert((key.channel_type.0, key.id), serial);
        let waiting = serials.waiters > 0;
        drop(serials);
        if waiting {
            self.serials_changed.notify_all();
        }
    }

    /// Waits until every listed channel has processed its listed serial, at
    /// most `timeout` (and not past a shutdown). Channels never opened count
    /// as not there yet. Returns false on timeout.
    pub(crate) fn wait_for_serials(&self, list: &[WaitForChannel], timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut serials = lock(&self.serials);
        serials.waiters = serials.waiters.saturating_add(1);
        let done = loop {
            let done = list.iter().all(|w| {
                serials
                    .done
                    .get(&(w.channel_type, w.channel_id))
                    .is_some_and(|&s| s >= w.message_serial)
            });
            if done {
                break true;
            }
            let now = Instant::now();
            if now >= end || self.is_shutting_down() {
                break false;
            }
            let slice = (end - now).min(Duration::from_millis(50));
            serials = self
                .serials_changed
                .wait_timeout(serials, slice)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        };
        serials.waiters = serials.waiters.saturating_sub(1);
        done
    }

    pub(crate) fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The TLS configuration, built on first use (so plain sessions never load CAs).
    pub(crate) fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        if let Some(c) = self.tls.get() {
            return Ok(Arc::clone(c));
        }
        let c = tls::client_config(&self.tls_options)?;
        Ok(Arc::clone(self.tls.get_or_init(|| c)))
    }

    fn register_stats(&self, key: ChannelKey) -> Arc<ChannelStats> {
        let s = Arc::new(ChannelStats::new(key));
        lock(&self.stats).push(Arc::clone(&s));
        s
    }

    /// Starts a child channel on its own thread (called by the main channel).
    /// `display_channels` is how many display channels the server listed: with
    /// one, a GLZ image can only reference images of its own channel, so a
    /// missing reference is an error at once instead of a wait.
    pub(crate) fn spawn_child(
        self: &Arc<Self>,
        key: ChannelKey,
        connection_id: u32,
        display_channels: usize,
    ) -> Result<(), ClientError> {
        if self.is_shutting_down() {
            return Ok(());
        }
        let handler: Box<dyn ChannelHandler> = match key.channel_type {
            ChannelType::DISPLAY => {
                let limits = Limits {
                    image_cache_bytes: self.options.image_cache_bytes,
                    ..Limits::default()
                };
                let mut state = DisplayState::with_shared(limits, Arc::clone(&self.glz), self.image_cache.clone());
                if display_channels <= 1 {
                    state.set_glz_wait(Duration::ZERO);
                }
                let state = Arc::new(Mutex::new(state));
                lock(&self.displays).insert(key.id, Arc::clone(&state));
                Box::new(super::display_channel::DisplayHandler::new(
                    key.id,
                    state,
                    Arc::clone(self),
                ))
            }
            ChannelType::INPUTS if key.id == 0 => Box::new(super::inputs_channel::InputsHandler::new(
                key.id,
                Arc::clone(self),
                Arc::clone(&self.inputs),
            )),
            ChannelType::CURSOR => Box::new(super::cursor_channel::CursorHandler::new(key.id, Arc::clone(self))),
            _ => Box::new(SkipHandler),
        };
        let stats = self.register_stats(key);
        let shared = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name(format!("sumac-{}-{}", key.channel_type, key.id))
            .spawn(move || channel_thread(shared, key, connection_id, handler, stats))
            .map_err(|source| ClientError::Thread { channel: key, source })?;
        lock(&self.children).push(handle);
        Ok(())
    }
}

/// Body of every channel thread: a current-thread runtime running one channel.
fn channel_thread(
    shared: Arc<Shared>,
    key: ChannelKey,
    connection_id: u32,
    handler: Box<dyn ChannelHandler>,
    stats: Arc<ChannelStats>,
) {
    let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(run_channel(Arc::clone(&shared), key, connection_id, handler, stats)),
        Err(source) => Err(ClientError::Thread { channel: key, source }),
    };
    let error = result.err().map(Arc::new);
    if let Some(e) = &error {
        tracing::warn!(channel = %key, error = %e, "channel closed with an error");
    } else {
        tracing::debug!(channel = %key, "channel closed");
    }
    shared.emit(SessionEvent::ChannelDown { channel: key, error });
}

/// The embedder's handle on a running session.
pub struct SessionHandle {
    shared: Arc<Shared>,
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
        // `send_replace`: `send` does not store the value when no receiver exists yet
        // (a disconnect right after connect), and the channels would never see it.
        self.shared.shutdown.send_replace(true);
        if let Some(h) = self.main.take() {
            let _ = h.join();
        }
    }

    /// The decoded surfaces of display channel `id`, once it exists.
    pub fn display(&self, id: u8) -> Option<Arc<Mutex<DisplayState>>> {
        lock(&self.shared.displays).get(&id).cloned()
    }

    /// Keyboard and mouse input; valid from connect time (commands are dropped
    /// and counted until the inputs channel is linked).
    pub fn inputs(&self) -> InputsHandle {
        InputsHandle::new(Arc::clone(&self.shared.inputs))
    }

    /// Counters of every channel opened so far.
    pub fn stats(&self) -> Vec<StatsSnapshot> {
        lock(&self.shared.stats).iter().map(|s| s.snapshot()).collect()
    }

    /// Number of channel threads still running (main excluded).
    pub fn running_channel_threads(&self) -> usize {
        lock(&self.shared.children).iter().filter(|h| !h.is_finished()).count()
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
    if let Some(pw) = &config.password {
        crate::connector::ticket::check_password(pw.as_bytes()).map_err(|source| ClientError::Link {
            channel: ChannelKey {
                channel_type: ChannelType::MAIN,
                id: 0,
            },
            source,
        })?;
    }
    let (events, rx) = mpsc::unbounded_channel();
    let (shutdown, _) = watch::channel(false);
    let tls_options = TlsOptions::from_config(&config);
    let glz = Arc::new(GlzWindow::new(options.glz_window_bytes));
    let image_cache = SharedImageCache::new(options.image_cache_bytes);
    let shared = Arc::new(Shared {
        glz,
        image_cache,
        config,
        options,
        tls_options,
        tls: OnceLock::new(),
        events,
        shutdown,
        children: Mutex::new(Vec::new()),
        displays: Mutex::new(BTreeMap::new()),
        stats: Mutex::new(Vec::new()),
        serials: Mutex::new(Serials::default()),
        serials_changed: Condvar::new(),
        mm_time: Mutex::new(None),
        inputs: InputsShared::new(),
    });
    let key = ChannelKey {
        channel_type: ChannelType::MAIN,
        id: 0,
    };
    let stats = shared.register_stats(key);
    let thread_shared = Arc::clone(&shared);
    let main = std::thread::Builder::new()
        .name("sumac-main-0".into())
        .spawn(move || main_thread(thread_shared, key, stats))
        .map_err(|source| ClientError::Thread { channel: key, source })?;
    Ok((
        SessionHandle {
            shared,
            main: Some(main),
        },
        rx,
    ))
}

fn main_thread(shared: Arc<Shared>, key: ChannelKey, stats: Arc<ChannelStats>) {
    let handler = Box::new(MainHandler::new(Arc::clone(&shared)));
    let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(run_channel(Arc::clone(&shared), key, 0, handler, stats)),
        Err(source) => Err(ClientError::Thread { channel: key, source }),
    };
    let asked = shared.is_shutting_down();
    // Losing the main channel ends the session: stop and join every child.
    shared.shutdown.send_replace(true);
    let children: Vec<_> = lock(&shared.children).drain(..).collect();
    for c in children {
        let _ = c.join();
    }
    let error = match result {
        Ok(()) if asked => None,
        Ok(()) => Some(Arc::new(ClientError::UnexpectedEof {
            channel: key,
            mid_message: false,
        })),
        Err(e) => Some(Arc::new(e)),
    };
    if let Some(e) = &error {
        tracing::info!(error = %e, "session ended");
    }
    shared.emit(SessionEvent::ChannelDown {
        channel: key,
        error: error.clone(),
    });
    shared.emit(SessionEvent::Disconnected { error });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn shared() -> Arc<Shared> {
        let (events, _rx) = mpsc::unbounded_channel();
        let (shutdown, _) = watch::channel(false);
        Arc::new(Shared {
            config: ConnectionConfig::default(),
            options: SessionOptions::default(),
            tls_options: TlsOptions::default(),
            glz: Arc::new(GlzWindow::new(1 << 20)),
            image_cache: SharedImageCache::default(),
            tls: OnceLock::new(),
            events,
            shutdown,
            children: Mutex::new(Vec::new()),
            displays: Mutex::new(BTreeMap::new()),
            stats: Mutex::new(Vec::new()),
            serials: Mutex::new(Serials::default()),
            serials_changed: Condvar::new(),
            mm_time: Mutex::new(None),
            inputs: InputsShared::new(),
        })
    }

    fn key(id: u8) -> ChannelKey {
        ChannelKey {
            channel_type: ChannelType::DISPLAY,
            id,
        }
    }

    fn wait(id: u8, serial: u64) -> WaitForChannel {
        WaitForChannel {
            channel_type: ChannelType::DISPLAY.0,
            channel_id: id,
            message_serial: serial,
        }
    }

    #[test]
    fn wait_for_channels_returns_once_the_serial_is_processed() {
        let s = shared();
        s.processed(key(1), 4);
        let s2 = Arc::clone(&s);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s2.processed(key(1), 5);
        });
        let start = Instant::now();
        assert!(s.wait_for_serials(&[wait(1, 5)], Duration::from_secs(5)));
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
    }

    #[test]
    fn wait_for_channels_is_bounded() {
        let s = shared();
        let start = Instant::now();
        assert!(!s.wait_for_serials(&[wait(2, 1)], Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_secs(1));
        // A closed channel (serial MAX) never blocks anyone.
        s.processed(key(2), u64::MAX);
        assert!(s.wait_for_serials(&[wait(2, 1000)], Duration::from_millis(100)));
    }
}
