//! L1 red-client runtime: one thread per channel (each with a current-thread
//! tokio runtime), sockets, TLS. Never imports GTK or GLib; talks to the
//! embedder through [`SessionEvent`]s and shared display state.
//!
//! Also what embedders need to start and use a session without GTK: the
//! launch path ([`launch`]: URI, `.vv` file and options merged), `.vv` files
//! ([`vv`]), HTTP CONNECT proxies ([`proxy`]) and screenshots ([`screenshot`]).

pub mod agent;
pub mod audio;
mod channels;
pub mod config;
pub mod console;
pub mod error;
pub mod events;
mod factory;
pub mod inputs;
pub mod launch;
pub mod live_stats;
pub mod machine;
pub mod media;
pub mod proxy;
pub mod qmp;
pub mod reconnect;
pub mod record;
pub mod replay;
mod runtime;
/// The receive buffer of a channel, for the `channel_framing` fuzz target.
#[doc(hidden)]
pub use runtime::inbuf;
pub mod screenshot;
pub mod session;
pub mod sharing;
#[cfg(feature = "smartcard")]
pub mod smartcard;
pub mod stats;
mod sync;
pub mod tls;
pub mod usb;
pub mod vmc;
pub mod vv;
#[cfg(feature = "webdav")]
pub mod webdav;

pub use agent::AgentHandle;
pub use audio::AudioHandle;
pub use config::ConnectionConfig;
pub use error::{ChannelKey, ClientError};
pub use events::SessionEvent;
pub use reconnect::{MigrationKind, MigrationSupport, ReconnectPolicy};
pub use session::{SessionHandle, SessionOptions, SessionState, connect};
pub use usb::{UsbDeviceId, UsbDeviceInfo, UsbDeviceState, UsbEvent, UsbHandle};
pub use vmc::VmcStream;
