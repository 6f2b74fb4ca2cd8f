//! Bounded retries with full-jitter exponential backoff.
//!
//! The SDK's built-in retries are turned off so that every retry goes
//! through here: one bound on attempts, one on total time, one log line per
//! retry and one metric.

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rand::Rng;
use tokio::time::Instant;

use super::error::{ErrorClass, classify};
use crate::telemetry;

/// Bounds for retrying one AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first one included.
    pub max_attempts: u32,
    /// The backoff cap before the first retry; it doubles per retry.
    pub base_delay: Duration,
    /// The largest backoff cap for a single retry.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// Eight attempts with backoff caps of 0.5, 1, 2, 4, 8, 16 and 20 seconds
    /// wait about 26 seconds on average when every retry is needed. That rides
    /// out a burst of throttling, which IAM and Organizations clear within
    /// seconds, yet no call keeps an account waiting for more than two minutes.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Returns the backoff cap before retry number `retry` (1-based).
    pub fn delay_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Draws a full-jitter delay, uniform between zero and the cap.
    pub fn jittered_delay(&self, retry: u32) -> Duration {
        let cap = self.delay_cap(retry);
        let millis = cap.as_millis() as u64;
        if millis == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// Runs `call` until it succeeds, fails with an error that is not
/// retryable, or runs out of attempts or time.
///
/// `operation` (for example `iam:GetCredentialReport`) and `account_id`
/// appear in the DEBUG line logged for each retry.
pub async fn with_retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    operation: &'static str,
    account_id: &str,
    mut call: F,
) -> Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let err = match call().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };

        let class = classify(&err);
        if !class.is_retryable() || attempt >= policy.max_attempts {
            return Err(err);
        }
        let delay = policy.jittered_delay(attempt);
        if started.elapsed() + delay > policy.max_elapsed {
            return Err(err);
        }

        tracing::debug!(
            account_id,
            operation,
            attempt,
            max_attempts = policy.max_attempts,
            delay_ms = delay.as_millis() as u64,
            throttled = class == ErrorClass::Throttled,
            error = %super::error_chain(&err),
            "retrying AWS call"
        );
        telemetry::record_retry(operation);
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_cap_doubles_up_to_max() {
        let policy = RetryPolicy::default();
        let caps: Vec<u64> = (1..=8).map(|retry| policy.delay_cap(retry).as_millis() as u64).collect();
        assert_eq!(caps, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
    }

    #[test]
    fn jittered_delay_stays_under_cap() {
        let policy = RetryPolicy::default();
        for retry in 1..=10 {
            for _ in 0..50 {
                assert!(policy.jittered_delay(retry) <= policy.delay_cap(retry));
            }
        }
    }

    #[test]
    fn default_survives_four_throttled_calls() {
        let policy = RetryPolicy::default();
        let worst_case: Duration = (1..=4).map(|retry| policy.delay_cap(retry)).sum();
        assert!(policy.max_attempts >= 5);
        assert!(worst_case < policy.max_elapsed);
    }
}
