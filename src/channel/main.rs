//! The main channel: session bring-up (MAIN_INIT, ATTACH_CHANNELS,
//! CHANNELS_LIST → one [`Output::Spawn`] per channel), mouse mode, the
//! multimedia clock, name and UUID, and the migration decisions
//! ([`super::migration`]); the agent is [`super::agent`]'s.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::agent::{Agent, AgentOptions};
use super::migration::{Migration, MigrationEvent, MigrationTarget};
use super::{ChannelError, ChannelKey, Ctx, Handled, Machine, Output, Outputs};
use crate::client::agent::AgentShared;
use crate::client::events::SessionEvent;
use crate::client::inputs::{InputsShared, MouseMode};
use crate::connector::client::Linked;
use crate::proto::caps::main as main_caps;
use crate::proto::channel::main::{MainClient, MainServer};
use crate::proto::consts::mouse_mode;
use crate::proto::{ChannelType, Message};

/// Most channels one session links (a CHANNELS_LIST of a thousand channels
/// would otherwise mean a thousand threads and sockets); the rest are
/// counted and skipped. A real server lists about 20.
pub const MAX_LINKED_CHANNELS: usize = 64;

/// What the main machine needs to know of the user's settings.
#[derive(Debug, Clone, Default)]
pub struct MainSettings {
    /// Preferred mouse mode (`None`: client mode when offered, as remote-viewer).
    pub mouse_mode: Option<MouseMode>,
    /// Channel types not to open even if the server lists them.
    pub disabled_channels: Vec<ChannelType>,
    /// Offer semi-seamless migration (MIGRATE_BEGIN / MIGRATE_END); without
    /// it a migrating server sends MIGRATE_SWITCH_HOST.
    pub semi_seamless_migration: bool,
    /// Offer seamless migration (needs `semi_seamless_migration`).
    pub seamless_migration: bool,
    /// The guest agent's clipboard limit and display effects.
    pub agent: AgentOptions,
}

/// Where the main channel is in a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum MigrationState {
    #[default]
    Idle,
    /// The runtime links the destination.
    Connecting,
    /// The source was told MIGRATE_CONNECTED(_SEAMLESS).
    Connected { seamless: bool },
    /// Semi-seamless: moved to the destination, waiting for its MAIN_INIT.
    AwaitingDstInit,
}

/// The main channel's state.
#[derive(Debug)]
pub struct MainMachine {
    settings: MainSettings,
    inputs: Arc<InputsShared>,
    agent: Agent,
    session_id: Option<u32>,
    spawned: BTreeSet<(u8, u8)>,
    /// Channels listed beyond [`MAX_LINKED_CHANNELS`].
    over_cap: u64,
    migration: MigrationState,
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

impl MainMachine {
    pub(crate) fn new(settings: MainSettings, inputs: Arc<InputsShared>, agent: Arc<AgentShared>) -> Self {
        Self {
            settings: settings.clone(),
            inputs,
            agent: Agent::new(agent, settings.agent),
            session_id: None,
            spawned: BTreeSet::new(),
            over_cap: 0,
            migration: MigrationState::Idle,
        }
    }

    /// The session id from MAIN_INIT.
    pub fn session_id(&self) -> Option<u32> {
        self.session_id
    }

    /// Channels listed and not linked because of [`MAX_LINKED_CHANNELS`].
    pub fn channels_over_cap(&self) -> u64 {
        self.over_cap
    }

    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// A migration is under way (connecting, connected or switching).
    pub fn is_migrating(&self) -> bool {
        self.migration != MigrationState::Idle
    }

    fn migrate_begin(&mut self, target: MigrationTarget, seamless: Option<u32>, out: &mut Outputs) {
        if self.migration != MigrationState::Idle {
            // A new MIGRATE_BEGIN replaces the previous one (spice-server
            // cancels a migration that is followed by another).
            tracing::info!("a new migration replaces the one under way");
            out.push(Output::Migration(Migration::Abort));
        }
        tracing::info!(host = %target.host, port = ?target.port, tls_port = ?target.tls_port,
            subject = ?target.cert_subject, seamless = seamless.is_some(), "migration: linking the destination");
        let Some(session_id) = self.session_id else {
            tracing::warn!("MIGRATE_BEGIN before MAIN_INIT; answering MIGRATE_CONNECT_ERROR");
            out.send(&MainClient::MigrateConnectError);
            return;
        };
        self.migration = MigrationState::Connecting;
        out.push(Output::Migration(Migration::Connect {
            target,
            seamless,
            session_id,
        }));
    }

