//! The "Connecting…" spinner, drawn with cairo.
//!
//! `GtkSpinner` draws the theme's `process-working-symbolic` icon, which
//! Adwaita ships as SVG only: showing it for the first second of a session
//! loads gdk-pixbuf's SVG loader, librsvg and libxml2, about 7 MiB of RSS the
//! process then keeps for its whole life. An arc turning on the frame clock
//! looks the same and costs nothing once stopped.

use gtk::prelude::*;
use std::cell::RefCell;
use std::f64::consts::PI;

/// One turn per second, like GtkSpinner.
const TURN_US: i64 = 1_000_000;

#[derive(Debug)]
pub(crate) struct Spinner {
    area: gtk::DrawingArea,
    tick: RefCell<Option<gtk::TickCallbackId>>,
}

impl Spinner {
    pub(crate) fn new(size: i32) -> Self {
        let area = gtk::DrawingArea::builder()
            .content_width(size)
            .content_height(size)
            .halign(gtk::Align::Center)
            .build();
        area.set_draw_func(|area, cr, w, h| {
            let t = area.frame_clock().map_or(0, |c| c.frame_time());
            let turn = (t.rem_euclid(TURN_US)) as f64 / TURN_US as f64;
            let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
            let line = (f64::from(w.min(h)) / 10.0).max(2.0);
            let radius = f64::from(w.min(h)) / 2.0 - line;
            if radius <= 0.0 {
                return;
            }
            #[allow(deprecated)] // GtkWidget::color() is GTK 4.10; this builds against 4.8.
            let c = area.style_context().color();
            cr.set_line_width(line);
            cr.set_line_cap(gtk::cairo::LineCap::Round);
            // The track, faint, then the turning arc.
            cr.set_source_rgba(f64::from(c.red()), f64::from(c.green()), f64::from(c.blue()), 0.2);
            cr.arc(cx, cy, radius, 0.0, 2.0 * PI);
            let _ = cr.stroke();
            let start = turn * 2.0 * PI - PI / 2.0;
            cr.set_source_rgba(
                f64::from(c.red()),
                f64::from(c.green()),
                f64::from(c.blue()),
                f64::from(c.alpha()),
            );
            cr.arc(cx, cy, radius, start, start + PI * 0.75);
            let _ = cr.stroke();
        });
        Spinner {
            area,
            tick: RefCell::new(None),
        }
    }

    pub(crate) fn widget(&self) -> &gtk::DrawingArea {
        &self.area
    }

    #[cfg(test)]
    fn is_spinning(&self) -> bool {
        self.tick.borrow().is_some()
    }

    pub(crate) fn start(&self) {
        if self.tick.borrow().is_some() {
            return;
        }
        let id = self.area.add_tick_callback(|area, _| {
            area.queue_draw();
            gtk::glib::ControlFlow::Continue
        });
        self.tick.replace(Some(id));
    }

    pub(crate) fn stop(&self) {
        if let Some(id) = self.tick.take() {
            id.remove();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[gtk::test]
    fn starts_and_stops() {
        let s = Spinner::new(32);
        assert!(!s.is_spinning());
        s.start();
        s.start();
        assert!(s.is_spinning());
        s.stop();
        assert!(!s.is_spinning());
        assert_eq!(s.widget().content_width(), 32);
    }
}
