//! One error type for `shared::oidc`. Callers map `Unreachable` to "IAM degraded" (503 or
//! falling back to cached keys) and `Invalid` to 401. No variant ever carries a token.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The provider could not be reached or answered with a server error.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The provider refused a request (bad client credentials, expired code, …).
    #[error("identity provider refused the request ({status}): {error}")]
    Rejected { status: u16, error: String },
    /// The token must not be accepted.
    #[error("token invalid: {0}")]
    Invalid(InvalidToken),
    /// Our configuration and the provider disagree (issuer mismatch, missing endpoint, no secret).
    #[error("identity provider misconfigured: {0}")]
    Misconfigured(String),
}

/// Why a token was refused; stable enough to log and count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidToken {
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    /// No key of the provider's JWKS has the token's `kid` (after the allowed refetch).
    UnknownKey,
    BadSignature,
    /// `none`, HMAC (a shared secret is not a provider's key) or anything we do not support.
    Algorithm(String),
    /// The ID token's `nonce` is not the one this sign-in sent.
    WrongNonce,
    /// Not a JWS we can read, or a required claim is missing or of the wrong type.
    Malformed(String),
}

impl InvalidToken {
    /// A short, stable label (`expired`, `wrong_issuer`, …) for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Algorithm(_) => "algorithm",
            Self::WrongNonce => "wrong_nonce",
            Self::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Algorithm(alg) => write!(f, "algorithm {alg:?} not accepted"),
            Self::Malformed(why) => write!(f, "malformed: {why}"),
            other => f.write_str(&other.code().replace('_', " ")),
        }
    }
}

impl From<InvalidToken> for IamError {
    fn from(reason: InvalidToken) -> Self {
        Self::Invalid(reason)
    }
}

impl IamError {
    /// The reason when the token itself is at fault.
    pub fn invalid_reason(&self) -> Option<&InvalidToken> {
        match self {
            Self::Invalid(r) => Some(r),
            _ => None,
        }
    }

    pub(crate) fn unreachable(e: &dyn std::error::Error) -> Self {
        Self::Unreachable(crate::error_chain::error_chain(e))
    }
}
