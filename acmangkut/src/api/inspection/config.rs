//! Config as code: `GET` exports YAML, `POST …/config:apply` applies it (idempotent).

use crate::engine::inspection::apply::{self as code, ApplyResult};
use crate::iam::perm;
use crate::state::Authorized;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::ApiError;

/// Custom plugins, channels (secrets redacted), rules and tasks as one YAML document.
#[utoipa::path(
    get,
    path = "/api/v1/inspection/config",
    responses((status = 200, content_type = "application/yaml", body = code::Document))
)]
pub async fn export(state: Authorized<perm::InspectionsRead>) -> Result<HttpResponse, ApiError> {
    let doc = state.store.run(code::export).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(code::render(&doc)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Report what would change, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Apply a YAML document (the export's format): objects are matched by name and created or
/// updated; nothing is deleted. One transaction: all of it applies, or none.
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
    body: web::Bytes,
) -> Result<web::Json<ApplyResult>, ApiError> {
    let doc = code::parse(&body)?;
    let (actor, checker, dry_run) = (state.actor(), state.checker.clone(), query.dry_run);
    let result = state
        .store
        .run(move |c| code::apply(c, &checker, &actor, &doc, dry_run))
        .await?;
    tracing::info!(
        dry_run,
        created = result.rules.created.len() + result.tasks.created.len(),
        "inspection config applied"
    );
    Ok(web::Json(result))
}
