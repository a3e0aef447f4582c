//! The webdav channel when a folder is shared ([`SessionOptions::shared_folder`],
//! or [`SessionOptions::webdav_server`] for a folder given later, and the
//! `webdav` feature): its byte stream goes to the WebDAV server of
//! [`crate::client::webdav`], which follows the session's live folder
//! setting. Without either (or if the server cannot start) this factory
//! declines and the channel is a plain
//! [`VmcStream`](crate::client::vmc::VmcStream), as other VMC channels.
//!
//! [`SessionOptions::shared_folder`]: crate::client::SessionOptions::shared_folder
//! [`SessionOptions::webdav_server`]: crate::client::SessionOptions::webdav_server

use std::sync::Arc;

use crate::channel::vmc::VmcMachine;
use crate::client::factory::{Built, ChannelFactory, SpawnHint};
use crate::client::session::Session;
use crate::client::webdav::WebdavEndpoint;
use crate::proto::{ChannelKey, ChannelType};

pub(crate) struct WebdavFactory;

impl ChannelFactory for WebdavFactory {
    fn channel_type(&self) -> ChannelType {
        ChannelType::WEBDAV
    }

    fn build(&self, session: &Session, key: ChannelKey, _hint: SpawnHint) -> Option<Built> {
        if session.folder.get().is_none() && !session.options.webdav_server {
            return None;
        }
        let inbox = Arc::new(tokio::sync::Notify::new());
        match WebdavEndpoint::new(key, &session.folder, Arc::clone(&inbox)) {
            Ok(endpoint) => Some(Built {
                inbox: Some(inbox),
                machine: Box::new(VmcMachine::new(
                    key,
                    Box::new(endpoint),
                    super::vmc::compression_allowed(session, key),
                )),
            }),
            Err(e) => {
                tracing::warn!(channel = %key, error = %e, "cannot start the WebDAV server");
                None
            }
        }
    }
}
