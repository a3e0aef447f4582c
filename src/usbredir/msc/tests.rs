//! The device driven by a scripted usb-guest (the part QEMU's usb-redir plays).

use super::*;
use crate::usbredir::proto::{EpInfo, InterfaceEntry, InterfaceInfo, ep_index, ep_type, packet_type};

const BLOCKS: usize = 64;

fn qemu_caps() -> Caps {
    Caps::of(&[
        Cap::ConnectDeviceVersion,
        Cap::Filter,
        Cap::EpInfoMaxPacketSize,
        Cap::Ids64,
        Cap::BulkLength32,
        Cap::BulkReceiving,
        Cap::DeviceDisconnectAck,
    ])
}

/// A disk whose every byte tells where it is.
fn patterned(read_only: bool) -> MemStore {
    let data = (0..BLOCKS * BLOCK_SIZE)
        .map(|i| u8::try_from((i / BLOCK_SIZE + i % 251) % 256).unwrap())
        .collect();
    MemStore::new(data, read_only)
}

/// The usb-guest side of the test.
struct Guest {
    parser: Parser,
    next_id: u64,
}

impl Guest {
    fn new() -> Self {
        Self {
            parser: Parser::new(Role::Guest, qemu_caps()),
            next_id: 100,
        }
    }

    /// Encodes and feeds `packet`; returns its id.
    fn send(&mut self, dev: &mut MassStorage<MemStore>, packet: &Packet) -> u64 {
        self.next_id += 1;
        self.send_id(dev, self.next_id, packet);
        self.next_id
    }

    fn send_id(&mut self, dev: &mut MassStorage<MemStore>, id: u64, packet: &Packet) {
        let bytes = self.parser.encode(id, packet).unwrap();
        assert_eq!(dev.feed(&bytes), bytes.len());
    }

    /// Everything the device sent, decoded.
    fn recv(&mut self, dev: &mut MassStorage<MemStore>) -> Vec<Received> {
        let mut out = Vec::new();
        while let Some(bytes) = dev.pop_output() {
            self.parser.parse_all(&bytes, |r| out.push(r.unwrap()));
        }
        assert!(self.parser.is_idle());
        out
    }

    fn recv_one(&mut self, dev: &mut MassStorage<MemStore>) -> Received {
        let mut all = self.recv(dev);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn control(
        &mut self,
        dev: &mut MassStorage<MemStore>,
        rt: u8,
        req: u8,
        value: u16,
        index: u16,
        length: u16,
    ) -> ControlPacket {
        let id = self.send(
            dev,
            &Packet::Control(ControlPacket {
                endpoint: rt & 0x80,
                request: req,
                requesttype: rt,
                value,
                index,
                length,
                ..Default::default()
            }),
        );
        let r = self.recv_one(dev);
        assert_eq!(r.id, id);
        let Packet::Control(c) = r.packet else { panic!("{r:?}") };
        assert_eq!((c.request, c.requesttype, c.value, c.index), (req, rt, value, index));
        c
    }

    fn bulk_out(&mut self, dev: &mut MassStorage<MemStore>, data: &[u8]) -> BulkPacket {
        let id = self.send(
            dev,
            &Packet::Bulk(BulkPacket {
                endpoint: EP_OUT,
                length: u32::try_from(data.len()).unwrap(),
                data: data.to_vec(),
                ..Default::default()
            }),
        );
        let r = self.recv_one(dev);
        assert_eq!(r.id, id);
        let Packet::Bulk(b) = r.packet else { panic!("{r:?}") };
        b
    }

    /// A bulk IN request answered at once.
    fn bulk_in(&mut self, dev: &mut MassStorage<MemStore>, length: u32) -> BulkPacket {
        let id = self.send_in(dev, length);
        let r = self.recv_one(dev);
        assert_eq!(r.id, id);
        let Packet::Bulk(b) = r.packet else { panic!("{r:?}") };
        assert_eq!(b.endpoint, EP_IN);
        assert_eq!(b.length as usize, b.data.len());
        b
    }

    fn send_in(&mut self, dev: &mut MassStorage<MemStore>, length: u32) -> u64 {
        self.send(
            dev,
            &Packet::Bulk(BulkPacket {
                endpoint: EP_IN,
                length,
                ..Default::default()
            }),
        )
    }

    /// Sends a CBW; the OUT transfer must be accepted.
    fn cbw(&mut self, dev: &mut MassStorage<MemStore>, tag: u32, data_len: u32, data_in: bool, cb: &[u8]) {
        let b = self.bulk_out(dev, &cbw_bytes(tag, data_len, data_in, cb));
        assert_eq!((b.status, b.length), (status::SUCCESS, 31));
    }

    /// Reads the CSW; returns (residue, status).
    fn csw(&mut self, dev: &mut MassStorage<MemStore>, tag: u32) -> (u32, u8) {
        let b = self.bulk_in(dev, 13);
        assert_eq!(b.status, status::SUCCESS, "{b:?}");
        parse_csw(&b.data, tag)
    }

    /// A whole command with data IN: returns (data, residue, status).
    fn command_in(&mut self, dev: &mut MassStorage<MemStore>, tag: u32, len: u32, cb: &[u8]) -> (Vec<u8>, u32, u8) {
        self.cbw(dev, tag, len, true, cb);
        let data = if len > 0 {
            let b = self.bulk_in(dev, len);
            if b.status == status::STALL {
                self.clear_halt(dev, EP_IN);
            }
            b.data
        } else {
            Vec::new()
        };
        let mut b = self.bulk_in(dev, 13);
        if b.status == status::STALL {
            // The data ended short: the endpoint stalled after it.
            self.clear_halt(dev, EP_IN);
            b = self.bulk_in(dev, 13);
        }
        let (residue, st) = parse_csw(&b.data, tag);
        (data, residue, st)
    }

    fn clear_halt(&mut self, dev: &mut MassStorage<MemStore>, ep: u8) {
        let c = self.control(dev, 0x02, 1, 0, u16::from(ep), 0);
        assert_eq!(c.status, status::SUCCESS);
    }

    fn request_sense(&mut self, dev: &mut MassStorage<MemStore>) -> (u8, u8, u8) {
        let (d, residue, st) = self.command_in(dev, 0x5e5e, 18, &[0x03, 0, 0, 0, 18, 0]);
        assert_eq!((residue, st, d.len()), (0, 0, 18));
        assert_eq!(d[0], 0x70);
        (d[2], d[12], d[13])
    }
}

fn cbw_bytes(tag: u32, data_len: u32, data_in: bool, cb: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&CBW_SIGNATURE.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&data_len.to_le_bytes());
    v.push(if data_in { 0x80 } else { 0 });
    v.push(0);
    v.push(u8::try_from(cb.len()).unwrap());
    let mut block = [0u8; 16];
    block[..cb.len()].copy_from_slice(cb);
    v.extend_from_slice(&block);
    v
}

