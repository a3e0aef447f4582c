//! X11 helpers over a connection of our own (`x11rb`, pure Rust, no unsafe).
//!
//! * The pointer grab of SPICE's *server* mouse mode ([`X11Pointer::grab`]):
//!   an active core grab, confined to the widget's toplevel window, with an
//!   invisible cursor. While it lasts the X server sends every pointer event
//!   to **this** connection, not to GTK's: the caller reads them with
//!   [`X11Pointer::poll_event`] (watch [`X11Pointer::as_fd`] for input), turns
//!   motions into relative deltas and warps the pointer back to the centre
//!   ([`X11Pointer::warp_in_nowait`], whose sequence number tells the motion
//!   the warp itself causes from the user's). Keyboard events stay GTK's.
//! * Pointer warping and position queries (GTK 4 dropped `gdk_device_warp`).
//! * The XKB keycodes name, which tells evdev keycodes from the old
//!   "xfree86" ones ([`crate::keymap::keycode_table_for_x11`]); GTK 4 has
//!   no API for it.
//! * The XFixes cursor image ([`X11Pointer::cursor_image`]), to check that the
//!   pointer is hidden.
//!
//! The Wayland counterpart of the grab (pointer lock + relative pointer) is
//! [`crate::wayland`] (feature `wayland`).

use std::os::fd::{AsFd, BorrowedFd};

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::errors::{ConnectError, ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::Event;
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, EventMask, GrabMode, Window};
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
    /// No X resource id left, or a request creating one failed.
    #[error("X resource allocation failed: {0}")]
    Id(#[from] ReplyOrIdError),
    /// The server lacks an extension a request needs (e.g. XFixes).
    #[error("the X server has no {0} extension")]
    MissingExtension(&'static str),
    /// The display name is one x11rb cannot use (its TCP port would overflow).
    #[error("unusable X display name {0:?}")]
    BadDisplay(String),
    /// The display names a screen the server does not have.
    #[error("X server has no screen {0}")]
    NoScreen(usize),
    /// The server lacks something the caller needs (named).
    #[error("the X server does not offer {0}")]
    Unsupported(&'static str),
    /// A size does not fit the protocol's 16-bit fields.
    #[error("{0} x {1} is too large for X11")]
    TooLarge(u32, u32),
    /// Fewer pixels were given than the rectangle needs.
    #[error("the image data is shorter than its rectangle")]
    ShortImage,
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

/// How a pointer grab request ended (`GrabPointer`'s status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrabStatus {
    /// This connection has the pointer now.
    Success,
    /// Another client holds an active grab (e.g. GTK's implicit grab while a
    /// button is down): try again later.
    AlreadyGrabbed,
    /// The pointer is frozen by another client's synchronous grab.
    Frozen,
    /// The window (or its confinement area) is not viewable.
    NotViewable,
    /// The request's time is before the last grab time (not used here).
    InvalidTime,
}

/// A pointer event received while this connection holds the grab. Positions
/// are relative to the grab window's origin, in X (device) pixels; `sequence`
/// is the low 16 bits of the last request the server had processed when it
/// generated the event (compare it with [`X11Pointer::warp_in_nowait`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrabEvent {
    /// The pointer moved (or was warped) to (`x`, `y`).
    Motion {
        /// X relative to the grab window.
        x: i32,
        /// Y relative to the grab window.
        y: i32,
        /// See the type's documentation.
        sequence: u16,
    },
    /// A button went down or up (X numbering: 1 left, 2 middle, 3 right,
    /// 4/5 wheel up/down, 6/7 horizontal wheel, 8/9 back/forward).
    Button {
        /// The X button number.
        button: u8,
        /// Pressed (true) or released.
        pressed: bool,
    },
    /// The grab ended (the window was unmapped or became unviewable, or
    /// [`X11Pointer::ungrab`] was called): a crossing event with mode `Ungrab`.
    Ended,
}

/// The cursor the X server shows now (XFixes `GetCursorImage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorImage {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Pixels that are not fully transparent: 0 for a hidden pointer.
    pub opaque_pixels: usize,
}

/// A connection to the X server used to grab, move and query the pointer.
pub struct X11Pointer {
    conn: RustConnection,
    root: Window,
    /// The invisible cursor of the grab, created on first use.
    blank_cursor: Option<xproto::Cursor>,
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
        Ok(Self {
            conn,
            root,
            blank_cursor: None,
        })
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

    /// Sends a warp to (`x`, `y`) relative to `window` without waiting for the
    /// server, and returns the low 16 bits of the request's sequence number:
    /// events with this sequence number or a later one (modulo 2^16) were
    /// generated after the warp. A failure (e.g. `BadWindow`) comes back later
    /// through [`Self::poll_event`] as an error.
    pub fn warp_in_nowait(&self, window: XWindow, x: i32, y: i32) -> Result<u16> {
        let (x, y) = coord(x, y)?;
        let cookie = self.conn.warp_pointer(x11rb::NONE, window, 0, 0, 0, 0, x, y)?;
        let sequence = cookie.sequence_number();
        // The cookie's drop would otherwise ask for the error synchronously.
        cookie.ignore_error();
        self.conn.flush()?;
        // Truncation intended: events carry the low 16 bits.
        Ok((sequence & 0xffff) as u16)
    }

