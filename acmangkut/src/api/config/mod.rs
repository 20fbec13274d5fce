//! `/api/v1/config`: config as code for every kind at once. `GET` exports YAML, `POST
//! …/config:apply` applies it (one transaction; dry run; created / updated / unchanged per
//! section). Any signed-in caller may call them; what they read and write is what their
//! permissions cover, per kind ([`Kind::read`], [`Kind::write`]): the export holds the kinds
//! the caller may read, and an apply is refused (403 naming the section) when the document has
//! a section the caller may not write. `/api/v1/inspection/config` is the same with the
//! inspection kinds only.

use crate::engine::config::{self as code, ApplyResult, Kind};
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::audit::Actor;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Comma-separated kinds: `monitors`, `inspection`, `operations`, `plans`; none: every kind
    /// the caller may read.
    #[param(pattern = "^((monitors|inspection|operations|plans)\
                   (,(monitors|inspection|operations|plans))*)?$")]
    pub kinds: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ApplyQuery {
    /// Report what would change, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The kinds `query` names (each one the caller must be able to read), or every kind the
/// caller may read.
fn kinds<P: crate::iam::permissions::Needs>(
    state: &Authorized<P>,
    query: &ExportQuery,
) -> Result<Vec<Kind>, ApiError> {
    let Some(list) = query.kinds.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(Kind::ALL
            .into_iter()
            .filter(|k| state.principal.can(k.read()))
            .collect());
    };
    let mut out = Vec::new();
    for name in list.split(',') {
        let kind = Kind::parse(name).ok_or_else(|| {
            ApiError::field(
                ErrorCode::InvalidQuery,
                "kinds",
                format!("`{name}` is not a kind: monitors, inspection, operations or plans"),
            )
        })?;
        needs(state, kind.read(), "kinds")?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

/// 403 naming `field` when the caller lacks `p`.
fn needs<P: crate::iam::permissions::Needs>(
    state: &Authorized<P>,
    p: shared::permissions::Permission,
    field: &str,
) -> Result<(), ApiError> {
    if state.principal.can(p) {
        return Ok(());
    }
    Err(ApiError::field(
        ErrorCode::Forbidden,
        field,
        format!("this needs the permission `{}`", p.as_str()),
    ))
}

/// The YAML document of `kinds`.
pub async fn export_yaml(
    store: &crate::store::Store,
    kinds: Vec<Kind>,
) -> Result<HttpResponse, ApiError> {
    let doc = store.run(move |c| code::export(c, &kinds)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(code::render(&doc)?))
}

/// Applies `body` once `allowed` accepts the parsed document (its sections).
pub async fn apply_yaml(
    state: &crate::state::AppState,
    actor: Actor,
    body: &[u8],
    dry_run: bool,
    allowed: impl Fn(&code::Document) -> Result<(), ApiError>,
) -> Result<web::Json<ApplyResult>, ApiError> {
    let doc = code::parse(body)?;
    allowed(&doc)?;
    let engines = state.plan_context();
    let result = state
        .store
        .run(move |c| {
            let ctx = code::Context {
                engines: &engines,
                actor: &actor,
            };
            code::apply(c, &ctx, &doc, dry_run)
        })
        .await?;
    let (created, updated, unchanged) = result.totals();
    tracing::info!(dry_run, created, updated, unchanged, "config applied");
    Ok(web::Json(result))
}

/// Every kind the caller may read (or those `kinds` names) as one YAML document: monitors
/// (probe credentials redacted), custom inspection plugins, channels (secrets redacted), rules,
/// tasks, operations (built-ins as shipped left out) and plans.
#[utoipa::path(
    get,
    path = "/api/v1/config",
    params(ExportQuery),
    responses(
        (status = 200, content_type = "application/yaml", body = code::Document),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn export(
    state: Authorized<perm::SignedIn>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let kinds = kinds(&state, &query)?;
    export_yaml(&state.store, kinds).await
}

/// Apply a YAML document (the export's format): objects are matched by name (operations by
/// code) and created or updated; nothing is deleted. One transaction: all of it applies, or
/// none. Each section needs its kind's write permission.
#[utoipa::path(
    post,
    path = "/api/v1/config:apply",
    params(ApplyQuery),
    request_body(
        content = Option<code::Document>,
        content_type = "application/yaml",
        description = "The export's format; an empty body applies nothing"
    ),
    responses(
        (status = 200, body = ApplyResult),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn apply(
    state: Authorized<perm::SignedIn>,
    query: web::Query<ApplyQuery>,
    body: shared::extract::Body,
) -> Result<web::Json<ApplyResult>, ApiError> {
    let allowed = |doc: &code::Document| {
        Kind::ALL
            .into_iter()
            .try_for_each(|kind| match kind.section_in(doc) {
                Some(section) => needs(&state, kind.write(), section),
                None => Ok(()),
            })
    };
    apply_yaml(state.app(), state.actor(), &body.0, query.dry_run, allowed).await
}
