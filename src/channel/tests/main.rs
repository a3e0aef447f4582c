//! The main machine from byte vectors.

use super::*;
use crate::channel::Output;
use crate::proto::channel::main::{ChannelId, MainInit, MainServer};

const BOTH: u32 = mouse_mode::SERVER | mouse_mode::CLIENT;

fn ctx() -> Ctx {
    Ctx::new(std::time::Instant::now(), 0)
}

fn machine(settings: MainSettings) -> (MainMachine, Arc<InputsShared>, Arc<AgentShared>) {
    let inputs = InputsShared::new();
    let agent = AgentShared::new();
    (
        MainMachine::new(settings, Arc::clone(&inputs), Arc::clone(&agent)),
        inputs,
        agent,
    )
}

fn feed(m: &mut MainMachine, msg: &MainServer) -> (Handled, Outputs) {
    let mut out = Outputs::new();
    let h = m.message(msg.msg_type(), &msg.to_body(), &ctx(), &mut out).unwrap();
    (h, out)
}

fn sent(out: &Outputs) -> Vec<MainClient> {
    out.items()
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg_type, body } => Some(MainClient::decode(*msg_type, body).unwrap()),
            _ => None,
        })
        .collect()
}

fn init(agent: u32, tokens: u32, current_mouse: u32) -> MainServer {
    MainServer::Init(MainInit {
        session_id: 0xabcd,
        display_channels_hint: 1,
        supported_mouse_modes: BOTH,
        current_mouse_mode: current_mouse,
        agent_connected: agent,
        agent_tokens: tokens,
        multi_media_time: 5000,
        ram_hint: 0,
    })
}

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

#[test]
fn main_init_sets_the_clock_asks_for_client_mode_starts_the_agent_and_attaches() {
    let (mut m, inputs, agent) = machine(MainSettings::default());
    let (h, out) = feed(&mut m, &init(1, 10, mouse_mode::SERVER));
    assert_eq!(h, Handled::Done);
    assert!(matches!(out.items()[0], Output::SetMmTime(5000)));
    assert!(out.items().iter().any(|o| matches!(
        o,
        Output::Event(SessionEvent::Init {
            session_id: 0xabcd,
            agent_connected: true,
            ..
        })
    )));
    assert_eq!(
        sent(&out),
        vec![
            MainClient::MouseModeRequest {
                mode: mouse_mode::CLIENT as u16
            },
            MainClient::AgentStart { num_tokens: u32::MAX },
            // The client's capabilities (request = 1): header, request, one word.
            MainClient::AgentData(
                crate::proto::vdagent::AgentMessage::AnnounceCapabilities {
                    request: true,
                    caps: crate::proto::vdagent::caps::client_caps()
                }
                .to_bytes(&crate::proto::vdagent::AgentCaps::new())
                .unwrap()
            ),
            MainClient::AttachChannels,
        ]
    );
    assert_eq!(m.session_id(), Some(0xabcd));
    assert_eq!(
        crate::client::inputs::InputsHandle::new(inputs).mouse_mode(),
        Some(MouseMode::Server)
    );
    assert!(agent.is_up());
    assert_eq!(m.agent().tokens(), 9);
}

#[test]
fn channels_list_spawns_each_channel_once_except_main_tunnel_and_disabled() {
    let (mut m, _, _) = machine(MainSettings {
        mouse_mode: None,
        disabled_channels: vec![ChannelType::PLAYBACK],
        ..MainSettings::default()
    });
    let ids = |list: &[(u8, u8)]| {
        MainServer::ChannelsList(
            list.iter()
                .map(|&(channel_type, id)| ChannelId { channel_type, id })
                .collect(),
        )
    };
    // Before MAIN_INIT: ignored.
    let (_, out) = feed(&mut m, &ids(&[(2, 0)]));
    assert!(out.is_empty());
    feed(&mut m, &init(0, 0, mouse_mode::CLIENT));
    let (_, out) = feed(&mut m, &ids(&[(1, 0), (2, 0), (2, 1), (3, 0), (5, 0), (7, 0), (2, 0)]));
    let spawned: Vec<(ChannelKey, u32, usize)> = out
        .items()
        .iter()
        .filter_map(|o| match o {
            Output::Spawn {
                channel,
                connection_id,
                display_channels,
            } => Some((*channel, *connection_id, *display_channels)),
            _ => None,
        })
        .collect();
    let k = |t, id| ChannelKey::new(ChannelType(t), id);
    assert_eq!(
        spawned,
        vec![(k(2, 0), 0xabcd, 3), (k(2, 1), 0xabcd, 3), (k(3, 0), 0xabcd, 3)]
    );
    // Listed again: nothing new.
    let (_, out) = feed(&mut m, &ids(&[(2, 0), (3, 0)]));
    assert!(!out.items().iter().any(|o| matches!(o, Output::Spawn { .. })));
}

