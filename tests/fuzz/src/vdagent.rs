//! Oracles of the guest-agent targets (hostile-inputs row 31), and their seeds.
//!
//! - `vdagent_message`: bytes 0..4 are an agent message type (u32 LE), the rest its data.
//!   Decoded under each of the eight layouts the capability bits select (clipboard
//!   selection prefix, grab serial, file-transfer details). Properties: no panic;
//!   `decode(encode(decode(x))) == decode(x)` with the type kept; the owned decoding
//!   (`RawAgentMessage::into_message`) agrees with the borrowed one; a decoded message,
//!   framed and cut into AGENT_DATA bodies, passes the strict (spice-server) reassembler
//!   and comes back equal. Verdict: accepted when it decodes with every capability on.
//! - `agent_reassembly`: byte 0 (mod 16) = number of cut points, then that many u16 LE cut
//!   positions, then a stream of AGENT_DATA bytes. The stream is fed whole, cut at the
//!   points, and one byte at a time, with small limits ([`LIMITS`]). Properties: the three
//!   give the same messages and errors (chunk invariance) unless a bad protocol number
//!   breaks the framing, and then they agree up to and including that error; memory held
//!   never exceeds the limit; no message exceeds its type's limit; every message, framed
//!   again, passes the strict reassembler unchanged; and its data goes through the
//!   `vdagent_message` oracle. Verdict: accepted when the stream is whole messages with
//!   no framing error.

use sumac::proto::vdagent::caps::{self as cap, AgentCaps};
use sumac::proto::vdagent::clipboard::{clip_type, selection};
use sumac::proto::vdagent::control::{monitors_flag, reply_error};
use sumac::proto::vdagent::{
    AgentLimits, AgentMessage, AudioVolumeSync, Clipboard, ClipboardGrab, DeviceDisplayInfo, DisplayConfig,
    FileXferData, FileXferStart, FileXferStatus, FramingError, MonConfig, MonitorsConfig, MouseState, RawAgentMessage,
    Reassembler, Reply, XferErrorDetail, XferResult, chunk_bodies, msg_type,
};

use super::seeds::Seed;

/// Limits of the `agent_reassembly` oracle: small, so that `TooLarge` is reachable, yet a
/// clipboard message can span several 2048-byte bodies.
pub const LIMITS: AgentLimits = AgentLimits {
    clipboard: 4096,
    other: 1024,
};

/// Most cut points one `agent_reassembly` input may give.
pub const MAX_CUTS: u8 = 15;

/// The capability set of layout `bits` (bit 0 selection, bit 1 grab serial, bit 2 details).
pub fn layout_caps(bits: u8) -> AgentCaps {
    let mut c = AgentCaps::new();
    for (bit, capability) in [
        (1, cap::CLIPBOARD_SELECTION),
        (2, cap::CLIPBOARD_GRAB_SERIAL),
        (4, cap::FILE_XFER_DETAILED_ERRORS),
    ] {
        if bits & bit != 0 {
            c.set(capability);
        }
    }
    c
}

/// Every property of one decoded message under `caps`; returns whether it decoded.
fn check_message(ty: u32, body: &[u8], caps: &AgentCaps) -> bool {
    let decoded = AgentMessage::decode(ty, body, caps);
    let owned = RawAgentMessage {
        msg_type: ty,
        opaque: 0,
        data: body.to_vec(),
    }
    .into_message(caps);
    assert_eq!(owned, decoded, "owned and borrowed decoding differ for type {ty}");
    let Ok(m) = decoded else {
        return false;
    };
    assert_eq!(m.msg_type(), ty, "decoded {m:?} reports another type");
    let body2 = m.encode_body(caps).expect("a decoded message re-encodes");
    assert_eq!(
        AgentMessage::decode(ty, &body2, caps).as_ref(),
        Ok(&m),
        "round trip of type {ty} through {body2:02x?}"
    );
    let framed = m.to_bytes(caps).expect("a decoded message frames");
    let mut strict = Reassembler::strict(AgentLimits {
        clipboard: u32::MAX,
        other: u32::MAX,
    });
    let out: Vec<_> = chunk_bodies(&framed).flat_map(|b| strict.feed(b)).collect();
    assert!(strict.is_idle(), "strict reassembler left partial");
    match out.as_slice() {
        [Ok(raw)] => assert_eq!(raw.decode(caps).as_ref(), Ok(&m), "framed round trip"),
        other => panic!("chunked message came back as {other:?}"),
    }
    true
}

