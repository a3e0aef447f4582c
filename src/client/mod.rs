//! L1 red-client runtime: one thread per channel (each with a current-thread
//! tokio runtime), sockets, TLS. Never imports GTK or GLib; talks to the
//! embedder through [`SessionEvent`]s and shared display state.

pub mod config;
mod cursor_channel;
mod display_channel;
pub mod error;
pub mod events;
mod inbuf;
pub mod inputs;
mod inputs_channel;
mod main_channel;
pub mod proxy;
pub mod record;
mod red_channel;
pub mod replay;
pub mod session;
pub mod stats;
pub mod tls;
mod transport;
pub mod vv;

pub use config::ConnectionConfig;
pub use error::{ChannelKey, ClientError};
pub use events::SessionEvent;
pub use session::{SessionHandle, SessionOptions, connect};
