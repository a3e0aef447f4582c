//! What the runtime tells the embedder. Channel threads send these; the UI
//! (or `sumac-cli`) receives them on its own thread. No GTK types here.

use super::error::{ChannelKey, ClientError};
use crate::display::{DisplayEvent, MonitorHead};
use std::sync::Arc;

pub use crate::cursor::{CursorEvent, CursorShape};

/// One event of a session.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A channel finished its link and runs on its own thread.
    ChannelUp {
        channel: ChannelKey,
        tls: bool,
    },
    /// A channel thread ended; `error` is None for a clean close.
    ChannelDown {
        channel: ChannelKey,
        error: Option<Arc<ClientError>>,
    },
    /// MAIN_INIT arrived.
    Init {
        session_id: u32,
        supported_mouse_modes: u32,
        current_mouse_mode: u32,
        agent_connected: bool,
    },
    /// The server announced its channels.
    ChannelsList(Vec<ChannelKey>),
    MouseMode {
        supported: u16,
        current: u16,
    },
    MultiMediaTime(u32),
    Name(String),
    Uuid([u8; 16]),
    /// The guest agent connected (`true`) or went away (`false`).
    AgentConnected(bool),
    /// Something from the guest agent: capabilities, clipboard, replies,
    /// file transfers ([`crate::client::agent`] explains the flows).
    Agent(super::agent::AgentEvent),
    /// A NOTIFY from the server (text as sent, lossily decoded).
    Notify {
        severity: u32,
        message: String,
    },
    /// The guest's lock keys (Caps/Num/Scroll) as the server reports them
    /// (INPUTS_INIT, then KEY_MODIFIERS on every change).
    KeyModifiers(crate::proto::channel::inputs::LockModifiers),
    /// The guest cursor changed (shape, position, visibility) on a cursor channel.
    Cursor {
        channel_id: u8,
        event: CursorEvent,
    },
    /// Something happened on a display channel (surface created, damage, MARK...).
    Display {
        channel_id: u8,
        event: DisplayEvent,
    },
    /// Monitors of a display channel changed.
    Monitors {
        channel_id: u8,
        heads: Vec<MonitorHead>,
    },
    /// Bytes arrived on a SpiceVMC channel's stream and nobody read the
    /// earlier ones yet ([`SessionHandle::vmc_stream`](super::SessionHandle::vmc_stream)).
    VmcReadable {
        channel: ChannelKey,
    },
    /// A port channel announced its name (PORT_INIT) and whether its guest side is open.
    Port {
        channel: ChannelKey,
        name: String,
        opened: bool,
    },
    /// A port channel's PORT_EVENT (`proto::channel::vmc::port_event`).
    PortEvent {
        channel: ChannelKey,
        event: u8,
    },
    /// A smartcard reader or card changed on the smartcard channel.
    Smartcard(crate::channel::smartcard::SmartcardEvent),
    /// USB redirection: devices, their states, free channels
    /// ([`SessionHandle::usb`](super::SessionHandle::usb)).
    Usb(super::usb::UsbEvent),
    /// Audio: playback started/stopped, volume or mute changed (either
    /// side), the microphone taken or released.
    Audio(super::audio::AudioEvent),
    /// The session's state changed ([`SessionState`](super::session::SessionState)).
    State(super::session::SessionState),
    /// A migration finished: the session runs on the destination server.
    Migrated {
        kind: super::reconnect::MigrationKind,
    },
    /// The server went away and the session relinks by itself: attempt
    /// `attempt` (from 1) starts after `delay`. `error` is why the last
    /// link ended. [`SessionHandle::cancel_reconnect`](super::SessionHandle::cancel_reconnect)
    /// stops it; `State(Up)` says it worked.
    Reconnecting {
        attempt: u32,
        delay: std::time::Duration,
        error: Arc<ClientError>,
    },
    /// The session ended: all channel threads are joined. `error` is None when
    /// the embedder asked for the disconnect.
    Disconnected {
        error: Option<Arc<ClientError>>,
    },
}
