//! Xspice (Debian 12's xserver-xspice: a python wrapper that runs Xorg with spiceqxl_drv).
//!
//! Start-up uses the invocation that works on Debian 12 (real-servers.md): `QXL_*` buffer sizes
//! set (the driver's defaults read as 0 and crash it), `--numheads 1`, `XSPICE_ADDR` for the
//! listen address. Stop: SIGTERM to the **Xorg child** (signalling the wrapper deadlocks it), then
//! wait for the wrapper; the X lock file is removed only if it names our Xorg.

use super::clients::spice_uri;
use super::tls::TlsDir;
use super::{free_port, wait_for_port};
use crate::support::image::{RgbImage, decode_xwd};
use crate::support::process::{
    child_pids, describe_status, log_tail, pid_alive, server_command, signal_pid, wait_pid_gone,
};
use crate::support::tools::find_program;
use crate::support::x11;
use crate::support::{HarnessError, Result, io_err};
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct XspiceOpts {
    /// `--password`; `None` → `--disable-ticketing`.
    pub password: Option<String>,
    /// `--tls-port` + `--x509-dir`.
    pub tls: Option<TlsDir>,
    /// With `tls`: `--port 0`, i.e. TLS only.
    pub tls_only: bool,
    /// `--image-compression` (off, auto_glz, auto_lz, quic, glz, lz).
    pub image_compression: Option<&'static str>,
    /// `--jpeg-wan-compression` (auto, never, always).
    pub jpeg_wan: Option<&'static str>,
    /// `--streaming-video` (off, all, filter).
    pub streaming_video: Option<&'static str>,
    /// `--numheads` (QXL heads, i.e. RandR outputs qxl-0, qxl-1, ...); `None` = 1.
    /// Only qxl-0 is on at start: enable the others with `xrandr --addmode` + `--output`.
    pub numheads: Option<u32>,
    /// A playback channel fed from FIFOs (`--audio-fifo-dir`, S16LE stereo 48 kHz), with playback
    /// compression on (`XSPICE_PLAYBACK_COMPRESSION=1`: the driver's default reads as off, and then
    /// the server sends raw PCM even to a client that offers Opus). See [`Xspice::play_pcm`].
    pub audio: bool,
    /// The guest agent: `--vdagent --vdagent-no-launch`, then our own `spice-vdagentd -X` and
    /// `spice-vdagent` (file transfers land in [`Xspice::agent_xfer_dir`]).
    pub vdagent: bool,
}

/// A running Xspice on display `:display`, stopped when dropped.
pub struct Xspice {
    wrapper: Child,
    xorg_pid: u32,
    pub display: u32,
    pub port: Option<u16>,
    pub tls_port: Option<u16>,
    pub password: Option<String>,
    pub tls: Option<TlsDir>,
    clients: Vec<Child>,
    dir: tempfile::TempDir,
    xorg_log: PathBuf,
    wrapper_log: PathBuf,
    /// The wrapper's `--auto` temp dir (xorg.conf), removed if the wrapper could not clean it.
    auto_dir: Option<PathBuf>,
}

static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(0);

/// A display number with neither `/tmp/.X{D}-lock` nor `/tmp/.X11-unix/X{D}`. Spread by PID so
/// parallel test processes (nextest) rarely collide; Xorg's own lock settles real races.
fn pick_display() -> u32 {
    let seed = std::process::id().wrapping_mul(7);
    loop {
        let n = NEXT_DISPLAY.fetch_add(1, Ordering::Relaxed);
        let d = 40 + seed.wrapping_add(n.wrapping_mul(13)) % 900;
        if !Path::new(&format!("/tmp/.X{d}-lock")).exists() && !Path::new(&format!("/tmp/.X11-unix/X{d}")).exists() {
            return d;
        }
    }
}

impl Xspice {
    pub fn start(opts: XspiceOpts) -> Result<Xspice> {
        crate::support::assert_not_hermetic("Xspice");
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(&opts, pick_display()) {
                Ok(x) => return Ok(x),
                // Another process took the display between our check and Xorg's lock: retry.
                Err(e) if e.to_string().contains("already active") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("three attempts failed"))
    }

