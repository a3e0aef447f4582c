//! L1 red-client runtime: one thread per channel (each with a current-thread
//! tokio runtime), sockets, TLS. Never imports GTK or GLib; talks to the
//! embedder through [`SessionEvent`]s and shared display state.

pub mod agent;
mod channels;
pub mod config;
pub mod error;
pub mod events;
mod factory;
pub mod inputs;
pub mod media;
pub mod proxy;
pub mod qmp;
pub mod record;
pub mod replay;
mod runtime;
pub mod session;
pub mod sharing;
#[cfg(feature = "smartcard")]
pub mod smartcard;
pub mod stats;
mod sync;
pub mod tls;
pub mod vmc;
pub mod vv;
#[cfg(feature = "webdav")]
pub mod webdav;

pub use agent::AgentHandle;
pub use config::ConnectionConfig;
pub use error::{ChannelKey, ClientError};
pub use events::SessionEvent;
pub use session::{SessionHandle, SessionOptions, SessionState, connect};
pub use vmc::VmcStream;