/// `vdagent_message`.
pub fn fuzz_message(data: &[u8]) -> bool {
    let Some((ty, body)) = data.split_first_chunk::<4>() else {
        return false;
    };
    let ty = u32::from_le_bytes(*ty);
    let mut accepted = false;
    for bits in 0..8 {
        let ok = check_message(ty, body, &layout_caps(bits));
        if bits == 7 {
            accepted = ok;
        }
    }
    accepted
}

type Events = Vec<Result<RawAgentMessage, FramingError>>;

/// Feeds `bodies` in order, checking the memory bound after each.
fn feed(r: &mut Reassembler, bodies: &[&[u8]]) -> Events {
    let bound = LIMITS.max_data(msg_type::CLIPBOARD).max(LIMITS.other) as usize;
    let mut out = Vec::new();
    for b in bodies {
        out.extend(r.feed(b));
        assert!(r.held_bytes() <= bound, "held {} > limit {bound}", r.held_bytes());
    }
    out
}

/// The events up to and including the first bad-protocol error (all of them if none).
fn until_bad_protocol(events: &Events) -> (&[Result<RawAgentMessage, FramingError>], bool) {
    match events
        .iter()
        .position(|e| matches!(e, Err(FramingError::BadProtocol { .. })))
    {
        Some(i) => (&events[..=i], true),
        None => (events, false),
    }
}

/// `agent_reassembly`.
pub fn fuzz_reassembly(data: &[u8]) -> bool {
    let Some((&k, rest)) = data.split_first() else {
        return false;
    };
    let k = usize::from(k % (MAX_CUTS + 1));
    let Some((cut_bytes, stream)) = rest.split_at_checked(2 * k) else {
        return false;
    };
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for &c in cuts.iter().chain([stream.len()].iter()) {
        pieces.push(&stream[start..c]);
        start = c;
    }

    let mut whole_r = Reassembler::new(LIMITS);
    let whole = feed(&mut whole_r, &[stream]);
    let cut = feed(&mut Reassembler::new(LIMITS), &pieces);
    let singles: Vec<&[u8]> = stream.chunks(1).collect();
    let bytewise = feed(&mut Reassembler::new(LIMITS), &singles);

    let (prefix, broken) = until_bad_protocol(&whole);
    if broken {
        assert!(cut.starts_with(prefix), "cut stream differs before the bad protocol");
        assert!(
            bytewise.starts_with(prefix),
            "bytewise stream differs before the bad protocol"
        );
    } else {
        assert_eq!(cut, whole, "chunk invariance (cut at {cuts:?})");
        assert_eq!(bytewise, whole, "chunk invariance (one byte per body)");
    }
    // Strict framing on the same pieces: no panic, bounded.
    feed(&mut Reassembler::strict(LIMITS), &pieces);

    for event in &whole {
        let Ok(m) = event else { continue };
        let max = usize::try_from(LIMITS.max_data(m.msg_type)).unwrap_or(usize::MAX);
        assert!(
            m.data.len() <= max,
            "type {} carries {} > {max}",
            m.msg_type,
            m.data.len()
        );
        let framed = m.to_bytes().expect("a reassembled message frames");
        let bodies: Vec<&[u8]> = chunk_bodies(&framed).collect();
        let again = feed(&mut Reassembler::strict(LIMITS), &bodies);
        assert_eq!(again, vec![Ok(m.clone())], "re-chunked message");
        for bits in [0, 7] {
            check_message(m.msg_type, &m.data, &layout_caps(bits));
        }
    }
    !stream.is_empty() && whole.iter().all(Result::is_ok) && whole_r.is_idle()
}

