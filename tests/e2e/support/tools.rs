//! Programs a test needs, and the policy when one is missing: a test starts with
//! [`require_tools`], which skips (saying why) on a developer machine and fails when the
//! environment variable `CI` is set.

use std::fs;
use std::path::PathBuf;

/// A program a test needs, and the Debian package that ships it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub binary: &'static str,
    pub package: &'static str,
}

pub const XVFB: Tool = Tool {
    binary: "Xvfb",
    package: "xvfb",
};
pub const XDOTOOL: Tool = Tool {
    binary: "xdotool",
    package: "xdotool",
};
pub const XEV: Tool = Tool {
    binary: "xev",
    package: "x11-utils",
};
pub const XSET: Tool = Tool {
    binary: "xset",
    package: "x11-xserver-utils",
};
pub const XSETROOT: Tool = Tool {
    binary: "xsetroot",
    package: "x11-xserver-utils",
};
pub const XRANDR: Tool = Tool {
    binary: "xrandr",
    package: "x11-xserver-utils",
};
pub const XWD: Tool = Tool {
    binary: "xwd",
    package: "x11-apps",
};
pub const XTERM: Tool = Tool {
    binary: "xterm",
    package: "xterm (plus xfonts-base)",
};
/// `gdbus` (calls the app's D-Bus actions).
pub const GDBUS: Tool = Tool {
    binary: "gdbus",
    package: "libglib2.0-bin",
};
pub const DBUS: Tool = Tool {
    binary: "dbus-run-session",
    package: "dbus",
};
/// ImageMagick's `import` (window captures).
pub const IMPORT: Tool = Tool {
    binary: "import",
    package: "imagemagick",
};
/// ImageMagick's `display` (root window backgrounds).
pub const IMAGEMAGICK_DISPLAY: Tool = Tool {
    binary: "display",
    package: "imagemagick",
};
pub const OPENSSL: Tool = Tool {
    binary: "openssl",
    package: "openssl",
};
pub const WESTON: Tool = Tool {
    binary: "weston",
    package: "weston",
};
/// The C compiler that builds the XFixes probe ([`super::xfixes`]).
pub const CC: Tool = Tool {
    binary: "cc",
    package: "gcc (and libxfixes-dev for the cursor probe)",
};
pub const FFMPEG: Tool = Tool {
    binary: "ffmpeg",
    package: "ffmpeg",
};
pub const FFPLAY: Tool = Tool {
    binary: "ffplay",
    package: "ffmpeg",
};

/// Whether we run in CI, where tests must never skip for a missing program.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Checks that every tool is installed. Missing tool: in CI (env `CI` set) this panics, naming the
/// Debian package; elsewhere it prints why the test is skipped and returns `None`.
///
/// Use as `let Some(()) = require_tools(&[XVFB, XDOTOOL]) else { return };`.
pub fn require_tools(tools: &[Tool]) -> Option<()> {
    let missing: Vec<&Tool> = tools.iter().filter(|t| find_program(t.binary).is_none()).collect();
    if missing.is_empty() {
        return Some(());
    }
    let list = missing
        .iter()
        .map(|t| format!("`{}` (Debian package {})", t.binary, t.package))
        .collect::<Vec<_>>();
    let packages = missing
        .iter()
        .map(|t| t.package.split(' ').next().unwrap_or(t.package))
        .collect::<Vec<_>>();
    if in_ci() {
        panic!(
            "test cannot run, missing {}: CI is set, so this fails instead of skipping. \
             Fix: apt-get install {}",
            list.join(", "),
            packages.join(" ")
        );
    }
    eprintln!(
        "skipping: missing {}; install {} to run this test",
        list.join(", "),
        packages.join(" ")
    );
    None
}

/// Finds an executable in `PATH` (plus the sbin directories, where some distros put Xorg).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            fs::metadata(p)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
}
pub const XCLIP: Tool = Tool {
    binary: "xclip",
    package: "xclip",
};
pub const VDAGENT: Tool = Tool {
    binary: "spice-vdagent",
    package: "spice-vdagent",
};
pub const VDAGENTD: Tool = Tool {
    binary: "spice-vdagentd",
    package: "spice-vdagent",
};
