//! The runtime: one `std::thread` per channel, each running a current-thread
//! tokio runtime with the channel's loop ([`channel`]); transports ([`transport`]),
//! the link phase ([`link`]) and the receive buffer ([`inbuf`]).

pub(crate) mod channel;
pub(crate) mod inbuf;
pub(crate) mod link;
pub(crate) mod transport;

use std::sync::Arc;
use std::thread::JoinHandle;

use super::error::{ChannelKey, ClientError};
use super::events::SessionEvent;
use super::factory::{self, Built, SpawnHint};
use super::session::{Session, SessionState};
use super::stats::ChannelStats;
use crate::proto::ChannelType;

/// Runs one channel to its end on this thread.
fn run_on_this_thread(
    session: &Arc<Session>,
    key: ChannelKey,
    connection_id: u32,
    built: Built,
    stats: Arc<ChannelStats>,
) -> Result<(), ClientError> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(channel::run_channel(session, key, connection_id, built, stats)),
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
    let stats = session.register_stats(key);
    let thread_session = Arc::clone(session);
    let handle = std::thread::Builder::new()
        .name(format!("sumac-{}-{}", key.channel_type, key.id))
        .spawn(move || {
            let result = run_on_this_thread(&thread_session, key, connection_id, built, stats);
            let error = result.err().map(Arc::new);
            if let Some(e) = &error {
                tracing::warn!(channel = %key, error = %e, "channel closed with an error");
            } else {
                tracing::debug!(channel = %key, "channel closed");
            }
            thread_session.emit(SessionEvent::ChannelDown { channel: key, error });
        })
        .map_err(|source| ClientError::Thread { channel: key, source })?;
    session.add_child(handle);
    Ok(())
}

/// Starts the main channel's thread. When it ends, every child is stopped
/// and joined, and [`SessionEvent::Disconnected`] is the last event.
pub(crate) fn spawn_main(session: &Arc<Session>) -> Result<JoinHandle<()>, ClientError> {
    let key = ChannelKey::new(ChannelType::MAIN, 0);
    let built = factory::build(session, key, SpawnHint { display_channels: 0 });
    let stats = session.register_stats(key);
    let thread_session = Arc::clone(session);
    std::thread::Builder::new()
        .name("sumac-main-0".into())
        .spawn(move || {
            let session = thread_session;
            let result = run_on_this_thread(&session, key, 0, built, stats);
            let asked = session.is_shutting_down();
            // Losing the main channel ends the session: stop and join every child.
            session.stop();
            session.join_children();
            let error = match result {
                Ok(()) if asked => None,
                Ok(()) => Some(Arc::new(ClientError::UnexpectedEof {
                    channel: key,
                    mid_message: false,
                })),
                Err(e) => Some(Arc::new(e)),
            };
            if let Some(e) = &error {
                tracing::info!(error = %e, "session ended");
            }
            session.emit(SessionEvent::ChannelDown {
                channel: key,
                error: error.clone(),
            });
            session.set_state(SessionState::Closed);
            session.emit(SessionEvent::Disconnected { error });
        })
        .map_err(|source| ClientError::Thread { channel: key, source })
}
