//! Oracle of the `agent_machine` target: the whole agent machine (`sumac::channel::agent`)
//! driven by random agent traffic, embedder commands, tokens, time and reconnections.
//!
//! Input: byte 0 picks the agent's capabilities ([`agent_caps`]); then operations, each a
//! selector byte (mod 8) and its operands:
//! - 0: one raw AGENT_DATA body of `16 × next byte` bytes;
//! - 1: one agent message with a random type (`next byte` mod 20) and `u16` length, framed
//!   correctly (so the decoders and the state machines behind them are reached);
//! - 2: one embedder command ([`command`]);
//! - 3: AGENT_TOKEN with `next byte` tokens;
//! - 4: time passes (`next byte` × 100 ms), the machine's timers run;
//! - 5: the agent goes away and comes back (capabilities announced again);
//! - 6: a well-formed agent message built from the operands ([`agent_message`]);
//! - 7: the agent announces its capabilities again (with `request` from the operand).
//!
//! Properties: no panic; every AGENT_DATA the client sends is at most 2048 bytes, passes
//! spice-server's strict framing and decodes under the negotiated capabilities; the memory
//! held by the reassembler stays within the limits; pending requests and transfers stay
//! within their caps; and every clipboard request and every file offered while the agent was
//! ready is answered exactly once (the last operation is the agent leaving, which answers
//! everything still open). Verdict: accepted when no framing, size or decoding error was met.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sumac::channel::agent::{
    Agent, AgentCommand, AgentEvent, AgentOptions, ClipType, DisplayEffects, MonitorSpec, RequestId, Selection,
    TransferId, clipboard::MAX_PENDING_REQUESTS, file_xfer::MAX_TRANSFERS,
};
use sumac::channel::{Output, Outputs};
use sumac::client::SessionEvent;
use sumac::proto::Message;
use sumac::proto::channel::main::{MainClient, msgc};
use sumac::proto::vdagent::caps::{self as cap, AgentCaps, client_caps};
use sumac::proto::vdagent::{
    AgentLimits, AgentMessage, Clipboard, ClipboardGrab, FileXferStatus, HEADER_SIZE, Reassembler, XferResult,
    chunk_bodies,
};

use super::seeds::Seed;

/// The client's clipboard limit in this target: small, so that refusals are reachable.
pub const MAX_CLIPBOARD: i32 = 4096;

/// The agent's capabilities for selector `b`.
pub fn agent_caps(b: u8) -> AgentCaps {
    let mut c = AgentCaps::from_bits(&[
        cap::CLIPBOARD_BY_DEMAND,
        cap::MONITORS_CONFIG,
        cap::REPLY,
        cap::SPARSE_MONITORS_CONFIG,
        cap::AUDIO_VOLUME_SYNC,
    ]);
    for (bit, capability) in [
        (1, cap::CLIPBOARD_SELECTION),
        (2, cap::CLIPBOARD_GRAB_SERIAL),
        (4, cap::CLIPBOARD_NO_RELEASE_ON_REGRAB),
        (8, cap::GUEST_LINEEND_CRLF),
        (16, cap::FILE_XFER_DETAILED_ERRORS),
        (32, cap::MAX_CLIPBOARD),
        (64, cap::FILE_XFER_DISABLED),
        (128, cap::DISPLAY_CONFIG),
    ] {
        if b & bit != 0 {
            c.set(capability);
        }
    }
    c
}

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let start = self.pos.min(self.data.len());
        let end = self.pos.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// The test's view of the machine and of what it promised.
struct Harness {
    agent: Agent,
    caps: AgentCaps,
    now: Instant,
    /// The client's stream as spice-server reads it.
    strict: Reassembler,
    /// Answers owed: request id → answers seen; transfer id → outcomes seen.
    requests: BTreeMap<u64, u32>,
    files: BTreeMap<u32, u32>,
    next_request: u64,
    next_file: u32,
}

