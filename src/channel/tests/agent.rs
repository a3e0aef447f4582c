//! The agent machine from byte vectors: a scripted agent on the other side
//! of AGENT_DATA, the client's framing checked with the strict reassembler.

#![allow(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::time::{Duration, Instant};

use super::*;
use crate::channel::Output;
use crate::proto::Message;
use crate::proto::vdagent::caps::{self as c, AgentCaps};
use crate::proto::vdagent::clipboard::{clip_type, selection as sel};
use crate::proto::vdagent::control::{monitors_flag, reply_error};
use crate::proto::vdagent::{
    AgentLimits, ClipboardGrab, FileXferStatus, Reply, XferErrorDetail, XferResult, chunk_bodies,
};

/// The Linux agent's capabilities (real-guest.md).
fn linux_caps() -> AgentCaps {
    AgentCaps::from_bits(&[
        c::MOUSE_STATE,
        c::MONITORS_CONFIG,
        c::REPLY,
        c::CLIPBOARD_BY_DEMAND,
        c::CLIPBOARD_SELECTION,
        c::SPARSE_MONITORS_CONFIG,
        c::GUEST_LINEEND_LF,
        c::MAX_CLIPBOARD,
        c::AUDIO_VOLUME_SYNC,
        c::GRAPHICS_DEVICE_INFO,
        c::CLIPBOARD_NO_RELEASE_ON_REGRAB,
        c::CLIPBOARD_GRAB_SERIAL,
    ])
}

/// An older Windows-like agent: CR LF text, no serials, release before regrab, display config.
fn old_caps() -> AgentCaps {
    AgentCaps::from_bits(&[
        c::MONITORS_CONFIG,
        c::REPLY,
        c::DISPLAY_CONFIG,
        c::CLIPBOARD_BY_DEMAND,
        c::CLIPBOARD_SELECTION,
        c::GUEST_LINEEND_CRLF,
        c::FILE_XFER_DETAILED_ERRORS,
    ])
}

/// The test's side: what the agent machine sent, decoded as an agent would.
struct Peer {
    agent: Agent,
    shared: Arc<AgentShared>,
    caps: AgentCaps,
    strict: Reassembler,
    now: Instant,
    /// Everything the client sent to the agent so far, decoded.
    got: Vec<AgentMessage>,
    events: Vec<AgentEvent>,
    other: Vec<Output>,
}

impl Peer {
    fn new(options: AgentOptions) -> Self {
        let shared = AgentShared::new();
        Self {
            agent: Agent::new(Arc::clone(&shared), options),
            shared,
            caps: AgentCaps::new(),
            strict: Reassembler::strict(AgentLimits::from_max_clipboard(-1)),
            now: Instant::now(),
            got: Vec::new(),
            events: Vec::new(),
            other: Vec::new(),
        }
    }

    /// Connected with `tokens` and ready with the agent's `caps`.
    fn ready(options: AgentOptions, caps: AgentCaps) -> Self {
        let mut p = Self::new(options);
        p.connect(1000);
        p.announce(caps, true);
        p.take();
        p
    }

    fn absorb(&mut self, mut out: Outputs) {
        for o in out.drain() {
            match o {
                Output::Send { msg_type, body } => match MainClient::decode(msg_type, &body).unwrap() {
                    MainClient::AgentData(d) => {
                        for m in self.strict.feed(&d) {
                            let raw = m.expect("the client's framing is what spice-server accepts");
                            let negotiated = c::client_caps().intersect(&self.caps);
                            self.got.push(raw.decode(&negotiated).expect("decodable"));
                        }
                    }
                    other => self.other.push(Output::Send {
                        msg_type: other.msg_type(),
                        body: other.to_body(),
                    }),
                },
                Output::Event(SessionEvent::Agent(e)) => self.events.push(e),
                other => self.other.push(other),
            }
        }
    }

    fn connect(&mut self, tokens: u32) {
        let mut out = Outputs::new();
        self.agent.connected(tokens, &mut out);
        self.absorb(out);
    }

    /// The agent sends `m` (encoded under the negotiated caps).
    fn send(&mut self, m: &AgentMessage) {
        let negotiated = c::client_caps().intersect(&self.caps);
        let bytes = m.to_bytes(&negotiated).unwrap();
        for body in chunk_bodies(&bytes) {
            self.feed(body);
        }
    }

    fn feed(&mut self, body: &[u8]) {
        let mut out = Outputs::new();
        self.agent.data(body, self.now, &mut out);
        self.absorb(out);
    }

    fn announce(&mut self, caps: AgentCaps, request: bool) {
        self.caps = caps.clone();
        self.send(&AgentMessage::AnnounceCapabilities { request, caps });
    }

