//! How a session window is sized: opened at the guest's size (shown once the
//! first frame is in, or after [`PRESENT_DEADLINE`] with "Connecting…"),
//! fitted again when the guest size or the zoom changes (in both
//! directions, within the monitor's work area, the window staying
//! resizable), and the Scale to Window toggle (`win.scale-to-window`).

use super::*;

/// How long a new window waits for the guest's first frame before it shows
/// anyway (with "Connecting…"): a window opens at the guest's size when the
/// server answers in time, without a jump from a default size.
pub const PRESENT_DEADLINE: std::time::Duration = std::time::Duration::from_millis(1500);

impl SessionWindow {
    /// Shows the window: now when the guest's size is known, else once it is
    /// (the first frame), an error is shown, or [`PRESENT_DEADLINE`] passed.
    pub fn present_when_sized(self: &Rc<Self>) {
        if self.display.ready() && self.display.guest_size().is_some() {
            self.fit_to_guest();
            self.window.present();
            return;
        }
        self.present_pending.set(true);
        let weak = Rc::downgrade(self);
        glib::timeout_add_local_once(PRESENT_DEADLINE, move || {
            if let Some(this) = weak.upgrade() {
                this.present_now();
            }
        });
    }

    /// Presents the window if it waits to be shown.
    pub(super) fn present_now(&self) {
        if self.present_pending.replace(false) && !self.closed.get() {
            tracing::debug!(guest = ?self.display.guest_size(), "presenting the window");
            self.window.present();
        }
    }

    /// Sizes the window so that the guest shows 1:1, one guest pixel per
    /// device pixel (at 2x HiDPI the window is half the guest's size in
    /// logical pixels), or at the zoom level, as remote-viewer does: when the
    /// guest size is first known and whenever it or the zoom changes, unless
    /// fullscreen or maximized.
    pub(super) fn fit_to_guest(&self) {
        let Some(size) = self.display.guest_size() else { return };
        if self.closed.get() || self.fitted.replace(Some(size)) == Some(size) {
            return;
        }
        if self.window.is_fullscreen() || self.window.is_maximized() {
            return;
        }
        tracing::debug!(
            width = size.0,
            height = size.1,
            zoom = self.display.zoom_level(),
            scaling = self.display.scaling(),
            scale = self.window.scale_factor(),
            mapped = self.window.is_mapped(),
            "sizing the window to the guest"
        );
        // The window's natural size: the header bar over the display at its
        // natural size, which is the guest at 100 % in device pixels (or at
        // the zoom). The display queues its own resize later (from an
        // idle): drop its cached size request now, or the window would take
        // the previous guest size.
        self.display.queue_resize();
        match self.work_area() {
            // Not shown yet: -1 is the natural size, which GTK keeps within
            // the monitor's work area when it first maps the window.
            None => self.window.set_default_size(-1, -1),
            // Shown: GTK never shrinks a window to its natural size by
            // itself (it keeps the larger of that and the current size), so
            // the size is given, within the work area. The display's minimum
            // size is small: the user can resize the window afterwards, and
            // a guest larger than the window is scaled down to fit.
            Some(area) => {
                let (_, w, _, _) = self.window.measure(gtk::Orientation::Horizontal, -1);
                let (_, h, _, _) = self.window.measure(gtk::Orientation::Vertical, w);
                let (w, h) = (w.min(area.width()).max(1), h.min(area.height()).max(1));
                tracing::debug!(w, h, "window size");
                self.window.set_default_size(w, h);
            }
        }
    }

    /// The work area of the monitor the window is on, once it is shown.
    fn work_area(&self) -> Option<gtk::gdk::Rectangle> {
        if !self.window.is_mapped() {
            return None;
        }
        let surface = self.window.surface()?;
        let monitor = gtk::prelude::WidgetExt::display(&self.window).monitor_at_surface(&surface)?;
        Some(crate::gtk::display::work_area(&monitor))
    }

    /// Fits the window again even if the guest size did not change (a zoom).
    pub(super) fn refit(&self) {
        self.fitted.set(None);
        self.fit_to_guest();
    }

    /// Zoom in/out/reset and Scale to Window.
    pub(super) fn install_zoom_actions(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let scale = gio::SimpleAction::new_stateful("scale-to-window", None, &self.display.scaling().to_variant());
        {
            let weak = weak.clone();
            scale.connect_change_state(move |action, value| {
                let (Some(this), Some(on)) = (weak.upgrade(), value.and_then(glib::Variant::get::<bool>)) else {
                    return;
                };
                action.set_state(&on.to_variant());
                if this.display.scaling() != on {
                    tracing::debug!(on, "scale to window");
                    this.display.set_scaling(on);
                    this.refit();
                }
            });
            scale.connect_activate(|action, _| {
                let on = action.state().and_then(|s| s.get::<bool>()).unwrap_or(true);
                action.change_state(&(!on).to_variant());
            });
        }
        {
            // The toggle follows the display (a zoom leaves fit-to-window).
            let scale = scale.downgrade();
            self.display.connect_scaling_notify(move |d| {
                if let Some(scale) = scale.upgrade() {
                    scale.set_state(&d.scaling().to_variant());
                }
            });
        }
        self.window.add_action(&scale);

        for (name, dir) in [("zoom-in", 1), ("zoom-out", -1), ("zoom-reset", 0)] {
            let action = gio::SimpleAction::new(name, None);
            let weak = weak.clone();
            action.connect_activate(move |_, _| {
                if let Some(this) = weak.upgrade() {
                    let next = if dir == 0 {
                        100
                    } else {
                        step_zoom(this.display.zoom_level(), dir)
                    };
                    // An explicit zoom leaves fit-to-window, as in remote-viewer.
                    this.display.set_scaling(false);
                    this.display.set_zoom_level(next);
                    tracing::debug!(zoom = next, "zoom");
                    this.refit();
                }
            });
            self.window.add_action(&action);
        }
    }
}
