//! Runs validated probes with back-pressure and the retry policy.
//!
//! Back-pressure: one permit per probe in flight. A request takes the permits for all its
//! probes at once (a batch of n takes n, capped at `max_concurrency`) or is answered 429; it
//! never queues behind other requests. The attempts of one probe run one after the other under
//! that probe's permit, so a probe with retries counts once, for as long as all its attempts
//! take, however many attempts it makes.
//!
//! Retries: a probe runs up to `1 + retries` attempts, stopping at the first success, pausing
//! `retry_delay_ms` (default 0) between attempts. Each attempt is bounded by `timeout_ms`, so a
//! probe takes at most `(1 + retries) × timeout_ms + retries × retry_delay_ms`. `target_denied`
//! and `internal` failures are not retried (another attempt cannot change them). The result is
//! the last attempt, numbered (`attempt`, from 1), with the earlier attempts in
//! `previous_attempts`, oldest first. Every result carries this pageinspect's `location`.

use crate::metrics::Metrics;
use crate::probers::{self, ProbeContext};
use crate::state::AppState;
use futures::StreamExt;
use shared::condition::Condition;
use shared::probe::{FailureReason, ProbeResult, ProbeSpec};
use shared::{ApiError, ErrorCode};
use std::sync::Arc;
use std::time::Duration;

/// Seconds a rejected caller is told to wait.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// A spec that passed validation, with its parsed conditions.
pub struct Job {
    pub spec: ProbeSpec,
    pub conditions: Vec<Condition>,
}

/// Runs `jobs` concurrently (at most `max_concurrency` at a time) and returns their results in
/// the order given. Fails with 429 when the permits are not available now.
pub async fn run(state: &AppState, jobs: Vec<Job>) -> Result<Vec<ProbeResult>, ApiError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = jobs.len().min(state.max_concurrency);
    let permits = u32::try_from(wanted).unwrap_or(u32::MAX);
    let permit = state
        .limiter
        .clone()
        .try_acquire_many_owned(permits)
        .map_err(|_| busy(state, wanted))?;
    let ctx = state.ctx.clone();
    let metrics = state.metrics.clone();
    let location: Arc<str> = Arc::from(state.location.as_str());
    // The probes run in their own task holding the permits, so a caller that hangs up does not
    // free permits while its probes still run (each is bounded by its own timeout).
    let task = state.runtime.spawn(async move {
        let _permit = permit;
        futures::stream::iter(jobs)
            .map(|job| {
                let ctx = ctx.clone();
                let metrics = metrics.clone();
                let location = location.clone();
                async move {
                    metrics.probe_started();
                    let result = run_with_retries(&job, &ctx, &metrics, &location).await;
                    metrics.probe_finished(&result);
                    tracing::debug!(
                        kind = job.spec.kind.as_str(),
                        success = result.success,
                        failure_reason = result.failure_reason.map(|r| r.as_str()),
                        attempts = result.attempt,
                        duration_ms = result.duration_seconds * 1000.0,
                        "probe finished"
                    );
                    result
                }
            })
            .buffered(wanted)
            .collect::<Vec<_>>()
            .await
    });
    task.await.map_err(ApiError::internal)
}

/// Runs the attempts of one probe (see the module documentation) and returns the last one
/// with the earlier ones attached.
async fn run_with_retries(
    job: &Job,
    ctx: &ProbeContext,
    metrics: &Metrics,
    location: &str,
) -> ProbeResult {
    let attempts = 1 + job.spec.retries;
    let delay = Duration::from_millis(job.spec.retry_delay_ms.unwrap_or(0));
    let mut earlier = Vec::new();
    let mut attempt = 1;
    loop {
        let mut result = probers::execute(&job.spec, &job.conditions, ctx).await;
        result.attempt = attempt;
        result.location = Some(location.to_string());
        metrics.attempt_finished(&result);
        if result.success || attempt >= attempts || !retryable(result.failure_reason) {
            result.previous_attempts = earlier;
            return result;
        }
        tracing::debug!(
            kind = job.spec.kind.as_str(),
            attempt,
            failure_reason = result.failure_reason.map(|r| r.as_str()),
            "attempt failed; retrying"
        );
        earlier.push(result);
        attempt += 1;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

/// Whether another attempt could change the outcome: not for a denied target or a spec
/// pageinspect cannot run.
fn retryable(reason: Option<FailureReason>) -> bool {
    !matches!(
        reason,
        Some(FailureReason::TargetDenied | FailureReason::Internal)
    )
}

fn busy(state: &AppState, wanted: usize) -> ApiError {
    tracing::warn!(
        wanted,
        max_concurrency = state.max_concurrency,
        available = state.limiter.available_permits(),
        "rejecting probes: at the concurrency limit"
    );
    let mut e = ApiError::new(
        ErrorCode::TooManyRequests,
        format!(
            "{wanted} probes would exceed the limit of {} probes in flight; retry later",
            state.max_concurrency
        ),
    );
    e.retry_after_seconds = Some(RETRY_AFTER_SECONDS);
    e
}
