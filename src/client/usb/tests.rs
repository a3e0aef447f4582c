//! The manager, the policy and the endpoint over a scripted usb-guest (what
//! QEMU's usb-redir plays) and a fake list of physical devices.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::device::{DeviceNews, FilterView, RedirDevice};
use super::endpoint::UsbEndpoint;
use super::policy::{HotplugSink, PhysicalInfo, UsbBackend, UsbPolicy};
use super::*;
use crate::channel::vmc::{Accept, VmcEndpoint, VmcOut};
use crate::channel::{Ctx, Outputs};
use crate::client::events::SessionEvent;
use crate::proto::{ChannelKey, ChannelType};
use crate::usbredir::filter;
use crate::usbredir::proto::{
    BulkPacket, Cap, Caps, ControlPacket, InterfaceEntry, Packet, Parser, Received, Role, packet_type,
};

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

fn ctx() -> Ctx {
    Ctx::new(std::time::Instant::now(), 0)
}

fn key(id: u8) -> ChannelKey {
    ChannelKey::new(ChannelType::USBREDIR, id)
}

/// The guest side of one channel.
struct Guest {
    parser: Parser,
    next_id: u64,
}

impl Guest {
    fn new() -> Self {
        Self {
            parser: Parser::new(Role::Guest, qemu_caps()),
            next_id: 1,
        }
    }

    fn encode(&mut self, packet: &Packet) -> Vec<u8> {
        self.next_id += 1;
        self.parser.encode(self.next_id, packet).unwrap()
    }

    fn send(&mut self, ep: &mut UsbEndpoint, packet: &Packet) {
        let bytes = self.encode(packet);
        assert_eq!(ep.received(&bytes, &mut Outputs::new()), Accept::Taken);
    }

    /// Everything the endpoint has to send, decoded.
    fn recv(&mut self, ep: &mut UsbEndpoint) -> Vec<Received> {
        let mut got = Vec::new();
        for o in ep.outgoing(&ctx(), &mut Outputs::new()) {
            let VmcOut::Data(bytes) = o else { panic!("{o:?}") };
            self.parser.parse_all(&bytes, |r| got.push(r.unwrap()));
        }
        assert!(self.parser.is_idle());
        got
    }

    fn types(&mut self, ep: &mut UsbEndpoint) -> Vec<u32> {
        self.recv(ep).iter().map(|r| r.packet.packet_type()).collect()
    }

    /// Link: both hellos.
    fn link(&mut self, ep: &mut UsbEndpoint) {
        let hello = self.recv(ep);
        assert!(
            matches!(hello[0].packet, Packet::Hello(ref h) if h.caps == channel_caps()),
            "{hello:?}"
        );
        let ours = Packet::Hello(crate::usbredir::proto::Hello::new(
            "qemu usb-redir guest 9.2",
            qemu_caps(),
        ));
        self.send(ep, &ours);
    }
}

struct Rig {
    manager: Arc<UsbManager>,
    events: mpsc::UnboundedReceiver<SessionEvent>,
}

impl Rig {
    fn new(options: UsbOptions) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        Self {
            manager: UsbManager::new(&options, tx),
            events,
        }
    }

    fn handle(&self) -> UsbHandle {
        UsbHandle::new(Arc::clone(&self.manager))
    }

    fn channel(&self, id: u8) -> UsbEndpoint {
        let slot = self.manager.add_channel(key(id));
        UsbEndpoint::new(slot, Arc::clone(&self.manager), channel_caps())
    }

    fn usb_events(&mut self) -> Vec<UsbEvent> {
        let mut v = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            if let SessionEvent::Usb(u) = e {
                v.push(u);
            }
        }
        v
    }
}

fn image(blocks: usize) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), vec![0x5a; blocks * 512]).unwrap();
    f
}

