//! Browser sign-in: the authorization code flow with PKCE (RFC 7636) and a nonce.

use super::{Claims, IamError, InvalidToken, OidcClient, Pkce, VerifyMode};
use crate::Secret;
use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;

/// Bounds a provider's `expires_in` (a year) so the date arithmetic cannot overflow.
const MAX_EXPIRES_IN: u64 = 365 * 24 * 3600;

/// The result of a completed sign-in.
#[derive(Clone, Debug)]
pub struct SignIn {
    /// From the verified ID token.
    pub claims: Claims,
    pub access_token: Secret,
    pub expires_at: DateTime<Utc>,
}

impl OidcClient {
    /// Where to send the browser. Keep `state`, `nonce` and `pkce.verifier` (e.g. in a
    /// short-lived cookie) to check the callback with.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        pkce: &Pkce,
    ) -> Result<Url, IamError> {
        let config = &self.inner.config;
        let endpoint = self.discovery().await?.authorization_endpoint.as_deref();
        let endpoint = endpoint.ok_or_else(|| {
            IamError::Misconfigured("provider has no authorization_endpoint".into())
        })?;
        let mut url = Url::parse(endpoint)
            .map_err(|e| IamError::Misconfigured(format!("authorization_endpoint: {e}")))?;
        let scope = config.scopes.join(" ");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scope)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", Pkce::METHOD);
        if let Some(resource) = &config.resource {
            url.query_pairs_mut().append_pair("resource", resource);
        }
        Ok(url)
    }

    /// Redeems the code from the callback (after the caller checked `state`), and verifies the
    /// ID token: signature, `iss`, `aud` = our client, `azp`, `exp`, and `nonce`.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        expected_nonce: &str,
    ) -> Result<SignIn, IamError> {
        let config = &self.inner.config;
        let response = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .await?;
        let id_token = response.id_token.ok_or_else(|| {
            IamError::Misconfigured("token response has no id_token (scope openid?)".into())
        })?;
        let raw = self
            .verify_jwt(&id_token, &config.client_id, VerifyMode::Online)
            .await?;
        if raw.get("nonce").and_then(Value::as_str) != Some(expected_nonce) {
            return Err(InvalidToken::WrongNonce.into());
        }
        let claims = Claims::from_value(raw, &config.roles_claim)?;
        // OIDC Core §3.1.3.7: with several audiences, `azp` must name us.
        let azp = claims.raw.get("azp").and_then(Value::as_str);
        if claims.aud.len() > 1 && azp != Some(config.client_id.as_str()) {
            return Err(InvalidToken::WrongAudience.into());
        }
        let expires_at = match response.expires_in {
            Some(secs) => Utc::now() + chrono::Duration::seconds(secs.min(MAX_EXPIRES_IN) as i64),
            None => DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
        };
        Ok(SignIn {
            claims,
            access_token: Secret::new(response.access_token),
            expires_at,
        })
    }
}
