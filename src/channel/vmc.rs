//! SpiceVMC byte streams: the usbredir, port and webdav channels carry an
//! opaque byte stream (DATA, or COMPRESSED_DATA with LZ4) plus, for port
//! channels, PORT_INIT/PORT_EVENT. [`VmcMachine`] does the framing and the
//! compression; what the bytes mean belongs to a [`VmcEndpoint`] (usbredir,
//! the WebDAV mux, a QMP client, an embedder's port stream).
//!
//! Backpressure: an endpoint that cannot take more bytes makes the machine
//! keep them and answer [`Wait::Inbox`]: the runtime stops handling this
//! channel's messages (its socket buffer stays bounded) until the endpoint's
//! inbox is notified (it drained), then the machine sends what the endpoint
//! queued meanwhile and delivers them again.

use super::{ChannelError, ChannelKey, Ctx, Handled, Machine, Outputs, Wait, WaitEnd};
use crate::connector::client::Linked;
use crate::proto::Message;
use crate::proto::caps::vmc as vmc_caps;
use crate::proto::channel::vmc::{CompressedData, VmcClient, VmcServer, compression};
use crate::proto::error::DecodeError;

/// Largest decompressed COMPRESSED_DATA accepted.
pub const MAX_DECOMPRESSED: u32 = 64 << 20;
/// spice-gtk compresses only payloads larger than this.
pub const COMPRESS_MIN: usize = 1000;

/// A port channel's notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortEvent {
    /// PORT_INIT: the port's name and whether the guest side is open.
    Init { name: Vec<u8>, opened: bool },
    /// PORT_EVENT (`port_event::OPENED`, `CLOSED`, `BREAK`).
    Event(u8),
}

/// What an endpoint sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmcOut {
    Data(Vec<u8>),
    /// A PORT_EVENT to the server (port channels).
    PortEvent(u8),
}

/// Whether an endpoint took bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Taken,
    /// Not now (its queue is full): offer them again after the inbox was notified.
    Full,
}

/// The consumer of one VMC channel's byte stream.
pub trait VmcEndpoint: Send {
    /// Bytes from the server, decompressed, in order.
    fn received(&mut self, data: &[u8], out: &mut Outputs) -> Accept;
    /// PORT_INIT / PORT_EVENT.
    fn port(&mut self, _event: PortEvent, _out: &mut Outputs) {}
    /// What to send now (called when the channel's inbox was notified and after the link).
    fn outgoing(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Vec<VmcOut> {
        Vec::new()
    }
    /// Data must never be compressed (isochronous USB devices).
    fn no_compression(&self) -> bool {
        false
    }
    /// The channel is gone.
    fn closed(&mut self) {}
}

/// One VMC channel.
pub struct VmcMachine {
    key: ChannelKey,
    endpoint: Box<dyn VmcEndpoint>,
    /// Compression allowed by the transport (spice-gtk: not over Unix sockets).
    transport_compression: bool,
    /// Both sides have `DATA_COMPRESS_LZ4`.
    lz4: bool,
    /// Bytes the endpoint did not take yet.
    held: Option<Vec<u8>>,
}

impl VmcMachine {
    pub fn new(key: ChannelKey, endpoint: Box<dyn VmcEndpoint>, transport_compression: bool) -> Self {
        Self {
            key,
            endpoint,
            transport_compression,
            lz4: false,
            held: None,
        }
    }

    /// Gives `data` to the endpoint; what it has to say in answer goes out in the same batch.
    fn deliver(&mut self, data: Vec<u8>, ctx: &Ctx, out: &mut Outputs) -> Handled {
        match self.endpoint.received(&data, out) {
            Accept::Taken => {
                self.flush(ctx, out);
                Handled::Done
            }
            Accept::Full => {
                self.held = Some(data);
                Handled::Wait(Wait::Inbox)
            }
        }
    }