    fn init(&mut self, init: &crate::proto::channel::main::MainInit, out: &mut Outputs) {
        let after_migration = self.migration == MigrationState::AwaitingDstInit;
        self.session_id = Some(init.session_id);
        out.push(Output::SetMmTime(init.multi_media_time));
        tracing::info!(
            session_id = init.session_id,
            mouse = init.current_mouse_mode,
            agent = init.agent_connected,
            ram_hint = init.ram_hint,
            after_migration,
            "main channel initialised"
        );
        self.inputs.set_mouse_mode(init.current_mouse_mode);
        out.event(SessionEvent::Init {
            session_id: init.session_id,
            supported_mouse_modes: init.supported_mouse_modes,
            current_mouse_mode: init.current_mouse_mode,
            agent_connected: init.agent_connected != 0,
        });
        if let Some(mode) = mouse_mode_to_request(
            self.settings.mouse_mode,
            init.supported_mouse_modes,
            init.current_mouse_mode,
        ) {
            tracing::info!(mode, "requesting mouse mode");
            out.send(&MainClient::MouseModeRequest { mode });
        }
        if init.agent_connected != 0 {
            self.agent.connected(init.agent_tokens, out);
        }
        if after_migration {
            // Semi-seamless: the channels are the same; move them now (no
            // ATTACH_CHANNELS, as spice-gtk).
            self.migration = MigrationState::Idle;
            out.push(Output::Migration(Migration::SwitchChildren));
        } else {
            out.send(&MainClient::AttachChannels);
        }
    }

    fn channels_list(&mut self, list: &[crate::proto::channel::main::ChannelId], out: &mut Outputs) {
        let Some(session_id) = self.session_id else {
            tracing::warn!("CHANNELS_LIST before MAIN_INIT; ignoring");
            return;
        };
        let keys: Vec<ChannelKey> = list
            .iter()
            .map(|c| ChannelKey::new(ChannelType(c.channel_type), c.id))
            .collect();
        out.event(SessionEvent::ChannelsList(keys.clone()));
        let display_channels = keys.iter().filter(|k| k.channel_type == ChannelType::DISPLAY).count();
        for key in keys {
            let t = key.channel_type;
            if t == ChannelType::MAIN || t == ChannelType::TUNNEL {
                continue;
            }
            if self.settings.disabled_channels.contains(&t) {
                tracing::info!(channel = %key, "channel disabled by the user");
                continue;
            }
            if self.spawned.contains(&(t.0, key.id)) {
                continue;
            }
            if self.spawned.len() >= MAX_LINKED_CHANNELS {
                if self.over_cap == 0 {
                    tracing::warn!(
                        max = MAX_LINKED_CHANNELS,
                        "the server lists too many channels; the rest are not linked"
                    );
                }
                self.over_cap = self.over_cap.saturating_add(1);
                continue;
            }
            self.spawned.insert((t.0, key.id));
            out.push(Output::Spawn {
                channel: key,
                connection_id: session_id,
                display_channels,
            });
        }
    }
}

impl Machine for MainMachine {
    fn caps(&self) -> Vec<u32> {
        let mut caps = vec![main_caps::NAME_AND_UUID, main_caps::AGENT_CONNECTED_TOKENS];
        if self.settings.semi_seamless_migration {
            caps.push(main_caps::SEMI_SEAMLESS_MIGRATE);
            if self.settings.seamless_migration {
                caps.push(main_caps::SEAMLESS_MIGRATE);
            }
        }
        caps
    }

    fn migrated(&mut self, _link: &Linked, seamless: bool, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        if seamless {
            // The destination continues the session: nothing to send.
            self.migration = MigrationState::Idle;
        }
        Ok(())
    }

