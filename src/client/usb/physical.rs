//! Physical devices (feature `usb`): libusb through `rusb` for enumeration
//! and hotplug, libusbredirhost through the `usbredirhost` crate for the
//! device side of usbredir (URBs, isochronous streams, bulk streams, kernel
//! driver detach on claim and re-attach on release).
//!
//! One libusb context per backend; its events (transfer completions,
//! hotplug) are handled on a thread of its own (`sumac-usb-events`), which
//! stops when the backend is dropped. A device's usbredirhost writes its
//! packets into a queue shared with the channel and wakes the channel's
//! inbox; the channel thread reads the guest's packets into it.
//!
//! The usbredirhost of a device is created when the device is connected and
//! sends a hello of its own: that one is dropped (the channel sent ours, with
//! the same caps, [`super::channel_caps`]) and the guest's recorded hello is
//! fed to it instead.
//!
//! Not tested here (no USB hardware in this environment): everything that
//! needs a real device. The enumeration code runs (no devices), the error
//! mapping is unit-tested (`open_error.rs`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusb::UsbContext;
use usbredirhost::DeviceHandler;

use super::UsbError;
use super::device::{DeviceNews, FilterView, RedirDevice};
use super::open_error::{OpenFailure, open_error};
use super::policy::{HotplugSink, PhysicalInfo, UsbBackend};
use crate::usbredir::proto::{Caps, InterfaceEntry};

/// Most bytes of guest data kept for usbredirhost to read.
const MAX_INPUT: usize = 256 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn failure(e: rusb::Error) -> OpenFailure {
    match e {
        rusb::Error::Access => OpenFailure::Access,
        rusb::Error::Busy => OpenFailure::Busy,
        rusb::Error::NoDevice | rusb::Error::NotFound => OpenFailure::Gone,
        other => OpenFailure::Other(other.to_string()),
    }
}

fn bcd(v: rusb::Version) -> u16 {
    let major = u16::from(v.major());
    ((major / 10) << 12) | ((major % 10) << 8) | (u16::from(v.minor() & 0xf) << 4) | u16::from(v.sub_minor() & 0xf)
}

/// What a filter sees, and whether the device has isochronous endpoints.
fn describe<T: UsbContext>(device: &rusb::Device<T>) -> Option<PhysicalInfo> {
    let d = device.device_descriptor().ok()?;
    // Hubs are never redirected.
    if d.class_code() == 0x09 {
        return None;
    }
    let mut interfaces = Vec::new();
    let mut isochronous = false;
    if let Ok(config) = device.active_config_descriptor() {
        for iface in config.interfaces() {
            for (alt, desc) in iface.descriptors().enumerate() {
                if alt == 0 {
                    interfaces.push(InterfaceEntry {
                        number: desc.interface_number(),
                        class: desc.class_code(),
                        subclass: desc.sub_class_code(),
                        protocol: desc.protocol_code(),
                    });
                }
                isochronous |= desc
                    .endpoint_descriptors()
                    .any(|e| e.transfer_type() == rusb::TransferType::Isochronous);
            }
        }
    }
    let (bus, address) = (device.bus_number(), device.address());
    let name =
        sysfs_product(device).unwrap_or_else(|| format!("USB device {:04x}:{:04x}", d.vendor_id(), d.product_id()));
    Some(PhysicalInfo {
        bus,
        address,
        name,
        view: FilterView {
            class: d.class_code(),
            subclass: d.sub_class_code(),
            protocol: d.protocol_code(),
            vendor: d.vendor_id(),
            product: d.product_id(),
            version_bcd: bcd(d.device_version()),
            interfaces,
        },
        isochronous,
    })
}

/// The product string from sysfs (readable without opening the device).
fn sysfs_product<T: UsbContext>(device: &rusb::Device<T>) -> Option<String> {
    let ports = device.port_numbers().ok()?;
    if ports.is_empty() {
        return None;
    }
    let path: Vec<String> = ports.iter().map(u8::to_string).collect();
    let dir = format!("/sys/bus/usb/devices/{}-{}", device.bus_number(), path.join("."));
    let product = std::fs::read_to_string(format!("{dir}/product")).ok()?;
    let product = product.trim();
    let maker = std::fs::read_to_string(format!("{dir}/manufacturer")).unwrap_or_default();
    let maker = maker.trim();
    Some(if maker.is_empty() || product.starts_with(maker) {
        product.to_owned()
    } else {
        format!("{maker} {product}")
    })
}

