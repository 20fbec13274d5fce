//! The few acmangkut calls hasinit makes: wait for `/readyz`, apply the manifest, find and create
//! the first admin. Every call but `/readyz` carries the bootstrap token.

use crate::manifest::Manifest;
use serde::Deserialize;
use serde_json::Value;
use shared::Secret;
use std::time::Duration;
use tokio::time::Instant;

/// The longest pause between two `/readyz` attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Each `/readyz` attempt is bounded by this (and by what is left of the wait).
const READYZ_TIMEOUT: Duration = Duration::from_secs(5);
/// The other calls; one apply is one transaction of a few dozen rows.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a call to acmangkut failed; [`crate::exit`] maps each to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "acmangkut at {url} was not ready within {waited_seconds} s ({attempts} attempts; last: \
        {last})"
    )]
    NotReady {
        url: String,
        waited_seconds: u64,
        attempts: u32,
        last: String,
    },
    #[error("acmangkut rejected the bootstrap token ({call}: {status}): {detail}")]
    Rejected {
        call: &'static str,
        status: u16,
        detail: String,
    },
    /// 400/413/422: what we sent is wrong (a manifest or admin value the server refuses).
    #[error("acmangkut refused {call} ({status}): {detail}")]
    Refused {
        call: &'static str,
        status: u16,
        detail: String,
        /// The problem's `field`: the JSON path of the refused value.
        field: Option<String>,
    },
    #[error("{call}: acmangkut answered {status}: {detail}")]
    Status {
        call: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{call}: {message}")]
    Transport { call: &'static str, message: String },
    #[error("{call}: unexpected answer: {message}")]
    Decode { call: &'static str, message: String },
}

/// The answer of `POST /api/v1/iam/manifest:apply`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApplyOutcome {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One entry of [`ApplyOutcome::changes`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Change {
    pub kind: String,
    pub name: String,
    pub op: String,
    #[serde(default)]
    pub before: Value,
    #[serde(default)]
    pub after: Value,
}

/// What `POST /api/v1/iam/users` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserCreation {
    Created,
    /// 409: the username is taken (a concurrent run, or an existing account).
    AlreadyExists,
}

pub struct Acmangkut {
    base: String,
    token: Secret,
    http: reqwest::Client,
}

impl Acmangkut {
    /// `base` is acmangkut's root URL; `token` its bootstrap token.
    pub fn new(base: &str, token: Secret) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(CALL_TIMEOUT)
            .user_agent(concat!("HAS-hasinit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport {
                call: "HTTP client",
                message: chain(&e),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    /// Polls `GET /readyz` until it answers 200, with exponential back-off and jitter, for at
    /// most `max_wait` (at least one attempt is always made).
    #[tracing::instrument(skip_all, fields(url = %self.base, max_wait_s = max_wait.as_secs()))]
    pub async fn wait_ready(
        &self,
        max_wait: Duration,
        initial: Duration,
    ) -> Result<(), ClientError> {
        let started = Instant::now();
        let deadline = started + max_wait;
        let mut backoff = initial.min(MAX_BACKOFF);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let per_try = left.clamp(Duration::from_millis(250), READYZ_TIMEOUT);
            let last = match self
                .http
                .get(format!("{}/readyz", self.base))
                .timeout(per_try)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(
                        attempts,
                        waited_ms = started.elapsed().as_millis() as u64,
                        "acmangkut is ready"
                    );
                    return Ok(());
                }
                Ok(r) => format!("/readyz answered {}", r.status()),
                Err(e) => chain(&e),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::NotReady {
                    url: self.base.clone(),
                    waited_seconds: started.elapsed().as_secs(),
                    attempts,
                    last,
                });
            }
            let pause = jitter(backoff).min(deadline - now);
            tracing::info!(
                attempts,
                last = %last,
                retry_in_ms = pause.as_millis() as u64,
                "acmangkut not ready yet"
            );
            tokio::time::sleep(pause).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// `POST /api/v1/iam/manifest:apply` (`?dry_run=true` writes nothing).
    pub async fn apply(
        &self,
        manifest: &Manifest,
        dry_run: bool,
    ) -> Result<ApplyOutcome, ClientError> {
        const CALL: &str = "POST /api/v1/iam/manifest:apply";
        let mut url = format!("{}/api/v1/iam/manifest:apply", self.base);
        if dry_run {
            url.push_str("?dry_run=true");
        }
        let resp = self.send(CALL, self.http.post(url).json(manifest)).await?;
        let resp = expect_success(CALL, resp).await?;
        decode(CALL, resp).await
    }

