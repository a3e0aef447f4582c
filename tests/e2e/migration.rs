//! Migration against two test servers: the source tells the client to move
//! to a destination started with the source's session id
//! (`sumac_test_server::migration`). Semi-seamless, seamless (and its NACK
//! fallback), switch-host, cancel and a destination that cannot be reached:
//! after each the session runs on the right server (its picture, its
//! inputs), and it never ended.

use crate::support::session::{next_event, primary_image, wait_mark};
use std::time::{Duration, Instant};
use sumac::client::{ConnectionConfig, MigrationSupport, SessionEvent, SessionHandle, SessionOptions, SessionState};
use sumac::proto::ChannelType;
use sumac::proto::channel::display::DisplayServer;
use sumac::proto::channel::inputs::InputsClient;
use sumac::proto::channel::main::msgc as main_msgc;
use sumac::proto::consts::msgc as base_msgc;
use sumac_test_server::migration::{MigrationFinish, MigrationMode, MigrationOrder, migrate_data_blob};
use sumac_test_server::scene::{Scene, SceneBuilder};
use sumac_test_server::{ServerConfig, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(20);

/// The destination draws something else than the source's standard scene.
fn destination_scene() -> Scene {
    SceneBuilder::new(320, 240)
        .fill(0, 0, 320, 240, 0x00_80_10_20)
        .fill(40, 40, 100, 60, 0x00_10_e0_40)
        .build()
}

fn servers(dst: ServerConfig) -> (TestServer, TestServer) {
    let src = TestServer::start(ServerConfig::default()).unwrap();
    let dst = TestServer::start(ServerConfig {
        session_id: Some(src.session_id()),
        scene: destination_scene(),
        ..dst
    })
    .unwrap();
    (src, dst)
}

fn connect(src: &TestServer, migration: MigrationSupport) -> (SessionHandle, UnboundedReceiver<SessionEvent>) {
    let options = SessionOptions {
        migration,
        ..SessionOptions::default()
    };
    let (session, mut rx) = sumac::client::connect(ConnectionConfig::from_uri(&src.uri()).unwrap(), options).unwrap();
    wait_mark(&mut rx, WAIT);
    let inputs = session.inputs();
    assert!(
        crate::support::wait::poll_until(WAIT, || inputs.is_ready()),
        "inputs channel ready"
    );
    (session, rx)
}

/// Events until `done` says so; panics if the session ends meanwhile.
fn events_until(
    rx: &mut UnboundedReceiver<SessionEvent>,
    mut done: impl FnMut(&SessionEvent) -> bool,
) -> Vec<SessionEvent> {
    let until = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let e = next_event(rx, until).unwrap_or_else(|| panic!("timed out; events so far: {seen:?}"));
        if let SessionEvent::Disconnected { error } = &e {
            panic!("the session ended: {error:?}; events: {seen:?}");
        }
        let stop = done(&e);
        seen.push(e);
        if stop {
            return seen;
        }
    }
}

fn order(dst: &TestServer, mode: MigrationMode, finish: MigrationFinish) -> MigrationOrder {
    MigrationOrder {
        mode,
        finish,
        dst: dst.migration_dst(),
    }
}