#[test]
fn a_disk_connects_after_the_hellos_and_unplugs_cleanly() {
    let mut rig = Rig::new(UsbOptions::default());
    let mut ep = rig.channel(0);
    let mut g = Guest::new();
    g.link(&mut ep);
    let img = image(16);
    let h = rig.handle();
    let id = h.add_disk(img.path(), false).unwrap();
    assert_eq!(h.channels(), (1, 1));
    h.connect(id).unwrap();
    assert!(matches!(h.device(id).unwrap().state, UsbDeviceState::Connecting { .. }));
    assert_eq!(h.channels(), (0, 1));
    // The channel takes the device: interface and endpoint info, then device_connect; no second hello.
    assert_eq!(
        g.types(&mut ep),
        vec![
            packet_type::INTERFACE_INFO,
            packet_type::EP_INFO,
            packet_type::DEVICE_CONNECT
        ]
    );
    assert_eq!(
        h.device(id).unwrap().state,
        UsbDeviceState::Connected { channel: key(0) }
    );
    // The device answers the guest (GET_DESCRIPTOR device).
    g.send(
        &mut ep,
        &Packet::Control(ControlPacket {
            endpoint: 0x80,
            request: 6,
            requesttype: 0x80,
            value: 0x0100,
            index: 0,
            length: 18,
            ..Default::default()
        }),
    );
    let r = g.recv(&mut ep);
    let Packet::Control(c) = &r[0].packet else {
        panic!("{r:?}")
    };
    assert_eq!(c.data.len(), 18);
    // A second connect is refused.
    assert!(matches!(h.connect(id), Err(UsbError::AlreadyConnected)));
    // Unplug: device_disconnect, the guest acks, the channel is free again.
    h.disconnect(id).unwrap();
    assert_eq!(g.types(&mut ep), vec![packet_type::DEVICE_DISCONNECT]);
    assert_eq!(
        h.device(id).unwrap().state,
        UsbDeviceState::Disconnecting { channel: key(0) }
    );
    g.send(&mut ep, &Packet::DeviceDisconnectAck);
    assert_eq!(h.device(id).unwrap().state, UsbDeviceState::Idle);
    assert_eq!(h.channels(), (1, 1));
    // Late packets for the gone device are read and dropped.
    g.send(&mut ep, &Packet::Reset);
    assert!(g.recv(&mut ep).is_empty());
    // Connect again on the same channel: the same packets, the guest's hello reused.
    h.connect(id).unwrap();
    assert_eq!(g.types(&mut ep).last(), Some(&packet_type::DEVICE_CONNECT));
    let events = rig.usb_events();
    assert!(events.iter().any(|e| matches!(e, UsbEvent::Added(i) if i.id == id)));
    assert!(events.contains(&UsbEvent::Channels { free: 0, total: 1 }));
    // Removing a connected disk unplugs it first.
    h.remove(id).unwrap();
    assert_eq!(g.types(&mut ep), vec![packet_type::DEVICE_DISCONNECT]);
    assert!(h.device(id).is_some());
    g.send(&mut ep, &Packet::DeviceDisconnectAck);
    assert!(h.device(id).is_none());
    assert!(rig.usb_events().contains(&UsbEvent::Removed(id)));
}

#[test]
fn a_device_given_before_the_guest_hello_waits_for_it() {
    let rig = Rig::new(UsbOptions::default());
    let mut ep = rig.channel(0);
    let mut g = Guest::new();
    let img = image(4);
    let h = rig.handle();
    let id = h.add_disk(img.path(), true).unwrap();
    h.connect(id).unwrap();
    // Our hello only.
    assert_eq!(g.types(&mut ep), vec![packet_type::HELLO]);
    let hello = g.encode(&Packet::Hello(crate::usbredir::proto::Hello::new("q", qemu_caps())));
    // In pieces of 5 bytes.
    for piece in hello.chunks(5) {
        ep.received(piece, &mut Outputs::new());
    }
    assert_eq!(g.types(&mut ep).last(), Some(&packet_type::DEVICE_CONNECT));
    assert!(matches!(h.device(id).unwrap().state, UsbDeviceState::Connected { .. }));
}

