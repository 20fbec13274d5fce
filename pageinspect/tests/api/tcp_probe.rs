//! tcp probes against a real banner/echo server.

use crate::helpers::{refused_port, spawn_app};
use serde_json::json;
use shared::probe::FailureReason;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Greets with a banner, echoes the first chunk it reads, then closes.
async fn spawn_banner_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = socket.write_all(b"220 banner ready\r\n").await;
                let mut buf = [0u8; 1024];
                if let Ok(n) = socket.read(&mut buf).await {
                    let _ = socket.write_all(&buf[..n]).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_listening_port_is_connected() {
    let (app, addr) = (spawn_app().await, spawn_banner_server().await);
    let r = app
        .probe(&json!({
            "kind": "tcp",
            "target": addr.to_string(),
            "conditions": ["[CONNECTED] == true"]
        }))
        .await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.resolved_ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn the_banner_is_expected_and_the_echo_of_what_was_sent() {
    let (app, addr) = (spawn_app().await, spawn_banner_server().await);
    let r = app
        .probe(&json!({ "kind": "tcp", "target": addr.to_string(), "expect": "banner ready" }))
        .await;
    assert!(r.success, "{r:?}");

    let r = app
        .probe(&json!({
            "kind": "tcp",
            "target": addr.to_string(),
            "body": "PING 42\n",
            "expect": "PING 42",
            "conditions": ["[BODY] == pat(220*PING 42*)"]
        }))
        .await;
    assert!(r.success, "{r:?}");
}

#[tokio::test]
async fn missing_expected_text_fails_when_the_peer_closes() {
    let (app, addr) = (spawn_app().await, spawn_banner_server().await);
    let r = app
        .probe(
            &json!({ "kind": "tcp", "target": addr.to_string(), "body": "hi", "expect": "nope" }),
        )
        .await;
    assert!(!r.success);
    assert_eq!(
        r.failure_reason,
        Some(FailureReason::ConditionFailed),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let app = spawn_app().await;
    let r = app
        .probe(&json!({ "kind": "tcp", "target": format!("127.0.0.1:{}", refused_port()) }))
        .await;
    assert_eq!(
        r.failure_reason,
        Some(FailureReason::ConnectionRefused),
        "{r:?}"
    );
}