#[test]
fn a_thousand_channels_are_capped() {
    let (mut m, _, _) = machine(MainSettings::default());
    feed(&mut m, &init(0, 0, mouse_mode::CLIENT));
    let list: Vec<ChannelId> = (0..1020u32)
        .map(|i| ChannelId {
            channel_type: 9 + (i / 256) as u8,
            id: (i % 256) as u8,
        })
        .collect();
    let (_, out) = feed(&mut m, &MainServer::ChannelsList(list));
    let spawns = out.items().iter().filter(|o| matches!(o, Output::Spawn { .. })).count();
    assert_eq!(spawns, MAX_LINKED_CHANNELS);
    assert_eq!(m.channels_over_cap(), 1020 - MAX_LINKED_CHANNELS as u64);
}

#[test]
fn agent_messages_wait_for_tokens_and_vanish_with_the_agent() {
    let (mut m, _, agent) = machine(MainSettings::default());
    feed(&mut m, &init(0, 0, mouse_mode::CLIENT));
    // No agent: the inbox refuses.
    assert!(agent.push(vec![1; 10]).is_err());
    let (_, out) = feed(&mut m, &MainServer::AgentConnectedTokens { num_tokens: 2 });
    let s = sent(&out);
    assert_eq!(s[0], MainClient::AgentStart { num_tokens: u32::MAX });
    assert!(matches!(&s[1..], [MainClient::AgentData(d)] if d.len() == 28), "{s:?}");
    agent.push(vec![7; 5000]).unwrap();
    let mut out = Outputs::new();
    m.commands(&ctx(), &mut out).unwrap();
    // Nothing but the announcement before the agent's capabilities.
    assert!(sent(&out).is_empty());
    let caps = crate::proto::vdagent::AgentMessage::AnnounceCapabilities {
        request: false,
        caps: crate::proto::vdagent::AgentCaps::from_bits(&[crate::proto::vdagent::caps::CLIPBOARD_BY_DEMAND]),
    }
    .to_bytes(&crate::proto::vdagent::AgentCaps::new())
    .unwrap();
    let (h, out) = feed(&mut m, &MainServer::AgentData(caps));
    assert_eq!(h, Handled::Done);
    // Now the queued message goes: 5000 bytes = 3 chunks; one token left: one goes out.
    assert_eq!(sent(&out), vec![MainClient::AgentData(vec![7; 2048])]);
    let (_, out) = feed(&mut m, &MainServer::AgentToken { num_tokens: 5 });
    assert_eq!(
        sent(&out),
        vec![
            MainClient::AgentData(vec![7; 2048]),
            MainClient::AgentData(vec![7; 904])
        ]
    );
    assert_eq!(m.agent().tokens(), 3);
    assert_eq!(agent.queued_bytes(), 0);
    // Gone: queued data is dropped, the embedder is told.
    agent.push(vec![1; 3]).unwrap();
    let (_, out) = feed(&mut m, &MainServer::AgentDisconnected { error_code: 0 });
    assert!(matches!(
        out.items(),
        [Output::Event(SessionEvent::AgentConnected(false))]
    ));
    assert!(!agent.is_up());
    assert_eq!(agent.queued_bytes(), 0);
    // Agent data without an agent is counted and dropped.
    let (h, _) = feed(&mut m, &MainServer::AgentData(vec![1, 2, 3]));
    assert_eq!(h, Handled::Done);
    assert_eq!(m.agent().stats().data_without_agent, 1);
}

#[test]
fn truncated_main_messages_close_the_channel() {
    let (mut m, _, _) = machine(MainSettings::default());
    let mut out = Outputs::new();
    assert!(matches!(
        m.message(crate::proto::channel::main::msg::INIT, &[1, 2, 3], &ctx(), &mut out),
        Err(ChannelError::Decode(_))
    ));
}

mod migration {
    use super::*;
    use crate::channel::migration::{Migration, MigrationEvent, MigrationTarget};
    use crate::proto::caps::main as main_caps;
    use crate::proto::channel::main::MigrationDst;

    fn settings() -> MainSettings {
        MainSettings {
            semi_seamless_migration: true,
            seamless_migration: true,
            ..MainSettings::default()
        }
    }

    fn dst() -> MigrationDst {
        MigrationDst {
            port: 5930,
            sport: 0,
            host: b"10.0.0.2".to_vec(),
            cert_subject: Some(b"CN=dst".to_vec()),
        }
    }

