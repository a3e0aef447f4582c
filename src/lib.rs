//! Sumac: a SPICE remote-desktop client.
//!
//! # Code map
//! - [`proto`] (L0): wire format, sans-IO, shared with the test server.
//! - [`connector`] (L0): link handshakes (client and server side) as state machines.
//! - [`cursor`] (L0): cursor shapes decoded to RGBA, the cursor cache.
//! - [`display`] (L0): surfaces and the canvas; applies display messages, reports damage.
//! - [`client`] (L1): the red-client runtime: one thread per channel, sockets, TLS;
//!   `.vv` files ([`client::vv`]) and HTTP CONNECT proxies ([`client::proxy`]).
//! - [`channel`] (L0): the channel machines (sans-IO protocol logic of every channel).
//! - [`budget`]: the per-session memory budget every server-driven allocation counts against.
//! - [`cli`]: the `sumac` command line (remote-viewer compatible), GTK-free.
//!
//! L0 does no I/O; L0 and L1 never import GTK or GLib.

#![deny(unsafe_code)]

#[cfg(feature = "gtk")]
pub mod app;
pub mod budget;
pub mod channel;
pub mod cli;
pub mod client;
pub mod codec;
pub mod connector;
pub mod cursor;
pub mod display;
#[cfg(feature = "gtk")]
pub mod gtk;
#[cfg(feature = "gtk")]
pub mod i18n;
pub mod proto;
pub mod usbredir;
