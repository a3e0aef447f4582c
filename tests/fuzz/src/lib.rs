//! Oracles of Sumac's protocol-layer fuzz targets (hostile-inputs rows 3, 4, 8, 10, 12, 13, 14).
//!
//! This file is compiled twice:
//! - as the `sumac-fuzz` library, called by the three-line wrappers in `fuzz_targets/`;
//! - included with `#[path]` by `tests/e2e/fuzz_regression.rs`, which replays every file of
//!   `tests/fuzz/regression/<target>/` under `cargo test`.
//!
//! So it imports nothing but `sumac` and `std` (no libfuzzer).
//!
//! Each oracle panics when a property is violated (that is a fuzz "crash"). Otherwise it
//! returns `true` when the whole input was accepted, and `false` when the decoder rejected it
//! with an error, which is the expected outcome for hostile input.

#![forbid(unsafe_code)]

use std::fmt::Debug;

use sumac::proto::channel::display::{DisplayClient, DisplayServer};
use sumac::proto::channel::main::{MainClient, MainServer};
use sumac::proto::frame::{DataHeader, HeaderKind, SubMessage, build_sub_list, sub_messages};
use sumac::proto::link::{LinkHeader, LinkMess, LinkReply};
use sumac::proto::{Message, ReadCursor, WriteCursor};

#[path = "seeds.rs"]
pub mod seeds;

/// An oracle: panics on a violated property, returns whether the input was accepted.
pub type Oracle = fn(&[u8]) -> bool;

/// Every fuzz target, by the name of its `fuzz_targets/<name>.rs` and of its corpus directory.
pub const TARGETS: &[(&str, Oracle)] = &[
    ("link_reply", fuzz_link_reply),
    ("link_mess", fuzz_link_mess),
    ("framing", fuzz_framing),
    ("main_messages", fuzz_main_messages),
    ("display_messages", fuzz_display_messages),
];

/// Smallest link reply body the client accepts: the error word alone (an error reply may stop there).
pub const LINK_REPLY_MIN_BODY: u32 = 4;

/// Message cap used by the `framing` target: small, so that `TooLarge` is reachable by the fuzzer.
pub const FRAMING_MAX_MESSAGE: u32 = 2048;

/// Most messages the `framing` target reads from one input.
pub const FRAMING_MAX_MESSAGES: usize = 64;

/// First byte of a `framing` input: bit 0 clear = mini header, set = full header.
pub fn framing_kind(selector: u8) -> HeaderKind {
    if selector & 1 == 0 {
        HeaderKind::Mini
    } else {
        HeaderKind::Full
    }
}

/// Reads a link header (checking it as `LinkHeader::decode` does) and exactly `size` body bytes.
fn link_body(data: &[u8], min_body: u32) -> Option<(LinkHeader, &[u8])> {
    let mut r = ReadCursor::new(data);
    let header = LinkHeader::decode(&mut r, min_body).ok()?;
    let body = r.remaining().get(..usize::try_from(header.size).ok()?)?;
    Some((header, body))
}

/// Re-decodes what an encoder produced and checks the header describes the body exactly.
fn check_link_reencoding<'a>(what: &str, bytes: &'a [u8], min_body: u32) -> &'a [u8] {
    let mut r = ReadCursor::new(bytes);
    let header = LinkHeader::decode(&mut r, min_body);
    let body_len = bytes.len().saturating_sub(LinkHeader::SIZE);
    assert_eq!(
        header.map(|h| h.size as usize),
        Ok(body_len),
        "{what}: re-encoded header does not describe its body"
    );
    r.remaining()
}

/// `link_reply`: `LinkHeader::decode` + `LinkReply::decode_body`; a decoded reply must
/// re-encode (`encode_with_header`) to bytes that decode to an equal reply.
pub fn fuzz_link_reply(data: &[u8]) -> bool {
    let Some((_, body)) = link_body(data, LINK_REPLY_MIN_BODY) else {
        return false;
    };
    let Ok(reply) = LinkReply::decode_body(body) else {
        return false;
    };
    let bytes = reply.encode_with_header();
    let body2 = check_link_reencoding("link reply", &bytes, LINK_REPLY_MIN_BODY);
    assert_eq!(LinkReply::decode_body(body2), Ok(reply), "link reply round trip");
    true
}