    fn migrations(out: &Outputs) -> Vec<Migration> {
        out.items()
            .iter()
            .filter_map(|o| match o {
                Output::Migration(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn caps_follow_the_settings() {
        let (m, _, _) = machine(settings());
        let caps = m.caps();
        assert!(caps.contains(&main_caps::SEMI_SEAMLESS_MIGRATE));
        assert!(caps.contains(&main_caps::SEAMLESS_MIGRATE));
        let (m, _, _) = machine(MainSettings {
            seamless_migration: true,
            ..MainSettings::default()
        });
        // Seamless needs semi-seamless.
        assert!(!m.caps().contains(&main_caps::SEAMLESS_MIGRATE));
    }

    #[test]
    fn semi_seamless_connect_end_and_destination_init() {
        let (mut m, _, _) = machine(settings());
        feed(&mut m, &init(0, 10, mouse_mode::CLIENT));
        let (_, out) = feed(&mut m, &MainServer::MigrateBegin(dst()));
        let target = MigrationTarget {
            host: "10.0.0.2".into(),
            port: Some(5930),
            tls_port: None,
            cert_subject: Some("CN=dst".into()),
        };
        assert_eq!(
            migrations(&out),
            [Migration::Connect {
                target,
                seamless: None,
                session_id: 0xabcd
            }]
        );
        let mut out = Outputs::new();
        m.migration_event(MigrationEvent::Connected { seamless: false }, &ctx(), &mut out)
            .unwrap();
        assert_eq!(sent(&out), [MainClient::MigrateConnected]);
        // MIGRATE_END: switch, then MIGRATE_END goes (to the destination).
        let (_, out) = feed(&mut m, &MainServer::MigrateEnd);
        assert!(matches!(
            out.items(),
            [Output::Migration(Migration::SwitchMain), Output::Send { .. }]
        ));
        assert_eq!(sent(&out), [MainClient::MigrateEnd]);
        // The destination's MAIN_INIT: no ATTACH_CHANNELS, the children move.
        let (_, out) = feed(&mut m, &init(0, 10, mouse_mode::CLIENT));
        assert_eq!(migrations(&out), [Migration::SwitchChildren]);
        assert!(!sent(&out).contains(&MainClient::AttachChannels));
        assert!(!m.is_migrating());
    }

    #[test]
    fn seamless_is_offered_only_when_enabled_and_answered_seamlessly() {
        let (mut m, _, _) = machine(settings());
        feed(&mut m, &init(0, 10, mouse_mode::CLIENT));
        let (_, out) = feed(
            &mut m,
            &MainServer::MigrateBeginSeamless {
                dst: dst(),
                src_mig_version: 3,
            },
        );
        assert!(matches!(
            &migrations(&out)[..],
            [Migration::Connect { seamless: Some(3), .. }]
        ));
        let mut out = Outputs::new();
        m.migration_event(MigrationEvent::Connected { seamless: true }, &ctx(), &mut out)
            .unwrap();
        assert_eq!(sent(&out), [MainClient::MigrateConnectedSeamless]);

        let (mut m, _, _) = machine(MainSettings {
            semi_seamless_migration: true,
            ..MainSettings::default()
        });
        feed(&mut m, &init(0, 10, mouse_mode::CLIENT));
        let (_, out) = feed(
            &mut m,
            &MainServer::MigrateBeginSeamless {
                dst: dst(),
                src_mig_version: 3,
            },
        );
        assert!(matches!(
            &migrations(&out)[..],
            [Migration::Connect { seamless: None, .. }]
        ));
    }

    #[test]
    fn failure_cancel_and_switch_host() {
        let (mut m, _, _) = machine(settings());
        // Before MAIN_INIT there is no session to move.
        let (_, out) = feed(&mut m, &MainServer::MigrateBegin(dst()));
        assert_eq!(sent(&out), [MainClient::MigrateConnectError]);
        feed(&mut m, &init(0, 10, mouse_mode::CLIENT));
        feed(&mut m, &MainServer::MigrateBegin(dst()));
        let mut out = Outputs::new();
        m.migration_event(MigrationEvent::Failed, &ctx(), &mut out).unwrap();
        assert_eq!(migrations(&out), [Migration::Abort]);
        assert_eq!(sent(&out), [MainClient::MigrateConnectError]);
        // A late result after a cancel is ignored.
        feed(&mut m, &MainServer::MigrateBegin(dst()));
        let (_, out) = feed(&mut m, &MainServer::MigrateCancel);
        assert_eq!(migrations(&out), [Migration::Abort]);
        let mut out = Outputs::new();
        m.migration_event(MigrationEvent::Connected { seamless: false }, &ctx(), &mut out)
            .unwrap();
        assert!(out.is_empty());
        // MIGRATE_END without a connected destination is skipped.
        let (h, out) = feed(&mut m, &MainServer::MigrateEnd);
        assert_eq!(h, Handled::Skipped);
        assert!(out.is_empty());
        let (_, out) = feed(&mut m, &MainServer::MigrateSwitchHost(dst()));
        assert!(matches!(&migrations(&out)[..], [Migration::SwitchHost(t)] if t.host == "10.0.0.2"));
    }
}
