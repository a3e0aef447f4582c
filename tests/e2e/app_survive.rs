//! The `sumac` app when the session is hurt: one channel failing (the test
//! server closes only the display, or only the inputs channel) shows the
//! error with Reconnect over the picture; with `--reconnect` a server that
//! goes away and comes back gets the session back by itself, the window
//! never closing.

use crate::app::{capture, find_accent_button, find_window, gui_available, start_app, start_xvfb, wait_for_scene};
use crate::support::artifact_dir;
use crate::support::process::pid_alive;
use std::time::{Duration, Instant};
use sumac::proto::ChannelType;
use sumac_test_server::scene::SceneBuilder;
use sumac_test_server::{Fault, ServerConfig, TestServer};

const WAIT: Duration = Duration::from_secs(30);

fn park_pointer(x: &crate::support::x11::Xvfb) {
    x.command("xdotool")
        .args(["mousemove", "1279", "1023"])
        .status()
        .unwrap();
}

/// The error overlay's Reconnect button shows up in window `id`.
fn wait_reconnect_button(x: &crate::support::x11::Xvfb, id: &str, app: &crate::support::app::App, what: &str) {
    let start = Instant::now();
    loop {
        let img = capture(x, id);
        if find_accent_button(&img).is_some() {
            return;
        }
        if start.elapsed() > WAIT {
            let path = artifact_dir("app").join(format!("{what}.png"));
            img.save_png(&path).unwrap();
            panic!("{what}: no Reconnect button ({}); log:\n{}", path.display(), app.log());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn one_channel_fails(channel: ChannelType, what: &str) {
    if !gui_available() {
        return;
    }
    let config = ServerConfig {
        fault: Some(Fault::CloseChannel(channel)),
        ..ServerConfig::default()
    };
    let server = TestServer::start(config.clone()).unwrap();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let uri = server.uri();
    let mut app = start_app(&x, home.path(), &["--zoom", "100", &uri]);
    let id = find_window(&x, &config.name, &app);
    park_pointer(&x);
    // The failure is logged first (the scene itself may have pixels of the
    // accent colour, so the button alone proves nothing before that).
    assert!(
        crate::support::wait::poll_until(WAIT, || app.log().contains("a channel failed")),
        "no channel failure logged:\n{}",
        app.log()
    );
    wait_reconnect_button(&x, &id, &app, what);
    assert!(app.is_running(), "the app must stay open");
    assert!(pid_alive(app.pid()));
    // The session itself goes on: its main channel is still linked.
    assert!(
        server.with_record(|r| !r.closed.contains(&(ChannelType::MAIN, 0))),
        "the main channel must stay"
    );
}

#[test]
fn app_shows_a_failed_display_channel_with_reconnect() {
    one_channel_fails(ChannelType::DISPLAY, "display-channel-failed");
}

#[test]
fn app_shows_a_failed_inputs_channel_with_reconnect() {
    one_channel_fails(ChannelType::INPUTS, "inputs-channel-failed");
}

#[test]
fn app_reconnects_by_itself_when_the_server_comes_back() {
    if !gui_available() {
        return;
    }
    let config = ServerConfig::default();
    let mut server = TestServer::start(config.clone()).unwrap();
    let port = server.port();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let uri = format!("spice://127.0.0.1:{port}");
    let mut app = start_app(&x, home.path(), &["--zoom", "100", "--reconnect", &uri]);
    let id = find_window(&x, &config.name, &app);
    park_pointer(&x);
    wait_for_scene(&x, &id, &config, &app, "reconnect-first");

    server.stop();
    drop(server);
    let start = Instant::now();
    while !app.log().contains("reconnecting attempt=") {
        assert!(start.elapsed() < WAIT, "no reconnect attempt; log:\n{}", app.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    // While it reconnects there is no Reconnect button to click.
    let img = capture(&x, &id);
    assert!(
        find_accent_button(&img).is_none(),
        "a Reconnect button while reconnecting; log:\n{}",
        app.log()
    );

    // The server comes back (another picture): the same window shows it, no click.
    let again = ServerConfig {
        scene: SceneBuilder::new(320, 240).fill(0, 0, 320, 240, 0x00_c0_80_20).build(),
        ..ServerConfig::default()
    };
    let _server = TestServer::start_on(again.clone(), port, 0).unwrap();
    wait_for_scene(&x, &id, &again, &app, "reconnect-again");
    assert!(app.is_running(), "the app must stay open");
    assert!(
        !app.log().contains("session ended"),
        "the session must not end:\n{}",
        app.log()
    );
}

#[test]
fn app_window_follows_a_migration() {
    use sumac_test_server::migration::{MigrationFinish, MigrationMode, MigrationOrder};
    if !gui_available() {
        return;
    }
    let src_config = ServerConfig::default();
    let src = TestServer::start(src_config.clone()).unwrap();
    let dst_config = ServerConfig {
        session_id: Some(src.session_id()),
        scene: SceneBuilder::new(320, 240)
            .fill(0, 0, 320, 240, 0x00_20_30_c0)
            .fill(100, 100, 50, 50, 0x00_f0_f0_10)
            .build(),
        ..ServerConfig::default()
    };
    let dst = TestServer::start(dst_config.clone()).unwrap();
    let x = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let mut app = start_app(&x, home.path(), &["--zoom", "100", &src.uri()]);
    let id = find_window(&x, &src_config.name, &app);
    park_pointer(&x);
    wait_for_scene(&x, &id, &src_config, &app, "migration-source");
    src.migrate(MigrationOrder {
        mode: MigrationMode::Auto,
        finish: MigrationFinish::Complete,
        dst: dst.migration_dst(),
    });
    // The same window shows the destination's picture.
    wait_for_scene(&x, &id, &dst_config, &app, "migration-destination");
    assert!(app.is_running(), "the app must stay open");
    assert!(app.log().contains("migration done"), "{}", app.log());
    assert!(!app.log().contains("session ended"), "{}", app.log());
}
