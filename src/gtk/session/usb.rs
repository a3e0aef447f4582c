//! The USB side of [`Session`]: the running session's USB handle, the
//! device list as a `GListModel`, the `usb-changed`/`usb-error` signals.

use super::Session;
use crate::client::SessionHandle;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

impl Session {
    /// USB redirection of the running session: the device list, connect,
    /// disconnect, disk images ([`Session::usb_devices`] is the list as a
    /// `GListModel`).
    pub fn usb(&self) -> Option<crate::client::UsbHandle> {
        self.with_handle(SessionHandle::usb)
    }

    /// The session's USB devices as a list model of [`UsbDevice`](crate::gtk::UsbDevice)
    /// objects, kept in sync (an object stays the same while its device is
    /// listed; its properties change with the device's state). The same
    /// model for every call; empty while not connected.
    pub fn usb_devices(&self) -> gtk::gio::ListModel {
        let model = self
            .imp()
            .usb_model
            .borrow_mut()
            .get_or_insert_with(gtk::gio::ListStore::new::<crate::gtk::UsbDevice>)
            .clone();
        self.sync_usb_model();
        model.upcast()
    }

    pub(super) fn sync_usb_model(&self) {
        let Some(model) = self.imp().usb_model.borrow().clone() else {
            return;
        };
        let devices = self.usb().map(|u| u.devices()).unwrap_or_default();
        crate::gtk::usb_devices::sync(&model, &devices);
    }

    /// Connects to `usb-changed()`.
    pub fn connect_usb_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure("usb-changed", false, glib::closure_local!(move |s: &Self| f(s)))
    }

    /// Connects to `usb-error(text)`.
    pub fn connect_usb_error<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "usb-error",
            false,
            glib::closure_local!(move |s: &Self, text: &str| f(s, text)),
        )
    }
}
