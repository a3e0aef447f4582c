//! The runtime against Sumac's own test server over loopback.

use crate::support::session::{next_event, primary_image, wait_mark};
use crate::support::wait::poll_until;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sumac::client::config::{CaSource, Password};
use sumac::client::{ClientError, ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::connector::LinkError;
use sumac::proto::ChannelType;
use sumac::proto::DecodeError;
use sumac_test_server::{Fault, ServerConfig, TestServer, TlsIdentity};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(20);

/// Waits for Disconnected and returns its error.
fn wait_disconnected(rx: &mut UnboundedReceiver<SessionEvent>) -> Option<Arc<ClientError>> {
    let until = Instant::now() + WAIT;
    loop {
        match next_event(rx, until).expect("session did not end within the timeout") {
            SessionEvent::Disconnected { error } => return error,
            _ => continue,
        }
    }
}

fn primary_rgb(session: &SessionHandle) -> (u32, u32, Vec<u8>) {
    let image = primary_image(session).expect("primary surface of display channel 0");
    (image.width, image.height, image.data)
}

fn assert_scene(session: &SessionHandle, server: &ServerConfig) {
    let (w, h, rgb) = primary_rgb(session);
    assert_eq!((w, h), (server.scene.width, server.scene.height));
    let diff = rgb
        .chunks(3)
        .zip(server.scene.expected_rgb.chunks(3))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i as u32 % w, i as u32 / w, a.to_vec(), b.to_vec()))
        .collect::<Vec<_>>();
    assert!(
        diff.is_empty(),
        "{} pixels differ; first: {:?}",
        diff.len(),
        diff.iter().take(5).collect::<Vec<_>>()
    );
}

/// Runs the calling test alone in a child process (thread names are process-wide,
/// so a test that counts threads must not share its process with others).
/// Returns true in the child, where the real body must run.
fn isolated(test: &str) -> bool {
    if std::env::var_os("SUMAC_ISOLATED_TEST").is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SUMAC_ISOLATED_TEST", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "isolated run of {test} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

fn sumac_threads() -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(n) = std::fs::read_to_string(e.path().join("comm")) {
            let n = n.trim().to_string();
            if n.starts_with("sumac-") {
                names.push(n);
            }
        }
    }
    names.sort();
    names
}

#[test]
fn plain_session_draws_the_scene_and_answers_base_messages() {
    let cfg = ServerConfig::default();
    let server = TestServer::start(cfg.clone()).unwrap();
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    wait_mark(&mut rx, WAIT);
    assert_scene(&session, &cfg);
    // Every listed channel linked with connection_id = session_id.
    assert!(
        server.wait_for(WAIT, |r| r.linked.len() == 4),
        "not all channels linked"
    );
    // Base protocol: ACK_SYNC(1) for SET_ACK, PONG(3) for PING; main: ATTACH_CHANNELS(104); display: INIT(101).
    assert!(server.wait_for(WAIT, |r| {
        let has = |ch: ChannelType, t: u16| r.received.iter().any(|m| m.channel.0 == ch && m.msg_type == t);
        has(ChannelType::MAIN, 1)
            && has(ChannelType::MAIN, 3)
            && has(ChannelType::MAIN, 104)
            && has(ChannelType::DISPLAY, 101)
    }));
    session.disconnect();
}

#[test]
fn every_channel_has_its_thread_and_all_are_joined_on_disconnect() {
    if !isolated("session::every_channel_has_its_thread_and_all_are_joined_on_disconnect") {
        return;
    }
    let server = TestServer::start(ServerConfig::default()).unwrap();
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    wait_mark(&mut rx, WAIT);
    assert!(server.wait_for(WAIT, |r| r.linked.len() == 4));
    let threads = sumac_threads();
    for name in ["sumac-main-0", "sumac-display-0", "sumac-inputs-0", "sumac-cursor-0"] {
        assert!(threads.iter().any(|t| t == name), "no thread {name} in {threads:?}");
    }
    assert_eq!(session.running_channel_threads(), 3);
    let t = Instant::now();
    session.disconnect();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "disconnect took {:?}",
        t.elapsed()
    );
    assert!(sumac_threads().is_empty(), "threads left: {:?}", sumac_threads());
    assert!(
        wait_disconnected(&mut rx).is_none(),
        "a requested disconnect is not an error"
    );
    // The server sees every connection closed.
    assert!(server.wait_for(WAIT, |r| r.closed.len() == 4));
}

