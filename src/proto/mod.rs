//! L0 wire format: sans-IO encoders and decoders for every SPICE structure
//! Sumac speaks. No sockets, no clocks, no threads; every read is bounds
//! checked and no input can make this code panic.

pub mod base;
pub mod caps;
pub mod channel;
pub mod consts;
pub mod cursor;
pub mod error;
pub mod frame;
pub mod link;
pub mod vdagent;

pub use base::Message;
pub use consts::{ChannelKey, ChannelType};
pub use cursor::{ReadCursor, WriteCursor};
pub use error::{DecodeError, ProtoResult};
