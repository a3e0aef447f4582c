//! `sumac-cli qmp` and `sumac-cli console`: QEMU's monitor and consoles over
//! SPICE port channels, and `sumac-cli share`: a session that shares a folder.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};
use sumac::client::qmp::{QMP_PORT, QmpClient, QmpEvent};
use sumac::client::{SessionEvent, SessionHandle, VmcStream};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{ConnectArgs, build, next_event};

/// Waits for the port channel named `name`.
fn wait_port(
    session: &SessionHandle,
    rx: &mut UnboundedReceiver<SessionEvent>,
    name: &str,
    deadline: Instant,
) -> Result<VmcStream> {
    loop {
        if let Some(s) = session.port(name) {
            return Ok(s);
        }
        match next_event(rx, deadline) {
            Some(SessionEvent::Disconnected { error }) => {
                return Err(match error {
                    Some(e) => anyhow!("{e}"),
                    None => anyhow!("the session ended before the port {name} appeared"),
                });
            }
            Some(_) => {}
            None => bail!("the server offers no port named {name}"),
        }
    }
}

/// Writes everything, retrying while the stream's queue is full.
fn write_all(stream: &VmcStream, data: &[u8], deadline: Instant) -> Result<()> {
    for chunk in data.chunks(64 << 10) {
        loop {
            match stream.write(chunk) {
                Ok(()) => break,
                Err(sumac::client::vmc::VmcWriteError::Full) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(anyhow!("{e}")),
            }
        }
    }
    Ok(())
}

/// Runs QMP commands (JSON objects) over the port and prints each answer as
/// one JSON line, in order. Fails if a command fails.
pub(crate) fn qmp(args: ConnectArgs, commands: Vec<String>, timeout: u64) -> Result<()> {
    let mut objects = Vec::new();
    for c in &commands {
        let v: serde_json::Value = serde_json::from_str(c).with_context(|| format!("not JSON: {c}"))?;
        let serde_json::Value::Object(obj) = v else {
            bail!("a QMP command is a JSON object: {c}");
        };
        if !obj.contains_key("execute") {
            bail!("a QMP command needs \"execute\": {c}");
        }
        objects.push(obj);
    }
    let (cfg, opts) = build(&args)?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    let stream = wait_port(&session, &mut rx, QMP_PORT, deadline)?;
    let mut client = QmpClient::new();
    let ids: Vec<u64> = objects.into_iter().map(|o| client.execute_object(o)).collect();
    let mut waiting: BTreeSet<u64> = ids.iter().copied().collect();
    let mut answers = std::collections::BTreeMap::new();
    let mut failed = false;
    while !waiting.is_empty() {
        write_all(&stream, &client.take_output(), deadline)?;
        let data = stream.read();
        if data.is_empty() {
            if !stream.is_up() {
                bail!("the QMP port closed");
            }
            match next_event(&mut rx, deadline) {
                Some(SessionEvent::Disconnected { error }) => {
                    bail!(
                        "the session ended: {}",
                        error.map(|e| e.to_string()).unwrap_or_default()
                    )
                }
                Some(_) => continue,
                None => bail!("no answer from QMP within {timeout} s"),
            }
        }
        for ev in client.receive(&data) {
            match ev {
                QmpEvent::Return { id, value } if waiting.remove(&id) => {
                    answers.insert(id, serde_json::json!({ "return": value }));
                }
                QmpEvent::Error { id, class, desc } if waiting.remove(&id) => {
                    failed = true;
                    answers.insert(id, serde_json::json!({ "error": { "class": class, "desc": desc } }));
                }
                QmpEvent::Event { name, data } => eprintln!("event {name} {data}"),
                QmpEvent::Protocol(e) => eprintln!("QMP: {e}"),
                _ => {}
            }
        }
    }
    // What is still queued (none here) would be lost: flush before leaving.
    write_all(&stream, &client.take_output(), deadline)?;
    let mut out = std::io::stdout().lock();
    for id in ids {
        if let Some(a) = answers.get(&id) {
            writeln!(out, "{a}")?;
        }
    }
    drop(out);
    session.disconnect();
    if failed {
        bail!("a QMP command failed");
    }
    Ok(())
}

/// Connects standard input and output to a port (a serial console, HMP)
/// until standard input ends (then `--linger` seconds more of output) or the
/// session ends.
pub(crate) fn console(args: ConnectArgs, port: String, timeout: u64, linger: u64) -> Result<()> {
    let (cfg, opts) = build(&args)?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    let stream = wait_port(&session, &mut rx, &port, deadline)?;
    let (in_tx, in_rx) = std::sync::mpsc::channel::<Option<Vec<u8>>>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = in_tx.send(None);
                    return;
                }
                Ok(n) => {
                    if in_tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut stop_at: Option<Instant> = None;
    let mut out = std::io::stdout();
    loop {
        loop {
            match in_rx.try_recv() {
                Ok(Some(bytes)) => write_all(&stream, &bytes, Instant::now() + Duration::from_secs(10))?,
                Ok(None) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    stop_at.get_or_insert_with(|| Instant::now() + Duration::from_secs(linger));
                    break;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
            }
        }
        let data = stream.read();
        if !data.is_empty() {
            out.write_all(&data)?;
            out.flush()?;
            continue;
        }
        if stop_at.is_some_and(|t| Instant::now() >= t) || !stream.is_up() {
            break;
        }
        // Wake for the port's data, or every 20 ms for standard input.
        match next_event(&mut rx, Instant::now() + Duration::from_millis(20)) {
            Some(SessionEvent::Disconnected { error }) => {
                return match error {
                    Some(e) => Err(anyhow!("{e}")),
                    None => Ok(()),
                };
            }
            _ => continue,
        }
    }
    session.disconnect();
    Ok(())
}

/// Keeps a session sharing a folder until standard input ends or `seconds` pass.
pub(crate) fn share(args: ConnectArgs, seconds: Option<u64>) -> Result<()> {
    if args.spice.shared_dir.is_none() {
        bail!("share needs --spice-shared-dir DIR");
    }
    let (cfg, opts) = build(&args)?;
    let (session, mut rx) = sumac::client::connect(cfg, opts)?;
    let (eof_tx, eof_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = eof_tx.send(());
    });
    let end = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        if eof_rx.try_recv().is_ok() || end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        match next_event(&mut rx, Instant::now() + Duration::from_millis(200)) {
            Some(SessionEvent::Disconnected { error }) => {
                return match error {
                    Some(e) => Err(anyhow!("{e}")),
                    None => Ok(()),
                };
            }
            Some(SessionEvent::Port { name, opened, .. }) => eprintln!("port {name} opened={opened}"),
            _ => {}
        }
    }
    session.disconnect();
    Ok(())
}
