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

/// Receives the damaged rectangles while the display state is locked.
pub(super) trait Sink {
    /// Called first: returns true when everything must be copied again.
    fn prepare(&mut self, source: &Source) -> bool;
    /// Copies `areas` out of `surface`.
    fn copy(&mut self, source: &Source, surface: &Surface, areas: &[Area]);
    /// Whether this sink keeps its own copy of the image that can replay
    /// moves (the X11 and GL layers): then [`Self::sync`] is called instead of
    /// [`Self::copy`].
    fn follows_journal(&self) -> bool {
        false
    }
    /// Brings the sink's copy up to date through the state's journal (only
    /// what was drawn is copied; moves are replayed), everything again when
    /// `full`.
    fn sync(&mut self, _source: &Source, _state: &mut crate::display::DisplayState, _full: bool) {}
}

impl Sink for CairoLayer {
    fn prepare(&mut self, source: &Source) -> bool {
        CairoLayer::prepare(self, source)
    }

    fn copy(&mut self, _source: &Source, surface: &Surface, areas: &[Area]) {
        self.update(surface, areas);
    }
}

impl Sink for GlLayer {
    fn prepare(&mut self, source: &Source) -> bool {
        self.needs_full(source)
    }

    fn copy(&mut self, source: &Source, surface: &Surface, areas: &[Area]) {
        self.stage(source, surface, areas);
    }

    fn follows_journal(&self) -> bool {
        true
    }

    fn sync(&mut self, source: &Source, state: &mut crate::display::DisplayState, full: bool) {
        GlLayer::sync(self, source, state, full);
    }
}

/// The OpenGL screen layer's plumbing (GLArea callbacks).
mod gl;
/// The X11 screen layer's plumbing (`queue_x11_present` and friends).
mod x11;

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
        let mut minimum = if self.scaling.get() { 1 } else { natural };
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
        let obj = self.obj();
        let (width, height) = (f64::from(obj.width()), f64::from(obj.height()));
        let gl_area = {
            let mut screen = self.screen.borrow_mut();
            match &mut *screen {
                Screen::Cairo(layer) => {
                    if layer.set_kind(NodeKind::for_widget(obj.upcast_ref())) {
                        self.damage.borrow_mut().set_full();
                    }
                    self.pull(layer);
                    match self.placement(width, height) {
                        Some(p) => {
                            // Black only around the guest image: under it,
                            // a fill would be painted again on every frame.
                            for (x, y, w, h) in letterbox(width, height, p.logical_rect()) {
                                snapshot.append_color(&gdk::RGBA::BLACK, &graphene::Rect::new(x, y, w, h));
                            }
                            layer.snapshot(snapshot, &p);
                        }
                        None => snapshot.append_color(
                            &gdk::RGBA::BLACK,
                            &graphene::Rect::new(0.0, 0.0, width as f32, height as f32),
                        ),
                    }
                    None
                }
                Screen::Gl { area, .. } => {
                    snapshot.append_color(
                        &gdk::RGBA::BLACK,
                        &graphene::Rect::new(0.0, 0.0, width as f32, height as f32),
                    );
                    Some(area.clone())
                }
                // The child window shows the guest; GTK's drawing under it is
                // clipped away. Black shows around it and while it is hidden.
                #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
                Screen::X11(_) => {
                    snapshot.append_color(
                        &gdk::RGBA::BLACK,
                        &graphene::Rect::new(0.0, 0.0, width as f32, height as f32),
                    );
                    None
                }
                Screen::None => {
                    snapshot.append_color(
                        &gdk::RGBA::BLACK,
                        &graphene::Rect::new(0.0, 0.0, width as f32, height as f32),
                    );
                    None
                }
            }
        };
        // A redraw may come from a move of the widget in its window.
        self.queue_x11_present();
        // The GLArea renders (gl_render, which borrows the screen) inside its snapshot.
        if let Some(area) = gl_area {
            obj.snapshot_child(&area, snapshot);
        }
        if let (Some(p), Some(s)) = (
            self.placement(f64::from(obj.width()), f64::from(obj.height())),
            self.source.get(),
        ) {
            let (ox, oy) = (f64::from(s.rect.x), f64::from(s.rect.y));
            let to_widget = |gx: f64, gy: f64| p.guest_to_widget(gx - ox, gy - oy);
            self.cursor
                .borrow()
                .snapshot(snapshot, &to_widget, p.factors().0 / p.scale_factor);
        }
        if let Some(o) = self.overlay.borrow().as_ref() {
            obj.snapshot_child(o.widget(), snapshot);
        }
    }
}

