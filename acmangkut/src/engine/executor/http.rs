//! `http` actions: one request through HAS's outbound client (marked, never to acmangkut
//! itself), no redirects followed (a redirect is an answer), the body read up to a cap, then
//! the expected status and the conditions judged. Secrets are hidden in the evidence before it
//! is cut to an excerpt, so a cut never leaves part of one.

use super::secrets::Resolved;
use shared::action::HttpAction;
use shared::check::{CheckOutcome, CheckStatus, excerpt};
use shared::condition::{self, Observation};
use std::time::{Duration, Instant};

/// Body bytes read for conditions and evidence.
const MAX_BODY: usize = 1024 * 1024;

pub(crate) async fn run(
    client: &reqwest::Client,
    action: &HttpAction,
    secrets: &Resolved,
) -> CheckOutcome {
    let started = Instant::now();
    let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let conditions = match condition::parse_all(&action.conditions, "conditions") {
        Ok(c) => c,
        Err(e) => return CheckOutcome::error(e.detail, 0),
    };
    let method = match reqwest::Method::from_bytes(action.method.as_bytes()) {
        Ok(m) => m,
        Err(_) => return CheckOutcome::error(format!("method {:?}", action.method), 0),
    };
    let mut request = client
        .request(method, &action.url)
        .timeout(Duration::from_millis(action.timeout_ms));
    for (name, value) in &action.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &action.body {
        request = request.body(body.clone());
    }
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let why = crate::engine::chain(e);
            return CheckOutcome::error(
                format!("{} {}: {why}", action.method, action.url),
                elapsed(),
            );
        }
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room == 0 {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let why = crate::engine::chain(e);
                return CheckOutcome::error(format!("reading the answer: {why}"), elapsed());
            }
        }
    }
    let duration_ms = elapsed();
    let text = String::from_utf8_lossy(&body);
    let obs = Observation {
        status: Some(status),
        response_time_ms: Some(duration_ms as f64),
        body: Some(&text),
        headers,
        ..Default::default()
    };
    let mut why = Vec::new();
    let expected = match action.expect_status.is_empty() {
        true => (200..300).contains(&status),
        false => action.expect_status.contains(&status),
    };
    if !expected {
        let want = match action.expect_status.is_empty() {
            true => "2xx".to_string(),
            false => format!("{:?}", action.expect_status),
        };
        why.push(format!("status {status}, expected {want}"));
    }
    for c in &conditions {
        let r = c.evaluate(&obs);
        if !r.success {
            let seen = r.observed.unwrap_or_default();
            why.push(format!("`{}` does not hold (saw {seen})", r.condition));
        }
    }
    let lead = match why.is_empty() {
        true => format!("{} {} answered {status}", action.method, action.url),
        false => why.join("; "),
    };
    CheckOutcome {
        status: match why.is_empty() {
            true => CheckStatus::Pass,
            false => CheckStatus::Fail,
        },
        value: Some(status.to_string()),
        evidence: excerpt(&secrets.redact(&format!("{lead}\nbody:\n{}", text.trim_end()))),
        duration_ms,
    }
}