    /// Usernames of the users holding the `admin` role (`GET /api/v1/iam/users?role=admin`).
    pub async fn admins(&self) -> Result<Vec<String>, ClientError> {
        const CALL: &str = "GET /api/v1/iam/users?role=admin";
        let url = format!("{}/api/v1/iam/users?role=admin", self.base);
        let resp = self.send(CALL, self.http.get(url)).await?;
        let resp = expect_success(CALL, resp).await?;
        let body: Value = decode(CALL, resp).await?;
        // A page envelope (`{"items": [...]}`, docs/API.md) or a bare array.
        let items = body
            .get("items")
            .unwrap_or(&body)
            .as_array()
            .ok_or_else(|| ClientError::Decode {
                call: CALL,
                message: "neither a list nor a page of users".into(),
            })?;
        Ok(items
            .iter()
            .map(|u| u["username"].as_str().unwrap_or("?").to_string())
            .collect())
    }

    /// `POST /api/v1/iam/users`: a built-in account holding `roles`.
    pub async fn create_user(
        &self,
        username: &str,
        password: &Secret,
        roles: &[&str],
    ) -> Result<UserCreation, ClientError> {
        const CALL: &str = "POST /api/v1/iam/users";
        let body = serde_json::json!({
            "username": username,
            "display_name": "Administrator",
            "password": password.expose(),
            "roles": roles,
            "break_glass": false,
        });
        let req = self
            .http
            .post(format!("{}/api/v1/iam/users", self.base))
            .json(&body);
        let resp = self.send(CALL, req).await?;
        if resp.status() == reqwest::StatusCode::CONFLICT {
            return Ok(UserCreation::AlreadyExists);
        }
        expect_success(CALL, resp).await?;
        Ok(UserCreation::Created)
    }

    async fn send(
        &self,
        call: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        req.bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| ClientError::Transport {
                call,
                message: chain(&e),
            })
    }
}

/// Passes a 2xx answer through; turns any other into the matching [`ClientError`].
async fn expect_success(
    call: &'static str,
    resp: reqwest::Response,
) -> Result<reqwest::Response, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let detail = problem_detail(&body);
    let status = status.as_u16();
    Err(match status {
        401 | 403 => ClientError::Rejected {
            call,
            status,
            detail,
        },
        400 | 413 | 422 => ClientError::Refused {
            call,
            status,
            detail,
            field: problem_field(&body),
        },
        _ => ClientError::Status {
            call,
            status,
            detail,
        },
    })
}

async fn decode<T: serde::de::DeserializeOwned>(
    call: &'static str,
    resp: reqwest::Response,
) -> Result<T, ClientError> {
    let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
        call,
        message: chain(&e),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        call,
        message: e.to_string(),
    })
}

/// The useful part of a problem+json body (`detail`, the `field` it names, else `title`); any
/// other body, shortened.
fn problem_detail(body: &str) -> String {
    if let Ok(p) = serde_json::from_str::<Value>(body) {
        let text = |k: &str| p.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(d) = text("detail").or_else(|| text("title")) {
            return match text("field") {
                Some(f) => format!("{d} (field `{f}`)"),
                None => d.to_string(),
            };
        }
    }
    let body = body.trim();
    match body.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None if body.is_empty() => "(no body)".into(),
        None => body.to_string(),
    }
}

/// The `field` of a problem+json body.
fn problem_field(body: &str) -> Option<String> {
    let p: Value = serde_json::from_str(body).ok()?;
    Some(p.get("field")?.as_str()?.to_string())
}

/// An error and its causes on one line (reqwest's own message hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Half of `backoff` plus a random part of the other half, so that many jobs started together
/// do not poll in step.
fn jitter(backoff: Duration) -> Duration {
    let half = backoff / 2;
    let random = getrandom::u64().unwrap_or(0);
    let extra_ms = match half.as_millis() as u64 {
        0 => 0,
        h => random % (h + 1),
    };
    half + Duration::from_millis(extra_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        for ms in [1, 2, 250, 5_000] {
            let b = Duration::from_millis(ms);
            for _ in 0..50 {
                let j = jitter(b);
                assert!(j >= b / 2 && j <= b, "{ms} ms gave {j:?}");
            }
        }
    }

    #[test]
    fn problem_details_name_the_field_and_other_bodies_are_shortened() {
        let p = r#"{"type":"x","title":"A field has an invalid value","status":400,
                    "detail":"unknown permission `nope:x`","field":"roles[0].permissions[1]"}"#;
        assert_eq!(
            problem_detail(p),
            "unknown permission `nope:x` (field `roles[0].permissions[1]`)"
        );
        assert_eq!(problem_detail(r#"{"title":"Forbidden"}"#), "Forbidden");
        assert_eq!(problem_detail(""), "(no body)");
        assert_eq!(problem_detail(&"x".repeat(300)).chars().count(), 201);
    }
}
