//! The password prompt against a real Xspice started with `--password`: the `sumac` app given
//! the address without the password asks for it, asks again with the reason after a wrong one,
//! connects with the right one, and writes it nowhere (Xvfb with openbox for the client).

use crate::support::desktop::{Desktop, desktop_tools};
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{XSPICE_TOOLS, require_real_servers};
use crate::support::wait::wait_until;
use std::time::Duration;

const SECRET: &str = "xspice-Pw-7";

#[test]
fn xspice_password_prompt() {
    let mut tools = XSPICE_TOOLS.to_vec();
    tools.extend(desktop_tools());
    let Some(()) = require_real_servers(&tools) else {
        return;
    };
    let xspice = Xspice::start(XspiceOpts {
        password: Some(SECRET.into()),
        ..XspiceOpts::default()
    })
    .expect("Xspice");
    let port = xspice.port.expect("Xspice's plain port");
    let desktop = Desktop::start("xspice-password", &[&format!("spice://127.0.0.1:{port}")]);
    wait_until("the password prompt", || {
        desktop.app.log().contains("title=Password Required ask_password=true")
    });
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("xspice-password-required");
    desktop.xdo(&["windowfocus", "--sync", &desktop.window]);
    desktop.xdo(&["type", "--delay", "30", "not-it"]);
    desktop.xdo(&["key", "Return"]);
    wait_until("asked again, with the reason", || {
        desktop.app.log().contains("title=Wrong Password ask_password=true")
    });
    desktop.xdo(&["type", "--delay", "30", SECRET]);
    desktop.xdo(&["key", "Return"]);
    wait_until("connected with the typed password", || {
        desktop.app.log().contains("inputs channel ready")
    });
    std::thread::sleep(Duration::from_secs(1));
    desktop.screenshot("xspice-connected");
    let log = desktop.app.log();
    assert!(!log.contains(SECRET), "the password is in the app's log");
    let hits = crate::support::desktop::files_containing(&desktop.out, SECRET);
    assert!(hits.is_empty(), "the password was written to {hits:?}");
}
