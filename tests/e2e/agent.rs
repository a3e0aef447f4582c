//! The guest agent end to end against the test server's scripted agent:
//! clipboard both ways (5 MB included), monitors config, file transfers, and
//! hostile agent input (lying chunk sizes, a message over MAX_CLIPBOARD,
//! data nobody asked for, a grab with a million types, status for an
//! unknown transfer, the agent vanishing mid-transfer). The fake agent reads
//! the client's AGENT_DATA with the strict reassembler (spice-server's rules).

use std::time::{Duration, Instant};
use sumac::client::agent::{
    AgentEvent, AgentHandle, AgentOptions, ClipType, ClipboardDirection, ClipboardFailure, MonitorSpec, ReplyTo,
    Selection, TransferOutcome,
};
use sumac::client::{ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use sumac::proto::vdagent::clipboard::{clip_type, selection as sel};
use sumac::proto::vdagent::{AgentMessage, Clipboard, ClipboardGrab, FileXferStatus, XferResult, msg_type};
use sumac_test_server::agent::{AgentConfig, XferMode};
use sumac_test_server::{ServerConfig, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(30);

fn next(rx: &mut UnboundedReceiver<SessionEvent>, until: Instant) -> Option<SessionEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(until.saturating_duration_since(Instant::now()), rx.recv())
            .await
            .ok()
            .flatten()
    })
}

struct Client {
    session: SessionHandle,
    rx: UnboundedReceiver<SessionEvent>,
    agent: AgentHandle,
}

impl Client {
    /// Connects and waits for the agent's capabilities.
    fn ready(server: &TestServer, options: AgentOptions) -> Self {
        let opts = SessionOptions {
            agent: options,
            ..SessionOptions::default()
        };
        let (session, rx) = sumac::client::connect(ConnectionConfig::from_uri(&server.uri()).unwrap(), opts).unwrap();
        let agent = session.agent();
        let mut c = Self { session, rx, agent };
        c.wait(|e| matches!(e, AgentEvent::Ready(_)));
        c
    }

    /// The next agent event matching `f` (others are dropped); panics after [`WAIT`].
    fn wait(&mut self, f: impl Fn(&AgentEvent) -> bool) -> AgentEvent {
        let until = Instant::now() + WAIT;
        loop {
            match next(&mut self.rx, until) {
                Some(SessionEvent::Agent(e)) if f(&e) => return e,
                Some(SessionEvent::Disconnected { error }) => panic!("session ended: {error:?}"),
                Some(_) => {}
                None => panic!("no matching agent event within {WAIT:?}"),
            }
        }
    }

    /// Every agent event until `f` matches one, that one included.
    fn collect_until(&mut self, f: impl Fn(&AgentEvent) -> bool) -> Vec<AgentEvent> {
        let until = Instant::now() + WAIT;
        let mut all = Vec::new();
        loop {
            match next(&mut self.rx, until) {
                Some(SessionEvent::Agent(e)) => {
                    let done = f(&e);
                    all.push(e);
                    if done {
                        return all;
                    }
                }
                Some(SessionEvent::Disconnected { error }) => panic!("session ended: {error:?}"),
                Some(_) => {}
                None => panic!("no matching agent event within {WAIT:?}; got {all:?}"),
            }
        }
    }

    /// Asks for the guest's data and returns the answer event.
    fn request(&mut self, s: Selection, t: ClipType) -> AgentEvent {
        let id = self.agent.clipboard_request(s, t).unwrap();
        self.wait(|e| {
            matches!(e, AgentEvent::ClipboardData { request, .. } | AgentEvent::ClipboardFailed { request, .. } if *request == id)
        })
    }
}

fn server(agent: AgentConfig) -> TestServer {
    TestServer::start(ServerConfig {
        agent: AgentConfig {
            connected: true,
            ..agent
        },
        ..ServerConfig::default()
    })
    .unwrap()
}

fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b"abcdefghij\n"[i % 11]).collect()
}

