//! `usbredir_msc` oracle (hostile-inputs rows 35, 36): a script of usb-guest actions
//! (CBWs, bulk OUT data, bulk IN requests, control requests, usbredir control packets,
//! raw bytes, unplug, draining or not draining the output) run against the virtual
//! mass-storage device on a 16-block disk.
//!
//! Input: byte 0 = flags (bit 0: read-only disk; bit 1: no hello from the guest unless the
//! script sends one), byte 1 = the guest's caps, then commands of one opcode byte and their
//! arguments. Properties: no panic; `feed` always makes progress unless the output queue is
//! full; the queue stays within its limits plus one input packet's replies; every packet
//! the device sends decodes without error on the guest side; a read-only disk is never
//! written. Accepted when the device connected and no packet from the script was rejected.

use sumac::usbredir::msc::{
    BLOCK_SIZE, CBW_SIGNATURE, EP_IN, EP_OUT, MAX_PENDING_IN, MassStorage, MemStore, MscConfig, MscEvent, MscState,
    OutputLimits, device_caps,
};
use sumac::usbredir::proto::{
    BulkPacket, Caps, Context, ControlPacket, DataPacket, Hello, Limits, Packet, Parser, Role,
};

const BLOCKS: usize = 16;
const MAX_COMMANDS: usize = 256;
const OUT_PACKETS: usize = 16;
const OUT_BYTES: usize = 64 * 1024;
/// Replies one input packet can add: a set_configuration's three, or a bulk OUT's and the
/// waiting IN requests it serves, or a reset's cancellations.
const BURST_PACKETS: usize = MAX_PENDING_IN + 3;
/// Largest reply: a whole-disk READ or a descriptor, plus headers.
const BURST_BYTES: usize = BURST_PACKETS * (BLOCKS * BLOCK_SIZE + 64);

const OPCODES: [u8; 27] = [
    0x00, 0x03, 0x12, 0x1a, 0x5a, 0x15, 0x55, 0x1b, 0x1d, 0x1e, 0x23, 0x25, 0x9e, 0x08, 0x0a, 0x28, 0x2a, 0xa8, 0xaa,
    0x88, 0x8a, 0x2f, 0x8f, 0x35, 0x91, 0xa0, 0x85,
];
const REQUEST_TYPES: [u8; 8] = [0x80, 0x81, 0x82, 0x00, 0x01, 0x02, 0xa1, 0x21];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let (d, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        let mut v = d.to_vec();
        v.resize(n, 0x5a);
        v
    }
}

fn patterned() -> Vec<u8> {
    (0..BLOCKS * BLOCK_SIZE).map(|i| (i % 253) as u8).collect()
}

/// The guest side: decodes what the device sends, encodes what the script sends.
struct Guest {
    parser: Parser,
    synced: bool,
    next_id: u64,
    ids: Vec<u64>,
    rejected: bool,
}

impl Guest {
    fn encode(&mut self, p: &Packet) -> Vec<u8> {
        self.next_id += 1;
        // A cancel names one of the last few requests.
        let back = (self.next_id % 4) as usize + 1;
        let id = match p {
            Packet::CancelDataPacket => self
                .ids
                .len()
                .checked_sub(back)
                .and_then(|i| self.ids.get(i))
                .copied()
                .unwrap_or(0),
            _ => self.next_id,
        };
        self.ids.push(id);
        if self.ids.len() > 8 {
            self.ids.remove(0);
        }
        // The script may ask for a packet the guest cannot send under the caps: skip it.
        self.parser.encode(id, p).unwrap_or_default()
    }

    fn drain(&mut self, dev: &mut MassStorage<MemStore>) {
        // From its peer's hello on, the device uses the caps of that hello.
        if let (false, Some(caps)) = (self.synced, dev.peer_caps()) {
            let mut ctx = Context::new(Role::Guest, caps);
            ctx.set_peer(device_caps());
            self.parser = Parser::with_context(ctx, Limits::default());
            self.synced = true;
        }
        while let Some(e) = dev.pop_event() {
            self.rejected |= matches!(e, MscEvent::ProtocolError(_));
        }
        while let Some(bytes) = dev.pop_output() {
            self.parser.parse_all(&bytes, |r| {
                let r = r.unwrap_or_else(|e| panic!("the device sent a bad packet: {e}"));
                // IN replies carry exactly the data they report.
                if let Packet::Bulk(b) = &r.packet
                    && b.endpoint & 0x80 != 0
                {
                    assert_eq!(b.length as usize, b.data.len());
                }
            });
            assert!(self.parser.is_idle(), "a device packet split across outputs");
        }
    }