fn typed(m: &AgentMessage, caps: &AgentCaps) -> Vec<u8> {
    let mut out = m.msg_type().to_le_bytes().to_vec();
    out.extend(m.encode_body(caps).expect("seed encodes"));
    out
}

fn sample_messages() -> Vec<(&'static str, AgentMessage)> {
    vec![
        (
            "mouse-state",
            AgentMessage::MouseState(MouseState {
                x: 100,
                y: 200,
                buttons: 2,
                display_id: 0,
            }),
        ),
        (
            "monitors-physical",
            AgentMessage::MonitorsConfig(MonitorsConfig {
                flags: monitors_flag::USE_POS | monitors_flag::PHYSICAL_SIZE,
                monitors: vec![
                    MonConfig {
                        height: 1080,
                        width: 1920,
                        depth: 32,
                        x: 0,
                        y: 0,
                        height_mm: 300,
                        width_mm: 530,
                    },
                    MonConfig::default(),
                ],
            }),
        ),
        (
            "reply",
            AgentMessage::Reply(Reply {
                msg_type: msg_type::MONITORS_CONFIG,
                error: reply_error::SUCCESS,
            }),
        ),
        (
            "clipboard-text",
            AgentMessage::Clipboard(Clipboard {
                selection: selection::PRIMARY,
                clip_type: clip_type::UTF8_TEXT,
                data: b"hello\r\n".to_vec(),
            }),
        ),
        (
            "display-config",
            AgentMessage::DisplayConfig(DisplayConfig { flags: 9, depth: 16 }),
        ),
        (
            "announce-caps",
            AgentMessage::AnnounceCapabilities {
                request: true,
                caps: cap::client_caps(),
            },
        ),
        (
            "grab",
            AgentMessage::ClipboardGrab(ClipboardGrab {
                selection: selection::CLIPBOARD,
                serial: 3,
                types: vec![clip_type::UTF8_TEXT, clip_type::IMAGE_PNG, clip_type::FILE_LIST],
            }),
        ),
        (
            "request",
            AgentMessage::ClipboardRequest {
                selection: selection::CLIPBOARD,
                clip_type: clip_type::IMAGE_PNG,
            },
        ),
        (
            "release",
            AgentMessage::ClipboardRelease {
                selection: selection::SECONDARY,
            },
        ),
        (
            "xfer-start",
            AgentMessage::FileXferStart(FileXferStart {
                id: 1,
                name: " a\tb\\c.txt".to_owned(),
                size: 12345,
            }),
        ),
        (
            "xfer-status-no-space",
            AgentMessage::FileXferStatus(FileXferStatus {
                id: 1,
                result: XferResult::NotEnoughSpace(Some(4096)),
            }),
        ),
        (
            "xfer-status-error",
            AgentMessage::FileXferStatus(FileXferStatus {
                id: 1,
                result: XferResult::Error(Some(XferErrorDetail { error_type: 0, code: 2 })),
            }),
        ),
        (
            "xfer-data",
            AgentMessage::FileXferData(FileXferData {
                id: 1,
                data: b"file content".to_vec(),
            }),
        ),
        ("client-disconnected", AgentMessage::ClientDisconnected),
        ("max-clipboard", AgentMessage::MaxClipboard { max: 100 << 20 }),
        (
            "audio-volume",
            AgentMessage::AudioVolumeSync(AudioVolumeSync {
                is_playback: true,
                mute: false,
                volumes: vec![0x8000, 0x9000],
            }),
        ),
        (
            "graphics-device-info",
            AgentMessage::GraphicsDeviceInfo(vec![DeviceDisplayInfo {
                channel_id: 0,
                monitor_id: 0,
                device_display_id: 1,
                device_address: "pci/0000/02.0".to_owned(),
            }]),
        ),
        (
            "unknown-type",
            AgentMessage::Unknown {
                msg_type: 40,
                data: vec![1, 2],
            },
        ),
    ]
}