fn parse_csw(d: &[u8], tag: u32) -> (u32, u8) {
    assert_eq!(d.len(), 13, "{d:?}");
    assert_eq!(u32::from_le_bytes(d[0..4].try_into().unwrap()), CSW_SIGNATURE);
    assert_eq!(u32::from_le_bytes(d[4..8].try_into().unwrap()), tag);
    (u32::from_le_bytes(d[8..12].try_into().unwrap()), d[12])
}

fn read10(lba: u32, blocks: u16) -> Vec<u8> {
    let mut cb = vec![0x28, 0];
    cb.extend_from_slice(&lba.to_be_bytes());
    cb.push(0);
    cb.extend_from_slice(&blocks.to_be_bytes());
    cb.push(0);
    cb
}

fn write10(lba: u32, blocks: u16) -> Vec<u8> {
    let mut cb = read10(lba, blocks);
    cb[0] = 0x2a;
    cb
}

/// A device through the hello exchange and `device_connect`, configured.
fn connected(store: MemStore) -> (MassStorage<MemStore>, Guest) {
    let mut dev = MassStorage::new(store, MscConfig::default());
    let mut g = Guest::new();
    let hello = g.recv(&mut dev);
    assert!(matches!(
        hello[..],
        [Received {
            id: 0,
            packet: Packet::Hello(_)
        }]
    ));
    g.send_id(
        &mut dev,
        0,
        &Packet::Hello(Hello::new("qemu usb-redir guest 7.2.0", qemu_caps())),
    );
    let info = g.recv(&mut dev);
    assert_eq!(info.len(), 3);
    assert_eq!(dev.state(), MscState::Connected);
    (dev, g)
}

