//! [`Display`]: the widget showing one monitor of a SPICE display channel
//! (GType `SumacDisplay`).
//!
//! Layers, bottom to top: the screen (OpenGL through a `GtkGLArea`, or
//! cairo), the guest cursor (server mouse mode), and an overlay with the
//! connecting/error state. Damage reported by the session accumulates and is
//! drawn once per frame; only damaged rectangles are copied out of the shared
//! [`DisplayState`](crate::display::DisplayState).

mod cairo_layer;
mod cursor;
mod damage;
pub mod drop;
mod gl_layer;
mod imp;
mod input;
mod overlay;
mod platform;
mod pointer_grab;
pub mod scaling;
mod spinner;
#[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
mod x11_layer;

pub use overlay::OverlayState;
pub use platform::work_area;

use super::Session;
use crate::display::DisplayEvent;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use std::rc::Rc;

/// Screen renderer of a [`Display`] (GType `SumacRenderer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, glib::Enum)]
#[enum_type(name = "SumacRenderer")]
pub enum Renderer {
    /// OpenGL when GTK draws with (hardware) GL; otherwise the X11 layer on
    /// X11 and cairo elsewhere. The environment variable
    /// `SUMAC_RENDERER=gl|cairo|x11` overrides it.
    #[default]
    Auto,
    /// OpenGL (`GtkGLArea`); falls back to cairo if GL fails.
    Gl,
    /// Software rendering with cairo.
    Cairo,
    /// X11 only: the guest image in a child X window of the toplevel,
    /// painted by the X server from a pixmap (no GTK drawing per update);
    /// falls back to cairo elsewhere or when the X server lacks what it needs.
    X11,
}

impl Renderer {
    /// Parses `auto`, `gl`, `cairo` or `x11` (as in `--renderer=`).
    pub fn from_name(name: &str) -> Option<Renderer> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Renderer::Auto),
            "gl" | "opengl" => Some(Renderer::Gl),
            "cairo" | "software" => Some(Renderer::Cairo),
            "x11" | "xlib" => Some(Renderer::X11),
            _ => None,
        }
    }

    /// The name accepted by [`Renderer::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Renderer::Auto => "auto",
            Renderer::Gl => "gl",
            Renderer::Cairo => "cairo",
            Renderer::X11 => "x11",
        }
    }
}

