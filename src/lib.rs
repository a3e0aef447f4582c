//! Sumac: a SPICE remote-desktop client.
//!
//! # Code map
//! - [`proto`] (L0): wire format, sans-IO, shared with the test server.
//! - [`connector`] (L0): link handshakes (client and server side) as state machines.
//! - [`display`] (L0): surfaces and the canvas; applies display messages, reports damage.
//! - [`client`] (L1): the red-client runtime: one thread per channel, sockets, TLS.
//!
//! L0 does no I/O; L0 and L1 never import GTK or GLib.

#![forbid(unsafe_code)]

pub mod client;
pub mod codec;
pub mod connector;
pub mod display;
pub mod proto;