fn assert_picture(session: &SessionHandle, scene: &Scene) {
    let until = Instant::now() + WAIT;
    loop {
        let img = primary_image(session).expect("a primary surface");
        if (img.width, img.height) == (scene.width, scene.height) && img.data == scene.expected_rgb {
            return;
        }
        assert!(Instant::now() < until, "the picture never became the expected scene");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Keys reach the destination's inputs channel.
fn assert_inputs_reach(session: &SessionHandle, dst: &TestServer) {
    let inputs = session.inputs();
    assert!(
        crate::support::wait::poll_until(WAIT, || inputs.is_ready()),
        "inputs ready after the migration"
    );
    inputs.send_keys(&[0x1e]);
    assert!(
        dst.wait_for_inputs(WAIT, |log| log
            .iter()
            .any(|e| e.msg == InputsClient::KeyScancode(vec![0x1e]))),
        "the key never reached the destination"
    );
}

fn received_types(server: &TestServer, channel: ChannelType) -> Vec<u16> {
    server.with_record(|r| {
        r.received
            .iter()
            .filter(|m| m.channel.0 == channel)
            .map(|m| m.msg_type)
            .collect()
    })
}

#[test]
fn semi_seamless_migration_moves_every_channel_to_the_destination() {
    let (src, dst) = servers(ServerConfig::default());
    let (session, mut rx) = connect(
        &src,
        MigrationSupport {
            semi_seamless: true,
            seamless: false,
        },
    );
    src.migrate(order(&dst, MigrationMode::Auto, MigrationFinish::Complete));
    let seen = events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    assert!(
        seen.iter()
            .any(|e| matches!(e, SessionEvent::State(SessionState::Migrating))),
        "{seen:?}"
    );
    assert_picture(&session, &destination_scene());
    assert_inputs_reach(&session, &dst);
    // The source heard MIGRATE_CONNECTED; the destination got MIGRATE_END
    // first on main, then DISPLAY_INIT again.
    assert!(received_types(&src, ChannelType::MAIN).contains(&main_msgc::MIGRATE_CONNECTED));
    assert_eq!(
        received_types(&dst, ChannelType::MAIN).first(),
        Some(&main_msgc::MIGRATE_END)
    );
    assert_eq!(received_types(&dst, ChannelType::DISPLAY).first(), Some(&101));
    // Every destination link carried the source's session id.
    let ids = dst.with_record(|r| r.connection_ids.clone());
    assert!(
        ids.len() >= 4 && ids.iter().all(|&id| id == src.session_id()),
        "{ids:?}"
    );
    assert_eq!(session.state(), SessionState::Up);
    session.disconnect();
}

#[test]
fn seamless_migration_hands_each_channel_its_data_first() {
    let (src, dst) = servers(ServerConfig::default());
    let (session, mut rx) = connect(&src, MigrationSupport::default());
    src.migrate(order(&dst, MigrationMode::Auto, MigrationFinish::Complete));
    events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    // The destination draws its scene on the surface the client kept.
    assert_picture(&session, &destination_scene());
    assert_inputs_reach(&session, &dst);
    assert!(received_types(&src, ChannelType::MAIN).contains(&main_msgc::MIGRATE_CONNECTED_SEAMLESS));
    assert!(received_types(&src, ChannelType::DISPLAY).contains(&base_msgc::MIGRATE_FLUSH_MARK));
    let main = received_types(&dst, ChannelType::MAIN);
    assert_eq!(main.first(), Some(&main_msgc::MIGRATE_DST_DO_SEAMLESS), "{main:?}");
    // MIGRATE_DATA is the first message each channel sends the destination,
    // with the source's blob.
    for ch in [ChannelType::DISPLAY, ChannelType::INPUTS] {
        let first = dst.with_record(|r| r.received.iter().find(|m| m.channel.0 == ch).cloned());
        let first = first.unwrap_or_else(|| panic!("{ch:?} sent nothing to the destination"));
        assert_eq!(first.msg_type, base_msgc::MIGRATE_DATA, "{ch:?}");
        assert_eq!(first.body, migrate_data_blob((ch, 0)));
    }
    // No DISPLAY_INIT again: the display continues.
    assert!(!received_types(&dst, ChannelType::DISPLAY).contains(&101));
    session.disconnect();
}

#[test]
fn seamless_refused_by_the_destination_falls_back_to_semi_seamless() {
    let (src, dst) = servers(ServerConfig {
        refuse_seamless: true,
        ..ServerConfig::default()
    });
    let (session, mut rx) = connect(&src, MigrationSupport::default());
    src.migrate(order(&dst, MigrationMode::Auto, MigrationFinish::Complete));
    events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    assert_picture(&session, &destination_scene());
    assert!(received_types(&src, ChannelType::MAIN).contains(&main_msgc::MIGRATE_CONNECTED));
    assert!(received_types(&dst, ChannelType::MAIN).contains(&main_msgc::MIGRATE_END));
    assert_inputs_reach(&session, &dst);
    session.disconnect();
}

#[test]
fn switch_host_relinks_the_session_to_the_new_host() {
    let src = TestServer::start(ServerConfig::default()).unwrap();
    // A plain server: switch-host is a new connection.
    let dst = TestServer::start(ServerConfig {
        scene: destination_scene(),
        ..ServerConfig::default()
    })
    .unwrap();
    let (session, mut rx) = connect(
        &src,
        MigrationSupport {
            semi_seamless: false,
            seamless: false,
        },
    );
    src.migrate(order(&dst, MigrationMode::Auto, MigrationFinish::Complete));
    let seen = events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    assert!(
        !seen.iter().any(|e| matches!(e, SessionEvent::Disconnected { .. })),
        "{seen:?}"
    );
    assert_picture(&session, &destination_scene());
    assert_inputs_reach(&session, &dst);
    assert_eq!(dst.with_record(|r| r.connection_ids.first().copied()), Some(0));
    session.disconnect();
}

#[test]
fn a_cancelled_migration_stays_on_the_source() {
    let (src, dst) = servers(ServerConfig::default());
    let (session, mut rx) = connect(&src, MigrationSupport::default());
    src.migrate(order(&dst, MigrationMode::SemiSeamless, MigrationFinish::Cancel));
    events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Migrating)));
    events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    // The destination's links close; the source keeps the session.
    assert!(dst.wait_for(WAIT, |r| r.closed.len() >= r.linked.len() && !r.linked.is_empty()));
    assert_inputs_reach(&session, &src);
    assert_picture(&session, &sumac_test_server::scene::standard());
    session.disconnect();
}

