//! A minimal SPICE server for Sumac's integration tests and demo.
//!
//! It links channels with Sumac's own sans-IO acceptor, serves a main channel
//! (INIT, CHANNELS_LIST, NAME/UUID, SET_ACK, PING, a scripted guest agent:
//! [`agent`]), display channels playing a
//! scripted [`scene::Scene`], and records everything the client sends. Faults
//! (closing mid-message, absurd sizes, one channel closing) are injected on
//! request; a migration to a second server can be played
//! ([`migration`], [`TestServer::migrate`]); [`fault`] is a TCP proxy that
//! delays, throttles, cuts and resets connections.

pub mod agent;
pub mod audio;
pub mod cursor;
pub mod fault;
pub mod inputs;
pub mod migration;
pub mod ports;
pub mod proxy;
pub mod scene;
pub mod smartcard;
pub mod tls;
pub mod usbredir;
pub mod webdav_guest;

mod conn;

use anyhow::{Context, Result};
use rsa::RsaPrivateKey;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use sumac::proto::ChannelType;

pub use scene::Scene;
pub use tls::TlsIdentity;

/// Misbehaviours the server can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The display channel sends half a message, then closes.
    DisplayCloseMidMessage,
    /// The main channel announces a 4 GiB - 1 message after INIT.
    MainHugeMessage,
    /// Every link reply is cut after 10 bytes.
    TruncatedLinkReply,
    /// The main channel closes right after CHANNELS_LIST.
    MainCloseAfterList,
    /// Connections are accepted and then nothing is ever answered (the link hangs).
    SilentLink,
    /// The main channel links and then never sends a message.
    SilentMain,
    /// This channel closes (only it) once it served its first content:
    /// display after its scene, inputs after INPUTS_INIT, cursor after its script.
    CloseChannel(ChannelType),
    /// Every port channel sends one PING of this many bytes right after its
    /// link (streamed: the server does not hold it), then serves as usual.
    PortHugePing(u32),
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub password: Option<String>,
    /// Serve TLS on a second port with this identity.
    pub tls: Option<TlsIdentity>,
    /// Also listen on a Unix socket at this path.
    pub unix_path: Option<PathBuf>,
    /// Channels refused with NEED_SECURED on the plain port.
    pub need_secured: Vec<ChannelType>,
    /// Channels refused with NEED_UNSECURED on the TLS port.
    pub need_unsecured: Vec<ChannelType>,
    /// Channels announced in CHANNELS_LIST (main excluded).
    pub channels: Vec<(ChannelType, u8)>,
    /// What each display channel draws.
    pub scene: Scene,
    /// What the cursor channel sends after the link.
    pub cursor: cursor::CursorScript,
    /// How the inputs channel behaves (caps, INIT modifiers, motion acks).
    pub inputs: inputs::InputsConfig,
    /// Named ports on VMC channels (port, webdav): PORT_INIT is sent on link.
    /// A VMC channel listed in `channels` without a spec sends no PORT_INIT.
    pub ports: Vec<ports::PortSpec>,
    /// What the playback and record channels send and announce.
    pub audio: audio::AudioConfig,
    /// The scripted guest agent behind the main channel.
    pub agent: agent::AgentConfig,
    pub fault: Option<Fault>,
    /// Offer the mini header.
    pub mini_header: bool,
    /// Keep animating after the scene (demo mode), one frame every 40 ms.
    pub animate: bool,
    /// Server name sent with NAME.
    pub name: String,
    /// What usbredir channels do after the link (add `(ChannelType::USBREDIR, n)` to `channels`).
    pub usbredir: usbredir::UsbScript,
    /// The session id (`None`: a random one). A migration destination uses
    /// the source's: a main link carrying it is a migration target.
    pub session_id: Option<u32>,
    /// As a migration destination, answer MIGRATE_DST_DO_SEAMLESS with NACK.
    pub refuse_seamless: bool,
    /// Offer the seamless-migration capability on the main channel.
    pub seamless_cap: bool,
    /// Start in client mouse mode (absolute positions) instead of server mode.
    pub client_mouse: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            password: None,
            tls: None,
            unix_path: None,
            need_secured: Vec::new(),
            need_unsecured: Vec::new(),
            channels: vec![
                (ChannelType::DISPLAY, 0),
                (ChannelType::INPUTS, 0),
                (ChannelType::CURSOR, 0),
            ],
            scene: scene::standard(),
            cursor: cursor::standard(),
            inputs: inputs::InputsConfig::default(),
            ports: Vec::new(),
            audio: audio::AudioConfig::default(),
            agent: agent::AgentConfig::default(),
            fault: None,
            mini_header: true,
            animate: false,
            name: "sumac-test-server".into(),
            usbredir: vec![usbredir::UsbStep::Send(usbredir::guest_hello())],
            session_id: None,
            refuse_seamless: false,
            seamless_cap: true,
            client_mouse: false,
        }
    }
}

