//! The pageinspect HTTP client acmangkut uses to run probes, and how it authenticates
//! ([`Credential`]): pageinspect's static service token, or a client-credentials access token
//! from the identity provider (`shared::oidc`).

use crate::Secret;
use crate::oidc::OidcClient;
use crate::outbound::Outbound;
use crate::probe::{BatchRequest, BatchResponse, ProbeResult, ProbeSpec};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a batch could not be run. None of these says anything about the probed targets.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("pageinspect unreachable: {0}")]
    Unreachable(String),
    /// 429: pageinspect is at its concurrency limit; retry after the given delay.
    #[error("pageinspect busy; retry after {0:?}")]
    Busy(Duration),
    #[error("pageinspect answered {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("pageinspect answered {expected} probes with {got} results")]
    Mismatch { expected: usize, got: usize },
    /// No credential to present: the identity provider gave no token (and no fallback exists).
    #[error("no credential for pageinspect: {0}")]
    Credential(String),
}

/// What the client presents to pageinspect as `Authorization: Bearer …`.
#[derive(Clone, Debug, Default)]
pub enum Credential {
    /// Nothing: a pageinspect started with `auth.allow_anonymous` (local experiments).
    #[default]
    None,
    /// pageinspect's `auth.service_token`.
    Token(Secret),
    /// A client-credentials access token, which pageinspect verifies with its `auth.oidc`.
    ClientCredentials(ServiceTokens),
}

/// Client-credentials access tokens for one resource, reused from `shared::oidc`'s cache until
/// 30 s before they expire.
///
/// While `offline()` is true (acmangkut's IAM switch is closed) the provider is never called:
/// the last token is used until it expires, then `fallback` (a static service token) if there is
/// one. The same happens for 5 s after the provider failed, so a provider outage costs one
/// failed request per 5 s, not one per batch.
#[derive(Clone)]
pub struct ServiceTokens {
    client: OidcClient,
    resource: String,
    fallback: Option<Secret>,
    offline: Arc<dyn Fn() -> bool + Send + Sync>,
    state: Arc<Mutex<TokenState>>,
}

#[derive(Default)]
struct TokenState {
    /// The last token the provider gave, and its `exp` (seconds since the epoch) when readable.
    last: Option<(Secret, Option<i64>)>,
    quiet_until: Option<Instant>,
}

/// After a failed token request, the provider is left alone this long.
const QUIET_AFTER_FAILURE: Duration = Duration::from_secs(5);

impl std::fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTokens")
            .field("client", &self.client)
            .field("resource", &self.resource)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl ServiceTokens {
    /// Tokens of `client` for `resource` (an RFC 8707 resource indicator naming pageinspect).
    pub fn new(client: OidcClient, resource: impl Into<String>) -> Self {
        Self {
            client,
            resource: resource.into(),
            fallback: None,
            offline: Arc::new(|| false),
            state: Default::default(),
        }
    }

    /// A static token presented when no access token can be had.
    pub fn with_fallback(mut self, token: Option<Secret>) -> Self {
        self.fallback = token;
        self
    }

    /// Asked before each request: `true` means the provider must not be called now.
    pub fn with_offline(mut self, offline: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.offline = Arc::new(offline);
        self
    }

    /// The token to present now.
    pub async fn bearer(&self) -> Result<Secret, ClientError> {
        let offline = (self.offline)();
        let quiet = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.quiet_until)
            .is_some_and(|t| Instant::now() < t);
        let why = if offline {
            "IAM is degraded: the identity provider is not called".to_string()
        } else if quiet {
            "the identity provider failed moments ago".to_string()
        } else {
            match self.client.client_credentials(&self.resource).await {
                Ok(token) => {
                    if let Ok(mut s) = self.state.lock() {
                        s.last = Some((token.clone(), expiry_of(token.expose())));
                        s.quiet_until = None;
                    }
                    return Ok(token);
                }
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        resource = %self.resource,
                        "no access token for pageinspect"
                    );
                    if let Ok(mut s) = self.state.lock() {
                        s.quiet_until = Some(Instant::now() + QUIET_AFTER_FAILURE);
                    }
                    e.to_string()
                }
            }
        };
        if let Some(token) = self.last_unexpired() {
            return Ok(token);
        }
        if let Some(token) = &self.fallback {
            return Ok(token.clone());
        }
        Err(ClientError::Credential(format!(
            "{why}, and no unexpired access token for {} is at hand (pageinspect.token would \
             be used as a fallback)",
            self.resource
        )))
    }

    /// The last token while it has at least 5 s left.
    fn last_unexpired(&self) -> Option<Secret> {
        let now = chrono::Utc::now().timestamp();
        let s = self.state.lock().ok()?;
        match &s.last {
            Some((token, Some(exp))) if *exp > now + 5 => Some(token.clone()),
            _ => None,
        }
    }
}

/// The `exp` claim of a JWT, read without verifying it (only to know when to stop using our
/// own token); `None` for opaque tokens.
fn expiry_of(token: &str) -> Option<i64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()
}

#[derive(Clone, Debug)]
pub struct PageinspectClient {
    base: String,
    credential: Credential,
    http: reqwest::Client,
}

