//! Several test cases on one booted guest (a boot costs ~25 s of a TCG core).
//!
//! The unit is one `#[test]` per group: `cargo nextest` runs every `#[test]` in a process of its
//! own, so a guest cannot outlive its test function there, and a `static` guest would never be
//! powered off under `cargo test` (statics are not dropped). The group boots once, runs its cases
//! in order, checks after each that the guest is as it was before (same daemons, same screen size)
//! and reboots it when a case broke it, and reports every failing case at the end.

use crate::control::RunOptions;
use crate::error::{Error, Result};
use crate::guest::Guest;
use crate::host::in_ci;
use crate::options::GuestOptions;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// What a case returns: `Ok(())`, or any error (`?` works with `anyhow`, `std::io` and this
/// crate's errors). Panics (`assert!`) fail the case too.
pub type CaseResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

type CaseFn<'a> = Box<dyn FnOnce(&Guest) -> CaseResult + 'a>;

/// A named list of cases that share one guest. See the crate documentation for an example.
pub struct GuestGroup<'a> {
    name: String,
    options: GuestOptions,
    cases: Vec<(String, CaseFn<'a>)>,
}

/// The outcome of [`GuestGroup::try_run`].
#[derive(Debug, Default)]
pub struct GroupReport {
    /// Cases that passed, with their wall time.
    pub passed: Vec<(String, Duration)>,
    /// Cases that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Cases left out by `SUMAC_GUEST_CASES`.
    pub filtered_out: Vec<String>,
    /// Boots (1 unless a case broke the guest).
    pub boots: usize,
}

impl<'a> GuestGroup<'a> {
    pub fn new(name: impl Into<String>, options: GuestOptions) -> Self {
        Self {
            name: name.into(),
            options,
            cases: Vec::new(),
        }
    }

    /// Adds a case. It must leave the guest as it found it (kill what it started, restore the
    /// screen size...); the group checks the daemons and the screen size after each case, and
    /// resets the mixer volume (clients change it at connect).
    pub fn case(mut self, name: impl Into<String>, case: impl FnOnce(&Guest) -> CaseResult + 'a) -> Self {
        self.cases.push((name.into(), Box::new(case)));
        self
    }

    /// Runs the group as a test: panics when a case failed or the guest could not boot. When host
    /// packages are missing it fails in CI (`CI` set) and otherwise prints why and returns.
    #[allow(clippy::panic)] // This is the test's verdict.
    pub fn run(self) {
        let name = self.name.clone();
        match self.try_run() {
            Ok(report) if report.failed.is_empty() => {}
            Ok(report) => {
                let list: Vec<String> = report
                    .failed
                    .iter()
                    .map(|(case, why)| format!("--- {case}:\n{why}"))
                    .collect();
                panic!(
                    "guest group {name}: {} of {} cases failed\n{}",
                    report.failed.len(),
                    report.failed.len() + report.passed.len(),
                    list.join("\n")
                );
            }
            Err(Error::MissingPackages { packages }) if !in_ci() => {
                eprintln!(
                    "skipping guest group {name}: missing Debian packages {} (scripts/setup installs them)",
                    packages.join(" ")
                );
            }
            Err(e) => panic!("guest group {name}: {e}"),
        }
    }

    /// Runs the cases (those whose name contains one of the comma-separated words of
    /// `SUMAC_GUEST_CASES`, when set) and reports; an `Err` only when the guest cannot boot.
    pub fn try_run(self) -> Result<GroupReport> {
        let mut report = GroupReport::default();
        let filter: Vec<String> = std::env::var("SUMAC_GUEST_CASES")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let (cases, skipped): (Vec<_>, Vec<_>) = self
            .cases
            .into_iter()
            .partition(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())));
        report.filtered_out = skipped.into_iter().map(|(name, _)| name).collect();
        if cases.is_empty() {
            return Ok(report);
        }
        let group = &self.name;
        let mut guest = Some(boot(group, &self.options, &mut report)?);
        for (case, run) in cases {
            let g = match guest.take() {
                Some(g) => g,
                None => boot(group, &self.options, &mut report)?,
            };
            let before = g.state();
            let start = Instant::now();
            eprintln!("guest group {group}: case {case} ...");
            let outcome = match catch_unwind(AssertUnwindSafe(|| run(&g))) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(panic) => Err(panic_message(&*panic)),
            };
            let took = start.elapsed();
            let _ = g.reset_volume();
            let after = g.state();
            let healthy = matches!((&before, &after), (Ok(b), Ok(a)) if a == b);
            let changed = || {
                format!(
                    "the case left the guest changed (the next case gets a fresh guest)\nbefore: {}\nafter: {}",
                    describe(&before),
                    describe(&after)
                )
            };
            let outcome = match (outcome, healthy) {
                (Ok(()), true) => Ok(()),
                (Ok(()), false) => Err(changed()),
                (Err(e), true) => Err(e),
                (Err(e), false) => Err(format!("{e}\n{}", changed())),
            };
            match outcome {
                Ok(()) => {
                    eprintln!("guest group {group}: case {case} ok ({:.1} s)", took.as_secs_f64());
                    report.passed.push((case, took));
                }
                Err(why) => {
                    eprintln!(
                        "guest group {group}: case {case} FAILED ({:.1} s): {why}",
                        took.as_secs_f64()
                    );
                    report.failed.push((case, why));
                }
            }
            if healthy {
                guest = Some(g);
            } else if let Err(e) = g.stop() {
                eprintln!("guest group {group}: stopping the broken guest: {e}");
            }
        }
        if let Some(g) = guest {
            g.stop()?;
        }
        Ok(report)
    }
}

fn boot(group: &str, options: &GuestOptions, report: &mut GroupReport) -> Result<Guest> {
    let guest = Guest::boot(options.clone())?;
    report.boots += 1;
    eprintln!(
        "guest group {group}: guest up in {:.1} s ({:?}, SPICE {})",
        guest.boot_time().as_secs_f64(),
        guest.accel(),
        guest.spice_uri()
    );
    Ok(guest)
}

fn describe(state: &Result<String>) -> String {
    match state {
        Ok(s) => s.clone(),
        Err(e) => format!("(unreadable: {e})"),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

impl Guest {
    /// What a case must not change: the PIDs of the guest's daemons and the screen size.
    pub fn state(&self) -> Result<String> {
        let script = "pgrep -l -x 'Xorg|spice-vdagentd|spice-vdagent|spice-webdavd|avahi-daemon|pcscd' | sort -k2 | tr '\\n' ' '\n\
                      xrandr --current 2>&1 | sed -n '1s/.*current \\([0-9]*\\) x \\([0-9]*\\).*/screen=\\1x\\2/p'";
        let output = self.run_with(
            script,
            &RunOptions {
                display: true,
                timeout: Duration::from_secs(30),
            },
        )?;
        Ok(output.stdout.trim().to_string())
    }

    /// Sets the guest mixer back to the boot volume ([`GuestOptions::volume_percent`]), unmuted
    /// (with audio; otherwise does nothing).
    pub fn reset_volume(&self) -> Result<()> {
        self.set_volume(self.opts.volume_percent)
    }

    /// Sets the guest mixer's playback and capture volume (percent), unmuted (with audio;
    /// otherwise does nothing).
    pub fn set_volume(&self, percent: u8) -> Result<()> {
        if self.opts.audio {
            self.run_ok(&format!("sh /run/sumac/mixer.sh {}", percent.min(100)))?;
        }
        Ok(())
    }
}
