//! The VMC machine from byte vectors: DATA, COMPRESSED_DATA, PORT_INIT,
//! backpressure, outgoing compression.

use std::sync::{Arc, Mutex};

use super::*;
use crate::channel::Output;
use crate::proto::ChannelType;
use crate::proto::caps::Caps;
use crate::proto::channel::vmc::{msg, port_event};
use crate::proto::frame::HeaderKind;

fn ctx() -> Ctx {
    Ctx::new(std::time::Instant::now(), 0)
}

#[derive(Default)]
struct Sink {
    got: Arc<Mutex<Vec<u8>>>,
    ports: Arc<Mutex<Vec<PortEvent>>>,
    room: Arc<Mutex<usize>>,
    send: Arc<Mutex<Vec<VmcOut>>>,
}

impl VmcEndpoint for Sink {
    fn received(&mut self, data: &[u8], _out: &mut Outputs) -> Accept {
        let mut room = self.room.lock().unwrap();
        if data.len() > *room {
            return Accept::Full;
        }
        *room -= data.len();
        self.got.lock().unwrap().extend_from_slice(data);
        Accept::Taken
    }
    fn port(&mut self, event: PortEvent, _out: &mut Outputs) {
        self.ports.lock().unwrap().push(event);
    }
    fn outgoing(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Vec<VmcOut> {
        std::mem::take(&mut *self.send.lock().unwrap())
    }
}

fn machine(lz4: bool, transport: bool) -> (VmcMachine, Sink) {
    let sink = Sink {
        room: Arc::new(Mutex::new(usize::MAX)),
        ..Sink::default()
    };
    let clone = Sink {
        got: Arc::clone(&sink.got),
        ports: Arc::clone(&sink.ports),
        room: Arc::clone(&sink.room),
        send: Arc::clone(&sink.send),
    };
    let mut m = VmcMachine::new(ChannelKey::new(ChannelType::USBREDIR, 0), Box::new(clone), transport);
    let caps: &[u32] = if lz4 { &[vmc_caps::DATA_COMPRESS_LZ4] } else { &[] };
    let link = Linked {
        server_caps: Caps::new(&[], caps),
        client_caps: Caps::new(&[], &m.caps()),
        header: HeaderKind::Mini,
    };
    let mut out = Outputs::new();
    m.linked(&link, &ctx(), &mut out).unwrap();
    (m, sink)
}

fn compressed(data: &[u8], claimed: u32) -> Vec<u8> {
    let mut b = vec![compression::LZ4];
    b.extend_from_slice(&claimed.to_le_bytes());
    b.extend_from_slice(&lz4_flex::block::compress(data));
    b
}

#[test]
fn data_and_compressed_data_reach_the_endpoint_in_order() {
    let (mut m, sink) = machine(true, true);
    let mut out = Outputs::new();
    assert_eq!(m.message(msg::DATA, b"abc", &ctx(), &mut out).unwrap(), Handled::Done);
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 7) as u8).collect();
    let body = compressed(&big, big.len() as u32);
    assert_eq!(
        m.message(msg::COMPRESSED_DATA, &body, &ctx(), &mut out).unwrap(),
        Handled::Done
    );
    // COMPRESSED_DATA with type NONE carries raw bytes.
    assert_eq!(
        m.message(msg::COMPRESSED_DATA, &[0, b'z'], &ctx(), &mut out).unwrap(),
        Handled::Done
    );
    let got = sink.got.lock().unwrap().clone();
    assert_eq!(&got[..3], b"abc");
    assert_eq!(&got[3..3 + big.len()], &big[..]);
    assert_eq!(got.last(), Some(&b'z'));
}

