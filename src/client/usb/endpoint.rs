//! The usbredir [`VmcEndpoint`] of one channel: our hello when the channel
//! links, the guest's hello kept, then every packet from the guest whole to
//! the device attached when the packet started (or read and dropped when
//! none is: a late packet of a device just unplugged, the guest's
//! `filter_filter`), and the device's packets back.
//!
//! Bounds: nothing is buffered but the packet header ([`Framer`]) and, with
//! no device attached, one packet of at most [`IDLE_PACKET_MAX`] bytes
//! (larger ones are counted through). A stream whose framing breaks (a
//! length beyond the protocol's) cannot be trusted again: the device is
//! released and every later byte dropped.

use std::sync::Arc;

use super::device::{DeviceNews, RedirDevice};
use super::manager::{ChannelSlot, Command, UsbManager};
use super::{UsbDeviceId, policy};
use crate::channel::vmc::{Accept, VmcEndpoint, VmcOut};
use crate::channel::{Ctx, Outputs};
use crate::usbredir::filter::{self, Rule};
use crate::usbredir::framer::Framer;
use crate::usbredir::proto::{Cap, Caps, Context, Hello, Packet, Parser, Role};

/// Largest packet kept whole while no device is attached (a hello, a filter).
pub const IDLE_PACKET_MAX: u32 = 64 * 1024;

/// Where the packet in progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Device,
    Collect,
    Skip,
}

struct Attached {
    id: UsbDeviceId,
    dev: Box<dyn RedirDevice>,
    released: bool,
}

/// See the module documentation.
pub(crate) struct UsbEndpoint {
    slot: Arc<ChannelSlot>,
    manager: Arc<UsbManager>,
    caps: Caps,
    version: String,
    hello_sent: bool,
    framer: Framer,
    /// The guest's hello as received, given to each device that starts.
    peer_hello: Option<Vec<u8>>,
    /// Parses whole packets received while no device is attached.
    idle: Parser,
    route: Route,
    collected: Vec<u8>,
    /// A device waiting for the guest's hello.
    waiting: Option<(UsbDeviceId, Box<dyn RedirDevice>)>,
    device: Option<Attached>,
    guest_filter: Option<Vec<Rule>>,
    out: Vec<VmcOut>,
    broken: bool,
}

impl UsbEndpoint {
    pub(crate) fn new(slot: Arc<ChannelSlot>, manager: Arc<UsbManager>, caps: Caps) -> Self {
        Self {
            slot,
            manager,
            caps,
            version: concat!("sumac ", env!("CARGO_PKG_VERSION")).into(),
            hello_sent: false,
            framer: Framer::new(),
            peer_hello: None,
            idle: Parser::new(Role::Host, caps),
            route: Route::Collect,
            collected: Vec::new(),
            waiting: None,
            device: None,
            guest_filter: None,
            out: Vec::new(),
            broken: false,
        }
    }

    fn key(&self) -> crate::proto::ChannelKey {
        self.slot.key
    }

    /// Sends the device's packets and reports its news.
    fn pump_device(&mut self) {
        let Some(a) = &mut self.device else {
            return;
        };
        while let Some(p) = a.dev.pop_output() {
            self.out.push(VmcOut::Data(p));
        }
        while let Some(news) = a.dev.poll() {
            if let DeviceNews::Released { .. } = news {
                a.released = true;
            }
            let id = a.id;
            self.manager.device_news(self.slot.key, id, news);
        }
        self.drop_released();
    }

    /// Drops a released device once no packet in progress is its.
    fn drop_released(&mut self) {
        let done = self
            .device
            .as_ref()
            .is_some_and(|a| a.released && (self.framer.at_boundary() || self.route != Route::Device));
        if done && let Some(a) = self.device.take() {
            tracing::info!(channel = %self.slot.key, id = %a.id, "USB device released");
        }
    }

    fn release_now(&mut self, error: &str) {
        if let Some(a) = self.device.take()
            && !a.released
        {
            self.manager.device_news(
                self.slot.key,
                a.id,
                DeviceNews::Released {
                    error: Some(error.to_owned()),
                },
            );
        }
        if let Some((id, _)) = self.waiting.take() {
            self.manager.device_news(
                self.slot.key,
                id,
                DeviceNews::Released {
                    error: Some(error.to_owned()),
                },
            );
        }
    }

    fn commands(&mut self) {
        while let Some(cmd) = self.slot.take_command() {
            match cmd {
                Command::Attach(id, dev) => {
                    if self.broken {
                        self.manager.device_news(
                            self.slot.key,
                            id,
                            DeviceNews::Released {
                                error: Some("the USB redirection stream is broken".into()),
                            },
                        );
                    } else if self.device.is_some() || self.waiting.is_some() {
                        // The manager gives a channel one device at a time; never here.
                        tracing::warn!(channel = %self.slot.key, %id, "a second device for a busy channel");
                        self.manager.device_news(
                            self.slot.key,
                            id,
                            DeviceNews::Released {
                                error: Some("the channel is busy".into()),
                            },
                        );
                    } else {
                        self.waiting = Some((id, dev));
                    }
                }
                Command::Detach => {
                    if let Some((id, _)) = self.waiting.take() {
                        self.manager
                            .device_news(self.slot.key, id, DeviceNews::Released { error: None });
                    }
                    if let Some(a) = &mut self.device {
                        a.dev.unplug();
                    }
                }
            }
        }
        self.start_waiting();
        self.pump_device();
    }

