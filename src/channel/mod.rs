//! L0 channel machines: the protocol logic of every SPICE channel as plain
//! state, sans-IO (the IronRDP `ActiveStage` shape).
//!
//! A machine takes one decoded message at a time and returns [`Output`]s:
//! messages to send, events for the embedder, a channel to spawn, the
//! multimedia clock to set. It never touches a socket, a thread or a clock:
//! the runtime (`crate::client`) moves bytes, reads the clock into a [`Ctx`]
//! and executes the outputs. So every machine is unit-tested from byte
//! vectors.
//!
//! A message that cannot be handled yet (a WAIT_FOR_CHANNELS, a GLZ image
//! referencing another channel's image that has not arrived) makes the
//! machine answer [`Handled::Wait`]: it keeps what it needs of the message,
//! the runtime waits (asynchronously, bounded, cancelled by shutdown, still
//! reading the socket) and then calls [`Machine::resume`].
//!
//! [`Driver`] wraps a machine with what every channel shares (the base
//! messages: ACK window, PING/PONG, NOTIFY, DISCONNECTING, WAIT_FOR_CHANNELS,
//! sub-message lists, message serials).
//!
//! | machine | file |
//! |---|---|
//! | base messages, sub-lists, serials | [`base`], [`driver`] |
//! | main (init, channels list, mouse mode, mm-time, agent) | [`main`], [`agent`] |
//! | display | [`display`] |
//! | inputs | [`inputs`] |
//! | cursor | [`cursor`] |
//! | migration steps (semi-seamless, seamless, switch-host) | [`migration`] |
//! | SpiceVMC byte streams (usbredir, port, webdav) | [`vmc`] |
//! | the WebDAV channel's connection multiplexer | [`webdav`] |
//! | smartcard (VSCard readers, ATR, APDUs over a card backend) | [`smartcard`] |
//! | playback, record (and their device seams) | [`playback`], [`record`], [`audio`] |
//! | channels not implemented (messages counted and skipped) | [`skip`] |

pub mod agent;
pub mod audio;
#[doc(hidden)]
pub mod audio_fuzz;
pub mod base;
pub mod cursor;
pub mod display;
pub mod driver;
pub mod inputs;
pub mod main;
pub mod migration;
pub mod playback;
pub mod record;
pub mod skip;
pub mod smartcard;
pub mod vmc;
pub mod webdav;

use std::time::{Duration, Instant};

use crate::client::events::SessionEvent;
use crate::connector::client::Linked;
use crate::proto::base::WaitForChannel;
use crate::proto::{DecodeError, Message};

pub use crate::proto::ChannelKey;
pub use driver::Driver;

/// What the runtime tells a machine about "now".
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// The runtime's monotonic clock when the batch of messages started.
    pub now: Instant,
    /// The session's multimedia time (ms, wrapping), 0 before the server sent one.
    pub mm_time: u32,
    /// How many times the multimedia clock was reset so far (a jump of more
    /// than 500 ms or any move back, spice-gtk's `mm-time-reset`): a machine
    /// that queued work on the clock reschedules it when this changes. The
    /// runtime also calls [`Machine::wake`] on a reset when the machine has a
    /// wake pending.
    pub clock_resets: u32,
    /// The playback sink's delay while audio plays (`None`: no playback);
    /// the clock is already corrected by it.
    pub audio_delay_ms: Option<u32>,
}

impl Ctx {
    pub fn new(now: Instant, mm_time: u32) -> Self {
        Self {
            now,
            mm_time,
            clock_resets: 0,
            audio_delay_ms: None,
        }
    }
}

/// One thing the runtime must do for a machine, in order.
#[derive(Debug)]
pub enum Output {
    /// A message to this channel's server.
    Send { msg_type: u16, body: Vec<u8> },
    /// An event for the embedder.
    Event(SessionEvent),
    /// Link a channel of this session (the main channel's CHANNELS_LIST).
    Spawn {
        channel: ChannelKey,
        connection_id: u32,
        /// How many display channels the server listed (with one, a GLZ image
        /// never waits for another channel).
        display_channels: usize,
    },
    /// The server's multimedia time now (MAIN_INIT, MULTI_MEDIA_TIME, and the
    /// playback channel's `last packet time − sink delay`).
    SetMmTime(u32),
    /// A migration step ([`migration`]): the main channel's decisions, and
    /// a channel moving to the destination in a seamless migration.
    Migration(migration::Migration),
    /// The playback sink's delay (`None`: playback stopped), for [`Ctx::audio_delay_ms`].
    PlaybackDelay(Option<u32>),
}

