//! A virtual USB 2.0 mass-storage device (bulk-only transport, SCSI
//! transparent command set) that speaks usbredir as the usb-host, the part a
//! SPICE client plays in front of QEMU's `usb-redir` device.
//!
//! The device is sans-IO: [`MassStorage::feed`] takes the bytes the guest
//! side sent, [`MassStorage::pop_output`] gives the encoded packets to send
//! back, [`MassStorage::pop_event`] reports what happened. Its disk is any
//! [`BlockStore`] (512-byte blocks); [`MemStore`] keeps one in memory.
//!
//! On the wire: our hello (caps connect_device_version, filter,
//! device_disconnect_ack, ep_info_max_packet_size, 64bits_ids,
//! 32bits_bulk_length, like spice-gtk's emulated devices), then, once the
//! peer's hello is in, `interface_info`, `ep_info` and `device_connect`
//! (high speed, class 0). The device is one configuration (1, reported as
//! already set, as a host OS leaves a real device) with interface 0 (class
//! 0x08, subclass 0x06 SCSI transparent, protocol 0x50 bulk-only), bulk IN
//! 0x81 and bulk OUT 0x02 of 512 bytes, and one logical unit.
//!
//! Default identity: USB VID:PID **1209:0001**, the pid.codes test PID (the
//! open-source vendor id 0x1209; PIDs 0x0001–0x0010 are reserved for
//! testing). A release should register its own PID with pid.codes and set
//! it in [`MscConfig`].
//!
//! Bounds: the parser keeps at most one packet (libusbredirparser's limits).
//! Output is a queue; once it holds [`OutputLimits`] packets or bytes, `feed`
//! stops taking input until the caller drains it, so a peer that stops
//! reading stops being read (one reply may exceed the byte limit: a bulk IN
//! answer is at most the size the peer asked for, itself capped at 128 MiB).
//! At most [`MAX_PENDING_IN`] bulk IN requests wait for data, and at most
//! [`MAX_EVENTS`] events wait to be read (later ones are dropped).

mod bot;
mod control;
mod scsi;
mod store;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

pub use bot::{CBW_LEN, CBW_SIGNATURE, CSW_LEN, CSW_SIGNATURE, EP_IN, EP_OUT, csw_status};
pub use scsi::{Identity, Sense, sense_key};
pub use store::{BLOCK_SIZE, BlockStore, MemStore, StoreError};

use crate::usbredir::proto::{
    BulkPacket, Cap, Caps, Context, ControlPacket, DataPacket, DeviceConnect, Hello, Limits, MAX_PACKET_SIZE, Packet,
    Parsed, Parser, ProtoError, Received, Role, speed, status,
};
use bot::{Bot, InReply, OutReply};
use scsi::Scsi;

/// The default USB vendor id (pid.codes).
pub const DEFAULT_VENDOR_ID: u16 = 0x1209;
/// The default USB product id (a pid.codes test PID).
pub const DEFAULT_PRODUCT_ID: u16 = 0x0001;
/// Most bulk IN requests kept waiting for data; more are answered with an I/O error.
pub const MAX_PENDING_IN: usize = 16;
/// Most events kept until [`MassStorage::pop_event`]; more are dropped.
pub const MAX_EVENTS: usize = 256;

/// When the output queue counts as full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub max_packets: usize,
    pub max_bytes: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            max_packets: 64,
            max_bytes: 4 << 20,
        }
    }
}

/// How the device presents itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MscConfig {
    pub vendor_id: u16,
    pub product_id: u16,
    pub device_version_bcd: u16,
    /// String descriptors 1, 2 and 3.
    pub manufacturer: String,
    pub product: String,
    /// The USB serial number (also SCSI VPD page 0x80); BOT wants 12+ hex digits.
    pub serial: String,
    /// What INQUIRY reports.
    pub identity: Identity,
    /// Our usbredir hello version string.
    pub version: String,
    pub output: OutputLimits,
    /// The parser's packet length limit.
    pub max_packet: u32,
    /// The caps our hello announces ([`device_caps`] by default). A SPICE
    /// channel that also carries physical devices announces libusbredirhost's
    /// set; the device must then use the same, since caps decide packet sizes.
    pub caps: Caps,
}

