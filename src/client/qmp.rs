//! A QMP client (QEMU Machine Protocol) for the port channel
//! `org.qemu.monitor.qmp.0`, sans-IO: bytes in, events and bytes to send
//! out. Used by the GTK app's Machine menu and by `sumac-cli qmp`.
//!
//! QEMU greets with `{"QMP": {...}}` when the port opens; the client answers
//! `qmp_capabilities` and, once that returns, sends its commands, each with
//! an integer `id` its answer (`return` or `error`) carries back. `event`
//! objects (STOP, RESUME, RESET, POWERDOWN, SHUTDOWN...) come at any time.
//! Objects are separated by `\r\n`, but any whitespace (or none) is accepted.
//! A partial object is kept, at most [`MAX_PENDING`] bytes: a peer that
//! never closes its object is cut off (the buffer is dropped and a
//! [`QmpEvent::Protocol`] reported).

use serde_json::{Map, Value, json};

/// The port name QEMU uses for its QMP monitor.
pub const QMP_PORT: &str = "org.qemu.monitor.qmp.0";
/// Most bytes of an unfinished JSON object kept.
pub const MAX_PENDING: usize = 1 << 20;

/// What the peer said.
#[derive(Debug, Clone, PartialEq)]
pub enum QmpEvent {
    /// Capabilities negotiated: commands may be sent (queued ones were).
    Ready { version: Option<String> },
    /// A command's answer.
    Return { id: u64, value: Value },
    /// A command failed.
    Error { id: u64, class: String, desc: String },
    /// An asynchronous event.
    Event { name: String, data: Value },
    /// Something that is not QMP (dropped).
    Protocol(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Negotiating { id: u64 },
    Ready,
}

/// One QMP session.
#[derive(Debug, Clone)]
pub struct QmpClient {
    phase: Phase,
    pending: Vec<u8>,
    next_id: u64,
    /// Commands asked for before the session was ready.
    queued: Vec<Vec<u8>>,
    out: Vec<u8>,
    /// QEMU's version from the greeting, until [`QmpEvent::Ready`] reports it.
    greeted_version: Option<String>,
}

impl Default for QmpClient {
    fn default() -> Self {
        Self::new()
    }
}

fn line(v: &Value) -> Vec<u8> {
    let mut b = v.to_string().into_bytes();
    b.extend_from_slice(b"\r\n");
    b
}

impl QmpClient {
    pub fn new() -> Self {
        Self {
            phase: Phase::Greeting,
            pending: Vec::new(),
            next_id: 1,
            queued: Vec::new(),
            out: Vec::new(),
            greeted_version: None,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Starts over (the port closed or opened again: QEMU greets anew).
    pub fn reset(&mut self) {
        self.phase = Phase::Greeting;
        self.pending.clear();
        self.out.clear();
    }

    /// Bytes to send to the peer now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Sends (or queues until ready) `command` with `arguments`; returns its id.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> u64 {
        let mut obj = Map::new();
        obj.insert("execute".into(), Value::String(command.into()));
        if let Some(a) = arguments {
            obj.insert("arguments".into(), a);
        }
        self.execute_object(obj)
    }

    /// Sends a command given as a JSON object (`{"execute": ..., "arguments": ...}`);
    /// its `id` is replaced by ours.
    pub fn execute_object(&mut self, mut obj: Map<String, Value>) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        obj.insert("id".into(), json!(id));
        let bytes = line(&Value::Object(obj));
        if self.phase == Phase::Ready {
            self.out.extend_from_slice(&bytes);
        } else {
            self.queued.push(bytes);
        }
        id
    }

