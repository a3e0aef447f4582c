//! [`UsbDevice`] (GType `SumacUsbDevice`): one USB device of a [`Session`]
//! as a GObject with read-only properties, and the list model
//! ([`Session::usb_devices`]) that the session keeps in sync with its USB
//! device list, for embedders that show devices in a `GtkListView` or
//! `GtkDropDown`. Connect and disconnect with [`Session::usb`] and the
//! device's [`id`](UsbDevice::id).
//!
//! [`Session`]: super::Session
//! [`Session::usb`]: super::Session::usb
//! [`Session::usb_devices`]: super::Session::usb_devices

use gtk::gio;
use gtk::gio::prelude::*;
use gtk::glib;
use gtk::glib::subclass::prelude::*;

use crate::client::usb::{UsbDeviceId, UsbDeviceInfo, UsbDeviceState, UsbSource};

mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};

    #[derive(Default, glib::Properties)]
    #[properties(wrapper_type = super::UsbDevice)]
    pub struct UsbDevice {
        /// The session's id of the device (`UsbDeviceId.0`), stable for the session.
        #[property(get)]
        pub(super) id: Cell<u64>,
        /// Product name, or the image's file name for a virtual disk.
        #[property(get)]
        pub(super) name: RefCell<String>,
        /// "Name (vvvv:pppp)", as the USB dialog shows it.
        #[property(get)]
        pub(super) label: RefCell<String>,
        #[property(get)]
        pub(super) vendor_id: Cell<u32>,
        #[property(get)]
        pub(super) product_id: Cell<u32>,
        /// A virtual disk on an image file (false: a physical device).
        #[property(get)]
        pub(super) disk: Cell<bool>,
        /// A read-only virtual disk.
        #[property(get)]
        pub(super) read_only: Cell<bool>,
        /// Redirected, or being connected (the switch is on).
        #[property(get)]
        pub(super) active: Cell<bool>,
        /// Connecting or disconnecting (show progress).
        #[property(get)]
        pub(super) busy: Cell<bool>,
        /// Why the last attempt failed, in words (empty: it did not).
        #[property(get)]
        pub(super) error: RefCell<String>,
        pub(super) info: RefCell<Option<UsbDeviceInfo>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for UsbDevice {
        const NAME: &'static str = "SumacUsbDevice";
        type Type = super::UsbDevice;
    }

    #[glib::derived_properties]
    impl ObjectImpl for UsbDevice {}
}

glib::wrapper! {
    /// One USB device of a session; see the module documentation.
    pub struct UsbDevice(ObjectSubclass<imp::UsbDevice>);
}

impl UsbDevice {
    fn new(info: &UsbDeviceInfo) -> Self {
        let device: Self = glib::Object::new();
        device.update(info);
        device
    }

    /// The device as the session last reported it.
    pub fn info(&self) -> Option<UsbDeviceInfo> {
        self.imp().info.borrow().clone()
    }

    /// The session's id of the device (for [`UsbHandle`](crate::client::UsbHandle) calls).
    pub fn device_id(&self) -> UsbDeviceId {
        UsbDeviceId(self.id())
    }

    /// Takes the session's view of the device; notifies the properties that changed.
    fn update(&self, info: &UsbDeviceInfo) {
        let imp = self.imp();
        let _frozen = self.freeze_notify();
        let set_bool = |cell: &std::cell::Cell<bool>, value: bool, name: &str| {
            if cell.replace(value) != value {
                self.notify(name);
            }
        };
        let set_u32 = |cell: &std::cell::Cell<u32>, value: u32, name: &str| {
            if cell.replace(value) != value {
                self.notify(name);
            }
        };
        let set_str = |cell: &std::cell::RefCell<String>, value: String, name: &str| {
            if *cell.borrow() != value {
                cell.replace(value);
                self.notify(name);
            }
        };
        if imp.id.replace(info.id.0) != info.id.0 {
            self.notify("id");
        }
        set_str(&imp.name, info.name.clone(), "name");
        set_str(&imp.label, info.label(), "label");
        set_u32(&imp.vendor_id, u32::from(info.vendor_id), "vendor-id");
        set_u32(&imp.product_id, u32::from(info.product_id), "product-id");
        let (disk, read_only) = match info.source {
            UsbSource::Disk { read_only, .. } => (true, read_only),
            UsbSource::Physical { .. } => (false, false),
        };
        set_bool(&imp.disk, disk, "disk");
        set_bool(&imp.read_only, read_only, "read-only");
        set_bool(&imp.active, info.state.is_active(), "active");
        set_bool(
            &imp.busy,
            matches!(
                info.state,
                UsbDeviceState::Connecting { .. } | UsbDeviceState::Disconnecting { .. }
            ),
            "busy",
        );
        let error = match &info.state {
            UsbDeviceState::Failed { error } => error.clone(),
            _ => String::new(),
        };
        set_str(&imp.error, error, "error");
        imp.info.replace(Some(info.clone()));
    }
}