impl Default for MscConfig {
    fn default() -> Self {
        let serial = "000000000001".to_owned();
        Self {
            vendor_id: DEFAULT_VENDOR_ID,
            product_id: DEFAULT_PRODUCT_ID,
            device_version_bcd: 0x0100,
            manufacturer: "Sumac".into(),
            product: "Sumac virtual disk".into(),
            identity: Identity {
                vendor: *b"Sumac   ",
                product: *b"Virtual disk    ",
                revision: *b"0100",
                serial: serial.clone(),
                removable: true,
            },
            serial,
            version: concat!("sumac usbredir msc ", env!("CARGO_PKG_VERSION")).into(),
            output: OutputLimits::default(),
            max_packet: MAX_PACKET_SIZE,
            caps: device_caps(),
        }
    }
}

/// Something the runtime or the user may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MscEvent {
    /// The guest side's hello.
    PeerHello { version: String, caps: Caps },
    /// `device_connect` was sent: the guest may attach the disk.
    Connected,
    /// The guest's filter refused the device (`filter_reject`); it is released.
    FilterRejected,
    /// The guest announced its device filter.
    PeerFilter(String),
    /// The device is gone for the guest (disconnect acknowledged, or no ack expected).
    Disconnected,
    /// The guest reset the device.
    Reset,
    /// A packet from the peer was rejected and skipped.
    ProtocolError(ProtoError),
    /// A packet that makes no sense now (before the hello, or unsupported).
    Unexpected { packet_type: u32 },
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MscState {
    /// Our hello is sent; waiting for the peer's.
    AwaitingHello,
    /// The device is attached for the guest.
    Connected,
    /// `device_disconnect` sent, waiting for the acknowledgement.
    Disconnecting,
    /// Unplugged or rejected: requests get I/O errors.
    Released,
}

#[derive(Debug, Clone, Copy)]
struct PendingIn {
    id: u64,
    length: u32,
    stream_id: u32,
}

/// The virtual disk; see the module documentation.
#[derive(Debug)]
pub struct MassStorage<S> {
    parser: Parser,
    store: S,
    cfg: MscConfig,
    scsi: Scsi,
    bot: Bot,
    state: MscState,
    configuration: u8,
    pending_in: VecDeque<PendingIn>,
    outbox: VecDeque<Vec<u8>>,
    out_bytes: usize,
    events: VecDeque<MscEvent>,
}

/// The capabilities the device announces.
pub fn device_caps() -> Caps {
    Caps::of(&[
        Cap::ConnectDeviceVersion,
        Cap::Filter,
        Cap::DeviceDisconnectAck,
        Cap::EpInfoMaxPacketSize,
        Cap::Ids64,
        Cap::BulkLength32,
    ])
}

impl<S: BlockStore> MassStorage<S> {
    /// A device over `store`; its hello is queued at once.
    pub fn new(store: S, cfg: MscConfig) -> Self {
        let ctx = Context::new(Role::Host, cfg.caps);
        let limits = Limits {
            max_packet: cfg.max_packet,
        };
        let mut dev = Self {
            parser: Parser::with_context(ctx, limits),
            store,
            scsi: Scsi::new(cfg.identity.clone()),
            cfg,
            bot: Bot::new(),
            state: MscState::AwaitingHello,
            configuration: 1,
            pending_in: VecDeque::new(),
            outbox: VecDeque::new(),
            out_bytes: 0,
            events: VecDeque::new(),
        };
        let hello = Hello::new(&dev.cfg.version, dev.cfg.caps);
        dev.send(0, &Packet::Hello(hello));
        dev
    }

    pub fn state(&self) -> MscState {
        self.state
    }

