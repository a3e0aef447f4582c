//! One SPICE session of the app and its windows: a window per enabled guest
//! monitor (opened and closed as `monitors-changed` reports), the title from
//! the server name, the error overlay with Reconnect (also when one channel
//! fails), the automatic reconnect (`--reconnect` or the preference), and
//! the end of the session (windows closed, exit status reported to the
//! application).

use super::application::AppState;
use super::error_page::Typed;
use super::problem::Problem;
use super::session_window::{SessionWindow, apply_accels, window_title};
use super::settings::keys;
use crate::client::launch::{Launch, LaunchRequest, Target};
use crate::client::screenshot::{RgbImage, monitor_image};
use crate::client::vv::{Hotkey, HotkeyAction, Modifiers};
use crate::client::{ConnectionConfig, SessionOptions};
use crate::display::MonitorHead;
use crate::gtk::Session;
use crate::gtk::display::{Display, Renderer};
use crate::gtk::session::Started;
use crate::i18n::{gettext, gettext_f};
use gtk::glib;
use gtk::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

/// Everything needed to open (and reopen) a session: the command-line
/// options merged with the target ([`crate::client::launch::Launch`]).
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// What goes to the recent connections (a URI or a `.vv` path that still
    /// exists; `None` for stdin or a deleted one-shot file).
    pub recent: Option<String>,
    /// Shown in titles until the server sends its name.
    pub label: String,
    pub launch: Launch,
    pub zoom: Option<u32>,
    /// `--renderer`, overriding the preference.
    pub renderer: Option<&'static str>,
    /// `--auto-resize`, overriding the preference.
    pub auto_resize: Option<crate::client::launch::AutoResize>,
}

impl ConnectRequest {
    /// Reads `target` (a `.vv` file is read once, and deleted when it says
    /// so) and merges it with the command-line `options`.
    pub fn from_target(target: &Target, options: &LaunchRequest) -> Result<Self, String> {
        let mut request = options.clone();
        request.target = Some(target.clone());
        let launch = match request.resolve() {
            Ok(Some(l)) => l,
            Ok(None) => return Err(gettext("Nothing to connect to")),
            Err(e) => {
                let what = match target {
                    Target::Uri(u) => u.clone(),
                    Target::VvFile(p) => p.display().to_string(),
                    Target::Stdin => gettext("standard input"),
                };
                return Err(gettext_f(
                    "Cannot open {what}: {error}",
                    &[("what", &what), ("error", &e.to_string())],
                ));
            }
        };
        let (recent, label) = match target {
            Target::Uri(u) => (
                Some(u.clone()),
                host_label(&launch.connection).unwrap_or_else(|| u.clone()),
            ),
            Target::VvFile(p) => {
                let path = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                let recent = path.exists().then(|| path.display().to_string());
                let name = p
                    .file_name()
                    .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
                (recent, name)
            }
            Target::Stdin => (None, host_label(&launch.connection).unwrap_or_default()),
        };
        Ok(Self {
            recent,
            label,
            launch,
            zoom: options.zoom,
            renderer: options.renderer.map(crate::client::launch::Renderer::name),
            auto_resize: options.auto_resize,
        })
    }
}

/// What a session of `request` connects with before a password or proxy
/// credentials are typed: the request's settings, the shared folder settable
/// while connected, the automatic reconnect when the preference asks for it
/// (and kiosk mode does not end with the session).
pub fn connect_settings(
    request: &ConnectRequest,
    prefs: Option<&super::settings::Prefs>,
    kiosk_quits_on_disconnect: bool,
) -> (ConnectionConfig, SessionOptions) {
    let mut options = request.launch.session.clone();
    // The shared folder can be set while connected (the main menu's Share Folder…).
    options.webdav_server = true;
    if options.reconnect.is_none()
        && prefs.is_some_and(|p| p.boolean(keys::AUTO_RECONNECT))
        && !kiosk_quits_on_disconnect
    {
        options.reconnect = Some(crate::client::ReconnectPolicy::default());
    }
    (request.launch.connection.clone(), options)
}

/// `host:port` of a connection, for titles.
fn host_label(c: &ConnectionConfig) -> Option<String> {
    if let Some(p) = &c.unix_path {
        return Some(p.display().to_string());
    }
    let host = c.host.as_ref()?;
    Some(match c.port.or(c.tls_port) {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    })
}

/// The display's release hotkey when nothing else names one: Shift+F12
/// (remote-viewer's).
pub fn default_release_hotkey() -> Hotkey {
    Hotkey {
        modifiers: Modifiers::SHIFT,
        key: Some("F12".to_owned()),
    }
}

