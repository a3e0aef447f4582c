//! The `GtkApplication` (an `AdwApplication` for the Adwaita look): single
//! instance, opens `spice://` URIs and `.vv` files (`HANDLES_OPEN`), shows the
//! connect window when activated without a target, and turns the sessions'
//! outcome into the process exit code.
//!
//! Single instance: a second `sumac ...` (same D-Bus session) forwards its
//! whole command line to the running instance (`HANDLES_COMMAND_LINE`, the
//! `command-line` signal), which parses it as its own: the new connection
//! gets every option (`-t`, `-f`, `-z`, `-H`, `--spice-*`...), file names
//! relative to the second process's directory. That process exits with the
//! status the running instance gives it (0, or 1 when the target cannot be
//! opened). Kiosk mode and `-` (stdin) run as a separate, non-unique instance.
//!
//! Start-up: a process that will be the primary instance (see
//! `instance_running`) starts connecting to its target before GTK starts
//! ([`Started`]); its first window takes that session over.

use super::connect_window::ConnectWindow;
use super::controller::{ConnectRequest, Controller, connect_settings};
use super::settings::{Prefs, keys};
use super::{APP_ID, dialogs};
use crate::client::launch::{KioskQuit, LaunchRequest, Target};
use crate::gtk::session::Started;
use crate::i18n::gettext;
use adw::prelude::*;
use gtk::{gio, glib};
use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;

/// State shared by the app's windows (GTK main thread only).
pub struct AppState {
    pub app: adw::Application,
    pub prefs: Prefs,
    /// Command-line options of this (primary) instance.
    pub options: LaunchRequest,
    controllers: RefCell<Vec<Rc<Controller>>>,
    /// What was given on the command line, opened at the first activation.
    pending: RefCell<Option<ConnectRequest>>,
    /// Its session, when it started connecting before GTK (see [`run`]).
    started: RefCell<Option<Started>>,
    /// Why the command line's target cannot be opened (a missing or malformed
    /// `.vv`, a bad URI): shown in a window at the first activation.
    pending_error: RefCell<Option<String>>,
    /// Non-zero once a session ended with an error the user did not recover from.
    exit_code: Cell<u8>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Starts a session for `request` (its windows appear as monitors do).
    /// The address goes to the recent connections once it has connected.
    pub fn open_request(self: &Rc<Self>, request: ConnectRequest) {
        self.open_started(request, None);
    }

    /// As [`Self::open_request`], taking over `started`, the session started early for it.
    fn open_started(self: &Rc<Self>, request: ConnectRequest, started: Option<Started>) {
        let controller = Controller::start(self, request, started);
        self.controllers.borrow_mut().push(controller);
    }

    /// Opens an address typed in the connect window or given to `open`.
    /// Errors (bad URI, unreadable `.vv`) are returned for display.
    pub fn open_address(self: &Rc<Self>, address: &str) -> Result<(), String> {
        let request = ConnectRequest::from_target(&Target::from_arg(address.trim()), &self.options)?;
        self.open_request(request);
        Ok(())
    }

    /// Opens what was typed in the connect window: as [`Self::open_address`],
    /// except that text without a scheme (`host:port`, `host`) is a
    /// `spice://` address unless it names an existing file.
    pub fn open_typed(self: &Rc<Self>, text: &str) -> Result<(), String> {
        self.open_address(&typed_address(text))
    }

    /// A controller is done (its windows are closed).
    pub fn controller_finished(&self, controller: &Rc<Controller>, failed: bool) {
        if failed {
            self.exit_code.set(1);
        }
        self.controllers.borrow_mut().retain(|c| !Rc::ptr_eq(c, controller));
    }

    /// The `grab-hotkey` preference changed: the open sessions follow.
    pub fn grab_hotkey_changed(&self, preference: &str) {
        for c in self.controllers.borrow().iter() {
            c.grab_hotkey_changed(preference);
        }
    }

    /// Kiosk mode: fullscreen, no header bar, no menus, no quit.
    pub fn kiosk(&self) -> bool {
        self.options.kiosk
    }

    /// Kiosk mode may end when the session ends.
    pub fn kiosk_quits_on_disconnect(&self) -> bool {
        self.options.kiosk_quit == KioskQuit::OnDisconnect
    }

    /// Shows the connect window (a new one unless one is open).
    pub fn show_connect_window(self: &Rc<Self>) -> gtk::Window {
        for w in self.app.windows() {
            if w.widget_name() == ConnectWindow::WIDGET_NAME {
                w.present();
                return w;
            }
        }
        let w = ConnectWindow::new(self);
        w.present();
        w.upcast()
    }