#[test]
fn lying_compressed_sizes_close_the_channel_without_a_huge_allocation() {
    let (mut m, _) = machine(true, true);
    let mut out = Outputs::new();
    // Claims 4 GiB.
    assert!(
        m.message(msg::COMPRESSED_DATA, &compressed(b"hello", u32::MAX), &ctx(), &mut out)
            .is_err()
    );
    // Claims more than LZ4 can expand to.
    assert!(
        m.message(msg::COMPRESSED_DATA, &compressed(b"hello", 1 << 20), &ctx(), &mut out)
            .is_err()
    );
    // Claims a different size than the data inflates to.
    assert!(
        m.message(msg::COMPRESSED_DATA, &compressed(&[1; 100], 99), &ctx(), &mut out)
            .is_err()
    );
    // Unknown compression type.
    assert!(
        m.message(msg::COMPRESSED_DATA, &[9, 1, 0, 0, 0, 1], &ctx(), &mut out)
            .is_err()
    );
}

#[test]
fn a_full_endpoint_holds_the_channel_until_it_drained() {
    let (mut m, sink) = machine(false, true);
    *sink.room.lock().unwrap() = 4;
    let mut out = Outputs::new();
    assert_eq!(m.message(msg::DATA, b"1234", &ctx(), &mut out).unwrap(), Handled::Done);
    assert_eq!(
        m.message(msg::DATA, b"5678", &ctx(), &mut out).unwrap(),
        Handled::Wait(Wait::Inbox)
    );
    // Still full when woken: wait again.
    assert_eq!(
        m.resume(WaitEnd::Ready, &ctx(), &mut out).unwrap(),
        Handled::Wait(Wait::Inbox)
    );
    *sink.room.lock().unwrap() = 4;
    assert_eq!(m.resume(WaitEnd::Ready, &ctx(), &mut out).unwrap(), Handled::Done);
    assert_eq!(&*sink.got.lock().unwrap(), b"12345678");
}

#[test]
fn port_messages_and_outgoing_data() {
    let (mut m, sink) = machine(true, true);
    let mut out = Outputs::new();
    m.message(
        msg::PORT_INIT,
        &[4, 0, 0, 0, 9, 0, 0, 0, 1, b'q', b'm', b'p', 0],
        &ctx(),
        &mut out,
    )
    .unwrap();
    m.message(msg::PORT_EVENT, &[port_event::CLOSED], &ctx(), &mut out)
        .unwrap();
    assert_eq!(
        *sink.ports.lock().unwrap(),
        vec![
            PortEvent::Init {
                name: b"qmp".to_vec(),
                opened: true
            },
            PortEvent::Event(port_event::CLOSED)
        ]
    );
    // Small data goes plain, large compressible data LZ4-compressed.
    let big = vec![3u8; 5000];
    sink.send.lock().unwrap().extend([
        VmcOut::Data(b"hi".to_vec()),
        VmcOut::Data(big.clone()),
        VmcOut::PortEvent(port_event::OPENED),
    ]);
    let mut out = Outputs::new();
    m.commands(&ctx(), &mut out).unwrap();
    let sent: Vec<VmcClient> = out
        .items()
        .iter()
        .map(|o| match o {
            Output::Send { msg_type, body } => VmcClient::decode(*msg_type, body).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sent[0], VmcClient::Data(b"hi".to_vec()));
    let VmcClient::CompressedData(c) = &sent[1] else {
        panic!("{:?}", sent[1]);
    };
    assert_eq!(decompress(c).unwrap(), big);
    assert_eq!(
        sent[2],
        VmcClient::PortEvent {
            event: port_event::OPENED
        }
    );
    // Without the server's cap, or over a Unix socket: never compressed.
    for (lz4, transport) in [(false, true), (true, false)] {
        let (mut m, sink) = machine(lz4, transport);
        sink.send.lock().unwrap().push(VmcOut::Data(big.clone()));
        let mut out = Outputs::new();
        m.commands(&ctx(), &mut out).unwrap();
        assert!(matches!(&out.items()[0], Output::Send { msg_type, .. } if *msg_type == msg::DATA));
    }
}
