//! The guest machine's controls over QMP, as virt-viewer's Machine menu:
//! pause, resume, reset, power down, and the run state kept up to date.
//! Sans-IO on top of [`QmpClient`]: the embedder feeds the bytes of the
//! `org.qemu.monitor.qmp.0` port and writes [`MachineControl::take_output`]
//! back. The GTK layer (`gtk::Machine`) is a thin GObject around it.
//!
//! Once QMP is negotiated the run state is asked for (`query-status`) and
//! then followed from QEMU's events (STOP, RESUME, SHUTDOWN; RESET asks
//! again). A port that closes or opens again starts everything over.

use super::qmp::{QmpClient, QmpEvent, RunState};

/// Most commands waiting for their answer (older ones are forgotten).
const MAX_PENDING: usize = 32;

/// What the user can ask of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineCommand {
    Pause,
    Resume,
    Reset,
    PowerDown,
}

impl MachineCommand {
    /// The QMP command.
    pub fn qmp_name(self) -> &'static str {
        match self {
            Self::Pause => "stop",
            Self::Resume => "cont",
            Self::Reset => "system_reset",
            Self::PowerDown => "system_powerdown",
        }
    }
}

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum MachineUpdate {
    /// QMP is negotiated: the commands work (QEMU's version from its greeting).
    Ready { version: Option<String> },
    /// The guest's run state, first from `query-status`, then after each change.
    RunState(RunState),
    /// A command was refused (QEMU's error text).
    Failed { command: MachineCommand, message: String },
    /// A QMP event (RESET, POWERDOWN, SHUTDOWN...), for logs.
    Event(String),
}

/// The machine behind one QMP port.
#[derive(Debug, Default)]
pub struct MachineControl {
    qmp: QmpClient,
    ready: bool,
    state: Option<RunState>,
    /// The `query-status` under way.
    status_query: Option<u64>,
    pending: Vec<(u64, MachineCommand)>,
}