    /// The command line of a second `sumac` (see the module docs): parsed
    /// here as our own, its target opened with its options.
    fn remote_command_line(self: &Rc<Self>, cmdline: &gio::ApplicationCommandLine) -> glib::ExitCode {
        let args = cmdline.arguments();
        tracing::info!(?args, "command line from another process");
        let mut options = match crate::cli::parse(&args) {
            Ok(crate::cli::Parsed::Run(options)) => options,
            // The other process printed its help or refused its command line
            // itself, before forwarding it (GLib 2.74 cannot print there).
            Ok(crate::cli::Parsed::Exit(_)) => return glib::ExitCode::SUCCESS,
            Err(e) => {
                tracing::warn!(error = %e, "forwarded command line refused");
                return glib::ExitCode::FAILURE;
            }
        };
        if let Some(cwd) = cmdline.cwd() {
            options.relative_to(&cwd);
        }
        let Some(target) = &options.target else {
            match self.app.active_window() {
                Some(w) if !self.controllers.borrow().is_empty() => w.present(),
                _ => drop(self.show_connect_window()),
            }
            return glib::ExitCode::SUCCESS;
        };
        match ConnectRequest::from_target(target, &options) {
            Ok(request) => {
                self.open_request(request);
                glib::ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot open the forwarded target");
                // The connect window first, the error over it (never hidden behind it).
                let window = self.show_connect_window();
                dialogs::show_error(Some(&window), &gettext("Cannot Connect"), &e);
                glib::ExitCode::FAILURE
            }
        }
    }

    /// An error found before any window exists, in a window of its own (the
    /// app ends, with status 1, when it is closed).
    fn show_startup_error(&self, text: &str) {
        tracing::info!(error = %text, "startup error shown");
        let dialog = adw::MessageDialog::new(
            None::<&gtk::Window>,
            Some(&gettext("Cannot Open the Connection")),
            Some(text),
        );
        dialog.add_response("close", &gettext("_Close"));
        dialog.set_default_response(Some("close"));
        dialog.set_close_response("close");
        dialog.set_application(Some(&self.app));
        dialog.present();
    }
}

