//! Bounded polling: a condition checked again and again until it holds or a generous timeout
//! passes. No test asserts on how long anything took.

use std::path::Path;
use std::time::{Duration, Instant};

/// How long [`wait_for`] and [`wait_until`] give a condition.
pub const WAIT: Duration = Duration::from_secs(30);

/// Calls `f` every `every` until it returns `Some`, for up to `timeout`; `None` when it never did.
/// `f` runs at least once, and once more at the deadline.
pub fn poll<T>(timeout: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(every.min(until.saturating_duration_since(Instant::now())));
    }
}

/// Whether `cond` holds within `timeout` (checked every 10 ms).
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    poll(timeout, Duration::from_millis(10), || cond().then_some(())).is_some()
}

/// The first `Some` of `f` (checked every 100 ms); panics "timed out: `what`" after [`WAIT`].
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll(WAIT, Duration::from_millis(100), f).unwrap_or_else(|| panic!("timed out: {what}"))
}

/// Waits until `f` holds (checked every 100 ms); panics "timed out: `what`" after [`WAIT`].
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    wait_for(what, || f().then_some(()));
}

/// Waits until the file at `path` holds exactly `want`; panics with what it holds after [`WAIT`].
pub fn wait_file(path: &Path, want: &str) {
    let mut got = String::new();
    let ok = poll(WAIT, Duration::from_millis(100), || {
        got = std::fs::read_to_string(path).unwrap_or_default();
        (got == want).then_some(())
    });
    assert!(ok.is_some(), "{} holds {got:?}, wanted {want:?}", path.display());
}
