//! Full screen: no window frame around the guest, and a toolbar
//! (`ui/fullscreen-toolbar.ui`: leave full screen, Send Key, the main menu)
//! revealed when the pointer reaches the top edge, hidden again when it
//! leaves the toolbar, as remote-viewer, Boxes and Connections do.

use super::*;

/// How close to the top edge (logical pixels) the pointer reveals the toolbar.
const REVEAL_EDGE: f64 = 2.0;

/// GTK draws a frame (for resize handles) around a window with client-side
/// decorations when no compositor runs; a full-screen guest has none.
const CSS: &str = "window.sumac-session-window.fullscreen { padding: 0; margin: 0; border: none; \
                   box-shadow: none; border-radius: 0; outline: none; }\n\
                   .sumac-fullscreen-toolbar { padding: 6px; border-radius: 0 0 12px 12px; }";

/// The full-screen toolbar over the display.
#[derive(Debug)]
pub struct FullscreenToolbar {
    /// The window's child: the display with the toolbar over it.
    pub overlay: gtk::Overlay,
    revealer: gtk::Revealer,
    menus: [gtk::MenuButton; 2],
}

impl FullscreenToolbar {
    /// The overlay holding `display`, with the toolbar's menus from the header bar's models.
    pub fn new(display: &Display, send_keys: Option<&gio::MenuModel>, menu: Option<&gio::MenuModel>) -> Self {
        install_css();
        let builder = gtk::Builder::from_string(include_str!("../../../ui/fullscreen-toolbar.ui"));
        let revealer: gtk::Revealer = builder.object("revealer").unwrap_or_default();
        let send_keys_button: gtk::MenuButton = builder.object("send_keys").unwrap_or_default();
        let menu_button: gtk::MenuButton = builder.object("menu").unwrap_or_default();
        send_keys_button.set_menu_model(send_keys);
        menu_button.set_menu_model(menu);
        let overlay = gtk::Overlay::new();
        overlay.set_child(Some(display));
        overlay.add_overlay(&revealer);
        revealer.set_visible(false);
        Self {
            overlay,
            revealer,
            menus: [send_keys_button, menu_button],
        }
    }

    /// Follows the pointer while `window` is full screen.
    pub fn attach(self: &Rc<Self>, window: &gtk::ApplicationWindow) {
        let motion = gtk::EventControllerMotion::new();
        motion.set_propagation_phase(gtk::PropagationPhase::Capture);
        let weak = Rc::downgrade(self);
        let win = window.downgrade();
        motion.connect_motion(move |_, _x, y| {
            let (Some(this), Some(win)) = (weak.upgrade(), win.upgrade()) else {
                return;
            };
            if !win.is_fullscreen() {
                return;
            }
            tracing::trace!(y, "pointer over the full-screen window");
            let shown = this.revealer.reveals_child();
            let menu_open = this.menus.iter().any(|m| m.popover().is_some_and(|p| p.is_visible()));
            if !shown && y <= REVEAL_EDGE {
                tracing::debug!("full-screen toolbar revealed");
                this.revealer.set_reveal_child(true);
            } else if shown && !menu_open && y > f64::from(this.revealer.height()) + 8.0 {
                this.revealer.set_reveal_child(false);
            }
        });
        window.add_controller(motion);
        let weak = Rc::downgrade(self);
        window.connect_fullscreened_notify(move |w| {
            if let Some(this) = weak.upgrade() {
                this.revealer.set_reveal_child(false);
                this.revealer.set_visible(w.is_fullscreen());
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
