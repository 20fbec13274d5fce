//! Risk events: the overview of what needs attention, acknowledge and resolve.

use crate::iam::{Authorized, perm};
use crate::store::inspection::risks::{self as store, RiskFilter};
use actix_web::{get, post, web};
use serde::Deserialize;
use shared::extract::Json;
use shared::inspection::{Level, RiskAction, RiskEvent, RiskState};
use shared::page::{Page, PageQuery};
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RiskQuery {
    /// Comma-separated states (`open,acknowledged`, the default; `resolved`; `all`).
    pub state: Option<String>,
    pub level: Option<String>,
    /// `inspection` or `monitor`.
    pub source: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl RiskQuery {
    pub fn filter(&self) -> Result<RiskFilter, ApiError> {
        let bad = |field: &str, msg: &str| ApiError::field(ErrorCode::InvalidQuery, field, msg);
        let states = match self.state.as_deref().unwrap_or("open,acknowledged") {
            "all" | "" => Vec::new(),
            states => states
                .split(',')
                .map(|s| {
                    RiskState::parse(s.trim()).ok_or_else(|| {
                        bad("state", "states are open, acknowledged, resolved or all")
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let level = match self.level.as_deref().filter(|s| !s.is_empty()) {
            Some(l) => {
                Some(Level::parse(l).ok_or_else(|| bad("level", "must be high, medium or low"))?)
            }
            None => None,
        };
        let source = match self.source.as_deref().filter(|s| !s.is_empty()) {
            Some(s @ ("inspection" | "monitor")) => Some(s.to_string()),
            Some(_) => return Err(bad("source", "must be inspection or monitor")),
            None => None,
        };
        Ok(RiskFilter {
            states,
            level,
            source,
        })
    }

    pub fn page(&self) -> PageQuery {
        PageQuery {
            page: self.page,
            per_page: self.per_page,
        }
    }
}

/// Risk events ordered by level (high first), then age (oldest first).
#[utoipa::path(context_path = "/api/v1", params(RiskQuery), responses((status = 200, body = Page<RiskEvent>)), security(("bearer" = ["inspections:read"])))]
#[get("/inspection/risks")]
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

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = RiskEvent), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["inspections:read"])))]
#[get("/inspection/risks/{id}")]
pub async fn get(
    state: Authorized<perm::InspectionsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<RiskEvent>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::get(c, id)).await?,
    ))
}

/// Acknowledge an open risk event, with a comment.
#[utoipa::path(context_path = "/api/v1", request_body = RiskAction, responses((status = 200, body = RiskEvent), (status = 409, body = shared::problem::Problem)), security(("bearer" = ["inspections:run"])))]
#[post("/inspection/risks/{id}/acknowledge")]
pub async fn acknowledge(
    state: Authorized<perm::InspectionsRun>,
    id: web::Path<i64>,
    body: Json<RiskAction>,
) -> Result<web::Json<RiskEvent>, ApiError> {
    act(state, id.into_inner(), body.into_inner(), false).await
}

/// Resolve a risk event, with a comment.
#[utoipa::path(context_path = "/api/v1", request_body = RiskAction, responses((status = 200, body = RiskEvent), (status = 409, body = shared::problem::Problem)), security(("bearer" = ["inspections:run"])))]
#[post("/inspection/risks/{id}/resolve")]
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
    let actor = state.actor();
    Ok(web::Json(
        state
            .store
            .run(move |c| store::act(c, &actor, id, to_resolved, &body.comment))
            .await?,
    ))
}