#[test]
fn hello_then_device_connect_exact_bytes() {
    let mut dev = MassStorage::new(patterned(false), MscConfig::default());
    let hello = dev.pop_output().unwrap();
    assert!(dev.pop_output().is_none(), "nothing before the peer's hello");
    // 12-byte header (ids are 32 bits until both hellos), 64-byte version, caps word.
    assert_eq!(hello[..12], [0, 0, 0, 0, 68, 0, 0, 0, 0, 0, 0, 0]);
    assert!(hello[12..76].starts_with(b"sumac usbredir msc "));
    assert_eq!(hello[75], 0);
    assert_eq!(hello[76..], [0x7e, 0, 0, 0]);

    let mut g = Guest::new();
    g.parser.parse_all(&hello, |r| assert!(r.is_ok()));
    g.send_id(&mut dev, 0, &Packet::Hello(Hello::new("qemu", qemu_caps())));
    assert_eq!(
        dev.pop_event(),
        Some(MscEvent::PeerHello {
            version: "qemu".into(),
            caps: qemu_caps()
        })
    );
    assert_eq!(dev.pop_event(), Some(MscEvent::Connected));
    let bytes: Vec<Vec<u8>> = std::iter::from_fn(|| dev.pop_output()).collect();
    // interface_info: 16-byte header, count 1, interface 0 class 8/6/0x50.
    assert_eq!(bytes[0].len(), 16 + 132);
    assert_eq!(bytes[0][..8], [4, 0, 0, 0, 132, 0, 0, 0]);
    assert_eq!(bytes[0][16..21], [1, 0, 0, 0, 0]);
    assert_eq!([bytes[0][52], bytes[0][84], bytes[0][116]], [8, 6, 0x50]);
    // ep_info with max packet sizes (160 bytes).
    assert_eq!(bytes[1][..8], [5, 0, 0, 0, 160, 0, 0, 0]);
    // device_connect: high speed, class 0, 1209:0001, bcd 0x0100.
    assert_eq!(
        bytes[2],
        [
            1, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x09, 0x12, 0x01, 0x00, 0x00, 0x01
        ]
    );
    let mut decoded = Vec::new();
    for b in &bytes {
        g.parser.parse_all(b, |r| decoded.push(r.unwrap().packet));
    }
    let Packet::EpInfo(ep) = &decoded[1] else { panic!() };
    let bulk_in = ep.endpoints[ep_index(EP_IN)];
    let bulk_out = ep.endpoints[ep_index(EP_OUT)];
    assert_eq!((bulk_in.ep_type, bulk_in.max_packet_size), (ep_type::BULK, 512));
    assert_eq!((bulk_out.ep_type, bulk_out.max_packet_size), (ep_type::BULK, 512));
    assert_eq!(ep.endpoints[0].ep_type, ep_type::CONTROL);
    assert_eq!(ep.endpoints[1].ep_type, ep_type::INVALID);
}

#[test]
fn enumeration_descriptors() {
    let (mut dev, mut g) = connected(patterned(false));
    // Linux first asks for 64 bytes of the device descriptor.
    let c = g.control(&mut dev, 0x80, 6, 0x0100, 0, 64);
    assert_eq!(c.status, status::SUCCESS);
    assert_eq!(
        c.data,
        [18, 1, 0, 2, 0, 0, 0, 64, 0x09, 0x12, 0x01, 0x00, 0x00, 0x01, 1, 2, 3, 1]
    );
    assert_eq!(c.length, 18);
    let c = g.control(&mut dev, 0x80, 6, 0x0200, 0, 9);
    assert_eq!(c.data, [9, 2, 32, 0, 1, 1, 0, 0x80, 50]);
    let c = g.control(&mut dev, 0x80, 6, 0x0200, 0, 255);
    assert_eq!(
        c.data,
        [
            9, 2, 32, 0, 1, 1, 0, 0x80, 50, //
            9, 4, 0, 0, 2, 8, 6, 0x50, 0, //
            7, 5, 0x81, 2, 0, 2, 0, //
            7, 5, 0x02, 2, 0, 2, 0
        ]
    );
    let c = g.control(&mut dev, 0x80, 6, 0x0700, 0, 255);
    assert_eq!((c.data[1], c.data[22], c.data[29]), (7, 64, 64));
    let c = g.control(&mut dev, 0x80, 6, 0x0600, 0, 10);
    assert_eq!(c.data, [10, 6, 0, 2, 0, 0, 0, 64, 1, 0]);
    let c = g.control(&mut dev, 0x80, 6, 0x0300, 0, 255);
    assert_eq!(c.data, [4, 3, 0x09, 0x04]);
    let c = g.control(&mut dev, 0x80, 6, 0x0303, 0x0409, 255);
    let serial: Vec<u8> = "000000000001".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert_eq!(c.data[..2], [26, 3]);
    assert_eq!(c.data[2..], serial[..]);
    let c = g.control(&mut dev, 0x80, 6, 0x0302, 0x0409, 4);
    assert_eq!(c.data.len(), 4);
    // Unknown string, BOS, MS OS string: stalled.
    for value in [0x0304, 0x0f00, 0x03ee] {
        let c = g.control(&mut dev, 0x80, 6, value, 0, 255);
        assert_eq!((c.status, c.length, c.data.len()), (status::STALL, 0, 0));
    }
    // GET_STATUS, GET_MAX_LUN, unknown class request.
    assert_eq!(g.control(&mut dev, 0x80, 0, 0, 0, 2).data, [0, 0]);
    assert_eq!(g.control(&mut dev, 0xa1, 0xfe, 0, 0, 1).data, [0]);
    assert_eq!(g.control(&mut dev, 0xa1, 0x42, 0, 0, 1).status, status::STALL);
    // An OUT request with data: the reply carries the length only.
    let id = g.send(
        &mut dev,
        &Packet::Control(ControlPacket {
            endpoint: 0,
            request: 1,
            requesttype: 0x00,
            value: 1,
            length: 0,
            ..Default::default()
        }),
    );
    assert_eq!(g.recv_one(&mut dev).id, id);
}

