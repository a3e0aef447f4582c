//! Live migration between two QEMU 7.2 processes on this machine (SeaBIOS
//! guests: a static screen to compare), the way a management tool drives
//! it: QMP `client_migrate_info` then `migrate`. spice-server picks the kind
//! from what the client advertises: semi-seamless (MIGRATE_BEGIN …
//! MIGRATE_END), seamless (both QEMUs with `seamless-migration=on` and a
//! client offering it), or switch-host (a client offering neither). After
//! each the client's picture equals the destination's screendump, a key
//! reaches the destination VM (its `input_event_key_qcode` trace), and the
//! session never ended. One case runs over TLS on both ends, the
//! destination checked by the certificate subject `client_migrate_info` gave.

use crate::support::image::compare_images;
use crate::support::real::qemu::{Qemu, QemuOpts};
use crate::support::real::tls::TlsDir;
use crate::support::real::{QEMU_TOOLS, require_real_servers};
use crate::support::session::{next_event, primary_image, wait_mark};
use std::time::{Duration, Instant};
use sumac::client::config::CaSource;
use sumac::client::{ConnectionConfig, MigrationKind, MigrationSupport, SessionEvent, SessionHandle, SessionOptions};
use tokio::sync::mpsc::UnboundedReceiver;

/// QEMU under TCG on a loaded machine: generous.
const WAIT: Duration = Duration::from_secs(120);

fn qemu_pair(seamless: bool, tls: bool) -> (Qemu, Qemu) {
    // One CA and one server certificate (CN=127.0.0.1) for both ends.
    let tls = tls.then(|| TlsDir::generate().expect("TLS certificates"));
    let opts = |incoming: bool| QemuOpts {
        tls: tls.clone(),
        tls_only: tls.is_some(),
        seamless_migration: seamless,
        incoming,
        trace: vec!["input_event_key_qcode"],
        ..QemuOpts::default()
    };
    let src = Qemu::start(opts(false)).expect("start the source QEMU");
    let dst = Qemu::start(opts(true)).expect("start the destination QEMU");
    src.wait_for_stable_screen(Duration::from_secs(2), WAIT)
        .expect("the source's SeaBIOS screen settles");
    (src, dst)
}

fn connect(src: &Qemu, migration: MigrationSupport) -> (SessionHandle, UnboundedReceiver<SessionEvent>) {
    let mut config = ConnectionConfig::from_uri(&src.uri()).unwrap();
    if let Some(tls) = &src.tls {
        config.ca = Some(CaSource::File(tls.ca_cert()));
        config.host_subject = Some(tls.host_subject().to_owned());
    }
    let options = SessionOptions {
        migration,
        ..SessionOptions::default()
    };
    let (session, mut rx) = sumac::client::connect(config, options).unwrap();
    wait_mark(&mut rx, WAIT);
    (session, rx)
}

/// Migrates and waits for the client's `Migrated`; every event must leave the session up.
fn migrate(src: &Qemu, dst: &Qemu, rx: &mut UnboundedReceiver<SessionEvent>, links_dst: bool) -> MigrationKind {
    let started = Instant::now();
    // main, display, inputs, cursor linked to the destination first (not for switch-host).
    src.migrate_to(dst, links_dst.then_some(4), WAIT)
        .expect("QEMU migration");
    eprintln!("QEMU migration completed after {:.1?}", started.elapsed());
    let until = Instant::now() + WAIT;
    loop {
        match next_event(rx, until).expect("no Migrated event") {
            SessionEvent::Migrated { kind } => {
                eprintln!("client migrated ({kind:?}) after {:.1?}", started.elapsed());
                return kind;
            }
            SessionEvent::Disconnected { error } => panic!("the session ended: {error:?}"),
            _ => {}
        }
    }
}

