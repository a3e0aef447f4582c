//! Chunker and reassembler tests.

use super::*;
use crate::proto::vdagent::{AgentCaps, AgentMessage, Clipboard, FileXferData, msg_type};

type Event = Result<RawAgentMessage, FramingError>;

fn raw(msg_type: u32, opaque: u64, data: Vec<u8>) -> RawAgentMessage {
    RawAgentMessage { msg_type, opaque, data }
}

fn framed(m: &RawAgentMessage) -> Vec<u8> {
    m.to_bytes().unwrap()
}

/// A header with any protocol and size, without data.
fn header_bytes(protocol: u32, msg_type: u32, size: u32) -> Vec<u8> {
    let mut w = crate::proto::WriteCursor::new();
    AgentHeader {
        protocol,
        msg_type,
        opaque: 0,
        size,
    }
    .encode(&mut w);
    w.into_inner()
}

fn feed_all(r: &mut Reassembler, bodies: &[&[u8]]) -> Vec<Event> {
    bodies.iter().flat_map(|b| r.feed(b)).collect()
}

/// Several messages of assorted sizes (zero, tiny, across 2048, opaque set).
fn stream() -> (Vec<RawAgentMessage>, Vec<u8>) {
    let msgs = vec![
        raw(msg_type::CLIENT_DISCONNECTED, 0, vec![]),
        raw(msg_type::MAX_CLIPBOARD, 0x0102_0304_0506_0708, vec![0, 0, 0x40, 6]),
        raw(msg_type::CLIPBOARD, 0, (0..251u8).cycle().take(3000).collect()),
        raw(99, 1, vec![]),
        raw(msg_type::REPLY, 0, vec![2, 0, 0, 0, 1, 0, 0, 0]),
    ];
    let bytes = msgs.iter().flat_map(framed).collect();
    (msgs, bytes)
}

fn oks(msgs: &[RawAgentMessage]) -> Vec<Event> {
    msgs.iter().cloned().map(Ok).collect()
}

#[test]
fn chunker_cuts_at_exact_2048_boundaries() {
    for (data_len, want) in [
        (0usize, vec![20usize]),
        (2027, vec![2047]),
        (2028, vec![2048]),
        (2029, vec![2048, 1]),
        (4076, vec![2048, 2048]),
        (4077, vec![2048, 2048, 1]),
    ] {
        let m = raw(msg_type::CLIPBOARD, 0, vec![0xab; data_len]);
        let bytes = framed(&m);
        let lens: Vec<usize> = chunk_bodies(&bytes).map(<[u8]>::len).collect();
        assert_eq!(lens, want, "data {data_len}");
        assert_eq!(body_count(bytes.len()), want.len());
        assert_eq!(chunk_bodies(&bytes).flatten().copied().collect::<Vec<_>>(), bytes);
        // The first body starts with the whole header.
        assert_eq!(
            chunk_bodies(&bytes).next().unwrap()[..HEADER_SIZE],
            bytes[..HEADER_SIZE]
        );
    }
}

#[test]
fn file_data_of_64k_takes_33_bodies_as_spice_gtk_sends() {
    let m = AgentMessage::FileXferData(FileXferData {
        id: 1,
        data: vec![7; crate::proto::vdagent::file_xfer::DATA_CHUNK],
    });
    let bodies = m.to_agent_data(&AgentCaps::new()).unwrap();
    assert_eq!(bodies.len(), 33);
    assert!(bodies[..32].iter().all(|b| b.len() == MAX_DATA_SIZE));
    assert_eq!(bodies[32].len(), HEADER_SIZE + 12 + 65536 - 32 * MAX_DATA_SIZE);
    // Within the default limit for control and file messages.
    let mut r = Reassembler::strict(AgentLimits::default());
    let out: Vec<Event> = bodies.iter().flat_map(|b| r.feed(b)).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].as_ref().unwrap().clone().into_message(&AgentCaps::new()), Ok(m));
}

#[test]
fn every_split_point_gives_the_same_messages() {
    let (msgs, bytes) = stream();
    let want = oks(&msgs);
    for i in 0..=bytes.len() {
        let mut r = Reassembler::new(AgentLimits::default());
        assert_eq!(feed_all(&mut r, &[&bytes[..i], &bytes[i..]]), want, "split at {i}");
        assert!(r.is_idle());
    }
    // One byte per body, and everything in one body.
    let mut r = Reassembler::new(AgentLimits::default());
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(feed_all(&mut r, &singles), want);
    assert_eq!(Reassembler::new(AgentLimits::default()).feed(&bytes), want);
}

