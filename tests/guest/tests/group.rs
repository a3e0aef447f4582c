//! GuestGroup against a real (bare) guest: cases share one boot, a failing case is reported without
//! stopping the others, and a case that leaves the guest changed fails and gets it replaced.

use sumac_test_guest::{Error, GuestGroup, GuestOptions, in_ci};

#[test]
fn cases_share_a_guest_and_must_leave_it_as_found() {
    let report = GuestGroup::new("self-test", GuestOptions::default())
        .case("passes", |g| {
            g.run_ok("touch /tmp/first-boot")?;
            Ok(())
        })
        .case("shares the boot", |g| {
            // The previous case's file: same guest.
            g.run_ok("test -e /tmp/first-boot")?;
            Ok(())
        })
        .case("fails", |g| {
            let out = g.run("exit 7")?;
            assert_eq!(out.status, 0, "this case fails on purpose");
            Ok(())
        })
        .case("changes the screen", |g| {
            g.run_x_ok("xrandr -s 800x600")?;
            Ok(())
        })
        .case("gets a fresh guest", |g| {
            let screen = g.run_x_ok("xrandr --current | head -n 1")?;
            assert!(screen.contains("current 1024 x 768"), "{screen}");
            assert!(!g.run("test -e /tmp/first-boot")?.success(), "not the first guest");
            Ok(())
        })
        .try_run();
    let report = match report {
        Ok(report) => report,
        Err(Error::MissingPackages { packages }) if !in_ci() => {
            eprintln!("skipping: missing Debian packages {}", packages.join(" "));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let failed: Vec<&str> = report.failed.iter().map(|(name, _)| name.as_str()).collect();
    let passed: Vec<&str> = report.passed.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(failed, ["fails", "changes the screen"], "{report:?}");
    assert_eq!(
        passed,
        ["passes", "shares the boot", "gets a fresh guest"],
        "{report:?}"
    );
    assert!(report.failed[0].1.contains("fails on purpose"), "{report:?}");
    assert!(report.failed[1].1.contains("screen=800x600"), "{report:?}");
    assert_eq!(report.boots, 2, "one boot, then one after the screen change");
}
