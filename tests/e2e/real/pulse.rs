//! A private PulseAudio per test: the sound path of a desktop on a machine without a sound card
//! (`/work/shared/real-guest.md`, "No host sound card"). A null sink `out` (what clients play can
//! be recorded from `out.monitor`) and a 1 kHz sine source `tone`, both defaults; ALSA clients
//! (cpal) reach it through `~/.asoundrc` (`type pulse`) in a private HOME. Processes are children
//! of the test, stopped by PID.

use crate::support::{process::*, real::*, tools::*, *};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const PULSEAUDIO: Tool = Tool {
    binary: "pulseaudio",
    package: "pulseaudio",
};
pub const PAREC: Tool = Tool {
    binary: "parec",
    package: "pulseaudio-utils",
};

/// The ALSA plugin that sends ALSA clients to PulseAudio (libasound2-plugins).
const ALSA_PULSE_PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so";

/// Like [`require_real_servers`], for the PulseAudio tools and the ALSA plugin.
pub fn require_pulse() -> Option<()> {
    require_real_servers(&[PULSEAUDIO, PAREC])?;
    if Path::new(ALSA_PULSE_PLUGIN).exists() {
        return Some(());
    }
    assert!(
        !in_ci(),
        "{ALSA_PULSE_PLUGIN} missing: CI is set, so this fails. Fix: apt-get install libasound2-plugins"
    );
    eprintln!("skipping: {ALSA_PULSE_PLUGIN} missing; install libasound2-plugins");
    None
}

/// A running private PulseAudio.
pub struct PrivatePulse {
    daemon: Child,
    dir: tempfile::TempDir,
    recorder: Option<Child>,
}

impl PrivatePulse {
    pub fn start(tone_hz: u32) -> Result<PrivatePulse> {
        let dir = tempfile::Builder::new()
            .prefix("sumac-pulse-")
            .tempdir()
            .map_err(io_err("create the PulseAudio dir"))?;
        let run = dir.path().join("run");
        let home = dir.path().join("home");
        fs::create_dir_all(&run).map_err(io_err("create run dir"))?;
        fs::create_dir_all(&home).map_err(io_err("create home dir"))?;
        fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(io_err("chmod run dir"))?;
        fs::write(
            home.join(".asoundrc"),
            "pcm.!default { type pulse }\nctl.!default { type pulse }\n",
        )
        .map_err(io_err("write .asoundrc"))?;
        let script = dir.path().join("default.pa");
        fs::write(
            &script,
            format!(
                "load-module module-native-protocol-unix\n\
                 load-module module-null-sink sink_name=out rate=48000 channels=2\n\
                 load-module module-sine-source source_name=tone frequency={tone_hz} rate=48000\n\
                 set-default-sink out\n\
                 set-default-source tone\n"
            ),
        )
        .map_err(io_err("write default.pa"))?;
        let log = fs::File::create(dir.path().join("pulse.log")).map_err(io_err("create pulse.log"))?;
        let mut cmd = server_command("pulseaudio");
        cmd.args(["-n", "-F"])
            .arg(&script)
            .args(["--daemonize=no", "--exit-idle-time=-1", "--log-target=stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let p = PrivatePulse {
            daemon: Self::env(&mut cmd, dir.path())
                .spawn()
                .map_err(io_err("start pulseaudio"))?,
            dir,
            recorder: None,
        };
        let socket = run.join("pulse").join("native");
        let start = Instant::now();
        while !socket.exists() {
            if start.elapsed() > Duration::from_secs(20) {
                return Err(HarnessError::Timeout {
                    what: "the private PulseAudio socket".into(),
                    secs: 20.0,
                    log: log_tail(&p.dir.path().join("pulse.log"), 10),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(p)
    }

    fn env<'a>(cmd: &'a mut Command, dir: &Path) -> &'a mut Command {
        cmd.env("HOME", dir.join("home"))
            .env("XDG_RUNTIME_DIR", dir.join("run"))
            .env_remove("PULSE_SERVER")
    }

    /// The environment a client needs to play into (and record from) this PulseAudio.
    pub fn client_env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("HOME", self.dir.path().join("home")),
            ("XDG_RUNTIME_DIR", self.dir.path().join("run")),
        ]
    }

    fn raw_path(&self) -> PathBuf {
        self.dir.path().join("monitor.raw")
    }

    /// Starts recording what is played (S16LE stereo 48 kHz from `out.monitor`), in real time.
    pub fn record_output(&mut self) -> Result<()> {
        let file = fs::File::create(self.raw_path()).map_err(io_err("create monitor.raw"))?;
        let mut cmd = server_command("parec");
        cmd.args([
            "-d",
            "out.monitor",
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=2",
        ])
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::null());
        self.recorder = Some(
            Self::env(&mut cmd, self.dir.path())
                .spawn()
                .map_err(io_err("start parec"))?,
        );
        Ok(())
    }

    /// Stops the recording; returns its left channel.
    pub fn recorded_left(&mut self) -> Vec<i16> {
        if let Some(mut r) = self.recorder.take() {
            signal_pid(r.id(), "TERM");
            let _ = r.wait();
        }
        let bytes = fs::read(self.raw_path()).unwrap_or_default();
        bytes
            .chunks_exact(4)
            .map(|f| i16::from_le_bytes([f[0], f[1]]))
            .collect()
    }
}

impl Drop for PrivatePulse {
    fn drop(&mut self) {
        if let Some(mut r) = self.recorder.take() {
            let _ = r.kill();
            let _ = r.wait();
        }
        signal_pid(self.daemon.id(), "TERM");
        let start = Instant::now();
        while matches!(self.daemon.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
