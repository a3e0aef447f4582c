//! One module per SPICE channel, message structs named after spice.proto.

pub mod cursor;
pub mod display;
pub mod inputs;
pub mod main;
pub mod migration;
pub mod playback;
pub mod record;
pub mod smartcard;
pub mod vmc;
