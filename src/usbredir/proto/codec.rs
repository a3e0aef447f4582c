//! Type-specific headers: their sizes, decoding and the checks
//! libusbredirparser applies to a packet in either direction.

use super::packet::{
    BufferedBulkPacket, BulkPacket, ControlPacket, DataPacket, DeviceConnect, EP_COUNT, EpInfo, Hello, InterfaceEntry,
    InterfaceInfo, MAX_INTERFACES, Packet,
};
use super::packet_type as ty;
use super::{Cap, Caps, Context, MAX_BULK_TRANSFER_SIZE, ProtoError, Role, VERSION_LEN};

/// Size of `interface_info`'s type header.
const INTERFACE_INFO_LEN: usize = 4 + 4 * MAX_INTERFACES;
/// `ep_info` without `max_packet_size` and `max_streams`, with the former, with both.
const EP_INFO_LEN: [usize; 3] = [3 * EP_COUNT, 5 * EP_COUNT, 9 * EP_COUNT];
/// The largest type header (`ep_info` with every field).
pub(super) const MAX_TYPE_HEADER: usize = 9 * EP_COUNT;

/// Which side may send a packet type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    Host,
    Guest,
    Either,
}

/// The type header size of `ty` when `from` sends it, or why `from` cannot.
pub(super) fn type_header_len(ctx: &Context, ty: u32, from: Role) -> Result<usize, ProtoError> {
    use Sender::{Either, Guest, Host};
    let (sender, len) = match ty {
        ty::HELLO => (Either, VERSION_LEN),
        ty::DEVICE_CONNECT => (Host, if ctx.both(Cap::ConnectDeviceVersion) { 10 } else { 8 }),
        ty::DEVICE_DISCONNECT => (Host, 0),
        ty::RESET => (Guest, 0),
        ty::INTERFACE_INFO => (Host, INTERFACE_INFO_LEN),
        ty::EP_INFO => {
            let [short, mps, full] = EP_INFO_LEN;
            let len = if ctx.both(Cap::BulkStreams) {
                full
            } else if ctx.both(Cap::EpInfoMaxPacketSize) {
                mps
            } else {
                short
            };
            (Host, len)
        }
        ty::SET_CONFIGURATION => (Guest, 1),
        ty::GET_CONFIGURATION => (Guest, 0),
        ty::CONFIGURATION_STATUS => (Host, 2),
        ty::SET_ALT_SETTING => (Guest, 2),
        ty::GET_ALT_SETTING => (Guest, 1),
        ty::ALT_SETTING_STATUS => (Host, 3),
        ty::START_ISO_STREAM => (Guest, 3),
        ty::STOP_ISO_STREAM => (Guest, 1),
        ty::ISO_STREAM_STATUS => (Host, 2),
        ty::START_INTERRUPT_RECEIVING | ty::STOP_INTERRUPT_RECEIVING => (Guest, 1),
        ty::INTERRUPT_RECEIVING_STATUS => (Host, 2),
        ty::ALLOC_BULK_STREAMS => (Guest, 8),
        ty::FREE_BULK_STREAMS => (Guest, 4),
        ty::BULK_STREAMS_STATUS => (Host, 9),
        ty::CANCEL_DATA_PACKET | ty::FILTER_REJECT | ty::DEVICE_DISCONNECT_ACK => (Guest, 0),
        ty::FILTER_FILTER => (Either, 0),
        ty::START_BULK_RECEIVING => (Guest, 10),
        ty::STOP_BULK_RECEIVING => (Guest, 5),
        ty::BULK_RECEIVING_STATUS => (Host, 6),
        ty::CONTROL_PACKET => (Either, 10),
        ty::BULK_PACKET => (Either, if ctx.both(Cap::BulkLength32) { 10 } else { 8 }),
        ty::ISO_PACKET | ty::INTERRUPT_PACKET => (Either, 4),
        ty::BUFFERED_BULK_PACKET => (Host, 10),
        _ => return Err(ProtoError::UnknownType(ty)),
    };
    match (sender, from) {
        (Either, _) | (Host, Role::Host) | (Guest, Role::Guest) => Ok(len),
        _ => Err(ProtoError::WrongSender { ty, from }),
    }
}