/// The client's picture equals the destination's screendump (its blinking cursor masked).
fn assert_shows(session: &SessionHandle, dst: &Qemu) {
    let stable = dst
        .wait_for_stable_screen(Duration::from_secs(2), WAIT)
        .expect("the destination's screen settles");
    let until = Instant::now() + WAIT;
    loop {
        let client = primary_image(session).expect("a primary surface");
        let diff = compare_images(&client, &stable.image, &stable.mask());
        if diff.is_identical() {
            return;
        }
        assert!(
            Instant::now() < until,
            "the client never showed the destination's screen: {diff}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What QEMU's `input_event_key_qcode` trace logs for the key the tests press.
const KEY_TRACE: &str = "key qcode spc, down 1";

/// A key pressed in the client reaches the VM (its input trace).
fn assert_key_reaches(session: &SessionHandle, vm: &Qemu) {
    let before = vm.log_text().matches(KEY_TRACE).count();
    let inputs = session.inputs();
    assert!(
        crate::support::wait::poll_until(WAIT, || inputs.is_ready()),
        "inputs ready"
    );
    inputs.send_keys(&[0x39]); // space
    let until = Instant::now() + WAIT;
    while vm.log_text().matches(KEY_TRACE).count() <= before {
        assert!(
            Instant::now() < until,
            "the key never reached the VM (pid {}): status {:?}",
            vm.pid(),
            vm.qmp("query-status", None)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn migration_case(seamless_qemu: bool, offer: MigrationSupport, tls: bool, expected: MigrationKind) {
    let Some(()) = require_real_servers(QEMU_TOOLS) else {
        return;
    };
    crate::support::init_logs();
    let (src, dst) = qemu_pair(seamless_qemu, tls);
    let (session, mut rx) = connect(&src, offer);
    // The probe works on the source first.
    assert_key_reaches(&session, &src);
    let kind = migrate(&src, &dst, &mut rx, expected != MigrationKind::SwitchHost);
    assert_eq!(kind, expected);
    assert_shows(&session, &dst);
    assert_key_reaches(&session, &dst);
    assert_eq!(session.state(), sumac::client::SessionState::Up);
    session.disconnect();
}

#[test]
fn qemu_semi_seamless_migration() {
    migration_case(
        false,
        MigrationSupport {
            semi_seamless: true,
            seamless: false,
        },
        false,
        MigrationKind::SemiSeamless,
    );
}

#[test]
fn qemu_seamless_migration() {
    migration_case(true, MigrationSupport::default(), false, MigrationKind::Seamless);
}

/// The same QEMUs, but the client does not advertise seamless migration:
/// spice-server falls back to semi-seamless.
#[test]
fn qemu_seamless_server_with_a_semi_seamless_client() {
    migration_case(
        true,
        MigrationSupport {
            semi_seamless: true,
            seamless: false,
        },
        false,
        MigrationKind::SemiSeamless,
    );
}

#[test]
fn qemu_switch_host_migration() {
    migration_case(
        false,
        MigrationSupport {
            semi_seamless: false,
            seamless: false,
        },
        false,
        MigrationKind::SwitchHost,
    );
}

#[test]
fn qemu_seamless_migration_over_tls() {
    migration_case(true, MigrationSupport::default(), true, MigrationKind::Seamless);
}

/// The `sumac` app through a real live migration: the same window stays
/// open and shows the VM's screen before and after. What it shows right
/// after the switch is printed, not asserted: the destination QEMU often
/// announces a 640×480 mode (MONITORS_CONFIG) for a few milliseconds before
/// its VGA text mode is back (before the fix, the window showed that black
/// mode briefly in 3 of 5 runs; the old picture is now painted into it until
/// the destination draws, `display/relink.rs`, asserted against the test
/// server by `migration::the_picture_does_not_go_black_before_the_destinations_first_draw`),
/// and when the capture lands relative to the destination's first draw is
/// up to the scheduler.
#[cfg(feature = "gtk")]
#[test]
fn qemu_migration_keeps_the_app_window_and_its_picture() {
    use crate::support::app::{App, wait_app_window, wait_for_guest};
    use crate::support::tools::{DBUS, IMPORT, XDOTOOL, XVFB};
    use crate::support::x11::{Xvfb, capture, windows_named};
    const TITLE: &str = "sumac-migration";
    let Some(()) = require_real_servers(&[QEMU_TOOLS, &[XVFB, XDOTOOL, IMPORT, DBUS]].concat()) else {
        return;
    };
    let (src, dst) = qemu_pair(false, false);
    let out = crate::support::artifact_dir("real-migration-app");
    let xvfb = Xvfb::start((1280, 1024), Some(&out.join("xvfb.log")));
    let display = xvfb.display;
    let mut app = App::start_scaled(display, &out, 1, &["--zoom", "100", "-t", TITLE, &src.uri()]);
    let window = wait_app_window(display, TITLE, &app);
    // The VM's text screen above its blinking cursor (the part that never changes).
    let steady = |vm: &Qemu| {
        let s = vm
            .wait_for_stable_screen(Duration::from_secs(2), WAIT)
            .expect("a stable screen");
        let rows = s.blink.map_or(s.image.height, |b| b.y);
        s.image.crop(0, 0, s.image.width, rows).expect("crop")
    };
    let before = steady(&src);
    let (at, _) = wait_for_guest(display, &window, &|| before.clone(), "before", &out, &app);
    src.migrate_to(&dst, Some(4), WAIT).expect("QEMU migration");
    let until = Instant::now() + WAIT;
    while !app.log().contains("session migrated") {
        assert!(Instant::now() < until, "no migration in the app; log:\n{}", app.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Right after the switch: what the window shows (printed, not asserted:
    // when the capture lands is up to the scheduler).
    if let Some(shot) = capture(display, &window)
        && let Some(guest) = shot.crop(at.0, at.1, before.width, before.height)
    {
        let black = guest.count_color([0, 0, 0]);
        let total = u64::from(guest.width) * u64::from(guest.height);
        eprintln!(
            "right after the switch: {black} of {total} guest pixels black (the picture: {})",
            if black as u64 == total { "black" } else { "kept" }
        );
        let _ = shot.save_png(&out.join("right-after-window.png"));
    }
    let after = steady(&dst);
    // (The destination may announce another mode for a moment: GTK does not
    // shrink the window back, the picture is then centred lower.)
    let (at_after, _) = wait_for_guest(display, &window, &|| after.clone(), "after", &out, &app);
    eprintln!("the VM's screen at {at:?} in the window before the migration, at {at_after:?} after");
    assert!(
        windows_named(display, &format!("^{TITLE}$")).contains(&window),
        "the window must stay open"
    );
    assert!(app.is_running(), "the app must keep running");
    let log = app.log();
    assert!(!log.contains("session ended"), "the session ended:\n{log}");
    drop(app);
    drop(xvfb);
}
