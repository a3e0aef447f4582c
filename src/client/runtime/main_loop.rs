//! The main channel's thread: link it, run it, and when it ends decide what
//! comes next.
//!
//! * The embedder disconnected: stop.
//! * The server sent MIGRATE_SWITCH_HOST: relink everything to the new host
//!   at once (a new connection: session id 0).
//! * The server or the network went away ([`is_transient`]), the session
//!   was up before and [`SessionOptions::reconnect`] is set: relink with
//!   backoff (`Reconnecting { attempt }`), until it works, the embedder
//!   cancels, or the attempts run out. A refused password ends it (the
//!   embedder asks for a new one).
//! * Otherwise the session ends with the error.
//!
//! Between two links every child is stopped and joined, and what the old
//! server left behind is forgotten ([`Session::forget_server`]); the
//! embedder's handles (inputs, agent, display states) stay valid.
//!
//! [`SessionOptions::reconnect`]: crate::client::SessionOptions::reconnect

use std::sync::Arc;

use tokio::sync::mpsc;

use super::channel::{self, ChannelIo};
use crate::client::error::{ChannelKey, ClientError};
use crate::client::events::SessionEvent;
use crate::client::factory::{self, SpawnHint};
use crate::client::reconnect::{destination_config, is_transient};
use crate::client::session::{Session, SessionState};
use crate::proto::ChannelType;

/// What ended one link of the main channel.
enum Next {
    /// Stop: the session ends with this error (`None`: asked for).
    End(Option<Arc<ClientError>>),
    /// Link again now.
    Relink,
}

/// Runs the session's main channel until the session ends.
pub(super) fn run(session: &Arc<Session>) {
    let key = ChannelKey::new(ChannelType::MAIN, 0);
    let error = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(links(session)),
        Err(source) => Some(Arc::new(ClientError::Thread { channel: key, source })),
    };
    // The session ends: stop and join every child.
    session.stop();
    session.join_children();
    if let Some(e) = &error {
        tracing::info!(error = %e, "session ended");
    }
    session.emit(SessionEvent::ChannelDown {
        channel: key,
        error: error.clone(),
    });
    session.set_state(SessionState::Closed);
    session.emit(SessionEvent::Disconnected { error });
}

/// One link of the main channel after the other; the error that ended the session.
async fn links(session: &Arc<Session>) -> Option<Arc<ClientError>> {
    let key = ChannelKey::new(ChannelType::MAIN, 0);
    let mut attempt = 0u32;
    let mut last_error: Option<Arc<ClientError>> = None;
    loop {
        let built = factory::build(session, key, SpawnHint { display_channels: 0 });
        let stats = session.register_stats(key);
        let (tx, rx) = mpsc::unbounded_channel();
        let io = ChannelIo {
            stop: session.shutdown_rx(),
            control: Some(rx),
            control_tx: Some(tx),
        };
        // A reconnect attempt still linking ends when the embedder cancels.
        let mut cancelled = session.life.cancelled();
        let result = tokio::select! {
            r = channel::run_channel(session, key, 0, built, stats, io) => r,
            _ = cancelled.wait_for(|v| *v), if attempt > 0 => {
                tracing::info!("reconnect cancelled");
                session.join_children();
                return last_error;
            }
        };
        let came_up = session.life.take_up();
        if came_up {
            attempt = 0;
        }
        // This link's children go with it.
        session.join_children();
        match next(session, result, &mut attempt, &mut last_error).await {
            Next::End(e) => return e,
            Next::Relink => session.forget_server(),
        }
    }
}

async fn next(
    session: &Arc<Session>,
    result: Result<(), ClientError>,
    attempt: &mut u32,
    last_error: &mut Option<Arc<ClientError>>,
) -> Next {
    let key = ChannelKey::new(ChannelType::MAIN, 0);
    if session.is_shutting_down() {
        return Next::End(None);
    }
    if let Some(target) = session.life.take_switch_host() {
        let config = destination_config(&session.target().config, &target);
        tracing::info!(host = %target.host, "switch-host: relinking the session");
        session.emit(SessionEvent::ChannelDown {
            channel: key,
            error: None,
        });
        session.replace_target(config);
        session.set_state(SessionState::Migrating);
        return Next::Relink;
    }
    let error = Arc::new(match result {
        Ok(()) => ClientError::UnexpectedEof {
            channel: key,
            mid_message: false,
        },
        Err(e) => e,
    });
    *last_error = Some(Arc::clone(&error));
    let policy = match session.options.reconnect {
        Some(p) if session.life.ever_up() && is_transient(&error) => p,
        _ => return Next::End(Some(error)),
    };
    *attempt = attempt.saturating_add(1);
    if policy.max_attempts.is_some_and(|max| *attempt > max) {
        tracing::info!(attempts = *attempt - 1, "giving up reconnecting");
        return Next::End(Some(error));
    }
    let delay = policy.delay(*attempt);
    tracing::info!(attempt = *attempt, ?delay, error = %error, "the server went away; reconnecting");
    if *attempt == 1 {
        session.emit(SessionEvent::ChannelDown {
            channel: key,
            error: Some(Arc::clone(&error)),
        });
    }
    session.set_state(SessionState::Reconnecting { attempt: *attempt });
    session.emit(SessionEvent::Reconnecting {
        attempt: *attempt,
        delay,
        error: Arc::clone(&error),
    });
    let mut shutdown = session.shutdown_rx();
    let mut cancelled = session.life.cancelled();
    tokio::select! {
        () = tokio::time::sleep(delay) => Next::Relink,
        _ = shutdown.wait_for(|v| *v) => Next::End(None),
        _ = cancelled.wait_for(|v| *v) => {
            tracing::info!("reconnect cancelled");
            Next::End(Some(error))
        }
    }
}