#[test]
fn set_configuration_sends_info_before_status() {
    let (mut dev, mut g) = connected(patterned(false));
    let id = g.send(&mut dev, &Packet::SetConfiguration { configuration: 1 });
    let r = g.recv(&mut dev);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].packet.packet_type(), packet_type::INTERFACE_INFO);
    assert_eq!(r[1].packet.packet_type(), packet_type::EP_INFO);
    assert_eq!(
        r[2],
        Received {
            id,
            packet: Packet::ConfigurationStatus {
                status: status::SUCCESS,
                configuration: 1
            }
        }
    );
    // Unconfigured: no interfaces, bulk requests are refused.
    g.send(&mut dev, &Packet::SetConfiguration { configuration: 0 });
    let r = g.recv(&mut dev);
    assert_eq!(r[0].packet, Packet::InterfaceInfo(InterfaceInfo::default()));
    let Packet::EpInfo(ep) = &r[1].packet else { panic!() };
    assert_eq!(ep.endpoints[ep_index(EP_IN)].ep_type, ep_type::INVALID);
    assert_eq!(g.bulk_in(&mut dev, 13).status, status::INVAL);
    let id = g.send(&mut dev, &Packet::GetConfiguration);
    assert_eq!(
        g.recv_one(&mut dev),
        Received {
            id,
            packet: Packet::ConfigurationStatus {
                status: 0,
                configuration: 0
            }
        }
    );
    let id = g.send(&mut dev, &Packet::SetConfiguration { configuration: 2 });
    assert!(matches!(
        g.recv_one(&mut dev),
        Received { id: i, packet: Packet::ConfigurationStatus { status: status::STALL, .. } } if i == id
    ));
    g.send(&mut dev, &Packet::SetConfiguration { configuration: 1 });
    g.recv(&mut dev);
    let id = g.send(&mut dev, &Packet::SetAltSetting { interface: 0, alt: 0 });
    let r = g.recv(&mut dev);
    assert_eq!(
        r[2],
        Received {
            id,
            packet: Packet::AltSettingStatus {
                status: 0,
                interface: 0,
                alt: 0
            }
        }
    );
    let id = g.send(&mut dev, &Packet::GetAltSetting { interface: 1 });
    assert_eq!(
        g.recv_one(&mut dev),
        Received {
            id,
            packet: Packet::AltSettingStatus {
                status: status::INVAL,
                interface: 1,
                alt: 255
            }
        }
    );
    // No iso or interrupt endpoints.
    let id = g.send(&mut dev, &Packet::StartInterruptReceiving { endpoint: 0x83 });
    assert_eq!(
        g.recv_one(&mut dev),
        Received {
            id,
            packet: Packet::InterruptReceivingStatus {
                status: status::INVAL,
                endpoint: 0x83
            }
        }
    );
}