#[test]
fn clipboard_goes_both_ways_with_large_text_and_strict_framing() {
    let server = server(AgentConfig::default());
    let mut c = Client::ready(&server, AgentOptions::default());
    assert!(c.agent.info().unwrap().selections());
    // Guest → client, PRIMARY and CLIPBOARD, 5 MB of text.
    let big = text(5 << 20);
    server.agent_set_clipboard(sel::PRIMARY, clip_type::UTF8_TEXT, b"hello primary".to_vec());
    server.agent_set_clipboard(sel::CLIPBOARD, clip_type::UTF8_TEXT, big.clone());
    server.agent_send(&AgentMessage::ClipboardGrab(ClipboardGrab {
        selection: sel::PRIMARY,
        serial: 0,
        types: vec![clip_type::UTF8_TEXT],
    }));
    let grab = c.wait(|e| matches!(e, AgentEvent::ClipboardGrab { .. }));
    assert_eq!(
        grab,
        AgentEvent::ClipboardGrab {
            selection: Selection::Primary,
            types: vec![ClipType::Text]
        }
    );
    let AgentEvent::ClipboardData { data, .. } = c.request(Selection::Primary, ClipType::Text) else {
        panic!("no data")
    };
    assert_eq!(data, b"hello primary");
    let AgentEvent::ClipboardData { data, .. } = c.request(Selection::Clipboard, ClipType::Text) else {
        panic!("no data")
    };
    assert!(data == big, "5 MB of text changed on the way ({} bytes)", data.len());
    // A type the guest cannot give: NONE → NoData.
    let failed = c.request(Selection::Clipboard, ClipType::Png);
    assert!(matches!(
        failed,
        AgentEvent::ClipboardFailed {
            reason: ClipboardFailure::NoData { .. },
            ..
        }
    ));

    // Client → guest: grab (serial 0), the guest asks, the client answers 5 MB.
    c.agent.clipboard_grab(Selection::Clipboard, &[ClipType::Text]).unwrap();
    assert!(server.agent_wait_for(WAIT, |l| !l.of_type(msg_type::CLIPBOARD_GRAB).is_empty()));
    server.agent_send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::UTF8_TEXT,
    });
    let wanted = c.wait(|e| matches!(e, AgentEvent::ClipboardWanted { .. }));
    assert_eq!(
        wanted,
        AgentEvent::ClipboardWanted {
            selection: Selection::Clipboard,
            clip_type: ClipType::Text
        }
    );
    c.agent
        .clipboard_data(Selection::Clipboard, ClipType::Text, big.clone())
        .unwrap();
    assert!(server.agent_wait_for(WAIT, |l| {
        l.messages
            .iter()
            .any(|m| matches!(m, AgentMessage::Clipboard(cb) if cb.clip_type == clip_type::UTF8_TEXT))
    }));
    server.with_agent_log(|l| {
        assert!(l.framing_errors.is_empty(), "{:?}", l.framing_errors);
        assert_eq!(l.undecodable, 0);
        let grabs = l.of_type(msg_type::CLIPBOARD_GRAB);
        assert!(matches!(grabs[0], AgentMessage::ClipboardGrab(g) if g.serial == 0 && g.selection == sel::CLIPBOARD));
        let AgentMessage::Clipboard(cb) = l.of_type(msg_type::CLIPBOARD)[0] else {
            unreachable!()
        };
        assert!(cb.data == big, "5 MB of text changed on the way to the guest");
        // The client announced MAX_CLIPBOARD (the fake agent has the cap).
        assert!(
            l.messages
                .iter()
                .any(|m| matches!(m, AgentMessage::MaxClipboard { max } if *max == 100 << 20))
        );
    });
    assert_eq!(c.agent.queued_bytes(), 0);
    c.session.disconnect();
}

#[test]
fn monitors_config_is_encoded_for_the_agent_and_its_reply_reported() {
    let server = server(AgentConfig::default());
    let mut c = Client::ready(&server, AgentOptions::default());
    c.agent
        .monitors_config(&[MonitorSpec::new(0, 0, 1280, 800), MonitorSpec::new(1280, 0, 1024, 768)])
        .unwrap();
    let reply = c.wait(|e| matches!(e, AgentEvent::Reply { .. }));
    assert_eq!(
        reply,
        AgentEvent::Reply {
            to: ReplyTo::MonitorsConfig,
            success: true
        }
    );
    server.with_agent_log(|l| {
        let [AgentMessage::MonitorsConfig(m)] = &l.of_type(msg_type::MONITORS_CONFIG)[..] else {
            panic!("one MONITORS_CONFIG")
        };
        assert_eq!(m.monitors.len(), 2);
        assert_eq!(
            (m.monitors[1].width, m.monitors[1].height, m.monitors[1].x),
            (1024, 768, 1280)
        );
    });
}

