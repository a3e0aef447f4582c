//! The widget's drawing (`WidgetImpl::snapshot`): the screen layer (cairo
//! tiles with black bars around the guest image, the GLArea child, or
//! nothing under the X11 child window), the server-mode cursor, the overlay.

use super::*;

impl Display {
    pub(super) fn draw(&self, snapshot: &gtk::Snapshot) {
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