#[test]
fn tls_with_a_private_ca() {
    let id = TlsIdentity::generate(false).unwrap();
    let cfg = ServerConfig {
        tls: Some(id.clone()),
        ..Default::default()
    };
    let server = TestServer::start(cfg.clone()).unwrap();
    let mut conn =
        ConnectionConfig::from_uri(&format!("spice+tls://127.0.0.1:{}", server.tls_port().unwrap())).unwrap();
    conn.ca = Some(CaSource::Pem(id.ca_pem.into_bytes()));
    let (session, mut rx) = sumac::client::connect(conn, SessionOptions::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    assert_scene(&session, &cfg);
    assert!(server.wait_for(WAIT, |r| r.linked.len() == 4 && r.linked.iter().all(|l| l.2)));
    assert!(session.stats().iter().all(|s| s.tls));
}

#[test]
fn tls_host_subject_mismatch_is_refused() {
    let id = TlsIdentity::generate(true).unwrap();
    let server = TestServer::start(ServerConfig {
        tls: Some(id.clone()),
        ..Default::default()
    })
    .unwrap();
    let mut conn =
        ConnectionConfig::from_uri(&format!("spice+tls://127.0.0.1:{}", server.tls_port().unwrap())).unwrap();
    conn.ca = Some(CaSource::Pem(id.ca_pem.clone().into_bytes()));
    conn.host_subject = Some("C=XX,O=Someone Else,CN=127.0.0.1".into());
    let (_session, mut rx) = sumac::client::connect(conn, SessionOptions::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(matches!(*err, ClientError::Tls { .. }), "{err}");
    assert!(err.to_string().contains("subject"), "{err}");
    // The right subject on the same CN-only certificate works.
    let mut conn =
        ConnectionConfig::from_uri(&format!("spice+tls://127.0.0.1:{}", server.tls_port().unwrap())).unwrap();
    conn.ca = Some(CaSource::Pem(id.ca_pem.into_bytes()));
    conn.host_subject = Some(id.subject.clone());
    let (_session, mut rx) = sumac::client::connect(conn, SessionOptions::default()).unwrap();
    wait_mark(&mut rx, WAIT);
}

#[test]
fn wrong_password_is_an_auth_error() {
    let server = TestServer::start(ServerConfig {
        password: Some("s3cret".into()),
        ..Default::default()
    })
    .unwrap();
    let uri = format!("spice://127.0.0.1?port={}&password=wrong", server.port());
    let (_session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&uri).unwrap(), Default::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(err.is_auth_error(), "{err}");
    assert!(err.to_string().contains("password"), "{err}");
}

#[test]
fn right_password_connects() {
    let cfg = ServerConfig {
        password: Some("s3cret".into()),
        ..Default::default()
    };
    let server = TestServer::start(cfg.clone()).unwrap();
    let uri = format!("spice://127.0.0.1?port={}&password=s3cret", server.port());
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&uri).unwrap(), Default::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    assert_scene(&session, &cfg);
}

#[test]
fn password_over_60_bytes_is_refused_locally() {
    let server = TestServer::start(ServerConfig::default()).unwrap();
    let mut conn = ConnectionConfig::from_uri(&server.uri()).unwrap();
    conn.password = Some(Password::new("x".repeat(61)));
    let err = sumac::client::connect(conn, Default::default()).expect_err("must be refused");
    assert!(
        matches!(
            err,
            ClientError::Link {
                source: LinkError::PasswordTooLong { len: 61 },
                ..
            }
        ),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        server.with_record(|r| r.linked.is_empty()),
        "nothing may reach the server"
    );
}

/// Both ports known (as oVirt and Proxmox `.vv` files give them): every
/// channel links over TLS, also those the server would accept plain, and the
/// plain port never sees a link (nor a ticket).
#[test]
fn with_both_ports_every_channel_links_over_tls() {
    let id = TlsIdentity::generate(false).unwrap();
    let cfg = ServerConfig {
        tls: Some(id.clone()),
        need_secured: vec![ChannelType::DISPLAY],
        ..Default::default()
    };
    let server = TestServer::start(cfg.clone()).unwrap();
    let mut conn = ConnectionConfig::from_uri(&server.uri()).unwrap();
    assert!(conn.port.is_some() && conn.tls_port.is_some());
    conn.ca = Some(CaSource::Pem(id.ca_pem.into_bytes()));
    let (session, mut rx) = sumac::client::connect(conn, Default::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    assert_scene(&session, &cfg);
    assert!(server.wait_for(WAIT, |r| r.linked.len() == 4));
    server.with_record(|r| {
        assert_eq!(r.refused, 0, "no NEED_SECURED: nothing tried the plain port");
        assert!(r.linked.iter().all(|&(_, _, tls)| tls), "{:?}", r.linked);
    });
    assert!(session.stats().iter().all(|s| s.tls), "every channel reports TLS");
}

/// The TLS port is dead and the plain one alive: the session fails with a
/// clear error and nothing is sent to the plain port (no fallback).
#[test]
fn a_dead_tls_port_never_falls_back_to_plain() {
    let server = TestServer::start(ServerConfig {
        password: Some("secret".into()),
        ..Default::default()
    })
    .unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let mut conn = ConnectionConfig::from_uri(&format!(
        "spice://127.0.0.1?port={}&tls-port={dead_port}&password=secret",
        server.port()
    ))
    .unwrap();
    conn.ca = Some(CaSource::Pem(TlsIdentity::generate(false).unwrap().ca_pem.into_bytes()));
    let (_s, mut rx) = sumac::client::connect(conn, Default::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    let text = err.to_string();
    assert!(
        text.contains(&dead_port.to_string()),
        "the error names the TLS port: {text}"
    );
    server.with_record(|r| {
        assert!(
            r.linked.is_empty(),
            "a channel linked on the plain port: {:?}",
            r.linked
        );
        assert_eq!(r.refused, 0, "a link attempt reached the plain port");
        assert!(r.received.is_empty());
    });
}

/// The server, reached over TLS, answers NEED_UNSECURED for one channel:
/// that channel (and only it) moves to the plain port; a channel that
/// `secure-channels` lists never does.
#[test]
fn need_unsecured_moves_that_channel_to_the_plain_port_unless_it_must_be_secure() {
    let id = TlsIdentity::generate(false).unwrap();
    let cfg = ServerConfig {
        tls: Some(id.clone()),
        need_unsecured: vec![ChannelType::CURSOR],
        ..Default::default()
    };
    let server = TestServer::start(cfg.clone()).unwrap();
    let mut conn = ConnectionConfig::from_uri(&server.uri()).unwrap();
    conn.ca = Some(CaSource::Pem(id.ca_pem.clone().into_bytes()));
    let (session, mut rx) = sumac::client::connect(conn.clone(), Default::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    assert!(server.wait_for(WAIT, |r| r.linked.len() == 4));
    server.with_record(|r| {
        assert_eq!(r.refused, 1, "one NEED_UNSECURED");
        for &(ty, _, tls) in &r.linked {
            assert_eq!(tls, ty != ChannelType::CURSOR, "{ty} on TLS: {tls}");
        }
    });
    session.disconnect();

    let server = TestServer::start(ServerConfig {
        need_unsecured: vec![ChannelType::MAIN],
        ..cfg
    })
    .unwrap();
    let mut conn = ConnectionConfig::from_uri(&server.uri()).unwrap();
    conn.ca = Some(CaSource::Pem(id.ca_pem.into_bytes()));
    conn.secure_channels = sumac::client::config::SecureChannels::parse("main").unwrap();
    let (_s, mut rx) = sumac::client::connect(conn, Default::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(err.to_string().contains("secure-channels"), "{err}");
    server.with_record(|r| assert!(r.linked.is_empty(), "{:?}", r.linked));
}

#[test]
fn need_secured_without_tls_port_is_a_clear_error() {
    let server = TestServer::start(ServerConfig {
        need_secured: vec![ChannelType::MAIN],
        ..Default::default()
    })
    .unwrap();
    let (_s, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(matches!(*err, ClientError::NeedSecuredNoTls { .. }), "{err}");
}

#[cfg(unix)]
#[test]
fn unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spice.sock");
    let cfg = ServerConfig {
        unix_path: Some(path.clone()),
        ..Default::default()
    };
    let server = TestServer::start(cfg.clone()).unwrap();
    let uri = format!("spice+unix://{}", path.display());
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&uri).unwrap(), Default::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    assert_scene(&session, &cfg);
    assert!(server.wait_for(WAIT, |r| r.linked.len() == 4));
}

#[test]
fn server_closing_mid_message_closes_that_channel() {
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::DisplayCloseMidMessage),
        ..Default::default()
    })
    .unwrap();
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    let until = Instant::now() + WAIT;
    loop {
        match next_event(&mut rx, until).expect("display channel must report its end") {
            SessionEvent::ChannelDown { channel, error } if channel.channel_type == ChannelType::DISPLAY => {
                let e = error.expect("an error");
                assert!(
                    matches!(*e, ClientError::UnexpectedEof { mid_message: true, .. }),
                    "{e}"
                );
                break;
            }
            SessionEvent::Disconnected { error } => panic!("session ended: {error:?}"),
            _ => {}
        }
    }
    // The rest of the session is still up; nothing half-drawn exists.
    assert!(session.display(0).unwrap().lock().unwrap().primary().is_none());
    assert!(
        poll_until(WAIT, || session.running_channel_threads() == 2),
        "only the display thread may end"
    );
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_4_gib_message_is_refused_without_allocating() {
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::MainHugeMessage),
        ..Default::default()
    })
    .unwrap();
    let before = rss_kib();
    let (_s, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(
        matches!(
            &*err,
            ClientError::Protocol {
                source: DecodeError::TooLarge { .. },
                ..
            }
        ),
        "{err}"
    );
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
}