/// Set once [`choose_gtk_renderer`] selected GSK's cairo renderer.
static GSK_CAIRO_CHOSEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether GTK was told to draw with cairo (`GSK_RENDERER=cairo`,
/// `GDK_DEBUG=gl-disable` or [`choose_gtk_renderer`]).
pub(crate) fn gsk_cairo_chosen() -> bool {
    GSK_CAIRO_CHOSEN.load(std::sync::atomic::Ordering::Relaxed)
        || std::env::var("GSK_RENDERER").is_ok_and(|v| v.trim().eq_ignore_ascii_case("cairo"))
        || std::env::var("GDK_DEBUG").is_ok_and(|v| v.split([',', ':', ' ']).any(|f| f.trim() == "gl-disable"))
}

/// Whether a `GL_RENDERER` string names a software rasterizer (Mesa's
/// llvmpipe/softpipe/swrast, lavapipe, Microsoft's WARP/GDI).
pub fn is_software_gl(renderer: &str) -> bool {
    let r = renderer.to_ascii_lowercase();
    [
        "llvmpipe",
        "softpipe",
        "swrast",
        "software rasterizer",
        "lavapipe",
        "gdi generic",
        "basic render",
    ]
    .iter()
    .any(|s| r.contains(s))
}

/// Picks the renderer GTK draws the windows with (GSK), for `renderer`:
/// with [`Renderer::Cairo`], or with [`Renderer::Auto`] when OpenGL is a
/// software rasterizer (llvmpipe: a VM, a remote X session, Xvfb), GTK is
/// told to use its cairo renderer (display data `gsk-renderer`), so no window is composited with GL on the
/// CPU; the displays then use their cairo layer. Returns the reason when it
/// did. `GSK_RENDERER` set by the user always wins.
///
/// GTK reads the choice when the first window is shown: call this after
/// `gtk::init` (or in `startup`) and before any window is realized.
pub fn choose_gtk_renderer(renderer: Renderer) -> Option<String> {
    if std::env::var_os("GSK_RENDERER").is_some() {
        return None;
    }
    let display = gtk::gdk::Display::default()?;
    let gl_disabled =
        std::env::var("GDK_DEBUG").is_ok_and(|v| v.split([',', ':', ' ']).any(|f| f.trim() == "gl-disable"));
    let why = match renderer {
        // GSK would try its GL renderer first, fail and say so.
        _ if gl_disabled => "OpenGL is disabled (GDK_DEBUG=gl-disable)".to_owned(),
        Renderer::Gl => return None,
        Renderer::Cairo => "the cairo renderer was chosen".to_owned(),
        Renderer::X11 => "the x11 screen layer was chosen".to_owned(),
        Renderer::Auto => {
            match gl_layer::probe_renderer(&display) {
                Ok(name) if is_software_gl(&name) => format!("OpenGL is software rendering ({name})"),
                Ok(_) => return None,
                // No GL at all: GTK uses cairo by itself.
                Err(_) => return None,
            }
        }
    };
    gl_layer::use_gsk_cairo(&display);
    GSK_CAIRO_CHOSEN.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(reason = %why, "GTK renders with cairo");
    Some(why)
}

/// Maps widget coordinates (logical pixels) to guest pixels, `None` outside the guest image.
pub type ToGuest = Rc<dyn Fn(f64, f64) -> Option<(i32, i32)>>;

glib::wrapper! {
    /// One monitor of a SPICE display channel (GType `SumacDisplay`).
    ///
    /// Properties: `scaling` (fit keeping the aspect ratio, default true),
    /// `only-downscale`, `zoom-level` (10–400 %, used when `scaling` is
    /// false), `renderer` ([`Renderer`]), and read-only `ready`,
    /// `mouse-grabbed`, `keyboard-grabbed`. The grabs end with the release
    /// hotkey ([`Display::set_release_hotkey`], Shift+F12 by default).
    ///
    /// ```no_run
    /// # use sumac::gtk::{Display, Session};
    /// let session = Session::new();
    /// let display = Display::new(&session, 0, 0);
    /// // put `display` in a window, then:
    /// session.connect_uri("spice://127.0.0.1:5900").ok();
    /// ```
    pub struct Display(ObjectSubclass<imp::Display>)
        @extends gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Display {
    /// A widget showing monitor `monitor_id` of display channel `channel_id`
    /// of `session` (use 0, 0 for a single-monitor guest).
    pub fn new(session: &Session, channel_id: u8, monitor_id: u32) -> Self {
        let obj: Self = glib::Object::new();
        let imp = obj.imp();
        imp.channel_id.set(channel_id);
        imp.monitor_id.set(monitor_id);
        imp.session.replace(Some(session.clone()));
        session.register_display(&obj);
        imp.setup_screen();
        imp.refresh_source();
        drop::install(&obj);
        obj.set_client_mouse_mode(session.client_mouse_mode());
        if session.is_running() {
            obj.attach_input();
        }
        obj
    }

    /// Calls `f` with the pointer's position over the display (logical
    /// pixels of the widget) each time it moves there, whichever screen layer
    /// draws (signal `pointer-moved`): the app shows its full-screen toolbar
    /// when the pointer reaches the top edge.
    pub fn connect_pointer_moved<F: Fn(&Self, f64, f64) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("pointer-moved", false, move |values| {
            let display = values.first()?.get::<Self>().ok()?;
            let x = values.get(1)?.get::<f64>().ok()?;
            let y = values.get(2)?.get::<f64>().ok()?;
            f(&display, x, y);
            None
        })
    }

    /// The session this display belongs to.
    pub fn session(&self) -> Option<Session> {
        self.imp().session.borrow().clone()
    }

    /// The display channel shown.
    pub fn channel_id(&self) -> u8 {
        self.imp().channel_id.get()
    }

    /// The monitor shown.
    pub fn monitor_id(&self) -> u32 {
        self.imp().monitor_id.get()
    }

    /// The SPICE display id of this monitor, as input messages use it:
    /// the monitor id on channel 0, the channel id otherwise.
    pub fn spice_display_id(&self) -> u32 {
        match self.channel_id() {
            0 => self.monitor_id(),
            c => u32::from(c),
        }
    }

    /// The renderer in use (`None` until the screen layer is realized).
    pub fn active_renderer(&self) -> Option<Renderer> {
        self.imp().active.get()
    }

    /// The monitor's size in guest pixels, once known.
    pub fn guest_size(&self) -> Option<(u32, u32)> {
        self.imp().source.get().map(|s| (s.rect.w, s.rect.h))
    }

    /// Where the guest image is drawn now, for the current widget size.
    pub fn placement(&self) -> Option<scaling::Placement> {
        self.imp().placement(f64::from(self.width()), f64::from(self.height()))
    }

    /// Maps widget coordinates (logical pixels) to guest pixels of this
    /// monitor; `None` outside the guest image.
    pub fn widget_to_guest(&self, x: f64, y: f64) -> Option<(i32, i32)> {
        self.placement()?.widget_to_guest(x, y)
    }

    /// Maps a guest position of this monitor to widget coordinates.
    pub fn guest_to_widget(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        Some(self.placement()?.guest_to_widget(x, y))
    }

    /// [`Self::widget_to_guest`] as a closure (for input handling); it holds
    /// only a weak reference to the widget.
    pub fn to_guest_fn(&self) -> ToGuest {
        let weak = self.downgrade();
        Rc::new(move |x, y| weak.upgrade()?.widget_to_guest(x, y))
    }

    /// What the overlay shows now.
    pub fn overlay_state(&self) -> OverlayState {
        self.imp()
            .overlay
            .borrow()
            .as_ref()
            .map_or(OverlayState::Hidden, |o| o.state().clone())
    }

    /// Shows `state` in the overlay (e.g. an error the embedder detected).
    pub fn set_overlay_state(&self, state: OverlayState) {
        self.imp().set_overlay(state);
    }

    /// Puts the embedder's widgets (e.g. a Reconnect button) below the
    /// overlay's text; they are visible whenever the overlay is.
    pub fn set_overlay_actions(&self, widgets: &[gtk::Widget]) {
        if let Some(o) = self.imp().overlay.borrow().as_ref() {
            o.set_actions(widgets);
        }
        self.queue_resize();
    }

    /// Sets the key combination that releases the pointer grab (server mouse
    /// mode) and the keyboard grab: modifiers alone (`ctrl+alt`)
    /// or with one key (`shift+f12`, the default), in remote-viewer's hotkey
    /// syntax ([`Hotkey::parse`](crate::client::vv::Hotkey::parse)). Returns
    /// false, keeping the current one, for a combination the widget cannot
    /// watch for (see the input layer: keys by their US-keyboard position).
    pub fn set_release_hotkey(&self, hotkey: &crate::client::vv::Hotkey) -> bool {
        let Some(keys) = input::Hotkey::from_spec(hotkey) else {
            tracing::warn!(%hotkey, "the display cannot watch for this release hotkey; keeping the current one");
            return false;
        };
        let handler = self.imp().input.borrow().clone();
        if let Some(handler) = handler {
            handler.set_grab_hotkey(keys.clone());
        }
        self.imp().release_hotkey.replace(Some(keys));
        true
    }

    /// Tells the display that the embedder shows a toolbar over it under the
    /// pointer (`true`, as the app's full-screen toolbar) or no longer does:
    /// the keyboard grab is released meanwhile, whatever crossing events the
    /// toolbar's surface causes, and taken again afterwards if the policy wants it.
    pub fn set_covered(&self, covered: bool) {
        let handler = self.imp().input.borrow().clone();
        if let Some(handler) = handler {
            handler.set_covered(covered);
        }
    }

    /// Sets the `mouse-grabbed` property (called by the input layer: server
    /// mouse mode, from the grabbing click to the hotkey or focus loss).
    pub(crate) fn set_mouse_grabbed(&self, grabbed: bool) {
        if self.imp().mouse_grabbed.replace(grabbed) != grabbed {
            self.notify_mouse_grabbed();
        }
    }

    /// Sets the `keyboard-grabbed` property (called by the input layer).
    pub(crate) fn set_keyboard_grabbed(&self, grabbed: bool) {
        if self.imp().keyboard_grabbed.replace(grabbed) != grabbed {
            self.notify_keyboard_grabbed();
        }
    }

    pub(crate) fn handle_display_event(&self, event: &DisplayEvent) {
        self.imp().handle_display_event(event);
    }

    pub(crate) fn monitors_changed(&self) {
        let imp = self.imp();
        imp.refresh_source();
        imp.queue_redraw();
    }

    pub(crate) fn channel_up(&self) {
        let imp = self.imp();
        imp.refresh_source();
        imp.queue_redraw();
    }

    pub(crate) fn set_client_mouse_mode(&self, client: bool) {
        // The input layer first: leaving server mode releases the pointer
        // before the cursor layer sets the guest's shape.
        let input = self.imp().input.borrow().clone();
        if let Some(input) = input {
            input.mouse_mode_changed(client);
        }
        self.imp()
            .cursor
            .borrow_mut()
            .set_client_mode(client, self.upcast_ref());
    }

    /// Applies a cursor-channel event (guest cursor shape, position, visibility).
    pub(crate) fn handle_cursor_event(&self, event: &crate::client::events::CursorEvent) {
        self.imp().handle_cursor_event(event);
    }

    /// Installs keyboard and mouse handling for the running session.
    fn attach_input(&self) {
        let Some(inputs) = self.session().and_then(|s| s.inputs()) else {
            return;
        };
        let handler = input::InputHandler::new(inputs, self.spice_display_id());
        let weak = self.downgrade();
        handler.connect_grab_changed(move |grabbed| {
            if let Some(d) = weak.upgrade() {
                d.set_keyboard_grabbed(grabbed);
            }
        });
        let weak = self.downgrade();
        handler.connect_pointer_grab_changed(move |grabbed| {
            if let Some(d) = weak.upgrade() {
                d.set_mouse_grabbed(grabbed);
            }
        });
        if let Some(keys) = self.imp().release_hotkey.borrow().clone() {
            handler.set_grab_hotkey(keys);
        }
        handler.attach(self.upcast_ref(), self.to_guest_fn());
        handler.set_live(self.overlay_state() == OverlayState::Hidden);
        self.set_keyboard_grabbed(handler.keyboard_grabbed());
        self.set_mouse_grabbed(handler.pointer_grabbed());
        self.imp().input.replace(Some(handler));
    }

    pub(crate) fn session_started(&self) {
        let imp = self.imp();
        imp.set_ready(false);
        imp.set_overlay(OverlayState::Connecting);
        imp.damage.borrow_mut().set_full();
        self.attach_input();
    }

    /// The session relinks by itself (attempt `attempt`): the last picture
    /// stays under "Reconnecting…" with a Cancel button.
    pub(crate) fn reconnecting(&self, attempt: u32) {
        let imp = self.imp();
        let input = imp.input.borrow().clone();
        if let Some(input) = input {
            input.release_pointer();
        }
        imp.set_ready(false);
        imp.set_overlay(OverlayState::Reconnecting(attempt));
    }

    /// A channel of the running session failed (this display's, or the
    /// inputs): its error shows over the picture until the session restarts.
    pub(crate) fn channel_failed(&self, text: &str) {
        let imp = self.imp();
        let input = imp.input.borrow().clone();
        if let Some(input) = input {
            input.release_pointer();
        }
        imp.set_overlay(OverlayState::Error(text.to_owned()));
    }

    pub(crate) fn session_ended(&self, error: Option<&str>) {
        let text = match error {
            Some(e) => e.to_owned(),
            None => crate::i18n::gettext("Disconnected"),
        };
        let imp = self.imp();
        let input = imp.input.borrow().clone();
        if let Some(input) = input {
            input.release_pointer();
        }
        imp.set_ready(false);
        imp.set_overlay(OverlayState::Error(text));
    }
}

#[cfg(test)]
mod tests {
    use super::damage::{Area, Source};
    use super::*;

    fn display_with_guest(w: u32, h: u32) -> Display {
        let session = Session::new();
        let d = Display::new(&session, 0, 0);
        d.imp().source.set(Some(Source {
            surface_id: 0,
            surface_width: w,
            surface_height: h,
            rect: Area { x: 0, y: 0, w, h },
        }));
        d
    }

    #[test]
    fn software_gl_renderers_are_recognised() {
        assert!(is_software_gl("llvmpipe (LLVM 15.0.6, 256 bits)"));
        assert!(is_software_gl("Software Rasterizer"));
        assert!(is_software_gl("softpipe"));
        assert!(!is_software_gl("Mesa Intel(R) UHD Graphics 620 (KBL GT2)"));
        assert!(!is_software_gl(
            "AMD Radeon RX 6600 (radeonsi, navi23, LLVM 15.0.6, DRM 3.49)"
        ));
    }

    #[gtk::test]
    fn properties_default_and_clamp() {
        let d = Display::new(&Session::new(), 0, 0);
        assert!(d.scaling());
        assert!(!d.only_downscale());
        assert_eq!(d.zoom_level(), 100);
        d.set_zoom_level(5);
        assert_eq!(d.zoom_level(), scaling::MIN_ZOOM);
        d.set_zoom_level(1000);
        assert_eq!(d.zoom_level(), scaling::MAX_ZOOM);
        assert!(!d.ready());
        assert_eq!(d.overlay_state(), OverlayState::Connecting);
        assert_eq!(d.guest_size(), None);
        assert_eq!(d.spice_display_id(), 0);
        assert_eq!(Display::new(&Session::new(), 2, 0).spice_display_id(), 2);
        assert_eq!(Renderer::from_name(" GL "), Some(Renderer::Gl));
        assert_eq!(Renderer::from_name("cairo"), Some(Renderer::Cairo));
        assert_eq!(Renderer::from_name("vulkan"), None);
    }

    #[gtk::test]
    fn size_request_follows_zoom() {
        let d = display_with_guest(800, 600);
        let (_, nat_w, _, _) = d.measure(gtk::Orientation::Horizontal, -1);
        assert_eq!(nat_w, 800 / d.scale_factor());
        d.set_scaling(false);
        d.set_zoom_level(200);
        let (min_w, nat_w, _, _) = d.measure(gtk::Orientation::Horizontal, -1);
        let (min_h, nat_h, _, _) = d.measure(gtk::Orientation::Vertical, -1);
        assert_eq!((nat_w, nat_h), (1600 / d.scale_factor(), 1200 / d.scale_factor()));
        assert_eq!(
            (min_w, min_h),
            (nat_w, nat_h),
            "an embedder's widget asks for the whole zoomed guest"
        );
        d.set_shrinkable(true);
        let (min_w, _, _, _) = d.measure(gtk::Orientation::Horizontal, -1);
        let (min_h, _, _, _) = d.measure(gtk::Orientation::Vertical, -1);
        assert!(
            min_w < nat_w && min_h < nat_h,
            "a zoom must not lock the window's size: minimum {min_w}x{min_h}"
        );
    }

    #[gtk::test]
    fn allocation_maps_widget_to_guest() {
        let d = display_with_guest(1024, 768);
        d.imp().set_overlay(OverlayState::Hidden);
        let s = d.scale_factor();
        d.size_allocate(&gtk::Allocation::new(0, 0, 2048 / s, 2000 / s), -1);
        let p = d.placement().expect("placement");
        assert_eq!((p.device_width, p.device_height), (2048, 1536));
        let to_guest = d.to_guest_fn();
        let (wx, wy) = d.guest_to_widget(512.5, 384.5).expect("inside");
        assert_eq!(to_guest(wx, wy), Some((512, 384)));
        assert_eq!(to_guest(1.0, 1.0), None, "letterbox");
        d.set_only_downscale(true);
        let p = d.placement().expect("placement");
        assert!(p.is_one_to_one());
    }
}
