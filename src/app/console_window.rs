//! [`ConsoleWindow`] (GType `SumacConsoleWindow`, template
//! `ui/console-window.ui`): one console of the guest — a serial console or
//! QEMU's human monitor on a SPICE port channel — as a simple terminal: a
//! text view showing what the port sends (through
//! [`ConsoleFilter`]: text overwrites from a cursor that carriage return,
//! backspace and the cursor-move and erase-line sequences move, the other
//! escape sequences are dropped), and the keys typed in it sent to the
//! port ([`key_bytes`]). No terminal emulation (VTE for GTK 4 is not usable
//! with GTK 4.8).

use crate::client::console::{ConsoleEdit, ConsoleFilter, ConsoleKey, key_bytes};
use crate::gtk::Session;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

/// Most lines kept (older ones are dropped).
const MAX_LINES: i32 = 5000;

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(file = "../../ui/console-window.ui")]
    pub struct ConsoleWindow {
        #[template_child]
        pub(super) view: TemplateChild<gtk::TextView>,
        #[template_child]
        pub(super) scroller: TemplateChild<gtk::ScrolledWindow>,
        pub(super) session: glib::WeakRef<Session>,
        pub(super) port: RefCell<String>,
        pub(super) filter: RefCell<ConsoleFilter>,
        pub(super) readable: RefCell<Option<glib::SignalHandlerId>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConsoleWindow {
        const NAME: &'static str = "SumacConsoleWindow";
        type Type = super::ConsoleWindow;
        type ParentType = gtk::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ConsoleWindow {
        fn constructed(&self) {
            self.parent_constructed();
            let keys = gtk::EventControllerKey::new();
            keys.set_propagation_phase(gtk::PropagationPhase::Capture);
            let window = self.obj().downgrade();
            keys.connect_key_pressed(move |_, keyval, _, state| match window.upgrade() {
                Some(w) => w.key_pressed(keyval, state),
                None => glib::Propagation::Proceed,
            });
            self.view.add_controller(keys);
        }

        fn dispose(&self) {
            if let (Some(session), Some(id)) = (self.session.upgrade(), self.readable.take()) {
                glib::prelude::ObjectExt::disconnect(&session, id);
            }
        }
    }

    impl WidgetImpl for ConsoleWindow {}
    impl WindowImpl for ConsoleWindow {}
}

glib::wrapper! {
    /// A console window (GType `SumacConsoleWindow`).
    pub struct ConsoleWindow(ObjectSubclass<imp::ConsoleWindow>)
        @extends gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

impl ConsoleWindow {
    /// A window on the port `port` of `session`, titled `title`; shows what
    /// the port sent so far and follows it.
    pub fn new(session: &Session, port: &str, title: &str) -> Self {
        let this: Self = glib::Object::builder().property("title", title).build();
        let imp = this.imp();
        imp.session.set(Some(session));
        imp.port.replace(port.to_owned());
        let weak = this.downgrade();
        let id = session.connect_port_readable(move |_, name| {
            if let Some(w) = weak.upgrade()
                && *w.imp().port.borrow() == name
            {
                w.read();
            }
        });
        imp.readable.replace(Some(id));
        this.read();
        this
    }

    /// The port this window shows.
    pub fn port(&self) -> String {
        self.imp().port.borrow().clone()
    }

    /// Everything the window shows.
    pub fn text(&self) -> String {
        let buffer = self.imp().view.buffer();
        buffer.text(&buffer.start_iter(), &buffer.end_iter(), false).to_string()
    }

    /// Sends `bytes` to the port, as if typed.
    pub fn send(&self, bytes: &[u8]) {
        let Some(session) = self.imp().session.upgrade() else {
            return;
        };
        let port = self.port();
        match session.port(&port) {
            Some(stream) => {
                if let Err(e) = stream.write(bytes) {
                    tracing::warn!(%port, error = %e, "console: cannot send");
                }
            }
            None => tracing::debug!(%port, "console: the port is gone"),
        }
    }

    fn key_pressed(&self, keyval: gtk::gdk::Key, state: gtk::gdk::ModifierType) -> glib::Propagation {
        use gtk::gdk::{Key, ModifierType};
        // Ctrl+Shift shortcuts (copy...) stay the window's.
        if state.contains(ModifierType::CONTROL_MASK | ModifierType::SHIFT_MASK) {
            return glib::Propagation::Proceed;
        }
        let key = match keyval {
            Key::Return | Key::KP_Enter => ConsoleKey::Enter,
            Key::BackSpace => ConsoleKey::Backspace,
            Key::Tab => ConsoleKey::Tab,
            Key::Escape => ConsoleKey::Escape,
            Key::Up => ConsoleKey::Up,
            Key::Down => ConsoleKey::Down,
            Key::Left => ConsoleKey::Left,
            Key::Right => ConsoleKey::Right,
            Key::Home => ConsoleKey::Home,
            Key::End => ConsoleKey::End,
            Key::Delete => ConsoleKey::Delete,
            k => match k.to_unicode() {
                Some(c) if !c.is_control() => ConsoleKey::Char(c),
                _ => return glib::Propagation::Proceed,
            },
        };
        self.send(&key_bytes(key, state.contains(ModifierType::CONTROL_MASK)));
        glib::Propagation::Stop
    }

    /// Shows what waits on the port.
    fn read(&self) {
        let imp = self.imp();
        let Some(session) = imp.session.upgrade() else { return };
        let Some(stream) = session.port(&self.port()) else {
            return;
        };
        let data = stream.read();
        if data.is_empty() {
            return;
        }
        let edits = imp.filter.borrow_mut().feed(&data);
        let buffer = imp.view.buffer();
        let cursor = self.cursor_mark(&buffer);
        for edit in edits {
            let mut at = buffer.iter_at_mark(&cursor);
            match edit {
                ConsoleEdit::Text(t) => {
                    // Overwrites the rest of the line, as far as the text goes.
                    let mut end = at;
                    for _ in t.chars() {
                        if end.ends_line() {
                            break;
                        }
                        end.forward_char();
                    }
                    buffer.delete(&mut at, &mut end);
                    buffer.insert(&mut at, &t);
                }
                ConsoleEdit::Newline => {
                    at = buffer.end_iter();
                    buffer.insert(&mut at, "\n");
                }
                ConsoleEdit::CarriageReturn => at.set_line_offset(0),
                ConsoleEdit::Left(n) => {
                    let offset = at.line_offset().saturating_sub(i32::from(n)).max(0);
                    at.set_line_offset(offset);
                }
                ConsoleEdit::Right(n) => {
                    for _ in 0..n {
                        if at.ends_line() {
                            break;
                        }
                        at.forward_char();
                    }
                }
                ConsoleEdit::EraseLine { whole } => {
                    if whole {
                        at.set_line_offset(0);
                    }
                    let mut end = at;
                    if !end.ends_line() {
                        end.forward_to_line_end();
                    }
                    buffer.delete(&mut at, &mut end);
                }
                ConsoleEdit::Bell => self.error_bell(),
            }
            buffer.move_mark(&cursor, &at);
        }
        let extra = buffer.line_count() - MAX_LINES;
        if extra > 0 {
            let mut start = buffer.start_iter();
            let mut cut = buffer.iter_at_line(extra).unwrap_or_else(|| buffer.start_iter());
            buffer.delete(&mut start, &mut cut);
        }
        buffer.place_cursor(&buffer.iter_at_mark(&cursor));
        imp.view.scroll_mark_onscreen(&cursor);
    }

    /// Where the port's text goes next (the terminal's cursor).
    fn cursor_mark(&self, buffer: &gtk::TextBuffer) -> gtk::TextMark {
        buffer
            .mark("console-cursor")
            .unwrap_or_else(|| buffer.create_mark(Some("console-cursor"), &buffer.end_iter(), false))
    }
}