impl Display {
    fn set_scaling(&self, v: bool) {
        if self.scaling.replace(v) != v {
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

    /// Locks the shared state only to copy the damaged rectangles into `sink`.
    pub(super) fn pull(&self, sink: &mut dyn Sink) -> Option<Source> {
        let state = self
            .session
            .borrow()
            .as_ref()
            .and_then(|s| s.display_state(self.channel_id.get()))?;
        let mut guard = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let source = Source::resolve(&guard, self.monitor_id.get());
        self.update_source(source);
        let source = source?;
        if sink.prepare(&source) {
            self.damage.borrow_mut().set_full();
        }
        if sink.follows_journal() {
            // The journal says what changed; the damage only woke us.
            let full = self.damage.borrow().is_full();
            self.damage.borrow_mut().clear();
            sink.sync(&source, &mut guard, full);
            return Some(source);
        }
        let areas = self.damage.borrow_mut().take(&source);
        if !areas.is_empty()
            && let Some(surface) = guard.surface(source.surface_id)
        {
            sink.copy(&source, surface, &areas);
        }
        Some(source)
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
        }
    }

    pub(super) fn set_overlay(&self, state: OverlayState) {
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
        }
    }

    /// The renderer to start with: the property, else `SUMAC_RENDERER`, else GL.
    fn wanted_renderer(&self) -> Renderer {
        match self.renderer.get() {
            Renderer::Auto => std::env::var("SUMAC_RENDERER")
                .ok()
                .and_then(|v| Renderer::from_name(&v))
                .unwrap_or(Renderer::Auto),
            r => r,
        }
    }

    /// (Re)creates the screen layer for the wanted renderer.
    pub(super) fn setup_screen(&self) {
        self.teardown_screen();
        let wanted = self.wanted_renderer();
        // GTK itself draws with cairo: a GLArea's image would be read back
        // from GL on every frame.
        if wanted == Renderer::X11 || (wanted == Renderer::Auto && super::gsk_cairo_chosen()) {
            #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
            if super::x11_layer::X11Layer::available(self.obj().upcast_ref()) {
                self.use_x11();
                return;
            }
            if wanted == Renderer::X11 {
                tracing::warn!("the x11 renderer needs GTK on X11 (and the x11 feature): using cairo");
            }
        }
        if matches!(wanted, Renderer::Cairo | Renderer::X11) || (wanted == Renderer::Auto && super::gsk_cairo_chosen())
        {
            self.use_cairo(None);
            return;
        }
        let area = gtk::GLArea::builder()
            .auto_render(false)
            .has_depth_buffer(false)
            .has_stencil_buffer(false)
            .can_target(false)
            .focusable(false)
            .build();
        let weak = self.obj().downgrade();
        area.connect_realize(move |area| {
            if let Some(d) = weak.upgrade() {
                d.imp().gl_realized(area);
            }
        });
        let weak = self.obj().downgrade();
        area.connect_unrealize(move |area| {
            if let Some(d) = weak.upgrade() {
                d.imp().gl_unrealized(area);
            }
        });
        let weak = self.obj().downgrade();
        area.connect_render(move |area, _| {
            if let Some(d) = weak.upgrade() {
                d.imp().gl_render(area);
            }
            glib::Propagation::Stop
        });
        let obj = self.obj();
        let overlay = self
            .overlay
            .borrow()
            .as_ref()
            .map(|o| o.widget().clone().upcast::<gtk::Widget>());
        area.insert_before(&*obj, overlay.as_ref());
        self.screen.replace(Screen::Gl { area, layer: None });
        self.damage.borrow_mut().set_full();
        obj.queue_resize();
    }

