//! Choosing, creating and replacing the screen layer: GL (a GLArea child),
//! the X11 child window or cairo, and the fall-back to cairo when GL or X11
//! fails.

use super::*;

impl Display {
    /// The renderer to start with: the property, else `SUMAC_RENDERER`, else GL.
    pub(super) fn wanted_renderer(&self) -> Renderer {
        match self.renderer.get() {
            Renderer::Auto => std::env::var("SUMAC_RENDERER")
                .ok()
                .and_then(|v| Renderer::from_name(&v))
                .unwrap_or(Renderer::Auto),
            r => r,
        }
    }

    /// (Re)creates the screen layer for the wanted renderer.
    pub(in crate::gtk::display) fn setup_screen(&self) {
        self.teardown_screen();
        let wanted = self.wanted_renderer();
        // GTK itself draws with cairo: a GLArea's image would be read back
        // from GL on every frame.
        if wanted == Renderer::X11 || (wanted == Renderer::Auto && crate::gtk::display::gsk_cairo_chosen()) {
            #[cfg(all(feature = "x11", unix, not(target_os = "macos")))]
            if crate::gtk::display::x11_layer::X11Layer::available(self.obj().upcast_ref()) {
                self.use_x11();
                return;
            }
            if wanted == Renderer::X11 {
                tracing::warn!("the x11 renderer needs GTK on X11 (and the x11 feature): using cairo");
            }
        }
        if matches!(wanted, Renderer::Cairo | Renderer::X11)
            || (wanted == Renderer::Auto && crate::gtk::display::gsk_cairo_chosen())
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

    pub(super) fn teardown_screen(&self) {
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
    pub(super) fn use_cairo(&self, why: Option<String>) {
        if let Some(why) = &why {
            tracing::warn!(reason = %why, "OpenGL unavailable for the display, using cairo");
        }
        self.teardown_screen();
        self.screen.replace(Screen::Cairo(CairoLayer::default()));
        self.set_active(Renderer::Cairo);
        self.damage.borrow_mut().set_full();
        self.obj().queue_draw();
    }

    pub(in crate::gtk::display) fn set_active(&self, r: Renderer) {
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
    pub(in crate::gtk::display) fn fall_back_later(&self, why: String) {
        let weak = self.obj().downgrade();
        glib::idle_add_local_once(move || {
            if let Some(d) = weak.upgrade() {
                d.imp().use_cairo(Some(why));
            }
        });
    }
}