    /// Parses `bytes` from the peer; returns what happened.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<QmpEvent> {
        let mut events = Vec::new();
        self.pending.extend_from_slice(bytes);
        let mut values = Vec::new();
        let mut bad = None;
        let consumed = {
            let mut stream = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Value>();
            loop {
                match stream.next() {
                    None => break self.pending.len(),
                    Some(Ok(v)) => values.push(v),
                    Some(Err(e)) if e.is_eof() => break stream.byte_offset(),
                    Some(Err(e)) => {
                        // Not JSON: drop everything received so far.
                        bad = Some(e.to_string());
                        break self.pending.len();
                    }
                }
            }
        };
        self.pending.drain(..consumed.min(self.pending.len()));
        for v in values {
            self.handle(v, &mut events);
        }
        if let Some(e) = bad {
            events.push(QmpEvent::Protocol(format!("not JSON: {e}")));
        }
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
            events.push(QmpEvent::Protocol(format!(
                "a JSON object longer than {MAX_PENDING} bytes"
            )));
        }
        events
    }

    fn handle(&mut self, v: Value, events: &mut Vec<QmpEvent>) {
        let Value::Object(obj) = v else {
            events.push(QmpEvent::Protocol("a JSON value that is not an object".into()));
            return;
        };
        if let Some(greeting) = obj.get("QMP") {
            let version = greeting
                .pointer("/version/qemu")
                .map(|q| {
                    let n = |k: &str| q.get(k).and_then(Value::as_u64).unwrap_or(0);
                    format!("{}.{}.{}", n("major"), n("minor"), n("micro"))
                })
                .or_else(|| greeting.get("version").map(Value::to_string));
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            self.out
                .extend_from_slice(&line(&json!({"execute": "qmp_capabilities", "id": id})));
            self.phase = Phase::Negotiating { id };
            self.greeted_version = version;
            return;
        }
        let id = obj.get("id").and_then(Value::as_u64);
        if let Some(event) = obj.get("event").and_then(Value::as_str) {
            events.push(QmpEvent::Event {
                name: event.to_owned(),
                data: obj.get("data").cloned().unwrap_or(Value::Null),
            });
            return;
        }
        if let Phase::Negotiating { id: nid } = self.phase
            && id == Some(nid)
        {
            if obj.contains_key("return") {
                self.phase = Phase::Ready;
                for q in self.queued.drain(..) {
                    self.out.extend_from_slice(&q);
                }
                events.push(QmpEvent::Ready {
                    version: self.greeted_version.take(),
                });
            } else {
                events.push(QmpEvent::Protocol(format!(
                    "qmp_capabilities refused: {}",
                    Value::Object(obj)
                )));
            }
            return;
        }
        match (id, obj.get("return"), obj.get("error")) {
            (Some(id), Some(value), _) => events.push(QmpEvent::Return {
                id,
                value: value.clone(),
            }),
            (Some(id), None, Some(err)) => events.push(QmpEvent::Error {
                id,
                class: err.get("class").and_then(Value::as_str).unwrap_or_default().to_owned(),
                desc: err.get("desc").and_then(Value::as_str).unwrap_or_default().to_owned(),
            }),
            _ => events.push(QmpEvent::Protocol(format!("unexpected: {}", Value::Object(obj)))),
        }
    }
}

/// The guest's run state as QMP reports it (`query-status`, STOP/RESUME events).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunState {
    pub running: bool,
    /// QEMU's status: `running`, `paused`, `shutdown`, `inmigrate`...
    pub status: String,
}

impl RunState {
    /// From a `query-status` return value.
    pub fn from_query_status(v: &Value) -> Option<Self> {
        Some(Self {
            running: v.get("running")?.as_bool()?,
            status: v.get("status")?.as_str()?.to_owned(),
        })
    }

    /// Follows an event; whether it changed anything.
    pub fn apply_event(&mut self, name: &str) -> bool {
        let (running, status) = match name {
            "STOP" => (false, "paused"),
            "RESUME" => (true, "running"),
            "SHUTDOWN" => (false, "shutdown"),
            _ => return false,
        };
        let changed = self.running != running || self.status != status;
        self.running = running;
        self.status = status.to_owned();
        changed
    }
}

#[cfg(test)]
#[path = "qmp_tests.rs"]
mod tests;