    fn cmd(&mut self, cmd: AgentCommand) {
        let mut out = Outputs::new();
        self.agent.command(cmd, self.now, &mut out);
        self.absorb(out);
    }

    /// Queued through the inbox, as the handle does.
    fn push(&mut self, cmd: AgentCommand) {
        self.shared.push_command(cmd, 0).unwrap();
        let mut out = Outputs::new();
        self.agent.commands(self.now, &mut out);
        self.absorb(out);
    }

    fn tokens(&mut self, n: u32) {
        let mut out = Outputs::new();
        self.agent.token(n, self.now, &mut out);
        self.absorb(out);
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        if self.agent.next_wake().is_some_and(|w| w <= self.now) {
            let mut out = Outputs::new();
            self.agent.wake(self.now, &mut out);
            self.absorb(out);
        }
    }

    fn take(&mut self) -> (Vec<AgentMessage>, Vec<AgentEvent>) {
        self.other.clear();
        (std::mem::take(&mut self.got), std::mem::take(&mut self.events))
    }

    fn grab(&mut self, s: u8, serial: u32, types: &[u32]) {
        self.send(&AgentMessage::ClipboardGrab(ClipboardGrab {
            selection: s,
            serial,
            types: types.to_vec(),
        }));
    }

    fn clipboard(&mut self, s: u8, t: u32, data: &[u8]) {
        self.send(&AgentMessage::Clipboard(crate::proto::vdagent::Clipboard {
            selection: s,
            clip_type: t,
            data: data.to_vec(),
        }));
    }

    fn status(&mut self, id: u32, result: XferResult) {
        self.send(&AgentMessage::FileXferStatus(FileXferStatus { id, result }));
    }
}

#[test]
fn connect_announces_and_the_agents_caps_make_it_ready() {
    let mut p = Peer::new(AgentOptions::default());
    p.connect(0);
    // AGENT_START goes at once; the announcement waits for a token.
    assert!(
        matches!(&p.other[..], [Output::Send { msg_type, .. }, Output::Event(SessionEvent::AgentConnected(true))]
            if *msg_type == crate::proto::channel::main::msgc::AGENT_START)
    );
    assert!(p.got.is_empty());
    assert_eq!(p.agent.waiting_chunks(), 1);
    p.tokens(5);
    assert_eq!(
        p.take().0,
        vec![AgentMessage::AnnounceCapabilities {
            request: true,
            caps: c::client_caps()
        }]
    );
    assert!(!p.agent.is_ready());
    p.announce(linux_caps(), true);
    let (sent, events) = p.take();
    assert_eq!(
        sent,
        vec![
            AgentMessage::AnnounceCapabilities {
                request: false,
                caps: c::client_caps()
            },
            AgentMessage::MaxClipboard {
                max: DEFAULT_MAX_CLIPBOARD
            },
        ]
    );
    let [AgentEvent::Ready(info)] = &events[..] else {
        panic!("{events:?}")
    };
    assert!(info.clipboard() && info.selections() && info.monitors_config() && info.file_transfer());
    assert!(!info.display_config());
    assert_eq!(p.shared.info().as_ref(), Some(info));
    // A re-announcement without request is not answered.
    p.announce(linux_caps(), false);
    let (sent, events) = p.take();
    assert!(sent.is_empty());
    assert!(matches!(&events[..], [AgentEvent::Ready(_)]));
}

#[test]
fn display_effects_go_to_agents_that_take_them_and_commands_wait_for_readiness() {
    let options = AgentOptions {
        display: DisplayEffects {
            disable_wallpaper: true,
            color_depth: Some(16),
            ..DisplayEffects::default()
        },
        ..AgentOptions::default()
    };
    let mut p = Peer::new(options);
    p.connect(100);
    p.take();
    p.shared
        .push_command(
            AgentCommand::ClipboardGrab {
                selection: Selection::Clipboard,
                types: vec![ClipType::Text],
            },
            0,
        )
        .unwrap();
    let mut out = Outputs::new();
    p.agent.commands(p.now, &mut out);
    p.absorb(out);
    assert!(p.take().0.is_empty(), "nothing before the agent's capabilities");
    p.announce(old_caps(), false);
    let (sent, _) = p.take();
    assert_eq!(
        sent,
        vec![
            AgentMessage::DisplayConfig(crate::proto::vdagent::DisplayConfig {
                flags: crate::proto::vdagent::control::display_flag::DISABLE_WALLPAPER
                    | crate::proto::vdagent::control::display_flag::SET_COLOR_DEPTH,
                depth: 16
            }),
            AgentMessage::ClipboardGrab(ClipboardGrab {
                selection: sel::CLIPBOARD,
                serial: 0,
                types: vec![clip_type::UTF8_TEXT]
            }),
        ]
    );
}

