//! USB redirection (L0, sans-IO): the usbredir protocol, device filters and
//! a virtual USB mass-storage device.
//!
//! usbredir tunnels the transfers of one USB device over a byte stream (in
//! SPICE, the SpiceVMC data of a `usbredir` channel). The side that owns the
//! device is the *usb-host* (a SPICE client is the host); the side that uses
//! it is the *usb-guest* (QEMU's `usb-redir` device).
//!
//! - [`proto`]: packet types, the capability bitmap, encoders and a bounded
//!   stream [`proto::Parser`] with the limits of libusbredirparser.
//! - [`filter`]: `class,vendor,product,version,allow|…` rules, as in
//!   `--spice-usbredir-auto-redirect-filter` and the `.vv` `usb-filter` key.
//! - [`msc`]: a virtual USB 2.0 mass-storage device (bulk-only transport,
//!   SCSI) over a [`msc::BlockStore`], speaking usbredir as the host.
//! - [`framer`]: packet boundaries of a stream without buffering bodies
//!   (a SPICE usbredir channel hands each packet whole to one device).
//! - [`file_store`]: the only I/O of this module, a [`msc::BlockStore`] on a
//!   raw disk-image file.
//!
//! Apart from [`file_store`], nothing here does I/O, spawns threads or reads
//! a clock; nothing panics on input from the peer.

#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

pub mod file_store;
pub mod filter;
pub mod framer;
pub mod msc;
pub mod proto;
#[cfg(test)]
#[cfg(unix)]
mod qemu_tests;
