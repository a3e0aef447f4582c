//! The usbredir channel of the test server: it plays QEMU's `usb-redir` (the
//! usb-guest) from a script, so the client's USB endpoint can be fed hostile
//! streams: lying lengths, unknown types, huge packets, interleaved ids, a
//! stream cut in the middle of a transfer.

use sumac::usbredir::proto::{Cap, Caps, Hello, Packet, Parser, Role};

/// One step of a usbredir channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbStep {
    /// Raw usbredir bytes, sent as one SPICEVMC_DATA message.
    Send(Vec<u8>),
    /// `len` zero bytes in SPICEVMC_DATA messages of at most 1 MiB (the body of a huge packet).
    SendZeros(u64),
    /// Waits (at most 30 s) until the client sent a usbredir packet of this type.
    Await(u32),
    /// Closes the channel.
    Close,
}

/// What the usbredir channels do after the link (every usbredir channel runs it).
pub type UsbScript = Vec<UsbStep>;

/// The caps QEMU's usb-redir announces.
pub fn guest_caps() -> Caps {
    Caps::of(&[
        Cap::ConnectDeviceVersion,
        Cap::Filter,
        Cap::EpInfoMaxPacketSize,
        Cap::Ids64,
        Cap::BulkLength32,
        Cap::BulkReceiving,
        Cap::DeviceDisconnectAck,
    ])
}

/// The guest's hello.
pub fn guest_hello() -> Vec<u8> {
    let parser = Parser::new(Role::Guest, guest_caps());
    parser
        .encode(
            0,
            &Packet::Hello(Hello::new("sumac-test-server usb-redir", guest_caps())),
        )
        .unwrap_or_default()
}

/// A raw usbredir header with 64-bit ids (after the hellos).
pub fn raw_header(packet_type: u32, length: u32, id: u64) -> Vec<u8> {
    let mut v = packet_type.to_le_bytes().to_vec();
    v.extend_from_slice(&length.to_le_bytes());
    v.extend_from_slice(&id.to_le_bytes());
    v
}

/// Follows the client's usbredir stream (as the guest would parse it).
pub(crate) struct GuestView {
    parser: Parser,
    pub(crate) seen: Vec<u32>,
}

impl GuestView {
    pub(crate) fn new() -> Self {
        Self {
            parser: Parser::new(Role::Guest, guest_caps()),
            seen: Vec::new(),
        }
    }

    pub(crate) fn feed(&mut self, data: &[u8]) {
        let mut seen = Vec::new();
        self.parser.parse_all(data, |r| {
            if let Ok(r) = r {
                seen.push(r.packet.packet_type());
            }
        });
        self.seen.extend(seen);
    }
}
