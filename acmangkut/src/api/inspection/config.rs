//! Config as code for the inspection kinds: `GET` exports YAML, `POST …/config:apply` applies
//! it (idempotent). The same document and machinery as `/api/v1/config`, limited to plugins,
//! channels, rules and tasks.

use crate::api::config::{self as general, ApplyQuery};
use crate::engine::config::{self as code, ApplyResult, Kind};
use crate::iam::perm;
use crate::state::Authorized;
use actix_web::{HttpResponse, web};
use shared::ApiError;

/// Custom plugins, channels (secrets redacted), rules and tasks as one YAML document.
#[utoipa::path(
    get,
    path = "/api/v1/inspection/config",
    responses((status = 200, content_type = "application/yaml", body = code::Document))
)]
pub async fn export(state: Authorized<perm::InspectionsRead>) -> Result<HttpResponse, ApiError> {
    general::export_yaml(&state.store, vec![Kind::Inspection]).await
}

/// Apply a YAML document (the export's format): objects are matched by name and created or
/// updated; nothing is deleted. One transaction: all of it applies, or none. Operations and
/// plans are applied at `/api/v1/config:apply`.
#[utoipa::path(
    post,
    path = "/api/v1/inspection/config:apply",
    params(ApplyQuery),
    request_body(
        content = Option<code::Document>,
        content_type = "application/yaml",
        description = "The export's format; an empty body applies nothing"
    ),
    responses(
        (status = 200, body = ApplyResult),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn apply(
    state: Authorized<perm::InspectionsWrite>,
    query: web::Query<ApplyQuery>,
    body: shared::extract::Body,
) -> Result<web::Json<ApplyResult>, ApiError> {
    let only = |doc: &code::Document| -> Result<(), ApiError> { Ok(code::only_inspection(doc)?) };
    general::apply_yaml(state.app(), state.actor(), &body.0, query.dry_run, only).await
}