#[test]
fn guest_grabs_keep_known_types_and_follow_serials() {
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    // 60,000 types, most unknown or repeated: at most the six known ones, once each.
    let mut types: Vec<u32> = (0..60_000).map(|i| 7 + (i % 1000)).collect();
    types.extend([clip_type::IMAGE_PNG, clip_type::UTF8_TEXT, clip_type::IMAGE_PNG]);
    p.grab(sel::CLIPBOARD, 0, &types);
    assert_eq!(
        p.take().1,
        vec![AgentEvent::ClipboardGrab {
            selection: Selection::Clipboard,
            types: vec![ClipType::Png, ClipType::Text]
        }]
    );
    // Serial 0 was taken: a second grab with 0 is stale; 1 is next.
    p.grab(sel::CLIPBOARD, 0, &[clip_type::UTF8_TEXT]);
    assert!(p.take().1.is_empty());
    assert_eq!(p.agent.stats().stale_grabs, 1);
    p.grab(sel::CLIPBOARD, 1, &[clip_type::UTF8_TEXT]);
    assert_eq!(p.take().1.len(), 1);
    // Serials are per selection; our grab uses (and advances) the counter too.
    p.cmd(AgentCommand::ClipboardGrab {
        selection: Selection::Primary,
        types: vec![ClipType::Text],
    });
    let (sent, _) = p.take();
    assert!(matches!(&sent[..], [AgentMessage::ClipboardGrab(g)] if g.serial == 0 && g.selection == sel::PRIMARY));
    // The guest's grab racing ours carries the serial we used: dropped (ours wins).
    p.grab(sel::PRIMARY, 0, &[clip_type::UTF8_TEXT]);
    assert!(p.take().1.is_empty());
    p.grab(sel::PRIMARY, 1, &[clip_type::UTF8_TEXT]);
    assert_eq!(p.take().1.len(), 1);
    // An unknown selection is dropped and counted.
    p.grab(7, 0, &[clip_type::UTF8_TEXT]);
    assert!(p.take().1.is_empty());
    assert_eq!(p.agent.stats().unknown_selection, 1);
}

#[test]
fn requests_are_answered_in_order_and_unasked_data_is_dropped() {
    let mut p = Peer::ready(AgentOptions::default(), old_caps());
    p.grab(sel::CLIPBOARD, 0, &[clip_type::UTF8_TEXT, clip_type::IMAGE_PNG]);
    p.take();
    for (id, t) in [(1, ClipType::Text), (2, ClipType::Png), (3, ClipType::Text)] {
        p.cmd(AgentCommand::ClipboardRequest {
            id: RequestId(id),
            selection: Selection::Clipboard,
            clip_type: t,
        });
    }
    let (sent, _) = p.take();
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[1],
        AgentMessage::ClipboardRequest {
            selection: sel::CLIPBOARD,
            clip_type: clip_type::IMAGE_PNG
        }
    );
    // PNG first: matches request 2; text with CR LF and a NUL: request 1, as LF.
    p.clipboard(sel::CLIPBOARD, clip_type::IMAGE_PNG, b"\x89PNG");
    p.clipboard(sel::CLIPBOARD, clip_type::UTF8_TEXT, b"a\r\nb\r\n\0");
    let (_, events) = p.take();
    assert_eq!(
        events,
        vec![
            AgentEvent::ClipboardData {
                request: RequestId(2),
                selection: Selection::Clipboard,
                clip_type: ClipType::Png,
                data: b"\x89PNG".to_vec()
            },
            AgentEvent::ClipboardData {
                request: RequestId(1),
                selection: Selection::Clipboard,
                clip_type: ClipType::Text,
                data: b"a\nb\n".to_vec()
            },
        ]
    );
    // NONE fails the oldest request of the selection.
    p.clipboard(sel::CLIPBOARD, clip_type::NONE, b"");
    assert_eq!(
        p.take().1,
        vec![AgentEvent::ClipboardFailed {
            request: RequestId(3),
            selection: Selection::Clipboard,
            clip_type: ClipType::Text,
            reason: ClipboardFailure::NoData {
                limit: Some(DEFAULT_MAX_CLIPBOARD as u32)
            }
        }]
    );
    // Nobody asks any more: dropped, counted.
    p.clipboard(sel::CLIPBOARD, clip_type::UTF8_TEXT, b"surprise");
    p.clipboard(sel::PRIMARY, clip_type::UTF8_TEXT, b"surprise");
    assert!(p.take().1.is_empty());
    assert_eq!(p.agent.stats().unsolicited_clipboard, 2);
}