    /// The caps of the peer's hello, once it arrived.
    pub fn peer_caps(&self) -> Option<Caps> {
        self.parser.context().peer()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    /// The current sense data (for diagnostics).
    pub fn sense(&self) -> Sense {
        self.scsi.sense()
    }

    /// Whether the output queue is full (then [`Self::feed`] takes nothing).
    pub fn output_full(&self) -> bool {
        self.outbox.len() >= self.cfg.output.max_packets || self.out_bytes >= self.cfg.output.max_bytes
    }

    /// Packets and bytes waiting in the output queue.
    pub fn output_len(&self) -> (usize, usize) {
        (self.outbox.len(), self.out_bytes)
    }

    /// Handles bytes from the peer; returns how many were used (all of them
    /// unless the output queue filled up: pass the rest again once drained).
    pub fn feed(&mut self, mut input: &[u8]) -> usize {
        let mut used = 0;
        while !input.is_empty() && !self.output_full() {
            let Parsed { consumed, item } = self.parser.parse(input);
            used += consumed;
            input = input.get(consumed..).unwrap_or_default();
            match item {
                Some(Ok(received)) => self.handle(received),
                Some(Err(e)) => self.event(MscEvent::ProtocolError(e)),
                None => {}
            }
        }
        used
    }

    /// The next encoded packet to send.
    pub fn pop_output(&mut self) -> Option<Vec<u8>> {
        let p = self.outbox.pop_front()?;
        self.out_bytes -= p.len();
        Some(p)
    }

    pub fn pop_event(&mut self) -> Option<MscEvent> {
        self.events.pop_front()
    }

    /// Unplugs the device (the user stops redirecting it).
    pub fn unplug(&mut self) {
        match self.state {
            MscState::Connected => {
                self.cancel_pending_in();
                self.send(0, &Packet::DeviceDisconnect);
                if self.parser.context().peer_has(Cap::DeviceDisconnectAck) {
                    self.state = MscState::Disconnecting;
                } else {
                    self.released(MscEvent::Disconnected);
                }
            }
            MscState::AwaitingHello => self.released(MscEvent::Disconnected),
            MscState::Disconnecting | MscState::Released => {}
        }
    }

    fn released(&mut self, event: MscEvent) {
        self.state = MscState::Released;
        self.event(event);
    }

    fn event(&mut self, e: MscEvent) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(e);
        }
    }

    fn send(&mut self, id: u64, packet: &Packet) {
        match self.parser.encode(id, packet) {
            Ok(bytes) => {
                self.out_bytes += bytes.len();
                self.outbox.push_back(bytes);
            }
            Err(e) => self.event(MscEvent::ProtocolError(e)),
        }
    }

    fn send_device_info(&mut self) {
        self.send(0, &Packet::InterfaceInfo(self.interface_info()));
        self.send(0, &Packet::EpInfo(Box::new(self.ep_info())));
    }

    fn connect(&mut self) {
        self.send_device_info();
        let connect = DeviceConnect {
            speed: speed::HIGH,
            device_class: 0,
            device_subclass: 0,
            device_protocol: 0,
            vendor_id: self.cfg.vendor_id,
            product_id: self.cfg.product_id,
            device_version_bcd: self.cfg.device_version_bcd,
        };
        self.send(0, &Packet::DeviceConnect(connect));
        self.state = MscState::Connected;
        self.event(MscEvent::Connected);
    }

    fn set_configuration(&mut self, configuration: u8) {
        self.configuration = configuration;
        self.bot.usb_reset();
        self.cancel_pending_in();
    }

    fn handle(&mut self, Received { id, packet }: Received) {
        let connected = self.state == MscState::Connected;
        let st = |ok: u8| if connected { ok } else { status::IOERROR };
        match packet {
            Packet::Hello(h) => {
                self.event(MscEvent::PeerHello {
                    version: h.version_str().into_owned(),
                    caps: h.caps,
                });
                if self.state == MscState::AwaitingHello {
                    self.connect();
                }
            }
            // Nothing but a hello may be answered before the peer's hello: the header size
            // of what we send depends on its caps.
            other if self.state == MscState::AwaitingHello || self.parser.context().peer().is_none() => {
                self.event(MscEvent::Unexpected {
                    packet_type: other.packet_type(),
                });
            }
            Packet::Reset => {
                if connected {
                    self.bot.usb_reset();
                    self.scsi.reset();
                    self.cancel_pending_in();
                    self.event(MscEvent::Reset);
                }
            }
            Packet::SetConfiguration { configuration } => {
                let status = if !connected {
                    status::IOERROR
                } else if configuration <= 1 {
                    self.set_configuration(configuration);
                    self.send_device_info();
                    status::SUCCESS
                } else {
                    status::STALL
                };
                let configuration = self.configuration;
                self.send(id, &Packet::ConfigurationStatus { status, configuration });
            }
            Packet::GetConfiguration => {
                let configuration = self.configuration;
                let status = st(status::SUCCESS);
                self.send(id, &Packet::ConfigurationStatus { status, configuration });
            }
            Packet::SetAltSetting { interface, alt } => {
                let (status, alt) = match (connected, interface == 0 && self.configuration == 1, alt) {
                    (false, ..) => (status::IOERROR, 255),
                    (true, false, _) => (status::INVAL, 255),
                    (true, true, 0) => {
                        self.send_device_info();
                        (status::SUCCESS, 0)
                    }
                    (true, true, _) => (status::STALL, 0),
                };
                self.send(id, &Packet::AltSettingStatus { status, interface, alt });
            }
            Packet::GetAltSetting { interface } => {
                let (status, alt) = match (connected, interface == 0 && self.configuration == 1) {
                    (false, _) => (status::IOERROR, 255),
                    (true, false) => (status::INVAL, 255),
                    (true, true) => (status::SUCCESS, 0),
                };
                self.send(id, &Packet::AltSettingStatus { status, interface, alt });
            }
            // No iso, interrupt or stream-capable endpoints.
            Packet::StartIsoStream { endpoint, .. } | Packet::StopIsoStream { endpoint } => {
                let status = st(status::INVAL);
                self.send(id, &Packet::IsoStreamStatus { status, endpoint });
            }
            Packet::StartInterruptReceiving { endpoint } | Packet::StopInterruptReceiving { endpoint } => {
                let status = st(status::INVAL);
                self.send(id, &Packet::InterruptReceivingStatus { status, endpoint });
            }
            Packet::AllocBulkStreams { endpoints, no_streams } => {
                let status = st(status::INVAL);
                let p = Packet::BulkStreamsStatus {
                    endpoints,
                    no_streams,
                    status,
                };
                self.send(id, &p);
            }
            Packet::FreeBulkStreams { endpoints } => {
                let status = st(status::INVAL);
                let p = Packet::BulkStreamsStatus {
                    endpoints,
                    no_streams: 0,
                    status,
                };
                self.send(id, &p);
            }
            Packet::CancelDataPacket => {
                if let Some(i) = self.pending_in.iter().position(|p| p.id == id)
                    && let Some(p) = self.pending_in.remove(i)
                {
                    self.reply_in(p, status::CANCELLED, Vec::new());
                }
            }
            Packet::FilterReject => {
                if self.state != MscState::Released {
                    self.cancel_pending_in();
                    self.released(MscEvent::FilterRejected);
                }
            }
            Packet::FilterFilter { filter } => {
                self.event(MscEvent::PeerFilter(String::from_utf8_lossy(&filter).into_owned()));
            }
            Packet::DeviceDisconnectAck => {
                if self.state == MscState::Disconnecting {
                    self.released(MscEvent::Disconnected);
                } else {
                    self.event(MscEvent::Unexpected {
                        packet_type: Packet::DeviceDisconnectAck.packet_type(),
                    });
                }
            }
            Packet::Control(c) => self.handle_control(id, c, connected),
            Packet::Bulk(b) => self.handle_bulk(id, b, connected),
            Packet::Interrupt(p) => {
                let status = st(status::INVAL);
                let reply = DataPacket {
                    endpoint: p.endpoint,
                    status,
                    length: 0,
                    data: Vec::new(),
                };
                self.send(id, &Packet::Interrupt(reply));
            }
            other => self.event(MscEvent::Unexpected {
                packet_type: other.packet_type(),
            }),
        }
    }

    fn handle_control(&mut self, id: u64, c: ControlPacket, connected: bool) {
        let (status, data) = if connected {
            self.control_request(c.requesttype, c.request, c.value, c.index)
        } else {
            (status::IOERROR, Vec::new())
        };
        let in_dir = c.requesttype & 0x80 != 0;
        let (length, data) = match (status, in_dir) {
            (status::SUCCESS, true) => {
                let mut data = data;
                data.truncate(usize::from(c.length));
                (u16::try_from(data.len()).unwrap_or(0), data)
            }
            (status::SUCCESS, false) => (u16::try_from(c.data.len()).unwrap_or(c.length), Vec::new()),
            _ => (0, Vec::new()),
        };
        let reply = ControlPacket {
            status,
            length,
            data,
            ..c
        };
        self.send(id, &Packet::Control(reply));
    }

    fn handle_bulk(&mut self, id: u64, b: BulkPacket, connected: bool) {
        let valid = connected && self.configuration == 1;
        match b.endpoint {
            EP_OUT if valid => {
                let reply = self.bot.bulk_out(&b.data, &mut self.scsi, &mut self.store);
                let (status, length) = match reply {
                    OutReply::Accepted => (status::SUCCESS, u32::try_from(b.data.len()).unwrap_or(0)),
                    OutReply::Stall => (status::STALL, 0),
                };
                let p = BulkPacket {
                    endpoint: EP_OUT,
                    status,
                    length,
                    stream_id: b.stream_id,
                    data: Vec::new(),
                };
                self.send(id, &Packet::Bulk(p));
                self.serve_pending_in();
            }
            EP_IN if valid => {
                let req = PendingIn {
                    id,
                    length: b.length,
                    stream_id: b.stream_id,
                };
                if self.pending_in.len() >= MAX_PENDING_IN {
                    self.reply_in(req, status::IOERROR, Vec::new());
                } else {
                    self.pending_in.push_back(req);
                    self.serve_pending_in();
                }
            }
            endpoint => {
                let status = if connected { status::INVAL } else { status::IOERROR };
                let p = BulkPacket {
                    endpoint,
                    status,
                    length: 0,
                    stream_id: b.stream_id,
                    data: Vec::new(),
                };
                self.send(id, &Packet::Bulk(p));
            }
        }
    }

    /// Answers waiting bulk IN requests, in order, while the device has something for them.
    fn serve_pending_in(&mut self) {
        while let Some(&req) = self.pending_in.front() {
            let Some(reply) = self.bot.bulk_in(req.length, &mut self.scsi, &mut self.store) else {
                return;
            };
            self.pending_in.pop_front();
            match reply {
                InReply::Data(data) => self.reply_in(req, status::SUCCESS, data),
                InReply::Stall => self.reply_in(req, status::STALL, Vec::new()),
                InReply::Babble => self.reply_in(req, status::BABBLE, Vec::new()),
            }
        }
    }

    fn cancel_pending_in(&mut self) {
        while let Some(req) = self.pending_in.pop_front() {
            self.reply_in(req, status::CANCELLED, Vec::new());
        }
    }

    fn reply_in(&mut self, req: PendingIn, status: u8, data: Vec<u8>) {
        let p = BulkPacket {
            endpoint: EP_IN,
            status,
            length: u32::try_from(data.len()).unwrap_or(0),
            stream_id: req.stream_id,
            data,
        };
        self.send(req.id, &Packet::Bulk(p));
    }
}
