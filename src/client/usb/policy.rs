//! Which physical devices are redirected without being asked, as
//! remote-viewer decides it: devices present when the session starts go if
//! the redirect-on-connect filter allows them
//! (`--spice-usbredir-redirect-on-connect`); devices plugged in later go if
//! auto-connect is on and the auto-connect filter allows them
//! (`--spice-usbredir-auto-redirect-filter`, `.vv` `usb-filter`,
//! `enable-usb-autoshare` / `usb-autoshare`). Also the [`UsbBackend`] seam
//! behind which physical devices live (libusb, the XDG portal, a fake list
//! in tests).

use std::sync::Arc;

use super::device::{FilterView, RedirDevice};
use super::{UsbError, channel_caps};
use crate::usbredir::filter::{self, CheckFlags, FilterError, Rule, Verdict};
use crate::usbredir::proto::Caps;

/// spice-gtk's default auto-connect filter: never HID (keyboards, mice),
/// everything else.
pub const DEFAULT_AUTO_CONNECT_FILTER: &str = "0x03,-1,-1,-1,0|-1,-1,-1,-1,1";

/// A physical device as enumerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalInfo {
    pub bus: u8,
    pub address: u8,
    /// Product string, or a generic name.
    pub name: String,
    /// What filters see (device class, ids, interfaces of the active configuration).
    pub view: FilterView,
    /// It has isochronous endpoints (its data is never compressed).
    pub isochronous: bool,
}

/// Where physical devices come from. `open` happens on the embedder's
/// thread (connect); the device's own event thread, if any, wakes the
/// channel with `wake`.
pub trait UsbBackend: Send + Sync {
    /// The devices plugged in now.
    fn devices(&self) -> Vec<PhysicalInfo>;
    /// Opens, detaches kernel drivers and claims a device for a channel whose hello announces `caps`.
    fn open(
        &self,
        device: &PhysicalInfo,
        caps: Caps,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<Box<dyn RedirDevice>, UsbError>;
    /// Starts reporting hotplug events to `sink` (optional).
    fn watch(&self, _sink: Arc<dyn HotplugSink>) {}
}

/// Receives hotplug events from a backend's thread.
pub trait HotplugSink: Send + Sync {
    fn added(&self, info: PhysicalInfo);
    fn removed(&self, bus: u8, address: u8);
}

/// The rules; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbPolicy {
    /// Redirect newly plugged devices that `auto_connect_filter` allows.
    pub auto_connect: bool,
    pub auto_connect_filter: Vec<Rule>,
    /// Devices present at start that these rules allow are redirected; `None`: none.
    pub redirect_on_connect: Option<Vec<Rule>>,
}

impl Default for UsbPolicy {
    fn default() -> Self {
        Self {
            auto_connect: false,
            auto_connect_filter: filter::parse(DEFAULT_AUTO_CONNECT_FILTER).unwrap_or_default(),
            redirect_on_connect: None,
        }
    }
}

impl UsbPolicy {
    /// The policy from remote-viewer's options: `auto_connect` (`.vv`
    /// `enable-usb-autoshare`), the auto-connect filter (default
    /// [`DEFAULT_AUTO_CONNECT_FILTER`]) and the redirect-on-connect filter.
    pub fn from_strings(
        auto_connect: bool,
        auto_connect_filter: Option<&str>,
        redirect_on_connect: Option<&str>,
    ) -> Result<Self, FilterError> {
        Ok(Self {
            auto_connect,
            auto_connect_filter: filter::parse(auto_connect_filter.unwrap_or(DEFAULT_AUTO_CONNECT_FILTER))?,
            redirect_on_connect: redirect_on_connect.map(filter::parse).transpose()?,
        })
    }

    /// Whether a device present when the session starts is redirected.
    pub fn on_start(&self, device: &PhysicalInfo) -> bool {
        self.redirect_on_connect
            .as_ref()
            .is_some_and(|rules| allows(rules, &device.view))
    }

    /// Whether a newly plugged device is redirected.
    pub fn on_hotplug(&self, device: &PhysicalInfo) -> bool {
        self.auto_connect && allows(&self.auto_connect_filter, &device.view)
    }
}

/// Whether `rules` allow a device (usbredirfilter semantics, no default allow).
pub fn allows(rules: &[Rule], view: &FilterView) -> bool {
    filter::check(rules, &view.as_filter_device(), CheckFlags::default()) == Verdict::Allow
}

/// Whether the guest's own filter (`filter_filter` from QEMU) lets a device
/// in; an empty or absent filter allows everything (usbredirhost's default).
pub fn guest_allows(rules: Option<&[Rule]>, view: &FilterView) -> bool {
    match rules {
        None | Some([]) => true,
        Some(rules) => {
            let flags = CheckFlags {
                default_allow: true,
                dont_skip_non_boot_hid: false,
            };
            filter::check(rules, &view.as_filter_device(), flags) == Verdict::Allow
        }
    }
}

/// The caps a backend's devices must use (the channel's hello).
pub fn backend_caps() -> Caps {
    channel_caps()
}
