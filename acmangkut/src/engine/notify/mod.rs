//! Notification senders: one delivery attempt of a [`Message`] to a [`ChannelSpec`].
//!
//! The outbox (queueing, retries, the record of each attempt) lives beside this module; here is
//! only the wire: [`webhook`] (generic signed webhook, Slack), [`robots`] (DingTalk, Feishu)
//! and [`email`] (SMTP). An attempt never panics and never carries a credential in its error:
//! robot URLs hold their tokens, so transport errors are stripped of the URL.

pub mod email;
pub mod robots;
pub mod webhook;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use shared::notify::{ChannelSpec, Message};
use std::time::{Duration, Instant};

/// Response bytes read at most: enough for a robot's JSON verdict or an error page's start.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Characters of a response body kept in an attempt's error.
const EXCERPT_CHARS: usize = 300;

/// The result of one delivery attempt, as the outbox records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub ok: bool,
    /// The HTTP status, or for email the SMTP reply code (250, 550, …), when one came back.
    pub status_code: Option<u16>,
    /// Why the attempt failed, for people: never holds a secret.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Sends notifications; cheap to clone, one per process is enough.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
}

impl Sender {
    /// Webhooks and robots go out through `outbound`'s client: marked, never to acmangkut itself.
    pub fn new(outbound: &shared::outbound::Outbound) -> Result<Self, reqwest::Error> {
        let http = outbound
            .client()
            // A redirect is a failure: a signed body is never re-sent somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http })
    }

    /// Makes one attempt to deliver `msg` over `spec`, bounded by `timeout` as a whole.
    #[tracing::instrument(skip_all, fields(channel.kind = spec.kind_str()))]
    pub async fn send(&self, spec: &ChannelSpec, msg: &Message, timeout: Duration) -> Attempt {
        let started = Instant::now();
        let work = async {
            match spec {
                ChannelSpec::Webhook {
                    url,
                    secret,
                    headers,
                } => {
                    webhook::generic(&self.http, url, secret.as_ref(), headers, msg, timeout).await
                }
                ChannelSpec::Slack { url } => webhook::slack(&self.http, url, msg, timeout).await,
                ChannelSpec::Dingtalk { url, secret } => {
                    robots::dingtalk(&self.http, url, secret.as_ref(), msg, timeout).await
                }
                ChannelSpec::Feishu { url, secret } => {
                    robots::feishu(&self.http, url, secret.as_ref(), msg, timeout).await
                }
                ChannelSpec::Email { .. } => email::send(spec, msg, timeout).await,
            }
        };
        let outcome = tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| Outcome::failed(None, timed_out(timeout)));
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &outcome.error {
            None => tracing::debug!(
                status = outcome.status_code,
                duration_ms,
                "notify: delivered"
            ),
            // Debug only: the outbox logs the failed attempt once, with channel and attempt.
            Some(error) => tracing::debug!(
                status = outcome.status_code,
                duration_ms,
                error = %error,
                "notify: attempt failed"
            ),
        }
        Attempt {
            ok: outcome.error.is_none(),
            status_code: outcome.status_code,
            error: outcome.error,
            duration_ms,
        }
    }
}

/// What a channel's sender reports; [`Sender::send`] adds the timing.
struct Outcome {
    status_code: Option<u16>,
    error: Option<String>,
}

impl Outcome {
    fn ok(status_code: Option<u16>) -> Self {
        Self {
            status_code,
            error: None,
        }
    }

    fn failed(status_code: Option<u16>, error: impl Into<String>) -> Self {
        Self {
            status_code,
            error: Some(error.into()),
        }
    }
}

/// A response: its status and the first [`MAX_RESPONSE_BYTES`] of its body.
struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    /// Fails a non-2xx answer, quoting the start of its body.
    fn success(self) -> Result<Self, Outcome> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            let body = excerpt(&self.body);
            let sep = if body.is_empty() { "" } else { ": " };
            Err(Outcome::failed(
                Some(self.status),
                format!("HTTP {}{sep}{body}", self.status),
            ))
        }
    }

    fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// POSTs `body` as JSON and reads the reply; transport failures come back as an [`Outcome`].
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    mut headers: reqwest::header::HeaderMap,
    timeout: Duration,
) -> Result<Reply, Outcome> {
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    let mut resp = http
        .post(url)
        .timeout(timeout)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| Outcome::failed(None, describe(e)))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() == MAX_RESPONSE_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => return Err(Outcome::failed(Some(status), describe(e))),
        }
    }
    Ok(Reply { status, body })
}

/// A transport error for people, without the URL (robot URLs carry their access tokens).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    // The innermost causes say it best ("tcp connect error: Connection refused (os error 111)").
    let start = causes.len().saturating_sub(2);
    std::iter::once(what.to_string())
        .chain(causes.drain(start..))
        .collect::<Vec<_>>()
        .join(": ")
}

fn timed_out(timeout: Duration) -> String {
    format!("timed out after {} ms", timeout.as_millis())
}

/// The start of a response body, on one line, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(EXCERPT_CHARS + 1)
        .collect();
    if out.chars().count() > EXCERPT_CHARS {
        out = out.chars().take(EXCERPT_CHARS).collect();
        out.push('…');
    }
    out
}

/// HMAC-SHA256 of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// `title`, `text` and `link` as plain text, one part per paragraph.
fn plain_text(msg: &Message) -> String {
    let mut out = format!("{}\n\n{}", msg.title, msg.text);
    if let Some(link) = &msg.link {
        out.push_str("\n\n");
        out.push_str(link);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt(b"  bad\n\n request \t"), "bad request");
        let long = excerpt("é".repeat(400).as_bytes());
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn non_2xx_replies_fail_with_status_and_body() {
        let failed = Reply {
            status: 503,
            body: b"down for maintenance".to_vec(),
        }
        .success()
        .err()
        .expect("a 503 fails");
        assert_eq!(failed.status_code, Some(503));
        assert_eq!(
            failed.error.as_deref(),
            Some("HTTP 503: down for maintenance")
        );
        assert!(
            Reply {
                status: 204,
                body: vec![]
            }
            .success()
            .is_ok()
        );
    }
}
