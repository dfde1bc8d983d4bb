//! Backoff between attempts of one request: exponential with "full jitter" (a uniform draw in
//! `[0, min(cap, base · 2^(n-1))]` after the n-th failed attempt), bounded in attempts by
//! [`RetryPolicy::max_attempts`] (`RETRY_MAX_ATTEMPTS`) and based on
//! [`RetryPolicy::backoff_ms`] (`RETRY_BACKOFF_MS`). The SDKs retry LimitExceeded and server
//! errors a few times with fixed or no sleeps (`shared/ref/datahub-protocol.md` §10); full
//! jitter spreads the retries of many shards and producers so they do not throttle again
//! together.

use std::time::Duration;

use rand::Rng;

use super::config::RetryPolicy;

/// The upper bound of the sleep after failed attempt `attempt` (1-based):
/// `min(max_backoff_ms, backoff_ms · 2^(attempt-1))` ms.
pub fn backoff_ceiling(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(62);
    let ms = policy.backoff_ms.saturating_mul(1u64 << exp).min(policy.max_backoff_ms);
    Duration::from_millis(ms)
}

/// The sleep after failed attempt `attempt` (1-based): uniform in `[0, backoff_ceiling]`.
pub fn backoff_delay(policy: &RetryPolicy, attempt: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = backoff_ceiling(policy, attempt).as_millis() as u64;
    Duration::from_millis(rng.gen_range(0..=ceiling))
}

/// True when another attempt is allowed after `attempts_made` attempts.
pub fn may_retry(policy: &RetryPolicy, attempts_made: u32) -> bool {
    attempts_made < policy.max_attempts
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy { max_attempts: 5, backoff_ms: 2000, max_backoff_ms: 30_000 };
        let c: Vec<u64> = (1..=6).map(|a| backoff_ceiling(&p, a).as_millis() as u64).collect();
        assert_eq!(c, [2000, 4000, 8000, 16_000, 30_000, 30_000]);
        assert_eq!(backoff_ceiling(&p, 1000), Duration::from_millis(30_000), "no overflow");
    }

    #[test]
    fn delays_stay_within_bounds_and_are_jittered() {
        let p = RetryPolicy { max_attempts: 3, backoff_ms: 100, max_backoff_ms: 1000 };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 1..=8 {
            let ceiling = backoff_ceiling(&p, attempt);
            let draws: Vec<Duration> = (0..200).map(|_| backoff_delay(&p, attempt, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= ceiling));
            let distinct: std::collections::HashSet<_> = draws.iter().collect();
            assert!(distinct.len() > 10, "jittered");
            assert!(draws.iter().any(|d| *d < ceiling / 2), "full jitter reaches the low half");
        }
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy { max_attempts: 3, ..Default::default() };
        assert!(may_retry(&p, 1) && may_retry(&p, 2));
        assert!(!may_retry(&p, 3));
    }
}
