//! The driver from byte vectors: base messages, ACK window, serials,
//! sub-message lists and waits.

use super::*;
use crate::channel::skip::SkipMachine;
use crate::channel::{Output, Wait};
use crate::client::events::SessionEvent;
use crate::proto::ChannelType;
use crate::proto::base::{ClientBase, ServerBase, WaitForChannel};
use crate::proto::caps::Caps;
use crate::proto::cursor::WriteCursor;
use crate::proto::frame::build_sub_list;
use std::time::Instant;

fn ctx() -> Ctx {
    Ctx::new(Instant::now(), 0)
}

fn key() -> ChannelKey {
    ChannelKey::new(ChannelType::DISPLAY, 0)
}

fn linked(header: HeaderKind) -> Linked {
    Linked {
        server_caps: Caps::new(&[], &[]),
        client_caps: Caps::new(&[], &[]),
        header,
    }
}

fn driver(header: HeaderKind, machine: Box<dyn Machine>) -> Driver {
    let mut d = Driver::new(key(), machine);
    let mut out = Outputs::new();
    d.linked(&linked(header), &ctx(), &mut out).unwrap();
    assert!(out.is_empty());
    d
}

fn body(m: &ServerBase) -> Vec<u8> {
    let mut w = WriteCursor::new();
    m.encode_body(&mut w);
    w.into_inner()
}

fn header(serial: u64, msg_type: u16, body: &[u8], sub_list: u32) -> DataHeader {
    DataHeader {
        serial,
        msg_type,
        size: u32::try_from(body.len()).unwrap(),
        sub_list,
    }
}

/// Feeds one base message (mini header) and returns the step and outputs.
fn feed(d: &mut Driver, m: &ServerBase) -> (Step, Outputs) {
    let b = body(m);
    let mut out = Outputs::new();
    let step = d
        .receive(&header(0, m.msg_type(), &b, 0), &b, &ctx(), &mut out, None)
        .unwrap();
    (step, out)
}

fn sent(out: &mut Outputs) -> Vec<ClientBase> {
    out.drain()
        .filter_map(|o| match o {
            Output::Send { msg_type, body } => ClientBase::decode(msg_type, &body).unwrap(),
            _ => None,
        })
        .collect()
}

#[test]
fn set_ack_is_answered_and_the_window_counted() {
    let mut d = driver(HeaderKind::Mini, Box::new(SkipMachine));
    let (step, mut out) = feed(
        &mut d,
        &ServerBase::SetAck {
            generation: 7,
            window: 3,
        },
    );
    assert_eq!(step, Step::Done);
    // The SET_ACK itself is the first message of the window.
    assert_eq!(sent(&mut out), vec![ClientBase::AckSync { generation: 7 }]);
    let mut acks = 0;
    for _ in 0..9 {
        let b = [1u8, 2, 3];
        let mut out = Outputs::new();
        d.receive(&header(0, 150, &b, 0), &b, &ctx(), &mut out, None).unwrap();
        acks += sent(&mut out).iter().filter(|m| **m == ClientBase::Ack).count();
    }
    // 1 + 9 = 10 messages, a window of 3: ACKs after messages 3, 6 and 9.
    assert_eq!(acks, 3);
    // Unknown channel messages of a skip machine are counted as skipped.
    assert_eq!(
        d.counters(),
        Counters {
            messages: 10,
            skipped: 9
        }
    );
    assert_eq!(d.processed(), 10, "mini header: serials are counted");
}

#[test]
fn ping_pong_notify_and_disconnecting() {
    let mut d = driver(HeaderKind::Mini, Box::new(SkipMachine));
    let (_, mut out) = feed(
        &mut d,
        &ServerBase::Ping {
            id: 5,
            timestamp: 0x1122_3344_5566,
            data: vec![0; 100],
        },
    );
    assert_eq!(
        sent(&mut out),
        vec![ClientBase::Pong {
            id: 5,
            timestamp: 0x1122_3344_5566
        }]
    );
    let (_, out) = feed(
        &mut d,
        &ServerBase::Notify {
            time_stamp: 1,
            severity: 2,
            visibility: 0,
            what: 0,
            message: b"hello".to_vec(),
        },
    );
    assert!(matches!(
        out.items(),
        [Output::Event(SessionEvent::Notify { severity: 2, message })] if message == "hello"
    ));
    assert!(!out.stopped());
    let (step, out) = feed(
        &mut d,
        &ServerBase::Disconnecting {
            time_stamp: 0,
            reason: 3,
        },
    );
    assert_eq!(step, Step::Done);
    assert!(out.stopped());
}

