//! A session that survives its connection: automatic reconnect (server
//! restarted, connections reset through the fault proxy), the reconnect
//! cancelled or refused (a password that no longer works), no reconnect
//! when it is off, one channel failing while the session goes on, and a
//! slow or briefly blackholed network (`sumac_test_server::fault`).

use crate::support::session::{next_event, primary_image, wait_mark};
use crate::support::wait::poll_until;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sumac::client::config::Password;
use sumac::client::{
    ClientError, ConnectionConfig, ReconnectPolicy, SessionEvent, SessionHandle, SessionOptions, SessionState,
};
use sumac::proto::ChannelType;
use sumac::proto::channel::inputs::InputsClient;
use sumac_test_server::fault::FaultProxy;
use sumac_test_server::scene::{Scene, SceneBuilder, standard};
use sumac_test_server::{Fault, ServerConfig, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(20);

fn fast_reconnect() -> SessionOptions {
    SessionOptions {
        reconnect: Some(ReconnectPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            max_attempts: None,
        }),
        ..SessionOptions::default()
    }
}

fn other_scene() -> Scene {
    SceneBuilder::new(320, 240).fill(0, 0, 320, 240, 0x00_30_90_30).build()
}

fn connect(uri: &str, options: SessionOptions) -> (SessionHandle, UnboundedReceiver<SessionEvent>) {
    let (session, mut rx) = sumac::client::connect(ConnectionConfig::from_uri(uri).unwrap(), options).unwrap();
    wait_mark(&mut rx, WAIT);
    (session, rx)
}

/// Events until `done` says so; the events seen.
fn events_until(
    rx: &mut UnboundedReceiver<SessionEvent>,
    mut done: impl FnMut(&SessionEvent) -> bool,
) -> Vec<SessionEvent> {
    let until = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let e = next_event(rx, until).unwrap_or_else(|| panic!("timed out; events so far: {seen:?}"));
        let stop = done(&e);
        seen.push(e);
        if stop {
            return seen;
        }
    }
}

fn wait_disconnected(rx: &mut UnboundedReceiver<SessionEvent>) -> Option<Arc<ClientError>> {
    match events_until(rx, |e| matches!(e, SessionEvent::Disconnected { .. })).pop() {
        Some(SessionEvent::Disconnected { error }) => error,
        _ => unreachable!(),
    }
}

fn assert_picture(session: &SessionHandle, scene: &Scene) {
    assert!(
        poll_until(WAIT, || primary_image(session)
            .is_some_and(|i| i.data == scene.expected_rgb)),
        "the picture never became the expected scene"
    );
}

fn assert_typing_reaches(session: &SessionHandle, server: &TestServer) {
    let inputs = session.inputs();
    assert!(poll_until(WAIT, || inputs.is_ready()), "inputs ready");
    inputs.send_keys(&[0x1e]);
    assert!(
        server.wait_for_inputs(WAIT, |log| log
            .iter()
            .any(|e| e.msg == InputsClient::KeyScancode(vec![0x1e]))),
        "the key never reached the server"
    );
}

#[test]
fn a_restarted_server_gets_the_session_back_without_a_click() {
    let mut server = TestServer::start(ServerConfig::default()).unwrap();
    let port = server.port();
    let (session, mut rx) = connect(&server.uri(), fast_reconnect());
    let display = session.display(0).expect("display state");
    server.stop();
    drop(server);
    let seen = events_until(&mut rx, |e| matches!(e, SessionEvent::Reconnecting { .. }));
    assert!(
        seen.iter()
            .any(|e| matches!(e, SessionEvent::State(SessionState::Reconnecting { attempt: 1 }))),
        "{seen:?}"
    );
    // The last picture stays while the server is away.
    assert_eq!(
        primary_image(&session).map(|i| i.data),
        Some(standard().expected_rgb),
        "the picture must not go black"
    );
    // Attempts fail while nothing listens; then the server comes back.
    events_until(&mut rx, |e| matches!(e, SessionEvent::Reconnecting { attempt: 2, .. }));
    let server = TestServer::start_on(
        ServerConfig {
            scene: other_scene(),
            ..ServerConfig::default()
        },
        port,
        0,
    )
    .unwrap();
    let seen = events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    assert!(!seen.iter().any(|e| matches!(e, SessionEvent::Disconnected { .. })));
    assert_picture(&session, &other_scene());
    // The embedder's handles are the same objects.
    assert!(Arc::ptr_eq(&display, &session.display(0).unwrap()));
    assert_typing_reaches(&session, &server);
    session.disconnect();
}

