//! Service-to-service tokens (OAuth client credentials), e.g. acmangkut calling pageinspect.

use super::{IamError, OidcClient};
use crate::Secret;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token is reused until this long before it expires, so it never expires in flight.
const MARGIN: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct TokenCache(Mutex<HashMap<String, (Secret, Instant)>>);

impl OidcClient {
    /// An access token of this client for `resource` (an RFC 8707 resource indicator, sent as
    /// `resource`), from the cache while it has more than 30 s left.
    pub async fn client_credentials(&self, resource: &str) -> Result<Secret, IamError> {
        let cache = &self.inner.service_tokens.0;
        let cached = cache.lock().ok().and_then(|c| c.get(resource).cloned());
        if let Some((token, _)) = cached.filter(|(_, until)| Instant::now() < *until) {
            return Ok(token);
        }
        if self.inner.config.client_secret.is_none() {
            return Err(IamError::Misconfigured(
                "client_credentials needs a client_secret".into(),
            ));
        }
        let response = self
            .token_request(&[("grant_type", "client_credentials"), ("resource", resource)])
            .await?;
        let token = Secret::new(response.access_token);
        let lifetime = Duration::from_secs(response.expires_in.unwrap_or(0));
        if let (Some(usable), Ok(mut c)) = (lifetime.checked_sub(MARGIN), cache.lock()) {
            c.insert(
                resource.to_string(),
                (token.clone(), Instant::now() + usable),
            );
        }
        Ok(token)
    }
}
