//! Sumac against real SPICE servers (QEMU 7.2, Xspice), checked pixel for pixel against the
//! servers' own view of the screen (QMP `screendump`, `xwd -root`).
//!
//! Each test starts its own server on free ports (and its own X display), so tests may run in
//! parallel; guards stop every process even when a test panics.

use crate::support::image::{RgbImage, assert_same_pixels, compare_images};
use crate::support::real::clients::{run_spicy_screenshot, run_sumac_cli, spice_uri, sumac_screenshot};
use crate::support::real::qemu::{Qemu, QemuOpts, StableScreen};
use crate::support::real::tls::TlsDir;
use crate::support::real::xspice::{Xspice, XspiceOpts};
use crate::support::real::{QEMU, QEMU_TOOLS, SPICY_SCREENSHOT, XSPICE_TOOLS, require_real_servers};
use crate::support::tools::OPENSSL;
use std::time::{Duration, Instant};

const PASSWORD: &str = "s3cret";
const ROOT_COLOR: [u8; 3] = [0x33, 0x66, 0x99];
const WHITE: [u8; 3] = [255, 255, 255];

/// QEMU with SeaBIOS only, waited until it shows its final "No bootable device." text screen.
fn start_seabios(opts: QemuOpts) -> (Qemu, StableScreen) {
    let start = Instant::now();
    let qemu = Qemu::start(opts).expect("start QEMU");
    let stable = qemu
        .wait_for_stable_screen(Duration::from_secs(2), Duration::from_secs(60))
        .expect("SeaBIOS screen settles");
    assert_eq!(
        (stable.image.width, stable.image.height),
        (720, 400),
        "SeaBIOS VGA text mode is 720x400"
    );
    eprintln!(
        "QEMU pid {} settled after {:.1?}; blinking cursor at {:?}",
        qemu.pid(),
        start.elapsed(),
        stable.blink
    );
    (qemu, stable)
}

/// The ground truth right after a client's screenshot; also checks the screen did not change
/// (outside the cursor) since it settled.
fn qemu_truth(qemu: &Qemu, stable: &StableScreen) -> RgbImage {
    let now = qemu.screendump().expect("QMP screendump");
    let drift = compare_images(&now, &stable.image, &stable.mask());
    assert!(drift.is_identical(), "QEMU screen changed during the test: {drift}");
    now
}

/// Xspice with a static scene: a solid root window and an xterm showing a line of text.
fn start_scene(opts: XspiceOpts) -> (Xspice, RgbImage) {
    let start = Instant::now();
    let mut xspice = Xspice::start(opts).expect("start Xspice");
    xspice.set_root_color(ROOT_COLOR).expect("set the root window colour");
    xspice
        .spawn_xterm("60x10+100+100", "Hello from Sumac: real Xspice 0123456789")
        .expect("start xterm");
    let scene = loop {
        let fb = xspice
            .wait_for_stable_framebuffer(Duration::from_millis(600), Duration::from_secs(30))
            .expect("Xspice framebuffer settles");
        // xterm (borderless) draws its white window, then the text: wait for both.
        if fb.count_color(WHITE) > 10_000 && fb.count_color([0, 0, 0]) > 300 {
            break fb;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "xterm never appeared on Xspice :{}",
            xspice.display
        );
    };
    assert_eq!((scene.width, scene.height), (1024, 768), "Xspice default mode");
    assert!(
        scene.count_color(ROOT_COLOR) > 500_000,
        "root colour fills most of the screen"
    );
    eprintln!(
        "Xspice :{} (Xorg pid {}) scene ready after {:.1?}",
        xspice.display,
        xspice.xorg_pid(),
        start.elapsed()
    );
    (xspice, scene)
}

fn xspice_truth(xspice: &Xspice, scene: &RgbImage) -> RgbImage {
    let now = xspice.framebuffer().expect("xwd -root");
    let drift = compare_images(&now, scene, &[]);
    assert!(drift.is_identical(), "Xspice scene changed during the test: {drift}");
    now
}

