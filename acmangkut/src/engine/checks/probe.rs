//! Probe checks: run by pageinspect, mapped to pass / fail / error.

use shared::check::{CheckOutcome, CheckStatus, excerpt};
use shared::pageinspect_client::{ClientError, PageinspectClient};
use shared::probe::{FailureReason, ProbeKind, ProbeResult, ProbeSpec};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Tries of a batch pageinspect answers with 429 (at its concurrency limit).
const BUSY_TRIES: u32 = 4;

/// Runs `specs` in one request (retrying while pageinspect is busy); one outcome per spec, in
/// order. Not reaching pageinspect is an `error` for each: it says nothing about the targets.
pub(super) async fn run_batch(
    client: &PageinspectClient,
    specs: &[ProbeSpec],
) -> Vec<CheckOutcome> {
    let started = Instant::now();
    let mut tries = 0;
    let err = loop {
        tries += 1;
        match client.batch(specs).await {
            Ok(results) => return results.iter().map(outcome).collect(),
            Err(ClientError::Busy(after)) if tries < BUSY_TRIES => {
                tokio::time::sleep(after.clamp(Duration::from_millis(100), Duration::from_secs(3)))
                    .await;
            }
            Err(e) => break e,
        }
    };
    let why = format!("executor unavailable: {err}");
    let ms = super::elapsed_ms(started);
    specs
        .iter()
        .map(|_| CheckOutcome::error(why.clone(), ms))
        .collect()
}

/// Maps one probe result. Failures that say nothing about the target (pageinspect or its
/// browser broke, or it refused the target by policy) are `error`, not `fail`.
pub(super) fn outcome(r: &ProbeResult) -> CheckOutcome {
    let seconds = r.duration_seconds
        + r.previous_attempts
            .iter()
            .map(|p| p.duration_seconds)
            .sum::<f64>();
    let duration_ms = (seconds * 1000.0).round().clamp(0.0, u64::MAX as f64) as u64;
    let status = match (r.success, r.failure_reason) {
        (true, _) => CheckStatus::Pass,
        (
            false,
            Some(
                FailureReason::ExecutorUnavailable
                | FailureReason::BrowserError
                | FailureReason::Internal
                | FailureReason::TargetDenied,
            ),
        ) => CheckStatus::Error,
        (false, _) => CheckStatus::Fail,
    };
    CheckOutcome {
        status,
        value: value(r),
        evidence: excerpt(&evidence(r)),
        duration_ms,
    }
}

/// What a report shows as the observed value: the status code of a page, the certificate's
/// expiry of a TLS probe, the duration otherwise.
fn value(r: &ProbeResult) -> Option<String> {
    match r.kind {
        ProbeKind::Http | ProbeKind::Browser => r.status_code.map(|c| c.to_string()),
        ProbeKind::Tls => r.certificate_expiry.map(|t| t.to_rfc3339()),
        ProbeKind::Tcp | ProbeKind::Dns => None,
    }
    .or_else(|| r.success.then(|| format!("{:.3}s", r.duration_seconds)))
}

fn evidence(r: &ProbeResult) -> String {
    let mut s = String::new();
    if r.success {
        let _ = write!(
            s,
            "{} {} up in {:.3} s",
            r.kind.as_str(),
            r.target,
            r.duration_seconds
        );
    } else {
        let reason = r.failure_reason.map_or("failed", FailureReason::as_str);
        let _ = write!(s, "{} {}: {reason}", r.kind.as_str(), r.target);
        if let Some(e) = &r.error {
            let _ = write!(s, ": {e}");
        }
    }
    if let Some(code) = r.status_code {
        let _ = write!(s, "\nstatus code {code}");
    }
    if let Some(t) = r.certificate_expiry {
        let _ = write!(s, "\ncertificate expires {}", t.to_rfc3339());
    }
    for c in r.conditions.iter().filter(|c| !c.success) {
        let _ = write!(s, "\ncondition failed: {}", c.condition);
        if let Some(o) = &c.observed {
            let _ = write!(s, " (observed {o})");
        }
    }
    if let Some(b) = &r.browser {
        for e in b.js_errors.iter().chain(&b.console_errors).take(5) {
            let _ = write!(s, "\npage error: {e}");
        }
        for step in b.steps.iter().filter(|st| !st.success) {
            let _ = write!(s, "\nstep failed: {}", step.step);
            if let Some(e) = &step.error {
                let _ = write!(s, ": {e}");
            }
        }
    }
    if !r.previous_attempts.is_empty() {
        let _ = write!(s, "\nattempt {} of this probe", r.attempt);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::condition::ConditionResult;

    fn result(kind: ProbeKind, success: bool) -> ProbeResult {
        let mut r = ProbeResult::failed(
            &ProbeSpec::new(kind, "http://x/"),
            FailureReason::Timeout,
            "t",
        );
        r.success = success;
        if success {
            r.failure_reason = None;
            r.error = None;
        }
        r.duration_seconds = 0.25;
        r
    }

    #[test]
    fn a_successful_page_passes_with_its_status_code() {
        let mut r = result(ProbeKind::Http, true);
        r.status_code = Some(200);
        let o = outcome(&r);
        assert_eq!(o.status, CheckStatus::Pass);
        assert_eq!(o.value.as_deref(), Some("200"));
        assert_eq!(o.duration_ms, 250);
    }

    #[test]
    fn a_failed_condition_fails_and_is_named_with_what_was_seen() {
        let mut r = result(ProbeKind::Http, false);
        r.failure_reason = Some(FailureReason::ConditionFailed);
        r.status_code = Some(500);
        r.conditions = vec![ConditionResult {
            condition: "[STATUS] == 200".into(),
            success: false,
            observed: Some("500".into()),
        }];
        let o = outcome(&r);
        assert_eq!(o.status, CheckStatus::Fail);
        assert_eq!(o.value.as_deref(), Some("500"));
        assert!(o.evidence.contains("condition_failed"), "{}", o.evidence);
        assert!(
            o.evidence.contains("[STATUS] == 200 (observed 500)"),
            "{}",
            o.evidence
        );
    }

    #[test]
    fn failures_that_say_nothing_about_the_target_are_errors() {
        for reason in [
            FailureReason::ExecutorUnavailable,
            FailureReason::BrowserError,
            FailureReason::Internal,
            FailureReason::TargetDenied,
        ] {
            let mut r = result(ProbeKind::Browser, false);
            r.failure_reason = Some(reason);
            assert_eq!(outcome(&r).status, CheckStatus::Error, "{reason:?}");
        }
        for reason in [
            FailureReason::Timeout,
            FailureReason::ConnectionRefused,
            FailureReason::TlsError,
        ] {
            let mut r = result(ProbeKind::Tcp, false);
            r.failure_reason = Some(reason);
            assert_eq!(outcome(&r).status, CheckStatus::Fail, "{reason:?}");
        }
    }

    #[test]
    fn a_tls_probe_reports_the_certificate_expiry() {
        let mut r = result(ProbeKind::Tls, true);
        let t = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .expect("time")
            .to_utc();
        r.certificate_expiry = Some(t);
        assert_eq!(
            outcome(&r).value.as_deref(),
            Some("2030-01-01T00:00:00+00:00")
        );
    }

    #[test]
    fn retries_count_in_the_duration() {
        let mut r = result(ProbeKind::Tcp, true);
        r.previous_attempts = vec![result(ProbeKind::Tcp, false)];
        r.attempt = 2;
        let o = outcome(&r);
        assert_eq!(o.duration_ms, 500);
        assert!(o.evidence.contains("attempt 2"), "{}", o.evidence);
    }
}
