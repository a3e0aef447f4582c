//! Full screen: no window frame around the guest, and a toolbar
//! (`ui/fullscreen-toolbar.ui`: leave full screen, Send Key, the main menu)
//! shown when the pointer reaches the top edge, hidden again when it goes
//! down over the guest, as remote-viewer, Boxes and Connections do.
//!
//! The toolbar is a popover (a surface of its own) rather than an overlay
//! in the window: the X11 screen layer is a child X window above everything
//! GTK draws inside the window. The pointer comes from the display's
//! `pointer-moved` signal, which reports it wherever the input goes (GTK's
//! events, or the windowing system's while the pointer is grabbed), and
//! from the window's own motion elsewhere. While the toolbar shows, the
//! display is told it is covered: no keyboard grab over the toolbar.

use super::*;

/// How close to the top edge (logical pixels) the pointer shows the toolbar.
const REVEAL_EDGE: f64 = 2.0;

/// How far below the toolbar the pointer hides it again (logical pixels).
const HIDE_BELOW: f64 = 8.0;

/// GTK draws a frame (for resize handles) around a window with client-side
/// decorations when no compositor runs; a full-screen guest has none.
const CSS: &str = "window.sumac-session-window.fullscreen { padding: 0; margin: 0; border: none; \
                   box-shadow: none; border-radius: 0; outline: none; }\n\
                   .sumac-fullscreen-toolbar { padding: 6px; }";

/// The full-screen toolbar of a session window.
#[derive(Debug)]
pub struct FullscreenToolbar {
    /// The window's child: the display, and the toolbar's anchor.
    pub overlay: gtk::Overlay,
    /// Built the first time it shows ([`FullscreenToolbar::built`]): most windows never go full screen.
    toolbar: std::cell::OnceCell<Built>,
    display: glib::WeakRef<Display>,
    send_keys: Option<gio::MenuModel>,
    menu: Option<gio::MenuModel>,
}

/// The toolbar's widgets.
#[derive(Debug)]
struct Built {
    popover: gtk::Popover,
    menus: [gtk::MenuButton; 2],
}

impl FullscreenToolbar {
    /// The overlay holding `display`, with the toolbar's menus from the header bar's models.
    pub fn new(display: &Display, send_keys: Option<&gio::MenuModel>, menu: Option<&gio::MenuModel>) -> Self {
        install_css();
        let overlay = gtk::Overlay::new();
        overlay.set_child(Some(display));
        Self {
            overlay,
            toolbar: std::cell::OnceCell::new(),
            display: display.downgrade(),
            send_keys: send_keys.cloned(),
            menu: menu.cloned(),
        }
    }

    /// The toolbar's widgets, built on first use (in `window`, which unparents them when destroyed).
    fn built(&self, window: &gtk::ApplicationWindow) -> &Built {
        self.toolbar.get_or_init(|| {
            let builder = gtk::Builder::from_string(include_str!("../../../ui/fullscreen-toolbar.ui"));
            let popover: gtk::Popover = builder.object("popover").unwrap_or_default();
            let send_keys_button: gtk::MenuButton = builder.object("send_keys").unwrap_or_default();
            let menu_button: gtk::MenuButton = builder.object("menu").unwrap_or_default();
            send_keys_button.set_menu_model(self.send_keys.as_ref());
            menu_button.set_menu_model(self.menu.as_ref());
            popover.set_parent(&self.overlay);
            // No keyboard grab while the toolbar shows: the pointer is on it.
            let covered = self.display.clone();
            popover.connect_visible_notify(move |p| {
                if let Some(d) = covered.upgrade() {
                    d.set_covered(p.is_visible());
                }
            });
            let unparent = popover.clone();
            window.connect_destroy(move |_| unparent.unparent());
            Built {
                popover,
                menus: [send_keys_button, menu_button],
            }
        })
    }

    /// Whether the toolbar shows.
    pub fn shown(&self) -> bool {
        self.toolbar.get().is_some_and(|t| t.popover.is_visible())
    }

    /// Shows or hides the toolbar for the pointer at height `y` (logical
    /// pixels from the top of the window) while `window` is full screen.
    fn pointer_at(&self, window: &gtk::ApplicationWindow, y: f64) {
        tracing::trace!(
            y,
            fullscreen = window.is_fullscreen(),
            "pointer over the session window"
        );
        if !window.is_fullscreen() {
            return;
        }
        let shown = self.shown();
        if !shown && y <= REVEAL_EDGE {
            let width = self.overlay.width();
            let popover = &self.built(window).popover;
            popover.set_pointing_to(Some(&gtk::gdk::Rectangle::new(width / 2, 0, 1, 1)));
            popover.popup();
            tracing::debug!("full-screen toolbar shown");
        } else if shown
            && !self.menu_open()
            && self
                .toolbar
                .get()
                .is_some_and(|t| y > f64::from(t.popover.height()) + HIDE_BELOW)
        {
            self.hide();
        }
    }

    fn menu_open(&self) -> bool {
        self.toolbar
            .get()
            .is_some_and(|t| t.menus.iter().any(|m| m.popover().is_some_and(|p| p.is_visible())))
    }

    fn hide(&self) {
        if let Some(t) = self.toolbar.get().filter(|_| self.shown()) {
            t.popover.popdown();
            tracing::debug!("full-screen toolbar hidden");
        }
    }

    /// Follows the pointer over `display` and the rest of `window` while it is full screen.
    pub fn attach(self: &Rc<Self>, window: &gtk::ApplicationWindow, display: &Display) {
        let weak = Rc::downgrade(self);
        let win = window.downgrade();
        display.connect_pointer_moved(move |d, x, y| {
            // A pointer grabbed by the guest (server mouse mode) is the guest's.
            if d.mouse_grabbed() {
                return;
            }
            if let (Some(this), Some(win)) = (weak.upgrade(), win.upgrade()) {
                // The display's position in the window (it is the window's whole child in full screen).
                let (_, wy) = d.translate_coordinates(&win, x, y).unwrap_or((x, y));
                this.pointer_at(&win, wy);
            }
        });
        let motion = gtk::EventControllerMotion::new();
        let weak = Rc::downgrade(self);
        let win = window.downgrade();
        let disp = display.downgrade();
        motion.connect_motion(move |_, _x, y| {
            if disp.upgrade().is_some_and(|d| d.mouse_grabbed()) {
                return;
            }
            if let (Some(this), Some(win)) = (weak.upgrade(), win.upgrade()) {
                this.pointer_at(&win, y);
            }
        });
        window.add_controller(motion);
        let weak = Rc::downgrade(self);
        window.connect_fullscreened_notify(move |_| {
            if let Some(this) = weak.upgrade() {
                this.hide();
            }
        });
    }
}

fn install_css() {
    thread_local! {
        static DONE: Cell<bool> = const { Cell::new(false) };
    }
    if DONE.with(|d| d.replace(true)) {
        return;
    }
    let Some(display) = gtk::gdk::Display::default() else {
        return;
    };
    let provider = gtk::CssProvider::new();
    provider.load_from_data(CSS);
    gtk::style_context_add_provider_for_display(&display, &provider, gtk::STYLE_PROVIDER_PRIORITY_APPLICATION);
}