/// Runs `sumac-cli screenshot` expecting failure; returns its lower-cased stderr+stdout.
fn sumac_screenshot_fails(uri: &str, extra: &[&str], dir: &std::path::Path) -> String {
    let out = dir.join("should-not-exist.png");
    let mut args = vec![
        "screenshot",
        uri,
        "-o",
        out.to_str().expect("UTF-8 temp path"),
        "--timeout",
        "30",
    ];
    args.extend_from_slice(extra);
    let output = run_sumac_cli(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        !output.status.success(),
        "sumac-cli screenshot {uri} {extra:?} should fail but exited 0: {text}"
    );
    assert!(
        !text.trim().is_empty(),
        "sumac-cli screenshot {uri} {extra:?} failed without saying why"
    );
    text.to_lowercase()
}

// ---- QEMU -------------------------------------------------------------------------------------

#[test]
fn qemu_plain_screenshot_matches_screendump() {
    let Some(()) = require_real_servers(QEMU_TOOLS) else {
        return;
    };
    let (qemu, stable) = start_seabios(QemuOpts::default());
    let uri = qemu.uri();
    assert!(uri.starts_with("spice://127.0.0.1:"), "plain URI form, got {uri}");
    let shot = sumac_screenshot(&uri, &[], &qemu.scratch_dir().join("sumac.png"));
    assert_same_pixels("qemu_plain", &shot, &qemu_truth(&qemu, &stable), &stable.mask());
}

#[test]
fn qemu_password() {
    let Some(()) = require_real_servers(QEMU_TOOLS) else {
        return;
    };
    let opts = QemuOpts {
        password: Some(PASSWORD.into()),
        ..Default::default()
    };
    let (qemu, stable) = start_seabios(opts);
    let port = qemu.port.expect("plain port");

    let wrong = spice_uri(Some(port), None, Some("wrong-password"));
    let text = sumac_screenshot_fails(&wrong, &[], qemu.scratch_dir());
    assert!(
        ["auth", "permission", "password"].iter().any(|w| text.contains(w)),
        "wrong password: message should mention auth/permission, got: {text}"
    );
    let missing = sumac_screenshot_fails(&spice_uri(Some(port), None, None), &[], qemu.scratch_dir());
    assert!(
        missing.contains("auth") || missing.contains("permission") || missing.contains("password"),
        "{missing}"
    );

    let shot = sumac_screenshot(&qemu.uri(), &[], &qemu.scratch_dir().join("sumac.png"));
    assert_same_pixels("qemu_password", &shot, &qemu_truth(&qemu, &stable), &stable.mask());
}

#[test]
fn qemu_tls_with_ca_file() {
    let Some(()) = require_real_servers(QEMU_TOOLS) else {
        return;
    };
    let tls = TlsDir::generate().expect("generate TLS certificates");
    let opts = QemuOpts {
        tls: Some(tls.clone()),
        tls_only: true,
        ..Default::default()
    };
    let (qemu, stable) = start_seabios(opts);
    let uri = qemu.uri();
    assert!(
        uri.starts_with("spice+tls://127.0.0.1:"),
        "TLS-only URI form, got {uri}"
    );
    let ca = tls.ca_cert();
    let ca = ca.to_str().expect("UTF-8 CA path");

    // Our CA is not in the system store: without --spice-ca-file the server is not trusted.
    sumac_screenshot_fails(&uri, &[], qemu.scratch_dir());

    let shot = sumac_screenshot(&uri, &["--spice-ca-file", ca], &qemu.scratch_dir().join("sumac.png"));
    assert_same_pixels("qemu_tls_ca", &shot, &qemu_truth(&qemu, &stable), &stable.mask());

    let shot = sumac_screenshot(
        &uri,
        &["--spice-ca-file", ca, "--spice-host-subject", tls.host_subject()],
        &qemu.scratch_dir().join("sumac-subject.png"),
    );
    assert_same_pixels(
        "qemu_tls_ca_subject",
        &shot,
        &qemu_truth(&qemu, &stable),
        &stable.mask(),
    );
}