#[test]
fn wait_for_channels_holds_the_serial_until_resumed() {
    let mut d = driver(HeaderKind::Full, Box::new(SkipMachine));
    let list = vec![WaitForChannel {
        channel_type: 2,
        channel_id: 1,
        message_serial: 40,
    }];
    let m = ServerBase::WaitForChannels(list.clone());
    let b = body(&m);
    let mut out = Outputs::new();
    let step = d
        .receive(&header(17, m.msg_type(), &b, 0), &b, &ctx(), &mut out, None)
        .unwrap();
    assert_eq!(step, Step::Wait(Wait::Serials(list)));
    assert!(d.is_waiting());
    // Not processed while it waits: a channel waiting on this one must not pass.
    assert_eq!(d.processed(), 0);
    assert_eq!(d.resume(WaitEnd::TimedOut, &ctx(), &mut out, None).unwrap(), Step::Done);
    assert_eq!(d.processed(), 17, "full header: the explicit serial");
    assert!(!d.is_waiting());
    assert_eq!(
        d.resume(WaitEnd::Ready, &ctx(), &mut out, None),
        Err(ChannelError::NothingToResume)
    );
}

/// Records what a machine was given.
#[derive(Default)]
struct Recording {
    seen: std::sync::Arc<std::sync::Mutex<Vec<u16>>>,
    wait_on: Option<u16>,
    resumed: std::sync::Arc<std::sync::Mutex<u32>>,
}

impl Machine for Recording {
    fn message(
        &mut self,
        msg_type: u16,
        _body: &[u8],
        _ctx: &Ctx,
        _out: &mut Outputs,
    ) -> Result<Handled, ChannelError> {
        self.seen.lock().unwrap().push(msg_type);
        if self.wait_on == Some(msg_type) {
            return Ok(Handled::Wait(Wait::GlzImage { id: 1 }));
        }
        Ok(Handled::Done)
    }

    fn resume(&mut self, _end: WaitEnd, _ctx: &Ctx, _out: &mut Outputs) -> Result<Handled, ChannelError> {
        *self.resumed.lock().unwrap() += 1;
        Ok(Handled::Done)
    }
}

#[test]
fn sub_messages_come_first_and_a_wait_inside_a_list_resumes_the_rest() {
    let rec = Recording {
        wait_on: Some(201),
        ..Recording::default()
    };
    let (seen, resumed) = (rec.seen.clone(), rec.resumed.clone());
    let mut d = driver(HeaderKind::Full, Box::new(rec));
    let ping = body(&ServerBase::Ping {
        id: 1,
        timestamp: 2,
        data: vec![],
    });
    let (b, off) = build_sub_list(&[9, 9], &[(200, &[1][..]), (4, &ping), (201, &[]), (202, &[5, 5])]);
    let mut out = Outputs::new();
    let step = d.receive(&header(3, 300, &b, off), &b, &ctx(), &mut out, None).unwrap();
    assert_eq!(step, Step::Wait(Wait::GlzImage { id: 1 }));
    assert_eq!(*seen.lock().unwrap(), vec![200, 201]);
    assert_eq!(sent(&mut out), vec![ClientBase::Pong { id: 1, timestamp: 2 }]);
    assert_eq!(d.processed(), 0);
    assert_eq!(d.resume(WaitEnd::Ready, &ctx(), &mut out, None).unwrap(), Step::Done);
    assert_eq!(*resumed.lock().unwrap(), 1);
    // The rest of the list, then the message itself.
    assert_eq!(*seen.lock().unwrap(), vec![200, 201, 202, 300]);
    assert_eq!(d.processed(), 3);
    assert_eq!(d.counters().messages, 5);
    // A LIST message carries only its sub-messages.
    let (b, off) = build_sub_list(&[], &[(210, &[][..])]);
    d.receive(
        &header(4, crate::proto::consts::msg::LIST, &b, off),
        &b,
        &ctx(),
        &mut out,
        None,
    )
    .unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&210));
    assert_eq!(d.processed(), 4);
}

#[test]
fn a_hostile_sub_list_is_a_protocol_error() {
    let mut d = driver(HeaderKind::Full, Box::new(SkipMachine));
    let b = [1u8, 0, 0, 0];
    let mut out = Outputs::new();
    // Offset past the body.
    assert!(d.receive(&header(1, 150, &b, 100), &b, &ctx(), &mut out, None).is_err());
    // A PING too short for its id and timestamp.
    assert!(
        d.receive(
            &header(3, crate::proto::consts::msg::PING, &b, 0),
            &b,
            &ctx(),
            &mut out,
            None
        )
        .is_err()
    );
    // A base message that does not decode.
    assert!(
        d.receive(
            &header(2, crate::proto::consts::msg::SET_ACK, &b, 0),
            &b,
            &ctx(),
            &mut out,
            None
        )
        .is_err()
    );
}

struct Taps(std::sync::Mutex<Vec<(ChannelKey, u16, usize)>>);