    fn teardown_screen(&self) {
        let old = self.screen.replace(Screen::None);
        match old {
            Screen::Gl { area, layer } => {
                if let Some(layer) = layer {
                    area.make_current();
                    (*layer).destroy();
                }
                area.unparent();
            }
            #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
            Screen::X11(mut layer) => layer.unrealize(),
            _ => {}
        }
        self.x11_pending.set(false);
        self.active.set(None);
    }

    /// Switches to the cairo layer (`why`: the GL failure that caused it).
    fn use_cairo(&self, why: Option<String>) {
        if let Some(why) = &why {
            tracing::warn!(reason = %why, "OpenGL unavailable for the display, using cairo");
        }
        self.teardown_screen();
        self.screen.replace(Screen::Cairo(CairoLayer::default()));
        self.set_active(Renderer::Cairo);
        self.damage.borrow_mut().set_full();
        self.obj().queue_draw();
    }

    pub(super) fn set_active(&self, r: Renderer) {
        if self.active.replace(Some(r)) != Some(r) {
            tracing::info!(
                renderer = r.name(),
                channel = self.channel_id.get(),
                monitor = self.monitor_id.get(),
                "display renderer active"
            );
        }
    }

    /// Falls back to cairo from the main loop (not inside a GLArea callback).
    pub(super) fn fall_back_later(&self, why: String) {
        let weak = self.obj().downgrade();
        glib::idle_add_local_once(move || {
            if let Some(d) = weak.upgrade() {
                d.imp().use_cairo(Some(why));
            }
        });
    }
}

/// The parts of a `width` × `height` widget around the guest image at
/// `image` (x, y, w, h), as non-empty rectangles: top, bottom, left, right.
fn letterbox(width: f64, height: f64, image: (f64, f64, f64, f64)) -> Vec<(f32, f32, f32, f32)> {
    let (x, y, w, h) = image;
    let (x0, y0) = (x.clamp(0.0, width), y.clamp(0.0, height));
    let (x1, y1) = ((x + w).clamp(0.0, width), (y + h).clamp(0.0, height));
    [
        (0.0, 0.0, width, y0),
        (0.0, y1, width, height - y1),
        (0.0, y0, x0, y1 - y0),
        (x1, y0, width - x1, y1 - y0),
    ]
    .into_iter()
    .filter(|&(_, _, w, h)| w > 0.0 && h > 0.0)
    .map(|(x, y, w, h)| (x as f32, y as f32, w as f32, h as f32))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::letterbox;

    #[test]
    fn letterbox_covers_exactly_the_rest_of_the_widget() {
        // Centred horizontally: a left and a right bar.
        assert_eq!(
            letterbox(100.0, 50.0, (10.0, 0.0, 80.0, 50.0)),
            vec![(0.0, 0.0, 10.0, 50.0), (90.0, 0.0, 10.0, 50.0)]
        );
        // Image covering the widget: nothing.
        assert!(letterbox(100.0, 50.0, (0.0, 0.0, 100.0, 50.0)).is_empty());
        // Zoomed beyond the widget (scrolled negative): nothing either.
        assert!(letterbox(100.0, 50.0, (-20.0, -5.0, 300.0, 80.0)).is_empty());
        // Top-left image: bottom and right bars; areas add up.
        let bars = letterbox(100.0, 50.0, (0.0, 0.0, 60.0, 30.0));
        let area: f32 = bars.iter().map(|b| b.2 * b.3).sum();
        assert_eq!(area, 100.0 * 50.0 - 60.0 * 30.0);
    }
}