    fn migration_event(&mut self, event: MigrationEvent, _ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        if self.migration != MigrationState::Connecting {
            tracing::debug!(?event, "migration result after a cancel; ignored");
            return Ok(());
        }
        match event {
            MigrationEvent::Connected { seamless } => {
                tracing::info!(seamless, "migration: the destination is linked");
                self.migration = MigrationState::Connected { seamless };
                if seamless {
                    out.send(&MainClient::MigrateConnectedSeamless);
                } else {
                    out.send(&MainClient::MigrateConnected);
                }
            }
            MigrationEvent::Failed => {
                tracing::warn!("migration: the destination could not be linked");
                self.migration = MigrationState::Idle;
                out.push(Output::Migration(Migration::Abort));
                out.send(&MainClient::MigrateConnectError);
            }
        }
        Ok(())
    }

    fn message(&mut self, msg_type: u16, body: &[u8], ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        match MainServer::decode(msg_type, body)? {
            MainServer::Init(init) => self.init(&init, out),
            MainServer::ChannelsList(list) => self.channels_list(&list, out),
            MainServer::MouseMode { supported, current } => {
                tracing::info!(supported, current, "mouse mode changed");
                self.inputs.set_mouse_mode(u32::from(current));
                out.event(SessionEvent::MouseMode { supported, current });
            }
            MainServer::MultiMediaTime { time } => {
                out.push(Output::SetMmTime(time));
                out.event(SessionEvent::MultiMediaTime(time));
            }
            MainServer::Name(name) => out.event(SessionEvent::Name(String::from_utf8_lossy(&name).into_owned())),
            MainServer::Uuid(u) => out.event(SessionEvent::Uuid(u)),
            MainServer::AgentConnected => self.agent.connected(0, out),
            MainServer::AgentConnectedTokens { num_tokens } => self.agent.connected(num_tokens, out),
            MainServer::AgentDisconnected { error_code } => self.agent.disconnected(error_code, out),
            MainServer::AgentToken { num_tokens } => self.agent.token(num_tokens, ctx.now, out),
            MainServer::AgentData(data) => self.agent.data(&data, ctx.now, out),
            MainServer::MigrateBegin(dst) => self.migrate_begin(MigrationTarget::from(&dst), None, out),
            MainServer::MigrateBeginSeamless { dst, src_mig_version } => {
                let seamless = self.settings.seamless_migration.then_some(src_mig_version);
                self.migrate_begin(MigrationTarget::from(&dst), seamless, out);
            }
            MainServer::MigrateCancel => {
                tracing::info!("migration cancelled by the server");
                self.migration = MigrationState::Idle;
                out.push(Output::Migration(Migration::Abort));
            }
            MainServer::MigrateEnd => match self.migration {
                MigrationState::Connected { .. } => {
                    tracing::info!("migration: switching to the destination");
                    self.migration = MigrationState::AwaitingDstInit;
                    out.push(Output::Migration(Migration::SwitchMain));
                    // Queued after the switch: the destination's first message.
                    out.send(&MainClient::MigrateEnd);
                }
                state => {
                    tracing::warn!(?state, "MIGRATE_END without a connected destination; ignored");
                    return Ok(Handled::Skipped);
                }
            },
            MainServer::MigrateSwitchHost(dst) => {
                let target = MigrationTarget::from(&dst);
                tracing::info!(host = %target.host, port = ?target.port, tls_port = ?target.tls_port,
                    "switch-host: relinking to another host");
                if self.migration != MigrationState::Idle {
                    out.push(Output::Migration(Migration::Abort));
                }
                self.migration = MigrationState::Idle;
                out.push(Output::Migration(Migration::SwitchHost(target)));
            }
            // Answers of a destination's main channel, read by the runtime
            // during the connect phase; here they are out of place.
            MainServer::MigrateDstSeamlessAck | MainServer::MigrateDstSeamlessNack => {
                tracing::warn!(msg_type, "seamless-migration answer outside a migration; ignored");
                return Ok(Handled::Skipped);
            }
            MainServer::Base(_) | MainServer::Unknown { .. } => return Ok(Handled::Skipped),
        }
        Ok(Handled::Done)
    }

    fn commands(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.agent.commands(ctx.now, out);
        Ok(())
    }

    fn next_wake(&self) -> Option<std::time::Instant> {
        self.agent.next_wake()
    }

    fn wake(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.agent.wake(ctx.now, out);
        Ok(())
    }

    fn closed(&mut self) {
        let mut out = Outputs::new();
        self.agent.disconnected(0, &mut out);
    }
}

#[cfg(test)]
#[path = "tests/main.rs"]
mod tests;
