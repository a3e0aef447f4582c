//! QEMU 7.2 with a QXL card and SPICE, plus a minimal QMP client (std + serde_json).
//!
//! Without `kernel` the guest is SeaBIOS alone: it stops at "No bootable device." in 720x400 VGA
//! text mode, a static screen apart from the blinking text cursor.

use super::clients::spice_uri;
use super::tls::TlsDir;
use super::{free_port, wait_for_port};
use crate::support::image::{Rect, RgbImage, compare_images};
use crate::support::process::{describe_status, log_tail, server_command, signal_pid, wait_pid_gone};
use crate::support::{HarnessError, Result, io_err};
use serde_json::{Value, json};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// memtest86+ 6.10 from Debian's memtest86+ package: boots in ~8 s under TCG and keeps redrawing.
pub const MEMTEST_KERNEL: &str = "/boot/memtest86+x64.bin";

#[derive(Debug, Clone, Default)]
pub struct QemuOpts {
    /// SPICE password (`-object secret` + `password-secret=`); `None` → `disable-ticketing=on`.
    pub password: Option<String>,
    /// Adds `tls-port=` and `x509-dir=`.
    pub tls: Option<TlsDir>,
    /// With `tls`: offer only the TLS port (no plain `port=`).
    pub tls_only: bool,
    /// `image-compression=` (auto_glz, auto_lz, quic, glz, lz, off).
    pub image_compression: Option<&'static str>,
    /// `-kernel` image, e.g. [`MEMTEST_KERNEL`].
    pub kernel: Option<PathBuf>,
    /// `-spice seamless-migration=on` (spice-server then offers seamless
    /// migration to clients that advertise it).
    pub seamless_migration: bool,
    /// Start as a migration destination: `-incoming tcp:127.0.0.1:PORT` on a free port
    /// ([`Qemu::incoming_port`]).
    pub incoming: bool,
    /// QEMU trace events to log (`-trace NAME`), e.g. `input_event_key_number`.
    pub trace: Vec<&'static str>,
    /// More arguments, e.g. `-chardev spiceport,...` for port channels ([`spiceport_monitors`]).
    pub extra: Vec<String>,
}

/// QEMU's QMP (`org.qemu.monitor.qmp.0`) and HMP (`org.qemu.monitor.hmp.0`) monitors on SPICE
/// port channels, as [`QemuOpts::extra`].
pub fn spiceport_monitors() -> Vec<String> {
    [
        "-chardev",
        "spiceport,id=qmpport,name=org.qemu.monitor.qmp.0",
        "-mon",
        "chardev=qmpport,mode=control",
        "-chardev",
        "spiceport,id=hmpport,name=org.qemu.monitor.hmp.0",
        "-mon",
        "chardev=hmpport,mode=readline",
    ]
    .map(String::from)
    .to_vec()
}

/// A running QEMU, killed (by PID) when dropped.
pub struct Qemu {
    child: Child,
    /// Plain SPICE port (None when `tls_only`).
    pub port: Option<u16>,
    pub tls_port: Option<u16>,
    pub password: Option<String>,
    pub tls: Option<TlsDir>,
    /// The migration port of a destination started with [`QemuOpts::incoming`].
    pub incoming_port: Option<u16>,
    qmp: Mutex<Qmp>,
    dir: tempfile::TempDir,
    log: PathBuf,
}

/// A screen that stopped changing, except maybe for a blinking cursor.
#[derive(Debug, Clone)]
pub struct StableScreen {
    pub image: RgbImage,
    /// Where successive screendumps differed (the text cursor), to mask in comparisons.
    pub blink: Option<Rect>,
}

impl StableScreen {
    pub fn mask(&self) -> Vec<Rect> {
        self.blink.into_iter().collect()
    }
}

