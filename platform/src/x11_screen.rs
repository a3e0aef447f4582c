//! A child X window showing a guest monitor, drawn by the X server itself.
//!
//! GTK 4 has no native child windows and repaints through its scene graph:
//! every changed guest pixel would be copied into a render node, replayed
//! into GTK's paint surface and uploaded to the X server again on each
//! frame. On X11 a display widget can instead own a plain X window inside
//! its toplevel, over its own area:
//!
//! * the guest pixels live in an X **pixmap** (server memory) the size of the
//!   monitor; a damaged rectangle is sent once with `PutImage` straight from
//!   the caller's rows ([`X11Screen::put`]);
//! * the window is painted from the pixmap by the server: `CopyArea` at 100 %,
//!   an XRender `Composite` with a scale transform and a bilinear filter
//!   otherwise ([`X11Screen::present`]); exposures are repainted the same
//!   way, without asking the caller for pixels;
//! * the window's *input* shape is empty (SHAPE 1.1), so the pointer never
//!   enters it: GTK keeps receiving every pointer event at the same
//!   coordinates, crossing events included, and its cursor shows;
//! * the guest cursor of server mouse mode is an ARGB picture composited over
//!   the window ([`X11Screen::set_cursor`]).
//!
//! GTK draws its toplevel clipped by child windows (the X default), so the
//! widget's own drawing never covers this window; popovers and menus are
//! separate toplevels and stay above it.
//!
//! Everything goes through a connection of our own (x11rb, pure Rust). Void
//! requests are not checked one by one: an X error arrives as an event and
//! [`X11Screen::dispatch`] reports it, after which the caller should drop the
//! screen and draw another way.

use std::os::fd::{AsFd, BorrowedFd};

