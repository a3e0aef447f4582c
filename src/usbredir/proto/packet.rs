//! usbredir packet bodies as Rust values.

use std::borrow::Cow;

use super::packet_type as ty;
use super::{Caps, VERSION_LEN};

/// Endpoint slots of `ep_info`: OUT endpoints 0–15, then IN endpoints 0–15.
pub const EP_COUNT: usize = 32;
/// Most interfaces `interface_info` describes.
pub const MAX_INTERFACES: usize = 32;

/// The `ep_info` slot of an endpoint address (bit 7 = IN).
pub fn ep_index(ep: u8) -> usize {
    usize::from(ep & 0x0f) | usize::from((ep & 0x80) >> 3)
}

/// The endpoint address of an `ep_info` slot (`index` < 32).
pub fn ep_address(index: usize) -> u8 {
    let i = u8::try_from(index & 0x1f).unwrap_or(0);
    ((i & 0x10) << 3) | (i & 0x0f)
}

/// `hello`: a free-form version string and the sender's capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The version bytes up to the first NUL (at most 64); for logging only.
    pub version: Vec<u8>,
    /// The first capability word (later words name no known capability and
    /// are ignored on receipt, as libusbredirparser does).
    pub caps: Caps,
}

impl Hello {
    /// A hello announcing `caps`; `version` is cut to 63 bytes at a character boundary.
    pub fn new(version: &str, caps: Caps) -> Self {
        let mut end = version.len().min(VERSION_LEN - 1);
        while !version.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            version: version.as_bytes().get(..end).unwrap_or_default().to_vec(),
            caps,
        }
    }

    /// The version string, invalid UTF-8 replaced.
    pub fn version_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.version)
    }
}

/// `device_connect`: the host has a device for the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceConnect {
    /// One of [`super::speed`].
    pub speed: u8,
    pub device_class: u8,
    pub device_subclass: u8,
    pub device_protocol: u8,
    pub vendor_id: u16,
    pub product_id: u16,
    /// Sent only when both sides have [`super::Cap::ConnectDeviceVersion`]; 0 otherwise.
    pub device_version_bcd: u16,
}

/// One interface of `interface_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InterfaceEntry {
    pub number: u8,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
}

/// `interface_info`: the interfaces of the active configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceInfo {
    /// At most [`MAX_INTERFACES`] entries.
    pub interfaces: Vec<InterfaceEntry>,
}

/// One endpoint slot of `ep_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpInfoEntry {
    /// One of [`super::ep_type`].
    pub ep_type: u8,
    pub interval: u8,
    pub interface: u8,
    /// Sent only with [`super::Cap::EpInfoMaxPacketSize`] on both sides; 0 otherwise.
    pub max_packet_size: u16,
    /// Sent only with [`super::Cap::BulkStreams`] on both sides; 0 otherwise.
    pub max_streams: u32,
}

impl Default for EpInfoEntry {
    fn default() -> Self {
        Self {
            ep_type: super::ep_type::INVALID,
            interval: 0,
            interface: 0,
            max_packet_size: 0,
            max_streams: 0,
        }
    }
}

/// `ep_info`: every endpoint slot, indexed by [`ep_index`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EpInfo {
    pub endpoints: [EpInfoEntry; EP_COUNT],
}

/// `control_packet`: a control transfer (request from the guest, reply from the host).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlPacket {
    /// 0x80 for IN requests, 0x00 for OUT.
    pub endpoint: u8,
    pub request: u8,
    pub requesttype: u8,
    pub status: u8,
    pub value: u16,
    pub index: u16,
    /// Requested length (request) or transferred length (reply).
    pub length: u16,
    /// OUT data in a request, IN data in a reply; empty otherwise.
    pub data: Vec<u8>,
}

/// `bulk_packet`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkPacket {
    pub endpoint: u8,
    pub status: u8,
    /// Up to 32 bits with [`super::Cap::BulkLength32`] on both sides, else 16.
    pub length: u32,
    pub stream_id: u32,
    pub data: Vec<u8>,
}

/// `iso_packet` and `interrupt_packet` share this layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataPacket {
    pub endpoint: u8,
    pub status: u8,
    pub length: u16,
    pub data: Vec<u8>,
}

/// `buffered_bulk_packet` (host to guest only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BufferedBulkPacket {
    pub stream_id: u32,
    pub length: u32,
    pub endpoint: u8,
    pub status: u8,
    pub data: Vec<u8>,
}