#[test]
fn inquiry_capacity_read_write_and_sense() {
    let (mut dev, mut g) = connected(patterned(false));
    // INQUIRY, 36 bytes.
    let (d, residue, st) = g.command_in(&mut dev, 1, 36, &[0x12, 0, 0, 0, 36, 0]);
    assert_eq!((residue, st), (0, csw_status::PASSED));
    assert_eq!(d[..8], [0x00, 0x80, 0x04, 0x02, 31, 0, 0, 0]);
    assert_eq!(&d[8..36], b"Sumac   Virtual disk    0100");
    // The exact CSW bytes of a TEST UNIT READY.
    g.cbw(&mut dev, 0xabcd, 0, false, &[0, 0, 0, 0, 0, 0]);
    let b = g.bulk_in(&mut dev, 13);
    assert_eq!(b.data, [0x55, 0x53, 0x42, 0x53, 0xcd, 0xab, 0, 0, 0, 0, 0, 0, 0]);
    // READ CAPACITY(10): last LBA 63, 512-byte blocks.
    let (d, _, st) = g.command_in(&mut dev, 2, 8, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!((d, st), (vec![0, 0, 0, 63, 0, 0, 2, 0], 0));
    // READ CAPACITY(16).
    let mut cb = [0u8; 16];
    cb[0] = 0x9e;
    cb[1] = 0x10;
    cb[13] = 32;
    let (d, _, _) = g.command_in(&mut dev, 3, 32, &cb);
    assert_eq!(d[..12], [0, 0, 0, 0, 0, 0, 0, 63, 0, 0, 2, 0]);
    // READ(10) of blocks 1–2.
    let (d, residue, st) = g.command_in(&mut dev, 4, 1024, &read10(1, 2));
    assert_eq!((residue, st), (0, 0));
    assert_eq!(d, patterned(false).data()[512..1536]);
    // WRITE(10) of block 3.
    g.cbw(&mut dev, 5, 512, false, &write10(3, 1));
    let b = g.bulk_out(&mut dev, &[0xa5; 512]);
    assert_eq!((b.status, b.length), (0, 512));
    assert_eq!(g.csw(&mut dev, 5), (0, 0));
    assert_eq!(dev.store().data()[3 * 512..4 * 512], [0xa5; 512]);
    // A READ past the end fails: no data (the IN stalls), then sense LBA OUT OF RANGE.
    let (d, residue, st) = g.command_in(&mut dev, 6, 1024, &read10(63, 2));
    assert_eq!((d.len(), residue, st), (0, 1024, csw_status::FAILED));
    assert_eq!(g.request_sense(&mut dev), (sense_key::ILLEGAL_REQUEST, 0x21, 0));
    // REQUEST SENSE cleared it.
    assert_eq!(g.request_sense(&mut dev), (0, 0, 0));
    // Unknown opcode (ATA PASS-THROUGH(16)).
    let mut cb = [0u8; 16];
    cb[0] = 0x85;
    let (_, _, st) = g.command_in(&mut dev, 7, 512, &cb);
    assert_eq!(st, csw_status::FAILED);
    assert_eq!(g.request_sense(&mut dev), (sense_key::ILLEGAL_REQUEST, 0x20, 0));
    // SYNCHRONIZE CACHE(10) flushes the store.
    g.cbw(&mut dev, 8, 0, false, &[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(g.csw(&mut dev, 8), (0, 0));
    assert_eq!(dev.store().flushes, 1);
}

#[test]
fn reads_split_over_unaligned_in_requests() {
    let (mut dev, mut g) = connected(patterned(false));
    g.cbw(&mut dev, 9, 4 * 512, true, &read10(10, 4));
    let mut got = Vec::new();
    for len in [700, 700, 5000] {
        let b = g.bulk_in(&mut dev, len);
        assert_eq!(b.status, 0);
        got.extend(b.data);
    }
    assert_eq!(got, patterned(false).data()[10 * 512..14 * 512]);
    assert_eq!(g.csw(&mut dev, 9), (0, 0));
}

#[test]
fn probe_commands_of_linux_and_windows() {
    let (mut dev, mut g) = connected(patterned(false));
    // MODE SENSE(6), all pages, 192 bytes (usb-storage): header + caching page, WCE on.
    let (d, residue, st) = g.command_in(&mut dev, 1, 192, &[0x1a, 0, 0x3f, 0, 192, 0]);
    assert_eq!((d.len(), residue, st), (24, 168, 0));
    assert_eq!(d[..4], [23, 0, 0, 0]);
    assert_eq!(d[4..7], [0x08, 0x12, 0x04]);
    // MODE SENSE(10) of the caching page.
    let (d, _, st) = g.command_in(&mut dev, 2, 28, &[0x5a, 0, 0x08, 0, 0, 0, 0, 0, 28, 0]);
    assert_eq!((d.len(), st), (28, 0));
    assert_eq!(d[..8], [0, 26, 0, 0, 0, 0, 0, 0]);
    // An unsupported page fails.
    let (_, _, st) = g.command_in(&mut dev, 3, 64, &[0x1a, 0, 0x1c, 0, 64, 0]);
    assert_eq!(st, csw_status::FAILED);
    assert_eq!(g.request_sense(&mut dev), (sense_key::ILLEGAL_REQUEST, 0x24, 0));
    // READ FORMAT CAPACITIES (Windows).
    let (d, _, st) = g.command_in(&mut dev, 4, 252, &[0x23, 0, 0, 0, 0, 0, 0, 0, 252, 0, 0, 0]);
    assert_eq!((d, st), (vec![0, 0, 0, 8, 0, 0, 0, 64, 2, 0, 2, 0], 0));
    // INQUIRY VPD pages: supported list and serial.
    let (d, _, _) = g.command_in(&mut dev, 5, 255, &[0x12, 1, 0x00, 0, 255, 0]);
    assert_eq!(d, [0, 0, 0, 3, 0x00, 0x80, 0x83]);
    let (d, _, _) = g.command_in(&mut dev, 6, 255, &[0x12, 1, 0x80, 0, 255, 0]);
    assert_eq!(&d[..], b"\x00\x80\x00\x0c000000000001");
    let (d, _, _) = g.command_in(&mut dev, 7, 255, &[0x12, 1, 0x83, 0, 255, 0]);
    assert_eq!((d[1], d[4], d[5]), (0x83, 2, 1));
    assert_eq!(usize::from(u16::from_be_bytes([d[2], d[3]])), d.len() - 4);
    // REPORT LUNS: LUN 0 only.
    let (d, _, st) = g.command_in(&mut dev, 8, 16, &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0]);
    assert_eq!((d, st), (vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0));
    // PREVENT/ALLOW, VERIFY(10), START STOP UNIT without eject.
    for cb in [
        vec![0x1e, 0, 0, 0, 1, 0],
        vec![0x1e, 0, 0, 0, 0, 0],
        vec![0x2f, 0, 0, 0, 0, 0, 0, 0, 8, 0],
        vec![0x1b, 0, 0, 0, 1, 0],
    ] {
        let (_, _, st) = g.command_in(&mut dev, 9, 0, &cb);
        assert_eq!(st, 0, "{cb:02x?}");
    }
}

#[test]
fn eject_and_prevent_removal() {
    let (mut dev, mut g) = connected(patterned(false));
    let (_, _, st) = g.command_in(&mut dev, 1, 0, &[0x1e, 0, 0, 0, 1, 0]);
    assert_eq!(st, 0);
    let (_, _, st) = g.command_in(&mut dev, 2, 0, &[0x1b, 0, 0, 0, 2, 0]);
    assert_eq!(st, csw_status::FAILED);
    assert_eq!(g.request_sense(&mut dev), (sense_key::ILLEGAL_REQUEST, 0x53, 2));
    g.command_in(&mut dev, 3, 0, &[0x1e, 0, 0, 0, 0, 0]);
    let (_, _, st) = g.command_in(&mut dev, 4, 0, &[0x1b, 0, 0, 0, 2, 0]);
    assert_eq!(st, 0);
    // Medium gone: TEST UNIT READY and READ fail with NOT READY / MEDIUM NOT PRESENT.
    let (_, _, st) = g.command_in(&mut dev, 5, 0, &[0, 0, 0, 0, 0, 0]);
    assert_eq!(st, csw_status::FAILED);
    assert_eq!(g.request_sense(&mut dev), (sense_key::NOT_READY, 0x3a, 0));
    // Load again.
    g.command_in(&mut dev, 6, 0, &[0x1b, 0, 0, 0, 3, 0]);
    assert_eq!(g.command_in(&mut dev, 7, 0, &[0, 0, 0, 0, 0, 0]).2, 0);
}

#[test]
fn read_only_disk_refuses_writes() {
    let (mut dev, mut g) = connected(patterned(true));
    let (d, _, _) = g.command_in(&mut dev, 1, 192, &[0x1a, 0, 0x3f, 0, 192, 0]);
    assert_eq!(d[2], 0x80, "write-protect bit");
    assert_eq!(d[6], 0, "no write cache");
    // WRITE(10): the host sends its data anyway (case 9), the CSW fails with the whole residue.
    g.cbw(&mut dev, 2, 1024, false, &write10(0, 2));
    assert_eq!(g.bulk_out(&mut dev, &[1; 1024]).status, 0);
    assert_eq!(g.csw(&mut dev, 2), (1024, csw_status::FAILED));
    assert_eq!(g.request_sense(&mut dev), (sense_key::DATA_PROTECT, 0x27, 0));
    assert_eq!(dev.store().data(), patterned(true).data());
}

#[test]
fn short_response_ends_with_a_stall_before_the_csw() {
    let (mut dev, mut g) = connected(patterned(false));
    // REQUEST SENSE asks 18, the host window is 96 (Linux with sane sense): case 5.
    g.cbw(&mut dev, 1, 96, true, &[0x03, 0, 0, 0, 96, 0]);
    let b = g.bulk_in(&mut dev, 96);
    assert_eq!((b.status, b.data.len()), (0, 18));
    assert_eq!(g.bulk_in(&mut dev, 13).status, status::STALL);
    // GET_STATUS reports the halt, CLEAR_FEATURE clears it.
    assert_eq!(g.control(&mut dev, 0x82, 0, 0, 0x81, 2).data, [1, 0]);
    g.clear_halt(&mut dev, EP_IN);
    assert_eq!(g.control(&mut dev, 0x82, 0, 0, 0x81, 2).data, [0, 0]);
    assert_eq!(g.csw(&mut dev, 1), (78, 0));
}

#[test]
fn phase_errors_and_host_side_excess() {
    let (mut dev, mut g) = connected(patterned(false));
    // Case 2: the host expects no data for a READ.
    g.cbw(&mut dev, 1, 0, true, &read10(0, 1));
    assert_eq!(g.csw(&mut dev, 1), (0, csw_status::PHASE_ERROR));
    // Case 7: the READ wants more than the host's window: stall, phase error.
    g.cbw(&mut dev, 2, 512, true, &read10(0, 2));
    assert_eq!(g.bulk_in(&mut dev, 512).status, status::STALL);
    g.clear_halt(&mut dev, EP_IN);
    assert_eq!(g.csw(&mut dev, 2).1, csw_status::PHASE_ERROR);
    // Case 10: the host sends data for a READ: bulk OUT stalls.
    g.cbw(&mut dev, 3, 512, false, &read10(0, 1));
    assert_eq!(g.bulk_out(&mut dev, &[0; 512]).status, status::STALL);
    g.clear_halt(&mut dev, EP_OUT);
    assert_eq!(g.csw(&mut dev, 3).1, csw_status::PHASE_ERROR);
    // Case 11: more OUT data than the WRITE needs: taken, residue reported.
    g.cbw(&mut dev, 4, 1024, false, &write10(5, 1));
    assert_eq!(g.bulk_out(&mut dev, &[9; 600]).status, 0);
    assert_eq!(g.bulk_out(&mut dev, &[8; 424]).status, 0);
    assert_eq!(g.csw(&mut dev, 4), (512, 0));
    let mut want = vec![9u8; 512];
    want[..].copy_from_slice(&[9; 512]);
    assert_eq!(dev.store().data()[5 * 512..6 * 512], want[..]);
    // Case 13: less OUT data than the WRITE needs: nothing written, phase error.
    g.cbw(&mut dev, 5, 512, false, &write10(6, 2));
    g.bulk_out(&mut dev, &[7; 512]);
    assert_eq!(g.csw(&mut dev, 5).1, csw_status::PHASE_ERROR);
    assert_eq!(
        dev.store().data()[6 * 512..7 * 512],
        patterned(false).data()[6 * 512..7 * 512]
    );
}

#[test]
fn invalid_cbw_needs_reset_recovery() {
    let (mut dev, mut g) = connected(patterned(false));
    // Wrong signature.
    let mut bad = cbw_bytes(1, 0, false, &[0, 0, 0, 0, 0, 0]);
    bad[0] = 0;
    assert_eq!(g.bulk_out(&mut dev, &bad).status, 0);
    assert_eq!(g.bulk_in(&mut dev, 13).status, status::STALL);
    assert_eq!(
        g.bulk_out(&mut dev, &cbw_bytes(2, 0, false, &[0; 6])).status,
        status::STALL
    );
    // CLEAR_FEATURE alone does not help.
    g.clear_halt(&mut dev, EP_IN);
    g.clear_halt(&mut dev, EP_OUT);
    assert_eq!(g.bulk_in(&mut dev, 13).status, status::STALL);
    // Reset recovery: Bulk-Only Mass Storage Reset, then clear both halts.
    assert_eq!(g.control(&mut dev, 0x21, 0xff, 0, 0, 0).status, 0);
    assert_eq!(
        g.bulk_in(&mut dev, 13).status,
        status::STALL,
        "halts survive the class reset"
    );
    g.clear_halt(&mut dev, EP_IN);
    g.clear_halt(&mut dev, EP_OUT);
    assert_eq!(g.command_in(&mut dev, 3, 0, &[0, 0, 0, 0, 0, 0]).2, 0);
    // A CBW of the wrong size is not valid either.
    let mut long = cbw_bytes(4, 0, false, &[0; 6]);
    long.push(0);
    g.bulk_out(&mut dev, &long);
    assert_eq!(g.bulk_in(&mut dev, 13).status, status::STALL);
}

#[test]
fn in_requests_wait_for_data_and_can_be_cancelled() {
    let (mut dev, mut g) = connected(patterned(false));
    // A bulk IN before the CBW waits (a real device would NAK it).
    let early = g.send_in(&mut dev, 512);
    assert!(g.recv(&mut dev).is_empty());
    let cbw_id = g.send(
        &mut dev,
        &Packet::Bulk(BulkPacket {
            endpoint: EP_OUT,
            length: 31,
            data: cbw_bytes(1, 512, true, &read10(2, 1)),
            ..Default::default()
        }),
    );
    let r = g.recv(&mut dev);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id, cbw_id);
    assert_eq!(r[1].id, early);
    let Packet::Bulk(b) = &r[1].packet else { panic!() };
    assert_eq!(b.data, patterned(false).data()[1024..1536]);
    assert_eq!(g.csw(&mut dev, 1), (0, 0));
    // Cancelling a waiting request answers it as cancelled.
    let waiting = g.send_in(&mut dev, 13);
    g.send_id(&mut dev, waiting, &Packet::CancelDataPacket);
    let r = g.recv_one(&mut dev);
    assert_eq!(r.id, waiting);
    assert!(matches!(
        r.packet,
        Packet::Bulk(BulkPacket {
            status: status::CANCELLED,
            ..
        })
    ));
    // Cancelling something already answered does nothing.
    g.send_id(&mut dev, waiting, &Packet::CancelDataPacket);
    assert!(g.recv(&mut dev).is_empty());
    // Too many waiting requests: the extra one gets an I/O error.
    for _ in 0..MAX_PENDING_IN {
        g.send_in(&mut dev, 13);
    }
    assert!(g.recv(&mut dev).is_empty());
    let extra = g.send_in(&mut dev, 13);
    let r = g.recv_one(&mut dev);
    assert_eq!(r.id, extra);
    assert!(matches!(
        r.packet,
        Packet::Bulk(BulkPacket {
            status: status::IOERROR,
            ..
        })
    ));
    // A USB reset cancels the waiting ones.
    g.send(&mut dev, &Packet::Reset);
    let r = g.recv(&mut dev);
    assert_eq!(r.len(), MAX_PENDING_IN);
    assert_eq!(
        dev.pop_event(),
        Some(MscEvent::PeerHello {
            version: "qemu usb-redir guest 7.2.0".into(),
            caps: qemu_caps()
        })
    );
    assert_eq!(dev.pop_event(), Some(MscEvent::Connected));
    assert_eq!(dev.pop_event(), Some(MscEvent::Reset));
}

#[test]
fn output_queue_is_bounded_when_the_peer_stops_reading() {
    let cfg = MscConfig {
        output: OutputLimits {
            max_packets: 8,
            max_bytes: 64 * 1024,
        },
        ..MscConfig::default()
    };
    let mut dev = MassStorage::new(patterned(false), cfg);
    let mut g = Guest::new();
    g.recv(&mut dev);
    let mut input = g
        .parser
        .encode(0, &Packet::Hello(Hello::new("q", qemu_caps())))
        .unwrap();
    // Many GET_DESCRIPTOR and READ commands, never reading the answers.
    for i in 0..200u32 {
        let p = if i % 3 == 0 {
            Packet::Bulk(BulkPacket {
                endpoint: EP_OUT,
                length: 31,
                data: cbw_bytes(i, 32 * 512, true, &read10(0, 32)),
                ..Default::default()
            })
        } else if i % 3 == 1 {
            Packet::Bulk(BulkPacket {
                endpoint: EP_IN,
                length: 32 * 512,
                ..Default::default()
            })
        } else {
            Packet::Bulk(BulkPacket {
                endpoint: EP_IN,
                length: 13,
                ..Default::default()
            })
        };
        input.extend(g.parser.encode(u64::from(i) + 1, &p).unwrap());
    }
    let mut fed = 0;
    let mut rounds = 0;
    while fed < input.len() {
        let n = dev.feed(&input[fed..]);
        let (packets, bytes) = dev.output_len();
        assert!(packets <= 8 + 3, "{packets} packets queued");
        assert!(bytes <= 64 * 1024 + 32 * 512 + 64, "{bytes} bytes queued");
        if n == 0 {
            assert!(dev.output_full());
            // The peer reads again: drain.
            g.recv(&mut dev);
            rounds += 1;
        }
        fed += n;
    }
    assert!(rounds > 5, "back-pressure engaged {rounds} times");
}

#[test]
fn unplug_waits_for_the_disconnect_ack() {
    let (mut dev, mut g) = connected(patterned(false));
    let waiting = g.send_in(&mut dev, 13);
    dev.unplug();
    let r = g.recv(&mut dev);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id, waiting);
    assert_eq!(r[1].packet, Packet::DeviceDisconnect);
    assert_eq!(dev.state(), MscState::Disconnecting);
    // Requests still in flight are answered with I/O errors.
    assert_eq!(g.bulk_in(&mut dev, 13).status, status::IOERROR);
    g.send(&mut dev, &Packet::DeviceDisconnectAck);
    assert_eq!(dev.state(), MscState::Released);
    let events: Vec<_> = std::iter::from_fn(|| dev.pop_event()).collect();
    assert_eq!(events.last(), Some(&MscEvent::Disconnected));
}

