//! Verifying a JWT signed by the provider: access tokens (bearer) and ID tokens (sign-in).

use super::keys::KeySet;
use super::{Claims, IamError, InvalidToken, OidcClient, jws};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Whether verification may talk to the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyMode {
    /// May fetch discovery and the JWKS (first use, an unknown `kid`, keys older than an hour).
    Online,
    /// Cached keys only, never a request: while IAM is degraded.
    Offline,
}

/// Keys older than this are refreshed on the next online verification, so a key the provider
/// withdrew stops verifying even when no unknown `kid` comes along.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);

impl OidcClient {
    /// Verifies a bearer access token: signature by a provider key, `iss`, `aud` =
    /// `config.audience`, `exp`/`nbf` within the leeway. Never logs the token.
    pub async fn verify_access_token(
        &self,
        token: &str,
        mode: VerifyMode,
    ) -> Result<Claims, IamError> {
        let raw = self
            .verify_jwt(token, &self.inner.config.audience, mode)
            .await?;
        Ok(Claims::from_value(raw, &self.inner.config.roles_claim)?)
    }

    /// Fetches discovery and the JWKS now (e.g. at start, so `Offline` has keys to use).
    pub async fn refresh_keys(&self) -> Result<(), IamError> {
        self.fetch_keys(self.inner.keys.current().fetched_at).await
    }

    pub(crate) async fn verify_jwt(
        &self,
        token: &str,
        audience: &str,
        mode: VerifyMode,
    ) -> Result<Value, IamError> {
        let config = &self.inner.config;
        let peeked = jws::peek(token)?;
        // Refuse foreign tokens before looking for (and maybe fetching) a key for them.
        if peeked.claims.get("iss").and_then(Value::as_str) != Some(config.issuer.as_str()) {
            return Err(InvalidToken::WrongIssuer.into());
        }
        let aud = super::claims::string_or_list(peeked.claims.get("aud")).unwrap_or_default();
        if !aud.iter().any(|a| a == audience) {
            return Err(InvalidToken::WrongAudience.into());
        }
        let key = self
            .key_for(peeked.kid.as_deref(), peeked.alg, mode)
            .await?;
        let mut v = Validation::new(peeked.alg);
        v.leeway = config.leeway_seconds;
        v.validate_nbf = true;
        v.set_issuer(&[&config.issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Value>(token, &key, &v)
            .map(|data| data.claims)
            .map_err(|e| reason(e.kind()).into())
    }

    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        mode: VerifyMode,
    ) -> Result<DecodingKey, IamError> {
        let cache = &self.inner.keys;
        let set = cache.current();
        if mode == VerifyMode::Offline {
            return set.find(kid, alg).ok_or(InvalidToken::UnknownKey.into());
        }
        match set.fetched_at {
            None => self.fetch_keys(None).await?,
            Some(at) if at.elapsed() > KEYS_MAX_AGE && cache.may_fetch() => {
                if let Err(e) = self.fetch_keys(Some(at)).await {
                    tracing::warn!(
                        error = %e,
                        "OIDC keys are stale and could not be refreshed; using them"
                    );
                }
            }
            Some(_) => {}
        }
        let set = cache.current();
        if let Some(key) = set.find(kid, alg) {
            return Ok(key);
        }
        // An unknown kid: the provider may have rotated. Refetch, but at most once per
        // `jwks_min_refresh_seconds`, so junk kids cannot make us hammer the provider.
        if !cache.may_fetch() {
            // A refetch may be in flight right now: let it finish and look again.
            drop(cache.fetching.lock().await);
            return cache
                .current()
                .find(kid, alg)
                .ok_or(InvalidToken::UnknownKey.into());
        }
        cache.hold_off(Duration::from_secs(
            self.inner.config.jwks_min_refresh_seconds,
        ));
        self.fetch_keys(set.fetched_at).await?;
        cache
            .current()
            .find(kid, alg)
            .ok_or(InvalidToken::UnknownKey.into())
    }

    /// Fetches the JWKS unless another task already replaced the set we saw (`seen`).
    async fn fetch_keys(&self, seen: Option<std::time::Instant>) -> Result<(), IamError> {
        let cache = &self.inner.keys;
        let _one_at_a_time = cache.fetching.lock().await;
        if cache.current().fetched_at != seen {
            return Ok(());
        }
        if seen.is_none() && !cache.may_fetch() {
            return Err(IamError::Unreachable(
                "provider failed moments ago; not retrying yet".into(),
            ));
        }
        let result = async {
            let jwks_uri = self.discovery().await?.jwks_uri.clone();
            self.inner.jwks_fetches.fetch_add(1, Ordering::Relaxed);
            let doc: Value = super::get_json(&self.inner.http, &jwks_uri).await?;
            KeySet::parse(&doc).map_err(IamError::Misconfigured)
        }
        .await;
        match result {
            Ok(set) => {
                tracing::info!(keys = set.len(), "OIDC provider keys fetched");
                cache.replace(set);
                Ok(())
            }
            Err(e) => {
                // Without any key every bearer token fails, so look again within a second
                // (still one request at a time); with keys, the configured pause applies.
                let configured = Duration::from_secs(self.inner.config.jwks_min_refresh_seconds);
                let pause = match seen {
                    None => configured.min(Duration::from_secs(1)),
                    Some(_) => configured,
                };
                cache.hold_off(pause);
                Err(e)
            }
        }
    }
}

fn reason(kind: &ErrorKind) -> InvalidToken {
    match kind {
        ErrorKind::ExpiredSignature => InvalidToken::Expired,
        ErrorKind::ImmatureSignature => InvalidToken::NotYetValid,
        ErrorKind::InvalidIssuer => InvalidToken::WrongIssuer,
        ErrorKind::InvalidAudience => InvalidToken::WrongAudience,
        ErrorKind::InvalidSignature => InvalidToken::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            InvalidToken::Algorithm("does not fit the key".into())
        }
        ErrorKind::MissingRequiredClaim(c) => {
            InvalidToken::Malformed(format!("claim `{c}` missing"))
        }
        ErrorKind::InvalidClaimFormat(c) => {
            InvalidToken::Malformed(format!("claim `{c}` mistyped"))
        }
        _ => InvalidToken::Malformed("not a JWS we can verify".into()),
    }
}
