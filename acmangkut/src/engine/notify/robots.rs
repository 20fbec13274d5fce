//! Group-chat robots that answer HTTP 200 with a verdict in the body: DingTalk (`errcode`) and
//! Feishu/Lark (`code`, or `StatusCode` from older bots). Both sign with HMAC-SHA256 when the
//! robot has a secret, each its own way, exactly as their documentation says.

use super::{Outcome, Reply, base64, excerpt, hmac_sha256, plain_text, post_json, unix_now};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shared::Secret;
use shared::notify::Message;
use std::time::Duration;

/// DingTalk's "加签": `sign = base64(HMAC-SHA256(key = secret, msg = "<ms>\n<secret>"))`, sent
/// URL-encoded as `&timestamp=<ms>&sign=<sign>`; the robot rejects a timestamp an hour off.
pub fn dingtalk_sign(secret: &str, timestamp_ms: u64) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    base64(&hmac_sha256(secret.as_bytes(), to_sign.as_bytes()))
}

/// Feishu's signature: `base64(HMAC-SHA256(key = "<unix s>\n<secret>", msg = ""))`, sent in the
/// body beside `timestamp`.
pub fn feishu_sign(secret: &str, timestamp_s: u64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64(&hmac_sha256(key.as_bytes(), b""))
}

/// The DingTalk markdown message: the title as a heading, the text, the link.
pub fn dingtalk_body(msg: &Message) -> Value {
    let mut text = format!("#### {}\n\n{}", msg.title, msg.text);
    if let Some(link) = &msg.link {
        text.push_str(&format!("\n\n[{link}]({link})"));
    }
    json!({"msgtype": "markdown", "markdown": {"title": msg.title, "text": text}})
}

pub(super) async fn dingtalk(
    http: &reqwest::Client,
    url: &str,
    secret: Option<&Secret>,
    msg: &Message,
    timeout: Duration,
) -> Outcome {
    let Ok(mut url) = url::Url::parse(url) else {
        return Outcome::failed(None, "the robot URL is not a valid URL");
    };
    if let Some(secret) = secret {
        let ms = u64::try_from(unix_now().as_millis()).unwrap_or(u64::MAX);
        url.query_pairs_mut()
            .append_pair("timestamp", &ms.to_string())
            .append_pair("sign", &dingtalk_sign(secret.expose(), ms));
    }
    let body = dingtalk_body(msg).to_string().into_bytes();
    match post_json(http, url.as_str(), body, HeaderMap::new(), timeout).await {
        Ok(reply) => verdict(reply, "DingTalk", &["errcode"], &["errmsg"]),
        Err(failed) => failed,
    }
}

pub(super) async fn feishu(
    http: &reqwest::Client,
    url: &str,
    secret: Option<&Secret>,
    msg: &Message,
    timeout: Duration,
) -> Outcome {
    let mut body = json!({"msg_type": "text", "content": {"text": plain_text(msg)}});
    if let Some(secret) = secret {
        let ts = unix_now().as_secs();
        body["timestamp"] = json!(ts.to_string());
        body["sign"] = json!(feishu_sign(secret.expose(), ts));
    }
    let body = body.to_string().into_bytes();
    match post_json(http, url, body, HeaderMap::new(), timeout).await {
        Ok(reply) => verdict(
            reply,
            "Feishu",
            &["code", "StatusCode"],
            &["msg", "StatusMessage"],
        ),
        Err(failed) => failed,
    }
}

/// Reads a robot's verdict: the first of `code_keys` present must be 0. A refusal in the body
/// says more than the HTTP status, so it is reported first.
fn verdict(reply: Reply, robot: &str, code_keys: &[&str], msg_keys: &[&str]) -> Outcome {
    let json = reply.json();
    let field = |keys: &[&str]| {
        let json = json.as_ref()?;
        keys.iter()
            .find_map(|k| json.get(*k).filter(|v| !v.is_null()))
    };
    let code = field(code_keys);
    let message = field(msg_keys)
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        .unwrap_or_default();
    let status = reply.status;
    match code {
        Some(c) if c.as_i64() == Some(0) => match reply.success() {
            Ok(_) => Outcome::ok(Some(status)),
            Err(failed) => failed,
        },
        Some(c) => Outcome::failed(
            Some(status),
            format!("{robot} refused it: {} {c}: {message}", code_keys[0]),
        ),
        None => match reply.success() {
            Ok(reply) => Outcome::failed(
                Some(status),
                format!(
                    "{robot} answered without {}: {}",
                    code_keys[0],
                    excerpt(&reply.body)
                ),
            ),
            Err(failed) => failed,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn robot_verdicts_come_from_the_body() {
        let ding = |r| verdict(r, "DingTalk", &["errcode"], &["errmsg"]);
        let feishu = |r| {
            verdict(
                r,
                "Feishu",
                &["code", "StatusCode"],
                &["msg", "StatusMessage"],
            )
        };
        assert!(
            ding(reply(200, r#"{"errcode":0,"errmsg":"ok"}"#))
                .error
                .is_none()
        );
        assert_eq!(
            ding(reply(
                200,
                r#"{"errcode":310000,"errmsg":"sign not match"}"#
            ))
            .error,
            Some("DingTalk refused it: errcode 310000: sign not match".into())
        );
        assert!(
            feishu(reply(200, r#"{"StatusCode":0,"StatusMessage":"success"}"#))
                .error
                .is_none()
        );
        assert!(
            feishu(reply(200, r#"{"code":0,"data":{},"msg":"success"}"#))
                .error
                .is_none()
        );
        let refused = feishu(reply(400, r#"{"code":19021,"msg":"sign match fail"}"#));
        assert_eq!(refused.status_code, Some(400));
        assert_eq!(
            refused.error,
            Some("Feishu refused it: code 19021: sign match fail".into())
        );
        assert_eq!(
            ding(reply(200, "<html>gateway</html>")).error,
            Some("DingTalk answered without errcode: <html>gateway</html>".into())
        );
        assert_eq!(
            ding(reply(502, "bad gateway")).error,
            Some("HTTP 502: bad gateway".into())
        );
    }

    #[test]
    fn signatures_follow_the_documented_recipes() {
        let ms = 1_700_000_000_123;
        assert_eq!(
            dingtalk_sign("SECx", ms),
            base64(&hmac_sha256(b"SECx", b"1700000000123\nSECx"))
        );
        assert_eq!(
            feishu_sign("fs", 1_700_000_000),
            base64(&hmac_sha256(b"1700000000\nfs", b""))
        );
    }
}
