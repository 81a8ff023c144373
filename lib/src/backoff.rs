//! Exponential backoff with jitter, for every retry loop of every tool: probe's `wait`, the
//! webhooks of reload's actions, and whatever retries next.
//!
//! Each step doubles the one before, up to a cap, and the delay actually waited is a random part
//! (between half and all) of the step, so that pods started or updated together do not retry in
//! lockstep. The randomness comes from the kernel (getrandom(2)), not from the clock: two pods
//! that read the clock in the same microsecond would otherwise draw the same "random" delay.
//! This module only computes delays; sleeping is the caller's (this crate links no runtime).

use std::time::Duration;

/// The delays of one retry loop: `first`, then twice that, and so on up to `max`, each jittered.
///
/// ```
/// use std::time::Duration;
/// use podkit::backoff::Backoff;
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// let first = backoff.next_delay();
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
    max: Duration,
}

impl Backoff {
    /// A backoff whose first step is `first` and whose steps never exceed `max` (a `max` below
    /// `first` caps the first step too).
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { step: first, max }
    }

    /// The next delay to wait: the current step, jittered; the step then doubles, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step.min(self.max);
        self.step = step.saturating_mul(2).min(self.max);
        jittered(step)
    }
}

/// Somewhere between half of `delay` and all of it, drawn from the kernel's random source. If
/// the kernel cannot give randomness without blocking (early boot), the whole delay: waiting a
/// little longer is always safe.
pub fn jittered(delay: Duration) -> Duration {
    let fraction = random_u64().map_or(1.0, |random| random as f64 / u64::MAX as f64);
    // Through f64, a delay near Duration::MAX may round beyond it: keep the delay then.
    Duration::try_from_secs_f64(delay.as_secs_f64() * (0.5 + fraction / 2.0))
        .map_or(delay, |jittered| jittered.min(delay))
}

fn random_u64() -> Option<u64> {
    let mut random = [0u8; 8];
    // SAFETY: getrandom writes at most `random.len()` bytes into the buffer, which lives
    // through the call.
    let filled = unsafe {
        libc::getrandom(
            random.as_mut_ptr().cast(),
            random.len(),
            libc::GRND_NONBLOCK,
        )
    };
    (filled == 8).then(|| u64::from_ne_bytes(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        for _ in 0..1000 {
            let delay = jittered(1000 * MS);
            assert!(delay >= 500 * MS && delay <= 1000 * MS, "{delay:?}");
        }
    }

    #[test]
    fn jitter_is_random_not_constant() {
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| jittered(1000 * MS)).collect();
        assert!(delays.len() > 1, "{delays:?}");
    }

    #[test]
    fn steps_double_up_to_the_cap() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        for step in [100, 200, 400, 800, 1000, 1000, 1000] {
            let delay = backoff.next_delay();
            assert!(
                delay >= step * MS / 2 && delay <= step * MS,
                "step {step}ms: {delay:?}"
            );
        }
    }

    #[test]
    fn a_cap_below_the_first_step_caps_it_too() {
        let mut backoff = Backoff::new(1000 * MS, 100 * MS);
        for _ in 0..3 {
            assert!(backoff.next_delay() <= 100 * MS);
        }
    }

    #[test]
    fn zero_stays_zero_and_a_huge_step_does_not_overflow() {
        assert_eq!(
            Backoff::new(Duration::ZERO, Duration::ZERO).next_delay(),
            Duration::ZERO
        );
        let mut backoff = Backoff::new(Duration::MAX / 2, Duration::MAX);
        for _ in 0..4 {
            backoff.next_delay();
        }
    }
}