/// A message the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub channel: (ChannelType, u8),
    pub msg_type: u16,
    pub body: Vec<u8>,
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Record {
    /// Channels linked, with whether they were on TLS.
    pub linked: Vec<(ChannelType, u8, bool)>,
    /// The connection id of every link, in the order of `linked`.
    pub connection_ids: Vec<u32>,
    /// Channels whose connection has ended (client closed or server fault).
    pub closed: Vec<(ChannelType, u8)>,
    pub received: Vec<Received>,
    /// usbredir packet types the client sent, per usbredir channel id, in order.
    pub usbredir: Vec<(u8, u32)>,
    /// Link attempts refused (NEED_SECURED, bad password...).
    pub refused: u32,
}

pub(crate) struct Inner {
    pub(crate) config: ServerConfig,
    pub(crate) key: RsaPrivateKey,
    pub(crate) session_id: u32,
    pub(crate) record: Mutex<Record>,
    pub(crate) stop: AtomicBool,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) inputs: inputs::InputsState,
    pub(crate) ports: ports::PortsState,
    pub(crate) smartcard: smartcard::SmartcardState,
    pub(crate) migration: migration::MigrationState,
    pub(crate) audio: audio::AudioState,
    /// Display messages a test queued (sent by display channel 0).
    pub(crate) display_out: Mutex<std::collections::VecDeque<sumac::proto::channel::display::DisplayServer>>,
    /// The server's multimedia clock: milliseconds since the server started.
    pub(crate) started: Instant,
    pub(crate) agent: agent::AgentState,
}

impl Inner {
    /// The server's multimedia time (sent in MAIN_INIT; stamp playback and video with it).
    pub(crate) fn mm_time(&self) -> u32 {
        (self.started.elapsed().as_millis() & 0xffff_ffff) as u32
    }
}

impl Inner {
    pub(crate) fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running server; stops when dropped.
pub struct TestServer {
    inner: Arc<Inner>,
    port: u16,
    tls_port: Option<u16>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts listening on 127.0.0.1 with free ports.
    pub fn start(config: ServerConfig) -> Result<Self> {
        Self::start_on(config, 0, 0)
    }

