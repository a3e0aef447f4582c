//! `usbredir_parser` oracle (hostile-inputs row 35; a port of usbredirparserfuzz with a
//! round-trip check). Input: byte 0 = flags (bit 0: we are the guest, else the host; bit 1:
//! the peer's caps are already known, from byte 2, else they come from a hello in the stream;
//! bits 2–7: chunk size, 0 = whole input), byte 1 = our caps, byte 2 = the peer's caps, then
//! the byte stream from the peer.
//!
//! Properties: no panic; the parser never holds more than one packet's data (the limit is
//! [`MAX_PACKET`] here, so that `TooLong` is reachable); feeding the stream in chunks gives the
//! same packets and errors as feeding it whole; every packet re-encodes (as its sender would)
//! to bytes that decode to the same packet and id. Accepted when the input is whole packets
//! that all decode.

use sumac::usbredir::proto::{Caps, Context, Limits, Packet, Parsed, Parser, ProtoError, Received, Role};

/// The packet length limit of the target.
pub const MAX_PACKET: u32 = 64 * 1024;

/// The parser context an input starts from, and the chunk size.
pub fn setup(data: &[u8]) -> Option<(Context, usize, &[u8])> {
    let (&[flags, ours, peer], stream) = data.split_first_chunk::<3>()?;
    let role = if flags & 1 != 0 { Role::Guest } else { Role::Host };
    let mut ctx = Context::new(role, Caps(u32::from(ours)));
    if flags & 2 != 0 {
        ctx.set_peer(Caps(u32::from(peer)));
    }
    Some((ctx, usize::from(flags >> 2), stream))
}

type Item = Result<Received, ProtoError>;

/// Parses `stream` whole; returns every item with the context its packet started from.
fn parse_whole(ctx: Context, stream: &[u8]) -> (Vec<(Context, Item)>, bool) {
    let mut p = Parser::with_context(ctx, Limits { max_packet: MAX_PACKET });
    let mut items = Vec::new();
    let mut rest = stream;
    loop {
        let before = *p.context();
        let Parsed { consumed, item } = p.parse(rest);
        assert!(
            p.buffered() <= MAX_PACKET as usize,
            "parser holds {} bytes",
            p.buffered()
        );
        rest = rest.get(consumed..).unwrap_or_default();
        match item {
            Some(item) => items.push((before, item)),
            None => {
                assert!(rest.is_empty(), "the parser stopped before the end of its input");
                return (items, p.is_idle());
            }
        }
    }
}

fn check_round_trip(before: &Context, r: &Received) {
    // The sender's view: its own caps are our peer's. A hello's receiver knows no caps yet.
    let sender = before.mirrored();
    let bytes = sender
        .encode(r.id, &r.packet)
        .unwrap_or_else(|e| panic!("a decoded packet does not encode: {e} ({:?})", r.packet));
    let mut p = Parser::with_context(*before, Limits { max_packet: MAX_PACKET });
    let mut again = Vec::new();
    p.parse_all(&bytes, |i| again.push(i));
    assert!(p.is_idle(), "re-encoded packet left a partial packet");
    assert_eq!(again, [Ok(r.clone())], "round trip through {bytes:02x?}");
    if matches!(r.packet, Packet::Hello(_)) {
        assert_eq!(u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]), 68);
    }
}

pub fn fuzz(data: &[u8]) -> bool {
    let Some((ctx, chunk, stream)) = setup(data) else {
        return false;
    };
    let (whole, idle) = parse_whole(ctx, stream);
    if chunk > 0 {
        let mut p = Parser::with_context(ctx, Limits { max_packet: MAX_PACKET });
        let mut items = Vec::new();
        for piece in stream.chunks(chunk) {
            p.parse_all(piece, |i| items.push(i));
            assert!(p.buffered() <= MAX_PACKET as usize);
        }
        let whole_items: Vec<&Item> = whole.iter().map(|(_, i)| i).collect();
        assert_eq!(
            items.iter().collect::<Vec<_>>(),
            whole_items,
            "chunks of {chunk} differ"
        );
    }
    for (before, item) in &whole {
        if let Ok(r) = item {
            check_round_trip(before, r);
        }
    }
    idle && !whole.is_empty() && whole.iter().all(|(_, i)| i.is_ok())
}

