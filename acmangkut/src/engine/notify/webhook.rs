//! The generic webhook and Slack-compatible incoming webhooks.
//!
//! # The generic webhook's signature
//!
//! The body is the event as JSON ([`Message::payload`]), sent with `Content-Type:
//! application/json`, `X-HAS-Event: <payload.event, or "inspection">` and the channel's own
//! headers. When the channel has a secret, HAS signs each delivery as Stripe does:
//!
//! ```text
//! X-HAS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body bytes>")>
//! ```
//!
//! A receiver splits the header on `,` into `key=value` pairs, rejects a `t` more than a few
//! minutes from its own clock (a replayed delivery), recomputes the HMAC over `t`, a `.` and the
//! body bytes exactly as received (before any JSON parsing), and compares it with `v1` in
//! constant time. `v1` names the scheme: a future one would be added beside it, so receivers
//! should ignore keys they do not know. A retried delivery is signed again with a fresh `t`.

use super::{Outcome, hex, hmac_sha256, post_json, unix_now};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use shared::Secret;
use shared::notify::Message;
use std::collections::BTreeMap;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "x-has-signature";
pub const EVENT_HEADER: &str = "x-has-event";

/// The `X-HAS-Signature` value for `body` signed with `secret` at `t` (unix seconds).
pub fn signature(secret: &str, t: u64, body: &[u8]) -> String {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={t},v1={}", hex(&hmac_sha256(secret.as_bytes(), &signed)))
}

/// The body a generic webhook receives: the event, or the message itself when there is none.
pub fn body(msg: &Message) -> serde_json::Value {
    if msg.payload.is_null() {
        serde_json::json!({
            "title": msg.title, "text": msg.text, "level": msg.level, "link": msg.link,
        })
    } else {
        msg.payload.clone()
    }
}

pub(super) async fn generic(
    http: &reqwest::Client,
    url: &str,
    secret: Option<&Secret>,
    configured: &BTreeMap<String, String>,
    msg: &Message,
    timeout: Duration,
) -> Outcome {
    let payload = body(msg);
    let body = match serde_json::to_vec(&payload) {
        Ok(b) => b,
        Err(e) => return Outcome::failed(None, format!("the event is not JSON: {e}")),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in configured {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.insert(n, v);
            }
            _ => return Outcome::failed(None, format!("header {name} is not valid")),
        }
    }
    let event = payload
        .get("event")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("inspection");
    match HeaderValue::from_str(event) {
        Ok(v) => headers.insert(EVENT_HEADER, v),
        Err(_) => headers.insert(EVENT_HEADER, HeaderValue::from_static("inspection")),
    };
    if let Some(secret) = secret {
        let sig = signature(secret.expose(), unix_now().as_secs(), &body);
        if let Ok(v) = HeaderValue::from_str(&sig) {
            headers.insert(SIGNATURE_HEADER, v);
        }
    }
    match post_json(http, url, body, headers, timeout).await {
        Ok(reply) => match reply.success() {
            Ok(reply) => Outcome::ok(Some(reply.status)),
            Err(failed) => failed,
        },
        Err(failed) => failed,
    }
}

/// The Slack message: a bold title, the text and the link, each on its own line.
pub fn slack_text(msg: &Message) -> String {
    // Slack reads `&`, `<` and `>` as control characters; only these are to be escaped.
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut text = format!("*{}*\n{}", escape(&msg.title), escape(&msg.text));
    if let Some(link) = &msg.link {
        text.push('\n');
        text.push_str(link);
    }
    text
}

pub(super) async fn slack(
    http: &reqwest::Client,
    url: &str,
    msg: &Message,
    timeout: Duration,
) -> Outcome {
    let body = serde_json::json!({ "text": slack_text(msg) }).to_string();
    match post_json(http, url, body.into_bytes(), HeaderMap::new(), timeout).await {
        Ok(reply) => match reply.success() {
            Ok(reply) => Outcome::ok(Some(reply.status)),
            Err(failed) => failed,
        },
        Err(failed) => failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_time_and_the_exact_body() {
        let sig = signature("whsec", 1_700_000_000, br#"{"event":"x"}"#);
        let mut signed = b"1700000000.".to_vec();
        signed.extend_from_slice(br#"{"event":"x"}"#);
        assert_eq!(
            sig,
            format!("t=1700000000,v1={}", hex(&hmac_sha256(b"whsec", &signed)))
        );
        assert_ne!(sig, signature("whsec", 1_700_000_001, br#"{"event":"x"}"#));
        assert_ne!(sig, signature("whsec", 1_700_000_000, br#"{"event": "x"}"#));
    }

    #[test]
    fn slack_text_escapes_its_control_characters() {
        let msg = Message {
            title: "Disk <80%".into(),
            text: "a & b".into(),
            link: Some("https://has/runs/1".into()),
            ..Message::default()
        };
        assert_eq!(
            slack_text(&msg),
            "*Disk &lt;80%*\na &amp; b\nhttps://has/runs/1"
        );
    }
}