/// Hostile surfaces on a session with the default memory budget: a 20-byte
/// SURFACE_CREATE of 16384×16384 (1 GiB) and two near-1 GiB ones are refused
/// before anything is allocated, the session goes on drawing, and the
/// process does not grow by anything near their size.
#[test]
fn huge_surfaces_are_refused_within_the_session_budget() {
    use sumac::proto::channel::display::{DisplayServer, SurfaceCreate, surface_fmt};
    let cfg = ServerConfig::default();
    let server = TestServer::start(cfg.clone()).unwrap();
    let before = rss_kib();
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    for (id, w, h) in [(10, 16384, 16384), (11, 16384, 16000), (12, 16000, 16384)] {
        server.display_send(DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id: id,
            width: w,
            height: h,
            format: surface_fmt::XRGB32,
            flags: 0,
        }));
    }
    let state = session.display(0).unwrap();
    let refused = || state.lock().unwrap().stats().errors_of("surface_budget");
    assert!(poll_until(WAIT, || refused() == 3), "refused {}", refused());
    let budget = session.memory_budget();
    let grown = rss_kib().saturating_sub(before);
    eprintln!(
        "budget: limit {} MiB, peak {} MiB, {} refusals; RSS grew by {} MiB",
        budget.limit() >> 20,
        budget.peak() >> 20,
        budget.refused(),
        grown >> 10
    );
    assert!(budget.peak() <= budget.limit());
    assert!(grown < 256 * 1024, "RSS grew by {grown} KiB");
    // Still drawing: the scene is intact and the session alive.
    assert_scene(&session, &cfg);
    assert!(session.display(0).is_some());
}

