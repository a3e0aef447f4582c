//! Commands and files through the control share (`/sumac/ctl` in the guest, a writable 9p export
//! of the run directory's `ctl/`).
//!
//! A request is a bash script renamed into `cmd/ID.sh` (with its time limit in `cmd/ID.timeout`);
//! the guest init polls `cmd/` (a read with a timeout on a FIFO, no fork per poll), runs the script
//! under `timeout`, and writes `out/ID.out`, `out/ID.err`, then `out/ID.rc` (the exit status and a
//! newline in one write: complete once it ends with the newline). The host polls for `out/ID.rc` (a `stat` every 20 ms: nothing for a host core),
//! reads the results and deletes the files.

use crate::error::{Error, Result, io_err};
use crate::guest::{GUEST_SHARE_DIR, Guest, shell_quote};
use crate::host::file_tail;
use crate::qemu::QemuProcess;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a guest command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status (124: killed by its time limit, as with `timeout`).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// How to run a guest command.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The guest kills the command after this (status 124); the host gives up 15 s later.
    pub timeout: Duration,
    /// Run in the X session (`DISPLAY=:0`).
    pub display: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            display: false,
        }
    }
}

impl Guest {
    /// Runs `command` (bash, as root, in `/`) in the guest and returns its status and output. A
    /// non-zero status is not an error here (see [`Guest::run_ok`]).
    pub fn run(&self, command: &str) -> Result<Output> {
        self.run_with(command, &RunOptions::default())
    }

    /// [`Guest::run`] in the X session (`DISPLAY=:0`): xrandr, xclip, xdotool...
    pub fn run_x(&self, command: &str) -> Result<Output> {
        self.run_with(
            command,
            &RunOptions {
                display: true,
                ..RunOptions::default()
            },
        )
    }

    /// Runs `command` and returns its stdout; a non-zero status is [`Error::GuestCommand`].
    pub fn run_ok(&self, command: &str) -> Result<String> {
        ok(command, self.run(command)?)
    }

    /// [`Guest::run_ok`] in the X session.
    pub fn run_x_ok(&self, command: &str) -> Result<String> {
        ok(command, self.run_x(command)?)
    }

    /// Runs `command` with explicit options.
    pub fn run_with(&self, command: &str, options: &RunOptions) -> Result<Output> {
        let id = self.request(command, options)?;
        let result = self.wait_result(&id, command, options.timeout + Duration::from_secs(15));
        self.forget(&id);
        result
    }

    /// Starts `command` in the background in its own session (so that it outlives this request)
    /// and returns at once. Its output goes to files readable while it runs; it is killed (whole
    /// process group) when the handle is dropped.
    pub fn spawn(&self, command: &str, display: bool) -> Result<GuestProcess<'_>> {
        let id = format!("bg{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let out = format!("{GUEST_SHARE_DIR}/{id}");
        let script = format!(
            "setsid bash -c {cmd} </dev/null >{out}.out 2>{out}.err &\necho $!\n",
            cmd = shell_quote(command),
            out = out,
        );
        let options = RunOptions {
            display,
            ..RunOptions::default()
        };
        let pid_text = ok(command, self.run_with(&script, &options)?)?;
        let pid = pid_text
            .trim()
            .parse::<u32>()
            .map_err(|_| Error::Other(format!("spawn {command}: no PID in {pid_text:?}")))?;
        Ok(GuestProcess {
            guest: self,
            pid,
            id,
            killed: false,
        })
    }

    /// Writes `data` to `path` in the guest (parent directories created, mode 0644 as root).
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let name = format!("in{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let host = self.host_share_dir().join(&name);
        fs::write(&host, data).map_err(io_err(format!("write {}", host.display())))?;
        let quoted = shell_quote(path);
        let result = self.run_ok(&format!(
            "mkdir -p \"$(dirname -- {quoted})\" && cp -- {GUEST_SHARE_DIR}/{name} {quoted} && chmod 0644 {quoted}"
        ));
        let _ = fs::remove_file(&host);
        result.map(drop)
    }

