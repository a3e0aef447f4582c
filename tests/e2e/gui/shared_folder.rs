//! The main menu's shared-folder entries change the folder while connected: the `sumac` app
//! (started with `--spice-shared-dir`) against the test server, whose webdav port plays
//! spice-webdavd (plain HTTP on a local port, through the mux). The entries' window actions are
//! activated over the app's D-Bus action export, as the menu items activate them (the folder
//! chooser ends in `win.share-folder-path`): another folder → the next PROPFIND lists it;
//! Share Read-Only → PUT fails; Stop Sharing → every request fails (503).

use crate::ports::http;
use crate::support::desktop::{Desktop, desktop_tools};
use crate::support::tools::{GDBUS, require_tools};
use crate::support::wait::wait_until;
use sumac::proto::ChannelType;
use sumac_test_server::ports::PortSpec;
use sumac_test_server::{ServerConfig, TestServer};

const WEBDAV: (ChannelType, u8) = (ChannelType::WEBDAV, 0);

#[test]
fn the_shared_folder_changes_from_the_menu() {
    let mut tools = desktop_tools();
    tools.push(GDBUS);
    let Some(()) = require_tools(&tools) else {
        return;
    };
    let first = tempfile::tempdir().unwrap();
    std::fs::write(first.path().join("hello.txt"), b"first folder").unwrap();
    let second = tempfile::tempdir().unwrap();
    std::fs::write(second.path().join("other.txt"), b"second folder").unwrap();
    let mut config = ServerConfig::default();
    config.channels.push(WEBDAV);
    config.ports.push(PortSpec::new(WEBDAV, "org.spice-space.webdav.0"));
    let server = TestServer::start(config).expect("test server");
    let dir_arg = format!("--spice-shared-dir={}", first.path().display());
    let desktop = Desktop::start("shared-folder", &[&server.uri(), &dir_arg]);
    wait_until("the app shares the folder", || {
        desktop.app.log().contains("sharing a folder")
    });
    let guest = server.webdav_guest(WEBDAV).unwrap();
    let port = guest.port();
    let propfind = || http(port, "PROPFIND", "/", &["Depth: 1"], b"");
    let (status, text, _) = propfind();
    assert!(status == 207 && text.contains("hello.txt"), "{text}");

    let path = format!("<'{}'>", second.path().display());
    desktop.app.activate_window_action("share-folder-path", Some(&path));
    wait_until("the app switched folders", || {
        desktop.app.log().contains("shared folder set")
    });
    let (status, text, _) = propfind();
    assert_eq!(status, 207, "{text}");
    assert!(text.contains("other.txt") && !text.contains("hello.txt"), "{text}");

    desktop.app.activate_window_action("share-read-only", None);
    wait_until("read-only applied", || desktop.app.log().contains("read_only=true"));
    let (status, text, _) = http(port, "PUT", "/new.txt", &[], b"x");
    assert!(status >= 400, "{text}");
    assert!(!second.path().join("new.txt").exists());

    desktop.app.activate_window_action("stop-sharing-folder", None);
    wait_until("sharing stopped", || {
        desktop.app.log().contains("folder sharing stopped")
    });
    let (status, text, _) = propfind();
    assert_eq!(status, 503, "sharing off: {text}");
    drop(guest);
}
