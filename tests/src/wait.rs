//! Waiting for something that must eventually happen, with a bound that only guards against a
//! hang: the bound is never what a test asserts, and it is far above any expected duration.

use std::time::{Duration, Instant};

/// How long any single wait may take before the test is declared hung.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// Polls `check` until it returns `Some`, or panics with `what` after [`HANG_GUARD`]. Polls
/// quickly at first, then backs off to 100 ms, so a slow condition (a container starting) does
/// not cost a process per poll every few milliseconds.
pub fn until<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    within_guard(check).unwrap_or_else(|| panic!("hung waiting for {what}"))
}

/// As [`until`], but returns `None` at the hang guard instead of panicking, for a caller that
/// has more to say about the hang (a log, the last value seen).
pub fn within_guard<T>(check: impl FnMut() -> Option<T>) -> Option<T> {
    within(HANG_GUARD, check)
}

/// As [`within_guard`], with `bound` in place of the hang guard, for a condition that takes
/// longer by design (a sidecar's period): `bound` still only stops a hang.
pub fn within<T>(bound: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() >= bound {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
