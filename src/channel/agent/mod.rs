//! The guest agent as the main channel sees it, kept out of the main
//! machine: agent up/down, the token flow, the framing both ways, and the
//! agent protocol itself, split by concern:
//!
//! | concern | file |
//! |---|---|
//! | capability negotiation, MAX_CLIPBOARD, DISPLAY_CONFIG at start | [`caps`] |
//! | clipboard per selection (grab, request, data, release, serials) | [`clipboard`] |
//! | guest monitor layout (MONITORS_CONFIG) | [`monitors`] |
//! | file transfer (start, data under backpressure, status) | [`file_xfer`] |
//! | what the embedder sends and receives | [`types`] |
//!
//! # Lifecycle
//! On AGENT_CONNECTED (or MAIN_INIT with an agent) the client sends
//! AGENT_START and announces its capabilities with `request = 1`. Nothing
//! else goes out until the agent's announcement arrives ([`AgentEvent::Ready`]);
//! commands wait in the inbox meanwhile. When the agent goes away
//! (AGENT_DISCONNECTED, the channel closing) everything resets: the
//! embedder's clipboard requests fail, guest-owned selections are released,
//! transfers end with [`TransferOutcome::AgentGone`], partial messages are
//! dropped.
//!
//! # Tokens
//! Every AGENT_DATA the client sends costs one of the tokens the server
//! granted (MAIN_INIT / AGENT_CONNECTED_TOKENS, refilled by AGENT_TOKEN).
//! Chunks wait in a queue while no token is left; nothing is dropped while
//! the agent stays connected. We grant the server "unlimited" tokens in
//! AGENT_START (as spice-gtk), so its AGENT_DATA is never throttled by us.
//! File data is only cut into chunks while fewer than [`FILE_HIGH_WATER`]
//! chunks wait, so a large file never fills memory and clipboard messages
//! are not stuck behind it for long.
//!
//! # Framing
//! An agent message (`VDAgentMessage` header + body) travels in AGENT_DATA
//! bodies of at most [`MAX_AGENT_DATA`] bytes, the first starting with the
//! header; the server adds the chunk headers towards the guest. Incoming
//! bodies go through [`Reassembler`] with limits derived from MAX_CLIPBOARD
//! (clipboard payloads) and 256 KiB (every other message): an oversized
//! message is refused from its header on and never buffered.

#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

pub mod caps;
pub mod clipboard;
pub mod file_xfer;
pub mod monitors;
pub mod types;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

pub use types::{
    AgentCommand, AgentEvent, AgentInfo, AgentOptions, AgentStats, ClipType, ClipboardDirection, ClipboardFailure,
    DEFAULT_MAX_CLIPBOARD, DisplayEffects, MonitorSpec, ReplyTo, RequestId, Selection, TransferId, TransferOutcome,
};

use self::caps::Negotiation;
use self::clipboard::{ClipCaps, Clipboards};
use self::file_xfer::Transfers;
use super::Outputs;
use crate::client::agent::AgentShared;
use crate::client::events::SessionEvent;
use crate::proto::WriteCursor;
use crate::proto::channel::main::MainClient;
use crate::proto::vdagent::caps as agent_caps;
use crate::proto::vdagent::{
    AgentHeader, AgentMessage, Clipboard, FramingError, PROTOCOL, RawAgentMessage, Reassembler, msg_type,
};

/// `VD_AGENT_MAX_DATA_SIZE`: the largest AGENT_DATA body.
pub const MAX_AGENT_DATA: usize = 2048;
/// Agent tokens we grant the server (spice-gtk grants "unlimited").
pub const AGENT_TOKENS_GRANTED: u32 = u32::MAX;
/// File data is cut into chunks only while fewer chunks than this wait for tokens.
pub const FILE_HIGH_WATER: usize = 64;

/// What a sub-machine asks for; applied by [`Agent::apply`].
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) msgs: Vec<AgentMessage>,
    pub(crate) events: Vec<AgentEvent>,
    /// Read-ahead granted to a transfer's reader.
    pub(crate) grants: Vec<(TransferId, u64)>,
    /// Transfers whose reader must stop.
    pub(crate) finished: Vec<TransferId>,
    pub(crate) stats: AgentStats,
}

/// One AGENT_DATA body waiting for a token.
#[derive(Debug)]
struct Chunk {
    body: Vec<u8>,
    /// Its bytes count against the embedder's queue limit until sent.
    counted: bool,
}

