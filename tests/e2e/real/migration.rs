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
