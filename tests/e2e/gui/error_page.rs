//! The error page of the `sumac` app against the test server (Xvfb with openbox): a server that
//! wants a password gets a prompt (asked again, with the reason, after a wrong one; the password
//! is never written anywhere), a server that accepts the connection and says nothing shows the
//! time elapsed and Cancel while connecting, then a clear message with Reconnect. An HTTP
//! CONNECT proxy that answers 407 gets a user name and password prompt, asked again after wrong
//! ones; the credentials are never written anywhere.

use crate::support::desktop::{Desktop, desktop_tools, files_containing};
use crate::support::mouse::wait_inputs_linked;
use crate::support::tools::require_tools;
use crate::support::wait::wait_until;
use std::time::Duration;
use sumac_test_server::proxy::{ProxyConfig, TestProxy};
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

#[test]
fn proxy_407_asks_for_credentials_again_after_wrong_ones_and_connects() {
    const PROXY_SECRET: &str = "Pr0xy-pw";
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    let server = crate::support::desktop::client_mouse_server();
    let proxy = TestProxy::start(ProxyConfig {
        credentials: Some(("alice".into(), PROXY_SECRET.into())),
        routes: Vec::new(),
    })
    .expect("test proxy");
    let dir = tempfile::tempdir().unwrap();
    let vv = dir.path().join("proxy.vv");
    std::fs::write(
        &vv,
        format!(
            "[virt-viewer]\ntype=spice\nhost=127.0.0.1\nport={}\nproxy=http://127.0.0.1:{}\n",
            server.port(),
            proxy.port()
        ),
    )
    .unwrap();
    let desktop = Desktop::start("proxy", &[vv.to_str().unwrap()]);
    wait_until("the proxy sign-in prompt", || {
        desktop
            .app
            .log()
            .contains("title=Proxy Sign-In Required ask_password=false ask_proxy=true")
    });
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("proxy-sign-in");
    // The user name entry has the focus; Return moves to the password.
    desktop.xdo(&["windowfocus", "--sync", &desktop.window]);
    desktop.xdo(&["type", "--delay", "30", "alice"]);
    desktop.xdo(&["key", "Return"]);
    desktop.xdo(&["type", "--delay", "30", "wrong"]);
    desktop.xdo(&["key", "Return"]);
    wait_until("asked again, with the reason", || {
        desktop
            .app
            .log()
            .contains("title=Wrong Proxy Credentials ask_password=false ask_proxy=true")
    });
    std::thread::sleep(Duration::from_millis(500));
    desktop.screenshot("proxy-wrong-credentials");
    // The user name stayed: the password entry has the focus.
    desktop.xdo(&["type", "--delay", "30", PROXY_SECRET]);
    desktop.xdo(&["key", "Return"]);
    wait_inputs_linked(&server, &desktop.app);
    desktop.focus_guest(&server);
    desktop.screenshot("connected-through-the-proxy");
    let seen: Vec<(Option<String>, u16)> = proxy.records().into_iter().map(|r| (r.credentials, r.status)).collect();
    assert_eq!(seen.first(), Some(&(None, 407)), "{seen:?}");
    assert_eq!(seen.get(1), Some(&(Some("alice:wrong".to_owned()), 407)), "{seen:?}");
    let right = Some(format!("alice:{PROXY_SECRET}"));
    assert!(
        seen.get(2..)
            .is_some_and(|rest| !rest.is_empty() && rest.iter().all(|r| r == &(right.clone(), 200))),
        "{seen:?}"
    );
    // Never stored, never logged.
    let hits = files_containing(&desktop.out, PROXY_SECRET);
    assert!(hits.is_empty(), "the proxy password was written to {hits:?}");
}
