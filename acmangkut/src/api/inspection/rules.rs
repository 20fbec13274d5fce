//! Rules: a plugin with parameters, a level and a governance suggestion; versioned.

use crate::api::created;
use crate::engine::inspection::define;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::plugins;
use crate::store::inspection::rules::{self as store, RuleFilter};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::ApiError;
use shared::extract::Json;
use shared::inspection::{Level, Rule, RuleInput, RuleVersion};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RuleQuery {
    /// Plugin name.
    pub plugin: Option<String>,
    /// `high`, `medium` or `low`.
    pub level: Option<String>,
    /// Substring of the name.
    pub q: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/inspection/rules",
    params(RuleQuery),
    responses((status = 200, body = Vec<Rule>))
)]
pub async fn list(
    state: Authorized<perm::InspectionsRead>,
    query: web::Query<RuleQuery>,
) -> Result<web::Json<Vec<Rule>>, ApiError> {
    let q = query.into_inner();
    let level = match q.level.as_deref().filter(|s| !s.is_empty()) {
        Some(l) => Some(Level::parse(l).ok_or_else(|| {
            ApiError::field(
                shared::ErrorCode::InvalidQuery,
                "level",
                "must be high, medium or low",
            )
        })?),
        None => None,
    };
    Ok(web::Json(
        state
            .store
            .run(move |c| {
                let plugin_id = match q.plugin.as_deref().filter(|s| !s.is_empty()) {
                    Some(name) => Some(plugins::row_by_name(c, name)?.map_or(-1, |p| p.id)),
                    None => None,
                };
                store::list(
                    c,
                    &RuleFilter {
                        plugin_id,
                        level,
                        search: q.q,
                    },
                )
            })
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/inspection/rules/{id}",
    responses((status = 200, body = Rule), (status = 404, body = shared::problem::Problem))
)]
pub async fn get(
    state: Authorized<perm::InspectionsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<Rule>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::get(c, id)).await?,
    ))
}

/// Every version of a rule, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/inspection/rules/{id}/versions",
    responses(
        (status = 200, body = Vec<RuleVersion>),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn versions(
    state: Authorized<perm::InspectionsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<RuleVersion>>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::versions(c, id)).await?,
    ))
}

/// Create a rule; its parameters are checked against the plugin's schema and the config.
#[utoipa::path(
    post,
    path = "/api/v1/inspection/rules",
    request_body = RuleInput,
    responses(
        (status = 201, body = Rule),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem)
    )
)]
pub async fn create(
    state: Authorized<perm::InspectionsWrite>,
    body: Json<RuleInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let (actor, checker) = (state.actor(), state.checker.clone());
    let rule = state
        .store
        .run(move |c| {
            let plugin_id = define::rule(c, &checker, &input)?;
            Ok::<_, ApiError>(store::create(c, &actor, &input, plugin_id)?)
        })
        .await?;
    Ok(created(
        format!("/api/v1/inspection/rules/{}", rule.id),
        &rule,
    ))
}

/// Change a rule; a change adds a version.
#[utoipa::path(
    put,
    path = "/api/v1/inspection/rules/{id}",
    request_body = RuleInput,
    responses(
        (status = 200, body = Rule),
        (status = 400, body = shared::problem::Problem),
        (status = 404, body = shared::problem::Problem)
    )
)]
pub async fn update(
    state: Authorized<perm::InspectionsWrite>,
    id: web::Path<i64>,
    body: Json<RuleInput>,
) -> Result<web::Json<Rule>, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    let (actor, checker) = (state.actor(), state.checker.clone());
    Ok(web::Json(
        state
            .store
            .run(move |c| {
                store::row(c, id)?;
                let plugin_id = define::rule(c, &checker, &input)?;
                Ok::<_, ApiError>(store::update(c, &actor, id, &input, plugin_id)?.0)
            })
            .await?,
    ))
}

/// Delete a rule; 409 while a task runs it.
#[utoipa::path(
    delete,
    path = "/api/v1/inspection/rules/{id}",
    responses((status = 204), (status = 409, body = shared::problem::Problem))
)]
pub async fn delete(
    state: Authorized<perm::InspectionsWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .run_as(move |c, actor| store::delete(c, actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