#[test]
fn clipboard_data_over_the_limit_is_refused_unbuffered() {
    let options = AgentOptions {
        max_clipboard: 1000,
        ..AgentOptions::default()
    };
    let mut p = Peer::ready(options, linux_caps());
    assert!(p.take().0.is_empty());
    p.cmd(AgentCommand::ClipboardRequest {
        id: RequestId(9),
        selection: Selection::Primary,
        clip_type: ClipType::Text,
    });
    p.take();
    // The header of a 5 MB answer arrives: refused at once, nothing held.
    let negotiated = c::client_caps().intersect(&p.caps);
    let big = AgentMessage::Clipboard(crate::proto::vdagent::Clipboard {
        selection: sel::PRIMARY,
        clip_type: clip_type::UTF8_TEXT,
        data: vec![b'x'; 5 << 20],
    })
    .to_bytes(&negotiated)
    .unwrap();
    let mut bodies = chunk_bodies(&big);
    let first = bodies.next().unwrap();
    p.feed(first);
    assert_eq!(p.agent.held_bytes(), 0);
    assert_eq!(
        p.take().1,
        vec![
            AgentEvent::ClipboardRefused {
                selection: Some(Selection::Primary),
                direction: ClipboardDirection::FromGuest,
                size: 5 << 20,
                max: 1000
            },
            AgentEvent::ClipboardFailed {
                request: RequestId(9),
                selection: Selection::Primary,
                clip_type: ClipType::Text,
                reason: ClipboardFailure::TooLarge {
                    size: 5 << 20,
                    max: 1000
                }
            }
        ]
    );
    for b in bodies {
        p.feed(b);
        assert_eq!(p.agent.held_bytes(), 0);
    }
    // The stream is still in sync: the next message decodes.
    p.grab(sel::CLIPBOARD, 0, &[clip_type::UTF8_TEXT]);
    assert_eq!(p.take().1.len(), 1);
    assert_eq!(p.agent.stats().oversize_messages, 1);
}

#[test]
fn the_guest_pastes_from_the_clients_grab() {
    let mut p = Peer::ready(
        AgentOptions {
            max_clipboard: 10,
            ..AgentOptions::default()
        },
        old_caps(),
    );
    p.take();
    p.cmd(AgentCommand::ClipboardGrab {
        selection: Selection::Clipboard,
        types: vec![ClipType::Text, ClipType::Text, ClipType::Png],
    });
    let (sent, _) = p.take();
    // No serial on the wire without GRAB_SERIAL.
    assert_eq!(
        sent,
        vec![AgentMessage::ClipboardGrab(ClipboardGrab {
            selection: sel::CLIPBOARD,
            serial: 0,
            types: vec![clip_type::UTF8_TEXT, clip_type::IMAGE_PNG]
        })]
    );
    // A request for a type we offer goes to the embedder; others get NONE at once.
    p.send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::UTF8_TEXT,
    });
    p.send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::IMAGE_BMP,
    });
    p.send(&AgentMessage::ClipboardRequest {
        selection: sel::PRIMARY,
        clip_type: clip_type::UTF8_TEXT,
    });
    let (sent, events) = p.take();
    assert_eq!(
        events,
        vec![AgentEvent::ClipboardWanted {
            selection: Selection::Clipboard,
            clip_type: ClipType::Text
        }]
    );
    let none = |s| {
        AgentMessage::Clipboard(crate::proto::vdagent::Clipboard {
            selection: s,
            clip_type: clip_type::NONE,
            data: vec![],
        })
    };
    assert_eq!(sent, vec![none(sel::CLIPBOARD), none(sel::PRIMARY)]);
    // The answer: LF → CR LF for this guest.
    p.cmd(AgentCommand::ClipboardData {
        selection: Selection::Clipboard,
        clip_type: ClipType::Text,
        data: b"a\nb".to_vec(),
    });
    assert_eq!(
        p.take().0,
        vec![AgentMessage::Clipboard(crate::proto::vdagent::Clipboard {
            selection: sel::CLIPBOARD,
            clip_type: clip_type::UTF8_TEXT,
            data: b"a\r\nb".to_vec()
        })]
    );
    // Over the limit (10 bytes): an empty answer and an event for the UI.
    p.send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::IMAGE_PNG,
    });
    p.take();
    p.cmd(AgentCommand::ClipboardData {
        selection: Selection::Clipboard,
        clip_type: ClipType::Png,
        data: vec![1; 11],
    });
    let (sent, events) = p.take();
    assert_eq!(
        sent,
        vec![AgentMessage::Clipboard(crate::proto::vdagent::Clipboard {
            selection: sel::CLIPBOARD,
            clip_type: clip_type::IMAGE_PNG,
            data: vec![]
        })]
    );
    assert_eq!(
        events,
        vec![AgentEvent::ClipboardRefused {
            selection: Some(Selection::Clipboard),
            direction: ClipboardDirection::ToGuest,
            size: 11,
            max: 10
        }]
    );
    // Nothing to give: NONE. Data nobody asked for: not sent.
    p.send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::UTF8_TEXT,
    });
    p.take();
    p.cmd(AgentCommand::ClipboardNoData {
        selection: Selection::Clipboard,
    });
    assert_eq!(p.take().0, vec![none(sel::CLIPBOARD)]);
    p.cmd(AgentCommand::ClipboardData {
        selection: Selection::Clipboard,
        clip_type: ClipType::Text,
        data: b"late".to_vec(),
    });
    assert!(p.take().0.is_empty());
    // Re-grab in the old regime: RELEASE first. Then a plain release.
    p.cmd(AgentCommand::ClipboardGrab {
        selection: Selection::Clipboard,
        types: vec![ClipType::Text],
    });
    let (sent, _) = p.take();
    assert!(matches!(
        &sent[..],
        [AgentMessage::ClipboardRelease { .. }, AgentMessage::ClipboardGrab(_)]
    ));
    p.cmd(AgentCommand::ClipboardRelease {
        selection: Selection::Clipboard,
    });
    assert_eq!(
        p.take().0,
        vec![AgentMessage::ClipboardRelease {
            selection: sel::CLIPBOARD
        }]
    );
}