    /// Feeds `bytes`, draining when the device's output is full.
    fn deliver(&mut self, dev: &mut MassStorage<MemStore>, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = dev.feed(rest);
            let (packets, queued) = dev.output_len();
            assert!(packets <= OUT_PACKETS + BURST_PACKETS, "{packets} packets queued");
            assert!(queued <= OUT_BYTES + BURST_BYTES, "{queued} bytes queued");
            if n == 0 {
                assert!(dev.output_full(), "feed made no progress with room in the output");
                self.drain(dev);
            }
            rest = rest.get(n..).unwrap_or_default();
        }
    }
}

fn cbw(inp: &mut Input<'_>) -> Option<Vec<u8>> {
    let tag = u32::from(inp.u16()?);
    let sel = inp.u8()?;
    let unit = if sel & 1 != 0 { 512 } else { 1 };
    let len = (u32::from(inp.u16()?) * unit) % (BLOCKS as u32 * 512 + 1024);
    let op = OPCODES
        .get(usize::from(inp.u8()?) % OPCODES.len())
        .copied()
        .unwrap_or(0);
    let mut cb = inp.bytes(15);
    if matches!(op, 0x28 | 0x2a | 0x2f | 0xa8 | 0xaa) {
        // Mostly in range: LBA and length below 20 blocks.
        cb.fill(0);
        cb[4] = inp.u8()? % 20;
        cb[7] = inp.u8()? % 20;
    }
    let mut v = CBW_SIGNATURE.to_le_bytes().to_vec();
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.push(if sel & 2 != 0 { 0x80 } else { 0 });
    v.push(if sel & 0x30 == 0x30 { 1 } else { 0 });
    v.push(if sel & 0xc0 == 0xc0 { 0 } else { 10 });
    v.push(op);
    v.extend_from_slice(&cb);
    if sel & 0x0c == 0x0c {
        v.truncate(usize::from(sel) % 31);
    }
    Some(v)
}

fn redir_control(inp: &mut Input<'_>) -> Option<Packet> {
    let arg = inp.u8()?;
    Some(match inp.u8()? % 14 {
        0 => Packet::SetConfiguration { configuration: arg % 3 },
        1 => Packet::GetConfiguration,
        2 => Packet::SetAltSetting {
            interface: arg & 1,
            alt: arg >> 7,
        },
        3 => Packet::GetAltSetting { interface: arg & 1 },
        4 => Packet::Reset,
        5 => Packet::StartIsoStream {
            endpoint: arg,
            pkts_per_urb: 8,
            no_urbs: 4,
        },
        6 => Packet::StopInterruptReceiving { endpoint: arg | 0x80 },
        7 => Packet::AllocBulkStreams {
            endpoints: u32::from(arg),
            no_streams: 4,
        },
        8 => Packet::FreeBulkStreams {
            endpoints: u32::from(arg),
        },
        9 => Packet::CancelDataPacket,
        10 => Packet::FilterFilter {
            filter: b"0x08,-1,-1,-1,0|-1,-1,-1,-1,1".to_vec(),
        },
        11 => Packet::FilterReject,
        12 => Packet::DeviceDisconnectAck,
        _ => Packet::Interrupt(DataPacket {
            endpoint: arg & 0x0f,
            status: 0,
            length: 2,
            data: vec![1, 2],
        }),
    })
}

fn command(dev: &mut MassStorage<MemStore>, g: &mut Guest, inp: &mut Input<'_>) -> Option<()> {
    let bytes = match inp.u8()? % 10 {
        0 => {
            let data = cbw(inp)?;
            g.encode(&Packet::Bulk(BulkPacket {
                endpoint: EP_OUT,
                length: data.len() as u32,
                data,
                ..Default::default()
            }))
        }
        1 => {
            let n = usize::from(inp.u16()?) % 4097;
            let data = inp.bytes(n);
            g.encode(&Packet::Bulk(BulkPacket {
                endpoint: EP_OUT,
                length: data.len() as u32,
                data,
                ..Default::default()
            }))
        }
        2 => {
            let length = u32::from(inp.u16()?);
            g.encode(&Packet::Bulk(BulkPacket {
                endpoint: if length % 97 == 0 { 0x83 } else { EP_IN },
                length,
                ..Default::default()
            }))
        }
        3 => {
            let sel = inp.u8()?;
            let requesttype = REQUEST_TYPES.get(usize::from(sel % 9)).copied().unwrap_or(sel);
            let (request, value, index, length) = (inp.u8()?, inp.u16()?, inp.u16()?, inp.u16()? % 300);
            let data = if requesttype & 0x80 == 0 {
                inp.bytes(usize::from(length))
            } else {
                vec![]
            };
            g.encode(&Packet::Control(ControlPacket {
                endpoint: requesttype & 0x80,
                request,
                requesttype,
                status: 0,
                value,
                index,
                length,
                data,
            }))
        }
        4 => {
            let p = redir_control(inp)?;
            g.encode(&p)
        }
        5 => {
            let n = usize::from(inp.u8()? % 64);
            inp.bytes(n)
        }
        6 => {
            g.drain(dev);
            return Some(());
        }
        7 => {
            dev.unplug();
            return Some(());
        }
        8 => g.encode(&Packet::Iso(DataPacket {
            endpoint: 0x03,
            status: 0,
            length: 1,
            data: vec![inp.u8()?],
        })),
        _ => g.encode(&Packet::Hello(Hello::new("fuzz guest", g.parser.context().ours()))),
    };
    g.deliver(dev, &bytes);
    Some(())
}

