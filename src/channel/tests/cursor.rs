//! The cursor machine from byte vectors.

use super::*;
use crate::channel::Output;
use crate::cursor::CursorEvent;
use crate::proto::channel::cursor::msg;

fn ctx() -> Ctx {
    Ctx::new(std::time::Instant::now(), 0)
}

#[test]
fn cursor_messages_become_events_and_bad_ones_are_dropped() {
    let mut m = CursorMachine::new(0);
    let mut out = Outputs::new();
    // CURSOR_MOVE {i16 x, i16 y}
    assert_eq!(
        m.message(msg::MOVE, &[10, 0, 20, 0], &ctx(), &mut out).unwrap(),
        Handled::Done
    );
    assert!(matches!(
        out.items(),
        [Output::Event(SessionEvent::Cursor {
            channel_id: 0,
            event: CursorEvent::Move { .. }
        })]
    ));
    // Truncated: dropped and counted, the channel goes on.
    let mut out = Outputs::new();
    assert_eq!(m.message(msg::MOVE, &[1], &ctx(), &mut out).unwrap(), Handled::Done);
    assert!(out.is_empty());
    assert_eq!(m.dropped_messages(), 1);
    // Unknown: skipped.
    assert_eq!(m.message(199, &[], &ctx(), &mut out).unwrap(), Handled::Skipped);
}
