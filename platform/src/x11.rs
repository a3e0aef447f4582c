//! X11 helpers over a connection of our own (`x11rb`, pure Rust, no unsafe).
//!
//! * Pointer warping for SPICE's *server* mouse mode: like spice-gtk, the
//!   widget warps the pointer back to its centre after each motion and sends
//!   relative motion. GTK 4 dropped `gdk_device_warp`, so the warp goes
//!   through a second X connection; X serialises it with GTK's requests and
//!   GTK sees the resulting motion event like any other (the widget must
//!   ignore the motion that lands exactly on the warp target).
//! * The XKB keycodes name, which tells evdev keycodes from the old
//!   "xfree86" ones ([`crate::keymap::keycode_table_for_x11`]); GTK 4 has
//!   no API for it.
//!
//! No pointer grab or confinement here on purpose: an active grab from this
//! second connection would redirect every pointer event away from GTK's
//! connection. Confine with GTK's own seat grab instead. Wayland pointer
//! lock (`zwp_pointer_constraints_v1` + relative pointer) is not done: it
//! needs the GDK `wl_surface` and wayland-protocols bindings.

use x11rb::connection::Connection as _;
use x11rb::errors::{ConnectError, ConnectionError, ReplyError};
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::rust_connection::RustConnection;

use crate::keymap::{KeycodeTable, keycode_table_for_x11};

/// An X11 window id (`XID`), e.g. from `gdk_x11_surface_get_xid`.
pub type XWindow = u32;

/// Errors of the X11 helpers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum X11Error {
    /// `$DISPLAY` unset, unreachable or refused the connection.
    #[error("cannot connect to the X server: {0}")]
    Connect(#[from] ConnectError),
    /// The connection broke while sending a request.
    #[error("X connection error: {0}")]
    Connection(#[from] ConnectionError),
    /// The server answered a request with an error (e.g. `BadWindow`).
    #[error("X request failed: {0}")]
    Reply(#[from] ReplyError),
    /// The display name is one x11rb cannot use (its TCP port would overflow).
    #[error("unusable X display name {0:?}")]
    BadDisplay(String),
    /// The display names a screen the server does not have.
    #[error("X server has no screen {0}")]
    NoScreen(usize),
    /// A coordinate does not fit the protocol's 16-bit fields.
    #[error("coordinate ({x}, {y}) is outside the X11 range")]
    OutOfRange {
        /// Requested x.
        x: i32,
        /// Requested y.
        y: i32,
    },
}

/// `Result` of the X11 helpers.
pub type Result<T> = std::result::Result<T, X11Error>;

/// Pointer position relative to the root window, with the child window it is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointerPosition {
    /// X on the root window.
    pub root_x: i32,
    /// Y on the root window.
    pub root_y: i32,
    /// The root's child under the pointer, if any.
    pub child: Option<XWindow>,
}

/// A connection to the X server used to move the pointer.
pub struct X11Pointer {
    conn: RustConnection,
    root: Window,
}

impl std::fmt::Debug for X11Pointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Pointer")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn coord(x: i32, y: i32) -> Result<(i16, i16)> {
    match (i16::try_from(x), i16::try_from(y)) {
        (Ok(x), Ok(y)) => Ok((x, y)),
        _ => Err(X11Error::OutOfRange { x, y }),
    }
}

/// x11rb 0.13 adds the display number to TCP port 6000 in a `u16` and
/// panics (debug) or wraps (release) on overflow: refuse such names first.
fn check_display_name(name: &str) -> Result<()> {
    let number = name.rsplit_once(':').map_or("", |(_, rest)| rest);
    let number = number.split_once('.').map_or(number, |(display, _screen)| display);
    match number.parse::<u32>() {
        Ok(n) if n > u32::from(u16::MAX - 6000) => Err(X11Error::BadDisplay(name.to_owned())),
        _ => Ok(()),
    }
}

impl X11Pointer {
    /// Connects to `$DISPLAY`.
    pub fn connect() -> Result<Self> {
        Self::open(None)
    }

    /// Connects to the named display (e.g. `":99"`).
    pub fn connect_to(display: &str) -> Result<Self> {
        Self::open(Some(display))
    }

    fn open(display: Option<&str>) -> Result<Self> {
        let from_env = std::env::var("DISPLAY").ok();
        if let Some(name) = display.or(from_env.as_deref()) {
            check_display_name(name)?;
        }
        let (conn, screen) = x11rb::connect(display)?;
        let root = conn.setup().roots.get(screen).ok_or(X11Error::NoScreen(screen))?.root;
        Ok(Self { conn, root })
    }

    /// The root window of the connection's screen.
    pub fn root_window(&self) -> XWindow {
        self.root
    }

    /// Moves the pointer to (`root_x`, `root_y`) on the root window.
    pub fn warp(&self, root_x: i32, root_y: i32) -> Result<()> {
        self.warp_in(self.root, root_x, root_y)
    }

    /// Moves the pointer to (`x`, `y`) relative to `window`'s origin (e.g. the
    /// centre of the widget's surface).
    pub fn warp_in(&self, window: XWindow, x: i32, y: i32) -> Result<()> {
        let (x, y) = coord(x, y)?;
        // src_window NONE: the warp happens wherever the pointer is.
        self.conn.warp_pointer(x11rb::NONE, window, 0, 0, 0, 0, x, y)?.check()?;
        Ok(())
    }