#[test]
fn a_reset_connection_reconnects() {
    let server = TestServer::start(ServerConfig::default()).unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (session, mut rx) = connect(&format!("spice://127.0.0.1:{}", proxy.port()), fast_reconnect());
    let accepted = proxy.accepted();
    proxy.reset_all();
    events_until(&mut rx, |e| matches!(e, SessionEvent::Reconnecting { .. }));
    events_until(&mut rx, |e| matches!(e, SessionEvent::State(SessionState::Up)));
    assert!(proxy.accepted() > accepted);
    wait_mark(&mut rx, WAIT);
    assert_picture(&session, &standard());
    server.clear_inputs_log();
    assert_typing_reaches(&session, &server);
    session.disconnect();
}

#[test]
fn without_reconnect_a_lost_server_ends_the_session() {
    let mut server = TestServer::start(ServerConfig::default()).unwrap();
    let (session, mut rx) = connect(&server.uri(), SessionOptions::default());
    server.stop();
    let seen = events_until(&mut rx, |e| matches!(e, SessionEvent::Disconnected { .. }));
    assert!(
        !seen.iter().any(|e| matches!(e, SessionEvent::Reconnecting { .. })),
        "{seen:?}"
    );
    assert!(matches!(
        seen.last(),
        Some(SessionEvent::Disconnected { error: Some(_) })
    ));
    drop(session);
}

#[test]
fn a_cancelled_reconnect_ends_the_session_with_its_error() {
    let mut server = TestServer::start(ServerConfig::default()).unwrap();
    let options = SessionOptions {
        reconnect: Some(ReconnectPolicy {
            first_delay: Duration::from_secs(30),
            ..ReconnectPolicy::default()
        }),
        ..SessionOptions::default()
    };
    let (session, mut rx) = connect(&server.uri(), options);
    server.stop();
    events_until(&mut rx, |e| matches!(e, SessionEvent::Reconnecting { .. }));
    let asked = Instant::now();
    session.cancel_reconnect();
    let error = wait_disconnected(&mut rx).expect("the error that started the reconnect");
    assert!(
        matches!(*error, ClientError::UnexpectedEof { .. } | ClientError::Io { .. }),
        "{error}"
    );
    // Not after the 30 s delay.
    assert!(asked.elapsed() < Duration::from_secs(10));
    assert_eq!(session.state(), SessionState::Closed);
}

#[test]
fn a_password_that_no_longer_works_ends_the_reconnect() {
    let mut server = TestServer::start(ServerConfig {
        password: Some("first".into()),
        ..ServerConfig::default()
    })
    .unwrap();
    let port = server.port();
    let mut config = ConnectionConfig::from_uri(&server.uri()).unwrap();
    config.password = Some(Password::new("first"));
    let (session, mut rx) = sumac::client::connect(config, fast_reconnect()).unwrap();
    wait_mark(&mut rx, WAIT);
    server.stop();
    drop(server);
    events_until(&mut rx, |e| matches!(e, SessionEvent::Reconnecting { .. }));
    let _server = TestServer::start_on(
        ServerConfig {
            password: Some("second".into()),
            ..ServerConfig::default()
        },
        port,
        0,
    )
    .unwrap();
    let error = wait_disconnected(&mut rx).expect("an error");
    assert!(error.is_auth_error(), "{error}");
    drop(session);
}

