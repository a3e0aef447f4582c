//! Whether the app runs GTK without OpenGL.
//!
//! GTK 4.8 on X11 opens a GL context when it opens the display, before any
//! widget exists. Where that GL is Mesa's software rasterizer (Xvfb, VNC,
//! `ssh -X`, a VM without 3D: no DRI2/DRI3 on the X server) it costs tens of
//! MiB of memory and composites every frame on the CPU, while GTK's cairo
//! renderer does the same job for a fraction. GTK only lets `GDK_DEBUG`
//! turn GL off, read once at start-up: so the app sets `GDK_DEBUG=gl-disable`
//! in its own environment before GTK starts, which is sound only while the
//! process has one thread (checked); otherwise it re-executes itself with it
//! (same process id, arguments and file descriptors; ~35 ms more to the
//! first picture). remote-viewer (GTK 3) never uses GL either.

use crate::gtk::Renderer;
use std::ffi::OsString;

/// Set in the re-executed process so that the decision is taken once.
const CHECKED: &str = "SUMAC_GL_CHECKED";

/// What the environment says, read once (pure decision, testable).
#[derive(Debug, Default, Clone)]
pub(crate) struct Env {
    pub(crate) checked: bool,
    pub(crate) gdk_debug: Option<String>,
    pub(crate) gsk_renderer: bool,
    pub(crate) gdk_backend: Option<String>,
    pub(crate) wayland: bool,
    pub(crate) x_display: bool,
}

impl Env {
    fn read() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            checked: var(CHECKED).is_some(),
            gdk_debug: var("GDK_DEBUG"),
            gsk_renderer: var("GSK_RENDERER").is_some(),
            gdk_backend: var("GDK_BACKEND"),
            wayland: var("WAYLAND_DISPLAY").is_some(),
            x_display: var("DISPLAY").is_some(),
        }
    }
}

/// Whether GTK will use X11 (GDK's own order: Wayland first when available).
fn uses_x11(env: &Env) -> bool {
    match env.gdk_backend.as_deref() {
        Some(b) => b.split(',').next().is_some_and(|first| first.trim() == "x11") && env.x_display,
        None => env.x_display && !env.wayland,
    }
}

/// The `GDK_DEBUG` value to re-execute with, if GL should be off:
/// `direct_gl` asks the X server (only called when it matters).
pub(crate) fn gdk_debug_without_gl(
    env: &Env,
    renderer: Renderer,
    direct_gl: impl FnOnce() -> Option<bool>,
) -> Option<String> {
    if env.checked || env.gsk_renderer || renderer == Renderer::Gl {
        return None;
    }
    let already = env.gdk_debug.as_deref().is_some_and(|d| {
        d.split([',', ':', ' '])
            .any(|f| f.trim() == "gl-disable" || f.trim() == "all")
    });
    if already || !uses_x11(env) {
        return None;
    }
    let off = match renderer {
        Renderer::Cairo | Renderer::X11 => true,
        _ => direct_gl() == Some(false),
    };
    off.then(|| match &env.gdk_debug {
        Some(d) => format!("{d},gl-disable"),
        None => "gl-disable".to_owned(),
    })
}

/// Re-executes the app without GL when [`gdk_debug_without_gl`] says so;
/// returns only when it does not (or when the exec failed, logged).
pub(crate) fn reexec_without_gl_if_software(renderer: Renderer) {
    let env = Env::read();
    let Some(gdk_debug) = gdk_debug_without_gl(&env, renderer, || {
        #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
        {
            sumac_platform::x11_gl::direct_gl_likely(None)
        }
        #[cfg(not(all(feature = "x11", unix, not(target_os = "macos"))))]
        {
            None
        }
    }) else {
        return;
    };
    if !set_in_process(&gdk_debug) {
        exec_self(&gdk_debug);
    }
}

/// Whether this process has exactly one thread (Linux: `/proc/self/task`).
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1)
}