    /// Reads the file at `path` in the guest.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let name = format!("out{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let host = self.host_share_dir().join(&name);
        let result = self
            .run_ok(&format!("cp -- {} {GUEST_SHARE_DIR}/{name}", shell_quote(path)))
            .and_then(|_| fs::read(&host).map_err(io_err(format!("read {}", host.display()))));
        let _ = fs::remove_file(&host);
        result
    }

    /// Writes the request files and returns the request's id.
    fn request(&self, command: &str, options: &RunOptions) -> Result<String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let ctl = &self.paths.ctl;
        let mut script = String::from("export HOME=/root LANG=C.UTF-8 TERM=xterm\n");
        if options.display {
            script.push_str(
                "export DISPLAY=:0 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/sumac/session-bus NO_AT_BRIDGE=1\n",
            );
        }
        script.push_str(command);
        script.push('\n');
        let secs = options.timeout.as_secs().max(1);
        fs::write(ctl.join(format!("cmd/{id}.timeout")), format!("{secs}\n"))
            .map_err(io_err("write a request's time limit"))?;
        let tmp = ctl.join(format!(".req-{id}"));
        fs::write(&tmp, script).map_err(io_err("write a request"))?;
        fs::rename(&tmp, ctl.join(format!("cmd/{id}.sh"))).map_err(io_err("submit a request"))?;
        Ok(id)
    }

    fn wait_result(&self, id: &str, command: &str, limit: Duration) -> Result<Output> {
        let out = self.paths.ctl.join("out");
        let rc_path = out.join(format!("{id}.rc"));
        let start = Instant::now();
        loop {
            // Complete once it ends with a newline (one write in the guest, after the output).
            if let Ok(rc) = fs::read_to_string(&rc_path).map(|rc| rc.ends_with('\n').then_some(rc))
                && let Some(rc) = rc
            {
                let read = |ext: &str| {
                    String::from_utf8_lossy(&fs::read(out.join(format!("{id}.{ext}"))).unwrap_or_default()).into_owned()
                };
                let status = rc
                    .trim()
                    .parse()
                    .map_err(|_| Error::Other(format!("bad exit status {rc:?} for `{command}`")))?;
                return Ok(Output {
                    status,
                    stdout: read("out"),
                    stderr: read("err"),
                });
            }
            if let Some(status) = self.qemu.exit_status() {
                return Err(QemuProcess::exited_error(
                    status,
                    &format!(" while running `{command}`"),
                    &self.paths,
                ));
            }
            if start.elapsed() > limit {
                return Err(Error::Timeout {
                    command: command.to_string(),
                    waited: start.elapsed(),
                    console: file_tail(&self.paths.console, 20),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Deletes a finished request's files.
    fn forget(&self, id: &str) {
        let ctl = &self.paths.ctl;
        for path in [
            format!("cmd/{id}.sh"),
            format!("cmd/{id}.timeout"),
            format!("out/{id}.out"),
            format!("out/{id}.err"),
            format!("out/{id}.rc"),
        ] {
            let _ = fs::remove_file(ctl.join(path));
        }
    }
}

fn ok(command: &str, output: Output) -> Result<String> {
    if output.success() {
        Ok(output.stdout)
    } else {
        Err(Error::GuestCommand {
            command: command.to_string(),
            status: output.status,
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

/// A background process in the guest ([`Guest::spawn`]); its process group is killed on drop.
#[derive(Debug)]
pub struct GuestProcess<'g> {
    guest: &'g Guest,
    pid: u32,
    id: String,
    killed: bool,
}

impl GuestProcess<'_> {
    /// Its PID in the guest (also its process group and session).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it still runs.
    pub fn is_running(&self) -> Result<bool> {
        Ok(self.guest.run(&format!("kill -0 {}", self.pid))?.success())
    }

    /// What it printed so far.
    pub fn stdout(&self) -> String {
        self.read("out")
    }

    pub fn stderr(&self) -> String {
        self.read("err")
    }

    /// SIGTERM to its process group, SIGKILL after 3 s; returns its stdout.
    pub fn kill(mut self) -> Result<String> {
        self.terminate()?;
        Ok(self.stdout())
    }

    fn terminate(&mut self) -> Result<()> {
        if self.killed {
            return Ok(());
        }
        self.killed = true;
        let pgid = self.pid;
        self.guest
            .run(&format!(
                "kill -TERM -- -{pgid} 2>/dev/null || exit 0\n\
                 for i in $(seq 30); do kill -0 -- -{pgid} 2>/dev/null || exit 0; sleep 0.1; done\n\
                 kill -KILL -- -{pgid} 2>/dev/null; exit 0"
            ))
            .map(drop)
    }

    fn path(&self, ext: &str) -> PathBuf {
        self.guest.host_share_dir().join(format!("{}.{ext}", self.id))
    }

    fn read(&self, ext: &str) -> String {
        String::from_utf8_lossy(&fs::read(self.path(ext)).unwrap_or_default()).into_owned()
    }
}

impl Drop for GuestProcess<'_> {
    fn drop(&mut self) {
        if self.guest.is_running() {
            let _ = self.terminate();
        }
        let _ = fs::remove_file(self.path("out"));
        let _ = fs::remove_file(self.path("err"));
    }
}
