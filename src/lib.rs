//! Sumac: a SPICE remote-desktop client.
//!
//! # Code map
//! - [`proto`] (L0): wire format, sans-IO, shared with the test server.
//! - [`connector`] (L0): link handshakes (client and server side) as state machines.
//! - [`cursor`] (L0): cursor shapes decoded to RGBA, the cursor cache.
//! - [`display`] (L0): surfaces and the canvas; applies display messages, reports damage.
//! - [`channel`] (L0): each channel type's protocol logic as a sans-IO machine.
//! - [`codec`] (L0): image decoders.
//! - [`client`] (L1): the red-client runtime: one thread per channel, sockets, TLS;
//!   the launch path ([`client::launch`]: URI, `.vv` file and options merged),
//!   `.vv` files ([`client::vv`]), HTTP CONNECT proxies ([`client::proxy`]),
//!   screenshots ([`client::screenshot`]).
//! - `cli` (feature `cli`): the clap definitions of the binaries' command
//!   lines (remote-viewer compatible), GTK-free.
//! - `gtk` (feature `gtk`, L2): the GTK4 widget; `app` (features `gtk` and
//!   `cli`): the desktop app.
//! - [`budget`]: the per-session memory budget every server-driven allocation counts against.
//!
//! L0 does no I/O; L0 and L1 never import GTK or GLib.

#![deny(unsafe_code)]

#[cfg(all(feature = "gtk", feature = "cli"))]
pub mod app;
pub mod budget;
pub mod channel;
#[cfg(feature = "cli")]
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