/// One usbredir packet body (its id travels beside it, see [`super::Received`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Hello(Hello),
    DeviceConnect(DeviceConnect),
    DeviceDisconnect,
    Reset,
    InterfaceInfo(InterfaceInfo),
    EpInfo(Box<EpInfo>),
    SetConfiguration {
        configuration: u8,
    },
    GetConfiguration,
    ConfigurationStatus {
        status: u8,
        configuration: u8,
    },
    SetAltSetting {
        interface: u8,
        alt: u8,
    },
    GetAltSetting {
        interface: u8,
    },
    AltSettingStatus {
        status: u8,
        interface: u8,
        alt: u8,
    },
    StartIsoStream {
        endpoint: u8,
        pkts_per_urb: u8,
        no_urbs: u8,
    },
    StopIsoStream {
        endpoint: u8,
    },
    IsoStreamStatus {
        status: u8,
        endpoint: u8,
    },
    StartInterruptReceiving {
        endpoint: u8,
    },
    StopInterruptReceiving {
        endpoint: u8,
    },
    InterruptReceivingStatus {
        status: u8,
        endpoint: u8,
    },
    /// `endpoints` is a bitmask of [`ep_index`] slots.
    AllocBulkStreams {
        endpoints: u32,
        no_streams: u32,
    },
    FreeBulkStreams {
        endpoints: u32,
    },
    BulkStreamsStatus {
        endpoints: u32,
        no_streams: u32,
        status: u8,
    },
    /// Cancels the data packet whose id this packet carries.
    CancelDataPacket,
    FilterReject,
    /// A usbredirfilter string (bytes before the NUL; see [`crate::usbredir::filter`]).
    FilterFilter {
        filter: Vec<u8>,
    },
    DeviceDisconnectAck,
    StartBulkReceiving {
        stream_id: u32,
        bytes_per_transfer: u32,
        endpoint: u8,
        no_transfers: u8,
    },
    StopBulkReceiving {
        stream_id: u32,
        endpoint: u8,
    },
    BulkReceivingStatus {
        stream_id: u32,
        endpoint: u8,
        status: u8,
    },
    Control(ControlPacket),
    Bulk(BulkPacket),
    Iso(DataPacket),
    Interrupt(DataPacket),
    BufferedBulk(BufferedBulkPacket),
}

impl Packet {
    /// The packet type number.
    pub fn packet_type(&self) -> u32 {
        match self {
            Self::Hello(_) => ty::HELLO,
            Self::DeviceConnect(_) => ty::DEVICE_CONNECT,
            Self::DeviceDisconnect => ty::DEVICE_DISCONNECT,
            Self::Reset => ty::RESET,
            Self::InterfaceInfo(_) => ty::INTERFACE_INFO,
            Self::EpInfo(_) => ty::EP_INFO,
            Self::SetConfiguration { .. } => ty::SET_CONFIGURATION,
            Self::GetConfiguration => ty::GET_CONFIGURATION,
            Self::ConfigurationStatus { .. } => ty::CONFIGURATION_STATUS,
            Self::SetAltSetting { .. } => ty::SET_ALT_SETTING,
            Self::GetAltSetting { .. } => ty::GET_ALT_SETTING,
            Self::AltSettingStatus { .. } => ty::ALT_SETTING_STATUS,
            Self::StartIsoStream { .. } => ty::START_ISO_STREAM,
            Self::StopIsoStream { .. } => ty::STOP_ISO_STREAM,
            Self::IsoStreamStatus { .. } => ty::ISO_STREAM_STATUS,
            Self::StartInterruptReceiving { .. } => ty::START_INTERRUPT_RECEIVING,
            Self::StopInterruptReceiving { .. } => ty::STOP_INTERRUPT_RECEIVING,
            Self::InterruptReceivingStatus { .. } => ty::INTERRUPT_RECEIVING_STATUS,
            Self::AllocBulkStreams { .. } => ty::ALLOC_BULK_STREAMS,
            Self::FreeBulkStreams { .. } => ty::FREE_BULK_STREAMS,
            Self::BulkStreamsStatus { .. } => ty::BULK_STREAMS_STATUS,
            Self::CancelDataPacket => ty::CANCEL_DATA_PACKET,
            Self::FilterReject => ty::FILTER_REJECT,
            Self::FilterFilter { .. } => ty::FILTER_FILTER,
            Self::DeviceDisconnectAck => ty::DEVICE_DISCONNECT_ACK,
            Self::StartBulkReceiving { .. } => ty::START_BULK_RECEIVING,
            Self::StopBulkReceiving { .. } => ty::STOP_BULK_RECEIVING,
            Self::BulkReceivingStatus { .. } => ty::BULK_RECEIVING_STATUS,
            Self::Control(_) => ty::CONTROL_PACKET,
            Self::Bulk(_) => ty::BULK_PACKET,
            Self::Iso(_) => ty::ISO_PACKET,
            Self::Interrupt(_) => ty::INTERRUPT_PACKET,
            Self::BufferedBulk(_) => ty::BUFFERED_BULK_PACKET,
        }
    }

    /// The variable data the packet carries (empty for most types).
    pub fn data(&self) -> &[u8] {
        match self {
            Self::Control(p) => &p.data,
            Self::Bulk(p) => &p.data,
            Self::Iso(p) | Self::Interrupt(p) => &p.data,
            Self::BufferedBulk(p) => &p.data,
            Self::FilterFilter { filter } => filter,
            _ => &[],
        }
    }

    /// The filter string of a `FilterFilter` packet, invalid UTF-8 replaced.
    pub fn filter_str(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::FilterFilter { filter } => Some(String::from_utf8_lossy(filter)),
            _ => None,
        }
    }
}
