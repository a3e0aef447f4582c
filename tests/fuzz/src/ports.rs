//! Oracles of the port-channel targets (issue 17's hostile cases):
//!
//! - `webdav_mux`: byte 0 = the connection cap (1–8), byte 1 = chunk size (0 = whole input), then
//!   the guest's mux stream. Properties: no panic; never more connections open than the cap; the
//!   actions are those of a model connection table (Open only for a new id under the cap, Data and
//!   Close only for an open one, Refuse only when full, as many refusals as `refused()`); no more
//!   data passed on than came in; feeding the stream in chunks gives the same actions as whole.
//!   Accepted when the stream yields an action.
//! - `smartcard_messages`: `u16 type, u16 len, body` messages (as the audio targets), each
//!   through the smartcard channel's `SmartcardServer`/`SmartcardClient` and the VMC channel's
//!   `VmcServer` round trips (PORT_INIT's name offset and size included); every VSCard payload
//!   within `MAX_VSC_DATA`. Accepted when every smartcard message decodes.
//! - `console_text`: byte 0 = chunk size (0 = whole input), then a console port's byte stream
//!   (serial console, HMP). Properties: no panic; text edits carry no control character; the
//!   screen the edits make (a line model with a cursor, as the console window applies them) is
//!   the same whether the stream comes whole or in chunks. Accepted when it yields an edit.

use std::collections::BTreeSet;
use sumac::channel::webdav::{Mux, MuxAction};
use sumac::client::console::{ConsoleEdit, ConsoleFilter};
use sumac::proto::channel::smartcard::{MAX_VSC_DATA, SmartcardClient, SmartcardServer};
use sumac::proto::channel::vmc::{MAX_PORT_NAME, VmcClient, VmcServer};

fn feed_all(max: usize, stream: &[u8], chunk: usize) -> (Vec<MuxAction>, Mux) {
    let mut mux = Mux::new(max);
    let mut out = Vec::new();
    if chunk == 0 {
        mux.feed(stream, &mut out);
    } else {
        for piece in stream.chunks(chunk) {
            mux.feed(piece, &mut out);
            assert!(
                mux.client_count() <= max,
                "{} connections over a cap of {max}",
                mux.client_count()
            );
        }
    }
    (out, mux)
}

pub fn fuzz_webdav_mux(data: &[u8]) -> bool {
    let Some((&[cap, chunk], stream)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let max = usize::from(cap % 8) + 1;
    let (whole, mux) = feed_all(max, stream, 0);
    let (chunked, chunked_mux) = feed_all(max, stream, usize::from(chunk));
    assert_eq!(whole, chunked, "chunks of {chunk} bytes give other actions");
    assert_eq!(mux.refused(), chunked_mux.refused());
    let mut open = BTreeSet::new();
    let (mut refused, mut bytes) = (0u64, 0usize);
    for a in &whole {
        match a {
            MuxAction::Open(c) => {
                assert!(open.len() < max && open.insert(*c), "Open({c}) with {open:?} open");
            }
            MuxAction::Data(c, d) => {
                assert!(open.contains(c) && !d.is_empty(), "Data for {c}, not open or empty");
                bytes += d.len();
            }
            MuxAction::Close(c) => assert!(open.remove(c), "Close({c}) of a connection not open"),
            MuxAction::Refuse(c) => {
                assert!(open.len() == max && !open.contains(c), "Refuse({c}) with {open:?} open");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, mux.refused());
    assert!(bytes <= stream.len());
    assert_eq!(open, mux.open_clients().collect::<BTreeSet<_>>());
    !whole.is_empty()
}

pub fn fuzz_smartcard_messages(data: &[u8]) -> bool {
    let list = super::audio_message_list(data);
    let mut accepted = !list.is_empty();
    for (t, body) in &list {
        accepted &= super::round_trip::<SmartcardServer>(*t, body);
        super::round_trip::<SmartcardClient>(*t, body);
        for m in [
            SmartcardServer::decode_message(*t, body),
            SmartcardClient::decode_message(*t, body),
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                m.len() <= MAX_VSC_DATA as usize,
                "a VSCard payload of {} bytes",
                m.len()
            );
        }
        super::round_trip::<VmcServer>(*t, body);
        super::round_trip::<VmcClient>(*t, body);
        if let Ok(VmcServer::PortInit { name, .. }) = <VmcServer as sumac::proto::Message>::decode(*t, body) {
            assert!(name.len() <= MAX_PORT_NAME as usize && !name.contains(&0));
        }
    }
    accepted
}

/// The VSCard payload of a decoded smartcard message, if it is one.
trait VscPayload {
    fn decode_message(t: u16, body: &[u8]) -> Option<Vec<u8>>;
}

impl VscPayload for SmartcardServer {
    fn decode_message(t: u16, body: &[u8]) -> Option<Vec<u8>> {
        match <Self as sumac::proto::Message>::decode(t, body) {
            Ok(Self::Data(m)) => Some(m.data),
            _ => None,
        }
    }
}

impl VscPayload for SmartcardClient {
    fn decode_message(t: u16, body: &[u8]) -> Option<Vec<u8>> {
        match <Self as sumac::proto::Message>::decode(t, body) {
            Ok(Self::Data(m)) => Some(m.data),
            _ => None,
        }
    }
}

/// The console window's text model: lines of characters and a cursor.
fn apply_console(lines: &mut Vec<Vec<char>>, cursor: &mut usize, edits: &[ConsoleEdit]) {
    for e in edits {
        let line = lines.last_mut().expect("one line at least");
        match e {
            ConsoleEdit::Text(t) => {
                for c in t.chars() {
                    assert!(!c.is_control(), "control character {c:?} in text {t:?}");
                    if *cursor < line.len() {
                        line[*cursor] = c;
                    } else {
                        line.push(c);
                    }
                    *cursor += 1;
                }
            }
            ConsoleEdit::Newline => {
                lines.push(Vec::new());
                *cursor = 0;
            }
            ConsoleEdit::CarriageReturn => *cursor = 0,
            ConsoleEdit::Left(n) => *cursor = cursor.saturating_sub(usize::from(*n)),
            ConsoleEdit::Right(n) => *cursor = (*cursor + usize::from(*n)).min(line.len()),
            ConsoleEdit::EraseLine { whole } => {
                if *whole {
                    *cursor = 0;
                }
                line.truncate(*cursor);
            }
            ConsoleEdit::Bell => {}
        }
    }
}

pub fn fuzz_console_text(data: &[u8]) -> bool {
    let Some((&chunk, stream)) = data.split_first() else {
        return false;
    };
    let run = |chunk: usize| {
        let mut filter = ConsoleFilter::new();
        let (mut lines, mut cursor) = (vec![Vec::new()], 0);
        let mut any = false;
        let pieces: Vec<&[u8]> = if chunk == 0 {
            vec![stream]
        } else {
            stream.chunks(chunk).collect()
        };
        for piece in pieces {
            let edits = filter.feed(piece);
            any |= !edits.is_empty();
            apply_console(&mut lines, &mut cursor, &edits);
        }
        (lines, cursor, any)
    };
    let (whole, cursor, any) = run(0);
    let (chunked, chunked_cursor, _) = run(usize::from(chunk));
    assert_eq!(whole, chunked, "chunks of {chunk} bytes give another screen");
    assert_eq!(cursor, chunked_cursor);
    any
}
