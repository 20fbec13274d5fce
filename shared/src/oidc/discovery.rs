//! OpenID Provider metadata (`/.well-known/openid-configuration`), fetched on first need.

use super::IamError;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

impl Discovery {
    /// Fetches the metadata; OpenID Connect Discovery §4.3: its `issuer` must be ours exactly.
    pub async fn fetch(http: &reqwest::Client, issuer: &str) -> Result<Self, IamError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc: Self = super::get_json(http, &url).await?;
        if doc.issuer != issuer {
            return Err(IamError::Misconfigured(format!(
                "discovery says issuer {:?}, configured {issuer:?}",
                doc.issuer
            )));
        }
        Ok(doc)
    }

    pub fn token_endpoint(&self) -> Result<&str, IamError> {
        self.token_endpoint
            .as_deref()
            .ok_or_else(|| IamError::Misconfigured("provider has no token_endpoint".into()))
    }

    /// `client_secret_basic` unless the provider lists only `client_secret_post`.
    pub fn wants_post_auth(&self) -> bool {
        let m = &self.token_endpoint_auth_methods_supported;
        m.iter().any(|x| x == "client_secret_post") && !m.iter().any(|x| x == "client_secret_basic")
    }
}