#[test]
fn old_agents_release_is_held_and_dropped_by_a_following_grab() {
    let mut p = Peer::ready(AgentOptions::default(), old_caps());
    p.grab(sel::CLIPBOARD, 0, &[clip_type::UTF8_TEXT]);
    p.take();
    p.send(&AgentMessage::ClipboardRelease {
        selection: sel::CLIPBOARD,
    });
    p.grab(sel::CLIPBOARD, 0, &[clip_type::IMAGE_PNG]);
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.take().1,
        vec![AgentEvent::ClipboardGrab {
            selection: Selection::Clipboard,
            types: vec![ClipType::Png]
        }]
    );
    p.send(&AgentMessage::ClipboardRelease {
        selection: sel::CLIPBOARD,
    });
    assert!(p.take().1.is_empty());
    p.advance(Duration::from_millis(600));
    assert_eq!(
        p.take().1,
        vec![AgentEvent::ClipboardRelease {
            selection: Selection::Clipboard
        }]
    );
    // With NO_RELEASE_ON_REGRAB the release is immediate.
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    p.grab(sel::PRIMARY, 0, &[clip_type::UTF8_TEXT]);
    p.send(&AgentMessage::ClipboardRelease {
        selection: sel::PRIMARY,
    });
    assert_eq!(
        p.take().1[1..],
        [AgentEvent::ClipboardRelease {
            selection: Selection::Primary
        }]
    );
}

#[test]
fn silent_guests_and_embedders_time_out() {
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    p.cmd(AgentCommand::ClipboardRequest {
        id: RequestId(1),
        selection: Selection::Clipboard,
        clip_type: ClipType::Text,
    });
    p.take();
    p.advance(Duration::from_secs(20));
    // Any agent data pushes the deadline back.
    p.grab(sel::PRIMARY, 0, &[clip_type::UTF8_TEXT]);
    p.advance(Duration::from_secs(20));
    assert!(
        !p.take()
            .1
            .iter()
            .any(|e| matches!(e, AgentEvent::ClipboardFailed { .. }))
    );
    p.advance(Duration::from_secs(11));
    assert_eq!(
        p.take().1,
        vec![AgentEvent::ClipboardFailed {
            request: RequestId(1),
            selection: Selection::Clipboard,
            clip_type: ClipType::Text,
            reason: ClipboardFailure::Timeout
        }]
    );
    // The guest asks, the embedder never answers: NONE after the timeout.
    p.cmd(AgentCommand::ClipboardGrab {
        selection: Selection::Clipboard,
        types: vec![ClipType::Text],
    });
    p.send(&AgentMessage::ClipboardRequest {
        selection: sel::CLIPBOARD,
        clip_type: clip_type::UTF8_TEXT,
    });
    p.take();
    p.advance(clipboard::CLIPBOARD_TIMEOUT);
    assert!(matches!(&p.take().0[..], [AgentMessage::Clipboard(cb)] if cb.clip_type == clip_type::NONE));
    // Too many requests at once: refused.
    for i in 0..=clipboard::MAX_PENDING_REQUESTS as u64 {
        p.cmd(AgentCommand::ClipboardRequest {
            id: RequestId(100 + i),
            selection: Selection::Clipboard,
            clip_type: ClipType::Text,
        });
    }
    let (sent, events) = p.take();
    assert_eq!(sent.len(), clipboard::MAX_PENDING_REQUESTS);
    assert!(matches!(
        &events[..],
        [AgentEvent::ClipboardFailed {
            reason: ClipboardFailure::TooManyRequests,
            ..
        }]
    ));
}