impl MachineControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether QMP is negotiated.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The last run state known (`None` before the first `query-status` answer).
    pub fn run_state(&self) -> Option<&RunState> {
        self.state.as_ref()
    }

    /// Starts over: the port closed, opened again or the channel relinked
    /// (QEMU greets anew).
    pub fn restart(&mut self) {
        *self = Self::default();
    }

    /// Sends `command` (queued until QMP is negotiated).
    pub fn command(&mut self, command: MachineCommand) {
        let id = self.qmp.execute(command.qmp_name(), None);
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push((id, command));
    }

    /// Bytes to write to the port now.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.qmp.take_output()
    }

    /// Bytes from the port; returns what changed.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<MachineUpdate> {
        let mut updates = Vec::new();
        for event in self.qmp.receive(bytes) {
            match event {
                QmpEvent::Ready { version } => {
                    self.ready = true;
                    self.query_status();
                    updates.push(MachineUpdate::Ready { version });
                }
                QmpEvent::Return { id, value } if Some(id) == self.status_query => {
                    self.status_query = None;
                    match RunState::from_query_status(&value) {
                        Some(s) => self.set_state(s, &mut updates),
                        None => tracing::debug!(%value, "query-status: unexpected answer"),
                    }
                }
                QmpEvent::Return { id, .. } => self.pending.retain(|(i, _)| *i != id),
                QmpEvent::Error { id, desc, .. } => {
                    if Some(id) == self.status_query {
                        self.status_query = None;
                        tracing::debug!(%desc, "query-status failed");
                    }
                    if let Some(pos) = self.pending.iter().position(|(i, _)| *i == id) {
                        let (_, command) = self.pending.remove(pos);
                        updates.push(MachineUpdate::Failed { command, message: desc });
                    }
                }
                QmpEvent::Event { name, .. } => {
                    let mut state = self.state.clone().unwrap_or_default();
                    if state.apply_event(&name) {
                        self.set_state(state, &mut updates);
                    } else if name == "RESET" {
                        // A reset may leave the machine stopped or running: ask.
                        self.query_status();
                    }
                    updates.push(MachineUpdate::Event(name));
                }
                QmpEvent::Protocol(e) => tracing::debug!(error = %e, "QMP port"),
            }
        }
        updates
    }

    fn query_status(&mut self) {
        if self.status_query.is_none() {
            self.status_query = Some(self.qmp.execute("query-status", None));
        }
    }

    fn set_state(&mut self, state: RunState, updates: &mut Vec<MachineUpdate>) {
        if self.state.as_ref() != Some(&state) {
            self.state = Some(state.clone());
            updates.push(MachineUpdate::RunState(state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const GREETING: &[u8] =
        b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\r\n";

    /// The commands written, as (id, command name).
    fn sent(m: &mut MachineControl) -> Vec<(u64, String)> {
        String::from_utf8(m.take_output())
            .unwrap()
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["id"].as_u64().unwrap(), v["execute"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    /// A machine past the greeting, with the `query-status` it sent answered `status`.
    fn ready(status: &str, running: bool) -> MachineControl {
        let mut m = MachineControl::new();
        assert!(m.receive(GREETING).is_empty());
        let caps = sent(&mut m);
        assert_eq!(caps[0].1, "qmp_capabilities");
        let up = m.receive(format!("{{\"return\": {{}}, \"id\": {}}}\r\n", caps[0].0).as_bytes());
        assert_eq!(
            up,
            vec![MachineUpdate::Ready {
                version: Some("7.2.0".into())
            }]
        );
        let q = sent(&mut m);
        assert_eq!(q[0].1, "query-status");
        let answer = format!(
            "{{\"return\": {{\"status\": \"{status}\", \"singlestep\": false, \"running\": {running}}}, \"id\": {}}}\r\n",
            q[0].0
        );
        assert_eq!(
            m.receive(answer.as_bytes()),
            vec![MachineUpdate::RunState(RunState {
                running,
                status: status.into()
            })]
        );
        m
    }

    #[test]
    fn commands_wait_for_negotiation_and_events_follow_the_state() {
        let mut m = MachineControl::new();
        m.command(MachineCommand::Pause);
        assert!(m.take_output().is_empty(), "nothing before QMP is negotiated");
        let mut m = ready("running", true);
        assert!(m.is_ready());
        m.command(MachineCommand::Pause);
        let s = sent(&mut m);
        assert_eq!(s[0].1, "stop");
        let updates = m.receive(
            format!(
                "{{\"timestamp\": {{\"seconds\": 1, \"microseconds\": 2}}, \"event\": \"STOP\"}}\r\n{{\"return\": {{}}, \"id\": {}}}\r\n",
                s[0].0
            )
            .as_bytes(),
        );
        let paused = RunState {
            running: false,
            status: "paused".into(),
        };
        assert_eq!(
            updates,
            vec![
                MachineUpdate::RunState(paused.clone()),
                MachineUpdate::Event("STOP".into())
            ]
        );
        assert_eq!(m.run_state(), Some(&paused));
        m.command(MachineCommand::Resume);
        assert_eq!(sent(&mut m)[0].1, "cont");
        let updates = m.receive(b"{\"event\": \"RESUME\"}");
        assert!(matches!(&updates[0], MachineUpdate::RunState(s) if s.running && s.status == "running"));
    }

    #[test]
    fn reset_asks_for_the_state_and_errors_name_the_command() {
        let mut m = ready("paused", false);
        m.command(MachineCommand::Reset);
        assert_eq!(sent(&mut m)[0].1, "system_reset");
        assert_eq!(
            m.receive(b"{\"event\": \"RESET\", \"data\": {\"guest\": false}}\r\n"),
            vec![MachineUpdate::Event("RESET".into())]
        );
        let q = sent(&mut m);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].1, "query-status");
        m.command(MachineCommand::PowerDown);
        let p = sent(&mut m);
        assert_eq!(p[0].1, "system_powerdown");
        let updates = m.receive(
            format!(
                "{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"no\"}}, \"id\": {}}}\r\n",
                p[0].0
            )
            .as_bytes(),
        );
        assert_eq!(
            updates,
            vec![MachineUpdate::Failed {
                command: MachineCommand::PowerDown,
                message: "no".into()
            }]
        );
        // The port opens again: a new greeting, a new negotiation.
        m.restart();
        assert!(!m.is_ready() && m.run_state().is_none());
        m.receive(GREETING);
        assert_eq!(sent(&mut m)[0].1, "qmp_capabilities");
    }

    #[test]
    fn pending_commands_are_bounded() {
        let mut m = ready("running", true);
        for _ in 0..1000 {
            m.command(MachineCommand::Pause);
        }
        assert!(m.pending.len() <= MAX_PENDING);
    }
}
