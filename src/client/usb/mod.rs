//! USB redirection in the session (L1): which device goes on which usbredir
//! channel, and the endpoint that speaks usbredir on each channel.
//!
//! ```text
//! embedder ── UsbHandle (connect / disconnect / add_disk / remove) ──┐
//!                                                                    ▼
//!   UsbManager (one per session): the device list (virtual disks, physical
//!   devices from a UsbBackend), the usbredir channels and which device each
//!   carries; policy (redirect-on-connect, auto-connect filter)
//!      │ Command::Attach(device) / Detach into a ChannelSlot + its inbox
//!      ▼
//!   channel thread sumac-usbredir-N: VmcMachine(UsbEndpoint)
//!      usbredir hello once per channel; then each packet whole to the
//!      device attached when it started (Framer), the device's packets back
//! ```
//!
//! A SPICE usbredir channel carries one usbredir connection for its whole
//! life, as in spice-gtk: the endpoint sends our hello when the channel
//! links and keeps the guest's; devices come and go on it (`device_connect`
//! … `device_disconnect`). A device is a [`RedirDevice`]: the virtual disk
//! ([`crate::usbredir::msc::MassStorage`] over a raw image) or, with the
//! `usb` feature, a physical device driven by libusbredirhost. A device that
//! is created later is given the guest's recorded hello and its own hello is
//! dropped, so every device on the channel speaks with the caps of the
//! channel's hello ([`channel_caps`]).
//!
//! Free channels are counted like spice-gtk's `free-channels`: a channel
//! that exists and carries no device. State changes reach the embedder as
//! [`SessionEvent::Usb`](super::SessionEvent::Usb).

mod device;
mod endpoint;
mod manager;
pub mod open_error;
#[cfg(feature = "usb")]
pub mod physical;
pub mod policy;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

pub use device::{DeviceNews, FilterView, RedirDevice};
pub(crate) use endpoint::UsbEndpoint;
pub(crate) use manager::UsbManager;
pub use policy::{HotplugSink, PhysicalInfo, UsbBackend, UsbPolicy};

use crate::proto::ChannelKey;
use crate::usbredir::proto::{Cap, Caps};

/// Physical devices through libusb (feature `usb`), or `None` (without the
/// feature, or when libusb cannot start).
pub fn default_backend() -> Option<Arc<dyn UsbBackend>> {
    #[cfg(feature = "usb")]
    {
        physical::default_backend()
    }
    #[cfg(not(feature = "usb"))]
    {
        None
    }
}

/// The caps of every usbredir hello Sumac sends on a SPICE channel: those of
/// libusbredirhost 0.13, so that physical and virtual devices can share a
/// channel (the caps decide packet sizes for the whole connection).
pub fn channel_caps() -> Caps {
    Caps::of(&[
        Cap::ConnectDeviceVersion,
        Cap::Filter,
        Cap::DeviceDisconnectAck,
        Cap::EpInfoMaxPacketSize,
        Cap::Ids64,
        Cap::BulkLength32,
        Cap::BulkReceiving,
        Cap::BulkStreams,
    ])
}

/// A device known to the session (stable for the session's life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsbDeviceId(pub u64);

impl std::fmt::Display for UsbDeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "usb#{}", self.0)
    }
}

/// Where a device comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbSource {
    /// A virtual mass-storage disk on a raw image file.
    Disk { path: PathBuf, read_only: bool },
    /// A device plugged into this machine (bus number and address).
    Physical { bus: u8, address: u8 },
}

/// Where a device stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbDeviceState {
    /// Not redirected.
    Idle,
    /// Given to a channel; the guest has not attached it yet.
    Connecting { channel: ChannelKey },
    /// Attached in the guest.
    Connected { channel: ChannelKey },
    /// Unplugging from the guest.
    Disconnecting { channel: ChannelKey },
    /// Not redirected; the last attempt failed (in words).
    Failed { error: String },
}

impl UsbDeviceState {
    /// The channel carrying the device, if any.
    pub fn channel(&self) -> Option<ChannelKey> {
        match self {
            Self::Connecting { channel } | Self::Connected { channel } | Self::Disconnecting { channel } => {
                Some(*channel)
            }
            Self::Idle | Self::Failed { .. } => None,
        }
    }

    /// Whether a connect is under way or done (the switch is on).
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Connecting { .. } | Self::Connected { .. })
    }
}

/// One row of the device list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDeviceInfo {
    pub id: UsbDeviceId,
    /// What to show: product name, or the image's file name.
    pub name: String,
    pub vendor_id: u16,
    pub product_id: u16,
    pub source: UsbSource,
    pub state: UsbDeviceState,
}

impl UsbDeviceInfo {
    /// "Name (vvvv:pppp)" as remote-viewer's list shows it.
    pub fn label(&self) -> String {
        format!("{} ({:04x}:{:04x})", self.name, self.vendor_id, self.product_id)
    }
}

/// What changed in USB redirection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsbEvent {
    /// A device appeared (hotplug, a disk added).
    Added(UsbDeviceInfo),
    /// A device is gone (unplugged, a disk removed).
    Removed(UsbDeviceId),
    /// A device's state changed.
    Changed(UsbDeviceInfo),
    /// Usbredir channels without a device, and channels in all.
    Channels { free: usize, total: usize },
    /// A device the policy wanted redirected could not be (spice-gtk's `auto-connect-failed`).
    AutoConnectFailed { id: UsbDeviceId, error: String },
}