#[test]
fn truncated_link_reply_is_an_eof_error() {
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::TruncatedLinkReply),
        ..Default::default()
    })
    .unwrap();
    let (_s, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(matches!(*err, ClientError::UnexpectedEof { .. }), "{err}");
    assert_eq!(server.with_record(|r| r.linked.len()), 0);
}

#[test]
fn a_server_that_never_answers_the_link_times_out() {
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::SilentLink),
        ..Default::default()
    })
    .unwrap();
    let options = SessionOptions {
        link_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let (_s, mut rx) = sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), options).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(matches!(*err, ClientError::LinkTimeout { .. }), "{err}");
    assert!(err.to_string().contains("did not answer"), "{err}");
}

#[test]
fn a_main_channel_that_sends_nothing_times_out() {
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::SilentMain),
        ..Default::default()
    })
    .unwrap();
    let options = SessionOptions {
        first_message_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let (_s, mut rx) = sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), options).unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(matches!(*err, ClientError::NoResponse { .. }), "{err}");
    assert_eq!(server.with_record(|r| r.linked.len()), 1);
}

#[test]
fn losing_the_main_channel_ends_the_session() {
    if !isolated("session::losing_the_main_channel_ends_the_session") {
        return;
    }
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::MainCloseAfterList),
        ..Default::default()
    })
    .unwrap();
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    let err = wait_disconnected(&mut rx).expect("main loss is an error");
    assert!(matches!(*err, ClientError::UnexpectedEof { .. }), "{err}");
    assert_eq!(session.running_channel_threads(), 0);
    // Children are joined before Disconnected is sent; the main thread ends right after.
    let children: Vec<String> = sumac_threads().into_iter().filter(|t| t != "sumac-main-0").collect();
    assert!(children.is_empty(), "channel threads left: {children:?}");
    assert!(
        poll_until(Duration::from_secs(1), || sumac_threads().is_empty()),
        "threads left: {:?}",
        sumac_threads()
    );
}

