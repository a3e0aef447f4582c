//! The `sumac` desktop app: a single-instance `GtkApplication` (Adwaita look)
//! that opens SPICE URIs and `.vv` files, one window per enabled guest
//! monitor, a connect window with recent connections when started without an
//! argument, a header-bar menu, remote-viewer's hotkeys and kiosk mode.
//!
//! # Files
//! - [`application`]: the `GtkApplication`, app actions, `open`/`activate`, exit code.
//! - The command line is [`crate::cli`] (clap, remote-viewer compatible) filling a
//!   [`LaunchRequest`](crate::client::launch::LaunchRequest) (GTK-free).
//! - [`controller`]: one SPICE session and its windows (opened and closed with the guest's monitors).
//! - [`session_window`]: a window showing one monitor: header bar, menu, overlay with Reconnect;
//!   `audio_controls`: its volume button and microphone indicator.
//! - [`connect_window`]: the window without argument (address + recent connections).
//! - [`dialogs`]: about, guest details, preferences, shortcuts window, screenshot.
//! - [`error_page`] (template `ui/error-page.ui`) and [`problem`]: what a failed connection
//!   shows: a title, one sentence, the password entry when asked, the detail behind an expander.
//! - `stats_overlay`: the stats panel over the display (video streams, bandwidth), its
//!   toggle and hotkey; [`displays_menu`]: the Displays submenu (guest monitors on and off);
//!   `menu_extras`: the main menu's section for both (`ui/session-menu-extras.ui`).
//! - [`keys`], [`recent`], [`settings`]: send-key combos, recent list, preferences storage.
//! - `guest_agent`: clipboard/auto-resize preferences, Send File…, the resize toggle, refusal
//!   messages; [`transfers`]: the File Transfers window.
//!
//! UI definitions are `ui/*.ui`, compiled in with `include_str!`.

pub mod application;
mod audio_controls;
pub mod connect_window;
pub mod console_window;
pub mod consoles;
pub mod controller;
pub mod dialogs;
pub mod displays_menu;
pub mod error_page;
pub mod folder_menu;
mod gl_policy;
mod guest_agent;
mod hotkey_row;
pub mod keys;
pub mod machine_menu;
mod menu_extras;
pub mod problem;
pub mod recent;
pub mod saved_notice;
pub mod session_window;
pub mod settings;
pub mod smartcard_menu;
mod stats_overlay;
pub mod transfers;

use std::process::ExitCode;

/// The application id (D-Bus name, GSettings schema, desktop file).
pub const APP_ID: &str = "io.github.sumac.Sumac";

/// Runs the app: parses the command line (remote-viewer compatible), installs
/// the log subscriber, then runs the `GtkApplication`.
pub fn run() -> ExitCode {
    let request = match crate::cli::parse(std::env::args_os()) {
        Ok(crate::cli::Parsed::Run(request)) => request,
        Ok(crate::cli::Parsed::Exit(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n");
            eprint!("{}", e.help());
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1));
        }
    };
    init_tracing(request.log_filter());
    if let Err(e) = crate::i18n::init(&crate::i18n::default_localedir()) {
        tracing::debug!(error = %e, "no translations");
    }
    application::run(request)
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes when stderr is a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
