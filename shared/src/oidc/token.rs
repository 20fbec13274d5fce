//! Requests to the provider's token endpoint (RFC 6749 §3.2), authenticated as our client.

use super::{IamError, OidcClient};
use serde::Deserialize;

/// A successful token response; the tokens are handed on as `Secret`s by the callers.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_in: Option<u64>,
    pub id_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    error_description: Option<String>,
}

impl OidcClient {
    pub(crate) async fn token_request(
        &self,
        params: &[(&str, &str)],
    ) -> Result<TokenResponse, IamError> {
        let discovery = self.discovery().await?;
        let config = &self.inner.config;
        let mut form: Vec<(&str, &str)> = params.to_vec();
        let mut req = self.inner.http.post(discovery.token_endpoint()?);
        match &config.client_secret {
            Some(secret) if discovery.wants_post_auth() => {
                form.extend([
                    ("client_id", config.client_id.as_str()),
                    ("client_secret", secret.expose()),
                ]);
            }
            // RFC 6749 §2.3.1: both halves form-encoded before Basic.
            Some(secret) => {
                req = req.basic_auth(encode(&config.client_id), Some(encode(secret.expose())))
            }
            None => form.push(("client_id", &config.client_id)),
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| IamError::unreachable(&e))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(IamError::Unreachable(format!(
                "token endpoint answered {status}"
            )));
        }
        let body = resp.bytes().await.map_err(|e| IamError::unreachable(&e))?;
        if !status.is_success() {
            // The OAuth error object never contains a token; anything else is not echoed.
            let error = match serde_json::from_slice::<ErrorResponse>(&body) {
                Ok(e) => match e.error_description {
                    Some(d) => format!("{}: {}", e.error, d.chars().take(200).collect::<String>()),
                    None => e.error,
                },
                Err(_) => "unreadable error body".into(),
            };
            return Err(IamError::Rejected {
                status: status.as_u16(),
                error,
            });
        }
        serde_json::from_slice(&body).map_err(|e| {
            IamError::Misconfigured(format!("token response: {}", json_error_kind(&e)))
        })
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// serde_json's message may quote the body (a token): say only what kind of error it was.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "missing or mistyped fields",
        serde_json::error::Category::Eof => "truncated",
    }
}