#[test]
fn monitors_config_volume_and_replies() {
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    let off = MonitorSpec::default();
    let a = MonitorSpec::new(0, 0, 1280, 800);
    // Several layouts in one batch: the last one goes.
    p.shared
        .push_command(AgentCommand::MonitorsConfig(vec![MonitorSpec::new(0, 0, 640, 480)]), 0)
        .unwrap();
    p.push(AgentCommand::MonitorsConfig(vec![a, off]));
    let (sent, _) = p.take();
    let [AgentMessage::MonitorsConfig(m)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(m.flags, monitors_flag::USE_POS);
    assert_eq!(m.monitors.len(), 2, "sparse: the disabled head keeps its place");
    assert_eq!(
        (m.monitors[0].width, m.monitors[0].height, m.monitors[0].depth),
        (1280, 800, 32)
    );
    p.send(&AgentMessage::Reply(Reply {
        msg_type: crate::proto::vdagent::msg_type::MONITORS_CONFIG,
        error: reply_error::SUCCESS,
    }));
    assert_eq!(
        p.take().1,
        vec![AgentEvent::Reply {
            to: ReplyTo::MonitorsConfig,
            success: true
        }]
    );
    let v = crate::proto::vdagent::AudioVolumeSync {
        is_playback: true,
        mute: false,
        volumes: vec![0x8000, 0x8000],
    };
    p.cmd(AgentCommand::VolumeSync(v.clone()));
    assert_eq!(p.take().0, vec![AgentMessage::AudioVolumeSync(v.clone())]);
    // Agents without the capabilities get neither.
    let mut q = Peer::ready(AgentOptions::default(), AgentCaps::from_bits(&[c::CLIPBOARD_BY_DEMAND]));
    q.cmd(AgentCommand::VolumeSync(v));
    q.cmd(AgentCommand::MonitorsConfig(vec![a]));
    assert!(q.take().0.is_empty());
}

/// Starts transfer `id` of `size` bytes and has the agent accept it.
fn accepted(p: &mut Peer, id: u32, size: u64) {
    p.cmd(AgentCommand::FileStart {
        id: TransferId(id),
        name: format!("f{id}.bin"),
        size,
    });
    p.status(id, XferResult::CanSendData);
}

#[test]
fn a_file_goes_in_pieces_within_the_read_ahead_and_succeeds_only_when_confirmed() {
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    p.cmd(AgentCommand::FileStart {
        id: TransferId(1),
        name: "a b.txt".into(),
        size: 200_000,
    });
    let (sent, events) = p.take();
    assert_eq!(
        sent,
        vec![AgentMessage::FileXferStart(crate::proto::vdagent::FileXferStart {
            id: 1,
            name: "a b.txt".into(),
            size: 200_000
        })]
    );
    assert_eq!(
        events,
        vec![AgentEvent::FileStarted {
            id: TransferId(1),
            name: "a b.txt".into(),
            size: 200_000
        }]
    );
    p.status(1, XferResult::CanSendData);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for piece in data.chunks(file_xfer::PIECE) {
        p.cmd(AgentCommand::FileData {
            id: TransferId(1),
            data: piece.to_vec(),
        });
    }
    let (sent, events) = p.take();
    let mut got = Vec::new();
    for m in &sent {
        let AgentMessage::FileXferData(d) = m else {
            panic!("{m:?}")
        };
        assert_eq!(d.id, 1);
        got.extend_from_slice(&d.data);
    }
    assert_eq!(got, data);
    assert_eq!(
        events,
        vec![AgentEvent::FileProgress {
            id: TransferId(1),
            sent: 200_000,
            total: 200_000
        }]
    );
    assert!(events.iter().all(|e| !matches!(e, AgentEvent::FileDone { .. })));
    p.status(1, XferResult::Success);
    assert_eq!(
        p.take().1,
        vec![AgentEvent::FileDone {
            id: TransferId(1),
            outcome: TransferOutcome::Success
        }]
    );
    // A status for it now (or for an id never seen) is ignored and counted.
    p.status(1, XferResult::Success);
    p.status(77, XferResult::Error(None));
    assert!(p.take().1.is_empty());
    assert_eq!(p.agent.stats().unknown_transfer_status, 2);
}

#[test]
fn transfers_queue_take_turns_and_report_every_agent_outcome() {
    let caps = {
        let mut k = linux_caps();
        k.set(c::FILE_XFER_DETAILED_ERRORS);
        k
    };
    let mut p = Peer::ready(AgentOptions::default(), caps);
    for id in 1..=6 {
        p.cmd(AgentCommand::FileStart {
            id: TransferId(id),
            name: format!("f{id}"),
            size: 10,
        });
    }
    let (sent, _) = p.take();
    assert_eq!(sent.len(), file_xfer::MAX_ACTIVE, "at most four offered at once");
    let outcomes = [
        (
            1,
            XferResult::NotEnoughSpace(Some(4096)),
            TransferOutcome::NotEnoughSpace { free: Some(4096) },
        ),
        (
            2,
            XferResult::Error(Some(XferErrorDetail {
                error_type: 0,
                code: 14,
            })),
            TransferOutcome::GuestError { gio_code: Some(14) },
        ),
        (3, XferResult::SessionLocked, TransferOutcome::SessionLocked),
        (4, XferResult::Disabled, TransferOutcome::Disabled),
        (
            5,
            XferResult::AgentNotConnected,
            TransferOutcome::GuestAgentNotConnected,
        ),
        (6, XferResult::Cancelled, TransferOutcome::CancelledByGuest),
    ];
    for (id, result, outcome) in outcomes {
        p.status(id, result);
        let (_, events) = p.take();
        assert!(
            events.contains(&AgentEvent::FileDone {
                id: TransferId(id),
                outcome
            }),
            "{events:?}"
        );
    }
    assert_eq!(p.agent.transfers(), 0);
    // Two files being sent take turns, piece by piece.
    accepted(&mut p, 10, 3 * file_xfer::PIECE as u64);
    accepted(&mut p, 11, 3 * file_xfer::PIECE as u64);
    p.take();
    p.tokens(0);
    for _ in 0..3 {
        for id in [10, 11] {
            p.shared
                .push_command(
                    AgentCommand::FileData {
                        id: TransferId(id),
                        data: vec![id as u8; file_xfer::PIECE],
                    },
                    0,
                )
                .unwrap();
        }
    }
    let mut out = Outputs::new();
    p.agent.commands(p.now, &mut out);
    p.absorb(out);
    let order: Vec<u32> = p
        .take()
        .0
        .iter()
        .filter_map(|m| match m {
            AgentMessage::FileXferData(d) => Some(d.id),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec![10, 11, 10, 11, 10, 11]);
    // Cancel: STATUS CANCELLED to the agent, Cancelled to the embedder.
    p.cmd(AgentCommand::CancelFile { id: TransferId(10) });
    let (sent, events) = p.take();
    assert_eq!(
        sent,
        vec![AgentMessage::FileXferStatus(FileXferStatus {
            id: 10,
            result: XferResult::Cancelled
        })]
    );
    assert_eq!(
        events,
        vec![AgentEvent::FileDone {
            id: TransferId(10),
            outcome: TransferOutcome::Cancelled
        }]
    );
    // SUCCESS before every byte: not a success.
    accepted(&mut p, 12, 100);
    p.status(12, XferResult::Success);
    assert!(p.take().1.contains(&AgentEvent::FileDone {
        id: TransferId(12),
        outcome: TransferOutcome::PrematureSuccess { sent: 0 }
    }));
    // A read error cancels.
    accepted(&mut p, 13, 100);
    p.cmd(AgentCommand::FileReadError {
        id: TransferId(13),
        error: "disk on fire".into(),
    });
    assert!(p.take().1.contains(&AgentEvent::FileDone {
        id: TransferId(13),
        outcome: TransferOutcome::ReadError("disk on fire".into())
    }));
}

#[test]
fn file_data_waits_for_tokens_without_filling_memory() {
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    let size = 40 * file_xfer::PIECE as u64;
    accepted(&mut p, 1, size);
    p.take();
    // No tokens left: nothing goes out until AGENT_TOKEN.
    let mut out = Outputs::new();
    p.agent.connected(0, &mut out);
    p.absorb(out);
    assert_eq!(p.agent.tokens(), 0);
    for _ in 0..40 {
        p.cmd(AgentCommand::FileData {
            id: TransferId(1),
            data: vec![7; file_xfer::PIECE],
        });
    }
    // Chunks are cut only up to the high-water mark (plus one piece); the rest stays as pieces.
    let piece_chunks = (file_xfer::PIECE + 32).div_ceil(MAX_AGENT_DATA);
    assert!(p.agent.waiting_chunks() < FILE_HIGH_WATER + piece_chunks);
    assert!(p.take().0.is_empty());
    let mut delivered = 0u64;
    for _ in 0..2000 {
        p.tokens(50);
        for m in p.take().0 {
            if let AgentMessage::FileXferData(d) = m {
                delivered += d.data.len() as u64;
            }
        }
        assert!(p.agent.waiting_chunks() < FILE_HIGH_WATER + piece_chunks);
        if delivered == size {
            break;
        }
    }
    assert_eq!(delivered, size);
}

#[test]
fn the_agent_vanishing_resets_everything() {
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    p.grab(sel::CLIPBOARD, 0, &[clip_type::UTF8_TEXT]);
    p.cmd(AgentCommand::ClipboardRequest {
        id: RequestId(5),
        selection: Selection::Clipboard,
        clip_type: ClipType::Text,
    });
    accepted(&mut p, 3, 1 << 20);
    p.take();
    let mut out = Outputs::new();
    p.agent.disconnected(0, &mut out);
    p.absorb(out);
    let (_, events) = p.take();
    assert_eq!(
        events,
        vec![
            AgentEvent::ClipboardFailed {
                request: RequestId(5),
                selection: Selection::Clipboard,
                clip_type: ClipType::Text,
                reason: ClipboardFailure::AgentGone
            },
            AgentEvent::ClipboardRelease {
                selection: Selection::Clipboard
            },
            AgentEvent::FileDone {
                id: TransferId(3),
                outcome: TransferOutcome::AgentGone
            },
        ]
    );
    assert!(!p.agent.is_connected() && !p.shared.is_up() && p.shared.info().is_none());
    assert_eq!((p.agent.transfers(), p.agent.pending_clipboard_requests()), (0, 0));
    // Data after that is counted, not handled.
    p.grab(sel::CLIPBOARD, 1, &[clip_type::UTF8_TEXT]);
    assert!(p.take().1.is_empty());
    assert!(p.agent.stats().data_without_agent > 0);
    // A new agent starts from scratch: serials from zero again.
    p.strict.reset();
    p.connect(100);
    p.announce(linux_caps(), true);
    p.take();
    p.grab(sel::CLIPBOARD, 0, &[clip_type::UTF8_TEXT]);
    assert_eq!(p.take().1.len(), 1);
}

#[test]
fn lying_chunks_and_garbage_never_panic_and_stay_bounded() {
    let mut p = Peer::ready(AgentOptions::default(), linux_caps());
    p.cmd(AgentCommand::ClipboardRequest {
        id: RequestId(1),
        selection: Selection::Clipboard,
        clip_type: ClipType::Text,
    });
    p.take();
    // A header that promises 100 bytes, followed by another header: the stream
    // desyncs, a bad protocol number turns up, the pending request fails.
    let mut lying = Vec::new();
    for size in [100u32, 4] {
        lying.extend_from_slice(&1u32.to_le_bytes());
        lying.extend_from_slice(&msg_type::CLIPBOARD_GRAB.to_le_bytes());
        lying.extend_from_slice(&0u64.to_le_bytes());
        lying.extend_from_slice(&size.to_le_bytes());
    }
    lying.extend_from_slice(&[0xff; 200]);
    p.feed(&lying);
    let (_, events) = p.take();
    assert!(events.contains(&AgentEvent::ClipboardFailed {
        request: RequestId(1),
        selection: Selection::Clipboard,
        clip_type: ClipType::Text,
        reason: ClipboardFailure::Protocol
    }));
    assert!(p.agent.stats().framing_errors >= 1);
    // A header declaring 4 GiB - 1 of an unknown type: skipped, nothing held.
    let mut huge = Vec::new();
    huge.extend_from_slice(&1u32.to_le_bytes());
    huge.extend_from_slice(&999u32.to_le_bytes());
    huge.extend_from_slice(&0u64.to_le_bytes());
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    p.feed(&huge);
    for _ in 0..100 {
        p.feed(&[0u8; MAX_AGENT_DATA]);
        assert_eq!(p.agent.held_bytes(), 0);
    }
    // Undecodable bodies are counted.
    let mut bad = Vec::new();
    bad.extend_from_slice(&1u32.to_le_bytes());
    bad.extend_from_slice(&msg_type::CLIPBOARD_REQUEST.to_le_bytes());
    bad.extend_from_slice(&0u64.to_le_bytes());
    bad.extend_from_slice(&3u32.to_le_bytes());
    bad.extend_from_slice(&[1, 2, 3]);
    let mut q = Peer::ready(AgentOptions::default(), linux_caps());
    q.feed(&bad);
    assert_eq!(q.agent.stats().undecodable, 1);
    // Messages before the agent's capabilities are dropped.
    let mut r = Peer::new(AgentOptions::default());
    r.connect(10);
    r.caps = linux_caps();
    r.grab(sel::CLIPBOARD, 0, &[clip_type::UTF8_TEXT]);
    assert!(r.take().1.is_empty());
    assert_eq!(r.agent.stats().unexpected, 1);
}