#[test]
fn two_messages_in_one_body() {
    let a = raw(msg_type::REPLY, 0, vec![3, 0, 0, 0, 1, 0, 0, 0]);
    let b = raw(msg_type::CLIENT_DISCONNECTED, 0, vec![]);
    let mut body = framed(&a);
    body.extend(framed(&b));
    assert_eq!(Reassembler::new(AgentLimits::default()).feed(&body), oks(&[a, b]));
    // spice-server refuses this shape from a client.
    let mut strict = Reassembler::strict(AgentLimits::default());
    assert_eq!(
        strict.feed(&body),
        vec![Err(FramingError::Overrun { len: 48, remaining: 28 })]
    );
    assert!(strict.is_idle());
}

#[test]
fn message_spanning_many_bodies_grows_only_as_bytes_arrive() {
    let size = 300_000usize;
    let m = raw(msg_type::CLIPBOARD, 0, (0..=255u8).cycle().take(size).collect());
    let bytes = framed(&m);
    let mut r = Reassembler::new(AgentLimits::default());
    let mut out = Vec::new();
    let mut fed = 0usize;
    for body in chunk_bodies(&bytes) {
        out.extend(r.feed(body));
        fed += body.len();
        if out.is_empty() {
            let have = fed - HEADER_SIZE;
            assert!(r.held_bytes() <= size, "held {} > declared", r.held_bytes());
            assert!(
                r.held_bytes() <= (2 * have).max(64 * 1024),
                "held {} for {have} bytes",
                r.held_bytes()
            );
            assert!(!r.is_idle());
        }
    }
    assert_eq!(out, vec![Ok(m)]);
    assert_eq!(r.held_bytes(), 0);
}

#[test]
fn oversize_declaration_is_refused_before_buffering_and_skipped() {
    let limits = AgentLimits {
        clipboard: 16,
        other: 32,
    };
    assert_eq!(limits.max_data(msg_type::CLIPBOARD), 24);
    assert_eq!(limits.max_data(msg_type::REPLY), 32);
    let big = raw(msg_type::CLIPBOARD, 0, vec![1; 100]);
    let next = raw(msg_type::REPLY, 0, vec![5; 8]);
    let mut bytes = framed(&big);
    bytes.extend(framed(&next));
    let want = vec![
        Err(FramingError::TooLarge {
            msg_type: msg_type::CLIPBOARD,
            size: 100,
            max: 24,
        }),
        Ok(next.clone()),
    ];
    for i in 0..=bytes.len() {
        let mut r = Reassembler::new(limits);
        let first = r.feed(&bytes[..i]);
        if i >= HEADER_SIZE {
            // Reported as soon as the header is complete.
            assert_eq!(first.first(), want.first(), "split {i}");
        }
        if i < 2 * HEADER_SIZE + 100 {
            assert_eq!(r.held_bytes(), 0, "split {i}: nothing of the big message is held");
        }
        let mut all = first;
        all.extend(r.feed(&bytes[i..]));
        assert_eq!(all, want, "split {i}");
    }
    // Exactly at the limit is accepted.
    let edge = raw(msg_type::CLIPBOARD, 0, vec![1; 24]);
    assert_eq!(Reassembler::new(limits).feed(&framed(&edge)), vec![Ok(edge)]);
}

#[test]
fn four_gigabyte_claim_holds_nothing() {
    let mut r = Reassembler::new(AgentLimits::default());
    let out = r.feed(&header_bytes(1, msg_type::CLIPBOARD, u32::MAX));
    assert_eq!(
        out,
        vec![Err(FramingError::TooLarge {
            msg_type: msg_type::CLIPBOARD,
            size: u32::MAX,
            max: AgentLimits::DEFAULT_CLIPBOARD + 8
        })]
    );
    for _ in 0..100 {
        assert!(r.feed(&[0xff; MAX_DATA_SIZE]).is_empty());
        assert_eq!(r.held_bytes(), 0);
    }
    assert!(!r.is_idle());
}

#[test]
fn bad_protocol_resets_and_drops_the_rest_of_the_body() {
    let good = raw(msg_type::REPLY, 0, vec![1; 8]);
    let mut body = header_bytes(2, msg_type::REPLY, 8);
    body.extend([0; 8]);
    body.extend(framed(&good)); // same body: dropped with it
    let mut r = Reassembler::new(AgentLimits::default());
    assert_eq!(r.feed(&body), vec![Err(FramingError::BadProtocol { protocol: 2 })]);
    assert!(r.is_idle());
    // The next body starts afresh.
    assert_eq!(r.feed(&framed(&good)), vec![Ok(good.clone())]);
    // A bad header split across bodies is found when it completes.
    let bad = header_bytes(0, 1, 0);
    let mut r = Reassembler::new(AgentLimits::default());
    assert!(r.feed(&bad[..7]).is_empty());
    assert_eq!(r.feed(&bad[7..]), vec![Err(FramingError::BadProtocol { protocol: 0 })]);
}

