//! The usbredir wire protocol (version 0.7), sans-IO.
//!
//! Every packet is a header `{u32 type, u32 length, u32 or u64 id}` (the id is
//! 64 bits wide once both sides announced [`Cap::Ids64`]), a fixed
//! type-specific header whose size may depend on negotiated capabilities, and
//! for some types variable data. All integers are little endian, all
//! structures packed.
//!
//! - [`Packet`] is one packet body, [`Context`] the negotiation state that
//!   decides the sizes; [`Context::encode`] writes a packet as sent by its own
//!   role.
//! - [`Parser`] turns a byte stream from the peer into [`Received`] packets.
//!   It applies the limits of libusbredirparser (packet length at most
//!   [`MAX_PACKET_SIZE`], transfers at most [`MAX_BULK_TRANSFER_SIZE`],
//!   `interface_count` ≤ 32, direction and capability checks) and keeps at
//!   most one packet in memory, growing its buffer only as bytes arrive. A
//!   rejected packet is skipped whole and reported as a [`ProtoError`]; the
//!   stream stays in sync, so the caller may go on or close the channel.

mod codec;
mod encode;
mod packet;
mod parser;
#[cfg(test)]
mod tests;

use std::fmt;

use thiserror::Error;

pub use packet::{
    BufferedBulkPacket, BulkPacket, ControlPacket, DataPacket, DeviceConnect, EP_COUNT, EpInfo, EpInfoEntry, Hello,
    InterfaceEntry, InterfaceInfo, MAX_INTERFACES, Packet, ep_address, ep_index,
};
pub use parser::{Limits, Parsed, Parser, Received};

/// Largest bulk transfer either side accepts (libusbredirparser's limit).
pub const MAX_BULK_TRANSFER_SIZE: u32 = 128 * 1024 * 1024;
/// Largest `length` of a packet (type header and data): a transfer plus 1 KiB.
pub const MAX_PACKET_SIZE: u32 = 1024 + MAX_BULK_TRANSFER_SIZE;
/// Size of the version string in a hello packet.
pub const VERSION_LEN: usize = 64;

/// The two ends of a usbredir connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Owns the device and answers requests (a SPICE client, usbredirhost).
    Host,
    /// Uses the device (QEMU's `usb-redir`).
    Guest,
}

impl Role {
    /// The role at the other end.
    pub fn peer(self) -> Self {
        match self {
            Self::Host => Self::Guest,
            Self::Guest => Self::Host,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Host => "usb-host",
            Self::Guest => "usb-guest",
        })
    }
}

/// Packet type numbers.
pub mod packet_type {
    pub const HELLO: u32 = 0;
    pub const DEVICE_CONNECT: u32 = 1;
    pub const DEVICE_DISCONNECT: u32 = 2;
    pub const RESET: u32 = 3;
    pub const INTERFACE_INFO: u32 = 4;
    pub const EP_INFO: u32 = 5;
    pub const SET_CONFIGURATION: u32 = 6;
    pub const GET_CONFIGURATION: u32 = 7;
    pub const CONFIGURATION_STATUS: u32 = 8;
    pub const SET_ALT_SETTING: u32 = 9;
    pub const GET_ALT_SETTING: u32 = 10;
    pub const ALT_SETTING_STATUS: u32 = 11;
    pub const START_ISO_STREAM: u32 = 12;
    pub const STOP_ISO_STREAM: u32 = 13;
    pub const ISO_STREAM_STATUS: u32 = 14;
    pub const START_INTERRUPT_RECEIVING: u32 = 15;
    pub const STOP_INTERRUPT_RECEIVING: u32 = 16;
    pub const INTERRUPT_RECEIVING_STATUS: u32 = 17;
    pub const ALLOC_BULK_STREAMS: u32 = 18;
    pub const FREE_BULK_STREAMS: u32 = 19;
    pub const BULK_STREAMS_STATUS: u32 = 20;
    pub const CANCEL_DATA_PACKET: u32 = 21;
    pub const FILTER_REJECT: u32 = 22;
    pub const FILTER_FILTER: u32 = 23;
    pub const DEVICE_DISCONNECT_ACK: u32 = 24;
    pub const START_BULK_RECEIVING: u32 = 25;
    pub const STOP_BULK_RECEIVING: u32 = 26;
    pub const BULK_RECEIVING_STATUS: u32 = 27;
    pub const CONTROL_PACKET: u32 = 100;
    pub const BULK_PACKET: u32 = 101;
    pub const ISO_PACKET: u32 = 102;
    pub const INTERRUPT_PACKET: u32 = 103;
    pub const BUFFERED_BULK_PACKET: u32 = 104;
}

/// Status codes of replies; any other value is an error too.
pub mod status {
    pub const SUCCESS: u8 = 0;
    pub const CANCELLED: u8 = 1;
    pub const INVAL: u8 = 2;
    pub const IOERROR: u8 = 3;
    pub const STALL: u8 = 4;
    pub const TIMEOUT: u8 = 5;
    pub const BABBLE: u8 = 6;
}

/// Device speeds of `device_connect`.
pub mod speed {
    pub const LOW: u8 = 0;
    pub const FULL: u8 = 1;
    pub const HIGH: u8 = 2;
    pub const SUPER: u8 = 3;
    pub const UNKNOWN: u8 = 255;
}

/// Endpoint types of `ep_info` (the USB transfer types).
pub mod ep_type {
    pub const CONTROL: u8 = 0;
    pub const ISO: u8 = 1;
    pub const BULK: u8 = 2;
    pub const INTERRUPT: u8 = 3;
    pub const INVALID: u8 = 255;
}

