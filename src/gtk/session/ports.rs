//! The port channels of [`Session`]: the QMP port drives the session's
//! [`Machine`](crate::gtk::Machine); the other ports (serial consoles, HMP)
//! are listed ([`Session::port_names`], signal `ports-changed`) and handed
//! out as byte streams ([`Session::port`]) whose new data is announced by
//! `port-readable(name)`.

use super::Session;
use crate::client::qmp::QMP_PORT;
use crate::client::{SessionEvent, VmcStream};
use crate::proto::ChannelKey;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The session's ports.
#[derive(Debug, Default)]
pub(crate) struct PortState {
    /// Port channels announced (PORT_INIT), by channel.
    names: RefCell<BTreeMap<ChannelKey, String>>,
    machine: crate::gtk::Machine,
}

pub(super) fn signals() -> Vec<glib::subclass::Signal> {
    use glib::subclass::Signal;
    vec![
        Signal::builder("ports-changed").build(),
        Signal::builder("port-readable")
            .param_types([String::static_type()])
            .build(),
    ]
}

impl Session {
    /// The guest machine behind the server's QMP port (the same object for
    /// the session's whole life; `available` says whether there is one).
    pub fn machine(&self) -> crate::gtk::Machine {
        self.imp().ports.machine.clone()
    }

    /// The names of the port channels the server announced (the QMP port
    /// included), sorted.
    pub fn port_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.imp().ports.names.borrow().values().cloned().collect();
        names.sort();
        names.dedup();
        names
    }

    /// The byte stream of the port named `name` (read it on `port-readable`).
    pub fn port(&self, name: &str) -> Option<VmcStream> {
        self.with_handle(|h| h.port(name)).flatten()
    }

    /// Connects to `ports-changed()`: a port appeared or the session ended.
    pub fn connect_ports_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure("ports-changed", false, glib::closure_local!(move |s: &Self| f(s)))
    }

    /// Connects to `port-readable(name)`: bytes wait on the port `name`.
    pub fn connect_port_readable<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "port-readable",
            false,
            glib::closure_local!(move |s: &Self, name: &str| f(s, name)),
        )
    }

    fn port_name_of(&self, channel: ChannelKey) -> Option<String> {
        self.imp().ports.names.borrow().get(&channel).cloned()
    }

    /// A port event of the running session.
    pub(super) fn port_event(&self, event: &SessionEvent) {
        let ports = &self.imp().ports;
        match event {
            SessionEvent::Port { channel, name, .. } => {
                ports.names.borrow_mut().insert(*channel, name.clone());
                if name == QMP_PORT
                    && let Some(stream) = self.port(name)
                {
                    ports.machine.attach(stream);
                }
                self.emit_by_name::<()>("ports-changed", &[]);
            }
            SessionEvent::PortEvent { channel, event } => {
                use crate::proto::channel::vmc::port_event;
                if matches!(*event, port_event::OPENED | port_event::CLOSED)
                    && self.port_name_of(*channel).as_deref() == Some(QMP_PORT)
                {
                    ports.machine.port_reopened();
                    ports.machine.readable();
                }
            }
            SessionEvent::VmcReadable { channel } => match self.port_name_of(*channel) {
                Some(name) if name == QMP_PORT => ports.machine.readable(),
                Some(name) => self.emit_by_name::<()>("port-readable", &[&name]),
                None => {}
            },
            _ => {}
        }
    }

    /// The session ended: no ports any more.
    pub(super) fn ports_ended(&self) {
        let ports = &self.imp().ports;
        ports.machine.detach();
        if !ports.names.take().is_empty() {
            self.emit_by_name::<()>("ports-changed", &[]);
        }
    }
}
