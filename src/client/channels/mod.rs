//! One factory per channel type: what each channel's machine is built from.
//! Registered in [`super::factory`].

pub(crate) mod cursor;
pub(crate) mod display;
pub(crate) mod inputs;
pub(crate) mod main;
pub(crate) mod playback;
pub(crate) mod record;
#[cfg(feature = "smartcard")]
pub(crate) mod smartcard;
pub(crate) mod usbredir;
pub(crate) mod vmc;
#[cfg(feature = "webdav")]
pub(crate) mod webdav;
