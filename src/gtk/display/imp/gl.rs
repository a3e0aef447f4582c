//! The OpenGL screen layer's plumbing in the widget: the GLArea's realize,
//! unrealize and render (the layer itself is `gl_layer.rs`).

use super::*;

impl Display {
    pub(super) fn gl_realized(&self, area: &gtk::GLArea) {
        area.make_current();
        if let Some(e) = area.error() {
            self.fall_back_later(e.to_string());
            return;
        }
        if self.wanted_renderer() == Renderer::Auto && NodeKind::for_widget(area.upcast_ref()) == NodeKind::Cairo {
            self.fall_back_later("GTK draws this window with cairo".to_owned());
            return;
        }
        let es = area.context().is_some_and(|c| c.uses_es());
        match GlLayer::new(es) {
            Ok(layer) => {
                if let Screen::Gl { layer: slot, .. } = &mut *self.screen.borrow_mut() {
                    *slot = Some(Box::new(layer));
                }
                self.set_active(Renderer::Gl);
                self.damage.borrow_mut().set_full();
            }
            Err(e) => self.fall_back_later(e.to_string()),
        }
    }

    pub(super) fn gl_unrealized(&self, area: &gtk::GLArea) {
        let layer = match &mut *self.screen.borrow_mut() {
            Screen::Gl { layer, .. } => layer.take(),
            _ => None,
        };
        if let Some(layer) = layer {
            area.make_current();
            if area.error().is_none() {
                (*layer).destroy();
            }
        }
    }

    pub(super) fn gl_render(&self, area: &gtk::GLArea) {
        let mut screen = self.screen.borrow_mut();
        let Screen::Gl { layer: Some(layer), .. } = &mut *screen else {
            return;
        };
        if let Some(source) = self.pull(&mut **layer)
            && let Err(e) = layer.upload(&source)
        {
            drop(screen);
            self.fall_back_later(e.to_string());
            return;
        }
        let scale = area.scale_factor();
        let fb_w = area.width().saturating_mul(scale);
        let fb_h = area.height().saturating_mul(scale);
        let placement = self.placement(f64::from(area.width()), f64::from(area.height()));
        layer.draw(fb_w, fb_h, placement.as_ref());
    }
}
