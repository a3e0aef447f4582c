//! SpiceVMC channel messages (`channel SpicevmcChannel` and `PortChannel` in
//! spice.proto): the byte streams of the usbredir (9), port (10) and webdav
//! (11) channels. DATA carries raw bytes; COMPRESSED_DATA carries them
//! LZ4-compressed (block format) when both sides have
//! [`caps::DATA_COMPRESS_LZ4`](crate::proto::caps::vmc::DATA_COMPRESS_LZ4).
//! Port and webdav channels add PORT_INIT and PORT_EVENT.

use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase};
use crate::proto::cursor::{ReadCursor, WriteCursor};
use crate::proto::error::{DecodeError, ProtoResult};

/// Server message numbers.
pub mod msg {
    pub const DATA: u16 = 101;
    pub const COMPRESSED_DATA: u16 = 102;
    pub const PORT_INIT: u16 = 201;
    pub const PORT_EVENT: u16 = 202;
}

/// Client message numbers.
pub mod msgc {
    pub const DATA: u16 = 101;
    pub const COMPRESSED_DATA: u16 = 102;
    pub const PORT_EVENT: u16 = 201;
}

/// `SPICE_DATA_COMPRESSION_TYPE_*`.
pub mod compression {
    pub const NONE: u8 = 0;
    pub const LZ4: u8 = 1;
}

/// `SPICE_PORT_EVENT_*`.
pub mod port_event {
    pub const OPENED: u8 = 0;
    pub const CLOSED: u8 = 1;
    pub const BREAK: u8 = 2;
}

/// Longest port name accepted (QEMU's names are short: `org.qemu.monitor.qmp.0`).
pub const MAX_PORT_NAME: u32 = 1024;
/// PORT_INIT's fixed part: `u32 name_size, u32 name (offset), u8 opened`; the name follows.
const PORT_INIT_FIXED: u32 = 9;

/// COMPRESSED_DATA: `u8 type, [u32 uncompressed_size if type != NONE], data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedData {
    pub compression: u8,
    /// Size after decompression (0 with [`compression::NONE`]).
    pub uncompressed_size: u32,
    pub data: Vec<u8>,
}

impl CompressedData {
    fn encode(&self, w: &mut WriteCursor) {
        w.write_u8(self.compression);
        if self.compression != compression::NONE {
            w.write_u32(self.uncompressed_size);
        }
        w.write_slice(&self.data);
    }

    fn decode(r: &mut ReadCursor<'_>) -> ProtoResult<Self> {
        let compression = r.read_u8("compressed_data type")?;
        let uncompressed_size = if compression == compression::NONE {
            0
        } else {
            r.read_u32("compressed_data uncompressed_size")?
        };
        Ok(Self {
            compression,
            uncompressed_size,
            data: r.remaining().to_vec(),
        })
    }
}

/// SpiceVMC / port channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmcServer {
    Base(ServerBase),
    Data(Vec<u8>),
    CompressedData(CompressedData),
    /// PORT_INIT `{u32 name_size, uint8 *name (a u32 offset into the body), u8 opened}`
    /// with the NUL-terminated name at that offset (after the fixed part, as
    /// spice-server marshals it): the name without its NUL.
    PortInit {
        name: Vec<u8>,
        opened: bool,
    },
    PortEvent {
        event: u8,
    },
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl VmcServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Data(_) => msg::DATA,
            Self::CompressedData(_) => msg::COMPRESSED_DATA,
            Self::PortInit { .. } => msg::PORT_INIT,
            Self::PortEvent { .. } => msg::PORT_EVENT,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Data(d) => w.write_slice(d),
            Self::CompressedData(c) => c.encode(w),
            Self::PortInit { name, opened } => {
                w.write_u32(u32::try_from(name.len().saturating_add(1)).unwrap_or(u32::MAX));
                // `uint8 *name`: a pointer, i.e. the offset of the name in the body.
                w.write_u32(PORT_INIT_FIXED);
                w.write_u8(u8::from(*opened));
                w.write_slice(name);
                w.write_u8(0);
            }
            Self::PortEvent { event } => w.write_u8(*event),
            Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::DATA => Self::Data(body.to_vec()),
            msg::COMPRESSED_DATA => Self::CompressedData(CompressedData::decode(&mut r)?),
            msg::PORT_INIT => {
                let size = r.read_u32("port_init name_size")?;
                let offset = r.read_u32("port_init name offset")?;
                let opened = r.read_u8("port_init opened")? != 0;
                if size > MAX_PORT_NAME {
                    return Err(DecodeError::TooLarge {
                        what: "port name",
                        size: u64::from(size),
                        max: u64::from(MAX_PORT_NAME),
                    });
                }
                let raw = ReadCursor::at_offset(body, "port name", offset)?
                    .read_slice("port name", usize::try_from(size).unwrap_or(usize::MAX))?;
                // Up to the first NUL: a name without one is taken whole.
                let name = raw.split(|&b| b == 0).next().unwrap_or_default().to_vec();
                Self::PortInit { name, opened }
            }
            msg::PORT_EVENT => Self::PortEvent {
                event: r.read_u8("port_event")?,
            },
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