    fn send_data(&self, data: Vec<u8>, out: &mut Outputs) {
        if self.lz4 && self.transport_compression && !self.endpoint.no_compression() && data.len() > COMPRESS_MIN {
            let packed = lz4_flex::block::compress(&data);
            if let (true, Ok(size)) = (packed.len() < data.len(), u32::try_from(data.len())) {
                out.send(&VmcClient::CompressedData(CompressedData {
                    compression: compression::LZ4,
                    uncompressed_size: size,
                    data: packed,
                }));
                return;
            }
        }
        out.send(&VmcClient::Data(data));
    }

    fn flush(&mut self, ctx: &Ctx, out: &mut Outputs) {
        for o in self.endpoint.outgoing(ctx, out) {
            match o {
                VmcOut::Data(d) if d.is_empty() => {}
                VmcOut::Data(d) => self.send_data(d, out),
                VmcOut::PortEvent(event) => out.send(&VmcClient::PortEvent { event }),
            }
        }
    }
}

/// Decompresses a COMPRESSED_DATA body, bounded before allocating.
pub fn decompress(c: &CompressedData) -> Result<Vec<u8>, DecodeError> {
    match c.compression {
        compression::NONE => Ok(c.data.clone()),
        compression::LZ4 => {
            // LZ4 expands at most ~255x: a larger claim is a lie.
            let plausible = (c.data.len() as u64).saturating_mul(255).saturating_add(16);
            if c.uncompressed_size > MAX_DECOMPRESSED || u64::from(c.uncompressed_size) > plausible {
                return Err(DecodeError::TooLarge {
                    what: "vmc decompressed size",
                    size: u64::from(c.uncompressed_size),
                    max: u64::from(MAX_DECOMPRESSED).min(plausible),
                });
            }
            let size = usize::try_from(c.uncompressed_size).map_err(|_| DecodeError::Overflow {
                what: "vmc decompressed size",
            })?;
            let data = lz4_flex::block::decompress(&c.data, size)
                .map_err(|_| DecodeError::invalid("vmc lz4 data", u16::from(c.compression)))?;
            if data.len() != size {
                return Err(DecodeError::invalid("vmc lz4 size", u16::from(c.compression)));
            }
            Ok(data)
        }
        other => Err(DecodeError::invalid("vmc compression type", u16::from(other))),
    }
}

impl Machine for VmcMachine {
    fn caps(&self) -> Vec<u32> {
        vec![vmc_caps::DATA_COMPRESS_LZ4]
    }

    fn linked(&mut self, link: &Linked, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.lz4 = link.both_have_channel_cap(vmc_caps::DATA_COMPRESS_LZ4);
        self.flush(ctx, out);
        Ok(())
    }

    fn message(&mut self, msg_type: u16, body: &[u8], ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        Ok(match VmcServer::decode(msg_type, body)? {
            VmcServer::Data(d) => self.deliver(d, ctx, out),
            VmcServer::CompressedData(c) => match decompress(&c) {
                Ok(d) => self.deliver(d, ctx, out),
                Err(e) => {
                    // A lost chunk corrupts the stream: the channel closes.
                    tracing::warn!(channel = %self.key, error = %e, "undecodable compressed VMC data");
                    return Err(e.into());
                }
            },
            VmcServer::PortInit { name, opened } => {
                self.endpoint.port(PortEvent::Init { name, opened }, out);
                Handled::Done
            }
            VmcServer::PortEvent { event } => {
                self.endpoint.port(PortEvent::Event(event), out);
                Handled::Done
            }
            VmcServer::Base(_) | VmcServer::Unknown { .. } => Handled::Skipped,
        })
    }

    fn resume(&mut self, _end: WaitEnd, ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError> {
        let data = self.held.take().ok_or(ChannelError::NothingToResume)?;
        // The endpoint may be full because its replies wait to be sent (a
        // WebDAV connection blocked on its answer): send them first.
        self.flush(ctx, out);
        Ok(self.deliver(data, ctx, out))
    }

    fn commands(&mut self, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        self.flush(ctx, out);
        Ok(())
    }

    fn closed(&mut self) {
        self.endpoint.closed();
    }
}

#[cfg(test)]
#[path = "tests/vmc.rs"]
mod tests;
