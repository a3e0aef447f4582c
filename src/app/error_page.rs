//! [`ErrorPage`] (GType `SumacErrorPage`, template `ui/error-page.ui`): what
//! a session window shows over its display when the connection failed — a
//! [`Problem`]'s title and sentence, a password entry when the server asks
//! for one, the proxy's user name and password when the proxy asks for them
//! (407), Reconnect (action `page.retry`), and the technical detail behind
//! an expander. What is typed is handed to the retry callback and the
//! password entries are cleared at once: the page never keeps a password.

use super::problem::Problem;
use crate::i18n::gettext;
use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

/// What the user typed on the error page for a retry.
#[derive(Default, PartialEq, Eq)]
pub struct Typed {
    /// The server's password (`None`: the page did not ask for one).
    pub password: Option<String>,
    /// The proxy's user name and password (`None`: the page did not ask for them).
    pub proxy: Option<(String, String)>,
}

impl std::fmt::Debug for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typed")
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("proxy_user", &self.proxy.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// Called with what was typed.
type RetryCallback = Box<dyn Fn(Typed)>;

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
        pub(super) proxy_user: TemplateChild<gtk::Entry>,
        #[template_child]
        pub(super) proxy_password: TemplateChild<gtk::PasswordEntry>,
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
            // Return in the user name goes to the password, Return there retries.
            let password = self.proxy_password.downgrade();
            self.proxy_user.connect_activate(move |_| {
                if let Some(p) = password.upgrade() {
                    p.grab_focus();
                }
            });
            let page = self.obj().downgrade();
            self.proxy_password.connect_activate(move |_| {
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

    /// Shows `problem`; with a password (or proxy credentials) to ask for,
    /// the entries are shown (the passwords empty).
    pub fn show_problem(&self, problem: &Problem) {
        let imp = self.imp();
        imp.title.set_text(&problem.title);
        imp.sentence.set_text(&problem.sentence);
        imp.detail.set_text(&problem.detail);
        imp.expander.set_visible(!problem.detail.is_empty());
        imp.expander.set_expanded(false);
        imp.password.set_text("");
        imp.password.set_visible(problem.ask_password);
        imp.proxy_password.set_text("");
        imp.proxy_user.set_visible(problem.ask_proxy);
        imp.proxy_password.set_visible(problem.ask_proxy);
        imp.retry.set_label(&if problem.ask_password || problem.ask_proxy {
            gettext("_Connect")
        } else {
            gettext("_Reconnect")
        });
        tracing::info!(
            title = %problem.title,
            ask_password = problem.ask_password,
            ask_proxy = problem.ask_proxy,
            "error page"
        );
    }

    /// Gives the keyboard focus to the first entry shown or the button.
    pub fn focus(&self) {
        self.focus_now();
        // Shown for the first time, the page may not take the focus yet: again once it can.
        let weak = self.downgrade();
        glib::idle_add_local_once(move || {
            if let Some(page) = weak.upgrade() {
                page.focus_now();
            }
        });
    }

    fn focus_now(&self) {
        let imp = self.imp();
        if WidgetExt::is_visible(&*imp.proxy_user) {
            if imp.proxy_user.text().is_empty() {
                imp.proxy_user.grab_focus();
            } else {
                imp.proxy_password.grab_focus();
            }
        } else if imp.password.is_visible() {
            imp.password.grab_focus();
        } else {
            imp.retry.grab_focus();
        }
    }

    /// Sets what Reconnect (or Return in the password entry) does.
    pub fn connect_retry(&self, f: impl Fn(Typed) + 'static) {
        self.imp().on_retry.replace(Some(Box::new(f)));
    }

    /// The title shown (for tests and accessibility checks).
    pub fn title(&self) -> String {
        self.imp().title.text().to_string()
    }

    fn retry(&self) {
        let imp = self.imp();
        let typed = Typed {
            password: imp.password.is_visible().then(|| imp.password.text().to_string()),
            proxy: WidgetExt::is_visible(&*imp.proxy_user)
                .then(|| (imp.proxy_user.text().to_string(), imp.proxy_password.text().to_string())),
        };
        // Never kept by the page (the user name stays, for a retry after a typo).
        imp.password.set_text("");
        imp.proxy_password.set_text("");
        if let Some(f) = imp.on_retry.borrow().as_ref() {
            f(typed);
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
        assert_eq!(
            *got.borrow(),
            vec![Typed {
                password: Some("s3cret".to_owned()),
                proxy: None
            }]
        );
        assert_eq!(page.imp().password.text(), "", "not kept");
        assert!(!WidgetExt::is_visible(&*page.imp().proxy_user));
        page.show_problem(&Problem::cancelled());
        assert!(!page.imp().password.is_visible());
        assert!(!page.imp().expander.is_visible(), "no detail, no expander");
        page.activate_action("page.retry", None).unwrap();
        assert_eq!(got.borrow().last(), Some(&Typed::default()));
    }

    #[gtk::test]
    fn asks_for_the_proxy_credentials_and_forgets_the_password() {
        let page = ErrorPage::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = Rc::clone(&got);
        page.connect_retry(move |p| g.borrow_mut().push(p));
        let mut problem = Problem::from_text("proxy: 407");
        problem.ask_proxy = true;
        page.show_problem(&problem);
        let imp = page.imp();
        assert!(WidgetExt::is_visible(&*imp.proxy_user) && imp.proxy_password.is_visible());
        assert!(!imp.password.is_visible());
        imp.proxy_user.set_text("alice");
        imp.proxy_password.set_text("pw");
        imp.proxy_password.emit_by_name::<()>("activate", &[]);
        let want = Typed {
            password: None,
            proxy: Some(("alice".into(), "pw".into())),
        };
        assert_eq!(got.borrow().last(), Some(&want));
        assert_eq!(imp.proxy_password.text(), "", "not kept");
        assert!(!format!("{want:?}").contains("pw\""), "no password in Debug");
    }
}