#[test]
fn lying_sizes() {
    // Declared longer than sent: the message stays partial, nothing comes out.
    let mut r = Reassembler::new(AgentLimits::default());
    let mut body = header_bytes(1, msg_type::REPLY, 12);
    body.extend([0; 8]);
    assert!(r.feed(&body).is_empty());
    assert!(!r.is_idle());
    // ... and the next bytes are taken as its rest, whatever they are.
    let out = r.feed(&[9; 4]);
    assert_eq!(out.len(), 1);
    let msg = out[0].as_ref().unwrap();
    assert_eq!(msg.data.len(), 12);
    assert!(
        msg.decode(&AgentCaps::new()).is_err(),
        "REPLY of 12 bytes must not decode"
    );

    // Declared shorter than sent: the extra bytes are read as the next header.
    let mut r = Reassembler::new(AgentLimits::default());
    let mut body = header_bytes(1, msg_type::REPLY, 4);
    body.extend([7; 8]);
    body.extend([0; 16]);
    let out = r.feed(&body);
    assert_eq!(out[0].as_ref().unwrap().data, vec![7; 4]);
    assert_eq!(out[1], Err(FramingError::BadProtocol { protocol: 0x0707_0707 }));
}

#[test]
fn strict_framing_follows_spice_server() {
    let limits = AgentLimits::default();
    let mut r = Reassembler::strict(limits);
    assert_eq!(
        r.feed(&[0; MAX_DATA_SIZE + 1]),
        vec![Err(FramingError::BodyTooLong { len: 2049 })]
    );
    assert_eq!(r.feed(&[1, 0, 0]), vec![Err(FramingError::SplitHeader { len: 3 })]);
    assert_eq!(r.feed(&[]), vec![Err(FramingError::SplitHeader { len: 0 })]);
    // A body past the end of a message that spans bodies.
    let mut first = header_bytes(1, msg_type::CLIPBOARD, 3000);
    first.extend([0; MAX_DATA_SIZE - HEADER_SIZE]);
    assert!(r.feed(&first).is_empty());
    assert_eq!(
        r.feed(&[0; 1000]),
        vec![Err(FramingError::Overrun {
            len: 1000,
            remaining: 972
        })]
    );
    assert!(r.is_idle(), "a violation resets");
    // Well-framed input passes, zero-length messages included.
    let (msgs, _) = stream();
    for m in &msgs {
        let bytes = framed(m);
        let out: Vec<Event> = chunk_bodies(&bytes).flat_map(|b| r.feed(b)).collect();
        assert_eq!(out, vec![Ok(m.clone())]);
    }
    // A too-large message is still skipped body by body.
    let mut r = Reassembler::strict(AgentLimits { clipboard: 0, other: 0 });
    let bytes = framed(&raw(msg_type::CLIPBOARD, 0, vec![0; 5000]));
    let out: Vec<Event> = chunk_bodies(&bytes).flat_map(|b| r.feed(b)).collect();
    assert_eq!(
        out,
        vec![Err(FramingError::TooLarge {
            msg_type: msg_type::CLIPBOARD,
            size: 5000,
            max: 8
        })]
    );
    assert!(r.is_idle());
}

#[test]
fn limits_from_max_clipboard() {
    assert_eq!(
        AgentLimits::from_max_clipboard(1000).max_data(msg_type::CLIPBOARD),
        1008
    );
    assert_eq!(
        AgentLimits::from_max_clipboard(-1).max_data(msg_type::CLIPBOARD),
        u32::MAX
    );
    assert_eq!(
        AgentLimits::from_max_clipboard(0).max_data(msg_type::REPLY),
        AgentLimits::DEFAULT_OTHER
    );
    assert_eq!(AgentLimits::default().clipboard, 100 << 20);
}

#[test]
fn limits_change_from_the_next_header() {
    let mut r = Reassembler::new(AgentLimits::default());
    let m = raw(msg_type::CLIPBOARD, 0, vec![0; 100]);
    let bytes = framed(&m);
    assert!(r.feed(&bytes[..30]).is_empty());
    r.set_limits(AgentLimits { clipboard: 1, other: 1 });
    assert_eq!(r.limits().clipboard, 1);
    assert_eq!(r.feed(&bytes[30..]), vec![Ok(m)]);
    let again = r.feed(&bytes);
    assert!(matches!(again[0], Err(FramingError::TooLarge { max: 9, .. })));
    r.reset();
    assert!(r.is_idle());
}

#[test]
fn owned_decoding_moves_the_clipboard_payload() {
    let caps = AgentCaps::from_bits(&[crate::proto::vdagent::caps::CLIPBOARD_SELECTION]);
    let m = AgentMessage::Clipboard(Clipboard {
        selection: 1,
        clip_type: 1,
        data: b"text".to_vec(),
    });
    let raw = m.to_raw(&caps).unwrap();
    assert_eq!(raw.into_message(&caps), Ok(m));
}