impl Tap for Taps {
    fn message(&self, channel: ChannelKey, msg_type: u16, body: &[u8]) {
        self.0.lock().unwrap().push((channel, msg_type, body.len()));
    }
}

#[test]
fn the_tap_sees_every_dispatched_message() {
    let mut d = driver(HeaderKind::Full, Box::new(SkipMachine));
    let taps = Taps(std::sync::Mutex::new(Vec::new()));
    let (b, off) = build_sub_list(&[7], &[(200, &[1, 2][..])]);
    let mut out = Outputs::new();
    d.receive(&header(1, 300, &b, off), &b, &ctx(), &mut out, Some(&taps))
        .unwrap();
    assert_eq!(*taps.0.lock().unwrap(), vec![(key(), 200, 2), (key(), 300, b.len())]);
}

/// Seamless migration: MIGRATE asks for a flush mark and the data; the
/// channel switches when MIGRATE_DATA comes, and the source's ACK window is
/// not counted any more (the next ACK would go to the destination).
#[test]
fn seamless_migrate_flushes_then_switches_with_the_data() {
    use crate::channel::migration::{Migration, NEED_DATA_TRANSFER, NEED_FLUSH};
    let mut d = driver(HeaderKind::Mini, Box::new(SkipMachine));
    let (_, out) = feed(
        &mut d,
        &ServerBase::SetAck {
            generation: 1,
            window: 2,
        },
    );
    assert_eq!(out.len(), 1);
    let (_, out) = feed(
        &mut d,
        &ServerBase::Migrate {
            flags: NEED_FLUSH | NEED_DATA_TRANSFER,
        },
    );
    // FLUSH_MARK, and the ACK of the window (2 messages).
    let sent: Vec<u16> = out
        .items()
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg_type, .. } => Some(*msg_type),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [ClientBase::MigrateFlushMark.msg_type(), ClientBase::Ack.msg_type()]
    );
    let serial_before = d.processed();
    let (_, out) = feed(&mut d, &ServerBase::MigrateData(b"blob".to_vec()));
    assert!(matches!(
        out.items(),
        [Output::Migration(Migration::SwitchChannel { data: Some(d) })] if d == b"blob"
    ));
    assert_eq!(out.stream_switch(), Some(false));
    // Seamless: the serials go on.
    assert_eq!(d.processed(), serial_before + 1);
    // The window starts over on the destination: no ACK until a new SET_ACK.
    for _ in 0..3 {
        let (_, out) = feed(
            &mut d,
            &ServerBase::Ping {
                id: 1,
                timestamp: 2,
                data: vec![],
            },
        );
        assert!(
            out.items()
                .iter()
                .all(|o| !matches!(o, Output::Send { msg_type, .. } if *msg_type == ClientBase::Ack.msg_type()))
        );
    }
}

#[test]
fn migrate_without_data_switches_at_once_and_data_must_come_next() {
    use crate::channel::migration::{Migration, NEED_DATA_TRANSFER};
    let mut d = driver(HeaderKind::Mini, Box::new(SkipMachine));
    let (_, out) = feed(&mut d, &ServerBase::Migrate { flags: 0 });
    assert!(matches!(
        out.items(),
        [Output::Migration(Migration::SwitchChannel { data: None })]
    ));
    // MIGRATE_DATA due, another message first: the channel stays (as spice-gtk).
    feed(
        &mut d,
        &ServerBase::Migrate {
            flags: NEED_DATA_TRANSFER,
        },
    );
    let (_, out) = feed(
        &mut d,
        &ServerBase::Ping {
            id: 1,
            timestamp: 2,
            data: vec![],
        },
    );
    assert!(out.items().iter().all(|o| !matches!(o, Output::Migration(_))));
    let (_, out) = feed(&mut d, &ServerBase::MigrateData(vec![1]));
    assert!(out.items().iter().all(|o| !matches!(o, Output::Migration(_))));
}

#[test]
fn relinked_fresh_restarts_the_serials() {
    let mut d = driver(HeaderKind::Mini, Box::new(SkipMachine));
    feed(
        &mut d,
        &ServerBase::Ping {
            id: 1,
            timestamp: 2,
            data: vec![],
        },
    );
    feed(
        &mut d,
        &ServerBase::Ping {
            id: 1,
            timestamp: 2,
            data: vec![],
        },
    );
    assert_eq!(d.processed(), 2);
    d.relinked(HeaderKind::Mini, false);
    assert_eq!(d.processed(), 2);
    d.relinked(HeaderKind::Full, true);
    assert_eq!(d.processed(), 0);
    // Full header now: the serial is the header's.
    let b = body(&ServerBase::Ping {
        id: 1,
        timestamp: 2,
        data: vec![],
    });
    let mut out = Outputs::new();
    d.receive(&header(7, 4, &b, 0), &b, &ctx(), &mut out, None).unwrap();
    assert_eq!(d.processed(), 7);
}