impl Harness {
    fn absorb(&mut self, mut out: Outputs) {
        let negotiated = client_caps().intersect(&self.caps);
        for o in out.drain() {
            match o {
                Output::Send { msg_type, body } if msg_type == msgc::AGENT_START => {
                    assert!(body.len() == 4);
                    self.strict.reset();
                }
                Output::Send { msg_type, body } => {
                    let Ok(MainClient::AgentData(d)) = MainClient::decode(msg_type, &body) else {
                        continue;
                    };
                    assert!(d.len() <= 2048, "AGENT_DATA of {} bytes", d.len());
                    for m in self.strict.feed(&d) {
                        let raw = m.unwrap_or_else(|e| panic!("client framing refused by the server: {e}"));
                        // The announcement does not depend on the layout; the rest uses the
                        // negotiated one (empty before the agent's set, but then only it goes).
                        if let Err(e) = raw.decode(&negotiated) {
                            panic!("the client sent an undecodable message (type {}): {e}", raw.msg_type);
                        }
                    }
                }
                Output::Event(SessionEvent::Agent(e)) => match e {
                    AgentEvent::ClipboardData { request, .. } | AgentEvent::ClipboardFailed { request, .. } => {
                        let n = self
                            .requests
                            .get_mut(&request.0)
                            .expect("an answer to a request never made");
                        *n += 1;
                        assert!(*n == 1, "request {} answered twice", request.0);
                    }
                    AgentEvent::FileDone { id, .. } => {
                        let n = self
                            .files
                            .get_mut(&id.0)
                            .expect("an outcome for a transfer never offered");
                        *n += 1;
                        assert!(*n == 1, "transfer {id} ended twice");
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        let limits = AgentLimits::from_max_clipboard(MAX_CLIPBOARD);
        let bound = (limits.max_data(sumac::proto::vdagent::msg_type::CLIPBOARD)).max(limits.other);
        assert!(
            self.agent.held_bytes() <= bound as usize,
            "reassembler holds {}",
            self.agent.held_bytes()
        );
        assert!(self.agent.pending_clipboard_requests() <= MAX_PENDING_REQUESTS);
        assert!(self.agent.transfers() <= MAX_TRANSFERS);
    }

    fn feed_message(&mut self, m: &AgentMessage) {
        let negotiated = client_caps().intersect(&self.caps);
        if let Ok(bytes) = m.to_bytes(&negotiated) {
            for body in chunk_bodies(&bytes) {
                let mut out = Outputs::new();
                self.agent.data(body, self.now, &mut out);
                self.absorb(out);
            }
        }
    }

    fn announce(&mut self, request: bool) {
        let caps = self.caps.clone();
        self.feed_message(&AgentMessage::AnnounceCapabilities { request, caps });
    }

    fn connect(&mut self) {
        let mut out = Outputs::new();
        self.agent.connected(10, &mut out);
        self.absorb(out);
        self.announce(true);
    }

    fn disconnect(&mut self) {
        let mut out = Outputs::new();
        self.agent.disconnected(0, &mut out);
        self.absorb(out);
    }
}

fn selection(b: u8) -> Selection {
    Selection::ALL[usize::from(b % 3)]
}

fn clip(b: u8) -> ClipType {
    ClipType::ALL[usize::from(b % 6)]
}

/// One embedder command from the input.
fn command(h: &mut Harness, inp: &mut Input<'_>) -> Option<AgentCommand> {
    let kind = inp.u8() % 12;
    let b = inp.u8();
    Some(match kind {
        0 => {
            let mask = inp.u8() | 1;
            AgentCommand::ClipboardGrab {
                selection: selection(b),
                types: ClipType::ALL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, t)| *t)
                    .collect(),
            }
        }
        1 => AgentCommand::ClipboardRelease {
            selection: selection(b),
        },
        2 => {
            h.next_request += 1;
            if h.agent.is_ready() {
                h.requests.insert(h.next_request, 0);
            }
            AgentCommand::ClipboardRequest {
                id: RequestId(h.next_request),
                selection: selection(b),
                clip_type: clip(inp.u8()),
            }
        }
        3 => {
            let clip_type = clip(inp.u8());
            let len = usize::from(inp.u8()) * 32;
            AgentCommand::ClipboardData {
                selection: selection(b),
                clip_type,
                data: inp.bytes(len).to_vec(),
            }
        }
        4 => AgentCommand::ClipboardNoData {
            selection: selection(b),
        },
        5 => AgentCommand::MonitorsConfig(
            (0..b % 4)
                .map(|i| MonitorSpec {
                    enabled: inp.u8() != 0,
                    ..MonitorSpec::new(i32::from(i) * 100, 0, u32::from(inp.u16()), u32::from(inp.u16()))
                })
                .collect(),
        ),
        6 => AgentCommand::VolumeSync(sumac::proto::vdagent::AudioVolumeSync {
            is_playback: b & 1 != 0,
            mute: b & 2 != 0,
            volumes: vec![inp.u16(); usize::from(b % 4)],
        }),
        7 => {
            h.next_file += 1;
            if h.agent.is_ready() {
                h.files.insert(h.next_file, 0);
            }
            AgentCommand::FileStart {
                id: TransferId(h.next_file),
                name: format!("f{b}"),
                size: u64::from(inp.u16()) * 64,
            }
        }
        8 => AgentCommand::FileData {
            id: TransferId(u32::from(b) % (h.next_file + 1)),
            data: vec![b; usize::from(inp.u8()) * 512],
        },
        9 => AgentCommand::FileReadError {
            id: TransferId(u32::from(b) % (h.next_file + 1)),
            error: "fuzz".into(),
        },
        10 => AgentCommand::CancelFile {
            id: TransferId(u32::from(b) % (h.next_file + 1)),
        },
        _ => AgentCommand::DisplayConfig(DisplayEffects {
            disable_wallpaper: b & 1 != 0,
            disable_font_smooth: b & 2 != 0,
            disable_animation: b & 4 != 0,
            color_depth: (b & 8 != 0).then_some(u32::from(b)),
        }),
    })
}

/// A well-formed agent message from the input.
fn agent_message(h: &Harness, inp: &mut Input<'_>) -> AgentMessage {
    let kind = inp.u8() % 6;
    let s = inp.u8() % 4;
    match kind {
        0 => AgentMessage::ClipboardGrab(ClipboardGrab {
            selection: s,
            serial: u32::from(inp.u8() % 4),
            types: (0..inp.u8() % 8).map(|_| u32::from(inp.u8() % 8)).collect(),
        }),
        1 => AgentMessage::ClipboardRequest {
            selection: s,
            clip_type: u32::from(inp.u8() % 8),
        },
        2 => {
            let clip_type = u32::from(inp.u8() % 8);
            let n = inp.u16() % 6000;
            AgentMessage::Clipboard(Clipboard {
                selection: s,
                clip_type,
                data: vec![b'a'; usize::from(n)],
            })
        }
        3 => AgentMessage::ClipboardRelease { selection: s },
        4 => AgentMessage::FileXferStatus(FileXferStatus {
            id: u32::from(inp.u8()) % (h.next_file + 2),
            result: match inp.u8() % 9 {
                0 => XferResult::CanSendData,
                1 => XferResult::Cancelled,
                2 => XferResult::Error(None),
                3 => XferResult::Success,
                4 => XferResult::NotEnoughSpace(Some(7)),
                5 => XferResult::SessionLocked,
                6 => XferResult::AgentNotConnected,
                7 => XferResult::Disabled,
                _ => XferResult::Other(99),
            },
        }),
        _ => AgentMessage::Reply(sumac::proto::vdagent::Reply {
            msg_type: 2,
            error: u32::from(inp.u8() % 3),
        }),
    }
}

/// The `agent_machine` oracle.
pub fn fuzz(data: &[u8]) -> bool {
    let mut inp = Input { data, pos: 0 };
    let caps = agent_caps(inp.u8());
    let options = AgentOptions {
        max_clipboard: MAX_CLIPBOARD,
        ..AgentOptions::default()
    };
    let mut h = Harness {
        agent: Agent::detached(options),
        caps,
        now: Instant::now(),
        strict: Reassembler::strict(AgentLimits::from_max_clipboard(-1)),
        requests: BTreeMap::new(),
        files: BTreeMap::new(),
        next_request: 0,
        next_file: 0,
    };
    h.connect();
    let mut ops = 0;
    while !inp.done() && ops < 256 {
        ops += 1;
        match inp.u8() % 8 {
            0 => {
                let n = usize::from(inp.u8()) * 16;
                let body = inp.bytes(n).to_vec();
                let mut out = Outputs::new();
                h.agent.data(&body, h.now, &mut out);
                h.absorb(out);
            }
            1 => {
                let ty = u32::from(inp.u8() % 20);
                let len = inp.u16() % 8192;
                let payload = inp.bytes(usize::from(len)).to_vec();
                let mut framed = Vec::with_capacity(HEADER_SIZE + payload.len());
                framed.extend_from_slice(&1u32.to_le_bytes());
                framed.extend_from_slice(&ty.to_le_bytes());
                framed.extend_from_slice(&0u64.to_le_bytes());
                framed.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(0).to_le_bytes());
                framed.extend_from_slice(&payload);
                for body in chunk_bodies(&framed) {
                    let mut out = Outputs::new();
                    h.agent.data(body, h.now, &mut out);
                    h.absorb(out);
                }
            }
            2 => {
                if let Some(cmd) = command(&mut h, &mut inp) {
                    let mut out = Outputs::new();
                    h.agent.command(cmd, h.now, &mut out);
                    h.absorb(out);
                }
            }
            3 => {
                let n = u32::from(inp.u8());
                let mut out = Outputs::new();
                h.agent.token(n, h.now, &mut out);
                h.absorb(out);
            }
            4 => {
                h.now += Duration::from_millis(u64::from(inp.u8()) * 100);
                if h.agent.next_wake().is_some_and(|w| w <= h.now) {
                    let mut out = Outputs::new();
                    h.agent.wake(h.now, &mut out);
                    h.absorb(out);
                }
            }
            5 => {
                h.disconnect();
                h.connect();
            }
            6 => {
                let m = agent_message(&h, &mut inp);
                h.feed_message(&m);
            }
            _ => {
                let request = inp.u8() & 1 != 0;
                h.announce(request);
            }
        }
    }
    let stats = h.agent.stats();
    h.disconnect();
    for (id, n) in &h.requests {
        assert!(*n == 1, "request {id} answered {n} times");
    }
    for (id, n) in &h.files {
        assert!(*n == 1, "transfer {id} ended {n} times");
    }
    stats.framing_errors == 0 && stats.oversize_messages == 0 && stats.undecodable == 0
}

fn seed(name: &str, bytes: Vec<u8>) -> Seed {
    Seed {
        target: "agent_machine",
        name: name.into(),
        bytes,
    }
}

/// Seeds: a clipboard round trip each way, a file transfer, a monitors config, a reconnection.
pub fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    // caps: selection + serial + no-release + MAX_CLIPBOARD.
    let caps = 1 | 2 | 4 | 32;
    // The guest grabs CLIPBOARD (serial 0, text), the client asks, the guest answers 100 bytes.
    let guest_copy = vec![caps, 6, 0, 0, 0, 1, 1, 2, 2, 0, 0, 6, 2, 0, 1, 100, 0];
    out.push(seed("seed-guest-copy", guest_copy));
    // The client grabs, the guest asks for text, the client answers.
    let client_copy = vec![caps, 2, 0, 0, 1, 6, 1, 0, 1, 2, 3, 0, 0, 4, b'h', b'i'];
    out.push(seed("seed-client-copy", client_copy));
    // A 1 KiB file, accepted, sent with tokens, confirmed.
    let file = vec![
        caps, 2, 7, 0, 16, 0, 6, 4, 0, 1, 0, 2, 8, 1, 2, 3, 200, 6, 4, 0, 1, 3, 4, 10,
    ];
    out.push(seed("seed-file", file));
    // Monitors config, time passing, a reconnection.
    let misc = vec![caps | 128, 2, 5, 2, 1, 0, 4, 0, 3, 1, 0, 3, 4, 4, 50, 5, 2, 11, 7];
    out.push(seed("seed-monitors-reconnect", misc));
    out
}