#[test]
fn start_up_disks_take_free_channels_and_wait_for_more() {
    let (a, b, c) = (image(4), image(4), image(4));
    let options = UsbOptions {
        disks: [&a, &b, &c]
            .iter()
            .map(|f| UsbDisk {
                path: f.path().to_owned(),
                read_only: false,
            })
            .collect(),
        ..UsbOptions::default()
    };
    let rig = Rig::new(options);
    let h = rig.handle();
    assert_eq!(h.devices().len(), 3);
    let mut ep0 = rig.channel(0);
    let mut ep1 = rig.channel(1);
    let states: Vec<_> = h.devices().iter().map(|d| d.state.channel()).collect();
    assert_eq!(states, vec![Some(key(0)), Some(key(1)), None]);
    assert_eq!(h.channels(), (0, 2));
    // No channel left: a manual connect says so.
    let third = h.devices()[2].id;
    assert!(matches!(h.connect(third), Err(UsbError::NoFreeChannel { total: 2 })));
    assert!(matches!(h.device(third).unwrap().state, UsbDeviceState::Failed { .. }));
    let (mut g0, mut g1) = (Guest::new(), Guest::new());
    g0.link(&mut ep0);
    g1.link(&mut ep1);
    assert_eq!(g0.types(&mut ep0).last(), Some(&packet_type::DEVICE_CONNECT));
    assert_eq!(g1.types(&mut ep1).last(), Some(&packet_type::DEVICE_CONNECT));
}

#[test]
fn a_bad_image_is_refused_with_its_path() {
    let rig = Rig::new(UsbOptions::default());
    let h = rig.handle();
    let e = h.add_disk("/nonexistent/disk.img", false).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/disk.img"), "{e}");
    let empty = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        h.add_disk(empty.path(), false),
        Err(UsbError::EmptyImage { .. })
    ));
    let off = Rig::new(UsbOptions {
        enabled: false,
        ..UsbOptions::default()
    });
    assert!(matches!(
        off.handle().add_disk(empty.path(), false),
        Err(UsbError::Disabled)
    ));
}

#[test]
fn the_guest_filter_can_refuse_a_device() {
    let rig = Rig::new(UsbOptions::default());
    let mut ep = rig.channel(0);
    let mut g = Guest::new();
    g.link(&mut ep);
    // QEMU's usb-redir filter: no mass storage.
    let filter = b"0x08,-1,-1,-1,0|-1,-1,-1,-1,1".to_vec();
    g.send(&mut ep, &Packet::FilterFilter { filter });
    let img = image(4);
    let h = rig.handle();
    let id = h.add_disk(img.path(), false).unwrap();
    h.connect(id).unwrap();
    assert!(g.recv(&mut ep).is_empty());
    let UsbDeviceState::Failed { error } = h.device(id).unwrap().state else {
        panic!()
    };
    assert!(error.contains("filter"), "{error}");
    assert_eq!(h.channels(), (1, 1));
}

// ---- hostile streams ----

fn raw(ty: u32, len: u32, id: u64) -> Vec<u8> {
    let mut v = ty.to_le_bytes().to_vec();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&id.to_le_bytes());
    v
}

#[test]
fn a_lying_length_releases_the_device_and_silences_the_channel() {
    let rig = Rig::new(UsbOptions::default());
    let mut ep = rig.channel(0);
    let mut g = Guest::new();
    g.link(&mut ep);
    let img = image(4);
    let h = rig.handle();
    let id = h.add_disk(img.path(), false).unwrap();
    h.connect(id).unwrap();
    g.recv(&mut ep);
    ep.received(&raw(101, u32::MAX, 7), &mut Outputs::new());
    let UsbDeviceState::Failed { error } = h.device(id).unwrap().state else {
        panic!()
    };
    assert!(error.contains("invalid"), "{error}");
    assert_eq!(h.channels(), (1, 1));
    // Everything after is dropped; a new device on this channel fails at once.
    ep.received(&[0; 100], &mut Outputs::new());
    h.connect(id).unwrap();
    assert!(g.recv(&mut ep).is_empty());
    assert!(matches!(h.device(id).unwrap().state, UsbDeviceState::Failed { .. }));
}

