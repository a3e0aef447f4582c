//! Recent connections keep only what connected: a refused address is not recorded, one that
//! connects is. The `sumac` app against the test server (Xvfb with openbox).

use crate::support::desktop::{Desktop, desktop_tools};
use crate::support::mouse::wait_inputs_linked;
use crate::support::tools::require_tools;
use crate::support::wait::wait_until;
use sumac_test_server::{ServerConfig, TestServer};

fn recent_line(desktop: &Desktop) -> String {
    std::fs::read_to_string(desktop.out.join("config/sumac/settings.ini"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("recent-connections="))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn only_connections_that_connected_are_remembered() {
    let Some(()) = require_tools(&desktop_tools()) else {
        return;
    };
    // A port nobody listens on (bound, then released).
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let uri = format!("spice://127.0.0.1:{refused}");
    let _ = std::fs::remove_file(
        crate::support::artifact_dir("gui-desktop-recent-refused").join("config/sumac/settings.ini"),
    );
    let desktop = Desktop::start("recent-refused", &[&uri]);
    wait_until("the error page", || {
        desktop.app.log().contains("title=Connection Refused")
    });
    assert!(!recent_line(&desktop).contains(&uri), "{}", recent_line(&desktop));
    drop(desktop);

    let server = TestServer::start(ServerConfig::default()).expect("test server");
    let _ =
        std::fs::remove_file(crate::support::artifact_dir("gui-desktop-recent-ok").join("config/sumac/settings.ini"));
    let desktop = Desktop::start("recent-ok", &[&server.uri()]);
    wait_inputs_linked(&server, &desktop.app);
    wait_until("the address remembered once connected", || {
        recent_line(&desktop).contains(&server.uri())
    });
}
