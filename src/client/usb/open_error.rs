//! Why a physical device could not be opened, in words that say what fixes
//! it. Independent of libusb, so it is built and tested with or without the
//! `usb` feature.

use super::UsbError;

/// A failure to open or claim a device, as libusb classes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenFailure {
    /// `LIBUSB_ERROR_ACCESS`: no permission on the device node.
    Access,
    /// `LIBUSB_ERROR_BUSY`: claimed by another program or a kernel driver that stays.
    Busy,
    /// `LIBUSB_ERROR_NO_DEVICE`: it was unplugged.
    Gone,
    /// Anything else, as libusb says it.
    Other(String),
}

/// The device node libusb opens on Linux.
pub fn device_node(bus: u8, address: u8) -> String {
    format!("/dev/bus/usb/{bus:03}/{address:03}")
}

/// The error for the user: which device node, and what udev rule or group fixes it.
pub fn open_error(failure: &OpenFailure, bus: u8, address: u8, vendor: u16, product: u16) -> UsbError {
    let node = device_node(bus, address);
    UsbError::Physical(match failure {
        OpenFailure::Access => format!(
            "permission denied on {node} (USB device {vendor:04x}:{product:04x}). Allow it with a udev rule, \
             e.g. in /etc/udev/rules.d/70-sumac-usb.rules: \
             SUBSYSTEM==\"usb\", ATTR{{idVendor}}==\"{vendor:04x}\", ATTR{{idProduct}}==\"{product:04x}\", TAG+=\"uaccess\" \
             (then `udevadm control --reload` and plug the device again), or add your user to the group that owns {node} \
             (often plugdev) and log in again"
        ),
        OpenFailure::Busy => format!(
            "USB device {vendor:04x}:{product:04x} ({node}) is busy: another program holds it, \
             or a kernel driver could not be detached; close that program and try again"
        ),
        OpenFailure::Gone => format!("USB device {vendor:04x}:{product:04x} ({node}) was unplugged"),
        OpenFailure::Other(what) => format!("cannot open USB device {vendor:04x}:{product:04x} ({node}): {what}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_node_and_the_fix() {
        let e = open_error(&OpenFailure::Access, 3, 7, 0x0781, 0x5567).to_string();
        assert!(e.contains("/dev/bus/usb/003/007"), "{e}");
        assert!(
            e.contains(r#"ATTR{idVendor}=="0781""#) && e.contains(r#"ATTR{idProduct}=="5567""#),
            "{e}"
        );
        assert!(e.contains("uaccess") && e.contains("plugdev"), "{e}");
        let e = open_error(&OpenFailure::Busy, 1, 12, 0x046d, 0xc52b).to_string();
        assert!(
            e.contains("busy") && e.contains("/dev/bus/usb/001/012") && e.contains("046d:c52b"),
            "{e}"
        );
        let e = open_error(&OpenFailure::Gone, 1, 2, 1, 2).to_string();
        assert!(e.contains("unplugged"), "{e}");
        let e = open_error(&OpenFailure::Other("Pipe error".into()), 1, 2, 1, 2).to_string();
        assert!(e.contains("Pipe error"), "{e}");
    }
}