#[test]
fn files_arrive_whole_and_every_outcome_is_typed() {
    let server = server(AgentConfig::default());
    let mut c = Client::ready(&server, AgentOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.txt");
    let large = dir.path().join("large.bin");
    std::fs::write(&small, b"hello guest\n").unwrap();
    let large_data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&large, &large_data).unwrap();
    let a = c.agent.send_file(&small).unwrap();
    let b = c.agent.send_file(&large).unwrap();
    let mut done = Vec::new();
    let mut progress = 0;
    while done.len() < 2 {
        match c.wait(|e| matches!(e, AgentEvent::FileDone { .. } | AgentEvent::FileProgress { .. })) {
            AgentEvent::FileDone { id, outcome } => done.push((id, outcome)),
            AgentEvent::FileProgress { .. } => progress += 1,
            _ => unreachable!(),
        }
    }
    assert!(done.contains(&(a, TransferOutcome::Success)) && done.contains(&(b, TransferOutcome::Success)));
    assert!(progress >= 3, "progress every MiB: {progress}");
    server.with_agent_log(|l| {
        assert!(l.framing_errors.is_empty(), "{:?}", l.framing_errors);
        let f = &l.files[&a.0];
        assert_eq!(
            (f.name.as_str(), f.data.as_slice()),
            ("small.txt", &b"hello guest\n"[..])
        );
        let f = &l.files[&b.0];
        assert!(f.name == "large.bin" && f.data == large_data && f.completed);
    });

    // Refusals are typed.
    server.agent_set_xfer_mode(XferMode::Refuse(XferResult::NotEnoughSpace(None)));
    let id = c.agent.send_file(&small).unwrap();
    let e = c.wait(|e| matches!(e, AgentEvent::FileDone { .. }));
    assert_eq!(
        e,
        AgentEvent::FileDone {
            id,
            outcome: TransferOutcome::NotEnoughSpace { free: None }
        }
    );
    // Cancel one in flight: the agent hears CANCELLED.
    server.agent_set_xfer_mode(XferMode::AcceptSilently);
    let id = c.agent.send_file(&large).unwrap();
    c.wait(|e| matches!(e, AgentEvent::FileProgress { .. }));
    c.agent.cancel_file(id).unwrap();
    let e = c.wait(|e| matches!(e, AgentEvent::FileDone { .. }));
    assert_eq!(
        e,
        AgentEvent::FileDone {
            id,
            outcome: TransferOutcome::Cancelled
        }
    );
    assert!(server.agent_wait_for(WAIT, |l| l.files.get(&id.0).is_some_and(|f| f.cancelled)));
    // Nothing but a directory.
    assert!(c.agent.send_file(dir.path()).is_err());
}

