//! Risk events: the overview of what needs attention, acknowledge and resolve.

use crate::api::standard::read_by_id;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::risks::{self as store, RiskQuery};
use actix_web::web;
use shared::ApiError;
use shared::extract::Json;
use shared::inspection::{RiskAction, RiskEvent};
use shared::page::Page;

/// Risk events ordered by level (high first), then age (oldest first).
#[utoipa::path(
    get,
    path = "/api/v1/inspection/risks",
    params(RiskQuery),
    responses((status = 200, body = Page<RiskEvent>))
)]
pub async fn list(
    state: Authorized<perm::InspectionsRead>,
    query: web::Query<RiskQuery>,
) -> Result<web::Json<Page<RiskEvent>>, ApiError> {
    let filter = query.filter()?;
    let page = query.page().limit_offset()?;
    Ok(web::Json(
        state
            .store
            .run(move |c| store::list(c, &filter, page))
            .await?,
    ))
}

read_by_id!(
    get: "/api/v1/inspection/risks/{id}", InspectionsRead => (RiskEvent),
    |c, id| store::get(c, id)
);

/// Acknowledge an open risk event, with a comment.
#[utoipa::path(
    post,
    path = "/api/v1/inspection/risks/{id}/acknowledge",
    request_body = RiskAction,
    responses((status = 200, body = RiskEvent), (status = 409, body = shared::problem::Problem))
)]
pub async fn acknowledge(
    state: Authorized<perm::InspectionsRun>,
    id: web::Path<i64>,
    body: Json<RiskAction>,
) -> Result<web::Json<RiskEvent>, ApiError> {
    act(state, id.into_inner(), body.into_inner(), false).await
}

/// Resolve a risk event, with a comment.
#[utoipa::path(
    post,
    path = "/api/v1/inspection/risks/{id}/resolve",
    request_body = RiskAction,
    responses((status = 200, body = RiskEvent), (status = 409, body = shared::problem::Problem))
)]
pub async fn resolve(
    state: Authorized<perm::InspectionsRun>,
    id: web::Path<i64>,
    body: Json<RiskAction>,
) -> Result<web::Json<RiskEvent>, ApiError> {
    act(state, id.into_inner(), body.into_inner(), true).await
}

async fn act(
    state: Authorized<perm::InspectionsRun>,
    id: i64,
    body: RiskAction,
    to_resolved: bool,
) -> Result<web::Json<RiskEvent>, ApiError> {
    body.validate()?;
    Ok(web::Json(
        state
            .run_as(move |c, actor| store::act(c, actor, id, to_resolved, &body.comment))
            .await?,
    ))
}