/// Seed inputs: (file name, bytes).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use sumac::usbredir::proto::{BulkPacket, Cap, ControlPacket, DeviceConnect, Hello, InterfaceInfo};
    let qemu = Caps::of(&[
        Cap::ConnectDeviceVersion,
        Cap::Filter,
        Cap::EpInfoMaxPacketSize,
        Cap::Ids64,
        Cap::BulkLength32,
        Cap::BulkReceiving,
        Cap::DeviceDisconnectAck,
    ]);
    let ours = u8::try_from(qemu.0).unwrap_or(0);
    let mut out = Vec::new();
    // The host's view of a guest: hello, then requests with 64-bit ids.
    let mut guest = Context::new(Role::Guest, qemu);
    let mut s = vec![0b0100_0000, ours, 0];
    s.extend(
        guest
            .encode(0, &Packet::Hello(Hello::new("qemu usb-redir guest", qemu)))
            .unwrap(),
    );
    guest.set_peer(qemu);
    for (id, p) in [
        Packet::SetConfiguration { configuration: 1 },
        Packet::Control(ControlPacket {
            endpoint: 0x80,
            request: 6,
            requesttype: 0x80,
            value: 0x100,
            length: 18,
            ..Default::default()
        }),
        Packet::Bulk(BulkPacket {
            endpoint: 0x02,
            length: 4,
            data: vec![0x55, 0x53, 0x42, 0x43],
            ..Default::default()
        }),
        Packet::Bulk(BulkPacket {
            endpoint: 0x81,
            length: 0x1_0000,
            ..Default::default()
        }),
        Packet::FilterFilter {
            filter: b"0x03,-1,-1,-1,0|-1,-1,-1,-1,1".to_vec(),
        },
        Packet::Reset,
    ]
    .iter()
    .enumerate()
    {
        s.extend(guest.encode(id as u64 + 1, p).unwrap());
    }
    out.push(("seed-host-side-qemu-session".to_owned(), s));
    // The guest's view of a host, caps known, 32-bit ids.
    let mut host = Context::new(Role::Host, Caps(0));
    host.set_peer(Caps(0));
    let mut s = vec![0b11, 0, 0];
    for p in [
        Packet::InterfaceInfo(InterfaceInfo::default()),
        Packet::EpInfo(Box::default()),
        Packet::DeviceConnect(DeviceConnect::default()),
        Packet::Bulk(BulkPacket {
            endpoint: 0x81,
            length: 3,
            data: vec![1, 2, 3],
            ..Default::default()
        }),
        Packet::DeviceDisconnect,
    ] {
        s.extend(host.encode(9, &p).unwrap());
    }
    out.push(("seed-guest-side-32-bit-ids".to_owned(), s));
    // Hostile: unknown type, too long, interface_count 33, bulk length_high over 128 MiB.
    let mut unknown = vec![0b10, 0, 0];
    unknown.extend([99, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    out.push(("hostile-unknown-type".to_owned(), unknown));
    let mut long = vec![0b10, 0, 0];
    long.extend([101, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    out.push(("hostile-length-over-limit".to_owned(), long));
    let mut ifc = vec![0b11, 0, 0];
    ifc.extend([4, 0, 0, 0, 132, 0, 0, 0, 0, 0, 0, 0, 33, 0, 0, 0]);
    ifc.extend([0u8; 128]);
    out.push(("hostile-interface-count-33".to_owned(), ifc));
    let mut bulk = vec![0b10, 0x40, 0x40];
    bulk.extend([
        101, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 0x81, 0, 0xff, 0xff, 0, 0, 0, 0, 0x01, 0x08,
    ]);
    out.push(("hostile-bulk-length-high".to_owned(), bulk));
    out
}

/// The committed seeds of the three usbredir targets (`regression/<target>/`) are the ones
/// the `seeds()` functions build; `cargo test --test e2e write_usbredir_seeds -- --ignored`
/// rewrites them.
#[cfg(test)]
mod seed_files {
    use std::path::PathBuf;

    type Seeds = fn() -> Vec<(String, Vec<u8>)>;
    const TARGETS: [(&str, Seeds); 3] = [
        ("usbredir_parser", super::seeds),
        ("usbredir_msc", super::super::usbredir_msc::seeds),
        ("usbredir_filter", super::super::usbredir_filter::seeds),
    ];

    fn dir(target: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz/regression")
            .join(target)
    }

    #[test]
    fn usbredir_seed_files_are_current() {
        for (target, seeds) in TARGETS {
            for (name, bytes) in seeds() {
                let path = dir(target).join(&name);
                let file = std::fs::read(&path).unwrap_or_default();
                assert!(file == bytes, "{} is stale: run write_usbredir_seeds", path.display());
            }
        }
    }

    #[test]
    #[ignore = "writes tests/fuzz/regression/usbredir_*/seed-* and hostile-*"]
    fn write_usbredir_seeds() {
        for (target, seeds) in TARGETS {
            std::fs::create_dir_all(dir(target)).unwrap();
            for (name, bytes) in seeds() {
                std::fs::write(dir(target).join(name), bytes).unwrap();
            }
        }
    }
}
