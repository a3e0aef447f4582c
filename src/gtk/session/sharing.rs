//! What [`Session`] shares with the guest besides screen and input: the
//! folder ([`Session::set_shared_folder`], a live setting of the running
//! session) and the smartcard.
//!
//! The smartcard: whether the software card's reader is
//! attached on a live smartcard channel ([`Session::smartcard_available`]),
//! whether its card is in ([`Session::smartcard_inserted`]), signal
//! `smartcard-changed()`, and the insert/remove actions
//! ([`Session::insert_smartcard`], [`Session::remove_smartcard`]) that the
//! app's menu and its Shift+F8/Shift+F9 hotkeys call.
//!
//! libcacard is asked off the main thread (a blocking task of GIO's pool:
//! the software card is built from the NSS database on insertion); the
//! state shown follows the channel's events (CARD_INSERTED as the ATR goes
//! to the server, CARD_REMOVED as CARD_REMOVE does), not the request.

use super::Session;
use crate::channel::smartcard::SmartcardEvent;
use crate::client::SessionHandle;
use crate::client::sharing::SharedFolder;
use crate::proto::{ChannelKey, ChannelType};
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use std::cell::Cell;

/// The session's smartcard, as the channel reported it.
#[derive(Debug, Default)]
pub(crate) struct SmartcardState {
    /// The software reader is attached on the smartcard channel.
    available: Cell<bool>,
    /// A card is in the software reader.
    inserted: Cell<bool>,
}

pub(super) fn signals() -> Vec<glib::subclass::Signal> {
    vec![glib::subclass::Signal::builder("smartcard-changed").build()]
}

/// Whether `reader` is the software reader the actions insert into.
fn is_software_reader(reader: &str) -> bool {
    #[cfg(feature = "smartcard")]
    return reader == crate::client::smartcard::SOFTWARE_READER;
    #[cfg(not(feature = "smartcard"))]
    {
        let _ = reader;
        false
    }
}

impl Session {
    /// The folder shared with the guest now (`None`: none, or not connected).
    pub fn shared_folder(&self) -> Option<SharedFolder> {
        self.with_handle(SessionHandle::shared_folder).flatten()
    }

    /// Shares `folder` with the guest from now on (`None`: stop sharing),
    /// while connected: the guest's open connections to the share are
    /// dropped and the new folder served (see
    /// [`SessionHandle::set_shared_folder`]; the session must have been
    /// connected with `SessionOptions::shared_folder` or
    /// `SessionOptions::webdav_server`). Returns false when not connected.
    pub fn set_shared_folder(&self, folder: Option<SharedFolder>) -> bool {
        self.with_handle(|h| h.set_shared_folder(folder)).is_some()
    }

    /// Whether the software smartcard can be inserted and removed now: the
    /// session has a smartcard channel (`SessionOptions::smartcard`) and the
    /// server accepted the software reader.
    pub fn smartcard_available(&self) -> bool {
        self.imp().smartcard.available.get()
    }

    /// Whether the software card is in its reader (as the guest was told).
    pub fn smartcard_inserted(&self) -> bool {
        let s = &self.imp().smartcard;
        s.available.get() && s.inserted.get()
    }

    /// Inserts the software card (remote-viewer's "Smartcard insert"); the
    /// guest sees it when `smartcard-changed` reports it in. Does nothing
    /// while [`Session::smartcard_available`] is false.
    pub fn insert_smartcard(&self) {
        self.smartcard_request(true);
    }

    /// Removes the software card (remote-viewer's "Smartcard remove").
    pub fn remove_smartcard(&self) {
        self.smartcard_request(false);
    }

    /// Connects to `smartcard-changed()`: the reader came or went, or the
    /// card was inserted or removed.
    pub fn connect_smartcard_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure("smartcard-changed", false, glib::closure_local!(move |s: &Self| f(s)))
    }

    fn smartcard_request(&self, insert: bool) {
        if !self.smartcard_available() {
            tracing::debug!(insert, "no smartcard channel: request ignored");
            return;
        }
        tracing::info!(insert, "smartcard request");
        #[cfg(feature = "smartcard")]
        {
            let task = gtk::gio::spawn_blocking(move || {
                if insert {
                    crate::client::smartcard::insert_card()
                } else {
                    crate::client::smartcard::remove_card()
                }
            });
            glib::MainContext::default().spawn_local(async move {
                if let Ok(false) = task.await {
                    tracing::info!(insert, "the software card was already in that state");
                }
            });
        }
    }

    fn set_smartcard(&self, available: bool, inserted: bool) {
        let s = &self.imp().smartcard;
        let changed = s.available.replace(available) != available;
        let changed = (s.inserted.replace(inserted) != inserted) || changed;
        if changed {
            tracing::info!(available, inserted, "smartcard state");
            self.emit_by_name::<()>("smartcard-changed", &[]);
        }
    }

    /// A smartcard event of the running session.
    pub(super) fn smartcard_event(&self, event: &SmartcardEvent) {
        let s = &self.imp().smartcard;
        let (available, inserted) = (s.available.get(), s.inserted.get());
        match event {
            SmartcardEvent::ReaderAttached { name, .. } if is_software_reader(name) => {
                self.set_smartcard(true, inserted);
            }
            SmartcardEvent::ReaderRemoved { name } if is_software_reader(name) => self.set_smartcard(false, false),
            SmartcardEvent::CardInserted { reader } if is_software_reader(reader) => {
                self.set_smartcard(available, true);
            }
            SmartcardEvent::CardRemoved { reader } if is_software_reader(reader) => {
                self.set_smartcard(available, false);
            }
            _ => {}
        }
    }

    /// A channel ended (or, with `None`, the whole session): if it was the
    /// smartcard channel, there is no card to act on any more.
    pub(super) fn smartcard_channel_down(&self, channel: Option<ChannelKey>) {
        if channel.is_none_or(|c| c.channel_type == ChannelType::SMARTCARD) {
            self.set_smartcard(false, false);
        }
    }
}
