//! Capability negotiation with the agent (reference §1.7, §4.3).
//!
//! On AGENT_CONNECTED the client announces its capabilities with
//! `request = 1` (the agent answers with its own and, seeing the request,
//! zeroes its clipboard grab serials). When the agent announces with
//! `request = 1`, the client answers with `request = 0`. What both announced
//! decides the message layouts (selection prefix, grab serial, detailed
//! transfer errors); the agent-only bits (line ends, sparse monitors,
//! MAX_CLIPBOARD, volume sync, FILE_XFER_DISABLED...) are read from the
//! agent's own set.
//!
//! Until the agent's set arrives the machine sends nothing but the
//! announcement: every layout may depend on it.

use super::types::{AgentInfo, AgentOptions};
use crate::proto::vdagent::caps::{self as agent_caps, AgentCaps, client_caps};
use crate::proto::vdagent::clipboard::LineEnd;
use crate::proto::vdagent::{AgentLimits, AgentMessage};

/// Bits beyond this are ignored in the agent's announcement (spice-gtk keeps
/// one word; future agents may send more).
const MAX_CAP_WORDS: usize = 8;

/// The negotiation of one agent connection.
#[derive(Debug)]
pub(super) struct Negotiation {
    ours: AgentCaps,
    theirs: Option<AgentCaps>,
    both: AgentCaps,
}

impl Negotiation {
    pub(super) fn new() -> Self {
        Self {
            ours: client_caps(),
            theirs: None,
            both: AgentCaps::new(),
        }
    }

    /// Forgets the agent's set (the agent went away).
    pub(super) fn reset(&mut self) {
        self.theirs = None;
        self.both = AgentCaps::new();
    }

    /// Our announcement.
    pub(super) fn announce(&self, request: bool) -> AgentMessage {
        AgentMessage::AnnounceCapabilities {
            request,
            caps: self.ours.clone(),
        }
    }

    /// The agent's announcement: keeps its set (at most [`MAX_CAP_WORDS`]
    /// words) and the intersection. Returns the answer to send, if any.
    pub(super) fn received(&mut self, request: bool, caps: &AgentCaps) -> Option<AgentMessage> {
        let words: Vec<u32> = caps.words().iter().take(MAX_CAP_WORDS).copied().collect();
        let theirs = AgentCaps::from_words(words);
        self.both = self.ours.intersect(&theirs);
        tracing::info!(
            caps = ?agent_caps::describe(&theirs),
            request,
            "guest agent capabilities"
        );
        self.theirs = Some(theirs);
        request.then(|| self.announce(false))
    }

    /// The agent announced its capabilities.
    pub(super) fn ready(&self) -> bool {
        self.theirs.is_some()
    }

    /// What both ends announced (empty before the agent's set): the layouts.
    pub(super) fn both(&self) -> &AgentCaps {
        &self.both
    }

    /// Whether both ends announced `bit`.
    pub(super) fn negotiated(&self, bit: u32) -> bool {
        self.both.has(bit)
    }

    /// Whether the agent announced `bit`.
    pub(super) fn agent_has(&self, bit: u32) -> bool {
        self.theirs.as_ref().is_some_and(|c| c.has(bit))
    }

    pub(super) fn line_end(&self) -> Option<LineEnd> {
        self.theirs.as_ref().and_then(LineEnd::of_guest)
    }

    /// What the embedder sees.
    pub(super) fn info(&self, options: &AgentOptions) -> Option<AgentInfo> {
        let theirs = self.theirs.clone()?;
        Some(AgentInfo {
            line_end: LineEnd::of_guest(&theirs),
            agent_caps: theirs,
            negotiated: self.both.clone(),
            max_clipboard: options.max_clipboard,
        })
    }
}

/// The reassembler limits for a client announcing `max_clipboard`.
pub(super) fn limits(max_clipboard: i32) -> AgentLimits {
    AgentLimits::from_max_clipboard(max_clipboard)
}

/// The limit as a byte count, if there is one.
pub(super) fn max_clipboard_bytes(max_clipboard: i32) -> Option<u32> {
    u32::try_from(max_clipboard).ok()
}