/// `link_mess`: the same for `SpiceLinkMess`, the test server's parser of what clients send.
pub fn fuzz_link_mess(data: &[u8]) -> bool {
    let Some((_, body)) = link_body(data, LinkMess::CAPS_OFFSET) else {
        return false;
    };
    let Ok(mess) = LinkMess::decode_body(body) else {
        return false;
    };
    let bytes = mess.encode_with_header();
    let body2 = check_link_reencoding("link mess", &bytes, LinkMess::CAPS_OFFSET);
    assert_eq!(LinkMess::decode_body(body2), Ok(mess), "link mess round trip");
    true
}

/// Round-trip oracle of hostile-inputs row 14: `decode(encode(decode(x))) == decode(x)`,
/// and the decoded value keeps the message number it was decoded from.
pub fn round_trip<M: Message + PartialEq + Debug>(msg_type: u16, body: &[u8]) -> bool {
    let Ok(m) = M::decode(msg_type, body) else {
        return false;
    };
    assert_eq!(m.msg_type(), msg_type, "decoded {m:?} reports another message type");
    let body2 = m.to_body();
    assert_eq!(
        M::decode(msg_type, &body2),
        Ok(m),
        "round trip of type {msg_type} through {body2:02x?}"
    );
    true
}

/// `framing`: byte 0 selects the header kind; then a stream of messages, each a data header
/// (capped at [`FRAMING_MAX_MESSAGE`]) and its body. A full header with `sub_list != 0` is
/// split with `sub_messages`; every message and sub-message goes through `MainServer`'s
/// round-trip oracle. Accepted when the input is whole messages that all decode.
pub fn fuzz_framing(data: &[u8]) -> bool {
    let Some((&selector, stream)) = data.split_first() else {
        return false;
    };
    let kind = framing_kind(selector);
    let mut r = ReadCursor::new(stream);
    let mut accepted = !r.is_empty();
    for _ in 0..FRAMING_MAX_MESSAGES {
        if r.is_empty() {
            return accepted;
        }
        let Ok(header) = DataHeader::decode(kind, &mut r, FRAMING_MAX_MESSAGE) else {
            return false;
        };
        check_header_round_trip(kind, &header);
        let Ok(body) = r.read_slice("body", header.size as usize) else {
            return false;
        };
        if header.sub_list != 0 {
            match sub_messages(body, header.sub_list) {
                Ok(subs) => {
                    check_sub_list_round_trip(&subs);
                    for sub in &subs {
                        accepted &= round_trip::<MainServer>(sub.msg_type, sub.body);
                    }
                }
                Err(_) => accepted = false,
            }
        }
        accepted &= round_trip::<MainServer>(header.msg_type, body);
    }
    accepted && r.is_empty()
}

fn check_header_round_trip(kind: HeaderKind, header: &DataHeader) {
    let mut w = WriteCursor::new();
    header.encode(kind, &mut w);
    assert_eq!(w.len(), kind.header_len(), "encoded {kind:?} header length");
    let again = DataHeader::decode(kind, &mut ReadCursor::new(w.as_slice()), FRAMING_MAX_MESSAGE);
    assert_eq!(again, Ok(*header), "{kind:?} header round trip");
}

/// A list rebuilt from the split sub-messages must split into the same sub-messages.
fn check_sub_list_round_trip(subs: &[SubMessage<'_>]) {
    let pairs: Vec<(u16, &[u8])> = subs.iter().map(|s| (s.msg_type, s.body)).collect();
    let (body, offset) = build_sub_list(&[], &pairs);
    assert_eq!(
        sub_messages(&body, offset).as_deref(),
        Ok(subs),
        "sub-message list round trip"
    );
}

/// `main_messages`: bytes 0..2 are the message number (little endian), the rest the body;
/// decoded as server-to-client and as client-to-server main-channel messages, both with the
/// round-trip oracle. The verdict is the server-to-client one (the untrusted direction).
pub fn fuzz_main_messages(data: &[u8]) -> bool {
    let Some((ty, body)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let msg_type = u16::from_le_bytes(*ty);
    round_trip::<MainClient>(msg_type, body);
    round_trip::<MainServer>(msg_type, body)
}

/// `display_messages`: the same as [`fuzz_main_messages`] for `DisplayServer`/`DisplayClient`.
pub fn fuzz_display_messages(data: &[u8]) -> bool {
    let Some((ty, body)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let msg_type = u16::from_le_bytes(*ty);
    round_trip::<DisplayClient>(msg_type, body);
    round_trip::<DisplayServer>(msg_type, body)
}
