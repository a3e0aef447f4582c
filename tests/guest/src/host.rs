//! The host side: which Debian packages the guest needs, host programs, processes, CI policy.

use crate::error::{Error, Result, io_err};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Host packages every guest needs: QEMU, the initramfs tools and everything the guest runs (its
/// root file system is the host's). The same list is in `scripts/setup`.
pub const GUEST_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "kmod",
    "udev",
    "xserver-xorg-core",
    "xserver-xorg-video-qxl",
    "xserver-xorg-input-libinput",
    "x11-xserver-utils",
    "xterm",
    "xfonts-base",
    "xclip",
    "x11-apps",
    "spice-vdagent",
    "spice-webdavd",
    "avahi-daemon",
    "dbus",
    "davfs2",
    "alsa-utils",
    "curl",
];

/// Extra host packages for a guest with a smartcard reader (pcscd in the guest, tools for tests).
pub const SMARTCARD_PACKAGES: &[&str] = &["pcscd", "libccid", "opensc", "libnss3-tools"];

/// Whether we run in CI (environment variable `CI` set and not `0`/`false`), where real-guest tests
/// must fail instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The packages of `wanted` that dpkg does not report as installed. Without dpkg (not Debian) all
/// of them are reported missing.
pub fn missing_packages(wanted: &[&str]) -> Vec<String> {
    let output = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${db:Status-Status}\n")
        .args(wanted)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let installed: BTreeSet<String> = match output {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter(|(_, status)| *status == "installed")
            .map(|(name, _)| name.split(':').next().unwrap_or(name).to_string())
            .collect(),
        Err(_) => BTreeSet::new(),
    };
    wanted
        .iter()
        .filter(|p| !installed.contains(**p))
        .map(|p| p.to_string())
        .collect()
}

/// [`Error::MissingPackages`] unless every package of `wanted` is installed.
pub fn require_packages(wanted: &[&str]) -> Result<()> {
    let packages = missing_packages(wanted);
    if packages.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingPackages { packages })
    }
}

/// Finds an executable in `PATH` or the sbin directories (depmod, modprobe live there).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            fs::metadata(p)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
}

/// A host program by its name, resolved with [`find_program`] (so sbin programs work for users
/// whose `PATH` lacks sbin).
pub(crate) fn host_command(name: &str) -> Command {
    Command::new(find_program(name).unwrap_or_else(|| PathBuf::from(name)))
}

/// Runs a host command to completion and returns its stdout; a non-zero exit is an error carrying
/// its stderr.
pub(crate) fn run_host(cmd: &mut Command) -> Result<String> {
    let described = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("run `{described}`")))?;
    if !out.status.success() {
        return Err(Error::HostCommand {
            command: described,
            status: out.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 30),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all.get(all.len().saturating_sub(lines)..)
        .unwrap_or_default()
        .join("\n")
}

/// The last `lines` lines of a (log) file; empty when unreadable.
pub(crate) fn file_tail(path: &Path, lines: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    tail(&String::from_utf8_lossy(&bytes), lines)
}

/// Whether the process exists and is not a zombie (from `/proc`).
pub fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

/// The resident set size of a process in KiB (`VmRSS` in `/proc/PID/status`).
pub fn process_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The CPU time (user + system) a process has used so far, from `/proc/PID/stat` (clock ticks of
/// 1/100 s, the `USER_HZ` of Linux on x86).
pub fn process_cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let total = ticks(11)? + ticks(12)?;
    Some(std::time::Duration::from_millis(total * 10))
}

/// The cache of prepared guest images: `SUMAC_GUEST_CACHE`, else `sumac-guest/` in Cargo's target
/// directory (`CARGO_TARGET_DIR`, else the `target` directory the running executable was built in,
/// found by its `CACHEDIR.TAG`), else `~/.cache/sumac-guest`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SUMAC_GUEST_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return absolute(PathBuf::from(dir)).join("sumac-guest");
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(target) = exe.ancestors().skip(1).find(|d| d.join("CACHEDIR.TAG").is_file())
    {
        return target.join("sumac-guest");
    }
    let home = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    home.join("sumac-guest")
}

fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_packages_are_missing() {
        assert_eq!(missing_packages(&["sumac-no-such-package"]), ["sumac-no-such-package"]);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
