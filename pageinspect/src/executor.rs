//! Runs validated probes with back-pressure: a request either gets its permits at once or is
//! answered 429, it never queues behind other requests.

use crate::probers;
use crate::state::AppState;
use futures::StreamExt;
use shared::condition::Condition;
use shared::probe::{ProbeResult, ProbeSpec};
use shared::{ApiError, ErrorCode};

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
    // The probes run in their own task holding the permits, so a caller that hangs up does not
    // free permits while its probes still run (each is bounded by its own timeout).
    let task = state.runtime.spawn(async move {
        let _permit = permit;
        futures::stream::iter(jobs)
            .map(|job| {
                let ctx = ctx.clone();
                let metrics = metrics.clone();
                async move {
                    metrics.probe_started();
                    let result = probers::execute(&job.spec, &job.conditions, &ctx).await;
                    metrics.probe_finished(&result);
                    tracing::debug!(
                        kind = job.spec.kind.as_str(),
                        success = result.success,
                        failure_reason = result.failure_reason.map(|r| r.as_str()),
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
