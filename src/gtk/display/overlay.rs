//! The overlay layer of a [`Display`](super::Display): a spinner with
//! "Connecting…" while there is nothing to show, "Reconnecting… (attempt N)"
//! with a Cancel button while the session relinks by itself, the error text
//! when the session (or one of its channels) failed, and a slot where the
//! embedder puts its own widgets (the app's Reconnect button).

use super::spinner::Spinner;
use crate::i18n::gettext;
use gtk::prelude::*;

/// What the overlay shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverlayState {
    /// Nothing: the guest screen is visible.
    Hidden,
    /// Spinner and a "Connecting…" text.
    Connecting,
    /// Spinner, "Reconnecting… (attempt N)" and a Cancel button.
    Reconnecting(u32),
    /// An error text (no spinner).
    Error(String),
}

impl OverlayState {
    /// The overlay waits for the session (it goes once a frame arrives).
    pub fn is_waiting(&self) -> bool {
        matches!(self, Self::Connecting | Self::Reconnecting(_))
    }
}

/// The overlay's widgets.
#[derive(Debug)]
pub(crate) struct Overlay {
    root: gtk::Box,
    spinner: Spinner,
    label: gtk::Label,
    actions: gtk::Box,
    cancel: gtk::Button,
    state: OverlayState,
}

impl Overlay {
    pub(crate) fn new() -> Self {
        let root = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .halign(gtk::Align::Center)
            .valign(gtk::Align::Center)
            .margin_top(24)
            .margin_bottom(24)
            .margin_start(24)
            .margin_end(24)
            .build();
        // Adwaita's on-screen-display style: light text on a dark translucent box.
        root.add_css_class("osd");
        root.add_css_class("sumac-display-overlay");
        let spinner = Spinner::new(32);
        let label = gtk::Label::builder()
            .wrap(true)
            .justify(gtk::Justification::Center)
            .max_width_chars(50)
            .margin_start(12)
            .margin_end(12)
            .margin_top(6)
            .build();
        let actions = gtk::Box::builder()
            .orientation(gtk::Orientation::Horizontal)
            .spacing(6)
            .halign(gtk::Align::Center)
            .build();
        let cancel = gtk::Button::builder()
            .label(gettext("_Cancel"))
            .use_underline(true)
            .halign(gtk::Align::Center)
            .visible(false)
            .build();
        root.append(spinner.widget());
        root.append(&label);
        root.append(&cancel);
        root.append(&actions);
        let mut overlay = Overlay {
            root,
            spinner,
            label,
            actions,
            cancel,
            state: OverlayState::Hidden,
        };
        overlay.set_state(OverlayState::Connecting);
        overlay
    }

    /// The overlay's root widget (a child of the Display).
    pub(crate) fn widget(&self) -> &gtk::Box {
        &self.root
    }

    pub(crate) fn state(&self) -> &OverlayState {
        &self.state
    }

    /// Calls `f` when the Cancel button of [`OverlayState::Reconnecting`] is clicked.
    pub(crate) fn connect_cancel<F: Fn() + 'static>(&self, f: F) {
        self.cancel.connect_clicked(move |_| f());
    }

    pub(crate) fn set_state(&mut self, state: OverlayState) {
        self.cancel.set_visible(matches!(state, OverlayState::Reconnecting(_)));
        // The embedder's widgets (Reconnect) are for errors, not while the session relinks.
        self.actions
            .set_visible(!matches!(state, OverlayState::Reconnecting(_)));
        match &state {
            OverlayState::Hidden => {
                self.spinner.stop();
                self.root.set_visible(false);
            }
            OverlayState::Connecting => {
                self.spinner.widget().set_visible(true);
                self.spinner.start();
                self.label.set_text(&gettext("Connecting…"));
                self.root.set_visible(true);
            }
            OverlayState::Reconnecting(attempt) => {
                self.spinner.widget().set_visible(true);
                self.spinner.start();
                self.label.set_text(&crate::i18n::gettext_f(
                    "Reconnecting… (attempt {attempt})",
                    &[("attempt", &attempt.to_string())],
                ));
                self.root.set_visible(true);
            }
            OverlayState::Error(text) => {
                self.spinner.stop();
                self.spinner.widget().set_visible(false);
                self.label.set_text(text);
                self.root.set_visible(true);
            }
        }
        self.state = state;
    }

    /// Replaces the embedder's widgets below the text.
    pub(crate) fn set_actions(&self, widgets: &[gtk::Widget]) {
        while let Some(child) = self.actions.first_child() {
            self.actions.remove(&child);
        }
        for w in widgets {
            self.actions.append(w);
        }
    }
}
