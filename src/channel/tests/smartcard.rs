//! The smartcard machine against a fake card backend: reader add and its id,
//! ATR after the id, APDU forwarding, one message in flight at a time,
//! hostile answers.

use std::sync::{Arc, Mutex};

use super::*;
use crate::channel::Output;
use crate::proto::caps::Caps;
use crate::proto::channel::smartcard::msg;
use crate::proto::frame::HeaderKind;

#[derive(Default)]
struct Fake {
    readers: Vec<(ReaderHandle, String, bool)>,
    events: Vec<CardEvent>,
    apdus: Vec<(ReaderHandle, Vec<u8>)>,
    attached: Vec<(ReaderHandle, Option<u32>)>,
}

#[derive(Clone, Default)]
struct Backend(Arc<Mutex<Fake>>);

impl CardBackend for Backend {
    fn readers(&mut self) -> Vec<(ReaderHandle, String, bool)> {
        let mut f = self.0.lock().unwrap();
        f.events.clear();
        f.readers.clone()
    }
    fn events(&mut self) -> Vec<CardEvent> {
        std::mem::take(&mut self.0.lock().unwrap().events)
    }
    fn power_on(&mut self, _reader: ReaderHandle) -> Option<Vec<u8>> {
        Some(vec![0x3b, 0x88, 0x80])
    }
    fn transfer(&mut self, reader: ReaderHandle, apdu: &[u8]) -> Result<Vec<u8>, u32> {
        self.0.lock().unwrap().apdus.push((reader, apdu.to_vec()));
        if apdu.is_empty() { Err(1) } else { Ok(vec![0x90, 0x00]) }
    }
    fn attached(&mut self, reader: ReaderHandle, id: Option<u32>) {
        self.0.lock().unwrap().attached.push((reader, id));
    }
}

fn ctx() -> Ctx {
    Ctx::new(std::time::Instant::now(), 0)
}

