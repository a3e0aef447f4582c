//! A scripted guest agent behind the test server's main channel.
//!
//! The client's AGENT_DATA goes through [`Reassembler::strict`], so any
//! framing spice-server would refuse is recorded as a [`FramingError`]; the
//! messages are decoded under the negotiated capabilities and logged. The
//! fake agent answers like spice-vdagent: its capabilities when the client
//! asks, clipboard requests from a table ([`TestServer::agent_set_clipboard`]),
//! MONITORS_CONFIG with REPLY, and file transfers by [`XferMode`] (files are
//! kept in memory). Tokens: the client gets [`AgentConfig::tokens`] and one
//! more for every chunk the fake agent consumes, in batches, as spice-server
//! does. A test can also make the "agent" send anything
//! ([`TestServer::agent_send`], [`TestServer::agent_send_bodies`] for hostile
//! framing) and come and go ([`TestServer::agent_connect`],
//! [`TestServer::agent_disconnect`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sumac::proto::channel::main::MainServer;
use sumac::proto::vdagent::caps::{self as c, AgentCaps};
use sumac::proto::vdagent::clipboard::clip_type;
use sumac::proto::vdagent::control::reply_error;
use sumac::proto::vdagent::{
    AgentLimits, AgentMessage, Clipboard, FileXferStatus, FramingError, Reassembler, Reply, XferResult, chunk_bodies,
    msg_type,
};

use crate::TestServer;

/// How the fake agent answers FILE_XFER_START.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XferMode {
    /// CAN_SEND_DATA, then SUCCESS once every byte arrived (as spice-vdagent).
    Accept,
    /// CAN_SEND_DATA, then nothing (a transfer stays in flight).
    AcceptSilently,
    /// Answers START with this status.
    Refuse(XferResult),
    /// Never answers.
    Silent,
}

/// The fake agent's configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// An agent is there when the client connects (MAIN_INIT `agent_connected`).
    pub connected: bool,
    /// What the fake agent announces.
    pub caps: AgentCaps,
    /// Tokens granted to the client at connect (spice-server: 10).
    pub tokens: u32,
    pub xfer: XferMode,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            connected: false,
            caps: linux_caps(),
            tokens: 10,
            xfer: XferMode::Accept,
        }
    }
}

/// What Debian 12's spice-vdagent announces (real-guest.md).
pub fn linux_caps() -> AgentCaps {
    AgentCaps::from_bits(&[
        c::MOUSE_STATE,
        c::MONITORS_CONFIG,
        c::REPLY,
        c::CLIPBOARD_BY_DEMAND,
        c::CLIPBOARD_SELECTION,
        c::SPARSE_MONITORS_CONFIG,
        c::GUEST_LINEEND_LF,
        c::MAX_CLIPBOARD,
        c::AUDIO_VOLUME_SYNC,
        c::GRAPHICS_DEVICE_INFO,
        c::CLIPBOARD_NO_RELEASE_ON_REGRAB,
        c::CLIPBOARD_GRAB_SERIAL,
    ])
}

/// A file the fake agent received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedFile {
    pub name: String,
    pub size: u64,
    pub data: Vec<u8>,
    /// The client sent STATUS CANCELLED.
    pub cancelled: bool,
    /// The fake agent answered SUCCESS.
    pub completed: bool,
}

/// What the fake agent saw.
#[derive(Debug, Default)]
pub struct AgentLog {
    /// Every message the client sent, decoded (FILE_XFER_DATA included).
    pub messages: Vec<AgentMessage>,
    /// Framing spice-server would refuse.
    pub framing_errors: Vec<FramingError>,
    /// Messages that did not decode.
    pub undecodable: u32,
    /// AGENT_DATA bodies received.
    pub chunks: u64,
    /// AGENT_START seen.
    pub started: bool,
    /// The client's capabilities.
    pub client_caps: Option<AgentCaps>,
    pub files: BTreeMap<u32, ReceivedFile>,
}