/// Agent state of one session, owned by the main machine.
#[derive(Debug)]
pub struct Agent {
    shared: Arc<AgentShared>,
    options: AgentOptions,
    connected: bool,
    /// Tokens the server granted us and we have not used.
    tokens: u32,
    /// AGENT_DATA bodies waiting for a token.
    chunks: VecDeque<Chunk>,
    reassembler: Reassembler,
    nego: Negotiation,
    clipboard: Clipboards,
    transfers: Transfers,
    /// When the agent last sent anything (clipboard timeouts count from it).
    last_data: Option<Instant>,
    stats: AgentStats,
}

/// Cuts the concatenation of `parts` into AGENT_DATA bodies.
fn chunk_parts(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    let total: usize = parts.iter().map(|p| p.len()).fold(0, usize::saturating_add);
    let mut out = Vec::with_capacity(total.div_ceil(MAX_AGENT_DATA));
    let mut left = total;
    let mut cur = Vec::with_capacity(left.min(MAX_AGENT_DATA));
    for part in parts {
        let mut rest: &[u8] = part;
        while !rest.is_empty() {
            let take = MAX_AGENT_DATA.saturating_sub(cur.len()).min(rest.len());
            let (head, tail) = rest.split_at_checked(take).unwrap_or((rest, &[]));
            cur.extend_from_slice(head);
            rest = tail;
            left = left.saturating_sub(head.len());
            if cur.len() >= MAX_AGENT_DATA {
                out.push(std::mem::replace(
                    &mut cur,
                    Vec::with_capacity(left.min(MAX_AGENT_DATA)),
                ));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Agent {
    pub(crate) fn new(shared: Arc<AgentShared>, options: AgentOptions) -> Self {
        Self {
            shared,
            options,
            connected: false,
            tokens: 0,
            chunks: VecDeque::new(),
            reassembler: Reassembler::new(caps::limits(options.max_clipboard)),
            nego: Negotiation::new(),
            clipboard: Clipboards::default(),
            transfers: Transfers::default(),
            last_data: None,
            stats: AgentStats::default(),
        }
    }

    /// A machine with an inbox of its own, for tests and fuzzing: feed it
    /// with [`command`](Self::command).
    pub fn detached(options: AgentOptions) -> Self {
        Self::new(AgentShared::new(), options)
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The agent announced its capabilities.
    pub fn is_ready(&self) -> bool {
        self.connected && self.nego.ready()
    }

    /// What the agent can do, once ready.
    pub fn info(&self) -> Option<AgentInfo> {
        self.nego.info(&self.options)
    }

    /// Tokens left.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Chunks waiting for tokens.
    pub fn waiting_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Bytes waiting for tokens.
    pub fn waiting_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.body.len()).sum()
    }

    /// Bytes held by the reassembler for a partial message.
    pub fn held_bytes(&self) -> usize {
        self.reassembler.held_bytes()
    }

    /// File bytes read ahead and not sent yet.
    pub fn buffered_file_bytes(&self) -> u64 {
        self.transfers.buffered_bytes()
    }

    /// Transfers queued or running.
    pub fn transfers(&self) -> usize {
        self.transfers.len()
    }

    /// Clipboard requests of the embedder waiting for the guest.
    pub fn pending_clipboard_requests(&self) -> usize {
        self.clipboard.pending_requests()
    }

    pub fn stats(&self) -> AgentStats {
        self.stats
    }

    fn clip_caps(&self) -> ClipCaps {
        ClipCaps::of(&self.nego, caps::max_clipboard_bytes(self.options.max_clipboard))
    }

    /// The agent is there (MAIN_INIT with an agent, AGENT_CONNECTED[_TOKENS]).
    pub fn connected(&mut self, tokens: u32, out: &mut Outputs) {
        if self.connected {
            // A second announcement only refreshes the tokens.
            self.tokens = tokens;
            self.flush(out);
            return;
        }
        self.connected = true;
        self.tokens = tokens;
        self.nego.reset();
        self.reassembler.reset();
        self.clipboard.reset_serials();
        self.last_data = None;
        out.send(&MainClient::AgentStart {
            num_tokens: AGENT_TOKENS_GRANTED,
        });
        self.shared.set_up(true);
        out.event(SessionEvent::AgentConnected(true));
        let announce = self.nego.announce(true);
        self.queue(&announce, false);
        self.flush(out);
        self.publish();
    }

    /// The agent went away (or the channel closed): everything resets.
    pub fn disconnected(&mut self, error_code: u32, out: &mut Outputs) {
        let was = self.connected;
        if was {
            tracing::info!(error_code, "guest agent disconnected");
        }
        self.connected = false;
        self.tokens = 0;
        let dropped: usize = self.chunks.drain(..).filter(|c| c.counted).map(|c| c.body.len()).sum();
        self.shared.sent(dropped);
        self.shared.set_up(false);
        self.shared.set_info(None);
        self.reassembler.reset();
        self.nego.reset();
        let mut fx = Effects::default();
        self.clipboard.reset(&mut fx);
        self.transfers.reset(&TransferOutcome::AgentGone, &mut fx);
        self.apply(fx, false, out);
        self.shared.finish_all_readers();
        if was {
            out.event(SessionEvent::AgentConnected(false));
        }
        self.publish();
    }

    /// AGENT_TOKEN: more AGENT_DATA may go out.
    pub fn token(&mut self, n: u32, now: Instant, out: &mut Outputs) {
        self.tokens = self.tokens.saturating_add(n);
        self.pump_and_flush(now, out);
        self.publish();
    }

    /// AGENT_DATA from the agent.
    pub fn data(&mut self, body: &[u8], now: Instant, out: &mut Outputs) {
        if !self.connected {
            self.stats.data_without_agent += 1;
            self.publish();
            return;
        }
        self.last_data = Some(now);
        let was_ready = self.nego.ready();
        let mut fx = Effects::default();
        for item in self.reassembler.feed(body) {
            match item {
                Ok(raw) => self.message(raw, now, &mut fx),
                Err(FramingError::TooLarge { msg_type, size, max }) => {
                    tracing::warn!(msg_type, size, max, "agent message over the limit refused");
                    fx.stats.oversize_messages += 1;
                    if msg_type == msg_type::CLIPBOARD {
                        let max = caps::max_clipboard_bytes(self.options.max_clipboard).unwrap_or(u32::MAX);
                        self.clipboard.guest_data_too_large(size, max, &mut fx);
                    }
                }
                Err(e) => {
                    tracing::warn!("agent stream broken: {e}");
                    fx.stats.framing_errors += 1;
                    self.clipboard.fail_pending(ClipboardFailure::Protocol, &mut fx);
                }
            }
        }
        self.apply(fx, false, out);
        if !was_ready && self.nego.ready() {
            // Commands queued before the agent was ready go now.
            self.take_commands(now, out);
        }
        self.pump_and_flush(now, out);
        self.publish();
    }

    /// One whole message from the agent.
    fn message(&mut self, raw: RawAgentMessage, now: Instant, fx: &mut Effects) {
        let ty = raw.msg_type;
        let msg = match raw.into_message(self.nego.both()) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(msg_type = ty, "undecodable agent message: {e}");
                fx.stats.undecodable += 1;
                return;
            }
        };
        fx.stats.messages_received += 1;
        if let AgentMessage::AnnounceCapabilities { request, caps } = msg {
            self.caps_received(request, &caps, fx);
            return;
        }
        if !self.nego.ready() {
            tracing::debug!(msg_type = ty, "agent message before its capabilities dropped");
            fx.stats.unexpected += 1;
            return;
        }
        let cc = self.clip_caps();
        match msg {
            AgentMessage::ClipboardGrab(g) => self.clipboard.guest_grab(g, &cc, fx),
            AgentMessage::ClipboardRequest { selection, clip_type } => {
                self.clipboard.guest_request(selection, clip_type, &cc, now, fx)
            }
            AgentMessage::Clipboard(c) => self.clipboard.guest_data(c, &cc, fx),
            AgentMessage::ClipboardRelease { selection } => self.clipboard.guest_release(selection, &cc, now, fx),
            AgentMessage::FileXferStatus(s) => self.transfers.status(s, now, fx),
            AgentMessage::Reply(r) => {
                let to = match r.msg_type {
                    msg_type::MONITORS_CONFIG => ReplyTo::MonitorsConfig,
                    msg_type::DISPLAY_CONFIG => ReplyTo::DisplayConfig,
                    other => ReplyTo::Other(other),
                };
                let success = r.error == crate::proto::vdagent::control::reply_error::SUCCESS;
                tracing::info!(?to, success, "agent reply");
                fx.events.push(AgentEvent::Reply { to, success });
            }
            other => {
                tracing::debug!(msg_type = other.msg_type(), "agent message the client does not take");
                fx.stats.unexpected += 1;
            }
        }
    }

    fn caps_received(&mut self, request: bool, caps: &agent_caps::AgentCaps, fx: &mut Effects) {
        let first = !self.nego.ready();
        if let Some(answer) = self.nego.received(request, caps) {
            fx.msgs.push(answer);
        }
        if first {
            if self.nego.agent_has(agent_caps::DISPLAY_CONFIG) && !self.options.display.is_empty() {
                fx.msgs
                    .push(AgentMessage::DisplayConfig(self.options.display.to_message()));
            }
            if self.nego.agent_has(agent_caps::MAX_CLIPBOARD) {
                fx.msgs.push(AgentMessage::MaxClipboard {
                    max: self.options.max_clipboard,
                });
            }
        }
        let info = self.nego.info(&self.options);
        self.shared.set_info(info.clone());
        if let Some(info) = info {
            fx.events.push(AgentEvent::Ready(info));
        }
    }

    /// Takes the commands the embedder queued and sends what the tokens allow.
    pub fn commands(&mut self, now: Instant, out: &mut Outputs) {
        if !self.connected {
            // Stale commands (the inbox refuses new ones while no agent is there).
            let stale = self.shared.take();
            self.shared.sent(stale.iter().map(|q| q.counted).sum());
            return;
        }
        if !self.nego.ready() {
            // They wait for the agent's capabilities: every layout depends on them.
            return;
        }
        self.take_commands(now, out);
        self.pump_and_flush(now, out);
        self.publish();
    }

    fn take_commands(&mut self, now: Instant, out: &mut Outputs) {
        let items = self.shared.take();
        let last_layout = items
            .iter()
            .rposition(|q| matches!(q.cmd, AgentCommand::MonitorsConfig(_)));
        for (i, q) in items.into_iter().enumerate() {
            self.shared.sent(q.counted);
            if matches!(q.cmd, AgentCommand::MonitorsConfig(_)) && Some(i) != last_layout {
                continue;
            }
            self.run_command(q.cmd, q.counted > 0, now, out);
        }
    }

    /// Runs one command as if the embedder had queued it (tests, fuzzing).
    pub fn command(&mut self, cmd: AgentCommand, now: Instant, out: &mut Outputs) {
        if !self.is_ready() {
            return;
        }
        self.run_command(cmd, false, now, out);
        self.pump_and_flush(now, out);
        self.publish();
    }

    fn run_command(&mut self, cmd: AgentCommand, counted: bool, now: Instant, out: &mut Outputs) {
        let mut fx = Effects::default();
        let cc = self.clip_caps();
        match cmd {
            AgentCommand::Raw(bytes) => {
                let chunks = chunk_parts(&[&bytes]);
                self.push_chunks(chunks, counted);
            }
            AgentCommand::ClipboardGrab { selection, types } => {
                self.clipboard.client_grab(selection, types, &cc, &mut fx)
            }
            AgentCommand::ClipboardRelease { selection } => self.clipboard.client_release(selection, &cc, &mut fx),
            AgentCommand::ClipboardRequest {
                id,
                selection,
                clip_type,
            } => self
                .clipboard
                .client_request(id, selection, clip_type, &cc, now, &mut fx),
            AgentCommand::ClipboardData {
                selection,
                clip_type,
                data,
            } => self.clipboard.client_data(selection, clip_type, data, &cc, &mut fx),
            AgentCommand::ClipboardNoData { selection } => self.clipboard.client_no_data(selection, &mut fx),
            AgentCommand::MonitorsConfig(heads) => {
                if !self.nego.agent_has(agent_caps::MONITORS_CONFIG) {
                    tracing::warn!("the agent does not take MONITORS_CONFIG; layout dropped");
                } else {
                    let sparse = self.nego.agent_has(agent_caps::SPARSE_MONITORS_CONFIG);
                    match monitors::encode(&heads, sparse) {
                        Ok(m) => fx.msgs.push(AgentMessage::MonitorsConfig(m)),
                        Err(e) => tracing::warn!("monitors config dropped: {e}"),
                    }
                }
            }
            AgentCommand::DisplayConfig(effects) => {
                if self.nego.agent_has(agent_caps::DISPLAY_CONFIG) {
                    fx.msgs.push(AgentMessage::DisplayConfig(effects.to_message()));
                } else {
                    tracing::debug!("the agent does not take DISPLAY_CONFIG");
                }
            }
            AgentCommand::VolumeSync(v) => {
                if self.nego.agent_has(agent_caps::AUDIO_VOLUME_SYNC) {
                    fx.msgs.push(AgentMessage::AudioVolumeSync(v));
                } else {
                    tracing::debug!("the agent does not take AUDIO_VOLUME_SYNC");
                }
            }
            AgentCommand::FileStart { id, name, size } => {
                let disabled = self.nego.agent_has(agent_caps::FILE_XFER_DISABLED);
                self.transfers.add(id, name, size, disabled, now, &mut fx);
            }
            AgentCommand::FileData { id, data } => self.transfers.data(id, data),
            AgentCommand::FileReadError { id, error } => self.transfers.read_error(id, error, now, &mut fx),
            AgentCommand::CancelFile { id } => self.transfers.cancel(id, now, &mut fx),
        }
        self.apply(fx, counted, out);
    }

    /// When [`wake`](Self::wake) has something to do (timeouts).
    pub fn next_wake(&self) -> Option<Instant> {
        if !self.connected {
            return None;
        }
        let clip = self.clipboard.next_wake(self.last_data);
        let files = self.transfers.next_wake();
        match (clip, files) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The time asked for by [`next_wake`](Self::next_wake) came.
    pub fn wake(&mut self, now: Instant, out: &mut Outputs) {
        if !self.connected {
            return;
        }
        let mut fx = Effects::default();
        self.clipboard.expire(now, self.last_data, &mut fx);
        self.transfers.expire(now, &mut fx);
        self.apply(fx, false, out);
        self.pump_and_flush(now, out);
        self.publish();
    }

    /// Sends the messages, tells the readers, emits the events.
    fn apply(&mut self, fx: Effects, counted: bool, out: &mut Outputs) {
        let Effects {
            msgs,
            events,
            grants,
            finished,
            stats,
        } = fx;
        for m in &msgs {
            self.queue(m, counted);
        }
        for (id, n) in grants {
            self.shared.grant(id, n);
        }
        for id in finished {
            self.shared.finish_reader(id);
        }
        self.stats.add(&stats);
        for e in events {
            out.event(SessionEvent::Agent(e));
        }
    }

    /// Encodes one message under the negotiated caps and queues its chunks.
    fn queue(&mut self, msg: &AgentMessage, counted: bool) {
        if !self.connected {
            return;
        }
        let caps = self.nego.both();
        let chunks = match msg {
            // Clipboard data may be 100 MB: cut it without copying it whole first.
            AgentMessage::Clipboard(c) => {
                let head = AgentMessage::Clipboard(Clipboard {
                    selection: c.selection,
                    clip_type: c.clip_type,
                    data: Vec::new(),
                })
                .encode_body(caps);
                match head.map(|h| {
                    let size = u32::try_from(h.len().saturating_add(c.data.len()));
                    (h, size)
                }) {
                    Ok((head, Ok(size))) => {
                        let mut w = WriteCursor::with_capacity(crate::proto::vdagent::HEADER_SIZE);
                        AgentHeader {
                            protocol: PROTOCOL,
                            msg_type: msg_type::CLIPBOARD,
                            opaque: 0,
                            size,
                        }
                        .encode(&mut w);
                        Ok(chunk_parts(&[w.as_slice(), &head, &c.data]))
                    }
                    Ok((_, Err(_))) => Err("clipboard data larger than 4 GiB".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            }
            other => other
                .to_bytes(caps)
                .map(|b| chunk_parts(&[&b]))
                .map_err(|e| e.to_string()),
        };
        match chunks {
            Ok(chunks) => {
                self.stats.messages_sent += 1;
                self.push_chunks(chunks, counted);
            }
            Err(e) => {
                tracing::warn!(msg_type = msg.msg_type(), "agent message not sent: {e}");
                self.stats.encode_errors += 1;
            }
        }
    }

    fn push_chunks(&mut self, chunks: Vec<Vec<u8>>, counted: bool) {
        if counted {
            self.shared.add_queued(chunks.iter().map(Vec::len).sum());
        }
        self.chunks
            .extend(chunks.into_iter().map(|body| Chunk { body, counted }));
    }

    /// Cuts more file data while few chunks wait, then sends what the tokens allow.
    fn pump_and_flush(&mut self, now: Instant, out: &mut Outputs) {
        loop {
            self.flush(out);
            if !self.connected || self.chunks.len() >= FILE_HIGH_WATER || !self.transfers.has_data() {
                break;
            }
            let mut fx = Effects::default();
            if self.transfers.pump(1, now, &mut fx) == 0 {
                break;
            }
            self.apply(fx, false, out);
        }
    }

    fn flush(&mut self, out: &mut Outputs) {
        while self.tokens > 0 {
            let Some(chunk) = self.chunks.pop_front() else {
                break;
            };
            self.tokens -= 1;
            if chunk.counted {
                self.shared.sent(chunk.body.len());
            }
            self.stats.chunks_sent += 1;
            out.send(&MainClient::AgentData(chunk.body));
        }
    }

    fn publish(&self) {
        self.shared.set_stats(self.stats);
    }
}

#[cfg(test)]
#[path = "../tests/agent.rs"]
mod tests;
