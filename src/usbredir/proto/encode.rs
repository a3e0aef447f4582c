//! Encoding: type headers and whole packets.

use super::codec::{type_header_len, verify};
use super::packet::{EpInfoEntry, InterfaceEntry, MAX_INTERFACES, Packet};
use super::packet_type as ty;
use super::{Cap, Context, MAX_PACKET_SIZE, ProtoError, VERSION_LEN};

/// Writes `packet`'s type header (exactly [`type_header_len`] bytes).
fn write_type_header(ctx: &Context, packet: &Packet, out: &mut Vec<u8>) {
    let mut put = |bytes: &[u8]| out.extend_from_slice(bytes);
    match packet {
        Packet::Hello(h) => {
            let mut version = [0u8; VERSION_LEN];
            for (d, s) in version.iter_mut().zip(&h.version) {
                *d = *s;
            }
            put(&version);
        }
        Packet::DeviceConnect(d) => {
            put(&[d.speed, d.device_class, d.device_subclass, d.device_protocol]);
            put(&d.vendor_id.to_le_bytes());
            put(&d.product_id.to_le_bytes());
            if ctx.both(Cap::ConnectDeviceVersion) {
                put(&d.device_version_bcd.to_le_bytes());
            }
        }
        Packet::InterfaceInfo(info) => {
            let n = info.interfaces.len().min(MAX_INTERFACES);
            put(&u32::try_from(n).unwrap_or(0).to_le_bytes());
            let column = |field: fn(&InterfaceEntry) -> u8| {
                let mut a = [0u8; MAX_INTERFACES];
                for (d, e) in a.iter_mut().zip(&info.interfaces) {
                    *d = field(e);
                }
                a
            };
            put(&column(|e| e.number));
            put(&column(|e| e.class));
            put(&column(|e| e.subclass));
            put(&column(|e| e.protocol));
        }
        Packet::EpInfo(info) => {
            let eps = &info.endpoints;
            let column = |field: fn(&EpInfoEntry) -> u8| eps.map(|e| field(&e));
            put(&column(|e| e.ep_type));
            put(&column(|e| e.interval));
            put(&column(|e| e.interface));
            if ctx.both(Cap::EpInfoMaxPacketSize) || ctx.both(Cap::BulkStreams) {
                eps.iter().for_each(|e| put(&e.max_packet_size.to_le_bytes()));
            }
            if ctx.both(Cap::BulkStreams) {
                eps.iter().for_each(|e| put(&e.max_streams.to_le_bytes()));
            }
        }
        Packet::SetConfiguration { configuration } => put(&[*configuration]),
        Packet::ConfigurationStatus { status, configuration } => put(&[*status, *configuration]),
        Packet::SetAltSetting { interface, alt } => put(&[*interface, *alt]),
        Packet::GetAltSetting { interface } => put(&[*interface]),
        Packet::AltSettingStatus { status, interface, alt } => put(&[*status, *interface, *alt]),
        Packet::StartIsoStream {
            endpoint,
            pkts_per_urb,
            no_urbs,
        } => put(&[*endpoint, *pkts_per_urb, *no_urbs]),
        Packet::StopIsoStream { endpoint }
        | Packet::StartInterruptReceiving { endpoint }
        | Packet::StopInterruptReceiving { endpoint } => put(&[*endpoint]),
        Packet::IsoStreamStatus { status, endpoint } | Packet::InterruptReceivingStatus { status, endpoint } => {
            put(&[*status, *endpoint]);
        }
        Packet::AllocBulkStreams { endpoints, no_streams } => {
            put(&endpoints.to_le_bytes());
            put(&no_streams.to_le_bytes());
        }
        Packet::FreeBulkStreams { endpoints } => put(&endpoints.to_le_bytes()),
        Packet::BulkStreamsStatus {
            endpoints,
            no_streams,
            status,
        } => {
            put(&endpoints.to_le_bytes());
            put(&no_streams.to_le_bytes());
            put(&[*status]);
        }
        Packet::StartBulkReceiving {
            stream_id,
            bytes_per_transfer,
            endpoint,
            no_transfers,
        } => {
            put(&stream_id.to_le_bytes());
            put(&bytes_per_transfer.to_le_bytes());
            put(&[*endpoint, *no_transfers]);
        }
        Packet::StopBulkReceiving { stream_id, endpoint } => {
            put(&stream_id.to_le_bytes());
            put(&[*endpoint]);
        }
        Packet::BulkReceivingStatus {
            stream_id,
            endpoint,
            status,
        } => {
            put(&stream_id.to_le_bytes());
            put(&[*endpoint, *status]);
        }
        Packet::Control(p) => {
            put(&[p.endpoint, p.request, p.requesttype, p.status]);
            put(&p.value.to_le_bytes());
            put(&p.index.to_le_bytes());
            put(&p.length.to_le_bytes());
        }
        Packet::Bulk(p) => {
            put(&[p.endpoint, p.status]);
            put(&low16(p.length).to_le_bytes());
            put(&p.stream_id.to_le_bytes());
            if ctx.both(Cap::BulkLength32) {
                put(&low16(p.length >> 16).to_le_bytes());
            }
        }
        Packet::Iso(p) | Packet::Interrupt(p) => {
            put(&[p.endpoint, p.status]);
            put(&p.length.to_le_bytes());
        }
        Packet::BufferedBulk(p) => {
            put(&p.stream_id.to_le_bytes());
            put(&p.length.to_le_bytes());
            put(&[p.endpoint, p.status]);
        }
        Packet::DeviceDisconnect
        | Packet::Reset
        | Packet::GetConfiguration
        | Packet::CancelDataPacket
        | Packet::FilterReject
        | Packet::FilterFilter { .. }
        | Packet::DeviceDisconnectAck => {}
    }
}

fn low16(v: u32) -> u16 {
    u16::try_from(v & 0xffff).unwrap_or(0)
}

/// Encodes `packet` as sent by `ctx`'s role. With 32-bit ids only the low half of `id` is
/// sent; a hello always has a 32-bit id (the protocol's rule: it precedes the negotiation).
pub(super) fn encode(ctx: &Context, id: u64, packet: &Packet, out: &mut Vec<u8>) -> Result<(), ProtoError> {
    let ty = packet.packet_type();
    let th_len = type_header_len(ctx, ty, ctx.role())?;
    verify(ctx, ctx.role(), packet)?;
    let hello_caps;
    let data: &[u8] = match packet {
        Packet::Hello(h) => {
            hello_caps = h.caps.0.to_le_bytes();
            &hello_caps
        }
        Packet::FilterFilter { filter } => filter,
        other => other.data(),
    };
    let nul = usize::from(ty == ty::FILTER_FILTER);
    let length = th_len
        .checked_add(data.len())
        .and_then(|n| n.checked_add(nul))
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n <= MAX_PACKET_SIZE)
        .ok_or(ProtoError::TooLong {
            ty,
            length: u32::try_from(data.len()).unwrap_or(u32::MAX),
            max: MAX_PACKET_SIZE,
        })?;
    // The hello goes out before the peer's caps are known: always 32-bit ids.
    let header_len = if ty == ty::HELLO { 12 } else { ctx.header_len() };
    let start = out.len();
    out.reserve(header_len + th_len + data.len() + nul);
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    if header_len == 16 {
        out.extend_from_slice(&id.to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(id & 0xffff_ffff).unwrap_or(0).to_le_bytes());
    }
    write_type_header(ctx, packet, out);
    debug_assert_eq!(out.len() - start, header_len + th_len, "type header size of {ty}");
    out.extend_from_slice(data);
    if nul == 1 {
        out.push(0);
    }
    Ok(())
}
