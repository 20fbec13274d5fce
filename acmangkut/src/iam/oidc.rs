//! The external OpenID Connect provider ("IAM") as acmangkut uses it: bearer JWTs for API
//! clients and browser sign-in (authorization code + PKCE). While IAM is degraded nothing here
//! calls the provider: bearer tokens are checked against the cached keys only, and browser
//! sign-in through the provider is off.

use crate::store::iam::sessions::OidcLogin;
use shared::oidc::{Claims, IamError, OidcClient, OidcConfig, Pkce};
use shared::{ApiError, ErrorCode};

pub use shared::oidc::VerifyMode as Mode;

/// How long a browser may take between leaving for the provider and coming back.
const SIGN_IN_WINDOW_MS: i64 = 10 * 60 * 1000;

#[derive(Clone)]
pub struct Provider {
    client: OidcClient,
}

impl Provider {
    pub fn new(config: OidcConfig, outbound: &shared::outbound::Outbound) -> anyhow::Result<Self> {
        let client = OidcClient::new(config, outbound)
            .map_err(|e| anyhow::anyhow!("config key `iam.oidc`: {e}"))?;
        Ok(Self { client })
    }

    pub fn client(&self) -> &OidcClient {
        &self.client
    }

    pub async fn verify_access_token(&self, token: &str, mode: Mode) -> Result<Claims, ApiError> {
        self.client
            .verify_access_token(token, mode)
            .await
            .map_err(to_api)
    }

    /// Where to send the browser, and the pending sign-in to keep until it comes back. The
    /// provider must answer first: the discovery document is cached, and sending the browser
    /// to a provider that is down would leave the user on a connection error instead of our
    /// page saying what to do.
    pub async fn start(
        &self,
        redirect_uri: &str,
        next: &str,
    ) -> Result<(url::Url, OidcLogin), ApiError> {
        // Fetching the keys proves the provider answers (and picks up a key rotation early).
        self.client.refresh_keys().await.map_err(to_api)?;
        let pkce = Pkce::generate();
        let state = shared::oidc::random_token();
        let nonce = shared::oidc::random_token();
        let url = self
            .client
            .authorization_url(redirect_uri, &state, &nonce, &pkce)
            .await
            .map_err(to_api)?;
        let login = OidcLogin {
            state,
            nonce,
            pkce_verifier: pkce.verifier.expose().to_string(),
            next_url: next.to_string(),
            expires_at: crate::store::now_ms() + SIGN_IN_WINDOW_MS,
        };
        Ok((url, login))
    }

    /// Redeems the callback's code; the claims of the verified ID token.
    pub async fn finish(
        &self,
        code: &str,
        redirect_uri: &str,
        login: &OidcLogin,
    ) -> Result<Claims, ApiError> {
        self.client
            .exchange_code(code, redirect_uri, &login.pkce_verifier, &login.nonce)
            .await
            .map(|s| s.claims)
            .map_err(to_api)
    }
}

/// Invalid tokens are 401 with the reason; an unreachable provider is 503 and says what
/// operators can do about it.
pub fn to_api(e: IamError) -> ApiError {
    match e {
        IamError::Invalid(reason) => ApiError::new(
            ErrorCode::Unauthorized,
            format!("the bearer token is not valid: {}", reason.code()),
        ),
        IamError::Unreachable(detail) => {
            tracing::error!(error = %detail, "identity provider unreachable");
            ApiError::new(
                ErrorCode::Unavailable,
                "the identity provider (IAM) is unreachable; operators can degrade IAM with \
                 /api/common/closeIam (see docs/operations.md)",
            )
        }
        other => {
            tracing::error!(error = %other, "identity provider error");
            ApiError::new(
                ErrorCode::Unavailable,
                format!("identity provider: {other}"),
            )
        }
    }
}
