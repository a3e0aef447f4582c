//! A session that outlives its connection: the automatic-reconnect policy,
//! the migrations the client offers, and the bookkeeping the channel threads
//! share while the session moves (a migration under way, a switch-host
//! asked for, a reconnect the embedder cancels).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::config::ConnectionConfig;
use super::error::{ChannelKey, ClientError};
use super::session::{SessionState, lock};
use crate::channel::migration::MigrationTarget;
use crate::connector::LinkError;

/// How a session relinks by itself when the server goes away (guest
/// reboot, QEMU restart, network loss): after `first_delay`, then twice as
/// long after each failed attempt, up to `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Give up after this many attempts in a row (`None`: until cancelled).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        self.first_delay.saturating_mul(1u32 << doublings).min(self.max_delay)
    }
}

/// The migrations the client offers the server (main-channel capabilities).
/// spice-gtk offers both; without semi-seamless a migrating server sends
/// MIGRATE_SWITCH_HOST instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationSupport {
    pub semi_seamless: bool,
    pub seamless: bool,
}

impl Default for MigrationSupport {
    fn default() -> Self {
        Self {
            semi_seamless: true,
            seamless: true,
        }
    }
}

/// How a session moved to another server ([`SessionEvent::Migrated`](super::SessionEvent::Migrated)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationKind {
    /// MIGRATE_BEGIN … MIGRATE_END: the channels started over on the destination.
    SemiSeamless,
    /// MIGRATE_BEGIN_SEAMLESS: every channel continued where it stopped.
    Seamless,
    /// MIGRATE_SWITCH_HOST: the session relinked to the new host.
    SwitchHost,
}

/// Whether losing the main channel with `e` is worth relinking: the server
/// or the network went away. A refused password, a certificate that does
/// not verify, a protocol violation or bad settings are not.
pub fn is_transient(e: &ClientError) -> bool {
    match e {
        ClientError::Connect { .. }
        | ClientError::ConnectTimeout { .. }
        | ClientError::LinkTimeout { .. }
        | ClientError::NoResponse { .. }
        | ClientError::UnexpectedEof { .. }
        | ClientError::Io { .. }
        | ClientError::ServerDisconnected { .. }
        | ClientError::Proxy { .. } => true,
        // The server is up again but refuses the link for now, or its
        // reply was cut: try again. A refused password is final (the
        // embedder asks for a new one), so are settings that cannot work.
        ClientError::Link { source, .. } => matches!(source, LinkError::Refused(_) | LinkError::Decode(_)),
        _ => false,
    }
}

/// A migration whose channels move one by one (seamless).
pub(crate) struct PendingMigration {
    /// Where the session goes (the target once every channel moved).
    pub(crate) config: ConnectionConfig,
    /// Channels still talking to the source.
    pub(crate) left: BTreeSet<ChannelKey>,
    /// The source connections of the channels that moved: they stay open
    /// until every channel moved (the source drops the whole client when
    /// one of its connections closes, as spice-gtk keeps them too).
    pub(crate) retired: Vec<super::runtime::transport::BoxStream>,
}

impl std::fmt::Debug for PendingMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingMigration")
            .field("left", &self.left)
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
    }
}

/// Migration and reconnect state shared by the channel threads of a session.
#[derive(Debug)]
pub(crate) struct Life {
    /// The session was up (MAIN_INIT) since the last look.
    up: AtomicBool,
    /// It was up at least once: only such a session reconnects.
    ever_up: AtomicBool,
    cancel: watch::Sender<bool>,
    switch_host: Mutex<Option<MigrationTarget>>,
    /// A switch-host relink is under way (reported once the session is up).
    switching_host: AtomicBool,
    pub(crate) migration: Mutex<Option<PendingMigration>>,
}

impl Default for Life {
    fn default() -> Self {
        Self {
            up: AtomicBool::new(false),
            ever_up: AtomicBool::new(false),
            cancel: watch::channel(false).0,
            switch_host: Mutex::new(None),
            switching_host: AtomicBool::new(false),
            migration: Mutex::new(None),
        }
    }
}

impl Life {
    pub(crate) fn mark_up(&self) {
        self.up.store(true, Ordering::Release);
        self.ever_up.store(true, Ordering::Release);
        // A cancel meant for an earlier outage does not stop a later one.
        self.cancel.send_replace(false);
    }

    /// Whether the session came up since the last call.
    pub(crate) fn take_up(&self) -> bool {
        self.up.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn ever_up(&self) -> bool {
        self.ever_up.load(Ordering::Acquire)
    }

    pub(crate) fn cancel_reconnect(&self, state: SessionState) {
        if matches!(state, SessionState::Reconnecting { .. }) {
            self.cancel.send_replace(true);
        }
    }

    pub(crate) fn cancelled(&self) -> watch::Receiver<bool> {
        self.cancel.subscribe()
    }

    pub(crate) fn request_switch_host(&self, target: MigrationTarget) {
        *lock(&self.switch_host) = Some(target);
    }

    pub(crate) fn take_switch_host(&self) -> Option<MigrationTarget> {
        let t = lock(&self.switch_host).take();
        if t.is_some() {
            self.switching_host.store(true, Ordering::Release);
        }
        t
    }

    /// Whether the session just came up after a switch-host.
    pub(crate) fn take_switched_host(&self) -> bool {
        self.switching_host.swap(false, Ordering::AcqRel)
    }
}

/// The connection settings of a migration destination: the current ones
/// (password, CA, proxy, channel security) with the destination's host and
/// ports; its certificate is checked against `cert_subject` when the server
/// gave one, else against the host name (as spice-gtk does).
pub(crate) fn destination_config(current: &ConnectionConfig, t: &MigrationTarget) -> ConnectionConfig {
    let mut c = current.clone();
    c.host = Some(t.host.clone());
    c.port = t.port;
    c.tls_port = t.tls_port;
    c.unix_path = None;
    c.host_subject = t.cert_subject.clone();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ChannelType;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = ReconnectPolicy::default();
        let d: Vec<u64> = (1..=6).map(|a| p.delay(a).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 10, 10]);
        assert_eq!(p.delay(u32::MAX), p.max_delay);
    }

    #[test]
    fn only_lost_servers_are_worth_relinking() {
        let ch = ChannelKey::new(ChannelType::MAIN, 0);
        assert!(is_transient(&ClientError::UnexpectedEof {
            channel: ch,
            mid_message: false
        }));
        assert!(is_transient(&ClientError::NoResponse { channel: ch, secs: 1 }));
        assert!(!is_transient(&ClientError::Link {
            channel: ch,
            source: LinkError::PermissionDenied
        }));
        assert!(!is_transient(&ClientError::Protocol {
            channel: ch,
            source: crate::proto::DecodeError::invalid("x", 1u8),
        }));
    }

    #[test]
    fn destination_keeps_the_credentials() {
        let mut cur = ConnectionConfig::from_uri("spice://src:5900?password=pw").unwrap();
        cur.host_subject = Some("CN=src".into());
        let t = MigrationTarget {
            host: "dst".into(),
            port: None,
            tls_port: Some(5901),
            cert_subject: None,
        };
        let c = destination_config(&cur, &t);
        assert_eq!(c.host.as_deref(), Some("dst"));
        assert_eq!((c.port, c.tls_port), (None, Some(5901)));
        assert_eq!(c.host_subject, None);
        assert!(c.password.is_some());
    }
}
