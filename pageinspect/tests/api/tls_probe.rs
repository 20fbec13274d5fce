//! https and tls probes against a self-signed server whose certificate is made at test time.

use crate::helpers::spawn_app;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use shared::probe::FailureReason;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS server with a fresh self-signed certificate for localhost/127.0.0.1 that answers
/// every request with a small fixed HTTP/1.1 response and closes.
async fn spawn_self_signed_server() -> SocketAddr {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_to_a_self_signed_server_is_a_tls_error_when_verifying() {
    let (app, addr) = (spawn_app().await, spawn_self_signed_server().await);
    let r = app
        .probe(&json!({ "kind": "http", "target": format!("https://{addr}/") }))
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::TlsError), "{r:?}");
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("certificate")),
        "{r:?}"
    );
}

#[tokio::test]
async fn https_without_verification_succeeds_and_reports_the_certificate_expiry() {
    let (app, addr) = (spawn_app().await, spawn_self_signed_server().await);
    let r = app
        .probe(&json!({
            "kind": "http",
            "target": format!("https://{addr}/"),
            "insecure_skip_verify": true,
            "conditions": ["[STATUS] == 200", "[BODY] == ok", "[CERTIFICATE_EXPIRATION] > 48h"]
        }))
        .await;
    assert!(r.success, "{r:?}");
    let expiry = r.certificate_expiry.expect("certificate expiry");
    assert!(expiry > chrono::Utc::now());
    assert!(r.phases.tls > 0.0);
}

#[tokio::test]
async fn a_tls_probe_verifies_unless_told_not_to() {
    let (app, addr) = (spawn_app().await, spawn_self_signed_server().await);
    let r = app
        .probe(&json!({ "kind": "tls", "target": addr.to_string() }))
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::TlsError), "{r:?}");

    let r = app
        .probe(&json!({
            "kind": "tls",
            "target": addr.to_string(),
            "insecure_skip_verify": true,
            "conditions": ["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 1d"]
        }))
        .await;
    assert!(r.success, "{r:?}");
    assert!(r.certificate_expiry.is_some());
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_times_out_in_the_tls_phase() {
    let app = spawn_app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let start = std::time::Instant::now();
    let r = app
        .probe(&json!({ "kind": "tls", "target": addr.to_string(), "timeout_ms": 300 }))
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::Timeout), "{r:?}");
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("TLS handshake")),
        "{r:?}"
    );
    assert!(start.elapsed() < std::time::Duration::from_millis(1300));
}