/// Sets `GDK_DEBUG` for the GTK about to start in this process, when that is
/// sound (one thread); `false` when it was not done.
#[allow(unsafe_code)]
fn set_in_process(gdk_debug: &str) -> bool {
    if !single_threaded() {
        return false;
    }
    tracing::info!("OpenGL on this X server is software rendering: GDK_DEBUG={gdk_debug} (GTK draws with cairo)");
    // SAFETY: the environment is only unsafe to change while another thread
    // may read it; this process has a single thread (checked just above, and
    // nothing between the check and this call starts one).
    unsafe {
        std::env::set_var("GDK_DEBUG", gdk_debug);
        std::env::set_var(CHECKED, "1");
    }
    true
}

#[cfg(unix)]
fn exec_self(gdk_debug: &str) {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::warn!(error = %e, "cannot find this program to restart it without OpenGL");
            return;
        }
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("sumac"));
    tracing::info!(
        "OpenGL on this X server is software rendering: restarting with GDK_DEBUG={gdk_debug} (GTK draws with cairo)"
    );
    let error = std::process::Command::new(exe)
        .arg0(arg0)
        .args(args)
        .env("GDK_DEBUG", gdk_debug)
        .env(CHECKED, "1")
        .exec();
    tracing::warn!(%error, "cannot restart without OpenGL; keeping it");
}

#[cfg(not(unix))]
fn exec_self(_gdk_debug: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn x11() -> Env {
        Env {
            x_display: true,
            ..Env::default()
        }
    }

    #[test]
    fn software_x11_turns_gl_off_once() {
        assert_eq!(
            gdk_debug_without_gl(&x11(), Renderer::Auto, || Some(false)).as_deref(),
            Some("gl-disable")
        );
        let env = Env {
            gdk_debug: Some("events".into()),
            ..x11()
        };
        assert_eq!(
            gdk_debug_without_gl(&env, Renderer::Auto, || Some(false)).as_deref(),
            Some("events,gl-disable")
        );
        // Never twice, never against the user's own choice.
        let checked = Env { checked: true, ..x11() };
        assert_eq!(gdk_debug_without_gl(&checked, Renderer::Auto, || Some(false)), None);
        let gsk = Env {
            gsk_renderer: true,
            ..x11()
        };
        assert_eq!(gdk_debug_without_gl(&gsk, Renderer::Auto, || Some(false)), None);
        let off = Env {
            gdk_debug: Some("gl-disable".into()),
            ..x11()
        };
        assert_eq!(gdk_debug_without_gl(&off, Renderer::Auto, || Some(false)), None);
    }

    #[test]
    fn hardware_gl_or_gl_renderer_keeps_gl() {
        assert_eq!(gdk_debug_without_gl(&x11(), Renderer::Auto, || Some(true)), None);
        // Unknown (server unreachable): keep GTK's default.
        assert_eq!(gdk_debug_without_gl(&x11(), Renderer::Auto, || None), None);
        let asked = std::cell::Cell::new(false);
        assert_eq!(
            gdk_debug_without_gl(&x11(), Renderer::Gl, || {
                asked.set(true);
                Some(false)
            }),
            None
        );
        assert!(!asked.get(), "the X server is not asked when GL was chosen");
    }

    #[test]
    fn cairo_renderer_turns_gl_off_without_asking() {
        assert_eq!(
            gdk_debug_without_gl(&x11(), Renderer::Cairo, || None).as_deref(),
            Some("gl-disable")
        );
    }

    #[test]
    fn wayland_is_left_alone() {
        let wl = Env { wayland: true, ..x11() };
        assert_eq!(gdk_debug_without_gl(&wl, Renderer::Cairo, || Some(false)), None);
        let forced_x11 = Env {
            gdk_backend: Some("x11".into()),
            ..wl
        };
        assert_eq!(
            gdk_debug_without_gl(&forced_x11, Renderer::Auto, || Some(false)).as_deref(),
            Some("gl-disable")
        );
        let no_display = Env::default();
        assert_eq!(gdk_debug_without_gl(&no_display, Renderer::Cairo, || Some(false)), None);
    }
}
