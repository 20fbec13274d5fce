//! `/api/v1/auth`: sign in with a built-in account, sign out, and who am I.

use crate::iam::{accounts, perm};
use crate::state::Authorized;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use shared::extract::Json;
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInInput {
    #[schema(min_length = 1, pattern = "\\S")]
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub username: String,
    pub display_name: String,
    /// `user`, `oidc`, `token` or `bootstrap`.
    pub via: String,
    pub roles: Vec<String>,
    pub permissions: Vec<&'static str>,
    pub break_glass: bool,
    pub iam_degraded: bool,
    /// Send it as `X-CSRF-Token` with changes made through the session cookie.
    pub csrf_token: Option<String>,
}

/// The answer to a sign-in: who is signed in (the rest is in `/auth/me`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub username: String,
}

/// Signs in a built-in account; the session cookie comes back in `Set-Cookie`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    request_body = SignInInput,
    responses(
        (status = 200, body = SignedIn),
        (status = 401, body = shared::problem::Problem),
        (status = 429, body = shared::problem::Problem)
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<crate::state::AppState>,
    body: Json<SignInInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    if input.username.trim().is_empty() {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "username",
            "must not be empty",
        ));
    }
    let started =
        accounts::sign_in(&state.iam, &req, input.username.trim(), &input.password).await?;
    Ok(HttpResponse::Ok().cookie(started.cookie).json(SignedIn {
        username: started.username,
    }))
}

/// Ends this session server-side.
#[utoipa::path(post, path = "/api/v1/auth/logout", responses((status = 204)))]
pub async fn logout(
    auth: Authorized<perm::SignedIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let cookie = accounts::sign_out(&auth.iam, &req, &auth.principal).await?;
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

#[utoipa::path(get, path = "/api/v1/auth/me", responses((status = 200, body = Me)))]
pub async fn me(auth: Authorized<perm::SignedIn>) -> web::Json<Me> {
    let p = &auth.principal;
    web::Json(Me {
        username: p.name.clone(),
        display_name: p.display_name.clone(),
        via: p.via.actor_kind().into(),
        roles: p.roles.clone(),
        permissions: p.permissions.names(),
        break_glass: p.break_glass,
        iam_degraded: auth.iam.degraded(),
        csrf_token: p.csrf_token().map(str::to_string),
    })
}
