//! Child processes: guards that stop them by PID, runs with a timeout, signals and `/proc`
//! queries (the crate forbids `unsafe`, so no `libc`).

use super::{HarnessError, Result, io_err};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (by its PID, through the `Child`) and reaped when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops `child` and its direct children: each child gets SIGTERM and up to 5 s to go, then
/// `child` itself is killed if still there, and reaped. For wrappers such as `dbus-run-session`
/// whose real work is a child process.
pub fn stop_tree(child: &mut Child) {
    let pid = child.id();
    for c in child_pids(pid) {
        signal_pid(c, "TERM");
        wait_pid_gone(c, Duration::from_secs(5));
    }
    if pid_alive(pid) {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Runs `cmd` to completion with stdout/stderr captured; kills it (by its PID, via the `Child`)
/// when it outlives `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("start {what}")))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io_err(format!("wait for {what}")))? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            return Err(HarnessError::Timeout {
                what,
                secs: timeout.as_secs_f64(),
                log: err,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// A command for a server process that is also SIGKILLed when the thread that spawns it dies
/// (`setpriv --pdeathsig KILL`, util-linux): Drop guards do not run when a test run is interrupted
/// (Ctrl-C, a runner's timeout), and a server must not outlive it. `setpriv` execs the program, so
/// the child's PID is the server's. Without `setpriv`, the plain command.
pub fn server_command(program: &str) -> Command {
    if super::tools::find_program("setpriv").is_some() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--", program]);
        cmd
    } else {
        Command::new(program)
    }
}

/// Sends a signal (`TERM`, `KILL`...) to one process by PID, with the `kill` utility. Returns
/// whether `kill` succeeded.
pub fn signal_pid(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the process exists and is not a zombie. A zombie whose other threads are still
/// exiting counts as alive: until the last one is gone it keeps its files (an X connection and
/// its windows, a listening socket) open.
pub fn pid_alive(pid: u32) -> bool {
    // Format: "pid (comm) S ...": the state follows the last ')'.
    let state = fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
    });
    match state {
        None | Some('X') => false,
        Some('Z') => fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| tasks.count() > 1),
        Some(_) => true,
    }
}

/// PIDs of the direct children of `pid` (from /proc; needs Linux ≥ 3.5).
pub fn child_pids(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Waits until `pid` is gone (or a zombie), up to `timeout`. Returns whether it is gone.
pub fn wait_pid_gone(pid: u32, timeout: Duration) -> bool {
    super::wait::poll(timeout, Duration::from_millis(20), || (!pid_alive(pid)).then_some(())).is_some()
}

/// The last `lines` lines of a log file (empty when unreadable), for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    // Xspice floods its logs with these; they say nothing about a failure.
    let noise = ["qxl_surface_create: Bad bpp", "interface_get_command", "free: push "];
    let all: Vec<&str> = text.lines().filter(|l| !noise.iter().any(|n| l.contains(n))).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Human-readable exit status.
pub fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status}"),
    }
}
