//! Retries and backoff, in one place for every stage.
//!
//! - [`Backoff`]: capped exponential delays. [`Backoff::jittered`] is an endless `backon`
//!   sequence (factor 2, jitter) for reconnect loops (the binlog source, start-up checks);
//!   [`Backoff::full_jitter`] draws uniformly in `[0, min(cap, base · 2^(n-1))]` after the n-th
//!   failed attempt ("full jitter", AWS Architecture Blog, "Exponential Backoff And Jitter",
//!   <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>), which spreads
//!   the retries of many shards and producers so they do not throttle again together.
//! - [`RetryPolicy`]: a bounded number of attempts per request (the DataHub producer).
//! - [`until_ok`]: call until success, a definite error, or cancellation (start-up paths).

use std::time::Duration;

use backon::BackoffBuilder;
use futures_util::future::BoxFuture;
use rand::Rng;
use tokio_util::sync::CancellationToken;

/// Capped exponential backoff: `initial`, doubling, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Backoff {
    /// Delays from `initial` to `max` (`max` is raised to `initial` when smaller; both at
    /// least 1 ms).
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self { initial, max: max.max(initial) }
    }

    /// The same from milliseconds.
    pub fn from_millis(initial_ms: u64, max_ms: u64) -> Self {
        Self::new(Duration::from_millis(initial_ms), Duration::from_millis(max_ms))
    }

    /// An endless sequence of jittered delays (`backon`'s exponential builder, factor 2).
    pub fn jittered(&self) -> backon::ExponentialBackoff {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.initial)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// The upper bound of the delay after failed attempt `attempt` (1-based):
    /// `min(max, initial · 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.initial.saturating_mul(1u32 << exp).min(self.max)
    }

    /// The delay after failed attempt `attempt` (1-based): uniform in `[0, ceiling]`.
    pub fn full_jitter(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rng.gen_range(0..=ceiling))
    }
}

/// Retries of one request: attempts and backoff (`RETRY_MAX_ATTEMPTS`, `RETRY_BACKOFF_MS` in
/// the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, first one included (default 3, ≥ 1).
    pub max_attempts: u32,
    /// Base of the exponential backoff, ms (default 2000).
    pub backoff_ms: u64,
    /// Cap of one backoff sleep, ms (default 30,000; ≥ `backoff_ms`).
    pub max_backoff_ms: u64,
}

impl RetryPolicy {
    /// The defaults (3 attempts, 2000 ms base, 30,000 ms cap), as a constant so that
    /// configuration tables can quote them.
    pub const DEFAULT: Self = Self { max_attempts: 3, backoff_ms: 2000, max_backoff_ms: 30_000 };
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RetryPolicy {
    /// The policy's backoff.
    pub fn backoff(&self) -> Backoff {
        Backoff::from_millis(self.backoff_ms, self.max_backoff_ms)
    }

    /// True when another attempt is allowed after `attempts_made` attempts.
    pub fn may_retry(&self, attempts_made: u32) -> bool {
        attempts_made < self.max_attempts
    }

    /// The full-jitter delay after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        self.backoff().full_jitter(attempt, rng)
    }
}

/// Sleeps `d` unless `cancel` fires first; returns true when cancelled.
pub async fn wait_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = cancel.cancelled() => true,
    }
}

/// Calls `op(state)` until it succeeds (`Ok(Some)`), fails with an error `is_transient`
/// rejects (`Err`), or `cancel` fires during a pause (`Ok(None)`). Transient errors go to
/// `on_retry`, then a jittered pause from `backoff`. `state` is lent to each attempt (so an
/// attempt may borrow it mutably); start-up paths only: the boxed future costs one allocation
/// per attempt.
pub async fn until_ok<St, T, E>(
    cancel: &CancellationToken,
    backoff: Backoff,
    is_transient: impl Fn(&E) -> bool,
    state: &mut St,
    mut op: impl for<'a> FnMut(&'a mut St) -> BoxFuture<'a, Result<T, E>>,
    on_retry: impl Fn(&E),
) -> Result<Option<T>, E> {
    let mut delays = backoff.jittered();
    loop {
        match op(state).await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if is_transient(&e) => {
                on_retry(&e);
                if wait_or_cancel(delays.next().unwrap_or(backoff.max), cancel).await {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy { max_attempts: 5, backoff_ms: 2000, max_backoff_ms: 30_000 };
        let c: Vec<u64> = (1..=6).map(|a| p.backoff().ceiling(a).as_millis() as u64).collect();
        assert_eq!(c, [2000, 4000, 8000, 16_000, 30_000, 30_000]);
        assert_eq!(p.backoff().ceiling(1000), Duration::from_millis(30_000), "no overflow");
    }

    #[test]
    fn delays_stay_within_bounds_and_are_jittered() {
        let p = RetryPolicy { max_attempts: 3, backoff_ms: 100, max_backoff_ms: 1000 };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 1..=8 {
            let ceiling = p.backoff().ceiling(attempt);
            let draws: Vec<Duration> = (0..200).map(|_| p.delay(attempt, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= ceiling));
            let distinct: std::collections::HashSet<_> = draws.iter().collect();
            assert!(distinct.len() > 10, "jittered");
            assert!(draws.iter().any(|d| *d < ceiling / 2), "full jitter reaches the low half");
        }
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy { max_attempts: 3, ..Default::default() };
        assert!(p.may_retry(1) && p.may_retry(2));
        assert!(!p.may_retry(3));
    }

    #[test]
    fn jittered_delays_stay_between_the_bounds() {
        let b = Backoff::from_millis(100, 1000);
        let d: Vec<Duration> = b.jittered().take(12).collect();
        assert!(d.iter().all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_millis(2000)), "{d:?}");
        assert!(d.last().unwrap() >= &Duration::from_millis(1000), "reaches the cap: {d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn until_ok_retries_transient_errors_and_stops_on_definite_ones() {
        let cancel = CancellationToken::new();
        let b = Backoff::from_millis(10, 100);
        let mut calls = 0u32;
        let r: Result<Option<u32>, &str> = until_ok(
            &cancel,
            b,
            |e| *e == "transient",
            &mut calls,
            |calls| {
                *calls += 1;
                let n = *calls;
                Box::pin(async move {
                    if n < 3 {
                        Err("transient")
                    } else {
                        Ok(n)
                    }
                })
            },
            |_| {},
        )
        .await;
        assert_eq!(r, Ok(Some(3)));
        let r: Result<Option<u32>, &str> =
            until_ok(&cancel, b, |e| *e == "transient", &mut (), |_| Box::pin(async { Err("definite") }), |_| {}).await;
        assert_eq!(r, Err("definite"));
        cancel.cancel();
        let r: Result<Option<u32>, &str> =
            until_ok(&cancel, b, |_| true, &mut (), |_| Box::pin(async { Err("transient") }), |_| {}).await;
        assert_eq!(r, Ok(None), "cancellation during the pause ends the loop");
    }
}
