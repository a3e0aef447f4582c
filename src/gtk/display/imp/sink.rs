//! Copying damaged pixels out of the shared `DisplayState` into a screen
//! layer, with its lock held only for the copy.

use super::*;

/// Receives the damaged rectangles while the display state is locked.
pub(in crate::gtk::display) trait Sink {
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

impl Display {
    /// Locks the shared state only to copy the damaged rectangles into `sink`.
    pub(in crate::gtk::display) fn pull(&self, sink: &mut dyn Sink) -> Option<Source> {
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
}
