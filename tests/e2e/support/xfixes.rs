//! The cursor an X server shows, as XFixes reports it, through a small C probe built with `cc`
//! (Xlib + libXfixes) on first use in a test's directory.

use super::process::run_with_timeout;
use super::tools::{CC, in_ci, require_tools};
use super::x11::x_command;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An X cursor as XFixes reports it: size, hot spot, name (`-` when it has none) and ARGB
/// (premultiplied) pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XCursor {
    pub width: u32,
    pub height: u32,
    pub hot: (u32, u32),
    pub name: String,
    pub argb: Vec<u32>,
}

impl XCursor {
    /// The alpha of every pixel.
    pub fn alpha(&self) -> Vec<u32> {
        self.argb.iter().map(|p| p >> 24).collect()
    }
}

const XFIXES_PROBE: &str = r#"
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>
#include <stdio.h>
/* The cursor the X server shows now: "W H XHOT YHOT NAME", then one ARGB word per pixel. */
int main(void) {
    Display *dpy = XOpenDisplay(NULL);
    int event_base, error_base;
    if (!dpy) return 2;
    if (!XFixesQueryExtension(dpy, &event_base, &error_base)) return 3;
    XFixesCursorImage *img = XFixesGetCursorImage(dpy);
    if (!img) return 4;
    printf("%u %u %u %u %s\n", img->width, img->height, img->xhot, img->yhot,
           img->name && img->name[0] ? img->name : "-");
    for (int i = 0; i < img->width * img->height; i++)
        printf("%lx\n", img->pixels[i] & 0xffffffffUL);
    XFree(img);
    XCloseDisplay(dpy);
    return 0;
}
"#;

/// Builds the XFixes probe in `dir`. Missing compiler or headers: the cursor check fails under
/// `CI`, else it is skipped (`None`) with a message.
pub fn build_probe(dir: &Path) -> Option<PathBuf> {
    require_tools(&[CC])?;
    let src = dir.join("xfixes_cursor.c");
    let bin = dir.join("xfixes_cursor");
    std::fs::write(&src, XFIXES_PROBE).unwrap();
    let out = std::process::Command::new("cc")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .args(["-lX11", "-lXfixes"])
        .output()
        .expect("run cc");
    if out.status.success() {
        return Some(bin);
    }
    let why = format!(
        "cannot build the XFixes probe (install libx11-dev and libxfixes-dev): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!in_ci(), "{why}");
    eprintln!("skipping the cursor check: {why}");
    None
}

/// Runs the probe built by [`build_probe`] on display `:display`.
pub fn cursor(probe: &Path, display: u32) -> XCursor {
    let c = x_command(display, probe.to_str().unwrap());
    let out = run_with_timeout(c, Duration::from_secs(10)).expect("run the XFixes probe");
    assert!(
        out.status.success(),
        "XFixes probe on :{display} failed: {:?}",
        out.status
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().splitn(5, ' ').collect();
    let n = |i: usize| head[i].parse::<u32>().unwrap();
    XCursor {
        width: n(0),
        height: n(1),
        hot: (n(2), n(3)),
        name: head.get(4).unwrap_or(&"-").to_string(),
        argb: lines.map(|l| u32::from_str_radix(l, 16).unwrap()).collect(),
    }
}
