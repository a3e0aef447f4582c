//! Sumac's smartcard channel against the real guest (`sumac-test-guest`): QEMU's `usb-ccid` +
//! `ccid-card-passthru` on the smartcard channel, pcscd and OpenSC in the guest, libcacard's
//! software CAC card in Sumac made of three certificates of a test NSS database.
//!
//! The guest's PC/SC sees the reader with a card in it (`opensc-tool --list-readers`), and an
//! APDU sent from the guest (SELECT of the CAC applet) is answered by libcacard's card through
//! Sumac (90 00), and the card's three certificates read in the guest with OpenSC
//! (`pkcs15-tool --read-certificate`) are the test's DER bytes: see [`read_certificates`] (and
//! why the reader sits on a UHCI controller).
//!
//! The app's smartcard actions (`app_insert_remove`): `sumac` on a private desktop with the same
//! card; its Remove hotkey (Shift+F9) takes the card out of the guest's reader (the guest's
//! `opensc-tool --list-readers` says "No"), its Insert action (the menu entry's `win.smartcard-insert`,
//! activated over D-Bus as a menu item does) puts it back ("Yes").
//!
//! The NSS database is made on the host with `certutil` (libnss3-tools, one of the guest's
//! smartcard packages): a missing tool fails under CI=true, as the guest does.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use sumac::client::sharing::SmartcardConfig;
use sumac::client::{ConnectionConfig, SessionOptions};
use sumac_test_guest::{Guest, GuestGroup, GuestOptions};

type CaseResult = sumac_test_guest::CaseResult;

const WAIT: Duration = Duration::from_secs(90);
const CERTS: [&str; 3] = ["sumac-id", "sumac-sign", "sumac-enc"];