/// Runs the application with the parsed command line; returns the exit code.
pub fn run(options: LaunchRequest) -> ExitCode {
    // Before GTK starts: it opens GL with the display.
    // The display's own order: --renderer, else the preference, else SUMAC_RENDERER.
    let renderer = options.renderer.map_or_else(
        || {
            let pref = Prefs::open().string(keys::RENDERER);
            match std::env::var("SUMAC_RENDERER") {
                Ok(env) if pref == "auto" => env,
                _ => pref,
            }
        },
        |r| r.name().to_owned(),
    );
    super::gl_policy::reexec_without_gl_if_software(crate::gtk::Renderer::from_name(&renderer).unwrap_or_default());
    // WM_CLASS (X11) = the application id, as the desktop file's StartupWMClass says: its
    // instance part is the program name, its class part the display's program class.
    glib::set_prgname(Some(APP_ID));
    if options.target.is_some() {
        // The session will want the video decoders before it links the
        // display channel (their codecs are its capabilities): GStreamer
        // starts here, before GTK (never beside it, see PendingVideo::start),
        // and the decoders are looked up on a thread while GTK starts.
        crate::gtk::session::shared_video();
    }
    let unique = !(options.kiosk || options.target == Some(Target::Stdin));
    // The session starts connecting now, on its threads, while GTK starts and
    // builds the window (the window takes it over) — in a process that will
    // be the primary instance only: a second one hands its command line over
    // without reading its target (a `.vv` with delete-this-file stays for the
    // running instance) or connecting (a SPICE server serves one client: it
    // would drop the running instance's).
    let early = (options.target.is_some() && !(unique && instance_running())).then(|| {
        let _span = tracing::debug_span!("early connect").entered();
        let pending = read_target(&options);
        let started = match &pending {
            Some(Ok(request)) => start_early(request, &options),
            _ => None,
        };
        (pending, started)
    });
    if let Err(e) = adw::init() {
        eprintln!(
            "sumac: {}: {e}",
            gettext("cannot initialize GTK (is a display available?)")
        );
        return ExitCode::from(1);
    }
    tracing::debug!("GTK started");
    set_x11_program_class();
    // A checkout's icons (the app icon) when the app is not installed.
    let dev_icons = concat!(env!("CARGO_MANIFEST_DIR"), "/resources/icons");
    if std::path::Path::new(dev_icons).is_dir()
        && let Some(display) = gtk::gdk::Display::default()
    {
        gtk::IconTheme::for_display(&display).add_search_path(dev_icons);
    }
    let mut flags = gio::ApplicationFlags::HANDLES_OPEN | gio::ApplicationFlags::HANDLES_COMMAND_LINE;
    if !unique {
        flags |= gio::ApplicationFlags::NON_UNIQUE;
    }
    let app = adw::Application::builder().application_id(APP_ID).flags(flags).build();
    if let Err(e) = app.register(None::<&gio::Cancellable>) {
        tracing::warn!(error = %e, "cannot register the application; running on its own");
    }
    tracing::debug!(remote = app.is_remote(), "registered");
    if app.is_remote() {
        // Another instance runs: it gets our whole command line (GLib sends
        // it and waits for the exit status the running instance sets).
        tracing::info!("handing the command line over to the running instance");
        if let Some((_, Some(started))) = early {
            // Another instance took the name after we looked (both started at once).
            tracing::info!("closing the session started early");
            started.close();
        }
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let code = app.run_with_args_os(&args);
        return if code == glib::ExitCode::SUCCESS {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    // The target is read here, in the primary instance only, before the main
    // loop: `-` reads stdin and a `.vv` with delete-this-file is consumed once.
    let (pending, started) = early.unwrap_or_else(|| (read_target(&options), None));
    let (pending, pending_error) = match pending {
        Some(Ok(r)) => (Some(r), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let state = Rc::new(AppState {
        app: app.clone(),
        prefs: Prefs::open(),
        options,
        controllers: RefCell::new(Vec::new()),
        exit_code: Cell::new(if pending_error.is_some() { 1 } else { 0 }),
        pending: RefCell::new(pending),
        started: RefCell::new(started),
        pending_error: RefCell::new(pending_error),
    });
    tracing::debug!(prefs = ?state.prefs, "starting");
    // Before any window exists: GTK picks its renderer with the first one.
    crate::gtk::choose_gtk_renderer(crate::gtk::Renderer::from_name(&renderer).unwrap_or_default());
    install_actions(&state);
    {
        let state = Rc::clone(&state);
        app.connect_activate(move |_| {
            tracing::debug!("activated");
            let error = state.pending_error.borrow_mut().take();
            if let Some(e) = error {
                state.show_startup_error(&e);
            } else if let Some(request) = state.pending.borrow_mut().take() {
                let started = state.started.borrow_mut().take();
                state.open_started(request, started);
            } else if state.controllers.borrow().is_empty() || state.app.windows().is_empty() {
                let _ = state.show_connect_window();
            } else if let Some(w) = state.app.active_window() {
                w.present();
            }
        });
    }
    {
        let state = Rc::clone(&state);
        app.connect_command_line(move |app, cmdline| {
            if !cmdline.is_remote() {
                // Our own command line, parsed already (see `pending`).
                app.activate();
                return glib::ExitCode::SUCCESS;
            }
            state.remote_command_line(cmdline)
        });
    }
    {
        let state = Rc::clone(&state);
        app.connect_open(move |_, files, _hint| {
            for file in files {
                let address = file
                    .path()
                    .map_or_else(|| file.uri().to_string(), |p| p.display().to_string());
                if let Err(e) = state.open_address(&address) {
                    tracing::error!(%address, error = %e, "cannot open");
                    // The connect window first, the error over it (never hidden behind it).
                    let window = state.show_connect_window();
                    dialogs::show_error(Some(&window), &gettext("Cannot Connect"), &e);
                }
            }
        });
    }
    let argv0 = std::env::args().next().unwrap_or_else(|| "sumac".to_owned());
    let code = app.run_with_args(&[argv0]);
    if code != glib::ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    ExitCode::from(state.exit_code.get())
}

/// Reads the command line's target (a `.vv` file once: it may delete itself).
fn read_target(options: &LaunchRequest) -> Option<Result<ConnectRequest, String>> {
    let target = options.target.as_ref()?;
    let request = ConnectRequest::from_target(target, options);
    if let Err(e) = &request {
        eprintln!("sumac: {e}");
    }
    Some(request)
}

/// Starts connecting for `request` as its controller would (see
/// [`connect_settings`]); `None` when the session cannot start, which the
/// window then shows when it connects.
fn start_early(request: &ConnectRequest, options: &LaunchRequest) -> Option<Started> {
    let prefs = Prefs::open();
    let kiosk_quits = options.kiosk && options.kiosk_quit == KioskQuit::OnDisconnect;
    let (config, session_options) = connect_settings(request, Some(&prefs), kiosk_quits);
    match Started::start(config, session_options, prefs.boolean(keys::MICROPHONE)) {
        Ok(started) => {
            tracing::debug!("session started before GTK");
            Some(started)
        }
        Err(e) => {
            tracing::debug!(error = %e, "the session cannot start early");
            None
        }
    }
}

/// Whether another process owns the app's D-Bus name (a running instance,
/// which would get our command line): one round trip on the session bus,
/// whose connection GApplication then uses. No session bus: no instance
/// (the app runs on its own); a failed question: maybe one.
fn instance_running() -> bool {
    let Ok(bus) = gio::bus_get_sync(gio::BusType::Session, None::<&gio::Cancellable>) else {
        return false;
    };
    let reply = bus.call_sync(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "NameHasOwner",
        Some(&(APP_ID,).to_variant()),
        None,
        gio::DBusCallFlags::NONE,
        2000,
        None::<&gio::Cancellable>,
    );
    match reply.map(|v| v.get::<(bool,)>()) {
        Ok(Some((owned,))) => owned,
        _ => true,
    }
}

fn install_actions(state: &Rc<AppState>) {
    let app = &state.app;
    let about = gio::SimpleAction::new("about", None);
    {
        let app = app.clone();
        about.connect_activate(move |_, _| dialogs::show_about(app.active_window().as_ref()));
    }
    app.add_action(&about);

    let prefs = gio::SimpleAction::new("preferences", None);
    {
        let state = Rc::downgrade(state);
        prefs.connect_activate(move |_, _| {
            if let Some(state) = state.upgrade() {
                dialogs::show_preferences(&state);
            }
        });
    }
    app.add_action(&prefs);

    let new_connection = gio::SimpleAction::new("new-connection", None);
    {
        let state = Rc::downgrade(state);
        new_connection.connect_activate(move |_, _| {
            if let Some(state) = state.upgrade() {
                let _ = state.show_connect_window();
            }
        });
    }
    app.add_action(&new_connection);

    let quit = gio::SimpleAction::new("quit", None);
    {
        let app = app.clone();
        quit.connect_activate(move |_, _| {
            for w in app.windows() {
                w.close();
            }
        });
    }
    // Kiosk: no quit, no accelerators.
    quit.set_enabled(!state.kiosk());
    new_connection.set_enabled(!state.kiosk());
    app.add_action(&quit);
    if !state.kiosk() {
        app.set_accels_for_action("app.quit", &["<Control>q"]);
        app.set_accels_for_action("app.new-connection", &["<Control>n"]);
        app.set_accels_for_action("window.close", &["<Control>w"]);
        // GTK binds Ctrl+? itself only for a help overlay loaded from the app's
        // resources (gtk/help-overlay.ui); ours is set with `set_help_overlay`.
        app.set_accels_for_action("win.show-help-overlay", &["<Control>question"]);
    }
}

/// What the connect window makes of typed text: URIs, existing files and
/// what looks like a path (a `/`, a `.vv` name) as they are; anything else
/// without a scheme (`host:port`, `host`) as `spice://text`.
pub fn typed_address(text: &str) -> String {
    typed_address_with(text, &|p| p.exists())
}

fn typed_address_with(text: &str, exists: &dyn Fn(&std::path::Path) -> bool) -> String {
    let text = text.trim();
    let looks_like_a_file = text.contains('/') || text.to_ascii_lowercase().ends_with(".vv");
    if text.is_empty() || text == "-" || text.contains("://") || looks_like_a_file || exists(std::path::Path::new(text))
    {
        return text.to_owned();
    }
    format!("spice://{text}")
}

/// Makes the class part of the windows' WM_CLASS the application id (GDK would
/// capitalise the program name: "Io.github…"); only X11 has WM_CLASS.
fn set_x11_program_class() {
    #[cfg(feature = "x11")]
    if let Some(display) = gtk::gdk::Display::default()
        && let Some(x11) = display.downcast_ref::<gdk4_x11::X11Display>()
    {
        x11.set_program_class(APP_ID);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_addresses() {
        assert_eq!(typed_address(" 10.0.0.2:5900 "), "spice://10.0.0.2:5900");
        assert_eq!(typed_address("vm.example"), "spice://vm.example");
        assert_eq!(typed_address("spice+tls://h:5901"), "spice+tls://h:5901");
        let here = |p: &std::path::Path| p == std::path::Path::new("h:5900");
        assert_eq!(
            typed_address_with("h:5900", &here),
            "h:5900",
            "an existing file stays a file"
        );
        assert_eq!(typed_address_with("h:5901", &here), "spice://h:5901");
        assert_eq!(
            typed_address("/no/such/vm.vv"),
            "/no/such/vm.vv",
            "a missing file is still a file"
        );
        assert_eq!(typed_address("vm.vv"), "vm.vv");
    }
}