#[test]
fn an_unreachable_destination_is_answered_with_connect_error() {
    let src = TestServer::start(ServerConfig::default()).unwrap();
    let mut gone = TestServer::start(ServerConfig::default()).unwrap();
    let dst_info = gone.migration_dst();
    gone.stop();
    drop(gone);
    let (session, mut rx) = connect(&src, MigrationSupport::default());
    src.migrate(MigrationOrder {
        mode: MigrationMode::SemiSeamless,
        finish: MigrationFinish::Complete,
        dst: dst_info,
    });
    assert!(
        src.wait_for(WAIT, |r| r.received.iter().any(|m| m.msg_type
            == main_msgc::MIGRATE_CONNECT_ERROR
            && m.channel.0 == ChannelType::MAIN)),
        "no MIGRATE_CONNECT_ERROR"
    );
    events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    assert_inputs_reach(&session, &src);
    session.disconnect();
}

/// A destination that first announces another mode and has not drawn yet
/// (QEMU right after a live migration): the window keeps the source's
/// picture (in the new mode's surface, top-left) instead of going black.
#[test]
fn the_picture_does_not_go_black_before_the_destinations_first_draw() {
    let before = sumac_test_server::scene::standard();
    let mut quiet = SceneBuilder::new(200, 100).build();
    // Only the mode: no draw, no MARK.
    quiet.messages.retain(|m| {
        matches!(
            m,
            DisplayServer::SurfaceCreate(_) | DisplayServer::MonitorsConfig { .. }
        )
    });
    let src = TestServer::start(ServerConfig::default()).unwrap();
    let dst = TestServer::start(ServerConfig {
        session_id: Some(src.session_id()),
        scene: quiet,
        ..ServerConfig::default()
    })
    .unwrap();
    let (session, mut rx) = connect(
        &src,
        MigrationSupport {
            semi_seamless: true,
            seamless: false,
        },
    );
    assert_picture(&session, &before);
    src.migrate(order(&dst, MigrationMode::Auto, MigrationFinish::Complete));
    events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    let until = Instant::now() + WAIT;
    let img = loop {
        let img = primary_image(&session).expect("a primary surface");
        if (img.width, img.height) == (200, 100) {
            break img;
        }
        assert!(Instant::now() < until, "the destination's mode never came");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The source's picture, cropped to the new mode: not black.
    let w = before.width as usize;
    for y in 0..100usize {
        let want = &before.expected_rgb[y * w * 3..(y * w + 200) * 3];
        let got = &img.data[y * 200 * 3..(y + 1) * 200 * 3];
        assert!(got == want, "row {y} differs from the source's picture");
    }
    assert!(img.data.iter().any(|&b| b != 0), "the picture went black");
    session.disconnect();
}