fn certutil(db: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("certutil")
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args(args)
        .output()
        .expect("certutil (libnss3-tools)");
    assert!(
        out.status.success(),
        "certutil {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh NSS database with three self-signed RSA certificates; returns their DER bytes.
fn test_database(db: &Path) -> Vec<Vec<u8>> {
    let noise = db.join("noise");
    std::fs::write(
        &noise,
        (0..2048u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    certutil(db, &["-N", "--empty-password"]);
    let noise = noise.to_string_lossy().into_owned();
    CERTS
        .iter()
        .enumerate()
        .map(|(i, nick)| {
            let subject = format!("CN=Sumac Test Card {i},O=Sumac");
            let serial = format!("{}", 1000 + i);
            certutil(
                db,
                &[
                    "-S", "-x", "-n", nick, "-s", &subject, "-t", "CT,C,C", "-k", "rsa", "-g", "2048", "-m", &serial,
                    "-z", &noise, "-v", "120",
                ],
            );
            certutil(db, &["-L", "-n", nick, "-r"]).stdout
        })
        .collect()
}

fn sha256(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn software_card(g: &Guest) -> CaseResult {
    let dir = tempfile::tempdir()?;
    let ders = test_database(dir.path());
    let config = ConnectionConfig::from_uri(&g.spice_uri())?;
    let options = SessionOptions {
        smartcard: Some(SmartcardConfig::software(
            format!("sql:{}", dir.path().display()),
            CERTS.iter().map(|c| (*c).to_owned()).collect(),
        )),
        ..SessionOptions::default()
    };
    let (session, mut rx) = sumac::client::connect(config, options)?;
    // The reader, with a card in it, seen by the guest's PC/SC (pcscd + libccid).
    let until = Instant::now() + WAIT;
    let readers = loop {
        let out = g.run("opensc-tool --list-readers")?;
        if out.stdout.lines().any(|l| l.contains("Yes")) {
            break out.stdout;
        }
        assert!(
            Instant::now() < until,
            "no reader with a card in the guest: {out:?}\npcscd: {}",
            g.guest_log("pcscd.log")
        );
        std::thread::sleep(Duration::from_millis(500));
        while let Ok(e) = rx.try_recv() {
            eprintln!("session event: {e:?}");
        }
    };
    eprintln!("guest readers:\n{readers}");
    // An APDU from the guest reaches libcacard's card through Sumac and its answer comes back:
    // SELECT of the CAC applet answers 90 00. (The guest's PC/SC sometimes reports the card
    // absent for a moment between two commands: retried.)
    let until = Instant::now() + WAIT;
    loop {
        let out = g.run("opensc-tool -s 00:A4:04:00:07:A0:00:00:00:79:01:00")?;
        if out.stdout.contains("SW1=0x90, SW2=0x00") {
            break;
        }
        assert!(Instant::now() < until, "SELECT of the CAC applet: {out:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    read_certificates(g, &ders)?;
    session.disconnect();
    Ok(())
}

/// Every certificate on the card, read in the guest with OpenSC, against the test's DER bytes.
///
/// This needs the reader on UHCI (the harness's `SMARTCARD_CONTROLLER`). With `usb-ccid` on
/// `qemu-xhci` (QEMU 7.2) the read fails the same way with Sumac and with remote-viewer
/// (spice-gtk 0.42, `--spice-smartcard --spice-smartcard-db=... --spice-smartcard-certificates=...`
/// against the same guest and NSS database): `pkcs15-tool --list-certificates` gives "Card is
/// invalid or cannot be handled"; pcscd `--debug --apdu` shows the `cac` driver's READ BUFFER of
/// 52 bytes answered (a 64-byte CCID frame: 10-byte header, 52 bytes, 90 00), then
/// "CCID_Receive() Not enough data received: 0 bytes" for the next command, every later answer
/// one command late, and at last "ReadUSB() Invalid frame detected" / "CmdGetSlotStatus() Not
/// enough data received: 2 bytes". The SPICE side is clean with both clients (Sumac's trace: 71
/// APDUs, 71 replies, no VSC_Error). QEMU 7.2's `usb-ccid` holds a reply that ends on a full
/// 64-byte packet to send a zero-length packet after it, even when the guest's transfer was
/// larger (xHCI: one IN for the whole buffer, already ended); that zero-length packet then
/// answers the next command. On UHCI every IN is one packet of at most 64 bytes, the
/// zero-length packet ends the same transfer, and both clients read the three certificates.
fn read_certificates(g: &Guest, ders: &[Vec<u8>]) -> CaseResult {
    let script = "set -e\n\
        ids=$(pkcs15-tool --list-certificates | sed -n 's/^[[:space:]]*ID[[:space:]]*: *//p')\n\
        [ -n \"$ids\" ]\n\
        for id in $ids; do pkcs15-tool --read-certificate \"$id\" | openssl x509 -outform der | sha256sum; done";
    let out = g.run(script)?;
    assert!(out.success(), "reading the certificates in the guest: {out:?}");
    let guest: Vec<&str> = out.stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    eprintln!("certificates read in the guest (SHA-256): {guest:?}");
    for (nick, der) in CERTS.iter().zip(ders) {
        let want = sha256(der);
        assert!(
            guest.contains(&want.as_str()),
            "{nick} ({want}) not read from the card: {guest:?}"
        );
    }
    Ok(())
}

/// Whether the guest's PC/SC lists the reader (QEMU's `usb-ccid`, the only one), and with a
/// card in it (`opensc-tool --list-readers`: `Nr. Card Features Name`, the card column "Yes" or
/// "No").
fn guest_reader(g: &Guest) -> Result<Option<bool>, sumac_test_guest::Error> {
    let out = g.run("opensc-tool --list-readers")?;
    Ok(out.stdout.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        words.next()?.parse::<u32>().ok()?;
        Some(words.next() == Some("Yes"))
    }))
}

/// Waits until the guest sees the software reader with (`card`) or without a card.
fn wait_guest_card(g: &Guest, card: bool, log: &dyn Fn() -> String) -> CaseResult {
    let until = Instant::now() + WAIT;
    loop {
        let seen = guest_reader(g)?;
        if seen == Some(card) {
            return Ok(());
        }
        assert!(
            Instant::now() < until,
            "the guest's reader never showed card={card} (last: {seen:?}); app log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The app's Remove hotkey and Insert action, seen from the guest.
#[cfg(feature = "gtk")]
fn app_insert_remove(g: &Guest) -> CaseResult {
    use crate::support::desktop::{Desktop, desktop_tools};
    let mut tools = desktop_tools();
    tools.push(crate::support::tools::GDBUS);
    if crate::support::real::require_real_servers(&tools).is_none() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    test_database(dir.path());
    let db = format!("--spice-smartcard-db=sql:{}", dir.path().display());
    let certs = format!("--spice-smartcard-certificates={}", CERTS.join(","));
    let uri = g.spice_uri();
    let desktop = Desktop::start("smartcard", &[uri.as_str(), "--spice-smartcard", &db, &certs]);
    let log = || desktop.app.log();
    // The app links the smartcard channel; the software card starts inserted.
    wait_guest_card(g, true, &log)?;
    crate::support::wait::wait_until("the app's smartcard actions enabled", || {
        log().contains("smartcard state available=true inserted=true")
    });
    desktop.screenshot("card-in");

    // Remove with the hotkey, in the app's window (the pointer away from the guest's screen,
    // so no keyboard grab: the accelerator is the app's).
    desktop.xdo(&["mousemove", "--sync", "1300", "1000"]);
    desktop.xdo(&["windowactivate", "--sync", &desktop.window]);
    desktop.wait_active(&desktop.window, "the sumac window");
    desktop.xdo(&["key", "shift+F9"]);
    wait_guest_card(g, false, &log)?;
    assert!(log().contains("smartcard request insert=false"), "{}", log());
    crate::support::wait::wait_until("the app saw the card removed", || {
        log().contains("smartcard state available=true inserted=false")
    });
    desktop.screenshot("card-out");

    // Insert through the window action behind the menu entry.
    desktop.app.activate_window_action("smartcard-insert", None);
    wait_guest_card(g, true, &log)?;
    assert!(log().contains("smartcard request insert=true"), "{}", log());
    Ok(())
}

#[test]
fn guest_smartcard() {
    let group = GuestGroup::new("smartcard", GuestOptions::default().smartcard())
        .case("software CAC card: reader, card, APDU", software_card);
    #[cfg(feature = "gtk")]
    let group = group.case("the app's insert/remove actions", app_insert_remove);
    group.run();
}