/// The release-cursor hotkey of a session: the one `-H` or the `.vv` file
/// names (`from_launch`), else the `grab-hotkey` preference, else
/// [`default_release_hotkey`].
pub fn release_hotkey(from_launch: Option<&Hotkey>, preference: &str) -> Hotkey {
    if let Some(h) = from_launch {
        return h.clone();
    }
    match Hotkey::parse_for(HotkeyAction::ReleaseCursor, preference) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "invalid grab-hotkey preference; using Shift+F12");
            default_release_hotkey()
        }
    }
}

/// Key of a window: (display channel id, monitor id).
pub type MonitorKey = (u8, u32);

/// The monitors of display channel `channel_id` that get a window: the
/// enabled heads (non-empty size) of its MONITORS_CONFIG, or monitor 0 when
/// the server sent none (a single-head guest).
pub fn enabled_monitors(channel_id: u8, heads: &[MonitorHead]) -> Vec<MonitorKey> {
    if heads.is_empty() {
        return vec![(channel_id, 0)];
    }
    let mut keys: Vec<MonitorKey> = heads
        .iter()
        .filter(|h| h.width > 0 && h.height > 0)
        .map(|h| (channel_id, h.monitor_id))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A running session and its windows.
pub struct Controller {
    state: Weak<AppState>,
    request: ConnectRequest,
    session: Session,
    windows: RefCell<BTreeMap<MonitorKey, Rc<SessionWindow>>>,
    /// The last disconnect was an error (cleared by a reconnect).
    failed: Cell<bool>,
    /// A password typed on the error page: in memory for this session's
    /// reconnects only, never stored.
    password: RefCell<Option<crate::client::config::Password>>,
    /// The proxy user name and password typed on the error page after a 407:
    /// in memory for this session's reconnects only, never stored.
    proxy_credentials: RefCell<Option<crate::client::proxy::ProxyCredentials>>,
    finished: Cell<bool>,
    /// The session the app started connecting before GTK (the first connect takes it).
    started: RefCell<Option<Started>>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("address", &self.request.label)
            .field("windows", &self.windows.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// Opens the first window ("Connecting…") and starts the session, or
    /// takes over `started`, the session started early for `request`.
    pub fn start(state: &Rc<AppState>, request: ConnectRequest, started: Option<Started>) -> Rc<Self> {
        apply_accels(&state.app, &request.launch.hotkeys);
        let this = Rc::new(Self {
            state: Rc::downgrade(state),
            request,
            session: Session::new(),
            windows: RefCell::new(BTreeMap::new()),
            failed: Cell::new(false),
            password: RefCell::new(None),
            proxy_credentials: RefCell::new(None),
            finished: Cell::new(false),
            started: RefCell::new(started),
        });
        this.connect_signals();
        super::guest_agent::attach(&state.app, &this.session);
        this.ensure_window((0, 0));
        this.connect();
        this
    }

    fn connect_signals(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        self.session.connect_monitors_changed(move |_, channel| {
            if let (Some(this), Ok(channel)) = (weak.upgrade(), u8::try_from(channel)) {
                this.monitors_changed(channel);
            }
        });
        let weak = Rc::downgrade(self);
        self.session.connect_notify_local(Some("name"), move |_, _| {
            if let Some(this) = weak.upgrade() {
                this.update_titles();
            }
        });
        let weak = Rc::downgrade(self);
        self.session.connect_connected(move |_| {
            if let Some(this) = weak.upgrade() {
                tracing::info!(address = %this.request.label, "connected");
                this.failed.set(false);
                // Only what connected is remembered.
                if let (Some(state), Some(address)) = (this.state.upgrade(), &this.request.recent) {
                    state.prefs.add_recent(address);
                }
            }
        });
        let weak = Rc::downgrade(self);
        self.session.connect_usb_error(move |_, text| {
            if let Some(this) = weak.upgrade() {
                this.usb_error(text);
            }
        });
        let weak = Rc::downgrade(self);
        self.session.connect_reconnecting(move |_, attempt, _| {
            if let Some(this) = weak.upgrade() {
                tracing::debug!(attempt, "reconnecting: error pages cleared");
                for w in this.windows.borrow().values() {
                    w.show_reconnecting();
                }
            }
        });
        let weak = Rc::downgrade(self);
        self.session.connect_channel_failed(move |_, channel, error| {
            if let Some(this) = weak.upgrade() {
                tracing::warn!(%channel, %error, "a channel failed");
                let problem = Problem::channel_failed(channel, error);
                for w in this.windows.borrow().values() {
                    w.show_error(&problem);
                }
            }
        });
        let weak = Rc::downgrade(self);
        self.session.connect_disconnected(move |_, reason| {
            if let Some(this) = weak.upgrade() {
                this.disconnected(reason);
            }
        });
    }

    fn connect(self: &Rc<Self>) {
        for w in self.windows.borrow().values() {
            w.clear_error();
        }
        let state = self.state.upgrade();
        if let Some(state) = &state {
            self.session
                .set_microphone_allowed(state.prefs.boolean(keys::MICROPHONE));
            super::guest_agent::configure(&self.session, &state.prefs, self.request.auto_resize);
        }
        let started = self.started.take();
        let result = if let Some(started) = started {
            // Started with `connect_settings` too, before GTK (see `application::run`).
            tracing::debug!("taking over the session started early");
            self.session.connect_started(started)
        } else {
            let kiosk_quits = state
                .as_ref()
                .is_some_and(|s| s.kiosk() && s.kiosk_quits_on_disconnect());
            let prefs = state.as_ref().map(|s| &s.prefs);
            let (mut connection, options) = connect_settings(&self.request, prefs, kiosk_quits);
            if let Some(pw) = self.password.borrow().clone() {
                connection.password = Some(pw);
            }
            if let Some(c) = self.proxy_credentials.borrow().clone() {
                connection.proxy_credentials = Some(c);
            }
            self.session.connect(connection, options)
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot start the session");
            // The session never started: show it like a disconnect.
            let this = Rc::clone(self);
            let text = e.to_string();
            glib::idle_add_local_once(move || this.disconnected(&text));
        }
    }

    /// The Reconnect button.
    pub fn reconnect(self: &Rc<Self>) {
        self.reconnect_with(Typed::default());
    }

    /// Reconnect from the error page, with the password or proxy credentials typed there (if it
    /// asked for them).
    pub fn reconnect_with(self: &Rc<Self>, typed: Typed) {
        tracing::info!(
            address = %self.request.label,
            with_password = typed.password.is_some(),
            with_proxy_credentials = typed.proxy.is_some(),
            "reconnecting"
        );
        if let Some(p) = typed.password {
            self.password.replace(Some(crate::client::config::Password::new(p)));
        }
        if let Some((user, password)) = typed.proxy {
            let password = crate::client::config::Password::new(password);
            let credentials = crate::client::proxy::ProxyCredentials { user, password };
            self.proxy_credentials.replace(Some(credentials));
        }
        self.failed.set(false);
        self.connect();
    }

    /// The `grab-hotkey` preference changed to `preference`: the windows
    /// follow, unless `-H` or the `.vv` file named the release hotkey.
    pub fn grab_hotkey_changed(&self, preference: &str) {
        if self.request.launch.release_cursor.is_some() {
            return;
        }
        let hotkey = release_hotkey(None, preference);
        tracing::info!(%hotkey, "release hotkey changed");
        for w in self.windows.borrow().values() {
            w.set_release_hotkey(&hotkey);
        }
    }

    /// A device the policy wanted redirected (auto-connect, redirect on
    /// connect, a `--usb-disk`) could not be: tell the user, as remote-viewer does.
    fn usb_error(&self, text: &str) {
        tracing::warn!(error = %text, "USB redirection");
        let parent = self.windows.borrow().values().next().map(|w| w.window.clone());
        super::dialogs::show_error(
            parent.as_ref().map(|w| w.upcast_ref::<gtk::Window>()),
            &gettext("USB Redirection Error"),
            text,
        );
    }

    /// Cancel while connecting: the attempt stops, the error page offers Reconnect.
    pub fn cancel(self: &Rc<Self>) {
        tracing::info!(address = %self.request.label, "connection cancelled");
        // A requested disconnect: `disconnected("")`, which shows nothing by itself.
        self.session.disconnect();
        self.failed.set(true);
        for w in self.windows.borrow().values() {
            w.show_error(&Problem::cancelled());
        }
    }

    fn disconnected(self: &Rc<Self>, reason: &str) {
        if self.finished.get() {
            return;
        }
        if reason.is_empty() {
            // We asked for it (window closed, quit): nothing to show.
            return;
        }
        tracing::warn!(address = %self.request.label, error = %reason, "session ended");
        self.failed.set(true);
        let Some(state) = self.state.upgrade() else { return };
        // Kiosk without on-disconnect stays, offering Reconnect.
        if state.kiosk() && state.kiosk_quits_on_disconnect() {
            self.finish();
        }
        let password_given = self.password.borrow().is_some() || self.request.launch.connection.password.is_some();
        let problem = match self.session.last_error() {
            Some(e) => Problem::describe(&e, password_given),
            None => Problem::from_text(reason),
        };
        for w in self.windows.borrow().values() {
            w.show_error(&problem);
        }
    }

    fn monitors_changed(self: &Rc<Self>, channel: u8) {
        let heads = self.session.monitors(channel);
        let wanted = enabled_monitors(channel, &heads);
        tracing::debug!(channel, ?heads, ?wanted, "monitors changed");
        for key in &wanted {
            self.ensure_window(*key);
        }
        // Close this channel's windows whose monitor went away, but always
        // keep one window for the session.
        let gone: Vec<MonitorKey> = self
            .windows
            .borrow()
            .keys()
            .filter(|k| k.0 == channel && !wanted.contains(k))
            .copied()
            .collect();
        for key in gone {
            if self.windows.borrow().len() <= 1 {
                break;
            }
            if let Some(w) = self.windows.borrow_mut().remove(&key) {
                tracing::info!(
                    channel = key.0,
                    monitor = key.1,
                    "guest disabled a monitor: closing its window"
                );
                w.close_by_controller();
            }
        }
        self.update_titles();
    }

    fn ensure_window(self: &Rc<Self>, key: MonitorKey) {
        if self.windows.borrow().contains_key(&key) {
            return;
        }
        let Some(state) = self.state.upgrade() else { return };
        tracing::debug!("building the display");
        let display = Display::new(&self.session, key.0, key.1);
        let renderer = self
            .request
            .renderer
            .map_or_else(|| state.prefs.string(keys::RENDERER), str::to_owned);
        match Renderer::from_name(&renderer) {
            Some(r) => display.set_renderer(r),
            None => tracing::warn!(%renderer, "unknown renderer in the preferences; using auto"),
        }
        // The release-cursor hotkey: -H or the .vv file's, else the preference.
        let mut release = release_hotkey(
            self.request.launch.release_cursor.as_ref(),
            &state.prefs.string(keys::GRAB_HOTKEY),
        );
        if !display.set_release_hotkey(&release) {
            release = default_release_hotkey();
        }
        // The app's windows can always be made smaller than a zoomed guest.
        display.set_shrinkable(true);
        match self.request.zoom {
            Some(z) => {
                display.set_scaling(false);
                display.set_zoom_level(z);
            }
            None => display.set_scaling(state.prefs.boolean(keys::SCALING)),
        }
        // The shortcuts window shows the release hotkey in effect.
        let mut hotkeys = self.request.launch.hotkeys.clone();
        if !state.kiosk() {
            hotkeys.set(HotkeyAction::ReleaseCursor, release.clone());
        }
        tracing::debug!("building the window");
        let window = SessionWindow::new(&state.app, self, display, &hotkeys, &release, state.kiosk());
        if self.request.launch.fullscreen {
            window.window.fullscreen();
        }
        tracing::info!(channel = key.0, monitor = key.1, "opening a window");
        window.present_when_sized();
        self.windows.borrow_mut().insert(key, window);
        self.update_titles();
    }

    fn update_titles(&self) {
        let name = self.session.name();
        let name = if name.is_empty() {
            self.request.label.clone()
        } else {
            name
        };
        let windows = self.windows.borrow();
        let count = windows.len();
        for ((_, monitor), w) in windows.iter() {
            w.set_title(&window_title(
                self.request.launch.title.as_deref(),
                &name,
                *monitor,
                count,
            ));
        }
    }

    /// A window was closed by the user: the session ends, with its other windows.
    pub fn user_closed(self: &Rc<Self>) {
        self.finish();
    }

    /// Disconnects, closes every window and reports to the application.
    fn finish(self: &Rc<Self>) {
        if self.finished.replace(true) {
            return;
        }
        self.session.disconnect();
        let windows: Vec<Rc<SessionWindow>> = self.windows.borrow_mut().values().cloned().collect();
        self.windows.borrow_mut().clear();
        for w in windows {
            w.close_by_controller();
        }
        if let Some(state) = self.state.upgrade() {
            state.controller_finished(self, self.failed.get());
        }
    }

    /// Sends key presses (pressed in order, released in reverse) to the guest.
    pub fn send_keys(&self, scancodes: &[u16]) {
        let sent = self.session.with_handle(|h| h.inputs().send_keys(scancodes));
        if sent.is_none() {
            tracing::debug!("send-key ignored: not connected");
        }
    }

    /// The guest name, once the server sent it.
    pub fn guest_name(&self) -> Option<String> {
        let n = self.session.name();
        (!n.is_empty()).then_some(n)
    }

    /// The guest UUID, once the server sent it.
    ///
    /// INTEGRATION POINT (uuid): `gtk::Session` drops `SessionEvent::Uuid`
    /// today; once it keeps it (e.g. a `uuid()` getter), format it here with
    /// [`dialogs::format_uuid`].
    pub fn guest_uuid(&self) -> Option<String> {
        None
    }

    /// Pixels of monitor `(channel, monitor)` (for screenshots).
    pub fn monitor_image(&self, channel: u8, monitor: u32) -> Option<RgbImage> {
        let state = self.session.display_state(channel)?;
        let state = state.lock().ok()?;
        let heads = state.monitors().to_vec();
        let head = heads.iter().find(|h| h.monitor_id == monitor);
        if !heads.is_empty() && head.is_none() {
            return None;
        }
        monitor_image(&state, head)
    }
}

#[cfg(test)]
mod tests;
