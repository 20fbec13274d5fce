//! `/api/v1/tokens`: API tokens for scripts, each user's own. The secret is answered once.

use crate::iam::perm;
use crate::iam::tokens::{NewTokenInput, own_user, prepare};
use crate::state::Authorized;
use crate::store::iam::tokens::{self, ApiToken};
use actix_web::{HttpResponse, web};
use serde::Serialize;
use shared::ApiError;
use shared::extract::Json;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// `Authorization: Bearer <secret>`. Shown this once; only its hash is kept.
    pub secret: String,
}

#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = [ApiToken])))]
pub async fn list(
    auth: Authorized<perm::TokensRead>,
) -> Result<web::Json<Vec<ApiToken>>, ApiError> {
    let user = own_user(&auth.principal)?;
    Ok(web::Json(
        auth.store.run(move |c| tokens::list_for(c, user)).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    request_body = NewTokenInput,
    responses((status = 201, body = CreatedToken), (status = 400, body = shared::problem::Problem))
)]
pub async fn create(
    auth: Authorized<perm::TokensWrite>,
    body: Json<NewTokenInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let (row, secret) = prepare(&auth.principal, auth.iam.config().token_max_days, &input)?;
    let token = auth
        .run_as(move |c, actor| tokens::create(c, actor, &row))
        .await?;
    Ok(HttpResponse::Created().json(CreatedToken { token, secret }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    responses((status = 204), (status = 404, body = shared::problem::Problem))
)]
pub async fn revoke(
    auth: Authorized<perm::TokensWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (user, id, actor) = (own_user(&auth.principal)?, id.into_inner(), auth.actor());
    auth.store
        .run(move |c| tokens::revoke(c, &actor, user, id))
        .await?;
    auth.iam.invalidate_access();
    Ok(HttpResponse::NoContent().finish())
}
