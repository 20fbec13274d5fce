//! Authentication of `/api/`: `Authorization: Bearer <credential>`, where the credential is the
//! static `auth.service_token`, or a JWT access token that `auth.oidc`'s provider issued for
//! pageinspect's audience (acmangkut's client-credentials token), verified with `shared::oidc`.
//! A request that fails is answered 401 here and never reaches a handler, so no probe runs.
//! Only with `auth.allow_anonymous` may a request carry no credential at all.

use crate::config::AuthConfig;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use shared::oidc::{IamError, OidcClient, VerifyMode};
use shared::outbound::Outbound;
use shared::{ApiError, ErrorCode, Secret};

/// What `/api/` accepts, as app data.
#[derive(Clone)]
pub struct Authenticator {
    token: Option<Secret>,
    oidc: Option<OidcClient>,
    anonymous: bool,
}

impl Authenticator {
    /// Refuses a config without a credential unless `allow_anonymous` is set; makes no request
    /// (the provider may be down while pageinspect starts).
    pub fn from_config(auth: &AuthConfig, outbound: &Outbound) -> anyhow::Result<Self> {
        auth.require_credential()?;
        let oidc = auth
            .oidc
            .clone()
            .map(|c| OidcClient::new(c, outbound))
            .transpose()
            .map_err(|e| anyhow::anyhow!("config key `auth.oidc`: {e}"))?;
        Ok(Self {
            token: auth.service_token.clone(),
            oidc,
            anonymous: auth.allow_anonymous,
        })
    }

    /// The OIDC client, to fetch the provider's keys ahead of the first token.
    pub fn oidc(&self) -> Option<&OidcClient> {
        self.oidc.as_ref()
    }

    /// For the start-up log line: which credentials are accepted.
    pub fn describe(&self) -> String {
        let mut accepted = Vec::new();
        if self.token.is_some() {
            accepted.push("service_token".to_string());
        }
        if let Some(c) = &self.oidc {
            accepted.push(format!("oidc(aud={})", c.config().audience));
        }
        if self.anonymous {
            accepted.push("anonymous".into());
        }
        accepted.join(",")
    }

    /// `Ok` when the request may run probes; the 401 (or 503 when the provider's keys cannot
    /// be had) otherwise.
    async fn check(&self, header: Option<&str>) -> Result<(), ApiError> {
        let presented = match header {
            None if self.anonymous => return Ok(()),
            None => return Err(unauthorized("send Authorization: Bearer <credential>")),
            Some(value) => match value.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    token.trim()
                }
                _ => return Err(unauthorized("use Authorization: Bearer <credential>")),
            },
        };
        if let Some(expected) = &self.token
            && constant_time_eq(presented.as_bytes(), expected.expose().as_bytes())
        {
            return Ok(());
        }
        let Some(oidc) = &self.oidc else {
            if self.token.is_none() {
                // Anonymous callers are allowed and there is nothing to check against.
                return Ok(());
            }
            return Err(unauthorized("the bearer token is not valid"));
        };
        // A static token that is not ours is no JWT: say so instead of "malformed".
        if presented.split('.').count() != 3 {
            return Err(unauthorized("the bearer token is not valid"));
        }
        match oidc
            .verify_access_token(presented, VerifyMode::Online)
            .await
        {
            Ok(claims) => {
                tracing::debug!(sub = %claims.sub, "caller authenticated by an access token");
                Ok(())
            }
            Err(IamError::Invalid(reason)) => Err(unauthorized(&format!(
                "the bearer token is not valid: {}",
                reason.code()
            ))),
            Err(e) => {
                tracing::error!(error = %e, "cannot verify a bearer token");
                let mut problem = ApiError::new(
                    ErrorCode::Unavailable,
                    "cannot verify the bearer token: the identity provider's keys are not \
                    available",
                );
                problem.retry_after_seconds = Some(5);
                Err(problem)
            }
        }
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, detail)
}

/// The name `routes` wraps the `/api` scope with (it predates the OIDC credential).
pub use require_caller as require_service_token;

/// Middleware for the `/api` scope.
pub async fn require_caller<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(auth) = req.app_data::<web::Data<Authenticator>>().cloned() else {
        let e = ApiError::new(ErrorCode::Internal, "authentication is not set up");
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    };
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    match auth.check(header).await {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(problem) => {
            tracing::warn!(
                path = req.path(),
                reason = %problem.detail,
                "rejected an API request"
            );
            let mut response = problem.error_response();
            if problem.code == ErrorCode::Unauthorized {
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_equal_tokens_match() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    fn with(token: Option<&str>, anonymous: bool) -> Authenticator {
        Authenticator::from_config(
            &AuthConfig {
                service_token: token.map(Secret::new),
                oidc: None,
                allow_anonymous: anonymous,
            },
            &Outbound::new("pageinspect", &Default::default()),
        )
        .expect("builds")
    }

    #[tokio::test]
    async fn each_presented_credential_is_judged_by_what_is_configured() {
        let cases = [
            (with(Some("s3cret"), false), None, false, "no header"),
            (
                with(Some("s3cret"), false),
                Some("Bearer s3cret"),
                true,
                "right token",
            ),
            (
                with(Some("s3cret"), false),
                Some("bearer s3cret"),
                true,
                "scheme in any case",
            ),
            (
                with(Some("s3cret"), false),
                Some("Bearer guess"),
                false,
                "wrong token",
            ),
            (
                with(Some("s3cret"), false),
                Some("Basic czNjcmV0"),
                false,
                "another scheme",
            ),
            (with(None, true), None, true, "anonymous allowed"),
            (
                with(None, true),
                Some("Bearer whatever"),
                true,
                "anonymous, nothing to check",
            ),
            (
                with(Some("s3cret"), true),
                Some("Bearer guess"),
                false,
                "a presented token is still checked",
            ),
        ];
        for (auth, header, ok, why) in cases {
            assert_eq!(auth.check(header).await.is_ok(), ok, "{why}");
        }
    }

    #[test]
    fn no_credential_and_no_anonymous_callers_is_refused() {
        let outbound = Outbound::new("pageinspect", &Default::default());
        let e = Authenticator::from_config(&AuthConfig::default(), &outbound)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("auth.service_token"), "{e}");
    }
}
