//! How long a task waits before its next attempt: exponential in the
//! attempts made, capped, with "equal jitter" (half the delay fixed, half
//! random) so that tasks failed together do not all come back together,
//! while each still waits at least half its delay.

use std::time::Duration;

/// The retry backoff settings (`TASK_RETRY_BACKOFF_MS`,
/// `TASK_RETRY_BACKOFF_MAX_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first attempt.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before the attempt after `attempts_made` (≥ 1), before jitter.
    pub fn ceiling(&self, attempts_made: i32) -> Duration {
        let doublings = u32::try_from(attempts_made.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// The jittered delay: `ceiling/2 + random·ceiling/2`, `random` in [0, 1).
    pub fn delay(&self, attempts_made: i32, random: f64) -> Duration {
        let ceiling = self.ceiling(attempts_made);
        let half = ceiling / 2;
        half + half.mul_f64(random.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(2),
        max: Duration::from_secs(60),
    };

    #[test]
    fn the_delay_doubles_per_attempt_up_to_the_cap() {
        let ceilings: Vec<u64> = (1..=7).map(|a| BACKOFF.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(BACKOFF.ceiling(1000), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        assert_eq!(BACKOFF.delay(3, 0.0), Duration::from_secs(4));
        assert_eq!(BACKOFF.delay(3, 0.5), Duration::from_secs(6));
        assert!(BACKOFF.delay(3, 0.999_999) < Duration::from_secs(8));
        assert_eq!(BACKOFF.delay(3, 7.0), Duration::from_secs(8));
    }
}