    /// Starts on the given ports (0 = any free port).
    pub fn start_on(config: ServerConfig, port: u16, tls_port: u16) -> Result<Self> {
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, 1024).context("RSA key")?;
        let tls = config.tls.as_ref().map(TlsIdentity::server_config).transpose()?;
        let plain = TcpListener::bind(("127.0.0.1", port)).context("bind plain port")?;
        let tls_listener = if tls.is_some() {
            Some(TcpListener::bind(("127.0.0.1", tls_port)).context("bind TLS port")?)
        } else {
            None
        };
        #[cfg(unix)]
        let unix = match &config.unix_path {
            Some(p) => {
                let _ = std::fs::remove_file(p);
                Some(std::os::unix::net::UnixListener::bind(p).context("bind unix socket")?)
            }
            None => None,
        };
        let session_id = config.session_id.unwrap_or_else(rand_session_id);
        let agent = agent::AgentState::new(config.agent.clone());
        let inner = Arc::new(Inner {
            agent,
            config,
            key,
            session_id,
            record: Mutex::new(Record::default()),
            stop: AtomicBool::new(false),
            tls,
            inputs: inputs::InputsState::default(),
            ports: ports::PortsState::default(),
            smartcard: smartcard::SmartcardState::default(),
            migration: migration::MigrationState::default(),
            audio: audio::AudioState::default(),
            display_out: Mutex::new(std::collections::VecDeque::new()),
            started: Instant::now(),
        });
        let port = plain.local_addr()?.port();
        let tls_port = tls_listener
            .as_ref()
            .map(|l| l.local_addr().map(|a| a.port()))
            .transpose()?;
        let mut threads = Vec::new();
        threads.push(conn::accept_loop(Arc::clone(&inner), plain, false)?);
        if let Some(l) = tls_listener {
            threads.push(conn::accept_loop(Arc::clone(&inner), l, true)?);
        }
        #[cfg(unix)]
        if let Some(l) = unix {
            threads.push(conn::accept_unix_loop(Arc::clone(&inner), l)?);
        }
        Ok(Self {
            inner,
            port,
            tls_port,
            threads,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `spice://127.0.0.1:PORT` (with `tls-port` when TLS is served).
    pub fn uri(&self) -> String {
        match self.tls_port {
            Some(t) => format!("spice://127.0.0.1?port={}&tls-port={t}", self.port),
            None => format!("spice://127.0.0.1:{}", self.port),
        }
    }

    pub fn session_id(&self) -> u32 {
        self.inner.session_id
    }

    /// Runs `f` on what the server recorded so far.
    pub fn with_record<R>(&self, f: impl FnOnce(&Record) -> R) -> R {
        f(&self.inner.record())
    }

    /// Waits until `cond` holds on the record, up to `timeout`.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&Record) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if cond(&self.inner.record()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        cond(&self.inner.record())
    }

    /// Every inputs message the client sent so far, decoded, in order.
    pub fn inputs_log(&self) -> Vec<inputs::InputsEvent> {
        self.inner.inputs.log()
    }

    /// Forgets the inputs messages recorded so far.
    pub fn clear_inputs_log(&self) {
        self.inner.inputs.clear();
    }

    /// Waits until `cond` holds on the inputs log, up to `timeout`.
    pub fn wait_for_inputs(&self, timeout: Duration, cond: impl Fn(&[inputs::InputsEvent]) -> bool) -> bool {
        self.inner.inputs.wait_for(timeout, cond)
    }

    /// Makes the inputs channel send `m` (e.g. MOUSE_MOTION_ACK, KEY_MODIFIERS) within ~20 ms.
    pub fn inputs_send(&self, m: sumac::proto::channel::inputs::InputsServer) {
        self.inner.inputs.queue(m);
    }

    /// Sends `data` on a VMC channel (DATA messages of at most 64 KiB) within ~20 ms.
    pub fn port_write(&self, channel: (ChannelType, u8), data: &[u8]) {
        for chunk in data.chunks(64 << 10) {
            self.inner.ports.queue(
                channel,
                ports::PortOut::Message(sumac::proto::channel::vmc::VmcServer::Data(chunk.to_vec())),
            );
        }
    }

    /// Sends a PORT_EVENT (`sumac::proto::channel::vmc::port_event`) on a VMC channel.
    pub fn port_event(&self, channel: (ChannelType, u8), event: u8) {
        self.inner.ports.queue(
            channel,
            ports::PortOut::Message(sumac::proto::channel::vmc::VmcServer::PortEvent { event }),
        );
    }

    /// Sends any message (hostile bodies included) on a VMC channel.
    pub fn port_send_raw(&self, channel: (ChannelType, u8), msg_type: u16, body: Vec<u8>) {
        self.inner.ports.queue(channel, ports::PortOut::Raw(msg_type, body));
    }

    /// Takes the bytes the client sent on a VMC channel so far, waiting up to
    /// `timeout` for at least one (empty if none came).
    pub fn port_read(&self, channel: (ChannelType, u8), timeout: Duration) -> Vec<u8> {
        self.inner.ports.take_received(channel, timeout)
    }

    /// The PORT_EVENTs the client sent on a VMC channel.
    pub fn port_events(&self, channel: (ChannelType, u8)) -> Vec<u8> {
        self.inner.ports.events(channel)
    }

    /// Whether a VMC channel is linked now.
    pub fn port_linked(&self, channel: (ChannelType, u8)) -> bool {
        self.inner.ports.is_linked(channel)
    }

    /// Every VSCard message the client sent on the smartcard channel, in order.
    pub fn smartcard_log(&self) -> Vec<sumac::proto::channel::smartcard::VscMessage> {
        self.inner.smartcard.log()
    }

    /// Waits until `cond` holds on the smartcard log, up to `timeout`.
    pub fn wait_for_smartcard(
        &self,
        timeout: Duration,
        cond: impl Fn(&[sumac::proto::channel::smartcard::VscMessage]) -> bool,
    ) -> bool {
        self.inner.smartcard.wait_for(timeout, cond)
    }

    /// Sends a VSCard message (an APDU for the card...) on the smartcard channel.
    pub fn smartcard_send(&self, m: sumac::proto::channel::smartcard::VscMessage) {
        self.inner.smartcard.queue_vsc(m);
    }

    /// Sends any message body (hostile ones included) on the smartcard channel.
    pub fn smartcard_send_raw(&self, msg_type: u16, body: Vec<u8>) {
        self.inner.smartcard.queue(msg_type, body);
    }

    /// Moves the connected client to another server ([`migration`]): its
    /// main channel starts the order at once.
    pub fn migrate(&self, order: migration::MigrationOrder) {
        *self
            .inner
            .migration
            .order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(order);
    }

    /// The destination of a migration to this server, as MIGRATE_BEGIN names it.
    pub fn migration_dst(&self) -> sumac::proto::channel::main::MigrationDst {
        sumac::proto::channel::main::MigrationDst {
            port: self.port,
            sport: self.tls_port.unwrap_or(0),
            host: b"127.0.0.1".to_vec(),
            cert_subject: self.inner.config.tls.as_ref().map(|t| t.subject.clone().into_bytes()),
        }
    }

    /// The server's multimedia time now (what MAIN_INIT told the client), for stamping
    /// playback packets and video frames.
    pub fn mm_time(&self) -> u32 {
        self.inner.mm_time()
    }

    /// Makes display channel 0 send `m` (after its scene) within ~20 ms.
    pub fn display_send(&self, m: sumac::proto::channel::display::DisplayServer) {
        self.inner
            .display_out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(m);
    }

    /// Makes the playback channel send `m` (sent in order, 10 messages per ~20 ms: a queued tone
    /// plays at about its own pace).
    pub fn playback_send(&self, m: sumac::proto::channel::playback::PlaybackServer) {
        self.inner.audio.queue_playback(m);
    }

    /// Makes the record channel send `m` (START, STOP, VOLUME, MUTE) within ~20 ms.
    pub fn record_send(&self, m: sumac::proto::channel::record::RecordServer) {
        self.inner.audio.queue_record(m);
    }

    /// Every record-channel message the client sent, decoded, in order.
    pub fn record_log(&self) -> Vec<sumac::proto::channel::record::RecordClient> {
        self.inner.audio.record_log()
    }

    /// Waits until `cond` holds on the record log, up to `timeout`.
    pub fn wait_for_record(
        &self,
        timeout: Duration,
        cond: impl Fn(&[sumac::proto::channel::record::RecordClient]) -> bool,
    ) -> bool {
        self.inner.audio.wait_for_record(timeout, cond)
    }

    /// Stops accepting and closes every connection.
    pub fn stop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.tls_port {
            let _ = std::net::TcpStream::connect(("127.0.0.1", t));
        }
        #[cfg(unix)]
        if let Some(p) = &self.inner.config.unix_path {
            let _ = std::os::unix::net::UnixStream::connect(p);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = &self.inner.config.unix_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rand_session_id() -> u32 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u32() | 1
}