#[test]
fn filter_packets() {
    let (mut dev, mut g) = connected(patterned(false));
    g.send(
        &mut dev,
        &Packet::FilterFilter {
            filter: b"0x08,-1,-1,-1,0|-1,-1,-1,-1,1".to_vec(),
        },
    );
    g.send(&mut dev, &Packet::FilterReject);
    let events: Vec<_> = std::iter::from_fn(|| dev.pop_event()).collect();
    assert_eq!(
        events[2..],
        [
            MscEvent::PeerFilter("0x08,-1,-1,-1,0|-1,-1,-1,-1,1".into()),
            MscEvent::FilterRejected
        ]
    );
    assert_eq!(dev.state(), MscState::Released);
    // The filter that rejected us does reject our interface class.
    let rules = crate::usbredir::filter::parse("0x08,-1,-1,-1,0|-1,-1,-1,-1,1").unwrap();
    let dev_desc = crate::usbredir::filter::Device {
        class: 0,
        subclass: 0,
        protocol: 0,
        vendor: DEFAULT_VENDOR_ID,
        product: DEFAULT_PRODUCT_ID,
        version_bcd: 0x0100,
        interfaces: &[InterfaceEntry {
            number: 0,
            class: 8,
            subclass: 6,
            protocol: 0x50,
        }],
    };
    assert_eq!(
        crate::usbredir::filter::check(&rules, &dev_desc, Default::default()),
        crate::usbredir::filter::Verdict::Deny
    );
}

