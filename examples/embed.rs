//! Embeds a Sumac session in a plain GTK window:
//! `cargo run --example embed -- spice://127.0.0.1:5900 [--zoom=100]`
//! (`--zoom=N` shows the guest at N % instead of fitting it to the window).
use gtk::glib;
use gtk::prelude::*;
use sumac::gtk::{Display, Session};

fn main() -> glib::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let Some(uri) = args.next() else {
        eprintln!("usage: embed SPICE-URI [--zoom=PERCENT]");
        return glib::ExitCode::FAILURE;
    };
    let zoom: Option<u32> = args.find_map(|a| a.strip_prefix("--zoom=")?.parse().ok());
    let app = gtk::Application::builder()
        .application_id("io.github.sumac.Embed")
        .flags(gtk::gio::ApplicationFlags::NON_UNIQUE)
        .build();
    app.connect_activate(move |app| {
        let session = Session::new();
        let display = Display::new(&session, 0, 0);
        if let Some(zoom) = zoom {
            display.set_scaling(false);
            display.set_zoom_level(zoom);
        }
        let window = gtk::ApplicationWindow::builder()
            .application(app)
            .title("Sumac")
            .child(&display)
            .build();
        // The display's overlay shows the error; the terminal gets it too.
        session.connect_disconnected(|_, reason| eprintln!("disconnected: {reason}"));
        if let Err(e) = session.connect_uri(&uri) {
            eprintln!("cannot connect: {e}");
        }
        window.present();
    });
    app.run_with_args(&[] as &[&str])
}