/// Whether packets of type `ty` may carry data after their type header.
pub(super) fn may_carry_data(ty: u32) -> bool {
    matches!(
        ty,
        ty::HELLO
            | ty::FILTER_FILTER
            | ty::CONTROL_PACKET
            | ty::BULK_PACKET
            | ty::ISO_PACKET
            | ty::INTERRUPT_PACKET
            | ty::BUFFERED_BULK_PACKET
    )
}

/// Little-endian reads from a type header known to be long enough (a short
/// read yields zeros rather than a panic).
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = self.u8();
        }
        a
    }
}

/// Builds the packet `from` sent: `th` is its whole type header, `data` what
/// followed (for a hello, the capability bytes kept). Applies [`verify`].
pub(super) fn decode(ctx: &Context, from: Role, ty: u32, th: &[u8], data: Vec<u8>) -> Result<Packet, ProtoError> {
    let mut f = Fields(th);
    let packet = match ty {
        ty::HELLO => {
            let version = f.array::<VERSION_LEN>();
            let end = version.iter().position(|&b| b == 0).unwrap_or(VERSION_LEN);
            let caps = data
                .get(..4)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .map_or(0, u32::from_le_bytes);
            Packet::Hello(Hello {
                version: version.get(..end).unwrap_or_default().to_vec(),
                caps: Caps(caps),
            })
        }
        ty::DEVICE_CONNECT => Packet::DeviceConnect(DeviceConnect {
            speed: f.u8(),
            device_class: f.u8(),
            device_subclass: f.u8(),
            device_protocol: f.u8(),
            vendor_id: f.u16(),
            product_id: f.u16(),
            device_version_bcd: f.u16(),
        }),
        ty::DEVICE_DISCONNECT => Packet::DeviceDisconnect,
        ty::RESET => Packet::Reset,
        ty::INTERFACE_INFO => {
            let count = f.u32();
            let n = usize::try_from(count)
                .ok()
                .filter(|&n| n <= MAX_INTERFACES)
                .ok_or(ProtoError::TooManyInterfaces(count))?;
            let [number, class, subclass, protocol] = [0; 4].map(|_| f.array::<MAX_INTERFACES>());
            let interfaces = (0..n)
                .map(|i| InterfaceEntry {
                    number: number.get(i).copied().unwrap_or(0),
                    class: class.get(i).copied().unwrap_or(0),
                    subclass: subclass.get(i).copied().unwrap_or(0),
                    protocol: protocol.get(i).copied().unwrap_or(0),
                })
                .collect();
            Packet::InterfaceInfo(InterfaceInfo { interfaces })
        }
        ty::EP_INFO => {
            let mut info = EpInfo::default();
            for e in &mut info.endpoints {
                e.ep_type = f.u8();
            }
            for e in &mut info.endpoints {
                e.interval = f.u8();
            }
            for e in &mut info.endpoints {
                e.interface = f.u8();
            }
            for e in &mut info.endpoints {
                e.max_packet_size = f.u16();
            }
            for e in &mut info.endpoints {
                e.max_streams = f.u32();
            }
            Packet::EpInfo(Box::new(info))
        }
        ty::SET_CONFIGURATION => Packet::SetConfiguration { configuration: f.u8() },
        ty::GET_CONFIGURATION => Packet::GetConfiguration,
        ty::CONFIGURATION_STATUS => Packet::ConfigurationStatus {
            status: f.u8(),
            configuration: f.u8(),
        },
        ty::SET_ALT_SETTING => Packet::SetAltSetting {
            interface: f.u8(),
            alt: f.u8(),
        },
        ty::GET_ALT_SETTING => Packet::GetAltSetting { interface: f.u8() },
        ty::ALT_SETTING_STATUS => Packet::AltSettingStatus {
            status: f.u8(),
            interface: f.u8(),
            alt: f.u8(),
        },
        ty::START_ISO_STREAM => Packet::StartIsoStream {
            endpoint: f.u8(),
            pkts_per_urb: f.u8(),
            no_urbs: f.u8(),
        },
        ty::STOP_ISO_STREAM => Packet::StopIsoStream { endpoint: f.u8() },
        ty::ISO_STREAM_STATUS => Packet::IsoStreamStatus {
            status: f.u8(),
            endpoint: f.u8(),
        },
        ty::START_INTERRUPT_RECEIVING => Packet::StartInterruptReceiving { endpoint: f.u8() },
        ty::STOP_INTERRUPT_RECEIVING => Packet::StopInterruptReceiving { endpoint: f.u8() },
        ty::INTERRUPT_RECEIVING_STATUS => Packet::InterruptReceivingStatus {
            status: f.u8(),
            endpoint: f.u8(),
        },
        ty::ALLOC_BULK_STREAMS => Packet::AllocBulkStreams {
            endpoints: f.u32(),
            no_streams: f.u32(),
        },
        ty::FREE_BULK_STREAMS => Packet::FreeBulkStreams { endpoints: f.u32() },
        ty::BULK_STREAMS_STATUS => Packet::BulkStreamsStatus {
            endpoints: f.u32(),
            no_streams: f.u32(),
            status: f.u8(),
        },
        ty::CANCEL_DATA_PACKET => Packet::CancelDataPacket,
        ty::FILTER_REJECT => Packet::FilterReject,
        ty::FILTER_FILTER => {
            if data.last() != Some(&0) {
                return Err(ProtoError::BadFilterString);
            }
            let mut filter = data;
            let end = filter.iter().position(|&b| b == 0).unwrap_or(0);
            filter.truncate(end);
            Packet::FilterFilter { filter }
        }
        ty::DEVICE_DISCONNECT_ACK => Packet::DeviceDisconnectAck,
        ty::START_BULK_RECEIVING => Packet::StartBulkReceiving {
            stream_id: f.u32(),
            bytes_per_transfer: f.u32(),
            endpoint: f.u8(),
            no_transfers: f.u8(),
        },
        ty::STOP_BULK_RECEIVING => Packet::StopBulkReceiving {
            stream_id: f.u32(),
            endpoint: f.u8(),
        },
        ty::BULK_RECEIVING_STATUS => Packet::BulkReceivingStatus {
            stream_id: f.u32(),
            endpoint: f.u8(),
            status: f.u8(),
        },
        ty::CONTROL_PACKET => Packet::Control(ControlPacket {
            endpoint: f.u8(),
            request: f.u8(),
            requesttype: f.u8(),
            status: f.u8(),
            value: f.u16(),
            index: f.u16(),
            length: f.u16(),
            data,
        }),
        ty::BULK_PACKET => {
            let (endpoint, status, low, stream_id) = (f.u8(), f.u8(), f.u16(), f.u32());
            // Without the capability the high half is not on the wire (or ignored).
            let high = if ctx.both(Cap::BulkLength32) { f.u16() } else { 0 };
            Packet::Bulk(BulkPacket {
                endpoint,
                status,
                length: u32::from(high) << 16 | u32::from(low),
                stream_id,
                data,
            })
        }
        ty::ISO_PACKET | ty::INTERRUPT_PACKET => {
            let p = DataPacket {
                endpoint: f.u8(),
                status: f.u8(),
                length: f.u16(),
                data,
            };
            if ty == ty::ISO_PACKET {
                Packet::Iso(p)
            } else {
                Packet::Interrupt(p)
            }
        }
        ty::BUFFERED_BULK_PACKET => Packet::BufferedBulk(BufferedBulkPacket {
            stream_id: f.u32(),
            length: f.u32(),
            endpoint: f.u8(),
            status: f.u8(),
            data,
        }),
        other => return Err(ProtoError::UnknownType(other)),
    };
    verify(ctx, from, &packet)?;
    Ok(packet)
}

