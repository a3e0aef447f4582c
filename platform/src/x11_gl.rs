//! Whether OpenGL on an X server is likely hardware accelerated, asked
//! without loading any GL library (which costs tens of MiB of memory).
//!
//! Mesa renders on a GPU for an X client only through DRI2 or DRI3; NVIDIA's
//! driver announces its own GLX extension. An X server with none of them
//! (Xvfb, Xvnc/TigerVNC, `ssh -X`, Xspice) gives GL through Mesa's software
//! rasterizer (llvmpipe), on the client's CPU.

use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

/// X extensions that mean GL can run on a GPU.
const DIRECT_GL_EXTENSIONS: [&str; 3] = ["DRI3", "DRI2", "NV-GLX"];

/// True when one of `extensions` (names as the server lists them) allows
/// hardware-accelerated GL.
pub fn direct_gl_in(extensions: &[String]) -> bool {
    extensions.iter().any(|e| DIRECT_GL_EXTENSIONS.contains(&e.as_str()))
}

/// Asks the X server `display` (`None`: `$DISPLAY`) for its extensions;
/// `None` when it cannot be reached.
pub fn direct_gl_likely(display: Option<&str>) -> Option<bool> {
    let (conn, _) = RustConnection::connect(display).ok()?;
    let reply = conn.list_extensions().ok()?.reply().ok()?;
    let names: Vec<String> = reply
        .names
        .iter()
        .map(|n| String::from_utf8_lossy(&n.name).into_owned())
        .collect();
    Some(direct_gl_in(&names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn dri_or_nvidia_means_direct_gl() {
        assert!(direct_gl_in(&names(&["GLX", "DRI3", "Present"])));
        assert!(direct_gl_in(&names(&["GLX", "DRI2"])));
        assert!(direct_gl_in(&names(&["NV-GLX", "GLX"])));
    }

    #[test]
    fn xvfb_extensions_mean_software_gl() {
        // What Debian 12's Xvfb lists.
        let xvfb = names(&[
            "BIG-REQUESTS",
            "Composite",
            "DAMAGE",
            "DOUBLE-BUFFER",
            "GLX",
            "Generic Event Extension",
            "MIT-SCREEN-SAVER",
            "MIT-SHM",
            "Present",
            "RANDR",
            "RECORD",
            "RENDER",
            "SECURITY",
            "SHAPE",
            "SYNC",
            "X-Resource",
            "XC-MISC",
            "XFIXES",
            "XINERAMA",
            "XInputExtension",
            "XKEYBOARD",
            "XTEST",
            "XVideo",
        ]);
        assert!(!direct_gl_in(&xvfb));
    }
}