    /// Grabs the pointer for this connection: every pointer event goes to it
    /// (relative to `window`), the pointer cannot leave `window` and shows an
    /// invisible cursor. Returns the server's verdict; anything but
    /// [`GrabStatus::Success`] leaves the pointer alone.
    pub fn grab(&mut self, window: XWindow) -> Result<GrabStatus> {
        let cursor = self.blank_cursor()?;
        let mask = EventMask::POINTER_MOTION
            | EventMask::BUTTON_PRESS
            | EventMask::BUTTON_RELEASE
            | EventMask::ENTER_WINDOW
            | EventMask::LEAVE_WINDOW;
        let reply = self
            .conn
            .grab_pointer(
                false,
                window,
                mask,
                GrabMode::ASYNC,
                GrabMode::ASYNC,
                window,
                cursor,
                x11rb::CURRENT_TIME,
            )?
            .reply()?;
        Ok(match reply.status {
            xproto::GrabStatus::SUCCESS => GrabStatus::Success,
            xproto::GrabStatus::ALREADY_GRABBED => GrabStatus::AlreadyGrabbed,
            xproto::GrabStatus::FROZEN => GrabStatus::Frozen,
            xproto::GrabStatus::INVALID_TIME => GrabStatus::InvalidTime,
            _ => GrabStatus::NotViewable,
        })
    }

    /// Releases a grab of this connection (nothing happens without one).
    pub fn ungrab(&self) -> Result<()> {
        self.conn.ungrab_pointer(x11rb::CURRENT_TIME)?.check()?;
        Ok(())
    }

    /// The next pointer event already received, without blocking; `None`
    /// when there is none. Other events are skipped; X errors of requests
    /// sent without waiting (warps) are returned as errors.
    pub fn poll_event(&self) -> Result<Option<GrabEvent>> {
        while let Some(event) = self.conn.poll_for_event()? {
            let out = match event {
                Event::MotionNotify(e) => GrabEvent::Motion {
                    x: i32::from(e.event_x),
                    y: i32::from(e.event_y),
                    sequence: e.sequence,
                },
                Event::ButtonPress(e) => GrabEvent::Button {
                    button: e.detail,
                    pressed: true,
                },
                Event::ButtonRelease(e) => GrabEvent::Button {
                    button: e.detail,
                    pressed: false,
                },
                Event::LeaveNotify(e) | Event::EnterNotify(e) if e.mode == xproto::NotifyMode::UNGRAB => {
                    GrabEvent::Ended
                }
                Event::Error(e) => return Err(X11Error::Reply(ReplyError::X11Error(e))),
                _ => continue,
            };
            return Ok(Some(out));
        }
        Ok(None)
    }

    /// The connection's socket: readable when events may be waiting (then
    /// drain [`Self::poll_event`]; events read while waiting for a reply are
    /// queued without making it readable again, so drain after requests too).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.stream().as_fd()
    }

    /// The cursor shown now (XFixes), e.g. to check that a grab hid it.
    pub fn cursor_image(&self) -> Result<CursorImage> {
        if self
            .conn
            .extension_information(x11rb::protocol::xfixes::X11_EXTENSION_NAME)?
            .is_none()
        {
            return Err(X11Error::MissingExtension("XFixes"));
        }
        // XFixes needs its version negotiated before any other request.
        self.conn.xfixes_query_version(4, 0)?.reply()?;
        let image = self.conn.xfixes_get_cursor_image()?.reply()?;
        let opaque_pixels = image.cursor_image.iter().filter(|&&argb| argb >> 24 != 0).count();
        Ok(CursorImage {
            width: image.width,
            height: image.height,
            opaque_pixels,
        })
    }

    /// A 1x1 cursor with an all-zero mask: nothing shows.
    fn blank_cursor(&mut self) -> Result<xproto::Cursor> {
        if let Some(cursor) = self.blank_cursor {
            return Ok(cursor);
        }
        let pixmap = self.conn.generate_id()?;
        self.conn.create_pixmap(1, pixmap, self.root, 1, 1)?;
        let gc = self.conn.generate_id()?;
        self.conn
            .create_gc(gc, pixmap, &xproto::CreateGCAux::new().foreground(0))?;
        let all = xproto::Rectangle {
            x: 0,
            y: 0,
            width: 1,
            height: 1,
        };
        self.conn.poly_fill_rectangle(pixmap, gc, &[all])?;
        let cursor = self.conn.generate_id()?;
        self.conn
            .create_cursor(cursor, pixmap, pixmap, 0, 0, 0, 0, 0, 0, 0, 0)?
            .check()?;
        self.conn.free_gc(gc)?;
        self.conn.free_pixmap(pixmap)?;
        self.blank_cursor = Some(cursor);
        Ok(cursor)
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
mod tests;