    /// Where the pointer is now, relative to the root window.
    pub fn position(&self) -> Result<PointerPosition> {
        let reply = self.conn.query_pointer(self.root)?.reply()?;
        Ok(PointerPosition {
            root_x: i32::from(reply.root_x),
            root_y: i32::from(reply.root_y),
            child: (reply.child != x11rb::NONE).then_some(reply.child),
        })
    }

    /// The keycode table of this X server, as spice-gtk/gtk-vnc decide it:
    /// Cygwin/X by its vendor string, XQuartz by its `Apple-WM`/`Apple-DRI`
    /// extension, otherwise from the XKB keycodes name
    /// ([`crate::keymap::keycode_table_for_x11`]). `None` when nothing is known:
    /// use [`KeycodeTable::X11Evdev`] then.
    pub fn keycode_table(&self) -> Result<Option<KeycodeTable>> {
        let vendor = String::from_utf8_lossy(&self.conn.setup().vendor).into_owned();
        if vendor.contains("Cygwin/X") {
            return Ok(Some(KeycodeTable::X11Xwin));
        }
        for extension in [&b"Apple-WM"[..], &b"Apple-DRI"[..]] {
            if self.conn.query_extension(extension)?.reply()?.present {
                return Ok(Some(KeycodeTable::X11Xquartz));
            }
        }
        Ok(self.xkb_keycodes_name()?.as_deref().and_then(keycode_table_for_x11))
    }

    /// The name of the server's XKB keycodes component (e.g.
    /// `evdev+aliases(qwerty)`); `None` when the server has no XKB or no
    /// name. Feed it to [`crate::keymap::keycode_table_for_x11`].
    pub fn xkb_keycodes_name(&self) -> Result<Option<String>> {
        xkb_keycodes_name(&self.conn)
    }
}

/// The XKB keycodes name of the server behind `conn`; see
/// [`X11Pointer::xkb_keycodes_name`].
pub fn xkb_keycodes_name(conn: &RustConnection) -> Result<Option<String>> {
    // The extension must be "used" before any other XKB request.
    let cookie = match conn.xkb_use_extension(1, 0) {
        Ok(cookie) => cookie,
        Err(ConnectionError::UnsupportedExtension) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    match cookie.reply() {
        Ok(reply) if reply.supported => {}
        Ok(_) => return Ok(None),
        // No XKB on this server: not an error for the caller.
        Err(ReplyError::X11Error(_)) => return Ok(None),
        Err(error) => return Err(error.into()),
    }
    let names = conn
        .xkb_get_names(xkb::ID::USE_CORE_KBD.into(), xkb::NameDetail::KEYCODES)?
        .reply()?;
    let Some(atom) = names.value_list.keycodes_name.filter(|&atom| atom != x11rb::NONE) else {
        return Ok(None);
    };
    let name = conn.get_atom_name(atom)?.reply()?.name;
    Ok(Some(String::from_utf8_lossy(&name).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connects to `$DISPLAY`, or says why the test is skipped (fails under CI).
    fn display() -> Option<X11Pointer> {
        let has_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty());
        if !has_display {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but DISPLAY is not: run under xvfb-run"
            );
            eprintln!("skipped: no DISPLAY (run under `xvfb-run -a`)");
            return None;
        }
        Some(X11Pointer::connect().expect("connect to $DISPLAY"))
    }

    #[test]
    fn warp_then_query() {
        let Some(pointer) = display() else { return };
        for (x, y) in [(10, 20), (321, 123), (0, 0), (77, 5)] {
            pointer.warp(x, y).unwrap();
            let pos = pointer.position().unwrap();
            assert_eq!((pos.root_x, pos.root_y), (x, y));
        }
        // Relative to a window: the root's origin is (0, 0).
        pointer.warp_in(pointer.root_window(), 50, 60).unwrap();
        let pos = pointer.position().unwrap();
        assert_eq!((pos.root_x, pos.root_y), (50, 60));
    }

    #[test]
    fn warp_errors() {
        let Some(pointer) = display() else { return };
        assert!(matches!(
            pointer.warp(40_000, 0),
            Err(X11Error::OutOfRange { x: 40_000, y: 0 })
        ));
        assert!(matches!(pointer.warp(0, -40_000), Err(X11Error::OutOfRange { .. })));
        // A window id the server never handed out: BadWindow comes back as an error.
        let bogus = pointer.root_window().wrapping_add(0x00ab_cdef);
        assert!(matches!(pointer.warp_in(bogus, 1, 1), Err(X11Error::Reply(_))));
    }

    #[test]
    fn keycodes_name_of_this_server() {
        let Some(pointer) = display() else { return };
        let name = pointer.xkb_keycodes_name().unwrap();
        eprintln!("XKB keycodes name: {name:?}");
        // Xvfb and Xorg load evdev keycodes by default.
        let name = name.expect("the X server has XKB keycodes");
        assert_eq!(keycode_table_for_x11(&name), Some(KeycodeTable::X11Evdev), "{name}");
        assert_eq!(pointer.keycode_table().unwrap(), Some(KeycodeTable::X11Evdev));
    }

    #[test]
    fn connect_failure_is_an_error() {
        // No server on display 59000 (port 65000).
        let error = X11Pointer::connect_to(":59000").unwrap_err();
        assert!(matches!(error, X11Error::Connect(_)), "{error}");
        // Display numbers whose TCP port would overflow are refused before x11rb sees them.
        for name in [":65000", "localhost:60000.0", "unix:99999"] {
            let error = X11Pointer::connect_to(name).unwrap_err();
            assert!(matches!(error, X11Error::BadDisplay(_)), "{name}: {error}");
        }
    }
}
