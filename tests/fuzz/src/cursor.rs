//! `cursor` oracle: arbitrary bytes decoded as a sequence of cursor-channel messages and
//! applied to a `CursorState` with a small cache budget (so eviction is reachable).
//!
//! Input: records of `u16 msg_type` (LE), `u16 len` (LE), then `len` body bytes; at most
//! `MAX_MESSAGES` records. Properties: no panic; each decoded message survives
//! `decode(encode(m)) == m`; every shape handed out holds exactly `width * height * 4` RGBA
//! bytes with its hot spot inside `0..=width`, `0..=height`; the cache stays within its
//! budget. Returns `true` when every record was complete and decoded.

use sumac::cursor::{CacheLimits, CursorEvent, CursorState};
use sumac::proto::Message;
use sumac::proto::channel::cursor::CursorServer;

/// Most records one input may carry.
pub const MAX_MESSAGES: usize = 64;

/// The cache budget of the oracle's state.
pub const LIMITS: CacheLimits = CacheLimits {
    max_entries: 4,
    max_bytes: 64 * 1024,
};

pub fn fuzz(data: &[u8]) -> bool {
    let mut state = CursorState::new(LIMITS);
    let mut rest = data;
    let mut accepted = true;
    for _ in 0..MAX_MESSAGES {
        if rest.is_empty() {
            break;
        }
        let Some((head, tail)) = rest.split_first_chunk::<4>() else {
            accepted = false;
            break;
        };
        let msg_type = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        let Some((body, tail)) = tail.split_at_checked(len) else {
            accepted = false;
            break;
        };
        rest = tail;
        let msg = match CursorServer::decode(msg_type, body) {
            Ok(m) => m,
            Err(_) => {
                accepted = false;
                continue;
            }
        };
        let again = CursorServer::decode(msg.msg_type(), &msg.to_body());
        assert_eq!(again.as_ref(), Ok(&msg), "cursor message round trip");
        if matches!(msg, CursorServer::Unknown { .. }) {
            accepted = false;
        }
        for event in state.handle(&msg) {
            if let CursorEvent::Set { shape, .. } = &event {
                let want = usize::from(shape.width) * usize::from(shape.height) * 4;
                assert_eq!(shape.rgba.len(), want, "decoded RGBA size");
                assert!(
                    shape.hot_x <= shape.width && shape.hot_y <= shape.height,
                    "hot spot inside"
                );
            }
        }
        let cache = state.cache();
        assert!(cache.len() <= LIMITS.max_entries, "cache entries over budget");
        assert!(cache.bytes() <= LIMITS.max_bytes, "cache bytes over budget");
    }
    accepted && rest.is_empty()
}