#[test]
fn unknown_types_and_huge_packets_for_no_device_are_counted_through() {
    let rig = Rig::new(UsbOptions::default());
    let mut ep = rig.channel(0);
    let mut g = Guest::new();
    g.link(&mut ep);
    // Unknown type with a body.
    let mut p = raw(9999, 5, 1);
    p.extend_from_slice(b"hello");
    ep.received(&p, &mut Outputs::new());
    // A bulk packet of 128 MiB for no device: never stored.
    let mut big = raw(101, crate::usbredir::proto::MAX_PACKET_SIZE, 2);
    big.extend_from_slice(&[0; 16]);
    ep.received(&big, &mut Outputs::new());
    let chunk = vec![0u8; 1 << 20];
    let mut left = u64::from(crate::usbredir::proto::MAX_PACKET_SIZE) - 16;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        ep.received(&chunk[..n], &mut Outputs::new());
        left -= n as u64;
    }
    // Still in sync: a disk connects and answers.
    let img = image(4);
    let h = rig.handle();
    let id = h.add_disk(img.path(), false).unwrap();
    h.connect(id).unwrap();
    assert_eq!(g.types(&mut ep).last(), Some(&packet_type::DEVICE_CONNECT));
}

#[test]
fn interleaved_ids_and_a_disconnect_mid_transfer_release_the_device() {
    let rig = Rig::new(UsbOptions::default());
    let mut ep = rig.channel(0);
    let mut g = Guest::new();
    g.link(&mut ep);
    let img = image(64);
    let h = rig.handle();
    let id = h.add_disk(img.path(), false).unwrap();
    h.connect(id).unwrap();
    g.recv(&mut ep);
    // Bulk IN requests with ids out of order, then a bulk OUT whose body is cut by the unplug.
    for bid in [90u64, 3, 1 << 40] {
        let bytes = g
            .parser
            .encode(
                bid,
                &Packet::Bulk(BulkPacket {
                    endpoint: 0x81,
                    length: 512,
                    ..Default::default()
                }),
            )
            .unwrap();
        ep.received(&bytes, &mut Outputs::new());
    }
    let out = g.encode(&Packet::Bulk(BulkPacket {
        endpoint: 0x02,
        length: 4096,
        data: vec![1; 4096],
        ..Default::default()
    }));
    ep.received(&out[..100], &mut Outputs::new());
    h.disconnect(id).unwrap();
    let sent = g.recv(&mut ep);
    // Pending IN requests are cancelled, then device_disconnect.
    assert_eq!(
        sent.last().unwrap().packet.packet_type(),
        packet_type::DEVICE_DISCONNECT
    );
    ep.received(&out[100..], &mut Outputs::new());
    g.send(&mut ep, &Packet::DeviceDisconnectAck);
    g.recv(&mut ep);
    assert_eq!(h.device(id).unwrap().state, UsbDeviceState::Idle);
    assert_eq!(h.channels(), (1, 1));
    // The channel closing with a device attached frees it too.
    h.connect(id).unwrap();
    g.recv(&mut ep);
    ep.closed();
    assert!(matches!(h.device(id).unwrap().state, UsbDeviceState::Failed { .. }));
    assert_eq!(h.channels(), (0, 0));
}

// ---- physical devices through a fake backend ----

fn view(class: u8, vendor: u16, product: u16, ifaces: &[u8]) -> FilterView {
    FilterView {
        class,
        subclass: 0,
        protocol: 0,
        vendor,
        product,
        version_bcd: 0x0100,
        interfaces: ifaces
            .iter()
            .enumerate()
            .map(|(n, &c)| InterfaceEntry {
                number: n as u8,
                class: c,
                subclass: 1,
                protocol: 1,
            })
            .collect(),
    }
}

fn phys(bus: u8, address: u8, name: &str, v: FilterView) -> PhysicalInfo {
    PhysicalInfo {
        bus,
        address,
        name: name.into(),
        view: v,
        isochronous: false,
    }
}

