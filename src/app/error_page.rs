//! [`ErrorPage`] (GType `SumacErrorPage`, template `ui/error-page.ui`): what
//! a session window shows over its display when the connection failed — a
//! [`Problem`]'s title and sentence, a password entry when the server asks
//! for one, Reconnect (action `page.retry`), and the technical detail behind
//! an expander. The password typed is handed to the retry callback and
//! cleared from the entry at once: the page never keeps it.

use super::problem::Problem;
use crate::i18n::gettext;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

/// Called with the password typed (`None`: the page did not ask for one).
type RetryCallback = Box<dyn Fn(Option<String>)>;

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(file = "../../ui/error-page.ui")]
    pub struct ErrorPage {
        #[template_child]
        pub(super) title: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) sentence: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) password: TemplateChild<gtk::PasswordEntry>,
        #[template_child]
        pub(super) retry: TemplateChild<gtk::Button>,
        #[template_child]
        pub(super) expander: TemplateChild<gtk::Expander>,
        #[template_child]
        pub(super) detail: TemplateChild<gtk::Label>,
        pub(super) on_retry: RefCell<Option<RetryCallback>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ErrorPage {
        const NAME: &'static str = "SumacErrorPage";
        type Type = super::ErrorPage;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("page.retry", None, |page, _, _| page.retry());
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ErrorPage {
        fn constructed(&self) {
            self.parent_constructed();
            let page = self.obj().downgrade();
            self.password.connect_activate(move |_| {
                if let Some(page) = page.upgrade() {
                    page.retry();
                }
            });
        }
    }

    impl WidgetImpl for ErrorPage {}
    impl BoxImpl for ErrorPage {}
}

glib::wrapper! {
    /// The error page of a session window (GType `SumacErrorPage`).
    pub struct ErrorPage(ObjectSubclass<imp::ErrorPage>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for ErrorPage {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrorPage {
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// Shows `problem`; with a password to ask for, the entry is shown
    /// (empty) and takes the focus.
    pub fn show_problem(&self, problem: &Problem) {
        let imp = self.imp();
        imp.title.set_text(&problem.title);
        imp.sentence.set_text(&problem.sentence);
        imp.detail.set_text(&problem.detail);
        imp.expander.set_visible(!problem.detail.is_empty());
        imp.expander.set_expanded(false);
        imp.password.set_text("");
        imp.password.set_visible(problem.ask_password);
        imp.retry.set_label(&if problem.ask_password {
            gettext("_Connect")
        } else {
            gettext("_Reconnect")
        });
        tracing::info!(title = %problem.title, ask_password = problem.ask_password, "error page");
    }

    /// Gives the keyboard focus to the password entry or the button.
    pub fn focus(&self) {
        let imp = self.imp();
        if imp.password.is_visible() {
            imp.password.grab_focus();
        } else {
            imp.retry.grab_focus();
        }
    }

    /// Sets what Reconnect (or Return in the password entry) does.
    pub fn connect_retry(&self, f: impl Fn(Option<String>) + 'static) {
        self.imp().on_retry.replace(Some(Box::new(f)));
    }

    /// The title shown (for tests and accessibility checks).
    pub fn title(&self) -> String {
        self.imp().title.text().to_string()
    }

    fn retry(&self) {
        let imp = self.imp();
        let password = imp.password.is_visible().then(|| imp.password.text().to_string());
        // Never kept by the page.
        imp.password.set_text("");
        if let Some(f) = imp.on_retry.borrow().as_ref() {
            f(password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[gtk::test]
    fn asks_for_the_password_and_forgets_it() {
        let page = ErrorPage::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = Rc::clone(&got);
        page.connect_retry(move |p| g.borrow_mut().push(p));
        let mut problem = Problem::from_text("link: permission denied");
        problem.ask_password = true;
        page.show_problem(&problem);
        assert!(page.imp().password.is_visible());
        assert!(page.imp().expander.is_visible());
        page.imp().password.set_text("s3cret");
        page.imp().password.emit_by_name::<()>("activate", &[]);
        assert_eq!(*got.borrow(), vec![Some("s3cret".to_owned())]);
        assert_eq!(page.imp().password.text(), "", "not kept");
        page.show_problem(&Problem::cancelled());
        assert!(!page.imp().password.is_visible());
        assert!(!page.imp().expander.is_visible(), "no detail, no expander");
        page.activate_action("page.retry", None).unwrap();
        assert_eq!(got.borrow().last(), Some(&None));
    }
}