/// A certificate without subjectAltName (CN only, as QEMU/libvirt setups often have), plain and
/// TLS ports with a password, all channels forced to TLS: needs `--spice-host-subject`.
#[test]
fn qemu_tls_cn_only_cert_with_host_subject() {
    let Some(()) = require_real_servers(QEMU_TOOLS) else {
        return;
    };
    let tls = TlsDir::generate_cn_only().expect("generate CN-only TLS certificates");
    let opts = QemuOpts {
        password: Some(PASSWORD.into()),
        tls: Some(tls.clone()),
        ..Default::default()
    };
    let (qemu, stable) = start_seabios(opts);
    let uri = qemu.uri();
    assert!(
        uri.contains("port=") && uri.contains("tls-port=") && uri.contains("password="),
        "{uri}"
    );
    let ca = tls.ca_cert();
    let ca = ca.to_str().expect("UTF-8 CA path");

    let wrong = [
        "--spice-ca-file",
        ca,
        "--spice-host-subject",
        "O=Someone Else,CN=127.0.0.1",
    ];
    sumac_screenshot_fails(
        &uri,
        &[&wrong[..], &["--spice-secure-channels", "all"]].concat(),
        qemu.scratch_dir(),
    );

    let args = [
        "--spice-ca-file",
        ca,
        "--spice-host-subject",
        tls.host_subject(),
        "--spice-secure-channels",
        "all",
    ];
    let shot = sumac_screenshot(&uri, &args, &qemu.scratch_dir().join("sumac.png"));
    assert_same_pixels(
        "qemu_tls_host_subject",
        &shot,
        &qemu_truth(&qemu, &stable),
        &stable.mask(),
    );
}

