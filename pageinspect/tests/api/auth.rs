//! With `auth.service_token` set, `/api/` needs the bearer token; health and metrics do not.

use crate::helpers::{assert_problem, spawn_app_with, spawn_target};
use serde_json::json;
use shared::Secret;

#[tokio::test]
async fn without_the_right_token_the_api_is_401_and_the_target_sees_nothing() {
    let app = spawn_app_with(|c| c.auth.service_token = Some(Secret::new("s3cret"))).await;
    let target = spawn_target().await;
    let spec = json!({ "kind": "http", "target": target.url("/healthy") });
    let url = format!("{}/api/v1/probe", app.address);

    let none = app
        .client
        .post(&url)
        .json(&spec)
        .send()
        .await
        .expect("answer");
    assert_eq!(
        none.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_problem(none, 401, None).await;
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("guess")
        .json(&spec)
        .send()
        .await
        .expect("answer");
    assert_problem(wrong, 401, None).await;
    let batch = app
        .client
        .post(format!("{}/api/v1/probes:batch", app.address))
        .json(&json!({ "probes": [spec] }))
        .send()
        .await
        .expect("answer");
    assert_problem(batch, 401, None).await;
    assert_eq!(target.hits(), 0, "no probe may run without the token");

    let r = app.probe(&spec).await;
    assert!(r.success, "{r:?}");
    assert_eq!(target.hits(), 1);
}

#[tokio::test]
async fn health_readiness_and_metrics_need_no_token() {
    let app = spawn_app_with(|c| c.auth.service_token = Some(Secret::new("s3cret"))).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn without_a_credential_or_allow_anonymous_pageinspect_refuses_to_start() {
    let mut config = pageinspect::PageinspectConfig::defaults();
    config.server.listen = "127.0.0.1:0".into();
    config.log.dir = "".into();
    config.log.stdout = false;
    assert!(
        !config.auth.allow_anonymous,
        "anonymous callers are off by default"
    );

    let e = pageinspect::Application::build(config)
        .await
        .err()
        .expect("refused");

    let message = format!("{e:#}");
    for named in ["auth.service_token", "auth.oidc", "auth.allow_anonymous"] {
        assert!(message.contains(named), "names {named}: {message}");
    }
}

#[tokio::test]
async fn with_anonymous_callers_allowed_a_configured_token_is_still_checked_when_sent() {
    let app = spawn_app_with(|c| {
        c.auth.service_token = Some(Secret::new("s3cret"));
        c.auth.allow_anonymous = true;
    })
    .await;
    let target = spawn_target().await;
    let spec = json!({ "kind": "http", "target": target.url("/healthy") });
    let url = format!("{}/api/v1/probe", app.address);

    let anonymous = app
        .client
        .post(&url)
        .json(&spec)
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 200);
    let wrong = (app.client.post(&url).bearer_auth("guess").json(&spec))
        .send()
        .await
        .expect("answer");
    assert_problem(wrong, 401, None).await;
    assert_eq!(target.hits(), 1, "only the anonymous call probed");
}

/// A JWT-shaped token with these claims and no valid signature: enough for the checks that
/// come before the signature (issuer, audience), which must refuse without any key.
fn unsigned_jwt(claims: serde_json::Value) -> String {
    let header = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
    format!(
        "{}.{}.c2lnbmF0dXJl",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    )
}

/// RFC 4648 §5 without padding (no base64 crate among pageinspect's dev-dependencies).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

#[tokio::test]
async fn with_an_oidc_audience_foreign_tokens_are_401_with_the_reason_and_a_dead_provider_is_503() {
    let dead = crate::helpers::refused_port();
    let issuer = format!("http://127.0.0.1:{dead}");
    let app = spawn_app_with(|c| {
        c.auth.oidc = Some(shared::oidc::OidcConfig {
            issuer: issuer.clone(),
            audience: "pageinspect".into(),
            http_timeout_ms: 1_000,
            ..Default::default()
        });
        c.auth.allow_anonymous = false;
    })
    .await;
    let target = spawn_target().await;
    let spec = json!({ "kind": "http", "target": target.url("/healthy") });
    let url = format!("{}/api/v1/probe", app.address);
    let exp = chrono::Utc::now().timestamp() + 600;
    let cases = [
        (
            unsigned_jwt(
                json!({"iss": "http://elsewhere", "aud": "pageinspect", "sub": "x", "exp": exp}),
            ),
            401,
            "wrong_issuer",
        ),
        (
            unsigned_jwt(json!({"iss": issuer, "aud": "acmangkut", "sub": "x", "exp": exp})),
            401,
            "wrong_audience",
        ),
        ("not-a-jwt".to_string(), 401, "not valid"),
        // Right issuer and audience: the key must come from the provider, which is down.
        (
            unsigned_jwt(json!({"iss": issuer, "aud": "pageinspect", "sub": "x", "exp": exp})),
            503,
            "identity provider",
        ),
    ];
    for (token, status, reason) in cases {
        let r = (app.client.post(&url).bearer_auth(&token).json(&spec))
            .send()
            .await
            .expect("answer");
        let body = assert_problem(r, status, None).await;
        assert!(
            body["detail"].as_str().unwrap_or("").contains(reason),
            "{reason}: {body}"
        );
    }
    let none = app
        .client
        .post(&url)
        .json(&spec)
        .send()
        .await
        .expect("answer");
    assert_problem(none, 401, None).await;
    assert_eq!(target.hits(), 0, "no probe ran");
}

#[test]
fn the_binary_without_a_credential_exits_2_naming_the_keys_and_starts_nothing() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pageinspect"));
    for var in [
        "HAS_AUTH__SERVICE_TOKEN",
        "HAS_AUTH__ALLOW_ANONYMOUS",
        "HAS_AUTH__OIDC__ISSUER",
        "HAS_AUTH__OIDC__AUDIENCE",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("HAS_SERVER__LISTEN", "127.0.0.1:0")
        .env("HAS_LOG__DIR", "")
        .output()
        .expect("runs");

    assert_eq!(out.status.code(), Some(2), "a configuration error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config key `auth`") && err.contains("auth.allow_anonymous = true"),
        "{err}"
    );
}