pub fn fuzz(data: &[u8]) -> bool {
    let mut inp = Input(data);
    let (Some(flags), Some(caps)) = (inp.u8(), inp.u8()) else {
        return false;
    };
    let read_only = flags & 1 != 0;
    let cfg = MscConfig {
        output: OutputLimits {
            max_packets: OUT_PACKETS,
            max_bytes: OUT_BYTES,
        },
        max_packet: 1 << 20,
        ..MscConfig::default()
    };
    let mut dev = MassStorage::new(MemStore::new(patterned(), read_only), cfg);
    let guest_caps = Caps(u32::from(caps));
    let mut g = Guest {
        parser: Parser::new(Role::Guest, guest_caps),
        synced: false,
        next_id: 0,
        ids: Vec::new(),
        rejected: false,
    };
    g.drain(&mut dev);
    if flags & 2 == 0 {
        let hello = g.encode(&Packet::Hello(Hello::new("fuzz guest", guest_caps)));
        g.deliver(&mut dev, &hello);
    }
    let mut connected = dev.state() == MscState::Connected;
    for _ in 0..MAX_COMMANDS {
        if command(&mut dev, &mut g, &mut inp).is_none() {
            break;
        }
        connected |= dev.state() == MscState::Connected;
    }
    g.drain(&mut dev);
    if read_only {
        assert_eq!(dev.store().data(), &patterned()[..], "a read-only disk was written");
    }
    connected && !g.rejected
}

/// Script builder for seeds: a CBW command (op 0).
fn cbw_cmd(tag: u16, sel: u8, len: u16, opcode: u8, cb: &[u8], rw: Option<(u8, u8)>) -> Vec<u8> {
    let index = OPCODES.iter().position(|&o| o == opcode).unwrap_or(0) as u8;
    let mut v = vec![0];
    v.extend(tag.to_le_bytes());
    v.push(sel);
    v.extend(len.to_le_bytes());
    v.push(index);
    let mut block = [0u8; 15];
    block[..cb.len()].copy_from_slice(cb);
    v.extend(block);
    if let Some((lba, n)) = rw {
        v.extend([lba, n]);
    }
    v
}

/// A bulk IN request (op 2).
fn in_cmd(len: u16) -> Vec<u8> {
    let mut v = vec![2];
    v.extend(len.to_le_bytes());
    v
}

/// Seed inputs: (file name, bytes).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    const DRAIN: u8 = 6;
    const UNPLUG: u8 = 7;
    let qemu_caps = 0xfe;
    let mut session = vec![0, qemu_caps];
    // GET_DESCRIPTOR(device) (op 3: type index 0 = 0x80, request 6, value 0x0100, index 0,
    // length 64), SET_CONFIGURATION(1) (op 4, arg 1, sub 0).
    session.extend([3, 0, 6, 0x00, 0x01, 0, 0, 64, 0]);
    session.extend([4, 1, 0]);
    // INQUIRY, 36 bytes in, CSW.
    session.extend(cbw_cmd(1, 2, 36, 0x12, &[0, 0, 0, 36], None));
    session.extend(in_cmd(36));
    session.extend(in_cmd(13));
    // READ(10) of blocks 2..5: 3 x 512 bytes in one IN request, CSW.
    session.extend(cbw_cmd(2, 3, 3, 0x28, &[], Some((2, 3))));
    session.extend(in_cmd(1536));
    session.extend(in_cmd(13));
    session.push(DRAIN);
    // WRITE(10) of block 1: CBW, 512 bytes out (op 1), CSW, then unplug.
    let mut write = vec![0, qemu_caps];
    write.extend(cbw_cmd(3, 1, 1, 0x2a, &[], Some((1, 1))));
    write.extend([1, 0, 2]);
    write.extend(std::iter::repeat_n(0xee, 512));
    write.extend(in_cmd(13));
    write.extend([DRAIN, UNPLUG, DRAIN]);
    let mut readonly = write.clone();
    readonly[0] = 1;
    // No hello: 20 bytes of 0xff (op 5) read as a packet of unknown type, then a hello
    // (op 9) swallowed by the skipped length.
    let mut garbage = vec![2, qemu_caps, 5, 20];
    garbage.extend([0xff; 20]);
    garbage.push(9);
    vec![
        ("seed-inquiry-read-session".into(), session),
        ("seed-write-and-unplug".into(), write),
        ("seed-read-only-write-refused".into(), readonly),
        ("hostile-garbage-before-hello".into(), garbage),
    ]
}