fn one_channel_fails(channel: ChannelType) {
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::CloseChannel(channel)),
        ..ServerConfig::default()
    })
    .unwrap();
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    let seen = events_until(
        &mut rx,
        |e| matches!(e, SessionEvent::ChannelDown { channel: c, error: Some(_) } if c.channel_type == channel),
    );
    assert!(
        !seen.iter().any(|e| matches!(e, SessionEvent::Disconnected { .. })),
        "{seen:?}"
    );
    // The session goes on: main is up, the other channels work.
    assert_eq!(session.state(), SessionState::Up);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rx.try_recv()
            .map_or(true, |e| !matches!(e, SessionEvent::Disconnected { .. }))
    );
    if channel != ChannelType::INPUTS {
        assert_typing_reaches(&session, &server);
    }
    session.disconnect();
}

#[test]
fn a_display_channel_failing_alone_is_reported() {
    one_channel_fails(ChannelType::DISPLAY);
}

#[test]
fn an_inputs_channel_failing_alone_is_reported() {
    one_channel_fails(ChannelType::INPUTS);
}

#[test]
fn a_short_blackhole_does_not_end_the_session() {
    let server = TestServer::start(ServerConfig::default()).unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    let (session, mut rx) = connect(&format!("spice://127.0.0.1:{}", proxy.port()), fast_reconnect());
    proxy.blackhole(Duration::from_secs(2));
    let inputs = session.inputs();
    // Typed during the blackhole: arrives after it.
    inputs.send_keys(&[0x1e]);
    assert!(
        server.wait_for_inputs(WAIT, |log| log
            .iter()
            .any(|e| e.msg == InputsClient::KeyScancode(vec![0x1e]))),
        "the key typed during the blackhole never arrived"
    );
    std::thread::sleep(Duration::from_millis(200));
    while let Ok(e) = rx.try_recv() {
        assert!(
            !matches!(
                e,
                SessionEvent::Reconnecting { .. }
                    | SessionEvent::Disconnected { .. }
                    | SessionEvent::ChannelDown { .. }
            ),
            "{e:?}"
        );
    }
    assert_eq!(proxy.accepted(), 4, "no channel relinked");
    session.disconnect();
}

#[test]
fn a_slow_network_still_gives_the_first_frame_and_typing() {
    let server = TestServer::start(ServerConfig::default()).unwrap();
    let proxy = FaultProxy::start(server.addr()).unwrap();
    // 200 ms round trip, 1 Mbit/s each way.
    proxy.set_delay(Duration::from_millis(100));
    proxy.set_bandwidth(1_000_000);
    let started = Instant::now();
    let (session, _rx) = connect(
        &format!("spice://127.0.0.1:{}", proxy.port()),
        SessionOptions::default(),
    );
    // Several round trips went by (link of four channels, then the scene).
    assert!(started.elapsed() > Duration::from_millis(400));
    assert_picture(&session, &standard());
    assert_typing_reaches(&session, &server);
    session.disconnect();
}

/// `sumac-cli stats` names a channel that failed alone and exits non-zero,
/// though the session itself went on to the end.
#[test]
fn sumac_cli_stats_reports_a_failed_channel_and_exits_non_zero() {
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::CloseChannel(ChannelType::INPUTS)),
        ..ServerConfig::default()
    })
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sumac-cli"))
        .args(["stats", &server.uri(), "--seconds", "3"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    // The progress line on stderr, the summary on stdout, the exit reason.
    assert!(stderr.contains("channel failed: inputs"), "{stderr}");
    assert!(stdout.contains("channel failed: inputs"), "{stdout}");
    assert!(stderr.contains("1 channel failure(s)"), "{stderr}");
    // The counters were printed for every channel, the session was not cut short.
    assert!(stdout.contains("display"), "{stdout}");
    assert!(!stderr.contains("reconnecting"), "{stderr}");
}