fn sent(out: &mut Outputs) -> Vec<VscMessage> {
    out.drain()
        .filter_map(|o| match o {
            Output::Send { msg_type, body } => match SmartcardClient::decode(msg_type, &body).unwrap() {
                SmartcardClient::Data(m) => Some(m),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn server(m: VscMessage) -> Vec<u8> {
    SmartcardServer::Data(m).to_body()
}

fn linked(b: &Backend) -> (SmartcardMachine, Outputs) {
    let mut m = SmartcardMachine::new(Box::new(b.clone()));
    let link = Linked {
        server_caps: Caps::new(&[], &[]),
        client_caps: Caps::new(&[], &[]),
        header: HeaderKind::Mini,
    };
    let mut out = Outputs::new();
    m.linked(&link, &ctx(), &mut out).unwrap();
    (m, out)
}

fn ok(id: u32) -> Vec<u8> {
    server(VscMessage::new(vsc::ERROR, id, vec![0, 0, 0, 0]))
}

#[test]
fn reader_id_then_atr_then_apdus() {
    let b = Backend::default();
    b.0.lock().unwrap().readers = vec![(7, "Sumac Software Smartcard".into(), true)];
    let (mut m, mut out) = linked(&b);
    let s = sent(&mut out);
    assert_eq!(
        s,
        vec![VscMessage::new(
            vsc::READER_ADD,
            UNDEFINED_READER,
            b"Sumac Software Smartcard".to_vec()
        )]
    );
    // The ATR waits for the reader's id.
    m.message(msg::DATA, &ok(0), &ctx(), &mut out).unwrap();
    assert!(out.items().iter().any(|o| matches!(
        o,
        Output::Event(SessionEvent::Smartcard(SmartcardEvent::ReaderAttached {
            reader_id: 0,
            ..
        }))
    )));
    let s = sent(&mut out);
    assert_eq!(s, vec![VscMessage::new(vsc::ATR, 0, vec![0x3b, 0x88, 0x80])]);
    assert_eq!(b.0.lock().unwrap().attached, vec![(7, Some(0))]);
    // The ATR's answer, then an APDU answered at once (not serialized).
    m.message(msg::DATA, &ok(0), &ctx(), &mut out).unwrap();
    assert!(sent(&mut out).is_empty());
    m.message(
        msg::DATA,
        &server(VscMessage::new(vsc::APDU, 0, vec![0, 0xa4, 4, 0])),
        &ctx(),
        &mut out,
    )
    .unwrap();
    assert_eq!(sent(&mut out), vec![VscMessage::new(vsc::APDU, 0, vec![0x90, 0])]);
    // A failing transfer is a VSC_Error with the status.
    m.message(
        msg::DATA,
        &server(VscMessage::new(vsc::APDU, 0, vec![])),
        &ctx(),
        &mut out,
    )
    .unwrap();
    assert_eq!(sent(&mut out), vec![VscMessage::new(vsc::ERROR, 0, vec![1, 0, 0, 0])]);
    // Card out, reader out: one at a time.
    b.0.lock().unwrap().events = vec![
        CardEvent::CardRemoved { reader: 7 },
        CardEvent::ReaderRemoved { reader: 7 },
    ];
    m.commands(&ctx(), &mut out).unwrap();
    assert_eq!(sent(&mut out), vec![VscMessage::new(vsc::CARD_REMOVE, 0, vec![])]);
    m.message(msg::DATA, &ok(0), &ctx(), &mut out).unwrap();
    assert_eq!(sent(&mut out), vec![VscMessage::new(vsc::READER_REMOVE, 0, vec![])]);
    // An APDU for the removed reader is dropped.
    m.message(
        msg::DATA,
        &server(VscMessage::new(vsc::APDU, 0, vec![1])),
        &ctx(),
        &mut out,
    )
    .unwrap();
    assert!(sent(&mut out).is_empty());
}

#[test]
fn hostile_answers_are_ignored() {
    let b = Backend::default();
    let (mut m, mut out) = linked(&b);
    // Answers nobody waits for, lying lengths, unknown types, APDUs for unknown readers.
    let bodies = [
        ok(3),
        vec![2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
        vec![7, 0, 0, 0, 5, 0, 0, 0, 100, 0, 0, 0, 1, 2],
        vec![1],
        server(VscMessage::new(99, 0, vec![])),
        server(VscMessage::new(vsc::APDU, 12345, vec![0; 10])),
    ];
    for body in &bodies {
        assert!(m.message(msg::DATA, body, &ctx(), &mut out).is_ok());
    }
    assert!(sent(&mut out).is_empty());
    assert_eq!(m.dropped(), 6);
    assert!(b.0.lock().unwrap().apdus.is_empty());
    // A reader refused by the server, and one whose id is already taken.
    b.0.lock().unwrap().events = vec![
        CardEvent::ReaderAdded {
            reader: 1,
            name: "a".into(),
        },
        CardEvent::ReaderAdded {
            reader: 2,
            name: "b".into(),
        },
        CardEvent::ReaderAdded {
            reader: 3,
            name: "c".into(),
        },
    ];
    m.commands(&ctx(), &mut out).unwrap();
    assert_eq!(sent(&mut out).len(), 1, "one READER_ADD in flight");
    m.message(
        msg::DATA,
        &server(VscMessage::new(vsc::ERROR, 0, vec![2, 0, 0, 0])),
        &ctx(),
        &mut out,
    )
    .unwrap();
    m.message(msg::DATA, &ok(4), &ctx(), &mut out).unwrap();
    m.message(msg::DATA, &ok(4), &ctx(), &mut out).unwrap();
    let attached = b.0.lock().unwrap().attached.clone();
    assert_eq!(attached, vec![(2, Some(4))]);
    // A flood of readers is capped.
    b.0.lock().unwrap().events = (100..1000)
        .map(|r| CardEvent::ReaderAdded {
            reader: r,
            name: format!("r{r}"),
        })
        .collect();
    m.commands(&ctx(), &mut out).unwrap();
    assert!(m.names.len() <= MAX_READERS);
}

#[test]
fn a_card_or_removal_before_the_id_waits_for_it() {
    let b = Backend::default();
    let (mut m, mut out) = linked(&b);
    b.0.lock().unwrap().events = vec![
        CardEvent::ReaderAdded {
            reader: 5,
            name: "r".into(),
        },
        CardEvent::CardInserted { reader: 5 },
        CardEvent::ReaderRemoved { reader: 5 },
    ];
    m.commands(&ctx(), &mut out).unwrap();
    assert_eq!(sent(&mut out).len(), 1);
    m.message(msg::DATA, &ok(9), &ctx(), &mut out).unwrap();
    // Removed before its id came: it is removed at once, no ATR.
    assert_eq!(sent(&mut out), vec![VscMessage::new(vsc::READER_REMOVE, 9, vec![])]);
}
