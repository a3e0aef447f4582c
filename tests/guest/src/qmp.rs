//! A minimal QMP client over a unix socket (QEMU's `-qmp unix:...`): greeting, capabilities
//! negotiation, then one command at a time; events met while waiting for a reply are kept aside.

use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A connected QMP session (capabilities negotiated).
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    events: Vec<Value>,
    /// The `QMP` object of the greeting (version, capabilities).
    pub greeting: Value,
}

impl std::fmt::Debug for Qmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qmp")
            .field("greeting", &self.greeting)
            .finish_non_exhaustive()
    }
}

/// Replies and events are small; a reply that takes longer than this means QEMU is stuck.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

impl Qmp {
    /// Connects (retrying until `timeout`: QEMU creates the socket shortly after it starts), reads
    /// the greeting and negotiates capabilities.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Qmp> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if start.elapsed() > timeout => {
                    return Err(Error::Qmp(format!("connect to {}: {e}", socket.display())));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|e| Error::Qmp(format!("set a read timeout: {e}")))?;
        let writer = stream
            .try_clone()
            .map_err(|e| Error::Qmp(format!("clone the socket: {e}")))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            events: Vec::new(),
            greeting: Value::Null,
        };
        let greeting = qmp.read_message()?;
        qmp.greeting = greeting
            .get("QMP")
            .cloned()
            .ok_or_else(|| Error::Qmp(format!("expected the QMP greeting, got {greeting}")))?;
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    /// Runs one command and returns its `return` value; an `error` reply is [`Error::Qmp`].
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| Error::Qmp(format!("send {command}: {e}")))?;
        loop {
            let message = self.read_message()?;
            if message.get("event").is_some() {
                self.events.push(message);
                continue;
            }
            if message.get("id").and_then(Value::as_u64) != Some(id) {
                // A reply to an earlier command whose caller gave up: not ours.
                continue;
            }
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            let error = message
                .get("error")
                .map_or_else(|| message.to_string(), Value::to_string);
            return Err(Error::Qmp(format!("{command}: {error}")));
        }
    }

    /// The events received so far (taken: a second call returns only newer ones).
    pub fn take_events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| Error::Qmp(format!("read: {e}")))?;
            if n == 0 {
                return Err(Error::Qmp("QEMU closed the QMP socket".into()));
            }
            if !line.trim().is_empty() {
                return serde_json::from_str(&line).map_err(|e| Error::Qmp(format!("bad JSON {line:?}: {e}")));
            }
        }
    }
}
