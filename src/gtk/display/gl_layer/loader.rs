//! GL entry points from libepoxy (which GTK itself uses), loaded with
//! libloading; the probe of a display's GL renderer; and telling GSK to draw
//! with cairo. Every `unsafe` block says why it is sound.
#![allow(unsafe_code)]

use super::GlError;
use glow::HasContext;
use std::sync::OnceLock;

/// libepoxy's file name on Linux/BSD, Windows and macOS (tried in order).
const EPOXY_NAMES: [&str; 3] = ["libepoxy.so.0", "libepoxy-0.dll", "libepoxy.0.dylib"];

/// libepoxy, loaded once per process and never unloaded (its function
/// pointers are used for the lifetime of every GL context).
fn epoxy() -> Result<&'static libloading::Library, GlError> {
    static LIB: OnceLock<Result<libloading::Library, String>> = OnceLock::new();
    LIB.get_or_init(|| {
        let mut errors = Vec::new();
        for name in EPOXY_NAMES {
            // SAFETY: libepoxy's initialisers only set up its dispatch tables;
            // GTK has already loaded the same library into this process.
            match unsafe { libloading::Library::new(name) } {
                Ok(lib) => return Ok(lib),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(errors.join("; "))
    })
    .as_ref()
    .map_err(|e| GlError::Loader(e.clone()))
}

/// A glow context for the GL context current on this thread.
pub(super) fn load_gl() -> Result<glow::Context, GlError> {
    let lib = epoxy()?;
    // SAFETY: libepoxy exports, for each GL function `glFoo`, a variable
    // `epoxy_glFoo` holding a function pointer (its dispatch stub). We read
    // the variable's value; the library stays loaded for the process's life
    // (`epoxy()` keeps it in a static). The caller made a context current.
    let gl = unsafe {
        glow::Context::from_loader_function(|name| {
            let symbol = format!("epoxy_{name}\0");
            match lib.get::<*const *const std::ffi::c_void>(symbol.as_bytes()) {
                Ok(var) => **var,
                Err(_) => std::ptr::null(),
            }
        })
    };
    Ok(gl)
}

/// The `GL_RENDERER` string of a GL context created on `display` (then
/// dropped), e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
pub(crate) fn probe_renderer(display: &gtk::gdk::Display) -> Result<String, GlError> {
    use gtk::prelude::*;
    let context = display.create_gl_context().map_err(|e| GlError::Gl(e.to_string()))?;
    context.realize().map_err(|e| GlError::Gl(e.to_string()))?;
    context.make_current();
    let name = load_gl().map(|gl| {
        // SAFETY: the context created above is current on this thread.
        unsafe { gl.get_parameter_string(glow::RENDERER) }
    });
    gtk::gdk::GLContext::clear_current();
    name
}

/// Makes GTK draw the windows of `display` created from now on with its
/// cairo renderer (GSK reads the display's `gsk-renderer` data before the
/// `GSK_RENDERER` environment variable; GTK's inspector sets it the same way).
pub(crate) fn use_gsk_cairo(display: &gtk::gdk::Display) {
    use gtk::glib::object::ObjectType;
    let object: *mut gtk::glib::gobject_ffi::GObject = display.as_ptr().cast();
    // SAFETY: `object` is a live GdkDisplay (borrowed for this call); key and
    // value are NUL-terminated static strings, which GSK only reads, and no
    // destroy notify is needed for static data.
    unsafe {
        gtk::glib::gobject_ffi::g_object_set_data(
            object,
            c"gsk-renderer".as_ptr(),
            c"cairo".as_ptr().cast_mut().cast(),
        );
    }
}
