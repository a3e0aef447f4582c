//! The guest agent as the main channel sees it, kept out of the main
//! machine: agent up/down, the token flow, and the cutting of whole agent
//! messages into AGENT_DATA messages.
//!
//! # Tokens
//! Every AGENT_DATA the client sends costs one of the tokens the server
//! granted (MAIN_INIT / AGENT_CONNECTED_TOKENS, refilled by AGENT_TOKEN).
//! Chunks wait in a queue while no token is left; nothing is dropped while
//! the agent stays connected. We grant the server "unlimited" tokens in
//! AGENT_START (as spice-gtk), so its AGENT_DATA is never throttled by us.
//!
//! # Chunking
//! An agent message (`VDAgentMessage` header + body) travels in AGENT_DATA
//! bodies of at most [`MAX_AGENT_DATA`] bytes, the first starting with the
//! header; the server adds the chunk headers towards the guest.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Outputs;
use crate::client::agent::AgentShared;
use crate::client::events::SessionEvent;
use crate::proto::channel::main::MainClient;

/// `VD_AGENT_MAX_DATA_SIZE`: the largest AGENT_DATA body.
pub const MAX_AGENT_DATA: usize = 2048;
/// Agent tokens we grant the server (spice-gtk grants "unlimited").
pub const AGENT_TOKENS_GRANTED: u32 = u32::MAX;

/// Agent state of one session, owned by the main machine.
#[derive(Debug)]
pub struct Agent {
    shared: Arc<AgentShared>,
    connected: bool,
    /// Tokens the server granted us and we have not used.
    tokens: u32,
    /// AGENT_DATA bodies waiting for a token.
    chunks: VecDeque<Vec<u8>>,
}

impl Agent {
    pub(crate) fn new(shared: Arc<AgentShared>) -> Self {
        Self {
            shared,
            connected: false,
            tokens: 0,
            chunks: VecDeque::new(),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Tokens left.
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Chunks waiting for tokens.
    pub fn waiting_chunks(&self) -> usize {
        self.chunks.len()
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
        out.send(&MainClient::AgentStart {
            num_tokens: AGENT_TOKENS_GRANTED,
        });
        self.shared.set_up(true);
        out.event(SessionEvent::AgentConnected(true));
    }

    /// The agent went away: what was queued for it is dropped.
    pub fn disconnected(&mut self, error_code: u32, out: &mut Outputs) {
        tracing::info!(error_code, "guest agent disconnected");
        let was = self.connected;
        self.connected = false;
        self.tokens = 0;
        let dropped: usize = self.chunks.drain(..).map(|c| c.len()).sum();
        self.shared.sent(dropped);
        self.shared.set_up(false);
        if was {
            out.event(SessionEvent::AgentConnected(false));
        }
    }

    /// AGENT_TOKEN: more AGENT_DATA may go out.
    pub fn token(&mut self, n: u32, out: &mut Outputs) {
        self.tokens = self.tokens.saturating_add(n);
        self.flush(out);
    }

    /// AGENT_DATA from the agent. The agent protocol is decoded by a later
    /// layer; today the data is counted and skipped.
    pub fn data(&mut self, data: &[u8]) -> bool {
        tracing::debug!(len = data.len(), "agent data received (not handled yet)");
        false
    }

    /// Takes the messages the embedder queued and sends what the tokens allow.
    pub fn commands(&mut self, out: &mut Outputs) {
        for message in self.shared.take() {
            if !self.connected {
                self.shared.sent(message.len());
                continue;
            }
            self.queue_message(&message);
        }
        self.flush(out);
    }

    /// Cuts one encoded agent message into AGENT_DATA bodies.
    fn queue_message(&mut self, message: &[u8]) {
        self.chunks.extend(message.chunks(MAX_AGENT_DATA).map(<[u8]>::to_vec));
    }

    fn flush(&mut self, out: &mut Outputs) {
        while self.tokens > 0 {
            let Some(chunk) = self.chunks.pop_front() else {
                break;
            };
            self.tokens -= 1;
            self.shared.sent(chunk.len());
            out.send(&MainClient::AgentData(chunk));
        }
    }
}

#[cfg(test)]
#[path = "../tests/agent.rs"]
mod tests;
