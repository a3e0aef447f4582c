//! The runtime: one `std::thread` per channel, each running a current-thread
//! tokio runtime with the channel's loop ([`channel`]); transports ([`transport`]),
//! the link phase ([`link`]), the receive buffer ([`inbuf`]), migration
//! ([`migrate`], over the channels' control inboxes, [`control`]), sending
//! while still reading ([`sendrecv`]) and the main channel's life with automatic reconnect ([`main_loop`]).

pub(crate) mod channel;
pub(crate) mod control;
pub mod inbuf;
pub(crate) mod link;
mod main_loop;
mod migrate;
mod sendrecv;
pub(crate) mod transport;

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::factory::{self, Built, SpawnHint};
use super::session::Session;
use super::stats::ChannelStats;
use channel::ChannelIo;
use control::ChildControl;

/// Runs one channel to its end on this thread.
fn run_on_this_thread(
    session: &Arc<Session>,
    key: ChannelKey,
    connection_id: u32,
    built: Built,
    stats: Arc<ChannelStats>,
    io: ChannelIo,
) -> Result<(), ClientError> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(channel::run_channel(session, key, connection_id, built, stats, io)),
        Err(source) => Err(ClientError::Thread { channel: key, source }),
    }
}

/// Starts a child channel on its own thread (asked for by the main channel).
pub(crate) fn spawn_child(
    session: &Arc<Session>,
    key: ChannelKey,
    connection_id: u32,
    hint: SpawnHint,
) -> Result<(), ClientError> {
    if session.is_shutting_down() {
        return Ok(());
    }
    let built = factory::build(session, key, hint);
    let caps = built.machine.caps();
    let stats = session.register_stats(key);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut children = session.children();
    let io = ChannelIo {
        stop: children.stop_rx(),
        control: Some(rx),
        control_tx: None,
    };
    let thread_session = Arc::clone(session);
    let handle = std::thread::Builder::new()
        .name(format!("sumac-{}-{}", key.channel_type, key.id))
        .spawn(move || {
            let result = run_on_this_thread(&thread_session, key, connection_id, built, stats, io);
            let error = result.err().map(Arc::new);
            if let Some(e) = &error {
                tracing::warn!(channel = %key, error = %e, "channel closed with an error");
            } else {
                tracing::debug!(channel = %key, "channel closed");
            }
            thread_session.emit(SessionEvent::ChannelDown { channel: key, error });
        })
        .map_err(|source| ClientError::Thread { channel: key, source })?;
    children.add(key, handle, ChildControl { tx, caps });
    Ok(())
}

/// Starts the main channel's thread. It relinks when the session moves
/// (switch-host) or, if allowed, when the server went away; when it ends,
/// every child is stopped and joined, and [`SessionEvent::Disconnected`] is
/// the last event.
pub(crate) fn spawn_main(session: &Arc<Session>) -> Result<JoinHandle<()>, ClientError> {
    let key = ChannelKey::new(crate::proto::ChannelType::MAIN, 0);
    let thread_session = Arc::clone(session);
    std::thread::Builder::new()
        .name("sumac-main-0".into())
        .spawn(move || main_loop::run(&thread_session))
        .map_err(|source| ClientError::Thread { channel: key, source })
}
