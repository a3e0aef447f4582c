//! Any other windowing system, or one whose pointer lock cannot be set up
//! (a Wayland compositor without pointer constraints or relative pointer,
//! an X server we cannot connect to): nothing locks the pointer. The input
//! layer hides it over the widget and takes the deltas from GTK's
//! positions; they stop at the screen edge and the pointer may leave the
//! window.

use super::{PointerEvent, Wake, WindowingSystem};
use gtk::gdk;

/// No pointer lock; the keyboard grab is GDK's.
#[derive(Debug, Default)]
pub(crate) struct Backend {
    told: bool,
}

impl Backend {
    /// Always available.
    pub(crate) fn open(_display: &gdk::Display) -> Option<Backend> {
        Some(Backend::default())
    }
}

impl WindowingSystem for Backend {
    fn name(&self) -> &'static str {
        "other"
    }

    fn lock_pointer(&mut self, _widget: &gtk::Widget, _wake: Wake) {
        if !std::mem::replace(&mut self.told, true) {
            tracing::info!("no pointer lock here: the pointer is hidden but not confined");
        }
    }

    fn unlock_pointer(&mut self) {}

    fn pointer_locked(&self) -> bool {
        false
    }

    fn poll(&mut self, _widget: &gtk::Widget) -> Vec<PointerEvent> {
        Vec::new()
    }
}
