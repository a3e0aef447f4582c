//! The main channel: session bring-up, mouse mode, agent bookkeeping, and the
//! children it owns.

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::inputs::MouseMode;
use super::red_channel::{ChannelHandler, Outbox};
use super::session::Shared;
use crate::connector::client::Linked;
use crate::proto::caps::main as main_caps;
use crate::proto::channel::main::{MainClient, MainServer};
use crate::proto::consts::mouse_mode;
use crate::proto::{ChannelType, Message};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Agent tokens we grant the server (spice-gtk grants "unlimited").
const AGENT_TOKENS_GRANTED: u32 = u32::MAX;

pub(crate) struct MainHandler {
    shared: Arc<Shared>,
    session_id: Option<u32>,
    spawned: BTreeSet<(u8, u8)>,
    agent_connected: bool,
    /// Tokens the server granted us for AGENT_DATA.
    agent_tokens: u32,
}

impl MainHandler {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            session_id: None,
            spawned: BTreeSet::new(),
            agent_connected: false,
            agent_tokens: 0,
        }
    }

    fn channel() -> ChannelKey {
        ChannelKey {
            channel_type: ChannelType::MAIN,
            id: 0,
        }
    }

    fn agent_started(&mut self, tokens: u32, out: &mut Outbox) {
        self.agent_connected = true;
        self.agent_tokens = tokens;
        out.send(&MainClient::AgentStart {
            num_tokens: AGENT_TOKENS_GRANTED,
        });
        self.shared.emit(SessionEvent::AgentConnected(true));
    }
}

/// The MOUSE_MODE_REQUEST to send after MAIN_INIT, if any: the preferred mode
/// (client unless the user asked for server) when the server supports it and
/// does not use it already.
fn mouse_mode_to_request(preference: Option<MouseMode>, supported: u32, current: u32) -> Option<u16> {
    let wanted = match preference {
        Some(MouseMode::Server) => mouse_mode::SERVER,
        Some(MouseMode::Client) | None => mouse_mode::CLIENT,
    };
    (supported & wanted != 0 && current != wanted)
        .then(|| u16::try_from(wanted).ok())
        .flatten()
}

impl ChannelHandler for MainHandler {
    fn caps(&self) -> Vec<u32> {
        vec![main_caps::NAME_AND_UUID, main_caps::AGENT_CONNECTED_TOKENS]
    }

    fn on_linked(&mut self, _linked: &Linked, _out: &mut Outbox) -> Result<(), ClientError> {
        Ok(())
    }