/// A virtual disk to attach when the session starts (`--usb-disk=IMAGE[,ro]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDisk {
    pub path: PathBuf,
    pub read_only: bool,
}

impl std::str::FromStr for UsbDisk {
    type Err = String;

    /// `IMAGE` or `IMAGE,ro` (`,rw` is accepted too).
    fn from_str(s: &str) -> Result<Self, String> {
        let (path, read_only) = match s.rsplit_once(',') {
            Some((p, "ro")) => (p, true),
            Some((p, "rw")) => (p, false),
            _ => (s, false),
        };
        if path.is_empty() {
            return Err("a disk image path is needed (IMAGE or IMAGE,ro)".into());
        }
        Ok(Self {
            path: PathBuf::from(path),
            read_only,
        })
    }
}

/// USB settings of a session.
#[derive(Clone)]
pub struct UsbOptions {
    /// Redirection allowed at all (`--spice-disable-usbredir`, `.vv` `enable-usbredir=0` turn it off).
    pub enabled: bool,
    /// Disks attached as soon as a channel is free.
    pub disks: Vec<UsbDisk>,
    /// Auto-connect and redirect-on-connect rules.
    pub policy: UsbPolicy,
    /// Physical devices (libusb), if the embedder wants them.
    pub backend: Option<Arc<dyn UsbBackend>>,
}

impl Default for UsbOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            disks: Vec::new(),
            policy: UsbPolicy::default(),
            backend: None,
        }
    }
}

impl std::fmt::Debug for UsbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbOptions")
            .field("enabled", &self.enabled)
            .field("disks", &self.disks)
            .field("policy", &self.policy)
            .field("backend", &self.backend.is_some())
            .finish()
    }
}

/// Why a USB request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsbError {
    #[error("USB redirection is disabled for this session")]
    Disabled,
    #[error("no such USB device ({0})")]
    UnknownDevice(UsbDeviceId),
    #[error("no free USB redirection channel: the virtual machine has {total} and all are in use")]
    NoFreeChannel { total: usize },
    #[error("the device is already redirected")]
    AlreadyConnected,
    #[error("cannot open the disk image {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the disk image {path} is empty or smaller than one 512-byte block")]
    EmptyImage { path: PathBuf },
    /// A physical device could not be opened (the text says which node and what fixes it).
    #[error("{0}")]
    Physical(String),
}

/// The embedder's view of USB redirection: the device list and
/// connect/disconnect calls. Cheap to clone.
#[derive(Clone)]
pub struct UsbHandle {
    manager: Arc<UsbManager>,
}

impl std::fmt::Debug for UsbHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbHandle").finish_non_exhaustive()
    }
}

impl UsbHandle {
    pub(crate) fn new(manager: Arc<UsbManager>) -> Self {
        Self { manager }
    }

    /// Every device, virtual disks and physical devices, by id.
    pub fn devices(&self) -> Vec<UsbDeviceInfo> {
        self.manager.devices()
    }

    /// One device.
    pub fn device(&self, id: UsbDeviceId) -> Option<UsbDeviceInfo> {
        self.manager.device(id)
    }

    /// Channels without a device, and channels in all.
    pub fn channels(&self) -> (usize, usize) {
        self.manager.channel_counts()
    }

    /// Adds a virtual disk on a raw image (not connected yet). The file is
    /// opened (and checked) now.
    pub fn add_disk(&self, path: impl Into<PathBuf>, read_only: bool) -> Result<UsbDeviceId, UsbError> {
        self.manager.add_disk(
            UsbDisk {
                path: path.into(),
                read_only,
            },
            false,
        )
    }

    /// Redirects a device on a free channel; progress comes as [`UsbEvent::Changed`].
    pub fn connect(&self, id: UsbDeviceId) -> Result<(), UsbError> {
        self.manager.connect(id)
    }

    /// Unplugs a device from the guest (it stays in the list).
    pub fn disconnect(&self, id: UsbDeviceId) -> Result<(), UsbError> {
        self.manager.disconnect(id)
    }

    /// Removes a virtual disk from the list, unplugging it first if needed.
    pub fn remove(&self, id: UsbDeviceId) -> Result<(), UsbError> {
        self.manager.remove(id)
    }

    /// Turns auto-connect of newly plugged devices on or off.
    pub fn set_auto_connect(&self, on: bool) {
        self.manager.set_auto_connect(on);
    }

    /// Whether newly plugged devices are redirected when the filter allows.
    pub fn auto_connect(&self) -> bool {
        self.manager.auto_connect()
    }

    /// A physical device appeared (from the embedder's own hotplug source;
    /// the built-in libusb backend reports its own).
    pub fn hotplug_added(&self, info: PhysicalInfo) {
        self.manager.hotplug_added(info);
    }

    /// A physical device was unplugged.
    pub fn hotplug_removed(&self, bus: u8, address: u8) {
        self.manager.hotplug_removed(bus, address);
    }
}
