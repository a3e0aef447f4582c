//! [`SavedNotice`] (GType `SumacSavedNotice`, template `ui/saved-notice.ui`):
//! the in-app notification a session window shows when it saved a file (a
//! screenshot): a title, the file's name, Open (action `notice.open`: the
//! file in the desktop's default viewer) and close (`notice.close`). It hides
//! itself after [`SHOWN_FOR`].
//!
//! It is a non-modal popover under the header bar rather than a toast over
//! the display: the X11 screen layer is a child X window above everything GTK
//! draws inside the window, and popovers are toplevels of their own.

use crate::i18n::gettext;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};
use std::path::Path;
use std::time::Duration;

/// How long the notice stays when nobody closes it.
pub const SHOWN_FOR: Duration = Duration::from_secs(8);

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(file = "../../ui/saved-notice.ui")]
    pub struct SavedNotice {
        #[template_child]
        pub(super) title: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) file_name: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) open: TemplateChild<gtk::Button>,
        pub(super) file: RefCell<Option<gio::File>>,
        pub(super) timeout: RefCell<Option<glib::SourceId>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SavedNotice {
        const NAME: &'static str = "SumacSavedNotice";
        type Type = super::SavedNotice;
        type ParentType = gtk::Popover;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("notice.open", None, |notice, _, _| notice.open());
            klass.install_action("notice.close", None, |notice, _, _| notice.popdown());
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SavedNotice {
        fn constructed(&self) {
            self.parent_constructed();
            let weak = self.obj().downgrade();
            self.obj().connect_closed(move |_| {
                if let Some(n) = weak.upgrade()
                    && let Some(id) = n.imp().timeout.take()
                {
                    id.remove();
                }
            });
        }
    }

    impl WidgetImpl for SavedNotice {}
    impl PopoverImpl for SavedNotice {}
}

glib::wrapper! {
    /// The "file saved" notification of a session window (GType `SumacSavedNotice`).
    pub struct SavedNotice(ObjectSubclass<imp::SavedNotice>)
        @extends gtk::Popover, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native, gtk::ShortcutManager;
}

impl Default for SavedNotice {
    fn default() -> Self {
        Self::new()
    }
}

impl SavedNotice {
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// Shows "Screenshot saved" for `path` (the notice must have a parent).
    pub fn show_screenshot(&self, path: &Path) {
        self.show_saved(&gettext("Screenshot saved"), path);
    }

    /// Shows `title` for the saved file `path`, until closed or [`SHOWN_FOR`] passed.
    pub fn show_saved(&self, title: &str, path: &Path) {
        let imp = self.imp();
        imp.title.set_label(title);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        imp.file_name.set_label(&name);
        imp.file_name.set_tooltip_text(Some(&path.display().to_string()));
        imp.file.replace(Some(gio::File::for_path(path)));
        if let Some(id) = imp.timeout.take() {
            id.remove();
        }
        let weak = self.downgrade();
        let id = glib::timeout_add_local_once(SHOWN_FOR, move || {
            if let Some(n) = weak.upgrade() {
                n.imp().timeout.take();
                n.popdown();
            }
        });
        imp.timeout.replace(Some(id));
        self.popup();
        tracing::info!(path = %path.display(), "saved-file notice shown");
    }

    /// The file shown, if any.
    pub fn file(&self) -> Option<gio::File> {
        self.imp().file.borrow().clone()
    }

    /// Opens the file in the desktop's default application for it.
    fn open(&self) {
        let Some(file) = self.file() else { return };
        let uri = file.uri();
        let context = self.display().app_launch_context();
        if let Err(e) = gio::AppInfo::launch_default_for_uri(&uri, Some(&context)) {
            tracing::warn!(%uri, error = %e, "cannot open the saved file");
        } else {
            tracing::info!(%uri, "saved file opened");
        }
        self.popdown();
    }
}
