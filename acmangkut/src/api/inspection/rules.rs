//! Rules: a plugin with parameters, a level and a governance suggestion; versioned.

use crate::api::standard::{create, delete_by_id, read_by_id, update_by_id};
use crate::engine::inspection::save;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::plugins;
use crate::store::inspection::rules::{self as store, RuleFilter};
use actix_web::web;
use serde::Deserialize;
use shared::ApiError;
use shared::inspection::{Level, Rule, RuleInput, RuleVersion};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RuleQuery {
    /// Plugin name.
    pub plugin: Option<String>,
    /// `high`, `medium` or `low`.
    #[param(pattern = "^(high|medium|low)?$")]
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

read_by_id!(
    get: "/api/v1/inspection/rules/{id}", InspectionsRead => (Rule),
    |c, id| store::get(c, id)
);

read_by_id!(
    /// Every version of a rule, newest first.
    versions: "/api/v1/inspection/rules/{id}/versions", InspectionsRead => (Vec<RuleVersion>),
    |c, id| store::versions(c, id)
);

create!(
    /// Create a rule; its parameters are checked against the plugin's schema and the config.
    create: "/api/v1/inspection/rules", InspectionsWrite, (RuleInput) => (Rule),
    |state, input| {
        let checker = state.checker.clone();
        state
            .run_as(move |c, actor| save::rule(c, &checker, actor, None, &input))
            .await?
    }
);

update_by_id!(
    /// Change a rule; a change adds a version.
    update: "/api/v1/inspection/rules/{id}", InspectionsWrite, 404, (RuleInput) => (Rule),
    |state, id, input| {
        let checker = state.checker.clone();
        state
            .run_as(move |c, actor| save::rule(c, &checker, actor, Some(id), &input))
            .await?
    }
);

delete_by_id!(
    /// Delete a rule; 409 while a task runs it.
    delete: "/api/v1/inspection/rules/{id}", InspectionsWrite, 409,
    |c, actor, id| store::delete(c, actor, id)
);