/// A physical device that connects at once.
struct FakeDevice {
    unplugged: bool,
    view: FilterView,
    news: Vec<DeviceNews>,
}

impl RedirDevice for FakeDevice {
    fn start(&mut self, _peer_hello: &[u8]) {
        self.news.push(DeviceNews::Connected);
    }
    fn feed(&mut self, data: &[u8]) -> usize {
        data.len()
    }
    fn pop_output(&mut self) -> Option<Vec<u8>> {
        None
    }
    fn poll(&mut self) -> Option<DeviceNews> {
        (!self.news.is_empty()).then(|| self.news.remove(0))
    }
    fn unplug(&mut self) {
        if !self.unplugged {
            self.unplugged = true;
            self.news.push(DeviceNews::Released { error: None });
        }
    }
    fn filter_view(&self) -> FilterView {
        self.view.clone()
    }
}

#[derive(Default)]
struct FakeBackend {
    present: Vec<PhysicalInfo>,
    sink: Mutex<Option<Arc<dyn HotplugSink>>>,
    opened: Mutex<Vec<(u8, u8)>>,
    /// Devices whose open fails with this text.
    refuse: Vec<(u8, u8, String)>,
}

impl UsbBackend for FakeBackend {
    fn devices(&self) -> Vec<PhysicalInfo> {
        self.present.clone()
    }
    fn open(
        &self,
        d: &PhysicalInfo,
        caps: Caps,
        _wake: Arc<tokio::sync::Notify>,
    ) -> Result<Box<dyn RedirDevice>, UsbError> {
        assert_eq!(caps, channel_caps());
        if let Some((_, _, e)) = self.refuse.iter().find(|(b, a, _)| (*b, *a) == (d.bus, d.address)) {
            return Err(UsbError::Physical(e.clone()));
        }
        self.opened.lock().unwrap().push((d.bus, d.address));
        Ok(Box::new(FakeDevice {
            unplugged: false,
            view: d.view.clone(),
            news: Vec::new(),
        }))
    }
    fn watch(&self, sink: Arc<dyn HotplugSink>) {
        *self.sink.lock().unwrap() = Some(sink);
    }
}

impl FakeBackend {
    fn sink(&self) -> Arc<dyn HotplugSink> {
        self.sink.lock().unwrap().clone().expect("watch was called")
    }
}

#[test]
fn redirect_on_connect_takes_the_devices_its_filter_allows() {
    let backend = Arc::new(FakeBackend {
        present: vec![
            phys(1, 2, "Keyboard", view(0, 0x046d, 0xc31c, &[0x03])),
            phys(1, 3, "Stick", view(0, 0x0781, 0x5567, &[0x08])),
            phys(1, 4, "Other stick", view(0, 0x1234, 0x0001, &[0x08])),
        ],
        ..FakeBackend::default()
    });
    let options = UsbOptions {
        policy: UsbPolicy::from_strings(false, None, Some("-1,0x0781,-1,-1,1|-1,-1,-1,-1,0")).unwrap(),
        backend: Some(Arc::clone(&backend) as Arc<dyn UsbBackend>),
        ..UsbOptions::default()
    };
    let rig = Rig::new(options);
    let h = rig.handle();
    // Enumeration starts with the first channel.
    assert!(h.devices().is_empty());
    let mut ep0 = rig.channel(0);
    let _ep1 = rig.channel(1);
    assert_eq!(h.devices().len(), 3);
    assert_eq!(*backend.opened.lock().unwrap(), vec![(1, 3)]);
    let mut g = Guest::new();
    g.link(&mut ep0);
    let stick = h.devices().into_iter().find(|d| d.name == "Stick").unwrap();
    assert_eq!(stick.state, UsbDeviceState::Connected { channel: key(0) });
    assert_eq!(stick.label(), "Stick (0781:5567)");
    // Hotplug with auto-connect off: listed, not connected.
    backend
        .sink()
        .added(phys(2, 9, "Camera", view(0xef, 0x0c45, 0x6366, &[0x0e, 0x01])));
    let cam = h.devices().into_iter().find(|d| d.name == "Camera").unwrap();
    assert_eq!(cam.state, UsbDeviceState::Idle);
    // Unplugging the stick while redirected: unplugged from the guest, then gone from the list.
    backend.sink().removed(1, 3);
    g.recv(&mut ep0);
    assert!(h.device(stick.id).is_none());
    assert_eq!(h.channels(), (2, 2));
}

