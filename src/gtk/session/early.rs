//! Connecting before the GTK side exists: [`Started`] is a session whose
//! channel threads run (connect, link, first frame) while the app starts GTK
//! and builds its window; the window's [`Session`] takes it over with
//! [`Session::connect_started`] and handles the events queued meanwhile, in
//! order, as if the server had answered at once. [`Session::attach`] is
//! where both ways of connecting meet.

use super::{EVENT_BATCH, Session};
use crate::client::{ClientError, ConnectionConfig, SessionEvent, SessionHandle, SessionOptions};
use gtk::glib;
use gtk::glib::prelude::*;
use gtk::glib::subclass::prelude::*;
use tokio::sync::mpsc::UnboundedReceiver;

/// `options` with the shared video decoders, unless the embedder gave its own.
pub(super) fn with_video(mut options: SessionOptions) -> SessionOptions {
    if options.media.video.is_none() {
        options.media.video = Some(super::shared_video());
    }
    options
}

/// A session started without a [`Session`] (see the module docs).
pub struct Started {
    handle: SessionHandle,
    rx: UnboundedReceiver<SessionEvent>,
    /// What it was started with, for a [`Session`] that differs.
    config: ConnectionConfig,
    options: SessionOptions,
    microphone_allowed: bool,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("microphone_allowed", &self.microphone_allowed)
            .finish_non_exhaustive()
    }
}

impl Started {
    /// Starts connecting as [`Session::connect`] with `config` and `options`
    /// would on a new session (audio on) whose `microphone-allowed` is
    /// `microphone_allowed`. Touches no GTK: may run before GTK starts.
    pub fn start(
        config: ConnectionConfig,
        options: SessionOptions,
        microphone_allowed: bool,
    ) -> Result<Self, ClientError> {
        let prepared = with_video(super::audio::audio_options(options.clone(), true, microphone_allowed));
        let (handle, rx) = crate::client::connect(config.clone(), prepared)?;
        Ok(Self {
            handle,
            rx,
            config,
            options,
            microphone_allowed,
        })
    }

    /// Closes the connection (joins its threads): nobody will show it.
    pub fn close(self) {
        self.handle.disconnect();
    }
}

impl Session {
    /// Takes over `started` (see the module docs); a session whose audio
    /// settings differ from what it was started with connects anew instead.
    pub fn connect_started(&self, started: Started) -> Result<(), ClientError> {
        let imp = self.imp();
        if !imp.audio_enabled.get() || imp.microphone_allowed.get() != started.microphone_allowed {
            tracing::debug!("the session started early does not fit: connecting anew");
            let Started {
                handle,
                config,
                options,
                ..
            } = started;
            handle.disconnect();
            return self.connect(config, options);
        }
        self.disconnect();
        imp.last_error.replace(None);
        self.attach(started.handle, started.rx);
        Ok(())
    }

    /// Takes over a running session's channel threads and events (a new
    /// generation: what an older session still sends is ignored).
    pub(super) fn attach(&self, handle: SessionHandle, mut rx: tokio::sync::mpsc::UnboundedReceiver<SessionEvent>) {
        let imp = self.imp();
        let generation = imp.generation.get().wrapping_add(1);
        imp.generation.set(generation);
        imp.handle.replace(Some(handle));
        self.sync_usb_model();
        for d in self.all_displays() {
            d.session_started();
        }
        if imp.share_clipboard.get() {
            self.clipboard_attach();
        }
        let weak = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            'session: while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                // Everything queued is handled in this wakeup of the main loop.
                while let Some(event) = next {
                    let Some(session) = weak.upgrade() else { break 'session };
                    if session.imp().generation.get() != generation {
                        break 'session;
                    }
                    session.dispatch(event);
                    next = rx.try_recv().ok();
                }
                // Display channels report every draw (thousands per second
                // when text scrolls): let the next ones gather for a moment,
                // so that a burst costs one wakeup of the main loop instead
                // of one each. Frames are 16 ms apart; this adds at most
                // EVENT_BATCH to an event's delivery, and only while a stream
                // of events lasts.
                glib::timeout_future(EVENT_BATCH).await;
            }
        });
    }
}