impl AgentLog {
    /// Messages of one type.
    pub fn of_type(&self, t: u32) -> Vec<&AgentMessage> {
        self.messages.iter().filter(|m| m.msg_type() == t).collect()
    }
}

#[derive(Debug)]
struct Inner {
    config: AgentConfig,
    connected: bool,
    reassembler: Reassembler,
    log: AgentLog,
    /// Main-channel messages for the client.
    outgoing: VecDeque<MainServer>,
    /// Clipboard content served on request.
    clipboard: BTreeMap<(u8, u32), Vec<u8>>,
    /// Chunks consumed since the last AGENT_TOKEN.
    unacked: u32,
}

/// The fake agent's state, shared by the main channel and the test.
#[derive(Debug)]
pub(crate) struct AgentState {
    inner: Mutex<Inner>,
}

impl AgentState {
    pub(crate) fn new(config: AgentConfig) -> Self {
        Self {
            inner: Mutex::new(Inner {
                connected: config.connected,
                config,
                reassembler: Reassembler::strict(AgentLimits::from_max_clipboard(-1)),
                log: AgentLog::default(),
                outgoing: VecDeque::new(),
                clipboard: BTreeMap::new(),
                unacked: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `(agent connected, tokens)` for MAIN_INIT.
    pub(crate) fn init(&self) -> (bool, u32) {
        let g = self.lock();
        (g.connected, g.config.tokens)
    }

    /// Messages the main channel must send now.
    pub(crate) fn take_outgoing(&self) -> Vec<MainServer> {
        self.lock().outgoing.drain(..).collect()
    }

    pub(crate) fn on_agent_start(&self) {
        self.lock().log.started = true;
    }

    /// One AGENT_DATA body from the client.
    pub(crate) fn on_agent_data(&self, body: &[u8]) {
        let mut g = self.lock();
        if !g.connected {
            return;
        }
        g.log.chunks += 1;
        g.unacked += 1;
        let batch = (g.config.tokens / 2).max(1);
        if g.unacked >= batch {
            let n = g.unacked;
            g.unacked = 0;
            g.outgoing.push_back(MainServer::AgentToken { num_tokens: n });
        }
        let items = g.reassembler.feed(body);
        for item in items {
            match item {
                Ok(raw) => {
                    let negotiated = g.negotiated();
                    match raw.into_message(&negotiated) {
                        Ok(m) => g.on_message(m),
                        Err(e) => {
                            tracing::warn!("fake agent: undecodable message: {e}");
                            g.log.undecodable += 1;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("fake agent: framing error: {e}");
                    g.log.framing_errors.push(e);
                }
            }
        }
    }
}

impl Inner {
    fn negotiated(&self) -> AgentCaps {
        match &self.log.client_caps {
            Some(client) => client.intersect(&self.config.caps),
            None => AgentCaps::new(),
        }
    }

    /// Queues `m` as AGENT_DATA bodies (encoded under the negotiated caps).
    fn send(&mut self, m: &AgentMessage) {
        let negotiated = self.negotiated();
        match m.to_bytes(&negotiated) {
            Ok(bytes) => {
                for body in chunk_bodies(&bytes) {
                    self.outgoing.push_back(MainServer::AgentData(body.to_vec()));
                }
            }
            Err(e) => tracing::warn!("fake agent cannot encode {m:?}: {e}"),
        }
    }

    fn status(&mut self, id: u32, result: XferResult) {
        self.send(&AgentMessage::FileXferStatus(FileXferStatus { id, result }));
    }

    fn on_message(&mut self, m: AgentMessage) {
        match &m {
            AgentMessage::AnnounceCapabilities { request, caps } => {
                self.log.client_caps = Some(caps.clone());
                if *request {
                    let own = self.config.caps.clone();
                    self.send(&AgentMessage::AnnounceCapabilities {
                        request: false,
                        caps: own,
                    });
                }
            }
            AgentMessage::ClipboardRequest { selection, clip_type } => {
                let data = self.clipboard.get(&(*selection, *clip_type)).cloned();
                let answer = match data {
                    Some(data) => Clipboard {
                        selection: *selection,
                        clip_type: *clip_type,
                        data,
                    },
                    None => Clipboard {
                        selection: *selection,
                        clip_type: clip_type::NONE,
                        data: Vec::new(),
                    },
                };
                self.send(&AgentMessage::Clipboard(answer));
            }
            AgentMessage::MonitorsConfig(_) => self.send(&AgentMessage::Reply(Reply {
                msg_type: msg_type::MONITORS_CONFIG,
                error: reply_error::SUCCESS,
            })),
            AgentMessage::FileXferStart(s) => {
                self.log.files.insert(
                    s.id,
                    ReceivedFile {
                        name: s.name.clone(),
                        size: s.size,
                        ..ReceivedFile::default()
                    },
                );
                match self.config.xfer {
                    XferMode::Accept | XferMode::AcceptSilently => self.status(s.id, XferResult::CanSendData),
                    XferMode::Refuse(r) => self.status(s.id, r),
                    XferMode::Silent => {}
                }
            }
            AgentMessage::FileXferData(d) => {
                let accept = self.config.xfer == XferMode::Accept;
                let mut done = false;
                if let Some(f) = self.log.files.get_mut(&d.id) {
                    f.data.extend_from_slice(&d.data);
                    if accept && f.data.len() as u64 >= f.size && !f.completed {
                        f.completed = true;
                        done = true;
                    }
                }
                if done {
                    self.status(d.id, XferResult::Success);
                }
            }
            AgentMessage::FileXferStatus(s) => {
                if s.result == XferResult::Cancelled
                    && let Some(f) = self.log.files.get_mut(&s.id)
                {
                    f.cancelled = true;
                }
            }
            _ => {}
        }
        // File data is kept in `files`; the log keeps the header only.
        let logged = match m {
            AgentMessage::FileXferData(mut d) => {
                d.data.clear();
                AgentMessage::FileXferData(d)
            }
            other => other,
        };
        self.log.messages.push(logged);
    }
}

impl TestServer {
    fn agent_state(&self) -> MutexGuard<'_, Inner> {
        self.inner.agent.lock()
    }

    /// The fake agent sends `m` (encoded under the negotiated capabilities) within ~20 ms.
    pub fn agent_send(&self, m: &AgentMessage) {
        self.agent_state().send(m);
    }

    /// The "agent" sends these AGENT_DATA bodies as they are (hostile framing).
    pub fn agent_send_bodies(&self, bodies: Vec<Vec<u8>>) {
        let mut g = self.agent_state();
        g.outgoing.extend(bodies.into_iter().map(MainServer::AgentData));
    }

    /// The agent attaches (AGENT_CONNECTED_TOKENS with the configured tokens).
    pub fn agent_connect(&self) {
        let mut g = self.agent_state();
        g.connected = true;
        g.reassembler.reset();
        g.log.client_caps = None;
        let tokens = g.config.tokens;
        g.outgoing
            .push_back(MainServer::AgentConnectedTokens { num_tokens: tokens });
    }

    /// The agent goes away (AGENT_DISCONNECTED).
    pub fn agent_disconnect(&self) {
        let mut g = self.agent_state();
        g.connected = false;
        g.outgoing.push_back(MainServer::AgentDisconnected { error_code: 0 });
    }

    /// What the fake agent serves for requests of (selection, type).
    pub fn agent_set_clipboard(&self, selection: u8, clip_type: u32, data: Vec<u8>) {
        self.agent_state().clipboard.insert((selection, clip_type), data);
    }

    pub fn agent_set_xfer_mode(&self, mode: XferMode) {
        self.agent_state().config.xfer = mode;
    }

    /// Runs `f` on what the fake agent saw.
    pub fn with_agent_log<R>(&self, f: impl FnOnce(&AgentLog) -> R) -> R {
        f(&self.agent_state().log)
    }

    /// Waits until `cond` holds on the fake agent's log, up to `timeout`.
    pub fn agent_wait_for(&self, timeout: Duration, cond: impl Fn(&AgentLog) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&self.agent_state().log) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
