//! The GObject implementation of [`Display`](super::Display): properties,
//! layout, snapshot and the screen layers' plumbing.

use super::Renderer;
use super::cairo_layer::{CairoLayer, NodeKind};
use super::cursor::CursorLayer;
use super::damage::{Area, Damage, Source};
use super::gl_layer::GlLayer;
use super::input::InputHandler;
use super::overlay::{Overlay, OverlayState};
use super::scaling::{self, Placement, Viewport};
use crate::display::{DisplayEvent, Surface};
use crate::gtk::Session;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gdk, graphene};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Where the screen layer keeps its pixels.
#[derive(Debug, Default)]
pub(super) enum Screen {
    /// Not set up yet (before construction finished).
    #[default]
    None,
    /// Software rendering into the widget's snapshot.
    Cairo(CairoLayer),
    /// A GLArea child; `layer` exists while the area is realized.
    Gl {
        area: gtk::GLArea,
        layer: Option<Box<GlLayer>>,
    },
    /// A child X window painted by the X server (X11 only).
    #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
    X11(Box<super::x11_layer::X11Layer>),
}

/// The OpenGL screen layer's plumbing (GLArea callbacks).
mod gl;
/// Choosing, creating and replacing the screen layer.
mod screen;
/// Copying damaged pixels out of the shared state into a layer.
mod sink;
/// The widget's drawing: screen layer, cursor, overlay.
mod snapshot;
/// The X11 screen layer's plumbing (`queue_x11_present` and friends).
mod x11;
pub(super) use sink::Sink;

#[derive(glib::Properties)]
#[properties(wrapper_type = super::Display)]
pub struct Display {
    /// Fit the guest image into the widget keeping its aspect ratio (default);
    /// when false, show it at `zoom-level`.
    #[property(get, set = Self::set_scaling, default = true)]
    pub(super) scaling: Cell<bool>,
    /// With `scaling`: never enlarge beyond 100 %.
    #[property(get, set = Self::set_only_downscale)]
    pub(super) only_downscale: Cell<bool>,
    /// Zoom level in percent used when `scaling` is false; values outside
    /// 10–400 are clamped (not rejected).
    #[property(get, set = Self::set_zoom_level, default = 100)]
    pub(super) zoom_level: Cell<u32>,
    /// When `scaling` is false: the widget may be made smaller than the
    /// zoomed guest, which is then scaled down to fit (the app: a zoom never
    /// locks the window's size). Off by default: an embedder's widget asks
    /// for the whole zoomed guest, as spice-gtk's does, so 100 % stays 1:1.
    #[property(get, set = Self::set_shrinkable)]
    pub(super) shrinkable: Cell<bool>,
    /// The requested screen renderer.
    #[property(get, set = Self::set_renderer, builder(Renderer::Auto))]
    pub(super) renderer: Cell<Renderer>,
    /// Whether the guest screen has been drawn completely once.
    #[property(get)]
    pub(super) ready: Cell<bool>,
    /// Whether the pointer is grabbed (server mouse mode).
    #[property(get)]
    pub(super) mouse_grabbed: Cell<bool>,
    /// Whether the keyboard is grabbed (system shortcuts go to the guest).
    #[property(get)]
    pub(super) keyboard_grabbed: Cell<bool>,

    pub(super) session: RefCell<Option<Session>>,
    pub(super) channel_id: Cell<u8>,
    pub(super) monitor_id: Cell<u32>,
    pub(super) source: Cell<Option<Source>>,
    pub(super) damage: RefCell<Damage>,
    pub(super) screen: RefCell<Screen>,
    pub(super) overlay: RefCell<Option<Overlay>>,
    /// The renderer in use once decided.
    pub(super) active: Cell<Option<Renderer>>,
    /// The guest cursor (GdkCursor in client mouse mode, drawn in server mode).
    pub(super) cursor: RefCell<CursorLayer>,
    /// Keyboard and mouse handling of the running session.
    pub(super) input: RefCell<Option<Rc<InputHandler>>>,
    /// The release hotkey set by the embedder (`None`: the input layer's default).
    pub(super) release_hotkey: RefCell<Option<super::input::Hotkey>>,
    /// A present of the X11 layer is scheduled.
    pub(super) x11_pending: Cell<bool>,
    /// When the X11 layer was last presented.
    pub(super) x11_last: Cell<Option<std::time::Instant>>,
}