/// One capability bit of a hello packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cap {
    /// USB 3 bulk streams; `ep_info` carries `max_streams`.
    BulkStreams = 0,
    /// `device_connect` carries `device_version_bcd`.
    ConnectDeviceVersion = 1,
    /// `filter_reject` and `filter_filter`.
    Filter = 2,
    /// `device_disconnect_ack`.
    DeviceDisconnectAck = 3,
    /// `ep_info` carries `max_packet_size`.
    EpInfoMaxPacketSize = 4,
    /// 64-bit packet ids.
    Ids64 = 5,
    /// Bulk packets carry `length_high`.
    BulkLength32 = 6,
    /// Buffered bulk input (`start_bulk_receiving`…).
    BulkReceiving = 7,
}

/// The capability bitmap (one 32-bit word: every known capability fits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Caps(pub u32);

impl Caps {
    /// The capabilities of `caps`.
    pub fn of(caps: &[Cap]) -> Self {
        caps.iter().fold(Self(0), |c, &cap| c.with(cap))
    }

    pub fn has(self, cap: Cap) -> bool {
        self.0 & (1 << cap as u32) != 0
    }

    #[must_use]
    pub fn with(self, cap: Cap) -> Self {
        Self(self.0 | 1 << cap as u32)
    }

    #[must_use]
    pub fn without(self, cap: Cap) -> Self {
        Self(self.0 & !(1 << cap as u32))
    }

    /// Bulk streams are not allowed without `EpInfoMaxPacketSize`: drops the
    /// former in that case, as libusbredirparser does.
    #[must_use]
    pub fn verified(self) -> Self {
        if self.has(Cap::BulkStreams) && !self.has(Cap::EpInfoMaxPacketSize) {
            self.without(Cap::BulkStreams)
        } else {
            self
        }
    }
}

/// A packet that cannot be accepted (received) or sent (encoded).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtoError {
    #[error("usbredir packet type {0} is unknown")]
    UnknownType(u32),
    #[error("usbredir packet type {ty} is never sent by the {from}")]
    WrongSender { ty: u32, from: Role },
    #[error("usbredir packet type {ty}: length {length} exceeds the limit of {max}")]
    TooLong { ty: u32, length: u32, max: u32 },
    #[error("usbredir packet type {ty}: length {length} does not fit its {header}-byte header")]
    BadLength { ty: u32, length: u32, header: usize },
    #[error("usbredir interface_info: interface_count {0} > 32")]
    TooManyInterfaces(u32),
    #[error("usbredir {what}: endpoint {ep:#04x} is not an IN endpoint")]
    NotInEndpoint { what: &'static str, ep: u8 },
    #[error("usbredir {what} needs the {cap:?} capability on the receiving side")]
    MissingCap { what: &'static str, cap: Cap },
    #[error("usbredir filter_filter: the filter string is empty or not NUL-terminated")]
    BadFilterString,
    #[error("usbredir {what}: transfer length {length} exceeds the limit of {max}")]
    TransferTooLarge { what: &'static str, length: u32, max: u32 },
    #[error("usbredir {what}: {data} data bytes for a length of {length} (endpoint {ep:#04x})")]
    DataLengthMismatch {
        what: &'static str,
        ep: u8,
        length: u32,
        data: usize,
    },
    #[error("usbredir {what}: data sent against the direction of endpoint {ep:#04x}")]
    UnexpectedData { what: &'static str, ep: u8 },
    #[error("usbredir {what}: not sent in this direction for endpoint {ep:#04x}")]
    WrongDirection { what: &'static str, ep: u8 },
    #[error("usbredir bulk packet: length {0} needs the 32bits_bulk_length capability")]
    NeedsBulkLength32(u32),
    #[error("usbredir: a second hello packet, ignored")]
    DuplicateHello,
}

/// What a connection negotiated: whose side we are, our capabilities and the
/// peer's (known once its hello arrived). Decides header and type-header sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    role: Role,
    ours: Caps,
    peer: Option<Caps>,
}

impl Context {
    /// A connection of `role` announcing `ours` (checked with [`Caps::verified`]).
    pub fn new(role: Role, ours: Caps) -> Self {
        Self {
            role,
            ours: ours.verified(),
            peer: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn ours(&self) -> Caps {
        self.ours
    }

    pub fn peer(&self) -> Option<Caps> {
        self.peer
    }

    /// Records the peer's capabilities (from its hello).
    pub fn set_peer(&mut self, caps: Caps) {
        self.peer = Some(caps.verified());
    }

    /// Whether the peer announced `cap`.
    pub fn peer_has(&self, cap: Cap) -> bool {
        self.peer.is_some_and(|p| p.has(cap))
    }

    /// Whether both sides announced `cap`.
    pub fn both(&self, cap: Cap) -> bool {
        self.ours.has(cap) && self.peer_has(cap)
    }

    /// Size of the packet header: 16 bytes with 64-bit ids, else 12.
    pub fn header_len(&self) -> usize {
        if self.both(Cap::Ids64) { 16 } else { 12 }
    }

    /// The same connection seen from the other end (for tests and oracles).
    pub fn mirrored(&self) -> Self {
        Self {
            role: self.role.peer(),
            ours: self.peer.unwrap_or_default(),
            peer: Some(self.ours),
        }
    }

    /// Encodes `packet` with header and `id`, as sent by this side.
    pub fn encode(&self, id: u64, packet: &Packet) -> Result<Vec<u8>, ProtoError> {
        let mut out = Vec::new();
        self.encode_into(id, packet, &mut out)?;
        Ok(out)
    }

    /// Appends `packet` with header and `id` to `out`; on error `out` is unchanged.
    pub fn encode_into(&self, id: u64, packet: &Packet, out: &mut Vec<u8>) -> Result<(), ProtoError> {
        encode::encode(self, id, packet, out)
    }
}
