//! One module per SPICE channel, message structs named after spice.proto.

pub mod display;
pub mod main;