impl PageinspectClient {
    /// `base` is pageinspect's root URL (`http://127.0.0.1:8081`); `token` its
    /// `auth.service_token`, or `None` for an anonymous pageinspect.
    pub fn new(
        base: &str,
        token: Option<Secret>,
        outbound: &Outbound,
    ) -> Result<Self, reqwest::Error> {
        let credential = token.map_or(Credential::None, Credential::Token);
        Self::with_credential(base, credential, outbound)
    }

    /// As [`Self::new`], with any [`Credential`].
    pub fn with_credential(
        base: &str,
        credential: Credential,
        outbound: &Outbound,
    ) -> Result<Self, reqwest::Error> {
        let http = outbound
            .client()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            credential,
            http,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Runs `probes` in one request; results come back in the same order.
    pub async fn batch(&self, probes: &[ProbeSpec]) -> Result<Vec<ProbeResult>, ClientError> {
        let slowest = probes.iter().map(|p| p.timeout_ms).max().unwrap_or(1_000);
        let mut req = self
            .http
            .post(format!("{}/api/v1/probes:batch", self.base))
            // The server bounds each probe by its timeout; allow for queueing on top.
            .timeout(Duration::from_millis(slowest * 3 + 5_000))
            .json(&BatchRequest {
                probes: probes.to_vec(),
            });
        match &self.credential {
            Credential::None => {}
            Credential::Token(t) => req = req.bearer_auth(t.expose()),
            Credential::ClientCredentials(tokens) => {
                req = req.bearer_auth(tokens.bearer().await?.expose());
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(crate::error_chain::error_chain(&e)))?;
        let status = resp.status();
        if status.as_u16() == 429 {
            let secs = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            return Err(ClientError::Busy(Duration::from_secs(secs)));
        }
        if status.is_server_error() {
            let body = resp.text().await.unwrap_or_default();
            return Err(ClientError::Unreachable(format!("{status}: {body}")));
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(ClientError::Rejected {
                status: status.as_u16(),
                body,
            });
        }
        let body: BatchResponse = resp
            .json()
            .await
            .map_err(|e| ClientError::Unreachable(crate::error_chain::error_chain(&e)))?;
        if body.results.len() != probes.len() {
            return Err(ClientError::Mismatch {
                expected: probes.len(),
                got: body.results.len(),
            });
        }
        Ok(body.results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::OidcConfig;
    use base64::Engine;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn jwt_with(claims: serde_json::Value) -> String {
        let b64 = |v: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#.into()),
            b64(claims.to_string())
        )
    }

    /// A provider nothing listens on.
    fn dead_provider() -> OidcClient {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let config = OidcConfig {
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: "acmangkut".into(),
            client_secret: Some(Secret::new("s")),
            http_timeout_ms: 500,
            ..OidcConfig::default()
        };
        OidcClient::new(config, &Outbound::new("acmangkut", &Default::default())).expect("client")
    }

    #[test]
    fn the_expiry_of_a_jwt_is_read_and_opaque_tokens_have_none() {
        assert_eq!(
            expiry_of(&jwt_with(serde_json::json!({"exp": 1_900_000_000}))),
            Some(1_900_000_000)
        );
        for opaque in ["", "abc", "a.b.c", "has_1_secret", "x.e30.y"] {
            assert_eq!(expiry_of(opaque), None, "{opaque}");
        }
    }

    #[tokio::test]
    async fn while_offline_the_provider_is_not_called_and_the_fallback_token_is_presented() {
        let provider = dead_provider();
        let offline = Arc::new(AtomicBool::new(true));
        let flag = offline.clone();
        let tokens = ServiceTokens::new(provider.clone(), "urn:has:pageinspect")
            .with_fallback(Some(Secret::new("static")))
            .with_offline(move || flag.load(Ordering::Relaxed));

        assert_eq!(tokens.bearer().await.expect("fallback").expose(), "static");
        assert_eq!(
            provider.stats().discovery_fetches,
            0,
            "no call while offline"
        );

        offline.store(false, Ordering::Relaxed);
        assert_eq!(tokens.bearer().await.expect("fallback").expose(), "static");
        assert_eq!(tokens.bearer().await.expect("fallback").expose(), "static");
        assert_eq!(
            provider.stats().discovery_fetches,
            1,
            "one failed call, then quiet for a while"
        );
    }

    #[tokio::test]
    async fn without_a_fallback_a_missing_token_is_a_credential_error_naming_the_reason() {
        let tokens =
            ServiceTokens::new(dead_provider(), "urn:has:pageinspect").with_offline(|| true);
        let e = tokens.bearer().await.expect_err("no token");
        assert!(
            matches!(&e, ClientError::Credential(m) if m.contains("IAM is degraded")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_last_token_is_used_while_offline_until_it_is_about_to_expire() {
        let tokens =
            ServiceTokens::new(dead_provider(), "urn:has:pageinspect").with_offline(|| true);
        let now = chrono::Utc::now().timestamp();
        let fresh = jwt_with(serde_json::json!({"exp": now + 60}));
        if let Ok(mut s) = tokens.state.lock() {
            s.last = Some((Secret::new(fresh.clone()), expiry_of(&fresh)));
        }
        assert_eq!(tokens.bearer().await.expect("last token").expose(), fresh);

        let ending = jwt_with(serde_json::json!({"exp": now + 3}));
        if let Ok(mut s) = tokens.state.lock() {
            s.last = Some((Secret::new(ending.clone()), expiry_of(&ending)));
        }
        assert!(tokens.bearer().await.is_err(), "3 s left is too little");
    }
}