#[test]
fn connection_refused_is_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_s, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&format!("spice://127.0.0.1:{port}")).unwrap(),
        Default::default(),
    )
    .unwrap();
    let err = wait_disconnected(&mut rx).expect("must fail");
    assert!(matches!(*err, ClientError::Connect { .. }), "{err}");
}

#[test]
fn full_header_without_mini_header() {
    let cfg = ServerConfig {
        mini_header: false,
        ..Default::default()
    };
    let server = TestServer::start(cfg.clone()).unwrap();
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    assert_scene(&session, &cfg);
}

#[test]
fn sumac_cli_screenshot_writes_the_servers_pixels() {
    let cfg = ServerConfig::default();
    let server = TestServer::start(cfg.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shot.png");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sumac-cli"))
        .args(["screenshot", &server.uri(), "-o"])
        .arg(&out)
        .args(["--timeout", "20"])
        .status()
        .unwrap();
    assert!(status.success());
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&out).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (cfg.scene.width, cfg.scene.height));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert!(
        buf[..info.buffer_size()] == cfg.scene.expected_rgb[..],
        "PNG differs from the scene"
    );
}

#[test]
fn sumac_cli_reports_failures_in_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sumac-cli"))
        .args([
            "screenshot",
            &format!("spice://127.0.0.1:{port}"),
            "-o",
            "/dev/null",
            "--timeout",
            "5",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn record_then_replay_reproduces_the_frame_without_a_server() {
    let cfg = ServerConfig::default();
    let mut server = TestServer::start(cfg.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("s.spicerec");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sumac-cli"))
        .args(["record", &server.uri(), "--seconds", "2", "-o"])
        .arg(&rec)
        .status()
        .unwrap();
    assert!(status.success());
    server.stop();
    // Replay as a library call: same pixels as the scene.
    let r = sumac::client::replay::replay(std::fs::File::open(&rec).unwrap(), None).unwrap();
    assert_eq!(r.marks, 1);
    assert_eq!(r.decode_errors, 0);
    let (_, s) = r.displays[&0].primary().unwrap();
    assert!(
        s.to_rgb() == cfg.scene.expected_rgb,
        "replayed frame differs from the scene"
    );
    // And through the CLI.
    let png = dir.path().join("replay.png");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sumac-cli"))
        .arg("replay")
        .arg(&rec)
        .arg("--screenshot")
        .arg(&png)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 frames"));
    let mut reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert!(buf[..info.buffer_size()] == cfg.scene.expected_rgb[..]);
}

/// An MJPEG video stream from the test server: the frame is scheduled on the
/// multimedia clock, drawn into the surface (lossy: PSNR ≥ 40 dB against the
/// source picture) and the requested STREAM_REPORT comes back.
#[test]
fn mjpeg_stream_is_scheduled_drawn_and_reported() {
    use sumac::proto::channel::display::{
        Clip, DisplayServer, Rect, StreamActivateReport, StreamCreate, StreamData, stream_flags, video_codec,
    };
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jpeg/");
    let jpeg = std::fs::read(format!("{fixtures}frame-64x48-q95.jpg")).unwrap();
    let src = std::fs::read(format!("{fixtures}frame-src-64x48.ppm")).unwrap();
    let src_rgb = &src[src.len() - 64 * 48 * 3..];
    let mut scene = sumac_test_server::scene::SceneBuilder::new(320, 240)
        .fill(0, 0, 320, 240, 0x00_10_20_30)
        .build();
    scene.messages.pop(); // MARK goes after the stream set-up
    scene.messages.extend([
        DisplayServer::StreamCreate(StreamCreate {
            surface_id: 0,
            id: 7,
            // Frames are stored top-down (without the flag they are bottom-up).
            flags: stream_flags::TOP_DOWN,
            codec_type: video_codec::MJPEG,
            stamp: 1,
            stream_width: 64,
            stream_height: 48,
            src_width: 64,
            src_height: 48,
            dest: Rect::ltrb(100, 100, 164, 148),
            clip: Clip::None,
        }),
        DisplayServer::StreamActivateReport(StreamActivateReport {
            stream_id: 7,
            unique_id: 99,
            max_window_size: 1,
            timeout_ms: 100,
        }),
        DisplayServer::Mark,
        // Due 400 ms after MAIN_INIT's multimedia time (0).
        DisplayServer::StreamData(StreamData {
            id: 7,
            multi_media_time: 400,
            data: jpeg,
        }),
    ]);
    let cfg = ServerConfig {
        scene,
        ..Default::default()
    };
    let server = TestServer::start(cfg).unwrap();
    let (session, mut rx) =
        sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), Default::default()).unwrap();
    wait_mark(&mut rx, WAIT);
    let psnr = |rgb: &[u8]| {
        let mut se = 0f64;
        for y in 0..48 {
            for x in 0..64 {
                for c in 0..3 {
                    let a = f64::from(rgb[((100 + y) * 320 + 100 + x) * 3 + c]);
                    let b = f64::from(src_rgb[(y * 64 + x) * 3 + c]);
                    se += (a - b) * (a - b);
                }
            }
        }
        10.0 * (255.0f64 * 255.0 / (se / (64.0 * 48.0 * 3.0))).log10()
    };
    let drawn = poll_until(Duration::from_secs(5), || psnr(&primary_rgb(&session).2) >= 40.0);
    if !drawn {
        let psnr = psnr(&primary_rgb(&session).2);
        let state = session.display(0).unwrap();
        let state = state.lock().unwrap();
        panic!(
            "stream frame not drawn: PSNR {psnr:.1}; {:?} {:?}",
            state.stats(),
            state.stream_stats()
        );
    }
    // STREAM_REPORT (display client message 102) reached the server.
    assert!(server.wait_for(WAIT, |r| {
        r.received
            .iter()
            .any(|m| m.channel.0 == ChannelType::DISPLAY && m.msg_type == 102)
    }));
}

/// Two display channels whose GLZ image references an image nobody sends:
/// both wait for it (bounded by 1 s); a disconnect during that wait must not
/// wait it out. The runtime cancels the wait with the shutdown.
#[test]
fn a_channel_waiting_for_a_glz_image_does_not_delay_disconnect() {
    use sumac::codec::glz::encode::GlzEncoder;
    use sumac::codec::lz::LzType;
    use sumac::proto::channel::display::{
        Clip, CopyOp, DisplayBase, DisplayServer, Image, ImageDescriptor, ImageKind, QMask, Rect, SurfaceCreate,
        image_type, ropd, surface_flags, surface_fmt,
    };
    let (w, h) = (16u32, 16u32);
    let pixels = vec![0x55u8; (w * h * 4) as usize];
    let mut enc = GlzEncoder::new(1 << 20);
    let mut orphan = Vec::new();
    for _ in 0..5 {
        // Ids 0..=4; only id 4 is sent, and it references an earlier one.
        orphan = enc.encode(LzType::Rgb32, w, h, true, &pixels).unwrap();
    }
    let r = Rect::ltrb(0, 0, w as i32, h as i32);
    let mut cfg = ServerConfig {
        channels: vec![(ChannelType::DISPLAY, 0), (ChannelType::DISPLAY, 1)],
        ..ServerConfig::default()
    };
    cfg.scene.width = w;
    cfg.scene.height = h;
    cfg.scene.messages = vec![
        DisplayServer::SurfaceCreate(SurfaceCreate {
            surface_id: 0,
            width: w,
            height: h,
            format: surface_fmt::XRGB32,
            flags: surface_flags::PRIMARY,
        }),
        DisplayServer::DrawCopy {
            base: DisplayBase {
                surface_id: 0,
                bbox: r,
                clip: Clip::None,
            },
            copy: CopyOp {
                src_bitmap: Some(Image {
                    descriptor: ImageDescriptor {
                        id: 77,
                        image_type: image_type::GLZ_RGB,
                        flags: 0,
                        width: w,
                        height: h,
                    },
                    kind: ImageKind::Binary(orphan),
                }),
                src_area: r,
                rop_descriptor: ropd::OP_PUT,
                scale_mode: 0,
                mask: QMask::default(),
            },
        },
    ];
    let server = TestServer::start(cfg).unwrap();
    let (session, mut rx) = sumac::client::connect(
        ConnectionConfig::from_uri(&server.uri()).unwrap(),
        SessionOptions::default(),
    )
    .unwrap();
    // Both display channels read the draw and hold it.
    let read_both = || {
        let s = session.stats();
        s.iter()
            .filter(|c| c.key.channel_type == ChannelType::DISPLAY && c.messages_read >= 2)
            .count()
            == 2
    };
    assert!(poll_until(WAIT, read_both), "display channels never got the draw");
    let waiting = session.display(0).unwrap();
    let stats = waiting.lock().unwrap().stats().clone();
    assert_eq!(
        (stats.draws_applied, stats.draws_dropped),
        (0, 0),
        "the draw is waiting"
    );
    // The state is not locked by the wait: the embedder can read it.
    assert!(waiting.try_lock().is_ok());
    let t = Instant::now();
    session.disconnect();
    let took = t.elapsed();
    eprintln!("disconnect during a GLZ wait took {took:?}");
    // The wait alone would last 1 s; the disconnect must not wait it out.
    assert!(took < Duration::from_millis(500), "disconnect took {took:?}");
    assert!(wait_disconnected(&mut rx).is_none());
    assert!(server.wait_for(WAIT, |r| r.closed.len() == 3));
}