/// Physical devices through libusb; see the module documentation.
pub struct LibusbBackend {
    context: rusb::Context,
    running: Arc<AtomicBool>,
    registration: Mutex<Option<rusb::Registration<rusb::Context>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl LibusbBackend {
    /// A libusb context (fails when libusb cannot start, e.g. no `/dev/bus/usb`).
    pub fn new() -> Result<Self, UsbError> {
        let context = rusb::Context::new().map_err(|e| UsbError::Physical(format!("libusb: {e}")))?;
        Ok(Self {
            context,
            running: Arc::new(AtomicBool::new(false)),
            registration: Mutex::new(None),
            thread: Mutex::new(None),
        })
    }

    fn start_events(&self) {
        if self.running.swap(true, Ordering::SeqCst) {
            return;
        }
        let ctx = self.context.clone();
        let running = Arc::clone(&self.running);
        let spawned = std::thread::Builder::new()
            .name("sumac-usb-events".into())
            .spawn(move || {
                while running.load(Ordering::SeqCst) {
                    if let Err(e) = ctx.handle_events(Some(Duration::from_millis(200))) {
                        tracing::warn!(error = %e, "libusb event handling");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            });
        match spawned {
            Ok(t) => *lock(&self.thread) = Some(t),
            Err(e) => tracing::warn!(error = %e, "no USB event thread"),
        }
    }
}

impl Drop for LibusbBackend {
    fn drop(&mut self) {
        lock(&self.registration).take();
        self.running.store(false, Ordering::SeqCst);
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

struct Hotplug(Arc<dyn HotplugSink>);

impl rusb::Hotplug<rusb::Context> for Hotplug {
    fn device_arrived(&mut self, device: rusb::Device<rusb::Context>) {
        if let Some(info) = describe(&device) {
            self.0.added(info);
        }
    }

    fn device_left(&mut self, device: rusb::Device<rusb::Context>) {
        self.0.removed(device.bus_number(), device.address());
    }
}

impl UsbBackend for LibusbBackend {
    fn devices(&self) -> Vec<PhysicalInfo> {
        match self.context.devices() {
            Ok(list) => list.iter().filter_map(|d| describe(&d)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "USB enumeration");
                Vec::new()
            }
        }
    }

    fn open(
        &self,
        info: &PhysicalInfo,
        _caps: Caps,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<Box<dyn RedirDevice>, UsbError> {
        let err = |f: OpenFailure| open_error(&f, info.bus, info.address, info.view.vendor, info.view.product);
        let list = self.context.devices().map_err(|e| err(failure(e)))?;
        let device = list
            .iter()
            .find(|d| d.bus_number() == info.bus && d.address() == info.address)
            .ok_or_else(|| err(OpenFailure::Gone))?;
        let handle = device.open().map_err(|e| err(failure(e)))?;
        self.start_events();
        let shared = Arc::new(Shared {
            state: Mutex::new(Queues::default()),
            wake,
        });
        let handler = Handler {
            shared: Arc::clone(&shared),
            hello_left: None,
        };
        let host = usbredirhost::Device::new(&self.context, None, handler, 2)
            .map_err(|e| err(OpenFailure::Other(e.to_string())))?;
        Ok(Box::new(PhysicalDevice {
            host,
            shared,
            handle: Some(handle),
            info: info.clone(),
            connected: false,
            released: false,
        }))
    }

    fn watch(&self, sink: Arc<dyn HotplugSink>) {
        if !rusb::has_hotplug() {
            tracing::info!("libusb has no hotplug support here");
            return;
        }
        match rusb::HotplugBuilder::new()
            .enumerate(false)
            .register(self.context.clone(), Box::new(Hotplug(sink)))
        {
            Ok(r) => {
                *lock(&self.registration) = Some(r);
                self.start_events();
            }
            Err(e) => tracing::warn!(error = %e, "USB hotplug"),
        }
    }
}

#[derive(Default)]
struct Queues {
    /// Guest bytes not read by usbredirhost yet.
    input: VecDeque<u8>,
    output: VecDeque<Vec<u8>>,
    news: VecDeque<DeviceNews>,
}

struct Shared {
    state: Mutex<Queues>,
    wake: Arc<tokio::sync::Notify>,
}

/// usbredirhost's callbacks (from the channel thread or the libusb event thread).
struct Handler {
    shared: Arc<Shared>,
    /// Bytes of usbredirhost's own hello still to drop (`None`: not seen yet).
    hello_left: Option<usize>,
}

impl DeviceHandler for Handler {
    fn log(&mut self, level: usbredirhost::LogLevel, msg: &str) {
        tracing::debug!(?level, "usbredirhost: {msg}");
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut st = lock(&self.shared.state);
        let n = buf.len().min(st.input.len());
        for (dst, src) in buf.iter_mut().zip(st.input.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut data = buf;
        // The first packet written is usbredirhost's hello: the channel sent ours.
        let left = *self.hello_left.get_or_insert_with(|| {
            let len = buf
                .get(4..8)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes);
            12usize.saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
        });
        let skip = left.min(data.len());
        self.hello_left = Some(left - skip);
        data = data.get(skip..).unwrap_or_default();
        if !data.is_empty() {
            let mut st = lock(&self.shared.state);
            // A device_connect (type 1) going out: the guest attaches it.
            if data.get(..4) == Some(&1u32.to_le_bytes()[..]) {
                st.news.push_back(DeviceNews::Connected);
            }
            st.output.push_back(data.to_vec());
        }
        Ok(buf.len())
    }

    fn flush_writes(&mut self) {
        self.shared.wake.notify_one();
    }
}

/// A physical device on a channel.
struct PhysicalDevice {
    host: usbredirhost::Device<rusb::Context, Handler>,
    shared: Arc<Shared>,
    handle: Option<rusb::DeviceHandle<rusb::Context>>,
    info: PhysicalInfo,
    connected: bool,
    released: bool,
}

impl PhysicalDevice {
    fn release(&mut self, error: Option<String>) {
        if !self.released {
            self.released = true;
            lock(&self.shared.state).news.push_back(DeviceNews::Released { error });
        }
    }

    fn read_guest(&mut self) {
        if let Err(e) = self.host.read_peer() {
            let error = match e {
                usbredirhost::Error::DeviceRejected => "the virtual machine's USB filter refused the device".to_owned(),
                usbredirhost::Error::DeviceLost => "the device was unplugged".to_owned(),
                other => format!("USB redirection error: {other}"),
            };
            self.release(Some(error));
        }
    }
}

impl RedirDevice for PhysicalDevice {
    fn start(&mut self, peer_hello: &[u8]) {
        lock(&self.shared.state).input.extend(peer_hello);
        self.read_guest();
        // Claims the interfaces (detaching kernel drivers); device_connect follows.
        if let Err(e) = self.host.set_device(self.handle.take()) {
            self.release(Some(format!("cannot claim the device: {e}")));
        }
        let _ = self.host.write_peer();
    }

    fn feed(&mut self, data: &[u8]) -> usize {
        {
            let mut st = lock(&self.shared.state);
            if st.input.len().saturating_add(data.len()) > MAX_INPUT {
                return 0;
            }
            st.input.extend(data);
        }
        self.read_guest();
        let _ = self.host.write_peer();
        data.len()
    }

    fn pop_output(&mut self) -> Option<Vec<u8>> {
        if lock(&self.shared.state).output.is_empty() && self.host.has_data_to_write() > 0 {
            let _ = self.host.write_peer();
        }
        lock(&self.shared.state).output.pop_front()
    }

    fn poll(&mut self) -> Option<DeviceNews> {
        let news = lock(&self.shared.state).news.pop_front()?;
        match &news {
            DeviceNews::Connected if self.connected => return self.poll(),
            DeviceNews::Connected => self.connected = true,
            DeviceNews::Released { .. } => self.released = true,
        }
        Some(news)
    }

    fn unplug(&mut self) {
        // device_disconnect; interfaces released, kernel drivers re-attached, the handle closed.
        let _ = self.host.set_device(None);
        let _ = self.host.write_peer();
        self.release(None);
    }

    fn isochronous(&self) -> bool {
        self.info.isochronous
    }

    fn filter_view(&self) -> FilterView {
        self.info.view.clone()
    }
}

/// The libusb backend, or `None` when libusb cannot start here.
pub fn default_backend() -> Option<Arc<dyn UsbBackend>> {
    match LibusbBackend::new() {
        Ok(b) => Some(Arc::new(b)),
        Err(e) => {
            tracing::info!(error = %e, "no physical USB devices");
            None
        }
    }
}
