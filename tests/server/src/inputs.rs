//! The test server's inputs channel: sends INPUTS_INIT with configured lock
//! modifiers, records every client message decoded, acknowledges mouse motion
//! every N messages (or never, to exercise the client's cap), and lets a test
//! inject server messages (MOUSE_MOTION_ACK, KEY_MODIFIERS) at any time.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use sumac::proto::base::Message;
use sumac::proto::channel::inputs::{InputsClient, InputsServer, MOTION_ACK_BUNCH};

/// How the inputs channel behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputsConfig {
    /// Announce `SPICE_INPUTS_CAP_KEY_SCANCODE`.
    pub scancode_cap: bool,
    /// Lock modifiers sent in INPUTS_INIT.
    pub init_modifiers: u16,
    /// Send MOUSE_MOTION_ACK after every N motion/position messages; `None` = never.
    pub ack_every: Option<u32>,
    /// Echo KEY_MODIFIERS back as the guest's new state (like a server whose guest obeyed).
    pub echo_modifiers: bool,
}

impl Default for InputsConfig {
    fn default() -> Self {
        Self {
            scancode_cap: true,
            init_modifiers: 0,
            ack_every: Some(MOTION_ACK_BUNCH),
            echo_modifiers: true,
        }
    }
}

/// One client message and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputsEvent {
    pub at: Instant,
    pub msg: InputsClient,
}

/// What the inputs channel saw and what is queued for it to send.
#[derive(Debug, Default)]
pub(crate) struct InputsState {
    log: Mutex<Vec<InputsEvent>>,
    outgoing: Mutex<VecDeque<InputsServer>>,
    /// Motion/position messages since the last ack.
    unacked: Mutex<u32>,
    /// Keys and clicks for the demo desktop.
    pub(crate) demo: crate::demo::DemoInputs,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl InputsState {
    pub(crate) fn init_message(config: &InputsConfig) -> InputsServer {
        InputsServer::Init {
            modifiers: config.init_modifiers,
        }
    }

    /// Records one client message; returns what the server answers.
    pub(crate) fn on_client_message(&self, config: &InputsConfig, msg_type: u16, body: &[u8]) -> Vec<InputsServer> {
        let msg = match InputsClient::decode(msg_type, body) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("test server: undecodable inputs message {msg_type}: {e}");
                InputsClient::Unknown {
                    msg_type,
                    data: body.to_vec(),
                }
            }
        };
        self.demo.observe(&msg);
        let mut replies = Vec::new();
        match &msg {
            InputsClient::MouseMotion { .. } | InputsClient::MousePosition { .. } => {
                let mut n = lock(&self.unacked);
                *n += 1;
                if let Some(every) = config.ack_every
                    && every > 0
                    && *n >= every
                {
                    *n -= every;
                    replies.push(InputsServer::MouseMotionAck);
                }
            }
            InputsClient::KeyModifiers { modifiers } if config.echo_modifiers => {
                replies.push(InputsServer::KeyModifiers { modifiers: *modifiers });
            }
            _ => {}
        }
        lock(&self.log).push(InputsEvent {
            at: Instant::now(),
            msg,
        });
        replies
    }

    pub(crate) fn queue(&self, m: InputsServer) {
        lock(&self.outgoing).push_back(m);
    }

    pub(crate) fn take_outgoing(&self) -> Vec<InputsServer> {
        lock(&self.outgoing).drain(..).collect()
    }

    pub(crate) fn log(&self) -> Vec<InputsEvent> {
        lock(&self.log).clone()
    }

    pub(crate) fn clear(&self) {
        lock(&self.log).clear();
    }

    pub(crate) fn wait_for(&self, timeout: Duration, cond: impl Fn(&[InputsEvent]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&lock(&self.log)) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
