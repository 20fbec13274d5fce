//! The OpenID Connect client every HAS binary can use (contract: `docs/iam.md`).
//!
//! - [`OidcClient::verify_access_token`]: bearer JWTs, `Online` (may fetch discovery and the
//!   JWKS; refetches once, rate-limited, on an unknown `kid`) or `Offline` (cached keys only,
//!   for while IAM is degraded).
//! - Browser sign-in: [`Pkce`], [`random_token`], [`OidcClient::authorization_url`],
//!   [`OidcClient::exchange_code`].
//! - Service to service: [`OidcClient::client_credentials`], cached until 30 s before expiry.
//!
//! Nothing here fetches at construction: a binary starts while its provider is down.

mod claims;
mod config;
mod discovery;
mod error;
mod jws;
mod keys;
mod pkce;
mod service;
mod signin;
mod token;
mod verify;

pub use claims::Claims;
pub use config::OidcConfig;
pub use error::{IamError, InvalidToken};
pub use pkce::{Pkce, random_token};
pub use signin::SignIn;
pub use verify::VerifyMode;

use discovery::Discovery;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Cheap to clone: clones share discovery, keys and cached service tokens.
#[derive(Clone)]
pub struct OidcClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: OidcConfig,
    http: reqwest::Client,
    discovery: tokio::sync::OnceCell<Discovery>,
    keys: keys::KeyCache,
    service_tokens: service::TokenCache,
    discovery_fetches: AtomicU64,
    jwks_fetches: AtomicU64,
}

/// Requests made to the provider so far (for metrics, and for tests to prove none were).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IamStats {
    pub discovery_fetches: u64,
    pub jwks_fetches: u64,
    /// Keys in the JWKS cache now.
    pub cached_keys: usize,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.inner.config.issuer)
            .field("client_id", &self.inner.config.client_id)
            .finish_non_exhaustive()
    }
}

impl OidcClient {
    /// Checks the config and builds the HTTP client (from `outbound`); makes no request.
    pub fn new(config: OidcConfig, outbound: &crate::outbound::Outbound) -> Result<Self, IamError> {
        let issuer = url::Url::parse(&config.issuer)
            .map_err(|e| IamError::Misconfigured(format!("issuer {:?}: {e}", config.issuer)))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(IamError::Misconfigured(
                "issuer must be an http(s) URL".into(),
            ));
        }
        let http = outbound
            .client()
            .timeout(Duration::from_millis(config.http_timeout_ms.max(1)))
            .connect_timeout(Duration::from_millis(
                config.http_timeout_ms.clamp(1, 3_000),
            ))
            .build()
            .map_err(|e| IamError::Misconfigured(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                discovery: Default::default(),
                keys: Default::default(),
                service_tokens: Default::default(),
                discovery_fetches: AtomicU64::new(0),
                jwks_fetches: AtomicU64::new(0),
            }),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> IamStats {
        IamStats {
            discovery_fetches: self.inner.discovery_fetches.load(Ordering::Relaxed),
            jwks_fetches: self.inner.jwks_fetches.load(Ordering::Relaxed),
            cached_keys: self.inner.keys.current().len(),
        }
    }

    /// The provider metadata, fetched once; a failure is not cached, so the next call retries.
    async fn discovery(&self) -> Result<&Discovery, IamError> {
        self.inner
            .discovery
            .get_or_try_init(|| {
                self.inner.discovery_fetches.fetch_add(1, Ordering::Relaxed);
                Discovery::fetch(&self.inner.http, &self.inner.config.issuer)
            })
            .await
    }
}

/// GET a JSON document; transport errors and 5xx are `Unreachable`.
///
/// A GET that fails in transport (not a timeout) is sent once more after a moment: a
/// provider that restarted leaves a pooled connection that fails the first request
/// ("connection closed before message completed"), which must not lock sign-ins out.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, IamError> {
    let resp = match http.get(url).send().await {
        Err(e) if !e.is_timeout() => {
            tracing::debug!(error = %e, url, "GET failed in transport; trying once more");
            tokio::time::sleep(Duration::from_millis(250)).await;
            http.get(url).send().await
        }
        other => other,
    }
    .map_err(|e| IamError::unreachable(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(IamError::Unreachable(format!("GET {url}: {status}")));
    }
    resp.json()
        .await
        .map_err(|e| IamError::Unreachable(format!("GET {url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider that dies mid-request (a restart) is asked once more, on a new connection.
    #[tokio::test]
    async fn a_get_whose_connection_closes_unanswered_is_sent_once_more() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // First connection: read the request, close without an answer.
            let (mut s, _) = listener.accept().expect("accept");
            let _ = s.read(&mut buf).expect("read");
            drop(s);
            let (mut s, _) = listener.accept().expect("accept again");
            let _ = s.read(&mut buf).expect("read");
            let body = br#"{"ok":true}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).expect("head");
            s.write_all(body).expect("body");
        });
        let http = reqwest::Client::new();
        let v: serde_json::Value = get_json(&http, &format!("http://{addr}/jwks"))
            .await
            .expect("the second try is answered");
        assert_eq!(v["ok"], true);
        served.join().expect("server");
    }
}