/// Plain and TLS ports both given, with a password, and no `--spice-secure-channels` (an oVirt or
/// Proxmox `.vv` file): every channel QEMU offers links over TLS (TLS first; spice-gtk would link
/// them plain), as `sumac-cli stats` reports per channel.
#[test]
fn qemu_both_ports_every_channel_links_over_tls() {
    let Some(()) = require_real_servers(QEMU_TOOLS) else {
        return;
    };
    let tls = TlsDir::generate().expect("generate TLS certificates");
    let opts = QemuOpts {
        password: Some(PASSWORD.into()),
        tls: Some(tls.clone()),
        ..Default::default()
    };
    let (qemu, _stable) = start_seabios(opts);
    let uri = qemu.uri();
    assert!(uri.contains("port=") && uri.contains("tls-port="), "{uri}");
    let ca = tls.ca_cert();
    let out = run_sumac_cli([
        "stats",
        &uri,
        "--seconds",
        "4",
        "--spice-ca-file",
        ca.to_str().expect("UTF-8 CA path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sumac-cli stats failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The table: `channel id tls bytes-read ...`, one row per linked channel.
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("channel"))
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<&str>>())
        .take_while(|r| r.len() >= 3 && r[1].parse::<u8>().is_ok())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    for wanted in ["main", "display", "inputs", "cursor"] {
        assert!(names.contains(&wanted), "{wanted} not linked:\n{stdout}");
    }
    for r in &rows {
        assert_eq!(r[2], "yes", "channel {} not on TLS:\n{stdout}", r[0]);
    }
}

#[test]
fn spicy_screenshot_matches_qemu_screendump() {
    let Some(()) = require_real_servers(&[QEMU, OPENSSL, SPICY_SCREENSHOT]) else {
        return;
    };
    let tls = TlsDir::generate().expect("generate TLS certificates");
    let opts = QemuOpts {
        password: Some(PASSWORD.into()),
        tls: Some(tls.clone()),
        ..Default::default()
    };
    let (qemu, stable) = start_seabios(opts);
    let (port, tls_port, dir) = (qemu.port, qemu.tls_port, qemu.scratch_dir());

    let err = run_spicy_screenshot(port, None, Some("wrong"), None, &dir.join("wrong.ppm"));
    assert!(err.is_err(), "spicy-screenshot with a wrong password should fail");
    let shot = run_spicy_screenshot(port, None, Some(PASSWORD), None, &dir.join("plain.ppm")).expect("spicy plain");
    assert_same_pixels("spicy_qemu_plain", &shot, &qemu_truth(&qemu, &stable), &stable.mask());
    let shot = run_spicy_screenshot(
        None,
        tls_port,
        Some(PASSWORD),
        Some(&tls.ca_cert()),
        &dir.join("tls.ppm"),
    )
    .expect("spicy TLS");
    assert_same_pixels("spicy_qemu_tls", &shot, &qemu_truth(&qemu, &stable), &stable.mask());
}

// ---- Xspice -----------------------------------------------------------------------------------

#[test]
fn xspice_plain_screenshot_matches_xwd() {
    let Some(()) = require_real_servers(XSPICE_TOOLS) else {
        return;
    };
    let opts = XspiceOpts {
        image_compression: Some("off"),
        ..Default::default()
    };
    let (xspice, scene) = start_scene(opts);
    let shot = sumac_screenshot(&xspice.uri(), &[], &xspice.scratch_dir().join("sumac.png"));
    assert_same_pixels("xspice_plain", &shot, &xspice_truth(&xspice, &scene), &[]);
}

#[test]
fn xspice_password() {
    let Some(()) = require_real_servers(XSPICE_TOOLS) else {
        return;
    };
    let opts = XspiceOpts {
        password: Some(PASSWORD.into()),
        image_compression: Some("off"),
        ..Default::default()
    };
    let (xspice, scene) = start_scene(opts);
    let wrong = spice_uri(xspice.port, None, Some("wrong-password"));
    let text = sumac_screenshot_fails(&wrong, &[], xspice.scratch_dir());
    assert!(
        ["auth", "permission", "password"].iter().any(|w| text.contains(w)),
        "wrong password: message should mention auth/permission, got: {text}"
    );
    let shot = sumac_screenshot(&xspice.uri(), &[], &xspice.scratch_dir().join("sumac.png"));
    assert_same_pixels("xspice_password", &shot, &xspice_truth(&xspice, &scene), &[]);
}

#[test]
fn xspice_tls() {
    let Some(()) = require_real_servers(XSPICE_TOOLS) else {
        return;
    };
    let tls = TlsDir::generate().expect("generate TLS certificates");
    let opts = XspiceOpts {
        tls: Some(tls.clone()),
        tls_only: true,
        image_compression: Some("off"),
        ..Default::default()
    };
    let (xspice, scene) = start_scene(opts);
    let uri = xspice.uri();
    assert!(
        uri.starts_with("spice+tls://127.0.0.1:"),
        "TLS-only URI form, got {uri}"
    );
    let ca = tls.ca_cert();
    let ca = ca.to_str().expect("UTF-8 CA path");
    let shot = sumac_screenshot(&uri, &["--spice-ca-file", ca], &xspice.scratch_dir().join("sumac.png"));
    assert_same_pixels("xspice_tls", &shot, &xspice_truth(&xspice, &scene), &[]);
    let args = ["--spice-ca-file", ca, "--spice-host-subject", tls.host_subject()];
    let shot = sumac_screenshot(&uri, &args, &xspice.scratch_dir().join("sumac-subject.png"));
    assert_same_pixels("xspice_tls_subject", &shot, &xspice_truth(&xspice, &scene), &[]);
}

/// Validates the harness itself with spice-gtk's client: plain, password and TLS setups of Xspice
/// all give exactly the `xwd -root` pixels.
#[test]
fn spicy_screenshot_matches_framebuffer() {
    let Some(()) = require_real_servers(&[XSPICE_TOOLS, &[SPICY_SCREENSHOT]].concat()) else {
        return;
    };
    let tls = TlsDir::generate().expect("generate TLS certificates");
    let opts = XspiceOpts {
        password: Some(PASSWORD.into()),
        tls: Some(tls.clone()),
        ..Default::default()
    };
    let (xspice, scene) = start_scene(opts);
    let (port, tls_port, dir) = (xspice.port, xspice.tls_port, xspice.scratch_dir());

    let err = run_spicy_screenshot(port, None, Some("wrong"), None, &dir.join("wrong.ppm"));
    assert!(err.is_err(), "spicy-screenshot with a wrong password should fail");
    let shot = run_spicy_screenshot(port, None, Some(PASSWORD), None, &dir.join("plain.ppm")).expect("spicy plain");
    assert_same_pixels("spicy_xspice_plain", &shot, &xspice_truth(&xspice, &scene), &[]);
    let shot = run_spicy_screenshot(
        None,
        tls_port,
        Some(PASSWORD),
        Some(&tls.ca_cert()),
        &dir.join("tls.ppm"),
    )
    .expect("spicy TLS");
    assert_same_pixels("spicy_xspice_tls", &shot, &xspice_truth(&xspice, &scene), &[]);
}
