//! http probes against real local pages.

use crate::helpers::{refused_port, spawn_app, spawn_app_with, spawn_target};
use serde_json::json;
use shared::probe::FailureReason;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_healthy_json_page_succeeds_with_phases_and_passing_conditions() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": target.url("/healthy"),
            "conditions": [
                "[STATUS] == any(200, 301)",
                "[BODY].status == UP",
                "[HEADER].content-type == pat(*json*)",
                "[BODY].checks[0].name == db",
                "[RESPONSE_TIME] < 5s",
                "[CONNECTED] == true",
                "[IP] == 127.0.0.1"
            ]
        }))
        .await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.status_code, Some(200));
    assert_eq!(r.resolved_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(r.conditions.len(), 7);
    assert!(r.conditions.iter().all(|c| c.success), "{:?}", r.conditions);
    assert!(
        r.phases.processing > 0.0 && r.phases.connect > 0.0,
        "{:?}",
        r.phases
    );
    assert_eq!(r.failure_reason, None);
    assert!(r.certificate_expiry.is_none());
}

#[tokio::test]
async fn a_failed_condition_fails_the_probe_and_says_which() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": target.url("/healthy"),
            "conditions": ["[STATUS] == 200", "[BODY].status == DOWN"]
        }))
        .await;
    assert!(!r.success);
    assert_eq!(r.failure_reason, Some(FailureReason::ConditionFailed));
    assert!(r.conditions[0].success);
    assert!(!r.conditions[1].success);
    assert_eq!(r.conditions[1].observed.as_deref(), Some("UP"));
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("[BODY].status == DOWN"))
    );
}

#[tokio::test]
async fn a_slow_page_times_out_within_the_probe_timeout() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let start = Instant::now();
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/slow"), "timeout_ms": 500 }))
        .await;
    let took = start.elapsed();
    assert_eq!(r.failure_reason, Some(FailureReason::Timeout), "{r:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(
        r.duration_seconds >= 0.5 && r.duration_seconds < 1.0,
        "{r:?}"
    );
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("processing")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_500_page_fails_without_conditions_and_passes_when_a_condition_expects_it() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/error") }))
        .await;
    assert!(!r.success);
    assert_eq!(r.status_code, Some(500));
    assert_eq!(r.failure_reason, Some(FailureReason::ConditionFailed));

    let r = app
        .probe(&json!({
            "kind": "http",
            "target": target.url("/error"),
            "conditions": ["[STATUS] == 500", "[BODY] == boom"]
        }))
        .await;
    assert!(r.success, "{r:?}");
}

#[tokio::test]
async fn a_refused_port_is_connection_refused() {
    let app = spawn_app().await;
    let port = refused_port();
    let r = app
        .probe(&json!({ "kind": "http", "target": format!("http://127.0.0.1:{port}/") }))
        .await;
    assert_eq!(
        r.failure_reason,
        Some(FailureReason::ConnectionRefused),
        "{r:?}"
    );
    assert!(r.error.is_some());
}

#[tokio::test]
async fn an_unknown_host_is_a_dns_failure() {
    let app = spawn_app().await;
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": "http://no-such-host.invalid/",
            "timeout_ms": 5000
        }))
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::DnsFailure), "{r:?}");
}

#[tokio::test]
async fn a_redirect_loop_is_too_many_redirects() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/loop"), "max_redirects": 3 }))
        .await;
    assert_eq!(
        r.failure_reason,
        Some(FailureReason::TooManyRedirects),
        "{r:?}"
    );
    // The first request and three redirects followed.
    assert_eq!(target.hits(), 4);
}

#[tokio::test]
async fn a_redirect_is_followed_to_the_final_page_unless_redirects_are_off() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": target.url("/moved"),
            "conditions": ["[STATUS] == 200", "[BODY].status == UP"]
        }))
        .await;
    assert!(r.success, "{r:?}");

    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/moved"), "max_redirects": 0 }))
        .await;
    assert!(r.success, "3xx succeeds without conditions: {r:?}");
    assert_eq!(r.status_code, Some(301));
}

#[tokio::test]
async fn an_endless_body_is_body_too_large_within_the_timeout() {
    let app = spawn_app_with(|c| c.probe.max_body_bytes = 64 * 1024).await;
    let target = spawn_target().await;
    let start = Instant::now();
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/endless"), "timeout_ms": 3000 }))
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::BodyTooLarge), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn method_headers_and_body_reach_the_target() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": target.url("/echo"),
            "method": "post",
            "headers": { "X-Test": "yes" },
            "body": "hello",
            "conditions": [
                "[BODY].method == POST",
                "[BODY].header == yes",
                "[BODY].body == hello",
                "[BODY].agent == pat(HAS-pageinspect/*)"
            ]
        }))
        .await;
    assert!(r.success, "{r:?}");
}

#[tokio::test]
async fn an_ipv4_preference_picks_the_ipv4_address_of_a_name() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": format!("http://localhost:{}/healthy", target.addr.port()),
            "ip_preference": "ipv4"
        }))
        .await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.resolved_ip.as_deref(), Some("127.0.0.1"));
    assert!(r.phases.resolve > 0.0);
}
