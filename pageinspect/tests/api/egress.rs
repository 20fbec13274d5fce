//! The egress guard: denied addresses fail `target_denied` without a connection, checked after
//! name resolution and at every redirect hop.

use crate::helpers::{spawn_app, spawn_app_with, spawn_target};
use serde_json::json;
use shared::probe::{FailureReason, ProbeResult};
use std::time::{Duration, Instant};

fn assert_denied(r: &ProbeResult, address: &str, cidr: &str) {
    assert!(!r.success, "{r:?}");
    assert_eq!(r.failure_reason, Some(FailureReason::TargetDenied), "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains(address), "error names the address: {error}");
    assert!(error.contains(cidr), "error names the CIDR: {error}");
    assert_eq!(r.phases.connect, 0.0, "never connected: {r:?}");
}

#[tokio::test]
async fn the_metadata_address_is_denied_by_default_for_every_kind_without_connecting() {
    let app = spawn_app().await;
    let cases = [
        json!({ "kind": "http", "target": "http://169.254.169.254:80/latest/meta-data/" }),
        json!({ "kind": "http", "target": "https://169.254.169.254/" }),
        json!({ "kind": "tcp", "target": "169.254.169.254:80" }),
        json!({ "kind": "tls", "target": "169.254.169.254:443" }),
        json!({ "kind": "http", "target": "http://100.100.100.200/" }),
        json!({ "kind": "tcp", "target": "[fd00:ec2::254]:80" }),
    ];
    for spec in cases {
        let start = Instant::now();
        let r = app.probe(&spec).await;
        // An unroutable link-local address would hang until the timeout if we tried.
        assert!(start.elapsed() < Duration::from_secs(1), "{spec}");
        assert_eq!(
            r.failure_reason,
            Some(FailureReason::TargetDenied),
            "{spec}: {r:?}"
        );
    }
    let r = app
        .probe(&json!({ "kind": "http", "target": "http://169.254.169.254:80/" }))
        .await;
    assert_denied(&r, "169.254.169.254", "169.254.0.0/16");
}

#[tokio::test]
async fn a_dns_probe_may_not_ask_a_denied_dns_server() {
    let app = spawn_app().await;
    let r = app
        .probe(
            &json!({ "kind": "dns", "target": "example.com", "dns_server": "169.254.169.253:53" }),
        )
        .await;
    assert_denied(&r, "169.254.169.253", "169.254.0.0/16");
}

#[tokio::test]
async fn a_name_resolving_into_a_denied_range_is_denied_and_the_target_sees_nothing() {
    // Loopback is allowed by default; deny it to prove the check runs on the resolved address.
    let app = spawn_app_with(|c| c.egress.deny_cidrs = vec!["127.0.0.0/8".into()]).await;
    let target = spawn_target().await;
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": format!("http://localhost:{}/healthy", target.addr.port()),
            "ip_preference": "ipv4"
        }))
        .await;
    assert_denied(&r, "127.0.0.1", "127.0.0.0/8");
    assert_eq!(r.resolved_ip.as_deref(), Some("127.0.0.1"));
    let r = app
        .probe(&json!({
            "kind": "tcp",
            "target": format!("localhost:{}", target.addr.port()),
            "ip_preference": "ipv4"
        }))
        .await;
    assert_denied(&r, "127.0.0.1", "127.0.0.0/8");
    assert_eq!(target.hits(), 0, "the denied target received a request");
}

#[tokio::test]
async fn loopback_stays_allowed_by_default() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/healthy") }))
        .await;
    assert!(r.success, "{r:?}");
}

#[tokio::test]
async fn a_redirect_to_a_denied_address_is_stopped_at_the_hop() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let start = Instant::now();
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/to-metadata"), "timeout_ms": 5000 }))
        .await;
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(r.failure_reason, Some(FailureReason::TargetDenied), "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("169.254.169.254") && error.contains("169.254.0.0/16"),
        "{error}"
    );
    // The allowed first hop was fetched (its 302 is reported); the denied hop was not.
    assert_eq!(r.status_code, Some(302));
    assert_eq!(target.hits(), 1);
}

#[tokio::test]
async fn an_empty_deny_list_turns_the_guard_off() {
    let app = spawn_app_with(|c| c.egress.deny_cidrs.clear()).await;
    let r = app
        .probe(&json!({ "kind": "tcp", "target": "169.254.169.254:80", "timeout_ms": 200 }))
        .await;
    assert_ne!(r.failure_reason, Some(FailureReason::TargetDenied), "{r:?}");
}