/// The outputs of one call, plus whether the channel must stop.
#[derive(Debug, Default)]
pub struct Outputs {
    items: Vec<Output>,
    stop: bool,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, o: Output) {
        self.items.push(o);
    }

    /// Queues a message to this channel's server.
    pub fn send<M: Message>(&mut self, m: &M) {
        self.items.push(Output::Send {
            msg_type: m.msg_type(),
            body: m.to_body(),
        });
    }

    pub fn send_raw(&mut self, msg_type: u16, body: Vec<u8>) {
        self.items.push(Output::Send { msg_type, body });
    }

    pub fn event(&mut self, e: SessionEvent) {
        self.items.push(Output::Event(e));
    }

    /// The channel ends cleanly after the outputs queued so far (DISCONNECTING).
    pub fn stop(&mut self) {
        self.stop = true;
    }

    pub fn stopped(&self) -> bool {
        self.stop
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Takes the queued outputs (the stop flag stays).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Output> {
        self.items.drain(..)
    }

    pub fn items(&self) -> &[Output] {
        &self.items
    }

    /// The queued outputs move the channel to another stream: `Some(true)`
    /// when it starts over (semi-seamless), `Some(false)` when it continues
    /// (seamless).
    pub fn stream_switch(&self) -> Option<bool> {
        self.items.iter().find_map(|o| match o {
            Output::Migration(m @ (migration::Migration::SwitchMain | migration::Migration::SwitchChannel { .. })) => {
                Some(matches!(m, migration::Migration::SwitchMain))
            }
            _ => None,
        })
    }
}

/// What a machine did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Done,
    /// Not implemented: counted and skipped.
    Skipped,
    /// Cannot go on before something else happened; call
    /// [`Machine::resume`] after the wait (the machine kept what it needs).
    Wait(Wait),
}

/// What a machine waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// Until every listed channel has processed the listed message serial
    /// (WAIT_FOR_CHANNELS, INVAL_ALL_PIXMAPS).
    Serials(Vec<WaitForChannel>),
    /// Until the session's GLZ window had another arrival (a GLZ image
    /// references image `id`, which another display channel has not decoded yet).
    GlzImage { id: u64 },
    /// Until the channel's inbox is notified (a consumer that was full drained).
    /// Not bounded in time: the channel reads no more messages meanwhile.
    Inbox,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// The awaited thing (may have) happened: try again.
    Ready,
    /// The bounded wait is over: go on without it.
    TimedOut,
}

/// A protocol error that closes the channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the server resumed a wait nothing was waiting for")]
    NothingToResume,
}

/// The protocol logic of one channel type (the channel messages, type > 100;
/// base messages are the [`Driver`]'s). Runs on the channel's thread.
pub trait Machine: Send {
    /// Channel capabilities offered in the link message.
    fn caps(&self) -> Vec<u32> {
        Vec::new()
    }

    /// The link succeeded: queue the first messages (e.g. DISPLAY_INIT).
    fn linked(&mut self, _link: &Linked, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        Ok(())
    }

    /// One channel message.
    fn message(&mut self, msg_type: u16, body: &[u8], ctx: &Ctx, out: &mut Outputs) -> Result<Handled, ChannelError>;

    /// The wait asked for by [`Handled::Wait`] ended: finish the kept message
    /// (or ask to wait again).
    fn resume(&mut self, _end: WaitEnd, _ctx: &Ctx, _out: &mut Outputs) -> Result<Handled, ChannelError> {
        Err(ChannelError::NothingToResume)
    }

    /// After each batch of messages (e.g. emit damage gathered over the batch).
    fn after_batch(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        Ok(())
    }

    /// When the machine wants [`wake`](Self::wake) called (video frames due later).
    fn next_wake(&self) -> Option<Instant> {
        None
    }

    /// The time asked for by [`next_wake`](Self::next_wake) has come.
    fn wake(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        Ok(())
    }

    /// How long the runtime leaves the socket unread after a batch, so that
    /// messages gather and one wake-up handles several (sound, whose packets
    /// come every 10 ms and wait in a buffer anyway); commands and shutdown
    /// wait as long. `None` (the default): read as soon as bytes arrive.
    fn read_pause(&self) -> Option<Duration> {
        None
    }

    /// The embedder queued commands for this channel (its inbox was notified;
    /// also called once right after the link).
    fn commands(&mut self, _ctx: &Ctx, _out: &mut Outputs) -> Result<(), ChannelError> {
        Ok(())
    }

    /// The channel is gone (error, shutdown, server closed): release what
    /// others see (e.g. tell the embedder the inputs channel no longer takes commands).
    fn closed(&mut self) {}

    /// The channel now talks to a migration destination over `link`.
    /// `seamless`: it continues where the source stopped; otherwise it starts
    /// over as after a link (the default sends the first messages again).
    fn migrated(&mut self, link: &Linked, seamless: bool, ctx: &Ctx, out: &mut Outputs) -> Result<(), ChannelError> {
        if seamless { Ok(()) } else { self.linked(link, ctx, out) }
    }

    /// The runtime's answer to [`migration::Migration::Connect`] (main channel).
    fn migration_event(
        &mut self,
        _event: migration::MigrationEvent,
        _ctx: &Ctx,
        _out: &mut Outputs,
    ) -> Result<(), ChannelError> {
        Ok(())
    }
}
