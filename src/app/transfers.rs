//! The File Transfers window of a session: one [`TransferRow`] (a composite
//! template, `ui/transfer-row.ui`) per file sent to the guest, with its
//! progress and a Cancel button; a transfer that fails stays listed with
//! the reason in words (Remove dismisses it). The window shows itself when a
//! transfer starts and hides when the list is empty.

use crate::gtk::Session;
use crate::i18n::{gettext, gettext_f};
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(file = "../../ui/transfer-row.ui")]
    pub struct TransferRow {
        #[template_child]
        pub name_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub progress: TemplateChild<gtk::ProgressBar>,
        #[template_child]
        pub status_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub cancel_button: TemplateChild<gtk::Button>,
        /// The transfer is over (the button removes the row).
        pub done: std::cell::Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for TransferRow {
        const NAME: &'static str = "SumacTransferRow";
        type Type = super::TransferRow;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for TransferRow {}
    impl WidgetImpl for TransferRow {}
    impl BoxImpl for TransferRow {}
}

glib::wrapper! {
    /// One file transfer: name, progress, status, Cancel/Remove (GType `SumacTransferRow`).
    pub struct TransferRow(ObjectSubclass<imp::TransferRow>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

/// "12.5 MB of 60.0 MB".
pub fn progress_text(sent: u64, total: u64) -> String {
    gettext_f(
        "{sent} of {total}",
        &[
            ("sent", glib::format_size(sent).as_str()),
            ("total", glib::format_size(total).as_str()),
        ],
    )
}

impl TransferRow {
    pub fn new(name: &str) -> Self {
        let row: Self = glib::Object::new();
        row.imp().name_label.set_label(name);
        row
    }

    pub fn set_progress(&self, sent: u64, total: u64) {
        let imp = self.imp();
        let fraction = if total == 0 {
            1.0
        } else {
            (sent as f64 / total as f64).clamp(0.0, 1.0)
        };
        imp.progress.set_fraction(fraction);
        imp.status_label.set_label(&progress_text(sent, total));
    }

    /// The transfer failed (or was cancelled): the reason stays shown.
    pub fn set_failed(&self, message: &str) {
        let imp = self.imp();
        imp.done.set(true);
        imp.status_label.set_label(message);
        imp.status_label.add_css_class("error");
        imp.cancel_button.set_icon_name("window-close-symbolic");
        imp.cancel_button.set_tooltip_text(Some(&gettext("Remove")));
    }

    pub fn is_done(&self) -> bool {
        self.imp().done.get()
    }

    pub fn status(&self) -> String {
        self.imp().status_label.label().to_string()
    }

    pub fn connect_button<F: Fn(&Self) + 'static>(&self, f: F) {
        let weak = self.downgrade();
        self.imp().cancel_button.connect_clicked(move |_| {
            if let Some(row) = weak.upgrade() {
                f(&row);
            }
        });
    }
}

/// The File Transfers window of one session.
pub struct Transfers {
    window: gtk::Window,
    list: gtk::Box,
    rows: RefCell<HashMap<u32, TransferRow>>,
    session: glib::WeakRef<Session>,
}

impl std::fmt::Debug for Transfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfers")
            .field("rows", &self.rows.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Transfers {
    /// Follows `session`'s transfers (kept alive by its signal handlers).
    pub fn attach(app: &adw::Application, session: &Session) -> Rc<Self> {
        let list = gtk::Box::new(gtk::Orientation::Vertical, 0);
        let scrolled = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .propagate_natural_height(true)
            .max_content_height(400)
            .child(&list)
            .build();
        let window = gtk::Window::builder()
            .title(gettext("File Transfers"))
            .default_width(420)
            .hide_on_close(true)
            .child(&scrolled)
            .build();
        window.set_widget_name("sumac-transfers");
        let this = Rc::new(Self {
            window,
            list,
            rows: RefCell::default(),
            session: session.downgrade(),
        });
        let app = app.downgrade();
        {
            let this = Rc::clone(&this);
            let app = app.clone();
            session.connect_file_transfer_started(move |_, id, name, size| {
                let row = this.row(id, name);
                row.set_progress(0, size);
                this.show(app.upgrade().as_ref());
            });
        }
        {
            let this = Rc::clone(&this);
            session.connect_file_transfer_progress(move |_, id, sent, total| {
                if let Some(row) = this.rows.borrow().get(&id) {
                    row.set_progress(sent, total);
                }
            });
        }
        {
            let this = Rc::clone(&this);
            session.connect_file_transfer_done(move |_, id, name, success, message| {
                if success {
                    this.remove(id);
                    return;
                }
                let row = if id == 0 {
                    // It never started: a row of its own, keyed apart.
                    let key = u32::MAX - u32::try_from(this.rows.borrow().len()).unwrap_or(0);
                    this.row(key, name)
                } else {
                    this.row(id, name)
                };
                row.set_failed(message);
                tracing::info!(
                    file = name,
                    reason = message,
                    "file transfer failed (shown in File Transfers)"
                );
                this.show(app.upgrade().as_ref());
            });
        }
        this
    }

    fn row(self: &Rc<Self>, id: u32, name: &str) -> TransferRow {
        if let Some(row) = self.rows.borrow().get(&id) {
            return row.clone();
        }
        let row = TransferRow::new(name);
        let weak = Rc::downgrade(self);
        row.connect_button(move |row| {
            let Some(this) = weak.upgrade() else { return };
            if row.is_done() {
                this.remove(id);
            } else if let Some(session) = this.session.upgrade() {
                session.cancel_file(id);
            }
        });
        self.list.append(&row);
        self.rows.borrow_mut().insert(id, row.clone());
        row
    }

    fn remove(&self, id: u32) {
        if let Some(row) = self.rows.borrow_mut().remove(&id) {
            self.list.remove(&row);
        }
        if self.rows.borrow().is_empty() {
            self.window.set_visible(false);
        }
    }

    fn show(&self, app: Option<&adw::Application>) {
        if !self.window.is_visible() {
            let parent = app.and_then(|a| a.active_window());
            if parent.as_ref() != Some(self.window.upcast_ref()) {
                self.window.set_transient_for(parent.as_ref());
            }
            self.window.present();
        }
    }

    /// What the rows say now (name, status), for logs and tests.
    pub fn describe(&self) -> Vec<(u32, String)> {
        self.rows.borrow().iter().map(|(id, r)| (*id, r.status())).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_in_words() {
        assert_eq!(super::progress_text(0, 1000), "0 bytes of 1.0\u{a0}kB");
    }
}
