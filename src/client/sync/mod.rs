//! Everything one channel thread waits for on another: message serials
//! (WAIT_FOR_CHANNELS, INVAL_ALL_PIXMAPS), GLZ images another display
//! channel is decoding, and the session's multimedia clock. Every wait is a
//! future: bounded by its caller, cancelled by shutdown, never a blocked thread.

mod clock;
mod glz;
mod serials;

pub(crate) use clock::MmClock;
pub(crate) use glz::GlzArrivals;
pub(crate) use serials::SerialBoard;
