//! [`UsbDialog`] (GType `SumacUsbDialog`): remote-viewer's "USB device
//! selection" for a [`Session`]: one row per device (name and ids, a switch,
//! a spinner while it connects, the error in words), the free channel count,
//! virtual disks added from an image file and removed again. The template is
//! `ui/usb-dialog.ui`; rows follow the session's `usb-changed` signal.

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use super::session::Session;
use crate::client::usb::{UsbDeviceInfo, UsbDeviceState, UsbHandle, UsbSource};
use crate::i18n::{gettext, gettext_f};

mod imp {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(file = "../../ui/usb-dialog.ui")]
    pub struct UsbDialog {
        #[template_child]
        pub(super) channels_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub(super) error_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub(super) read_only: TemplateChild<gtk::CheckButton>,
        #[template_child]
        pub(super) add_disk: TemplateChild<gtk::Button>,
        pub(super) session: RefCell<Option<Session>>,
        pub(super) handler: RefCell<Option<glib::SignalHandlerId>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for UsbDialog {
        const NAME: &'static str = "SumacUsbDialog";
        type Type = super::UsbDialog;
        type ParentType = gtk::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for UsbDialog {
        fn dispose(&self) {
            if let (Some(s), Some(h)) = (self.session.take(), self.handler.take()) {
                glib::prelude::ObjectExt::disconnect(&s, h);
            }
        }
    }
    impl WidgetImpl for UsbDialog {}
    impl WindowImpl for UsbDialog {}
}

glib::wrapper! {
    /// The USB devices dialog of a session; see the module documentation.
    pub struct UsbDialog(ObjectSubclass<imp::UsbDialog>)
        @extends gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

/// What a row says under the device's name.
pub fn state_text(state: &UsbDeviceState) -> String {
    match state {
        UsbDeviceState::Idle => String::new(),
        UsbDeviceState::Connecting { .. } => gettext("Connecting…"),
        UsbDeviceState::Connected { .. } => gettext("Redirected to the virtual machine"),
        UsbDeviceState::Disconnecting { .. } => gettext("Disconnecting…"),
        UsbDeviceState::Failed { error } => error.clone(),
    }
}

impl UsbDialog {
    /// The dialog for `session`, transient for `parent`.
    pub fn new(session: &Session, parent: Option<&impl IsA<gtk::Window>>) -> Self {
        let dialog: Self = glib::Object::new();
        if let Some(p) = parent {
            dialog.set_transient_for(Some(p));
        }
        let imp = dialog.imp();
        imp.session.replace(Some(session.clone()));
        let weak = dialog.downgrade();
        let handler = session.connect_usb_changed(move |_| {
            if let Some(d) = weak.upgrade() {
                d.refresh();
            }
        });
        imp.handler.replace(Some(handler));
        let weak = dialog.downgrade();
        imp.add_disk.connect_clicked(move |_| {
            if let Some(d) = weak.upgrade() {
                d.choose_image();
            }
        });
        dialog.refresh();
        dialog
    }

    fn usb(&self) -> Option<UsbHandle> {
        self.imp().session.borrow().as_ref().and_then(Session::usb)
    }

    fn show_error(&self, text: Option<&str>) {
        let label = &self.imp().error_label;
        label.set_text(text.unwrap_or_default());
        label.set_visible(text.is_some());
    }

    /// Rebuilds the rows from the session's device list.
    pub fn refresh(&self) {
        let imp = self.imp();
        while let Some(row) = imp.list.first_child() {
            imp.list.remove(&row);
        }
        let Some(usb) = self.usb() else {
            imp.channels_label.set_text(&gettext("Not connected."));
            imp.add_disk.set_sensitive(false);
            return;
        };
        imp.add_disk.set_sensitive(true);
        let (free, total) = usb.channels();
        imp.channels_label.set_text(&if total == 0 {
            gettext("The virtual machine has no USB redirection channel.")
        } else {
            gettext_f(
                "{free} of {total} USB redirection channels free",
                &[("free", &free.to_string()), ("total", &total.to_string())],
            )
        });
        let devices = usb.devices();
        if devices.is_empty() {
            let empty = gtk::Label::new(Some(&gettext("No USB devices")));
            empty.add_css_class("dim-label");
            empty.set_margin_top(12);
            empty.set_margin_bottom(12);
            imp.list.append(&empty);
        }
        for d in devices {
            imp.list.append(&self.row(&usb, &d, free > 0));
        }
    }

    fn row(&self, usb: &UsbHandle, d: &UsbDeviceInfo, channel_free: bool) -> gtk::Box {
        let row = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        row.set_margin_top(6);
        row.set_margin_bottom(6);
        row.set_margin_start(12);
        row.set_margin_end(12);
        let text = gtk::Box::new(gtk::Orientation::Vertical, 2);
        text.set_hexpand(true);
        let title = match &d.source {
            UsbSource::Disk { read_only: true, .. } => {
                gettext_f("{device} (read-only disk image)", &[("device", &d.label())])
            }
            UsbSource::Disk { .. } => gettext_f("{device} (disk image)", &[("device", &d.label())]),
            UsbSource::Physical { .. } => d.label(),
        };
        let name = gtk::Label::builder().label(title).xalign(0.0).wrap(true).build();
        text.append(&name);
        let status_text = state_text(&d.state);
        if !status_text.is_empty() {
            let status = gtk::Label::builder().label(status_text).xalign(0.0).wrap(true).build();
            status.add_css_class(if matches!(d.state, UsbDeviceState::Failed { .. }) {
                "error"
            } else {
                "dim-label"
            });
            text.append(&status);
        }
        row.append(&text);
        if matches!(
            d.state,
            UsbDeviceState::Connecting { .. } | UsbDeviceState::Disconnecting { .. }
        ) {
            let spinner = gtk::Spinner::new();
            spinner.start();
            row.append(&spinner);
        }
        if matches!(d.source, UsbSource::Disk { .. }) {
            let remove = gtk::Button::builder()
                .icon_name("user-trash-symbolic")
                .tooltip_text(gettext("Remove this disk image"))
                .valign(gtk::Align::Center)
                .build();
            let (usb, id, weak) = (usb.clone(), d.id, self.downgrade());
            remove.connect_clicked(move |_| {
                if let Err(e) = usb.remove(id)
                    && let Some(dlg) = weak.upgrade()
                {
                    dlg.show_error(Some(&e.to_string()));
                }
            });
            row.append(&remove);
        }
        let active = d.state.is_active();
        let switch = gtk::Switch::builder()
            .active(active)
            .valign(gtk::Align::Center)
            .sensitive(active || channel_free || !matches!(d.state, UsbDeviceState::Disconnecting { .. }))
            .build();
        let (usb, id, weak) = (usb.clone(), d.id, self.downgrade());
        switch.connect_state_set(move |_, on| {
            let r = if on { usb.connect(id) } else { usb.disconnect(id) };
            if let Some(dlg) = weak.upgrade() {
                dlg.show_error(r.as_ref().err().map(ToString::to_string).as_deref());
            }
            glib::Propagation::Proceed
        });
        row.append(&switch);
        row
    }

    fn choose_image(&self) {
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Add Disk Image")),
            Some(self),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Add")),
            Some(&gettext("_Cancel")),
        );
        let filter = gtk::FileFilter::new();
        filter.set_name(Some(&gettext("Raw disk images")));
        for pattern in ["*.img", "*.raw", "*.iso", "*.bin"] {
            filter.add_pattern(pattern);
        }
        chooser.add_filter(&filter);
        let all = gtk::FileFilter::new();
        all.set_name(Some(&gettext("All files")));
        all.add_pattern("*");
        chooser.add_filter(&all);
        let weak = self.downgrade();
        chooser.connect_response(move |chooser, response| {
            let path = (response == gtk::ResponseType::Accept)
                .then(|| chooser.file().and_then(|f| f.path()))
                .flatten();
            if let (Some(path), Some(dlg)) = (path, weak.upgrade()) {
                dlg.add_image(&path);
            }
        });
        chooser.show();
    }

    /// Adds a disk image and connects it (what "Add Disk Image…" does).
    pub fn add_image(&self, path: &std::path::Path) {
        let Some(usb) = self.usb() else {
            return;
        };
        let read_only = self.imp().read_only.is_active();
        let r = usb.add_disk(path, read_only).and_then(|id| usb.connect(id));
        self.show_error(r.as_ref().err().map(ToString::to_string).as_deref());
        self.refresh();
    }
}
