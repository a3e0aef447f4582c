//! L2: the embeddable GTK4 widget (feature `gtk`).
//!
//! - [`Session`] (GType `SumacSession`): a SPICE session as a GObject; its
//!   events arrive on the GTK main context as signals.
//! - [`Display`] (GType `SumacDisplay`): one monitor of a display channel,
//!   with OpenGL or cairo rendering, scaling and an overlay.
//! - [`Machine`] (GType `SumacMachine`): the guest machine behind the QMP
//!   port (pause, resume, reset, power down, run state).
//! - [`UsbDialog`] (GType `SumacUsbDialog`): the USB devices dialog of a session.
//! - [`UsbDevice`] (GType `SumacUsbDevice`): one USB device of a session, the
//!   items of [`Session::usb_devices`] (a `GListModel`).
//!
//! ```no_run
//! use sumac::gtk::{Display, Session};
//! use gtk::prelude::*;
//! # fn build(app: &gtk::Application) {
//! let session = Session::new();
//! let display = Display::new(&session, 0, 0);
//! gtk::ApplicationWindow::builder().application(app).child(&display).build().present();
//! session.connect_uri("spice://127.0.0.1:5900").ok();
//! # }
//! ```

pub mod display;
pub mod machine;
pub mod session;
pub mod usb_devices;
pub mod usb_dialog;

pub use display::{Display, OverlayState, Renderer, choose_gtk_renderer, is_software_gl};
pub use machine::Machine;
pub use session::{Session, SessionError};
pub use usb_devices::UsbDevice;
pub use usb_dialog::UsbDialog;

/// Initializes GTK (idempotent; call from the main thread before creating
/// widgets when not running inside a `gtk::Application`).
pub fn init() -> Result<(), gtk::glib::BoolError> {
    if gtk::is_initialized_main_thread() {
        return Ok(());
    }
    gtk::init()
}
