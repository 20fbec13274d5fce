//! API tokens: who may hold one, and how a new one is checked and built. The API's
//! `/api/v1/tokens` and the console's `/tokens` page both create tokens through [`prepare`].

use crate::iam::authn::TOKEN_PREFIX;
use crate::iam::{Principal, secrets};
use crate::store::iam::tokens::NewToken;
use crate::store::now_ms;
use serde::Deserialize;
use shared::permissions::PermSet;
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenInput {
    pub name: String,
    /// 1 to `iam.token_max_days`.
    pub expires_in_days: u64,
    /// A subset of your own permissions; empty means all of them.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// The caller's user id: API tokens belong to a user account.
pub fn own_user(principal: &Principal) -> Result<i64, ApiError> {
    principal.user_id.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Forbidden,
            concat!(
                "API tokens belong to a user account; sign in as one ",
                "(not with the bootstrap token or a provider token)"
            ),
        )
    })
}

/// Checks a new token's input for `principal` and builds its row and its secret; the API and
/// the console's `/tokens` page both create tokens through this. Errors name the field
/// (`name`, `expires_in_days`, `permissions[i]`).
pub fn prepare(
    principal: &Principal,
    max_days: u64,
    input: &NewTokenInput,
) -> Result<(NewToken, String), ApiError> {
    let user = own_user(principal)?;
    if input.name.trim().is_empty() || input.name.len() > 100 {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "name",
            "must be 1-100 characters",
        ));
    }
    if input.expires_in_days == 0 || input.expires_in_days > max_days {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "expires_in_days",
            format!("must be 1 to {max_days}"),
        ));
    }
    let mut wanted = PermSet::default();
    for (i, p) in input.permissions.iter().enumerate() {
        let one = PermSet::parse([p.as_str()]).map_err(|e| {
            ApiError::field(ErrorCode::InvalidField, format!("permissions[{i}]"), e)
        })?;
        if one.intersect(principal.permissions) != one {
            return Err(ApiError::field(
                ErrorCode::InvalidField,
                format!("permissions[{i}]"),
                format!("you do not have `{p}` yourself"),
            ));
        }
        wanted = wanted.union(one);
    }
    if input.permissions.is_empty() {
        wanted = principal.permissions;
    }
    let secret = format!("{TOKEN_PREFIX}{}", secrets::random_token(32));
    let now = now_ms();
    let row = NewToken {
        user_id: user,
        name: input.name.trim().to_string(),
        token_hash: secrets::sha256_hex(&secret),
        permissions: serde_json::to_string(&wanted.names()).unwrap_or_else(|_| "[]".into()),
        created_at: now,
        expires_at: now + input.expires_in_days as i64 * 86_400_000,
    };
    Ok((row, secret))
}