impl Default for Display {
    fn default() -> Self {
        Self {
            scaling: Cell::new(true),
            only_downscale: Cell::new(false),
            zoom_level: Cell::new(100),
            shrinkable: Cell::new(false),
            renderer: Cell::new(Renderer::Auto),
            ready: Cell::new(false),
            mouse_grabbed: Cell::new(false),
            keyboard_grabbed: Cell::new(false),
            session: RefCell::new(None),
            channel_id: Cell::new(0),
            monitor_id: Cell::new(0),
            source: Cell::new(None),
            damage: RefCell::new(Damage::default()),
            screen: RefCell::new(Screen::None),
            overlay: RefCell::new(None),
            active: Cell::new(None),
            cursor: RefCell::new(CursorLayer::new()),
            input: RefCell::new(None),
            release_hotkey: RefCell::new(None),
            x11_pending: Cell::new(false),
            x11_last: Cell::new(None),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Display {
    const NAME: &'static str = "SumacDisplay";
    type Type = super::Display;
    type ParentType = gtk::Widget;

    fn class_init(klass: &mut Self::Class) {
        klass.set_css_name("sumac-display");
        klass.set_accessible_role(gtk::AccessibleRole::Img);
    }
}

#[glib::derived_properties]
impl ObjectImpl for Display {
    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: std::sync::OnceLock<Vec<glib::subclass::Signal>> = std::sync::OnceLock::new();
        SIGNALS.get_or_init(|| {
            vec![
                // The pointer moved over the display: (x, y) in the widget's logical pixels.
                glib::subclass::Signal::builder("pointer-moved")
                    .param_types([f64::static_type(), f64::static_type()])
                    .build(),
            ]
        })
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_focusable(true);
        obj.set_overflow(gtk::Overflow::Hidden);
        let overlay = Overlay::new();
        overlay.widget().set_parent(&*obj);
        let weak = obj.downgrade();
        overlay.connect_cancel(move || {
            if let Some(session) = weak.upgrade().and_then(|d| d.session()) {
                session.cancel_reconnect();
            }
        });
        self.overlay.replace(Some(overlay));
        // `pointer-moved`: where the pointer is over the display, for the
        // embedder (the X11 layer's child window keeps the pointer's events
        // GTK's, so one controller sees them whichever layer draws).
        let motion = gtk::EventControllerMotion::new();
        let weak = obj.downgrade();
        let moved = move |x: f64, y: f64| {
            if let Some(d) = weak.upgrade() {
                d.emit_by_name::<()>("pointer-moved", &[&x, &y]);
            }
        };
        let enter = moved.clone();
        motion.connect_enter(move |_, x, y| enter(x, y));
        motion.connect_motion(move |_, x, y| moved(x, y));
        obj.add_controller(motion);
        obj.connect_scale_factor_notify(|d| {
            d.imp().damage.borrow_mut().set_full();
            d.queue_resize();
            d.imp().queue_redraw();
        });
    }

    fn dispose(&self) {
        self.teardown_screen();
        if let Some(o) = self.overlay.take() {
            o.widget().unparent();
        }
    }
}

impl WidgetImpl for Display {
    fn measure(&self, orientation: gtk::Orientation, _for_size: i32) -> (i32, i32, i32, i32) {
        let obj = self.obj();
        let (nw, nh) = match self.source.get() {
            Some(s) => scaling::natural_size(
                s.rect.w,
                s.rect.h,
                self.scaling.get(),
                self.zoom_level.get(),
                f64::from(obj.scale_factor()),
            ),
            None => (640, 480),
        };
        let natural = if orientation == gtk::Orientation::Horizontal {
            nw
        } else {
            nh
        };
        // Shrinkable: small whatever the zoom; a zoomed guest larger than the
        // window is scaled down to fit (see `scaling::place`), never a window
        // that cannot be made smaller.
        let mut minimum = if self.scaling.get() || self.shrinkable.get() {
            1
        } else {
            natural
        };
        if let Some(o) = self.overlay.borrow().as_ref()
            && o.widget().is_visible()
        {
            let (m, _, _, _) = o.widget().measure(orientation, -1);
            minimum = minimum.max(m);
        }
        (minimum, natural.max(minimum), -1, -1)
    }

    fn size_allocate(&self, width: i32, height: i32, baseline: i32) {
        let gl_area = match &*self.screen.borrow() {
            Screen::Gl { area, .. } => Some(area.clone()),
            _ => None,
        };
        if let Some(area) = gl_area {
            area.allocate(width, height, baseline, None);
        }
        if let Some(o) = self.overlay.borrow().as_ref()
            && o.widget().is_visible()
        {
            o.widget().allocate(width, height, baseline, None);
        }
        self.update_cursor_scale();
        self.queue_x11_present();
        self.guest_resize_hint();
    }

    fn realize(&self) {
        self.parent_realize();
        self.x11_realize();
    }

    fn unrealize(&self) {
        self.x11_unrealize();
        self.parent_unrealize();
    }

    fn map(&self) {
        self.parent_map();
        self.x11_pending.set(false);
        self.queue_x11_present();
    }

    fn unmap(&self) {
        self.x11_hide();
        self.parent_unmap();
    }

    fn snapshot(&self, snapshot: &gtk::Snapshot) {
        self.draw(snapshot);
    }
}

impl Display {
    fn set_scaling(&self, v: bool) {
        if self.scaling.replace(v) != v {
            self.layout_changed();
        }
    }

    fn set_shrinkable(&self, v: bool) {
        if self.shrinkable.replace(v) != v {
            self.layout_changed();
        }
    }

    fn set_only_downscale(&self, v: bool) {
        if self.only_downscale.replace(v) != v {
            self.layout_changed();
        }
    }

    fn set_zoom_level(&self, v: u32) {
        let v = scaling::clamp_zoom(v);
        if self.zoom_level.replace(v) != v {
            self.layout_changed();
        }
    }

    fn set_renderer(&self, v: Renderer) {
        if self.renderer.replace(v) != v && !matches!(*self.screen.borrow(), Screen::None) {
            self.setup_screen();
        }
    }

    fn layout_changed(&self) {
        self.obj().queue_resize();
        self.queue_redraw();
    }

    /// Tells the cursor layer how many logical pixels a guest pixel takes.
    fn update_cursor_scale(&self) {
        let obj = self.obj();
        if let Some(p) = self.placement(f64::from(obj.width()), f64::from(obj.height())) {
            self.cursor
                .borrow_mut()
                .set_guest_scale(p.factors().0 / p.scale_factor, obj.upcast_ref());
        }
    }

    /// Asks for a new frame of the screen layer (coalesced by the frame clock).
    pub(super) fn queue_redraw(&self) {
        if self.is_x11() {
            self.queue_x11_present();
            return;
        }
        let gl_area = match &*self.screen.borrow() {
            Screen::Gl { area, .. } => Some(area.clone()),
            _ => None,
        };
        match gl_area {
            Some(area) => area.queue_render(),
            None => self.obj().queue_draw(),
        }
    }

    /// Where the guest image goes in a `width` × `height` (logical) area.
    pub(super) fn placement(&self, width: f64, height: f64) -> Option<Placement> {
        let s = self.source.get()?;
        scaling::place(&Viewport {
            guest_width: s.rect.w,
            guest_height: s.rect.h,
            widget_width: width,
            widget_height: height,
            scale_factor: f64::from(self.obj().scale_factor()),
            fit: self.scaling.get(),
            only_downscale: self.only_downscale.get(),
            zoom_percent: self.zoom_level.get(),
        })
    }

    /// Records a new source; a change means a new layout and a full redraw.
    fn update_source(&self, source: Option<Source>) {
        let old = self.source.replace(source);
        if old == source {
            return;
        }
        self.damage.borrow_mut().set_full();
        let size_changed = old.map(|s| (s.rect.w, s.rect.h)) != source.map(|s| (s.rect.w, s.rect.h));
        if size_changed {
            // Not from inside a snapshot or render: defer to the main loop.
            let weak = self.obj().downgrade();
            glib::idle_add_local_once(move || {
                if let Some(d) = weak.upgrade() {
                    d.queue_resize();
                    d.imp().queue_redraw();
                }
            });
        }
    }

    /// Re-reads the source from the shared state (briefly locked, nothing copied).
    pub(super) fn refresh_source(&self) {
        let Some(state) = self
            .session
            .borrow()
            .as_ref()
            .and_then(|s| s.display_state(self.channel_id.get()))
        else {
            return;
        };
        let guard = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let source = Source::resolve(&guard, self.monitor_id.get());
        let marked = guard.is_marked();
        drop(guard);
        self.update_source(source);
        if marked {
            self.set_ready(true);
        }
    }

    /// Applies a cursor event; redraws when the drawn (server-mode) cursor changed.
    pub(super) fn handle_cursor_event(&self, event: &crate::client::events::CursorEvent) {
        let obj = self.obj();
        let widget: &gtk::Widget = obj.upcast_ref();
        let mut layer = self.cursor.borrow_mut();
        if let Some(p) = self.placement(f64::from(obj.width()), f64::from(obj.height())) {
            layer.set_guest_scale(p.factors().0 / p.scale_factor.max(1.0), widget);
        }
        if layer.handle(event, widget) {
            drop(layer);
            if self.is_x11() {
                self.queue_x11_present();
            } else {
                obj.queue_draw();
            }
        }
    }

    pub(super) fn handle_display_event(&self, event: &DisplayEvent) {
        match event {
            DisplayEvent::SurfaceCreated { primary: true, .. } | DisplayEvent::MonitorsConfig(_) => {
                self.refresh_source();
                self.queue_redraw();
            }
            DisplayEvent::SurfaceDestroyed { id } if self.source.get().is_some_and(|s| s.surface_id == *id) => {
                self.refresh_source();
                self.queue_redraw();
            }
            DisplayEvent::Damage { surface_id, rect } => {
                let Some(area) = Area::from_rect(rect) else { return };
                match self.source.get() {
                    Some(s) if s.surface_id == *surface_id => {
                        if area.intersect(&s.rect).is_some() {
                            self.damage.borrow_mut().add(*surface_id, area);
                            self.queue_redraw();
                        }
                    }
                    // The primary surface is not known yet: look again.
                    None => {
                        self.refresh_source();
                        self.queue_redraw();
                    }
                    Some(_) => {}
                }
            }
            DisplayEvent::Mark => self.set_ready(true),
            DisplayEvent::Reset => {
                self.refresh_source();
                self.queue_redraw();
            }
            _ => {}
        }
    }

    pub(super) fn set_ready(&self, ready: bool) {
        if self.ready.replace(ready) != ready {
            self.obj().notify_ready();
        }
        // A frame ends a wait, not an error (a channel of the session failed).
        let waiting = self.overlay.borrow().as_ref().is_some_and(|o| o.state().is_waiting());
        if ready && waiting {
            self.set_overlay(OverlayState::Hidden);
            self.guest_resize_hint();
        }
    }

    /// The guest may follow this display's size (the session's `resize-guest`).
    fn guest_resize_hint(&self) {
        let session = self.session.borrow().clone();
        if let Some(session) = session {
            session.schedule_guest_resize();
        }
    }

    pub(super) fn set_overlay(&self, state: OverlayState) {
        let state_is_hidden = state == OverlayState::Hidden;
        let changed = {
            let mut o = self.overlay.borrow_mut();
            match o.as_mut() {
                Some(o) if *o.state() != state => {
                    o.set_state(state);
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.obj().queue_resize();
            // Nothing is grabbed over the connecting or error screen.
            let input = self.input.borrow().clone();
            if let Some(input) = input {
                input.set_live(state_is_hidden);
            }
        }
    }
}