fn with_type(ty: u32, body: &[u8]) -> Vec<u8> {
    let mut out = ty.to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A reassembly input: the number of cut points, the cut points, then the stream.
fn reassembly_input(cuts: &[u16], stream: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(cuts.len()).expect("few cuts")];
    for c in cuts {
        out.extend(c.to_le_bytes());
    }
    out.extend_from_slice(stream);
    out
}

fn header(protocol: u32, ty: u32, size: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [protocol, ty, 0, 0, size] {
        out.extend(v.to_le_bytes());
    }
    out
}

/// Seeds of both targets (`seed-*` accepted, `hostile-*` rejected).
pub fn seeds() -> Vec<Seed> {
    let full = layout_caps(7);
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: String, bytes: Vec<u8>| out.push(Seed { target, name, bytes });
    let samples = sample_messages();
    for (name, m) in &samples {
        add("vdagent_message", format!("seed-{name}"), typed(m, &full));
    }
    for (name, ty, body) in [
        ("hostile-short-type", 0, &[1u8, 0][..]),
        ("hostile-mouse-truncated", msg_type::MOUSE_STATE, &[0; 12]),
        (
            "hostile-monitors-huge-count",
            msg_type::MONITORS_CONFIG,
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
        ),
        (
            "hostile-gdi-empty-address",
            msg_type::GRAPHICS_DEVICE_INFO,
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            "hostile-grab-partial-type",
            msg_type::CLIPBOARD_GRAB,
            &[0, 0, 0, 0, 1, 0, 0, 0, 2, 0],
        ),
        (
            "hostile-xfer-data-lying-size",
            msg_type::FILE_XFER_DATA,
            &[1, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        (
            "hostile-audio-too-many-channels",
            msg_type::AUDIO_VOLUME_SYNC,
            &[1, 0, 9, 0, 0],
        ),
    ] {
        let bytes = if name == "hostile-short-type" {
            body.to_vec()
        } else {
            with_type(ty, body)
        };
        add("vdagent_message", name.to_owned(), bytes);
    }

    let mut stream = Vec::new();
    for (_, m) in &samples {
        stream.extend(m.to_bytes(&full).expect("seed frames"));
    }
    add(
        "agent_reassembly",
        "seed-every-message".to_owned(),
        reassembly_input(&[], &stream),
    );
    add(
        "agent_reassembly",
        "seed-every-message-cut".to_owned(),
        reassembly_input(&[7, 21, 100, 101, 300], &stream),
    );
    let big = RawAgentMessage {
        msg_type: msg_type::CLIPBOARD,
        opaque: 9,
        data: (0..=255u8).cycle().take(3000).collect(),
    };
    let mut two = big.to_bytes().unwrap_or_default();
    two.extend(header(1, msg_type::CLIENT_DISCONNECTED, 0));
    add(
        "agent_reassembly",
        "seed-spanning-bodies".to_owned(),
        reassembly_input(&[2048, 4096], &two),
    );

    let mut bad = header(2, msg_type::REPLY, 0);
    bad.extend(header(1, msg_type::CLIENT_DISCONNECTED, 0));
    add(
        "agent_reassembly",
        "hostile-bad-protocol".to_owned(),
        reassembly_input(&[20], &bad),
    );
    let mut oversize = header(1, msg_type::CLIPBOARD, u32::MAX);
    oversize.extend([0xee; 64]);
    add(
        "agent_reassembly",
        "hostile-4gb-clipboard".to_owned(),
        reassembly_input(&[3], &oversize),
    );
    let mut control = header(1, msg_type::MONITORS_CONFIG, 1025);
    control.extend([0; 1025]);
    control.extend(header(1, msg_type::CLIENT_DISCONNECTED, 0));
    add(
        "agent_reassembly",
        "hostile-oversize-then-valid".to_owned(),
        reassembly_input(&[], &control),
    );
    add(
        "agent_reassembly",
        "hostile-truncated".to_owned(),
        reassembly_input(&[], &header(1, 4, 10)),
    );
    out
}