impl Qemu {
    pub fn start(opts: QemuOpts) -> Result<Qemu> {
        crate::support::assert_not_hermetic("QEMU");
        let dir = tempfile::Builder::new()
            .prefix("sumac-qemu-")
            .tempdir()
            .map_err(io_err("create QEMU temp dir"))?;
        let log = dir.path().join("qemu.log");
        let qmp_path = dir.path().join("qmp.sock");
        let port = (opts.tls.is_none() || !opts.tls_only).then(free_port);
        let tls_port = opts.tls.as_ref().map(|_| free_port());

        let mut spice = vec!["addr=127.0.0.1".to_string()];
        if let Some(port) = port {
            spice.push(format!("port={port}"));
        }
        if let (Some(tls), Some(tls_port)) = (&opts.tls, tls_port) {
            spice.push(format!("tls-port={tls_port}"));
            spice.push(format!("x509-dir={}", tls.path().display()));
        }
        let mut cmd = server_command("qemu-system-x86_64");
        cmd.args([
            "-machine",
            "pc",
            "-accel",
            "tcg",
            "-m",
            "256",
            "-nodefaults",
            "-no-user-config",
        ]);
        cmd.args(["-vga", "qxl", "-display", "none"]);
        match &opts.password {
            Some(pw) => {
                cmd.args(["-object", &format!("secret,id=spicepw,data={pw}")]);
                spice.push("password-secret=spicepw".into());
            }
            None => spice.push("disable-ticketing=on".into()),
        }
        if let Some(ic) = opts.image_compression {
            spice.push(format!("image-compression={ic}"));
        }
        if opts.seamless_migration {
            spice.push("seamless-migration=on".into());
        }
        let incoming_port = opts.incoming.then(free_port);
        if let Some(p) = incoming_port {
            cmd.arg("-incoming").arg(format!("tcp:127.0.0.1:{p}"));
        }
        for t in &opts.trace {
            cmd.arg("-trace").arg(t);
        }
        cmd.args(["-spice", &spice.join(",")]);
        cmd.args(&opts.extra);
        cmd.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp_path.display()));
        if let Some(kernel) = &opts.kernel {
            cmd.arg("-kernel").arg(kernel);
        }
        let log_file = File::create(&log).map_err(io_err("create qemu.log"))?;
        let log_err = log_file.try_clone().map_err(io_err("dup qemu.log"))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(io_err(format!("start {cmd:?}")))?;

        let ready_port = port.or(tls_port).expect("QEMU has a plain or a TLS port");
        let ready = wait_for_port(ready_port, Duration::from_secs(30), || match child.try_wait() {
            Ok(Some(status)) => Err(HarnessError::Exited {
                what: format!("{cmd:?}"),
                status: describe_status(status),
                log: log_tail(&log, 20),
            }),
            _ => Ok(()),
        })
        .and_then(|()| Qmp::connect(&qmp_path, Duration::from_secs(10)));
        let qmp = match ready {
            Ok(qmp) => qmp,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Qemu {
            child,
            port,
            tls_port,
            password: opts.password,
            tls: opts.tls,
            incoming_port,
            qmp: Mutex::new(qmp),
            dir,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URI a client should use for this server (all ports and the password).
    pub fn uri(&self) -> String {
        spice_uri(self.port, self.tls_port, self.password.as_deref())
    }

    /// Runs one QMP command and returns its `"return"` value.
    pub fn qmp(&self, command: &str, arguments: Option<Value>) -> Result<Value> {
        self.qmp
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .execute(command, arguments)
    }

    /// Waits (up to `timeout`, asking `query-status` meanwhile) until QEMU's own QMP socket has
    /// reported the event `name`.
    pub fn wait_qmp_event(&self, name: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            self.qmp("query-status", None)?;
            let qmp = self.qmp.lock().unwrap_or_else(|e| e.into_inner());
            if qmp.events().iter().any(|e| e == name) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(HarnessError::Qmp(format!(
                    "no {name} event within {timeout:?} (events: {:?})",
                    qmp.events()
                )));
            }
            drop(qmp);
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn query_spice(&self) -> Result<Value> {
        self.qmp("query-spice", None)
    }

    /// Presses and releases keys given as QEMU qcodes (e.g. `["ret"]`, `["ctrl", "alt", "delete"]`).
    pub fn send_key(&self, qcodes: &[&str]) -> Result<()> {
        let keys: Vec<Value> = qcodes.iter().map(|k| json!({"type": "qcode", "data": k})).collect();
        self.qmp("send-key", Some(json!({ "keys": keys }))).map(drop)
    }

    /// The guest screen as QEMU renders it (QMP `screendump`, PPM), the ground truth.
    pub fn screendump(&self) -> Result<RgbImage> {
        let path = self.dir.path().join("screendump.ppm");
        let _ = std::fs::remove_file(&path);
        self.qmp("screendump", Some(json!({ "filename": path.display().to_string() })))?;
        RgbImage::load(&path)
    }

    /// Polls screendumps (every 100 ms) until the screen has not changed for `settle`, apart from
    /// one small region (≤ 16x32 px: a blinking text cursor), which is reported as `blink`.
    /// `settle` should cover a few blink phases (QEMU's VGA cursor toggles every ~270 ms): 2 s.
    pub fn wait_for_stable_screen(&self, settle: Duration, timeout: Duration) -> Result<StableScreen> {
        let start = Instant::now();
        let mut history: Vec<(Instant, RgbImage)> = Vec::new();
        loop {
            let image = self.screendump()?;
            let now = Instant::now();
            let (mut oldest_same, mut blink) = (now, None::<Rect>);
            for (t, older) in history.iter().rev() {
                let diff = compare_images(older, &image, &[]);
                if !diff.size_matches {
                    break;
                }
                if let Some(b) = diff.bbox {
                    let u = blink.map_or(b, |u| u.union(&b));
                    if u.w > 16 || u.h > 32 {
                        break;
                    }
                    blink = Some(u);
                }
                oldest_same = *t;
            }
            if now.duration_since(oldest_same) >= settle {
                return Ok(StableScreen { image, blink });
            }
            if start.elapsed() > timeout {
                return Err(HarnessError::Timeout {
                    what: "the QEMU screen to stop changing".into(),
                    secs: timeout.as_secs_f64(),
                    log: log_tail(&self.log, 20),
                });
            }
            history.retain(|(t, _)| now.duration_since(*t) <= settle * 2);
            history.push((now, image));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything QEMU logged so far (stderr: trace events, warnings).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The SPICE channels linked to this QEMU (`query-spice`).
    pub fn spice_channels(&self) -> Result<usize> {
        let info = self.query_spice()?;
        Ok(info.get("channels").and_then(Value::as_array).map_or(0, Vec::len))
    }

    /// Migrates this VM to `dst` (started with [`QemuOpts::incoming`]) as a
    /// management tool does: `client_migrate_info` (spice-server tells its
    /// client where to go, with `dst`'s ports and, with TLS, its certificate
    /// subject), then `migrate`, and waits until QEMU reports it completed.
    ///
    /// Nothing in QEMU waits for the client to link the destination before
    /// the migration runs (spice-server then falls back to switch-host): with
    /// `client_channels`, the migration starts once `dst` lists that many
    /// linked channels (libvirt's migrations last long enough for that).
    pub fn migrate_to(&self, dst: &Qemu, client_channels: Option<usize>, timeout: Duration) -> Result<()> {
        let mut info = json!({ "protocol": "spice", "hostname": "127.0.0.1" });
        if let Some(p) = dst.port {
            info["port"] = json!(p);
        }
        if let Some(p) = dst.tls_port {
            info["tls-port"] = json!(p);
        }
        if let Some(tls) = &dst.tls {
            info["cert-subject"] = json!(tls.host_subject());
        }
        self.qmp("client_migrate_info", Some(info))?;
        let start = Instant::now();
        if let Some(n) = client_channels {
            while dst.spice_channels()? < n {
                if start.elapsed() > timeout {
                    return Err(HarnessError::Timeout {
                        what: format!("the client to link {n} channels to the destination"),
                        secs: timeout.as_secs_f64(),
                        log: log_tail(&dst.log, 20),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let port = dst
            .incoming_port
            .ok_or_else(|| HarnessError::Other("the destination was not started with `incoming`".into()))?;
        self.qmp("migrate", Some(json!({ "uri": format!("tcp:127.0.0.1:{port}") })))?;
        loop {
            let status = self.qmp("query-migrate", None)?;
            match status.get("status").and_then(Value::as_str) {
                Some("completed") => return Ok(()),
                Some(s @ ("failed" | "cancelled")) => {
                    return Err(HarnessError::Qmp(format!("migration {s}: {status}")));
                }
                _ => {}
            }
            if start.elapsed() > timeout {
                return Err(HarnessError::Timeout {
                    what: "the migration to complete".into(),
                    secs: timeout.as_secs_f64(),
                    log: log_tail(&self.log, 20),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A scratch directory that lives as long as the server (for client output files).
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- QEMU (pid {}) log tail ---\n{}",
                self.pid(),
                log_tail(&self.log, 30)
            );
        }
        let pid = self.pid();
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_pid(pid, "TERM");
            if !wait_pid_gone(pid, Duration::from_secs(5)) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// A minimal QMP client: one JSON object per line; events are kept aside ([`Qmp::events`]).
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The names of the events read so far, oldest first.
    events: Vec<String>,
}

impl Qmp {
    /// Connects (retrying until the socket exists), reads the greeting, negotiates capabilities.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if start.elapsed() > timeout => {
                    return Err(io_err(format!("connect to QMP socket {}", path.display()))(e));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(io_err("set QMP read timeout"))?;
        let writer = stream.try_clone().map_err(io_err("clone QMP socket"))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
        };
        // An event (e.g. SPICE_DISCONNECTED of the readiness probe) can come
        // before the greeting: skip events.
        let mut greeting = qmp.read_message()?;
        while greeting.get("event").is_some() {
            greeting = qmp.read_message()?;
        }
        if greeting.get("QMP").is_none() {
            return Err(HarnessError::Qmp(format!("unexpected greeting {greeting}")));
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).map_err(io_err("read from QMP"))?;
        if n == 0 {
            return Err(HarnessError::Qmp("connection closed by QEMU".into()));
        }
        serde_json::from_str(&line).map_err(|e| HarnessError::Qmp(format!("bad JSON {line:?}: {e}")))
    }

    /// Sends `{"execute": command, "arguments": arguments}`; returns the `"return"` value or the
    /// QMP error as [`HarnessError::Qmp`].
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        writeln!(self.writer, "{msg}").map_err(io_err(format!("send QMP {command}")))?;
        loop {
            let reply = self.read_message()?;
            if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = reply.get("error") {
                return Err(HarnessError::Qmp(format!("{command}: {err}")));
            }
            // Otherwise an asynchronous {"event": ...}: kept aside.
            if let Some(name) = reply.get("event").and_then(Value::as_str) {
                self.events.push(name.to_owned());
            }
        }
    }

    /// The names of the asynchronous events read so far (RESET, POWERDOWN, STOP...).
    pub fn events(&self) -> &[String] {
        &self.events
    }
}