#[test]
fn auto_connect_follows_the_filter_and_reports_failures() {
    let backend = Arc::new(FakeBackend {
        refuse: vec![(3, 3, "permission denied on /dev/bus/usb/003/003".into())],
        ..FakeBackend::default()
    });
    let options = UsbOptions {
        policy: UsbPolicy::from_strings(true, None, None).unwrap(),
        backend: Some(Arc::clone(&backend) as Arc<dyn UsbBackend>),
        ..UsbOptions::default()
    };
    let mut rig = Rig::new(options);
    let h = rig.handle();
    let _ep = rig.channel(0);
    let sink = backend.sink();
    // The default filter: never HID.
    sink.added(phys(3, 1, "Mouse", view(0, 0x046d, 0xc077, &[0x03])));
    assert_eq!(h.devices()[0].state, UsbDeviceState::Idle);
    // A composite device whose non-boot HID interface is skipped by the filter: allowed.
    let mut headset = view(0, 0x0d8c, 0x0014, &[0x01, 0x01, 0x03]);
    headset.interfaces[2].subclass = 0;
    headset.interfaces[2].protocol = 0;
    sink.added(phys(3, 2, "Headset", headset));
    assert!(h.devices()[1].state.is_active());
    // No free channel left: the next one fails with a reason.
    sink.added(phys(3, 4, "Stick", view(0, 0x0781, 0x5567, &[0x08])));
    let failed: Vec<_> = rig
        .usb_events()
        .into_iter()
        .filter_map(|e| match e {
            UsbEvent::AutoConnectFailed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("no free USB redirection channel"), "{failed:?}");
    // An open error reaches the device's state in words.
    let _ep1 = rig.channel(1);
    sink.added(phys(3, 3, "Locked", view(0, 0x1111, 0x2222, &[0x08])));
    let locked = h.devices().into_iter().find(|d| d.name == "Locked").unwrap();
    let UsbDeviceState::Failed { error } = locked.state else {
        panic!("{locked:?}")
    };
    assert!(error.contains("/dev/bus/usb/003/003"), "{error}");
    // Turning auto-connect off stops it.
    h.set_auto_connect(false);
    sink.added(phys(3, 5, "Stick 2", view(0, 0x0781, 0x5567, &[0x08])));
    assert_eq!(h.devices().last().unwrap().state, UsbDeviceState::Idle);
    // The same device reported twice is listed once.
    sink.added(phys(3, 5, "Stick 2", view(0, 0x0781, 0x5567, &[0x08])));
    assert_eq!(h.devices().len(), 5);
}

#[test]
fn policy_strings_parse_like_remote_viewer() {
    let p = UsbPolicy::from_strings(true, Some("0x08,-1,-1,-1,1|-1,-1,-1,-1,0"), None).unwrap();
    let stick = phys(1, 1, "s", view(0, 1, 2, &[0x08]));
    let hid = phys(1, 2, "k", view(0, 1, 3, &[0x03]));
    assert!(p.on_hotplug(&stick) && !p.on_hotplug(&hid));
    assert!(!p.on_start(&stick));
    assert!(UsbPolicy::from_strings(true, Some("garbage"), None).is_err());
    assert_eq!(
        UsbPolicy::default().auto_connect_filter,
        filter::parse(policy::DEFAULT_AUTO_CONNECT_FILTER).unwrap()
    );
    assert_eq!(
        "a.img,ro".parse::<UsbDisk>().unwrap(),
        UsbDisk {
            path: "a.img".into(),
            read_only: true
        }
    );
    assert!(!"a,b.img".parse::<UsbDisk>().unwrap().read_only);
    assert!(",ro".parse::<UsbDisk>().is_err());
}