/// SpiceVMC / port channel, client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmcClient {
    Base(ClientBase),
    Data(Vec<u8>),
    CompressedData(CompressedData),
    PortEvent { event: u8 },
    Unknown { msg_type: u16, data: Vec<u8> },
}

impl VmcClient {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Data(_) => msgc::DATA,
            Self::CompressedData(_) => msgc::COMPRESSED_DATA,
            Self::PortEvent { .. } => msgc::PORT_EVENT,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, w: &mut WriteCursor) {
        match self {
            Self::Data(d) => w.write_slice(d),
            Self::CompressedData(c) => c.encode(w),
            Self::PortEvent { event } => w.write_u8(*event),
            Self::Base(_) | Self::Unknown { .. } => {}
        }
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msgc::DATA => Self::Data(body.to_vec()),
            msgc::COMPRESSED_DATA => Self::CompressedData(CompressedData::decode(&mut r)?),
            msgc::PORT_EVENT => Self::PortEvent {
                event: r.read_u8("port_event")?,
            },
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

channel_messages!(VmcServer, VmcClient);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Message;

    fn rt_server(m: VmcServer) {
        let body = m.to_body();
        assert_eq!(VmcServer::decode(m.msg_type(), &body).unwrap(), m);
    }

    fn rt_client(m: VmcClient) {
        let body = m.to_body();
        assert_eq!(VmcClient::decode(m.msg_type(), &body).unwrap(), m);
    }

    #[test]
    fn round_trips() {
        rt_server(VmcServer::Data(vec![1, 2, 3]));
        rt_server(VmcServer::CompressedData(CompressedData {
            compression: compression::LZ4,
            uncompressed_size: 99,
            data: vec![7; 10],
        }));
        rt_server(VmcServer::CompressedData(CompressedData {
            compression: compression::NONE,
            uncompressed_size: 0,
            data: vec![7; 10],
        }));
        rt_server(VmcServer::PortInit {
            name: b"org.qemu.monitor.qmp.0".to_vec(),
            opened: true,
        });
        rt_server(VmcServer::PortEvent {
            event: port_event::BREAK,
        });
        rt_client(VmcClient::Data(vec![]));
        rt_client(VmcClient::PortEvent {
            event: port_event::OPENED,
        });
        rt_client(VmcClient::CompressedData(CompressedData {
            compression: compression::LZ4,
            uncompressed_size: 5000,
            data: vec![1; 3],
        }));
    }

    #[test]
    fn port_init_from_bytes() {
        // As spice-server sends it: name_size 4 ("qmp\0"), name at offset 9, opened 1.
        let body = [4, 0, 0, 0, 9, 0, 0, 0, 1, b'q', b'm', b'p', 0];
        assert_eq!(
            VmcServer::decode(msg::PORT_INIT, &body).unwrap(),
            VmcServer::PortInit {
                name: b"qmp".to_vec(),
                opened: true
            }
        );
        // A name past the body, an offset past it, a 4 GiB name, a missing opened byte: refused.
        assert!(VmcServer::decode(msg::PORT_INIT, &[9, 0, 0, 0, 9, 0, 0, 0, 1, b'q']).is_err());
        assert!(VmcServer::decode(msg::PORT_INIT, &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, b'q']).is_err());
        assert!(VmcServer::decode(msg::PORT_INIT, &[0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0, 1, 0]).is_err());
        assert!(VmcServer::decode(msg::PORT_INIT, &[1, 0, 0, 0, 8, 0, 0, 0]).is_err());
        // A name without NUL is taken whole.
        assert_eq!(
            VmcServer::decode(msg::PORT_INIT, &[2, 0, 0, 0, 9, 0, 0, 0, 0, b'a', b'b']).unwrap(),
            VmcServer::PortInit {
                name: b"ab".to_vec(),
                opened: false
            }
        );
        // COMPRESSED_DATA shorter than its header.
        assert!(VmcServer::decode(msg::COMPRESSED_DATA, &[1, 0, 0]).is_err());
        assert!(VmcServer::decode(msg::COMPRESSED_DATA, &[]).is_err());
    }
}
