//! The probe executor: one module per kind, sharing resolution, connection and the
//! timeout/condition/verdict logic here.
//!
//! Every probe runs inside one `tokio::time::timeout` of its `timeout_ms`, name resolution
//! included, so a slow or endless target never holds a task past its timeout. Probers write what
//! they saw into an [`Outcome`] as they go, so a timed-out probe still reports the phases it
//! finished and the phase it was stuck in.

pub mod browser;
pub mod dns;
pub mod http;
pub mod net;
pub mod tcp;
pub mod tls;

use crate::failure::Failure;
use chrono::{DateTime, Utc};
use shared::condition::{Condition, Observation};
use shared::probe::{FailureReason, PhaseTimings, ProbeKind, ProbeResult, ProbeSpec};
use std::time::{Duration, Instant};

/// What every probe needs besides its spec; built once at start.
pub struct ProbeContext {
    pub tls: tls::TlsConnectors,
    pub max_body_bytes: usize,
    pub user_agent: String,
    /// Addresses probes must not connect to (`egress.deny_cidrs`).
    pub egress: crate::egress::Guard,
    /// The browser pool; `None` when `browser.enabled` is false.
    pub browser: Option<std::sync::Arc<crate::browser::BrowserPool>>,
}

/// What a probe saw so far; filled in phase by phase.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The phase in progress, for timeout messages (`resolve`, `connect`, `tls`, …).
    pub stage: &'static str,
    pub phases: PhaseTimings,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub certificate_expiry: Option<DateTime<Utc>>,
    pub resolved_ip: Option<String>,
    pub connected: Option<bool>,
    pub dns_rcode: Option<String>,
    /// The kind's default success rule did not hold (HTTP 500, NXDOMAIN); it decides the
    /// verdict only when the spec has no conditions.
    pub default_failure: Option<Failure>,
    /// browser: what the page did, the DOM facts the conditions ask about, the screenshot, and
    /// a remark appended to the error (a dropped screenshot).
    pub browser: Option<shared::probe::BrowserReport>,
    pub dom: Vec<shared::condition::DomFacts>,
    pub screenshot_png_base64: Option<String>,
    pub note: Option<String>,
}

impl Outcome {
    /// Seconds since `start`, for a phase timing.
    pub fn since(start: Instant) -> f64 {
        start.elapsed().as_secs_f64()
    }
}

/// Runs one validated probe to completion, within its timeout, and judges it.
#[tracing::instrument(skip_all, fields(kind = spec.kind.as_str(), timeout_ms = spec.timeout_ms))]
pub async fn execute(
    spec: &ProbeSpec,
    conditions: &[Condition],
    ctx: &ProbeContext,
) -> ProbeResult {
    let started_at = Utc::now();
    let start = Instant::now();
    let mut out = Outcome {
        stage: "start",
        ..Outcome::default()
    };
    let limit = Duration::from_millis(spec.timeout_ms);
    let ran = tokio::time::timeout(limit, run_kind(spec, conditions, ctx, &mut out)).await;
    let duration = start.elapsed();
    let failure = match ran {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(_) => Some(Failure::new(
            FailureReason::Timeout,
            format!(
                "timed out after {} ms during {}",
                spec.timeout_ms,
                describe_stage(out.stage)
            ),
        )),
    };
    judge(spec, conditions, out, failure, started_at, duration)
}

async fn run_kind(
    spec: &ProbeSpec,
    conditions: &[Condition],
    ctx: &ProbeContext,
    out: &mut Outcome,
) -> Result<(), Failure> {
    match spec.kind {
        ProbeKind::Http => http::probe(spec, ctx, out).await,
        ProbeKind::Tcp => tcp::probe(spec, ctx, out).await,
        ProbeKind::Dns => dns::probe(spec, ctx, out).await,
        ProbeKind::Tls => tls::probe(spec, ctx, out).await,
        ProbeKind::Browser => browser::probe(spec, conditions, ctx, out).await,
    }
}

fn describe_stage(stage: &str) -> &str {
    match stage {
        "resolve" => "name resolution",
        "connect" => "the TCP connect",
        "tls" => "the TLS handshake",
        "processing" => "processing (waiting for the response)",
        "transfer" => "the body transfer",
        "send" => "sending the request",
        "read" => "reading the response",
        other => other,
    }
}

/// Evaluates the conditions against what was seen and decides success and failure reason.
fn judge(
    spec: &ProbeSpec,
    conditions: &[Condition],
    out: Outcome,
    failure: Option<Failure>,
    started_at: DateTime<Utc>,
    duration: Duration,
) -> ProbeResult {
    let duration_ms = duration.as_secs_f64() * 1000.0;
    let mut obs = Observation {
        status: out.status,
        response_time_ms: Some(duration_ms),
        body: out.body.as_deref(),
        headers: out.headers.clone(),
        certificate_expiration_ms: out
            .certificate_expiry
            .map(|exp| (exp - Utc::now()).num_milliseconds()),
        connected: Some(out.connected.unwrap_or(false)),
        ip: out.resolved_ip.clone(),
        dns_rcode: out.dns_rcode.clone(),
        ..Observation::default()
    };
    browser::add_facts(&mut obs, &out);
    let results: Vec<_> = conditions.iter().map(|c| c.evaluate(&obs)).collect();
    let verdict = if let Some(f) = failure {
        Some(f)
    } else if !results.is_empty() {
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| !r.success)
            .map(|r| r.condition.as_str())
            .collect();
        (!failed.is_empty()).then(|| {
            Failure::new(
                FailureReason::ConditionFailed,
                format!(
                    "{} of {} conditions failed: {}",
                    failed.len(),
                    results.len(),
                    failed.join("; ")
                ),
            )
        })
    } else {
        out.default_failure
    };
    ProbeResult {
        kind: spec.kind,
        target: spec.target.clone(),
        success: verdict.is_none(),
        failure_reason: verdict.as_ref().map(|f| f.reason),
        error: verdict.map(|f| match &out.note {
            Some(note) => format!("{}; {note}", f.message),
            None => f.message,
        }),
        started_at,
        duration_seconds: duration.as_secs_f64(),
        phases: out.phases,
        status_code: out.status,
        certificate_expiry: out.certificate_expiry,
        resolved_ip: out.resolved_ip,
        conditions: results,
        location: None,
        attempt: 1,
        previous_attempts: Vec::new(),
        browser: out.browser,
        screenshot_png_base64: out.screenshot_png_base64,
    }
}