    /// Starts the waiting device once the guest's hello is in.
    fn start_waiting(&mut self) {
        let Some(hello) = &self.peer_hello else {
            return;
        };
        let Some((id, mut dev)) = self.waiting.take() else {
            return;
        };
        let view = dev.filter_view();
        if !policy::guest_allows(self.guest_filter.as_deref(), &view) {
            self.manager.device_news(
                self.slot.key,
                id,
                DeviceNews::Released {
                    error: Some("the virtual machine's USB filter refuses this device".into()),
                },
            );
            return;
        }
        dev.start(hello);
        tracing::info!(channel = %self.slot.key, %id, "USB device attached to the channel");
        self.device = Some(Attached {
            id,
            dev,
            released: false,
        });
    }

    /// A whole packet received while no device was attached.
    fn idle_packet(&mut self, packet: Vec<u8>) {
        let mut rest = packet.as_slice();
        while !rest.is_empty() {
            let parsed = self.idle.parse(rest);
            rest = rest.get(parsed.consumed..).unwrap_or_default();
            match parsed.item {
                Some(Ok(r)) => match r.packet {
                    Packet::Hello(h) if self.peer_hello.is_none() => {
                        tracing::info!(
                            channel = %self.slot.key,
                            version = %String::from_utf8_lossy(&h.version),
                            caps = h.caps.0,
                            "usbredir peer hello"
                        );
                        self.framer.set_ids64(self.idle.context().both(Cap::Ids64));
                        self.peer_hello = Some(packet.clone());
                    }
                    Packet::FilterFilter { .. } => {
                        let text = r.packet.filter_str().unwrap_or_default().into_owned();
                        match filter::parse_with(text.trim_end_matches('\0'), ",", "|") {
                            Ok(rules) => self.guest_filter = Some(rules),
                            Err(e) => tracing::warn!(channel = %self.slot.key, error = %e, "unusable guest USB filter"),
                        }
                    }
                    other => {
                        tracing::debug!(channel = %self.slot.key, packet = ?other.packet_type(), "usbredir packet for no device")
                    }
                },
                Some(Err(e)) => tracing::debug!(channel = %self.slot.key, error = %e, "usbredir packet rejected"),
                None if parsed.consumed == 0 => break,
                None => {}
            }
        }
    }

    fn feed_device(&mut self, mut piece: &[u8]) {
        let Some(a) = &mut self.device else {
            return;
        };
        while !piece.is_empty() {
            let used = a.dev.feed(piece);
            piece = piece.get(used..).unwrap_or_default();
            let mut drained = false;
            while let Some(p) = a.dev.pop_output() {
                drained = true;
                self.out.push(VmcOut::Data(p));
            }
            if used == 0 && !drained {
                // Cannot happen with a device that drains; never spin.
                tracing::warn!(channel = %self.slot.key, "USB device took no input");
                break;
            }
        }
    }
}

impl VmcEndpoint for UsbEndpoint {
    fn received(&mut self, data: &[u8], _out: &mut Outputs) -> Accept {
        if self.broken {
            return Accept::Taken;
        }
        let mut rest = data;
        while !rest.is_empty() {
            let chunk = match self.framer.next(rest) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(channel = %self.key(), error = %e, "usbredir stream broken; the device is released");
                    self.broken = true;
                    self.release_now("the virtual machine sent an invalid USB redirection packet");
                    return Accept::Taken;
                }
            };
            let (piece, after) = rest.split_at(chunk.len.min(rest.len()));
            rest = after;
            if chunk.starts {
                self.drop_released();
                self.route = if self.peer_hello.is_some() && self.device.as_ref().is_some_and(|a| !a.released) {
                    Route::Device
                } else {
                    self.collected.clear();
                    Route::Collect
                };
            }
            if let Some(h) = chunk.head
                && self.route == Route::Collect
                && h.length > IDLE_PACKET_MAX
            {
                tracing::debug!(channel = %self.key(), len = h.length, ty = h.packet_type, "large usbredir packet for no device skipped");
                self.collected = Vec::new();
                self.route = Route::Skip;
            }
            match self.route {
                Route::Device => self.feed_device(piece),
                Route::Collect => self.collected.extend_from_slice(piece),
                Route::Skip => {}
            }
            if chunk.ends {
                if self.route == Route::Collect {
                    let packet = std::mem::take(&mut self.collected);
                    self.idle_packet(packet);
                    self.start_waiting();
                }
                self.pump_device();
            }
        }
        self.pump_device();
        Accept::Taken
    }

    fn outgoing(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Vec<VmcOut> {
        if !self.hello_sent {
            self.hello_sent = true;
            let ctx = Context::new(Role::Host, self.caps);
            match ctx.encode(0, &Packet::Hello(Hello::new(&self.version, self.caps))) {
                Ok(h) => self.out.push(VmcOut::Data(h)),
                Err(e) => tracing::warn!(error = %e, "usbredir hello"),
            }
        }
        self.commands();
        std::mem::take(&mut self.out)
    }

    fn no_compression(&self) -> bool {
        self.device.as_ref().is_some_and(|a| a.dev.isochronous())
    }

    fn closed(&mut self) {
        if let Some(a) = self.device.take()
            && !a.released
        {
            tracing::info!(channel = %self.slot.key, id = %a.id, "usbredir channel closed with a device attached");
        }
        self.waiting = None;
        self.manager.channel_closed(self.slot.key);
    }
}
