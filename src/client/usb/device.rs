//! What a usbredir channel carries: a [`RedirDevice`], and the virtual disk.

use crate::usbredir::file_store::FileStore;
use crate::usbredir::filter;
use crate::usbredir::msc::{MassStorage, MscConfig, MscEvent, MscState};
use crate::usbredir::proto::{Caps, InterfaceEntry};

/// What a device has to tell its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceNews {
    /// The guest attached it (`device_connect` sent).
    Connected,
    /// It is gone for the guest; `error` says why when it was not asked for.
    Released { error: Option<String> },
}

/// How a device describes itself to a usbredir filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterView {
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub vendor: u16,
    pub product: u16,
    pub version_bcd: u16,
    pub interfaces: Vec<InterfaceEntry>,
}

impl FilterView {
    /// The filter's view of it.
    pub fn as_filter_device(&self) -> filter::Device<'_> {
        filter::Device {
            class: self.class,
            subclass: self.subclass,
            protocol: self.protocol,
            vendor: self.vendor,
            product: self.product,
            version_bcd: self.version_bcd,
            interfaces: &self.interfaces,
        }
    }
}

/// One device on a usbredir connection, the usb-host side (sans-IO as seen
/// by the channel: bytes in, packets out).
pub trait RedirDevice: Send {
    /// Starts on a connection whose hellos were exchanged: `peer_hello` is
    /// the guest's hello packet as received; the device's own hello (if it
    /// makes one) must not be sent.
    fn start(&mut self, peer_hello: &[u8]);
    /// Bytes of whole-or-partial packets from the guest, in order; returns
    /// how many were used (fewer when its output is full).
    fn feed(&mut self, data: &[u8]) -> usize;
    /// The next encoded packet for the guest.
    fn pop_output(&mut self) -> Option<Vec<u8>>;
    /// News since the last call, oldest first.
    fn poll(&mut self) -> Option<DeviceNews>;
    /// The user stops redirecting it: `device_disconnect`, then released.
    fn unplug(&mut self);
    /// Isochronous endpoints: its data is never compressed.
    fn isochronous(&self) -> bool {
        false
    }
    /// What a filter sees.
    fn filter_view(&self) -> FilterView;
}

/// The virtual USB disk on a raw image file.
pub(crate) struct VirtualDisk {
    dev: MassStorage<FileStore>,
    view: FilterView,
    connected: bool,
    released: bool,
}

impl VirtualDisk {
    pub(crate) fn new(store: FileStore, caps: Caps) -> Self {
        let cfg = MscConfig {
            caps,
            ..MscConfig::default()
        };
        let view = FilterView {
            class: 0,
            subclass: 0,
            protocol: 0,
            vendor: cfg.vendor_id,
            product: cfg.product_id,
            version_bcd: cfg.device_version_bcd,
            interfaces: vec![InterfaceEntry {
                number: 0,
                class: 0x08,
                subclass: 0x06,
                protocol: 0x50,
            }],
        };
        Self {
            dev: MassStorage::new(store, cfg),
            view,
            connected: false,
            released: false,
        }
    }
}

impl RedirDevice for VirtualDisk {
    fn start(&mut self, peer_hello: &[u8]) {
        // Our own hello: the channel sent one already.
        let _ = self.dev.pop_output();
        let mut rest = peer_hello;
        while !rest.is_empty() {
            let used = self.dev.feed(rest);
            if used == 0 {
                break;
            }
            rest = rest.get(used..).unwrap_or_default();
        }
    }

    fn feed(&mut self, data: &[u8]) -> usize {
        self.dev.feed(data)
    }

    fn pop_output(&mut self) -> Option<Vec<u8>> {
        self.dev.pop_output()
    }

    fn poll(&mut self) -> Option<DeviceNews> {
        while let Some(e) = self.dev.pop_event() {
            match e {
                MscEvent::Connected if !self.connected => {
                    self.connected = true;
                    return Some(DeviceNews::Connected);
                }
                MscEvent::FilterRejected if !self.released => {
                    self.released = true;
                    return Some(DeviceNews::Released {
                        error: Some("the virtual machine's USB filter refused the device".into()),
                    });
                }
                MscEvent::Disconnected if !self.released => {
                    self.released = true;
                    return Some(DeviceNews::Released { error: None });
                }
                MscEvent::ProtocolError(e) => tracing::debug!(error = %e, "usbredir packet rejected by the disk"),
                other => tracing::trace!(event = ?other, "virtual disk"),
            }
        }
        if !self.released && self.dev.state() == MscState::Released {
            self.released = true;
            return Some(DeviceNews::Released { error: None });
        }
        None
    }

    fn unplug(&mut self) {
        self.dev.unplug();
    }

    fn filter_view(&self) -> FilterView {
        self.view.clone()
    }
}