    fn on_message(&mut self, msg_type: u16, body: &[u8], out: &mut Outbox) -> Result<bool, ClientError> {
        let msg = MainServer::decode(msg_type, body).map_err(|source| ClientError::Protocol {
            channel: Self::channel(),
            source,
        })?;
        match msg {
            MainServer::Init(init) => {
                self.session_id = Some(init.session_id);
                self.shared.set_mm_time(init.multi_media_time);
                tracing::info!(
                    session_id = init.session_id,
                    mouse = init.current_mouse_mode,
                    agent = init.agent_connected,
                    ram_hint = init.ram_hint,
                    "main channel initialised"
                );
                self.shared.inputs.set_mouse_mode(init.current_mouse_mode);
                self.shared.emit(SessionEvent::Init {
                    session_id: init.session_id,
                    supported_mouse_modes: init.supported_mouse_modes,
                    current_mouse_mode: init.current_mouse_mode,
                    agent_connected: init.agent_connected != 0,
                });
                if let Some(mode) = mouse_mode_to_request(
                    self.shared.config.mouse_mode,
                    init.supported_mouse_modes,
                    init.current_mouse_mode,
                ) {
                    tracing::info!(mode, "requesting mouse mode");
                    out.send(&MainClient::MouseModeRequest { mode });
                }
                if init.agent_connected != 0 {
                    self.agent_started(init.agent_tokens, out);
                }
                out.send(&MainClient::AttachChannels);
            }
            MainServer::ChannelsList(list) => {
                let Some(session_id) = self.session_id else {
                    tracing::warn!("CHANNELS_LIST before MAIN_INIT; ignoring");
                    return Ok(true);
                };
                let keys: Vec<ChannelKey> = list
                    .iter()
                    .map(|c| ChannelKey {
                        channel_type: ChannelType(c.channel_type),
                        id: c.id,
                    })
                    .collect();
                self.shared.emit(SessionEvent::ChannelsList(keys.clone()));
                let display_channels = keys.iter().filter(|k| k.channel_type == ChannelType::DISPLAY).count();
                for key in keys {
                    let t = key.channel_type;
                    if t == ChannelType::MAIN || t == ChannelType::TUNNEL {
                        continue;
                    }
                    if self.shared.options.disabled_channels.contains(&t) {
                        tracing::info!(channel = %key, "channel disabled by the user");
                        continue;
                    }
                    if !self.spawned.insert((t.0, key.id)) {
                        continue;
                    }
                    self.shared.spawn_child(key, session_id, display_channels)?;
                }
            }
            MainServer::MouseMode { supported, current } => {
                tracing::info!(supported, current, "mouse mode changed");
                self.shared.inputs.set_mouse_mode(u32::from(current));
                self.shared.emit(SessionEvent::MouseMode { supported, current });
            }
            MainServer::MultiMediaTime { time } => {
                self.shared.set_mm_time(time);
                self.shared.emit(SessionEvent::MultiMediaTime(time));
            }
            MainServer::Name(name) => {
                self.shared
                    .emit(SessionEvent::Name(String::from_utf8_lossy(&name).into_owned()));
            }
            MainServer::Uuid(u) => self.shared.emit(SessionEvent::Uuid(u)),
            MainServer::AgentConnected => self.agent_started(0, out),
            MainServer::AgentConnectedTokens { num_tokens } => self.agent_started(num_tokens, out),
            MainServer::AgentDisconnected { error_code } => {
                tracing::info!(error_code, "guest agent disconnected");
                self.agent_connected = false;
                self.agent_tokens = 0;
                self.shared.emit(SessionEvent::AgentConnected(false));
            }
            MainServer::AgentToken { num_tokens } => {
                self.agent_tokens = self.agent_tokens.saturating_add(num_tokens);
            }
            MainServer::AgentData(data) => {
                // The vdagent protocol (clipboard, monitors, files) is a later issue.
                tracing::debug!(len = data.len(), "agent data received (not handled yet)");
                return Ok(false);
            }
            MainServer::MigrateBegin(_)
            | MainServer::MigrateBeginSeamless(_)
            | MainServer::MigrateSwitchHost(_)
            | MainServer::MigrateCancel
            | MainServer::MigrateEnd
            | MainServer::MigrateDstSeamlessAck
            | MainServer::MigrateDstSeamlessNack => {
                tracing::warn!(msg_type, "migration is not supported yet; ignoring");
                return Ok(false);
            }
            MainServer::Base(_) | MainServer::Unknown { .. } => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: u32 = mouse_mode::SERVER | mouse_mode::CLIENT;

    #[test]
    fn mouse_mode_request_follows_the_preference() {
        let client = Some(mouse_mode::CLIENT as u16);
        let server = Some(mouse_mode::SERVER as u16);
        // Default and Client: client mode whenever offered and not current.
        assert_eq!(mouse_mode_to_request(None, BOTH, mouse_mode::SERVER), client);
        assert_eq!(
            mouse_mode_to_request(Some(MouseMode::Client), BOTH, mouse_mode::SERVER),
            client
        );
        assert_eq!(mouse_mode_to_request(None, BOTH, mouse_mode::CLIENT), None);
        assert_eq!(
            mouse_mode_to_request(None, mouse_mode::SERVER, mouse_mode::SERVER),
            None
        );
        // Server: stay in server mode, or ask for it back.
        assert_eq!(
            mouse_mode_to_request(Some(MouseMode::Server), BOTH, mouse_mode::SERVER),
            None
        );
        assert_eq!(
            mouse_mode_to_request(Some(MouseMode::Server), BOTH, mouse_mode::CLIENT),
            server
        );
        // Not offered: nothing asked.
        assert_eq!(
            mouse_mode_to_request(Some(MouseMode::Server), mouse_mode::CLIENT, mouse_mode::CLIENT),
            None
        );
        assert_eq!(mouse_mode_to_request(None, 0, 0), None);
    }
}
