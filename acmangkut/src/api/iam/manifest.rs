//! `/api/v1/iam/manifest:apply`: the permission manifest hasinit applies.

use crate::iam::perm;
use crate::state::Authorized;
use crate::store::iam::manifest::{self, ApplyReport, Manifest};
use actix_web::web;
use serde::Deserialize;
use shared::extract::Json;
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Compare only; write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Applies a permission manifest (what hasinit does): created / updated / unchanged.
#[utoipa::path(
    post,
    path = "/api/v1/iam/manifest:apply",
    params(ApplyQuery),
    request_body = Manifest,
    responses((status = 200, body = ApplyReport), (status = 400, body = shared::problem::Problem))
)]
pub async fn apply_manifest(
    auth: Authorized<perm::RolesWrite>,
    q: web::Query<ApplyQuery>,
    body: Json<Manifest>,
) -> Result<web::Json<ApplyReport>, ApiError> {
    let m = body.into_inner();
    manifest::validate(&m).map_err(|(f, d)| ApiError::field(ErrorCode::InvalidField, f, d))?;
    let (actor, dry) = (auth.actor(), q.dry_run);
    let report = auth
        .store
        .run(move |c| manifest::apply(c, &actor, &m, dry))
        .await
        .map_err(ApiError::from)
        .map_err(|e| {
            if e.code == ErrorCode::NotFound {
                ApiError::field(
                    ErrorCode::InvalidField,
                    "bindings",
                    "a binding names a role that neither the manifest nor the server defines",
                )
            } else {
                e
            }
        })?;
    auth.iam.invalidate_access();
    Ok(web::Json(report))
}
