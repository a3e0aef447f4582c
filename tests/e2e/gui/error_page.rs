//! The error page of the `sumac` app against the test server (Xvfb with openbox): a server that
//! wants a password gets a prompt (asked again, with the reason, after a wrong one; the password
//! is never written anywhere), a server that accepts the connection and says nothing shows the
//! time elapsed and Cancel while connecting, then a clear message with Reconnect.

use crate::support::desktop::{Desktop, desktop_tools, files_containing};
use crate::support::mouse::wait_inputs_linked;
use crate::support::tools::require_tools;
use crate::support::wait::wait_until;
use std::time::Duration;
use sumac_test_server::{Fault, ServerConfig, TestServer};

const SECRET: &str = "s3cret-Pw";

#[test]
fn password_prompt_asks_again_after_a_wrong_one_and_connects() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig {
        password: Some(SECRET.into()),
        client_mouse: true,
        ..ServerConfig::default()
    })
    .expect("test server");
    let desktop = Desktop::start("password", &[&server.uri()]);
    wait_until("the password prompt", || {
        desktop.app.log().contains("title=Password Required ask_password=true")
    });
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("password-required");
    // The entry has the focus.
    desktop.xdo(&["windowfocus", "--sync", &desktop.window]);
    desktop.xdo(&["type", "--delay", "30", "wrong"]);
    desktop.xdo(&["key", "Return"]);
    wait_until("asked again, with the reason", || {
        desktop.app.log().contains("title=Wrong Password ask_password=true")
    });
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("wrong-password");
    desktop.xdo(&["type", "--delay", "30", SECRET]);
    desktop.xdo(&["key", "Return"]);
    wait_inputs_linked(&server, &desktop.app);
    desktop.focus_guest(&server);
    desktop.screenshot("connected-after-password");
    // Never stored, never logged.
    let hits = files_containing(&desktop.out, SECRET);
    assert!(hits.is_empty(), "the password was written to {hits:?}");
}

#[test]
fn a_silent_server_shows_the_time_elapsed_and_cancel_then_a_clear_message() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = TestServer::start(ServerConfig {
        fault: Some(Fault::SilentLink),
        ..ServerConfig::default()
    })
    .expect("test server");
    let desktop = Desktop::start("silent", &[&server.uri()]);
    std::thread::sleep(Duration::from_secs(3));
    desktop.screenshot("connecting-elapsed");
    // The link times out (15 s by default) with a message and Reconnect.
    wait_until("the link timeout's page", || {
        desktop.app.log().contains("title=No Answer From the Server")
    });
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("link-timeout");
    // The technical detail behind the expander (Tab from Reconnect, which has the focus).
    desktop.xdo(&["windowfocus", "--sync", &desktop.window]);
    desktop.xdo(&["key", "Tab", "space"]);
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("link-timeout-details");
    // Reconnect, then Cancel (which has the focus then).
    desktop.xdo(&["key", "shift+Tab", "Return"]);
    wait_until("connecting again", || desktop.app.log().contains("reconnecting"));
    std::thread::sleep(Duration::from_millis(500));
    desktop.xdo(&["key", "Return"]);
    wait_until("the cancel", || desktop.app.log().contains("connection cancelled"));
    wait_until("the cancelled page", || {
        desktop.app.log().contains("title=Connection Cancelled")
    });
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("cancelled");
}