#[test]
fn hostile_agent_input_is_bounded_and_reported() {
    let server = server(AgentConfig::default());
    let mut c = Client::ready(
        &server,
        AgentOptions {
            max_clipboard: 1 << 20,
            ..AgentOptions::default()
        },
    );
    // 1. A message over MAX_CLIPBOARD answering a request: refused, reported, not buffered.
    server.agent_set_clipboard(sel::CLIPBOARD, clip_type::UTF8_TEXT, text(3 << 20));
    let failed = c.request(Selection::Clipboard, ClipType::Text);
    assert!(
        matches!(
            failed,
            AgentEvent::ClipboardFailed {
                reason: ClipboardFailure::TooLarge { max: 1048576, .. },
                ..
            }
        ),
        "{failed:?}"
    );
    // 2. Clipboard data nobody asked for: dropped, counted.
    server.agent_send(&AgentMessage::Clipboard(Clipboard {
        selection: sel::PRIMARY,
        clip_type: clip_type::UTF8_TEXT,
        data: b"unasked".to_vec(),
    }));
    // 3. A grab with a million types (4 MB: over the 256 KiB limit) and one with 60,000.
    let million = AgentMessage::ClipboardGrab(ClipboardGrab {
        selection: sel::CLIPBOARD,
        serial: 0,
        types: vec![clip_type::UTF8_TEXT; 1_000_000],
    });
    server.agent_send(&million);
    server.agent_send(&AgentMessage::ClipboardGrab(ClipboardGrab {
        selection: sel::CLIPBOARD,
        serial: 0,
        types: (0..60_000).map(|i| i % 9).collect(),
    }));
    let grab = c.wait(|e| matches!(e, AgentEvent::ClipboardGrab { .. }));
    assert!(matches!(grab, AgentEvent::ClipboardGrab { types, .. } if types.len() == 6));
    // 4. Status for an unknown transfer: ignored, counted.
    server.agent_send(&AgentMessage::FileXferStatus(FileXferStatus {
        id: 4242,
        result: XferResult::Success,
    }));
    // 5. Chunks whose sizes lie: a header promising 100 bytes, then garbage.
    let mut lying = Vec::new();
    lying.extend_from_slice(&1u32.to_le_bytes());
    lying.extend_from_slice(&msg_type::CLIPBOARD_REQUEST.to_le_bytes());
    lying.extend_from_slice(&0u64.to_le_bytes());
    lying.extend_from_slice(&100u32.to_le_bytes());
    lying.extend_from_slice(&[7; 30]);
    server.agent_send_bodies(vec![lying, vec![0xee; 2048], vec![0xee; 5000]]);
    // Then a valid grab: the stream resynchronises on a later body.
    server.agent_send(&AgentMessage::ClipboardGrab(ClipboardGrab {
        selection: sel::PRIMARY,
        serial: 0,
        types: vec![clip_type::IMAGE_PNG],
    }));
    let grab = c.wait(|e| {
        matches!(
            e,
            AgentEvent::ClipboardGrab {
                selection: Selection::Primary,
                ..
            }
        )
    });
    assert_eq!(
        grab,
        AgentEvent::ClipboardGrab {
            selection: Selection::Primary,
            types: vec![ClipType::Png]
        }
    );
    let stats = c.agent.stats();
    assert!(stats.oversize_messages >= 2, "{stats:?}");
    assert_eq!(stats.unsolicited_clipboard, 1, "{stats:?}");
    assert_eq!(stats.unknown_transfer_status, 1, "{stats:?}");
    assert!(stats.framing_errors >= 1, "{stats:?}");
    // The session is fine: a normal round trip still works.
    server.agent_set_clipboard(sel::PRIMARY, clip_type::IMAGE_PNG, vec![0x89, b'P', b'N', b'G']);
    assert!(matches!(
        c.request(Selection::Primary, ClipType::Png),
        AgentEvent::ClipboardData { data, .. } if data == [0x89, b'P', b'N', b'G']
    ));
    // Data over the limit towards the guest: refused with an event, the guest gets an empty answer.
    c.agent.clipboard_grab(Selection::Clipboard, &[ClipType::Text]).unwrap();
    assert!(server.agent_wait_for(WAIT, |l| !l.of_type(msg_type::CLIPBOARD_GRAB).is_empty()));
    server.agent_send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::UTF8_TEXT,
    });
    c.wait(|e| matches!(e, AgentEvent::ClipboardWanted { .. }));
    c.agent
        .clipboard_data(Selection::Clipboard, ClipType::Text, text(2 << 20))
        .unwrap();
    let refused = c.wait(|e| matches!(e, AgentEvent::ClipboardRefused { .. }));
    assert_eq!(
        refused,
        AgentEvent::ClipboardRefused {
            selection: Some(Selection::Clipboard),
            direction: ClipboardDirection::ToGuest,
            size: 2 << 20,
            max: 1 << 20
        }
    );
    assert!(server.agent_wait_for(WAIT, |l| {
        l.messages
            .iter()
            .any(|m| matches!(m, AgentMessage::Clipboard(cb) if cb.data.is_empty()))
    }));
    assert!(server.with_agent_log(|l| l.framing_errors.is_empty()));
}

#[test]
fn the_agent_vanishing_mid_transfer_fails_it_and_a_new_agent_starts_afresh() {
    let server = server(AgentConfig {
        xfer: XferMode::AcceptSilently,
        ..AgentConfig::default()
    });
    let mut c = Client::ready(&server, AgentOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.bin");
    std::fs::write(&f, vec![5u8; 8 << 20]).unwrap();
    let id = c.agent.send_file(&f).unwrap();
    c.wait(|e| matches!(e, AgentEvent::FileProgress { .. }));
    server.agent_set_clipboard(sel::CLIPBOARD, clip_type::UTF8_TEXT, b"x".to_vec());
    server.agent_disconnect();
    let events = c.collect_until(|e| matches!(e, AgentEvent::FileDone { .. }));
    assert!(events.contains(&AgentEvent::FileDone {
        id,
        outcome: TransferOutcome::AgentGone
    }));
    assert!(!c.agent.is_connected() && c.agent.info().is_none());
    assert_eq!(c.agent.queued_bytes(), 0);
    // A new agent: announced again, ready again.
    server.agent_connect();
    c.wait(|e| matches!(e, AgentEvent::Ready(_)));
    assert!(matches!(
        c.request(Selection::Clipboard, ClipType::Text),
        AgentEvent::ClipboardData { data, .. } if data == b"x"
    ));
}
