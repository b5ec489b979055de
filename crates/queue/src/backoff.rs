//! The retry schedule for transient failures: 1 s, 5 s, 30 s, 2 min, then 10 min.

use std::sync::Arc;
use std::time::Duration;

/// A retry schedule as a value: the delay after failed delivery number `attempt`. Workers hold
/// one ([`retry_delay`] in production, a zero delay in tests).
pub type Backoff = Arc<dyn Fn(u32) -> Duration + Send + Sync>;

/// Delays before the 2nd, 3rd, … delivery of a message whose handling failed transiently.
pub const RETRY_SCHEDULE: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
];

/// How long to wait after delivery number `attempt` (1-based) failed: the schedule's entry, and
/// its last entry for every attempt past the end.
pub fn retry_delay(attempt: u32) -> Duration {
    let i = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    RETRY_SCHEDULE[i.min(RETRY_SCHEDULE.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_schedule_then_stay_at_ten_minutes() {
        let secs: Vec<u64> = (0..=7).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(secs, [1, 1, 5, 30, 120, 600, 600, 600]);
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(600));
    }
}