    fn try_start(opts: &XspiceOpts, display: u32) -> Result<Xspice> {
        let dir = tempfile::Builder::new()
            .prefix("sumac-xspice-")
            .tempdir()
            .map_err(io_err("create Xspice temp dir"))?;
        let xorg_log = dir.path().join("xorg.log");
        let wrapper_log = dir.path().join("xspice.log");
        let port = (opts.tls.is_none() || !opts.tls_only).then(free_port);
        let tls_port = opts.tls.as_ref().map(|_| free_port());

        // Xorg gets its own parent-death signal through a `--xorg` script named Xorg (so that its
        // /proc comm is "Xorg" from the start): when the wrapper dies, Xorg dies too.
        let xorg = find_program("Xorg").ok_or(HarnessError::Missing {
            binary: "Xorg",
            package: "xserver-xorg-core",
        })?;
        let xorg_script = dir.path().join("Xorg");
        let script = match find_program("setpriv") {
            Some(_) => format!(
                "#!/bin/sh\nexec setpriv --pdeathsig KILL -- '{}' \"$@\"\n",
                xorg.display()
            ),
            None => format!("#!/bin/sh\nexec '{}' \"$@\"\n", xorg.display()),
        };
        fs::write(&xorg_script, script).map_err(io_err("write the Xorg launcher script"))?;
        fs::set_permissions(&xorg_script, fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod the Xorg script"))?;

        let mut cmd = server_command("Xspice");
        cmd.env("XSPICE_ADDR", "127.0.0.1")
            .env("QXL_FRAME_BUFFER_SIZE", "32")
            .env("QXL_SURFACE_BUFFER_SIZE", "128")
            .env("QXL_COMMAND_BUFFER_SIZE", "128")
            .env("QXL_ENABLE_SURFACES", "1")
            .env("QXL_ENABLE_IMAGE_CACHE", "1")
            .env("QXL_ENABLE_FALLBACK_CACHE", "1")
            .env("XSPICE_AGENT_MOUSE", "1");
        let audio_dir = dir.path().join("audio");
        if opts.audio {
            fs::create_dir_all(&audio_dir).map_err(io_err("create the audio FIFO directory"))?;
            cmd.env("XSPICE_PLAYBACK_COMPRESSION", "1");
            cmd.arg("--audio-fifo-dir").arg(&audio_dir);
        }
        cmd.arg("--xorg").arg(&xorg_script);
        let heads = opts.numheads.unwrap_or(1).max(1).to_string();
        cmd.args(["--auto", "--numheads", &heads, "--port", &port.unwrap_or(0).to_string()]);
        match &opts.password {
            Some(pw) => cmd.args(["--password", pw]),
            None => cmd.arg("--disable-ticketing"),
        };
        if let (Some(tls), Some(tls_port)) = (&opts.tls, tls_port) {
            cmd.args(["--tls-port", &tls_port.to_string()])
                .arg("--x509-dir")
                .arg(tls.path());
        }
        if let Some(ic) = opts.image_compression {
            cmd.args(["--image-compression", ic]);
        }
        if let Some(jpeg) = opts.jpeg_wan {
            cmd.args(["--jpeg-wan-compression", jpeg]);
        }
        if let Some(sv) = opts.streaming_video {
            cmd.args(["--streaming-video", sv]);
        }
        if opts.vdagent {
            let p = |name: &str| dir.path().join(name);
            cmd.args(["--vdagent", "--vdagent-no-launch", "--vdagent-virtio-path"])
                .arg(p("vdagent.virtio"))
                .arg("--vdagent-uinput-path")
                .arg(p("vdagent.uinput"))
                .arg("--vdagent-udcs-path")
                .arg(p("vdagent.udcs"));
        }
        cmd.arg("-logfile").arg(&xorg_log);
        cmd.args(["-nolisten", "tcp", "-novtswitch", "-sharevts", &format!(":{display}")]);
        let log_file = File::create(&wrapper_log).map_err(io_err("create xspice.log"))?;
        let log_err = log_file.try_clone().map_err(io_err("dup xspice.log"))?;
        let wrapper = cmd
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(io_err(format!("start {cmd:?}")))?;
        let mut x = Xspice {
            wrapper,
            xorg_pid: 0,
            display,
            port,
            tls_port,
            password: opts.password.clone(),
            tls: opts.tls.clone(),
            clients: Vec::new(),
            dir,
            xorg_log,
            wrapper_log,
            auto_dir: None,
        };
        // On error `x` is dropped, which stops whatever did start.
        x.wait_ready(Duration::from_secs(30)).map_err(|e| match e {
            HarnessError::Exited { what, status, log } => HarnessError::Exited {
                what,
                status,
                log: format!("{log}\n{}", log_tail(&x.xorg_log, 15)),
            },
            e => e,
        })?;
        if opts.vdagent {
            x.start_agent()?;
        }
        Ok(x)
    }

    /// Where `spice-vdagent` writes transferred files.
    pub fn agent_xfer_dir(&self) -> PathBuf {
        self.dir.path().join("xfer")
    }

    /// spice-vdagentd (`-X`: no logind here; `-f`: the driver's uinput FIFO) and spice-vdagent in
    /// the session, on the sockets the driver made; killed (by PID) with the server.
    fn start_agent(&mut self) -> Result<()> {
        let p = |name: &str| self.dir.path().join(name);
        fs::create_dir_all(self.agent_xfer_dir()).map_err(io_err("create the transfer directory"))?;
        let log = |name: &str| {
            File::create(self.dir.path().join(name))
                .map(Stdio::from)
                .map_err(io_err(format!("create {name}")))
        };
        let mut daemon = server_command("spice-vdagentd");
        daemon
            .args(["-f", "-x", "-X", "-S"])
            .arg(p("vdagent.udcs"))
            .arg("-s")
            .arg(p("vdagent.virtio"))
            .arg("-u")
            .arg(p("vdagent.uinput"))
            .stdin(Stdio::null())
            .stdout(log("vdagentd.log")?)
            .stderr(log("vdagentd.err")?);
        let child = daemon.spawn().map_err(io_err("start spice-vdagentd"))?;
        self.clients.push(child);
        let udcs = p("vdagent.udcs");
        let start = Instant::now();
        while !udcs.exists() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(HarnessError::Other("spice-vdagentd made no socket".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut agent = server_command("spice-vdagent");
        agent
            .env("DISPLAY", format!(":{}", self.display))
            .env_remove("XAUTHORITY")
            .args(["-x", "-o", "0", "-s"])
            .arg(p("vdagent.virtio"))
            .arg("-S")
            .arg(&udcs)
            .arg("-f")
            .arg(self.agent_xfer_dir())
            .stdin(Stdio::null())
            .stdout(log("vdagent.log")?)
            .stderr(log("vdagent.err")?);
        let child = agent.spawn().map_err(io_err("start spice-vdagent"))?;
        self.clients.push(child);
        Ok(())
    }

    fn check_alive(&mut self) -> Result<()> {
        match self.wrapper.try_wait() {
            Ok(Some(status)) => Err(HarnessError::Exited {
                what: format!("Xspice :{}", self.display),
                status: describe_status(status),
                log: log_tail(&self.wrapper_log, 10),
            }),
            _ if self.xorg_pid != 0 && !pid_alive(self.xorg_pid) => Err(HarnessError::Exited {
                what: format!("Xorg :{} (pid {})", self.display, self.xorg_pid),
                status: "gone".into(),
                log: log_tail(&self.wrapper_log, 10),
            }),
            _ => Ok(()),
        }
    }

    /// Ready = the wrapper's Xorg child runs, the X socket accepts and the SPICE port accepts.
    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let timed_out = |what: &str, x: &Xspice| HarnessError::Timeout {
            what: format!("{what} (Xspice :{})", x.display),
            secs: timeout.as_secs_f64(),
            log: log_tail(&x.xorg_log, 15),
        };
        while self.xorg_pid == 0 {
            self.check_alive()?;
            let wrapper = self.wrapper.id();
            self.xorg_pid = child_pids(wrapper).into_iter().find(|&p| is_xorg(p)).unwrap_or(0);
            if start.elapsed() > timeout {
                return Err(timed_out("the Xorg child of the wrapper", self));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let cmdline = fs::read(format!("/proc/{}/cmdline", self.xorg_pid)).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        self.auto_dir = args
            .windows(2)
            .find(|w| w[0] == b"-config")
            .and_then(|w| {
                Path::new(std::str::from_utf8(w[1]).ok()?)
                    .parent()
                    .map(Path::to_path_buf)
            })
            .filter(|d| {
                d.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("Xspice-"))
            });
        let socket = format!("/tmp/.X11-unix/X{}", self.display);
        while UnixStream::connect(&socket).is_err() {
            self.check_alive()?;
            if start.elapsed() > timeout {
                return Err(timed_out("the X socket", self));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = self.port.or(self.tls_port).expect("Xspice has a plain or a TLS port");
        let left = timeout.saturating_sub(start.elapsed());
        wait_for_port(port, left, || self.check_alive())
    }

    /// The URI a client should use for this server (all ports and the password).
    pub fn uri(&self) -> String {
        spice_uri(self.port, self.tls_port, self.password.as_deref())
    }

    pub fn xorg_pid(&self) -> u32 {
        self.xorg_pid
    }

    pub fn xorg_log(&self) -> &Path {
        &self.xorg_log
    }

    /// Plays S16LE stereo 48 kHz PCM through the audio FIFO directory (needs `audio`): a new FIFO
    /// (Xspice reads only FIFOs created after it started), written whole; returns when the server
    /// has read it all (it reads in real time, so this takes the sound's duration).
    pub fn play_pcm(&self, name: &str, pcm: &[u8]) -> Result<()> {
        let fifo = self.dir.path().join("audio").join(name);
        let status = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map_err(io_err("run mkfifo"))?;
        if !status.success() {
            return Err(HarnessError::Other(format!("mkfifo {} failed", fifo.display())));
        }
        // Opening for writing blocks until Xspice opens the FIFO for reading (inotify).
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .map_err(io_err("open the audio FIFO"))?;
        std::io::Write::write_all(&mut f, pcm).map_err(io_err("write the audio FIFO"))?;
        drop(f);
        let _ = fs::remove_file(&fifo);
        Ok(())
    }

    /// A scratch directory that lives as long as the server (for client output files).
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command for an X client of this server (`DISPLAY=:D`).
    pub fn x_command(&self, program: &str) -> Command {
        x11::x_command(self.display, program)
    }

    /// Runs an X client to completion (30 s at most) and returns its output, whatever its status.
    pub fn run_x(&self, program: &str, args: &[&str]) -> Result<Output> {
        x11::run_x(self.display, program, args)
    }

    /// Runs `xdotool args` in this session; panics (naming the arguments) when it fails.
    pub fn xdotool(&self, args: &[&str]) -> String {
        x11::xdotool(self.display, args)
    }

    /// Waits (up to `timeout`) for a visible window named `name`; returns its id.
    pub fn wait_window(&self, name: &str, timeout: Duration) -> String {
        x11::wait_window(self.display, name, timeout)
            .unwrap_or_else(|| panic!("window {name:?} never appeared on Xspice"))
    }

    /// Where this X server's own pointer is.
    pub fn pointer(&self) -> (i32, i32) {
        x11::pointer(self.display)
    }

    /// Starts a long-running X client; it is killed (by PID) when the server is dropped.
    pub fn spawn_x(&mut self, program: &str, args: &[&str]) -> Result<u32> {
        let mut cmd = self.x_command(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(io_err(format!("start {program}")))?;
        let pid = child.id();
        self.clients.push(child);
        Ok(pid)
    }

    /// Fills the root window with one colour (ImageMagick `display -window root`, tiling a small
    /// PPM), then checks the framebuffer's corner has it.
    pub fn set_root_color(&self, rgb: [u8; 3]) -> Result<()> {
        let tile = self.dir.path().join("root-tile.ppm");
        let mut ppm = b"P6\n8 8\n255\n".to_vec();
        ppm.extend(rgb.iter().cycle().take(8 * 8 * 3));
        fs::write(&tile, ppm).map_err(io_err("write root-tile.ppm"))?;
        // `display -window root` exits 1 even when it worked: judge by the pixels instead.
        let out = self.run_x("display", &["-window", "root", &tile.display().to_string()])?;
        let corner = self.framebuffer()?.pixel(0, 0);
        if corner != rgb {
            return Err(HarnessError::Other(format!(
                "root window colour is {corner:?}, wanted {rgb:?}; display said: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// An xterm (black on white, no scrollbar, no border) showing `text`, with its text cursor hidden
    /// (DECTCEM) so that nothing blinks or changes with focus.
    pub fn spawn_xterm(&mut self, geometry: &str, text: &str) -> Result<u32> {
        let script = format!("printf '\\033[?25l%s' '{}'; exec sleep 100000", text.replace('\'', ""));
        let colors = ["-bw", "0", "-bg", "white", "-fg", "black", "+sb"];
        let args = [&["-geometry", geometry][..], &colors, &["-e", "sh", "-c", &script]].concat();
        self.spawn_x("xterm", &args)
    }

    /// Starts an xterm at `geometry` (same colours as [`Self::spawn_xterm`],
    /// cursor hidden) running the shell `script`.
    pub fn spawn_xterm_running(&mut self, geometry: &str, script: &str) -> Result<u32> {
        let script = format!("printf '\\033[?25l'; {script}");
        let colors = ["-bw", "0", "-bg", "white", "-fg", "black", "+sb"];
        let args = [&["-geometry", geometry][..], &colors, &["-e", "sh", "-c", &script]].concat();
        self.spawn_x("xterm", &args)
    }

    /// The server's framebuffer: `xwd -root`, decoded here (no ImageMagick involved).
    pub fn framebuffer(&self) -> Result<RgbImage> {
        let out = self.run_x("xwd", &["-root", "-silent"])?;
        if !out.status.success() {
            return Err(HarnessError::Other(format!(
                "xwd -root -display :{} failed ({}): {}",
                self.display,
                describe_status(out.status),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        decode_xwd(&out.stdout).map_err(HarnessError::Image)
    }

    /// [`Self::framebuffer`] written as a PNG file.
    pub fn framebuffer_png(&self, path: &Path) -> Result<RgbImage> {
        let image = self.framebuffer()?;
        image.save_png(path)?;
        Ok(image)
    }

    /// Polls the framebuffer (every 150 ms) until it has not changed for `settle`.
    pub fn wait_for_stable_framebuffer(&self, settle: Duration, timeout: Duration) -> Result<RgbImage> {
        let start = Instant::now();
        let mut last = self.framebuffer()?;
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let now = self.framebuffer()?;
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= settle {
                return Ok(now);
            }
            if start.elapsed() > timeout {
                return Err(HarnessError::Timeout {
                    what: format!("the Xspice :{} framebuffer to stop changing", self.display),
                    secs: timeout.as_secs_f64(),
                    log: String::new(),
                });
            }
        }
    }
}

fn is_xorg(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "Xorg")
}

/// Whether `pid` is alive and still the child of `parent` (guards against PID reuse).
fn alive_child_of(pid: u32, parent: u32) -> bool {
    let ppid = fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
    });
    ppid == Some(parent) && pid_alive(pid)
}

impl Drop for Xspice {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- Xspice :{} Xorg log tail ---\n{}",
                self.display,
                log_tail(&self.xorg_log, 30)
            );
        }
        for client in &mut self.clients {
            let _ = client.kill();
            let _ = client.wait();
        }
        let (xorg, wrapper) = (self.xorg_pid, self.wrapper.id());
        if xorg != 0 && alive_child_of(xorg, wrapper) {
            signal_pid(xorg, "TERM");
            // A busy Xorg can take seconds to honour SIGTERM.
            if !wait_pid_gone(xorg, Duration::from_secs(15)) && alive_child_of(xorg, wrapper) {
                signal_pid(xorg, "KILL");
                wait_pid_gone(xorg, Duration::from_secs(5));
            }
        }
        // The wrapper exits by itself once Xorg is gone (and cleans its --auto temp dir).
        let start = Instant::now();
        while matches!(self.wrapper.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
        let lock = format!("/tmp/.X{}-lock", self.display);
        if xorg != 0 && fs::read_to_string(&lock).is_ok_and(|s| s.trim().parse::<u32>().ok() == Some(xorg)) {
            let _ = fs::remove_file(&lock);
            let _ = fs::remove_file(format!("/tmp/.X11-unix/X{}", self.display));
        }
        if let Some(dir) = &self.auto_dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
