//! The pageinspect HTTP client acmangkut uses to run probes.

use crate::Secret;
use crate::probe::{BatchRequest, BatchResponse, ProbeResult, ProbeSpec};
use std::time::Duration;

/// Why a batch could not be run. None of these says anything about the probed targets.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("pageinspect unreachable: {0}")]
    Unreachable(String),
    /// 429: pageinspect is at its concurrency limit; retry after the given delay.
    #[error("pageinspect busy; retry after {0:?}")]
    Busy(Duration),
    #[error("pageinspect answered {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("pageinspect answered {expected} probes with {got} results")]
    Mismatch { expected: usize, got: usize },
}

#[derive(Clone, Debug)]
pub struct PageinspectClient {
    base: String,
    token: Option<Secret>,
    http: reqwest::Client,
}

impl PageinspectClient {
    /// `base` is pageinspect's root URL (`http://127.0.0.1:8081`).
    pub fn new(base: &str, token: Option<Secret>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Runs `probes` in one request; results come back in the same order.
    pub async fn batch(&self, probes: &[ProbeSpec]) -> Result<Vec<ProbeResult>, ClientError> {
        let slowest = probes.iter().map(|p| p.timeout_ms).max().unwrap_or(1_000);
        let mut req = self
            .http
            .post(format!("{}/api/v1/probes:batch", self.base))
            // The server bounds each probe by its timeout; allow for queueing on top.
            .timeout(Duration::from_millis(slowest * 3 + 5_000))
            .json(&BatchRequest {
                probes: probes.to_vec(),
            });
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(error_chain(&e)))?;
        let status = resp.status();
        if status.as_u16() == 429 {
            let secs = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            return Err(ClientError::Busy(Duration::from_secs(secs)));
        }
        if status.is_server_error() {
            let body = resp.text().await.unwrap_or_default();
            return Err(ClientError::Unreachable(format!("{status}: {body}")));
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(ClientError::Rejected {
                status: status.as_u16(),
                body,
            });
        }
        let body: BatchResponse = resp
            .json()
            .await
            .map_err(|e| ClientError::Unreachable(error_chain(&e)))?;
        if body.results.len() != probes.len() {
            return Err(ClientError::Mismatch {
                expected: probes.len(),
                got: body.results.len(),
            });
        }
        Ok(body.results)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