#[test]
fn garbage_before_and_after_hello_is_reported() {
    let mut dev = MassStorage::new(patterned(false), MscConfig::default());
    let mut g = Guest::new();
    g.recv(&mut dev);
    // A data packet before the hello exchange (32-bit ids then): ignored.
    let early = Context::new(Role::Guest, qemu_caps())
        .encode(5, &Packet::GetConfiguration)
        .unwrap();
    assert_eq!(dev.feed(&early), early.len());
    assert!(g.recv(&mut dev).is_empty());
    assert_eq!(
        dev.pop_event(),
        Some(MscEvent::Unexpected {
            packet_type: packet_type::GET_CONFIGURATION
        })
    );
    // An unknown packet type: skipped, reported.
    let mut raw = vec![77, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 2];
    raw.extend(
        g.parser
            .encode(0, &Packet::Hello(Hello::new("q", qemu_caps())))
            .unwrap(),
    );
    assert_eq!(dev.feed(&raw), raw.len());
    assert_eq!(
        dev.pop_event(),
        Some(MscEvent::ProtocolError(
            crate::usbredir::proto::ProtoError::UnknownType(77)
        ))
    );
    assert!(matches!(dev.pop_event(), Some(MscEvent::PeerHello { .. })));
    assert_eq!(dev.state(), MscState::Connected);
    let _ = EpInfo::default();
}
