//! [`Machine`] (GType `SumacMachine`): the guest machine behind the
//! server's QMP port (`org.qemu.monitor.qmp.0`) as a GObject, for a Machine
//! menu: properties `available` (the port is there and QMP answered),
//! `running` and `status` (QEMU's run state: `running`, `paused`,
//! `shutdown`...), methods [`Machine::pause`], [`Machine::resume`],
//! [`Machine::reset`], [`Machine::power_down`], signal `failed(message)`.
//! The QMP logic is [`MachineControl`] (no GTK); this only moves the port's
//! bytes. Owned by a [`super::Session`] ([`super::Session::machine`]).

use crate::client::VmcStream;
use crate::client::machine::{MachineCommand, MachineControl, MachineUpdate};
use gtk::glib;
use gtk::glib::prelude::*;
use gtk::glib::subclass::prelude::*;

mod imp {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::sync::OnceLock;

    #[derive(Default, glib::Properties)]
    #[properties(wrapper_type = super::Machine)]
    pub struct Machine {
        /// The server has a QMP port and QMP is negotiated on it.
        #[property(get)]
        pub(super) available: Cell<bool>,
        /// The guest runs (false while paused, shut down...).
        #[property(get)]
        pub(super) running: Cell<bool>,
        /// QEMU's run state (`running`, `paused`, `shutdown`...; empty while unknown).
        #[property(get)]
        pub(super) status: RefCell<String>,
        pub(super) control: RefCell<MachineControl>,
        pub(super) stream: RefCell<Option<VmcStream>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Machine {
        const NAME: &'static str = "SumacMachine";
        type Type = super::Machine;
    }

    #[glib::derived_properties]
    impl ObjectImpl for Machine {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    glib::subclass::Signal::builder("failed")
                        .param_types([String::static_type()])
                        .build(),
                ]
            })
        }
    }
}

glib::wrapper! {
    /// The guest machine over QMP (GType `SumacMachine`).
    pub struct Machine(ObjectSubclass<imp::Machine>);
}

impl Default for Machine {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl Machine {
    /// Pauses the guest (QMP `stop`).
    pub fn pause(&self) {
        self.command(MachineCommand::Pause);
    }

    /// Resumes a paused guest (QMP `cont`).
    pub fn resume(&self) {
        self.command(MachineCommand::Resume);
    }

    /// Resets the machine (QMP `system_reset`), as the reset button.
    pub fn reset(&self) {
        self.command(MachineCommand::Reset);
    }

    /// Presses the ACPI power button (QMP `system_powerdown`).
    pub fn power_down(&self) {
        self.command(MachineCommand::PowerDown);
    }

    /// Connects to `failed(message)`: QEMU refused a command.
    pub fn connect_failed<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "failed",
            false,
            glib::closure_local!(move |m: &Self, message: &str| f(m, message)),
        )
    }

    fn command(&self, command: MachineCommand) {
        if !self.available() {
            tracing::debug!(?command, "no QMP port: machine command ignored");
            return;
        }
        tracing::info!(?command, "machine command");
        self.imp().control.borrow_mut().command(command);
        self.flush();
    }

    /// The session's QMP port appeared (or relinked): QMP starts over on it.
    pub(crate) fn attach(&self, stream: VmcStream) {
        self.imp().control.borrow_mut().restart();
        self.imp().stream.replace(Some(stream));
        self.set_unknown();
        self.readable();
    }

    /// The port closed, reopened or the session ended.
    pub(crate) fn detach(&self) {
        self.imp().stream.replace(None);
        self.imp().control.borrow_mut().restart();
        self.set_unknown();
    }

    /// The port's guest side opened or closed: QEMU greets again when it opens.
    pub(crate) fn port_reopened(&self) {
        self.imp().control.borrow_mut().restart();
        self.set_unknown();
    }

    /// Bytes arrived on the QMP port.
    pub(crate) fn readable(&self) {
        let data = match &*self.imp().stream.borrow() {
            Some(s) => s.read(),
            None => return,
        };
        if !data.is_empty() {
            let updates = self.imp().control.borrow_mut().receive(&data);
            for u in updates {
                self.apply(u);
            }
        }
        self.flush();
    }

    fn apply(&self, update: MachineUpdate) {
        let imp = self.imp();
        match update {
            MachineUpdate::Ready { version } => {
                tracing::info!(?version, "QMP port ready");
                if !imp.available.replace(true) {
                    self.notify_available();
                }
            }
            MachineUpdate::RunState(state) => {
                tracing::info!(status = %state.status, running = state.running, "guest run state");
                if imp.running.replace(state.running) != state.running {
                    self.notify_running();
                }
                if *imp.status.borrow() != state.status {
                    imp.status.replace(state.status);
                    self.notify_status();
                }
            }
            MachineUpdate::Failed { command, message } => {
                tracing::warn!(?command, %message, "machine command failed");
                self.emit_by_name::<()>("failed", &[&message]);
            }
            MachineUpdate::Event(name) => tracing::info!(event = %name, "QMP event"),
        }
    }

    fn set_unknown(&self) {
        let imp = self.imp();
        if imp.available.replace(false) {
            self.notify_available();
        }
        if imp.running.replace(false) {
            self.notify_running();
        }
        if !imp.status.borrow().is_empty() {
            imp.status.replace(String::new());
            self.notify_status();
        }
    }

    fn flush(&self) {
        let out = self.imp().control.borrow_mut().take_output();
        if out.is_empty() {
            return;
        }
        if let Some(s) = &*self.imp().stream.borrow()
            && let Err(e) = s.write(&out)
        {
            tracing::warn!(error = %e, "cannot write to the QMP port");
        }
    }
}