use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::protocol::Event;
use x11rb::protocol::render::{self, ConnectionExt as _, PictType, Pictformat, Picture, Repeat};
use x11rb::protocol::shape::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self as xshm, ConnectionExt as _};
use x11rb::protocol::xproto::{
    self, ClipOrdering, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask, Gcontext, ImageOrder, Pixmap,
    Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

use crate::x11::{X11Error, XWindow};

mod cursor;
mod geometry;
mod present;
mod shm;
mod transfer;
use cursor::Cursor;
pub use geometry::{Rect, View};
use present::set_scale;

/// Bytes per pixel of the guest image and of the pixmap (depth 24 in 32 bits).
const BPP: usize = 4;
/// Size of a `PutImage` request's fixed part.
const PUT_IMAGE_HEADER: usize = 24;
/// Largest `PutImage` sent at once (the server may allow more).
const MAX_PUT_BYTES: usize = 4 << 20;
/// Largest gather of non-contiguous rows into one request.
const GATHER_BYTES: usize = 256 << 10;
/// Size of the MIT-SHM staging ring. Its pages count in the process's RSS
/// once written; since moves are replayed in the server (the journal) most
/// updates are small, and a full 1024×768 image takes one round trip more
/// than with 4 MiB.
const SHM_RING_BYTES: usize = 2 << 20;

/// XRender's picture formats for our depths.
#[derive(Debug, Clone, Copy)]
struct Formats {
    /// Depth 24 RGB matching the window's visual.
    rgb: Pictformat,
    /// Depth 32 ARGB (the cursor).
    argb: Pictformat,
}

/// The guest image in the server: a pixmap and, with XRender, its picture.
#[derive(Debug)]
struct Image {
    pixmap: Pixmap,
    picture: Option<Picture>,
    width: u32,
    height: u32,
    /// The transform and filter currently set on `picture`.
    scaled: Option<(f64, f64)>,
}

/// A child X window of a GTK toplevel showing the guest image.
pub struct X11Screen {
    conn: RustConnection,
    window: Window,
    gc: Gcontext,
    root_depth: u8,
    formats: Option<Formats>,
    window_picture: Option<Picture>,
    image: Option<Image>,
    cursor: Option<Cursor>,
    /// The window's rectangle in its parent (device pixels), when mapped.
    geometry: Option<Rect>,
    view: View,
    max_put_bytes: usize,
    /// Rows gathered for one `PutImage` (at most [`GATHER_BYTES`]).
    scratch: Vec<u8>,
    /// MIT-SHM staging, when the server offers MIT-SHM 1.2 (fd passing).
    shm: Option<shm::ShmRing>,
}

impl std::fmt::Debug for X11Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Screen")
            .field("window", &self.window)
            .field("geometry", &self.geometry)
            .field("view", &self.view)
            .field("render", &self.formats.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`X11Screen::dispatch`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// Exposed window rectangles repainted from the pixmap.
    pub exposed: usize,
    /// The first X error reported for our requests, if any.
    pub error: Option<String>,
}

impl X11Screen {
    /// Connects to `display` (e.g. GDK's display name) and creates an
    /// unmapped child window of `parent` (the toplevel's X window).
    ///
    /// Fails when the server's pixel layout is not the guest's (depth 24 in
    /// 32-bit little-endian pixels) or lacks SHAPE 1.1 (the window would
    /// take the pointer away from GTK).
    pub fn new(display: &str, parent: XWindow) -> Result<Self, X11Error> {
        let (conn, screen_num) = RustConnection::connect(Some(display))?;
        let setup = conn.setup();
        let screen = setup.roots.get(screen_num).ok_or(X11Error::NoScreen(screen_num))?;
        let (root_depth, root_visual, colormap) = (screen.root_depth, screen.root_visual, screen.default_colormap);
        let layout_ok = setup.image_byte_order == ImageOrder::LSB_FIRST
            && root_depth == 24
            && setup
                .pixmap_formats
                .iter()
                .any(|f| f.depth == 24 && f.bits_per_pixel == 32);
        if !layout_ok {
            return Err(X11Error::Unsupported("a depth-24, 32-bit little-endian pixel layout"));
        }
        match conn.extension_information(shape::X11_EXTENSION_NAME)? {
            Some(_) => {
                let v = conn.shape_query_version()?.reply()?;
                if (v.major_version, v.minor_version) < (1, 1) {
                    return Err(X11Error::Unsupported("SHAPE 1.1 (input shapes)"));
                }
            }
            None => return Err(X11Error::MissingExtension("SHAPE")),
        }
        let formats = Self::render_formats(&conn, root_visual)?;

        let window = conn.generate_id()?;
        // Depth, visual and colormap given explicitly: GTK's toplevel may
        // have a 32-bit ARGB visual. No background: exposures are repainted
        // from the pixmap, never cleared first (no flicker).
        conn.create_window(
            root_depth,
            window,
            parent,
            0,
            0,
            1,
            1,
            0,
            WindowClass::INPUT_OUTPUT,
            root_visual,
            &CreateWindowAux::new()
                .background_pixmap(x11rb::NONE)
                .border_pixel(0)
                .colormap(colormap)
                .bit_gravity(xproto::Gravity::NORTH_WEST)
                .event_mask(EventMask::EXPOSURE),
        )?
        .check()?;
        // An empty input shape: the pointer passes through to GTK's window.
        conn.shape_rectangles(
            shape::SO::SET,
            shape::SK::INPUT,
            ClipOrdering::UNSORTED,
            window,
            0,
            0,
            &[],
        )?
        .check()?;
        let gc = conn.generate_id()?;
        conn.create_gc(gc, window, &CreateGCAux::new().graphics_exposures(0).foreground(0))?;
        let window_picture = match formats {
            Some(f) => {
                let p = conn.generate_id()?;
                conn.render_create_picture(p, window, f.rgb, &render::CreatePictureAux::new())?;
                Some(p)
            }
            None => None,
        };
        let max_put_bytes = conn.maximum_request_bytes().min(MAX_PUT_BYTES);
        conn.flush()?;
        Ok(X11Screen {
            conn,
            window,
            gc,
            root_depth,
            formats,
            window_picture,
            image: None,
            cursor: None,
            geometry: None,
            view: View::default(),
            max_put_bytes,
            scratch: Vec::new(),
            shm: None,
        }
        .with_shm())
    }

    /// Sets up the MIT-SHM ring when the server can take a memory file
    /// (MIT-SHM 1.2 over a local socket); otherwise uploads go through the
    /// socket. Never fails: SHM is an optimisation. The environment
    /// variable `SUMAC_X11_NO_SHM` (any value) turns it off.
    fn with_shm(mut self) -> Self {
        if std::env::var_os("SUMAC_X11_NO_SHM").is_some() {
            return self;
        }
        let ring = (|| -> Option<shm::ShmRing> {
            self.conn.extension_information(xshm::X11_EXTENSION_NAME).ok()??;
            let v = self.conn.shm_query_version().ok()?.reply().ok()?;
            if (v.major_version, v.minor_version) < (1, 2) {
                return None;
            }
            let seg = self.conn.generate_id().ok()?;
            let (ring, fd) = shm::ShmRing::new(seg, SHM_RING_BYTES).ok()?;
            self.conn.shm_attach_fd(seg, fd, true).ok()?.check().ok()?;
            Some(ring)
        })();
        self.shm = ring;
        self
    }

    /// Whether uploads go through shared memory (MIT-SHM).
    pub fn uses_shm(&self) -> bool {
        self.shm.is_some()
    }

    /// XRender's formats for the root visual and 32-bit ARGB; `None` without
    /// RENDER 0.10 (scaling and the drawn cursor then need another path).
    fn render_formats(conn: &RustConnection, visual: xproto::Visualid) -> Result<Option<Formats>, X11Error> {
        if conn.extension_information(render::X11_EXTENSION_NAME)?.is_none() {
            return Ok(None);
        }
        let v = conn.render_query_version(0, 11)?.reply()?;
        if (v.major_version, v.minor_version) < (0, 10) {
            return Ok(None);
        }
        let reply = conn.render_query_pict_formats()?.reply()?;
        let rgb = reply
            .screens
            .iter()
            .flat_map(|s| s.depths.iter())
            .flat_map(|d| d.visuals.iter())
            .find(|v| v.visual == visual)
            .map(|v| v.format);
        let argb = reply
            .formats
            .iter()
            .find(|f| {
                f.type_ == PictType::DIRECT
                    && f.depth == 32
                    && f.direct.alpha_mask == 0xff
                    && f.direct.alpha_shift == 24
                    && f.direct.red_shift == 16
                    && f.direct.green_shift == 8
                    && f.direct.blue_shift == 0
            })
            .map(|f| f.id);
        Ok(rgb.zip(argb).map(|(rgb, argb)| Formats { rgb, argb }))
    }

    /// Whether the server can scale and draw the cursor (XRender).
    pub fn can_scale(&self) -> bool {
        self.formats.is_some()
    }

    /// The connection's descriptor, to watch for exposures and errors.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.stream().as_fd()
    }

    /// The child window's id.
    pub fn window(&self) -> XWindow {
        self.window
    }

    /// Makes the pixmap `width` × `height` (a new, undefined image: the
    /// caller sends every pixel again). Nothing happens when the size is the same.
    pub fn set_image_size(&mut self, width: u32, height: u32) -> Result<(), X11Error> {
        if self
            .image
            .as_ref()
            .is_some_and(|i| (i.width, i.height) == (width, height))
        {
            return Ok(());
        }
        self.drop_image()?;
        let (w, h) = (
            u16::try_from(width).map_err(|_| X11Error::TooLarge(width, height))?,
            u16::try_from(height).map_err(|_| X11Error::TooLarge(width, height))?,
        );
        if w == 0 || h == 0 {
            return Ok(());
        }
        let pixmap = self.conn.generate_id()?;
        self.conn.create_pixmap(self.root_depth, pixmap, self.window, w, h)?;
        let picture = match self.formats {
            Some(f) => {
                let p = self.conn.generate_id()?;
                // PAD: the filter reads past the edge when scaled; repeat
                // the edge pixels rather than fade to black.
                self.conn.render_create_picture(
                    p,
                    pixmap,
                    f.rgb,
                    &render::CreatePictureAux::new().repeat(Repeat::PAD),
                )?;
                Some(p)
            }
            None => None,
        };
        self.image = Some(Image {
            pixmap,
            picture,
            width,
            height,
            scaled: None,
        });
        Ok(())
    }

    fn drop_image(&mut self) -> Result<(), X11Error> {
        if let Some(old) = self.image.take() {
            if let Some(p) = old.picture {
                self.conn.render_free_picture(p)?;
            }
            self.conn.free_pixmap(old.pixmap)?;
        }
        Ok(())
    }

    /// Places the window at `rect` in its parent (device pixels) with the
    /// image drawn per `view`, and maps it; `None` unmaps it. Repaints the
    /// whole window when anything changed.
    pub fn set_geometry(&mut self, rect: Option<Rect>, view: View) -> Result<(), X11Error> {
        if rect == self.geometry && view == self.view {
            return Ok(());
        }
        let moved = rect != self.geometry;
        self.view = view;
        match rect.and_then(|r| r.to_x().map(|x| (r, x))) {
            Some((r, (x, y, w, h))) if w > 0 && h > 0 => {
                if moved {
                    self.conn.configure_window(
                        self.window,
                        &xproto::ConfigureWindowAux::new()
                            .x(i32::from(x))
                            .y(i32::from(y))
                            .width(u32::from(w))
                            .height(u32::from(h))
                            .stack_mode(xproto::StackMode::ABOVE),
                    )?;
                }
                if self.geometry.is_none() {
                    self.conn.map_window(self.window)?;
                }
                self.geometry = Some(r);
                self.update_transforms()?;
                self.present_window(&Rect {
                    x: 0,
                    y: 0,
                    w: r.w,
                    h: r.h,
                })?;
            }
            _ => {
                if self.geometry.take().is_some() {
                    self.conn.unmap_window(self.window)?;
                }
            }
        }
        Ok(())
    }

    /// Whether the window is mapped.
    pub fn is_shown(&self) -> bool {
        self.geometry.is_some()
    }

    /// Handles what the server sent: repaints exposed parts from the pixmap
    /// and reports the first X error (the caller should stop using the
    /// screen then).
    pub fn dispatch(&mut self) -> Result<Dispatched, X11Error> {
        let mut out = Dispatched::default();
        while let Some(event) = self.conn.poll_for_event()? {
            match event {
                Event::Expose(e) if e.window == self.window => {
                    out.exposed += 1;
                    self.present_window(&Rect {
                        x: i32::from(e.x),
                        y: i32::from(e.y),
                        w: u32::from(e.width),
                        h: u32::from(e.height),
                    })?;
                }
                Event::Error(e) if out.error.is_none() => {
                    out.error = Some(format!("{:?} (request {:?})", e.error_kind, e.request_name));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Sends what is buffered.
    pub fn flush(&self) -> Result<(), X11Error> {
        self.conn.flush()?;
        Ok(())
    }

    /// Waits until the server has handled every request sent so far (tests).
    pub fn sync(&self) -> Result<(), X11Error> {
        self.conn.get_input_focus()?.reply()?;
        Ok(())
    }
}

impl Drop for X11Screen {
    fn drop(&mut self) {
        // Closing the connection frees every resource; destroying the window
        // first makes it vanish at once even if the connection lingers.
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
    }
}