/// Makes `store` list `devices` in their order, keeping (and updating) the
/// objects of devices it already lists.
pub(crate) fn sync(store: &gio::ListStore, devices: &[UsbDeviceInfo]) {
    let listed: Vec<UsbDevice> = (0..store.n_items())
        .filter_map(|i| store.item(i).and_downcast::<UsbDevice>())
        .collect();
    let wanted: Vec<UsbDevice> = devices
        .iter()
        .map(|info| match listed.iter().find(|d| d.id() == info.id.0) {
            Some(d) => {
                d.update(info);
                d.clone()
            }
            None => UsbDevice::new(info),
        })
        .collect();
    let same = listed.len() == wanted.len() && listed.iter().zip(&wanted).all(|(a, b)| a == b);
    if !same {
        store.splice(0, store.n_items(), &wanted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ChannelKey, ChannelType};
    use std::path::PathBuf;

    fn disk(id: u64, state: UsbDeviceState) -> UsbDeviceInfo {
        UsbDeviceInfo {
            id: UsbDeviceId(id),
            name: format!("d{id}.img"),
            vendor_id: 0x1209,
            product_id: 1,
            source: UsbSource::Disk {
                path: PathBuf::from(format!("/img/d{id}.img")),
                read_only: id % 2 == 1,
            },
            state,
        }
    }

    #[test]
    fn the_model_follows_the_device_list_and_keeps_its_objects() {
        let store = gio::ListStore::new::<UsbDevice>();
        let changes = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let c = std::rc::Rc::clone(&changes);
        store.connect_items_changed(move |_, _, _, _| c.set(c.get() + 1));
        sync(&store, &[disk(1, UsbDeviceState::Idle), disk(2, UsbDeviceState::Idle)]);
        assert_eq!(store.n_items(), 2);
        let first = store.item(0).and_downcast::<UsbDevice>().unwrap();
        let second = store.item(1).and_downcast::<UsbDevice>().unwrap();
        assert_eq!(first.label(), "d1.img (1209:0001)");
        assert!(first.disk() && first.read_only() && !first.active());

        // A state change updates the object in place: no items-changed.
        let before = changes.get();
        let notified = std::rc::Rc::new(std::cell::Cell::new(false));
        let n = std::rc::Rc::clone(&notified);
        first.connect_active_notify(move |_| n.set(true));
        let channel = ChannelKey::new(ChannelType::USBREDIR, 0);
        sync(
            &store,
            &[
                disk(1, UsbDeviceState::Connecting { channel }),
                disk(2, UsbDeviceState::Idle),
            ],
        );
        assert_eq!(changes.get(), before);
        assert!(notified.get() && first.active() && first.busy());
        sync(
            &store,
            &[
                disk(1, UsbDeviceState::Failed { error: "busy".into() }),
                disk(2, UsbDeviceState::Idle),
            ],
        );
        assert!(!first.active() && !first.busy());
        assert_eq!(first.error(), "busy");

        // A device gone, another added: the survivor keeps its object.
        sync(&store, &[disk(2, UsbDeviceState::Idle), disk(3, UsbDeviceState::Idle)]);
        assert_eq!(store.n_items(), 2);
        let ids: Vec<u64> = (0..2)
            .map(|i| store.item(i).and_downcast::<UsbDevice>().unwrap().id())
            .collect();
        assert_eq!(ids, [2, 3]);
        assert_eq!(store.item(0).and_downcast::<UsbDevice>().as_ref(), Some(&second));
        assert_eq!(first.info().map(|i| i.id), Some(UsbDeviceId(1)));
        sync(&store, &[]);
        assert_eq!(store.n_items(), 0);
    }
}