/// Whether the side receiving a packet `from` sent has `cap`: when we send,
/// the peer must have it; when we receive, we must.
fn receiver_has(ctx: &Context, from: Role, cap: Cap) -> bool {
    if from == ctx.role() {
        ctx.peer_has(cap)
    } else {
        ctx.ours().has(cap)
    }
}

fn need_cap(ctx: &Context, from: Role, cap: Cap, what: &'static str) -> Result<(), ProtoError> {
    if receiver_has(ctx, from, cap) {
        Ok(())
    } else {
        Err(ProtoError::MissingCap { what, cap })
    }
}

fn need_in(ep: u8, what: &'static str) -> Result<(), ProtoError> {
    if ep & 0x80 != 0 {
        Ok(())
    } else {
        Err(ProtoError::NotInEndpoint { what, ep })
    }
}

/// The checks libusbredirparser makes on a packet `from` sent (whether we
/// send it or receive it).
pub(super) fn verify(ctx: &Context, from: Role, packet: &Packet) -> Result<(), ProtoError> {
    let (what, ep, length, data_len) = match packet {
        Packet::InterfaceInfo(info) if info.interfaces.len() > MAX_INTERFACES => {
            let n = u32::try_from(info.interfaces.len()).unwrap_or(u32::MAX);
            return Err(ProtoError::TooManyInterfaces(n));
        }
        Packet::StartInterruptReceiving { endpoint } => return need_in(*endpoint, "start_interrupt_receiving"),
        Packet::StopInterruptReceiving { endpoint } => return need_in(*endpoint, "stop_interrupt_receiving"),
        Packet::InterruptReceivingStatus { endpoint, .. } => {
            return need_in(*endpoint, "interrupt_receiving_status");
        }
        Packet::FilterReject => return need_cap(ctx, from, Cap::Filter, "filter_reject"),
        Packet::FilterFilter { filter } => {
            need_cap(ctx, from, Cap::Filter, "filter_filter")?;
            return if filter.contains(&0) {
                Err(ProtoError::BadFilterString)
            } else {
                Ok(())
            };
        }
        Packet::DeviceDisconnectAck => {
            return need_cap(ctx, from, Cap::DeviceDisconnectAck, "device_disconnect_ack");
        }
        Packet::StartBulkReceiving {
            bytes_per_transfer,
            endpoint,
            ..
        } => {
            const WHAT: &str = "start_bulk_receiving";
            need_cap(ctx, from, Cap::BulkReceiving, WHAT)?;
            transfer_limit(WHAT, *bytes_per_transfer)?;
            return need_in(*endpoint, WHAT);
        }
        Packet::StopBulkReceiving { endpoint, .. } => {
            need_cap(ctx, from, Cap::BulkReceiving, "stop_bulk_receiving")?;
            return need_in(*endpoint, "stop_bulk_receiving");
        }
        Packet::BulkReceivingStatus { endpoint, .. } => {
            need_cap(ctx, from, Cap::BulkReceiving, "bulk_receiving_status")?;
            return need_in(*endpoint, "bulk_receiving_status");
        }
        Packet::Control(p) => ("control packet", p.endpoint, u32::from(p.length), p.data.len()),
        Packet::Bulk(p) => {
            transfer_limit("bulk packet", p.length)?;
            if p.length > 0xffff && !ctx.both(Cap::BulkLength32) {
                return Err(ProtoError::NeedsBulkLength32(p.length));
            }
            ("bulk packet", p.endpoint, p.length, p.data.len())
        }
        Packet::Iso(p) => ("iso packet", p.endpoint, u32::from(p.length), p.data.len()),
        Packet::Interrupt(p) => ("interrupt packet", p.endpoint, u32::from(p.length), p.data.len()),
        Packet::BufferedBulk(p) => {
            need_cap(ctx, from, Cap::BulkReceiving, "buffered bulk packet")?;
            transfer_limit("buffered bulk packet", p.length)?;
            ("buffered bulk packet", p.endpoint, p.length, p.data.len())
        }
        _ => return Ok(()),
    };
    // Data travels with the endpoint's direction: IN data from the host, OUT data from the guest.
    let carries_data = (ep & 0x80 != 0) == (from == Role::Host);
    if carries_data {
        if usize::try_from(length).ok() != Some(data_len) {
            return Err(ProtoError::DataLengthMismatch {
                what,
                ep,
                length,
                data: data_len,
            });
        }
        return Ok(());
    }
    if data_len != 0 {
        return Err(ProtoError::UnexpectedData { what, ep });
    }
    match packet {
        Packet::Iso(_) | Packet::BufferedBulk(_) => Err(ProtoError::WrongDirection { what, ep }),
        Packet::Interrupt(_) if from == Role::Guest => Err(ProtoError::WrongDirection { what, ep }),
        _ => Ok(()),
    }
}

fn transfer_limit(what: &'static str, length: u32) -> Result<(), ProtoError> {
    if length > MAX_BULK_TRANSFER_SIZE {
        Err(ProtoError::TransferTooLarge {
            what,
            length,
            max: MAX_BULK_TRANSFER_SIZE,
        })
    } else {
        Ok(())
    }
}
