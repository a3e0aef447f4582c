//! The stats overlay: [`StatsPanel`] (GType `SumacStatsPanel`, template
//! `ui/stats-panel.ui`), a small translucent panel at the top-left corner of
//! a session window's display with each video stream's codec, decoder
//! (hardware or software), size, frames per second received / shown /
//! dropped, delay behind the clock and bitrate, and each channel's
//! bandwidth; toggled by the window action `win.stats-overlay` (the main
//! menu's "Show _Statistics" and [`ACCEL`]).
//!
//! The figures come from [`crate::client::live_stats`]: a sample of the
//! session's counters every [`REFRESH`] while the panel shows (each display
//! state locked once per sample, never per frame), turned into rates by a
//! [`Sampler`]; the GStreamer decoders say what decodes each stream. The
//! panel is a popover so that it shows above every screen layer (the X11
//! layer is a child X window that GTK cannot draw over); it takes neither
//! the keyboard nor the pointer. Each refresh logs its text at debug level
//! (the GUI tests read it).

use crate::client::live_stats::{DecoderLabel, Sample, Sampler};
use crate::gtk::Display;
use crate::i18n::gettext;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gdk, gio, glib};
use std::time::Duration;

mod text;
pub use text::panel_text;

/// The window action.
pub const ACTION: &str = "stats-overlay";
/// Its accelerator (free among remote-viewer's hotkeys).
pub const ACCEL: &str = "<Control><Shift>s";
/// How often the panel samples the counters while it shows.
pub const REFRESH: Duration = Duration::from_millis(500);
/// Where the panel's corner is, in the display (logical pixels).
const MARGIN: i32 = 8;

const CSS: &str = "popover.sumac-stats > contents { \
    background-color: rgba(0, 0, 0, 0.62); color: #ffffff; \
    padding: 6px 10px; box-shadow: none; border: none; }";

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(file = "../../ui/stats-panel.ui")]
    pub struct StatsPanel {
        #[template_child]
        pub(super) text: TemplateChild<gtk::Label>,
        pub(super) sampler: RefCell<Sampler>,
        pub(super) timer: RefCell<Option<glib::SourceId>>,
        pub(super) display: glib::WeakRef<Display>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for StatsPanel {
        const NAME: &'static str = "SumacStatsPanel";
        type Type = super::StatsPanel;
        type ParentType = gtk::Popover;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for StatsPanel {
        fn dispose(&self) {
            if let Some(t) = self.timer.take() {
                t.remove();
            }
        }
    }

    impl WidgetImpl for StatsPanel {}
    impl PopoverImpl for StatsPanel {}
}

glib::wrapper! {
    /// The stats overlay of a session window (GType `SumacStatsPanel`).
    pub struct StatsPanel(ObjectSubclass<imp::StatsPanel>)
        @extends gtk::Popover, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native, gtk::ShortcutManager;
}

impl Default for StatsPanel {
    fn default() -> Self {
        Self::new()
    }
}

impl StatsPanel {
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// Shows the panel over `display`'s top-left corner and refreshes it
    /// every [`REFRESH`] until [`StatsPanel::hide_panel`].
    pub fn show_over(&self, display: &Display) {
        let imp = self.imp();
        if imp.timer.borrow().is_some() {
            return;
        }
        add_css(&display.display());
        imp.display.set(Some(display));
        // Parented only while it shows: the display never keeps it.
        if self.parent().is_none() {
            self.set_parent(display);
        }
        self.set_pointing_to(Some(&gdk::Rectangle::new(MARGIN, MARGIN, 1, 1)));
        imp.sampler.replace(Sampler::new());
        self.refresh();
        self.popup();
        let weak = self.downgrade();
        let timer = glib::timeout_add_local(REFRESH, move || match weak.upgrade() {
            Some(panel) => {
                panel.refresh();
                glib::ControlFlow::Continue
            }
            None => glib::ControlFlow::Break,
        });
        imp.timer.replace(Some(timer));
    }

    /// Hides the panel and stops sampling.
    pub fn hide_panel(&self) {
        if let Some(t) = self.imp().timer.take() {
            t.remove();
        }
        self.popdown();
        if self.parent().is_some() {
            self.unparent();
        }
    }

    /// Whether the panel shows.
    pub fn is_shown(&self) -> bool {
        self.imp().timer.borrow().is_some()
    }

    /// What the panel says now.
    pub fn text(&self) -> String {
        self.imp().text.text().to_string()
    }

    fn refresh(&self) {
        let imp = self.imp();
        let session = imp.display.upgrade().and_then(|d| d.session());
        let sample = session.as_ref().and_then(|s| s.with_handle(Sample::take));
        let text = match sample {
            Some(sample) => {
                let decoders: Vec<DecoderLabel> = crate::gtk::session::shared_video()
                    .decoders()
                    .iter()
                    .map(DecoderLabel::from)
                    .collect();
                let stats = imp.sampler.borrow_mut().update(sample, &decoders);
                panel_text(&stats)
            }
            None => gettext("Not connected"),
        };
        imp.text.set_text(&text);
        tracing::debug!("stats overlay:\n{text}");
        // Keeps it at the display's corner when the window changed (fullscreen, zoom).
        if self.is_visible() {
            self.present();
        }
    }
}

/// The panel's look, once per GDK display.
fn add_css(display: &gdk::Display) {
    thread_local! {
        static DONE: std::cell::RefCell<Vec<gdk::Display>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    DONE.with(|done| {
        let mut done = done.borrow_mut();
        if done.contains(display) {
            return;
        }
        let provider = gtk::CssProvider::new();
        provider.load_from_data(CSS);
        gtk::style_context_add_provider_for_display(display, &provider, gtk::STYLE_PROVIDER_PRIORITY_APPLICATION);
        done.push(display.clone());
    });
}

/// The window action `win.stats-overlay` (a toggle) for `display`'s window,
/// and its accelerator unless `kiosk`.
pub fn install(window: &gtk::ApplicationWindow, display: &Display, kiosk: bool) {
    let panel = StatsPanel::new();
    let action = gio::SimpleAction::new_stateful(ACTION, None, &false.to_variant());
    {
        let panel = panel.downgrade();
        let display = display.downgrade();
        action.connect_activate(move |a, _| {
            let (Some(panel), Some(display)) = (panel.upgrade(), display.upgrade()) else {
                return;
            };
            let on = !panel.is_shown();
            if on {
                panel.show_over(&display);
            } else {
                panel.hide_panel();
            }
            tracing::info!(shown = on, "stats overlay");
            a.set_state(&on.to_variant());
        });
    }
    window.add_action(&action);
    {
        // A window that goes away (closed, monitor turned off) takes the panel down.
        let panel = panel.downgrade();
        let action = action.downgrade();
        display.connect_unmap(move |_| {
            if let Some(p) = panel.upgrade() {
                p.hide_panel();
            }
            if let Some(a) = action.upgrade() {
                a.set_state(&false.to_variant());
            }
        });
    }
    // The window keeps the panel alive (and takes it down when destroyed).
    window.connect_destroy(move |_| panel.hide_panel());
    if !kiosk && let Some(app) = window.application() {
        app.set_accels_for_action(&format!("win.{ACTION}"), &[ACCEL]);
    }
}
