//! Test support for the end-to-end suite: start the real pageinspect and acmangkut on port 0,
//! local probe targets, and a fresh database (SQLite file, or a new PostgreSQL database when
//! `HAS_TEST_DATABASE_URL` is set), a real OpenID Connect provider ([`oidc`]), and the
//! systems a failover is proven on ([`failover`]: a PostgreSQL pair behind nginx).

pub mod browser;
pub mod failover;
pub mod faults;
pub mod inspection;
pub mod logged;
pub mod netns;
pub mod oidc;
pub mod pg_pair;
pub mod problems;
pub mod process;
pub mod prometheus;
pub mod smtp;
pub mod spawn;
pub mod sshd;
pub mod targets;
pub mod tcp_proxy;
pub mod webhook;

pub use has_test_db::{self as db, TestDb};
pub use spawn::{TestApp, probing, spawn_acmangkut, spawn_pageinspect, spawn_pageinspect_with};
pub use targets::Targets;

use std::time::Duration;

/// Polls `f` every 100 ms until it yields `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// acmangkut's clients as a test builds them by hand (checks, senders, OIDC and pageinspect
/// clients): marked, listening nowhere.
pub fn outbound() -> shared::outbound::Outbound {
    shared::outbound::Outbound::new("acmangkut", &Default::default())
}

/// A port nothing listens on right now (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
