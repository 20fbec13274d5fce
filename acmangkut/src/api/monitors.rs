//! `/api/v1/monitors`: define what to probe and read how it went.

use crate::iam::{Authorized, perm};
use crate::store::monitors::{self as store, MonitorFilter};
use crate::store::monitors::{results, rollups};
use crate::store::now_ms;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use shared::extract::Json;
use shared::monitor::{
    Monitor, MonitorInput, MonitorResult, MonitorState, MonitorSummary, StateChange,
};
use shared::page::{Page, PageQuery};
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    /// Label selector: `env=prod,team=web` (all must match).
    pub label: Option<String>,
    /// `pending`, `up`, `down` or `paused`.
    pub state: Option<String>,
    /// Substring of the name or target.
    pub q: Option<String>,
}

impl ListQuery {
    pub fn filter(&self) -> Result<MonitorFilter, ApiError> {
        let mut f = MonitorFilter::default();
        if let Some(sel) = self.label.as_deref().filter(|s| !s.is_empty()) {
            for pair in sel.split(',') {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    ApiError::field(
                        ErrorCode::InvalidQuery,
                        "label",
                        format!("`{pair}` is not key=value"),
                    )
                })?;
                f.labels.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if let Some(s) = self.state.as_deref().filter(|s| !s.is_empty()) {
            f.state = Some(MonitorState::parse(s).ok_or_else(|| {
                ApiError::field(
                    ErrorCode::InvalidQuery,
                    "state",
                    "must be pending, up, down or paused",
                )
            })?);
        }
        f.search = self.q.clone().filter(|s| !s.trim().is_empty());
        Ok(f)
    }

    pub fn page(&self) -> PageQuery {
        PageQuery {
            page: self.page,
            per_page: self.per_page,
        }
    }
}

/// Create a monitor; it is probed for the first time right away.
#[utoipa::path(context_path = "/api/v1", 
    request_body = MonitorInput,
    responses(
        (status = 201, body = Monitor),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem, content_type = "application/problem+json"),
    )
, security(("bearer" = ["monitors:write"])))]
#[post("/monitors")]
pub async fn create(
    state: Authorized<perm::MonitorsWrite>,
    body: Json<MonitorInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    input.validate()?;
    let actor = state.actor();
    let m = state
        .store
        .run(move |c| store::create(c, &actor, &input))
        .await?;
    tracing::info!(
        monitor.id = m.id,
        monitor.kind = m.probe.kind.as_str(),
        "monitor created"
    );
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/monitors/{}", m.id)))
        .json(m))
}

#[utoipa::path(context_path = "/api/v1", params(ListQuery), responses((status = 200, body = Page<Monitor>)), security(("bearer" = ["monitors:read"])))]
#[get("/monitors")]
pub async fn list(
    state: Authorized<perm::MonitorsRead>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.filter()?;
    let (limit, offset) = query.page().limit_offset()?;
    // `Page<Monitor>` JSON written straight from the rows (see `store::list_json`).
    let body = state
        .store
        .run(move |c| store::list_json(c, &filter, limit, offset))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = Monitor), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["monitors:read"])))]
#[get("/monitors/{id}")]
pub async fn get(
    state: Authorized<perm::MonitorsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<Monitor>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state.store.run(move |c| store::get(c, id)).await?,
    ))
}

/// Replace a monitor's definition; its state and history are kept.
#[utoipa::path(context_path = "/api/v1", request_body = MonitorInput, responses((status = 200, body = Monitor), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["monitors:write"])))]
#[put("/monitors/{id}")]
pub async fn update(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
    body: Json<MonitorInput>,
) -> Result<web::Json<Monitor>, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    input.validate()?;
    let actor = state.actor();
    Ok(web::Json(
        state
            .store
            .run(move |c| store::update(c, &actor, id, &input))
            .await?,
    ))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 204), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["monitors:write"])))]
#[delete("/monitors/{id}")]
pub async fn delete(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.actor();
    let id = id.into_inner();
    state
        .store
        .run(move |c| store::delete(c, &actor, id))
        .await?;
    tracing::info!(monitor.id = id, "monitor deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = Monitor)), security(("bearer" = ["monitors:write"])))]
#[post("/monitors/{id}/pause")]
pub async fn pause(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
) -> Result<web::Json<Monitor>, ApiError> {
    let actor = state.actor();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .store
            .run(move |c| store::set_paused(c, &actor, id, true))
            .await?,
    ))
}

#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = Monitor)), security(("bearer" = ["monitors:write"])))]
#[post("/monitors/{id}/resume")]
pub async fn resume(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
) -> Result<web::Json<Monitor>, ApiError> {
    let actor = state.actor();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .store
            .run(move |c| store::set_paused(c, &actor, id, false))
            .await?,
    ))
}

/// Probe now instead of waiting for the interval (202: the result arrives in `/results`).
#[utoipa::path(context_path = "/api/v1", responses((status = 202, body = Monitor), (status = 409, body = shared::problem::Problem)), security(("bearer" = ["monitors:write"])))]
#[post("/monitors/{id}/run")]
pub async fn run_now(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let actor = state.actor();
    let id = id.into_inner();
    let m = state
        .store
        .run(move |c| store::run_now(c, &actor, id))
        .await?;
    if m.paused {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the monitor is paused; resume it first",
        ));
    }
    Ok(HttpResponse::Accepted().json(m))
}

#[utoipa::path(context_path = "/api/v1", params(PageQuery), responses((status = 200, body = Page<MonitorResult>)), security(("bearer" = ["monitors:read"])))]
#[get("/monitors/{id}/results")]
pub async fn list_results(
    state: Authorized<perm::MonitorsRead>,
    id: web::Path<i64>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<MonitorResult>>, ApiError> {
    let id = id.into_inner();
    let lo = query.limit_offset()?;
    let (items, total) = state
        .store
        .run(move |c| results::list(c, id, lo.0, lo.1))
        .await?;
    Ok(web::Json(Page::new(items, lo, total)))
}

/// The PNG a failed browser probe left (kept `retention.screenshot_days`, at most
/// `retention.screenshots_per_monitor` per monitor).
#[utoipa::path(context_path = "/api/v1", responses((status = 200, content_type = "image/png"), (status = 404, body = shared::problem::Problem)), security(("bearer" = ["monitors:read"])))]
#[get("/monitors/{id}/results/{result_id}/screenshot")]
pub async fn screenshot(
    state: Authorized<perm::MonitorsRead>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, result_id) = path.into_inner();
    let png = state
        .store
        .run(move |c| results::screenshot(c, id, result_id))
        .await
        .map_err(ApiError::from)
        .map_err(|e| match e.code {
            ErrorCode::NotFound => ApiError::not_found(format!(
                "result {result_id} of monitor {id} has no screenshot"
            )),
            _ => e,
        })?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("Cache-Control", "private, max-age=86400"))
        .body(png))
}

pub const WINDOWS: [(&str, i64); 3] = [("1h", 3_600_000), ("24h", 86_400_000), ("7d", 604_800_000)];

/// Availability and latency percentiles over 1 h, 24 h and 7 d, from hourly rollups (windows
/// are widened to whole hours).
#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = MonitorSummary)), security(("bearer" = ["monitors:read"])))]
#[get("/monitors/{id}/summary")]
pub async fn summary(
    state: Authorized<perm::MonitorsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<MonitorSummary>, ApiError> {
    let id = id.into_inner();
    let s = state
        .store
        .run(move |c| {
            let state = results::state_of(c, id)?;
            let now = now_ms();
            let windows = WINDOWS
                .iter()
                .map(|(label, ms)| rollups::window_summary(c, id, now, label, *ms))
                .collect::<Result<Vec<_>, _>>()?;
            diesel::QueryResult::Ok(MonitorSummary {
                monitor_id: id,
                state,
                windows,
            })
        })
        .await?;
    Ok(web::Json(s))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Monitors per state.
    pub counts: std::collections::BTreeMap<String, i64>,
    pub recent_changes: Vec<StateChange>,
}

/// Counts by state and the latest state changes (the dashboard's data).
#[utoipa::path(context_path = "/api/v1", responses((status = 200, body = Overview)), security(("bearer" = ["monitors:read"])))]
#[get("/overview")]
pub async fn overview(
    state: Authorized<perm::MonitorsRead>,
) -> Result<web::Json<Overview>, ApiError> {
    let o = state
        .store
        .run(|c| {
            let counts = store::counts_by_state(c)?;
            let recent_changes = store::recent_state_changes(c, None, 20)?;
            diesel::QueryResult::Ok(Overview {
                counts,
                recent_changes,
            })
        })
        .await?;
    Ok(web::Json(o))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    pub monitor_id: Option<i64>,
    /// At most 500 (default 50).
    pub limit: Option<i64>,
}

#[utoipa::path(context_path = "/api/v1", params(ChangesQuery), responses((status = 200, body = Vec<StateChange>)), security(("bearer" = ["monitors:read"])))]
#[get("/state-changes")]
pub async fn state_changes(
    state: Authorized<perm::MonitorsRead>,
    q: web::Query<ChangesQuery>,
) -> Result<web::Json<Vec<StateChange>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field(
            ErrorCode::InvalidQuery,
            "limit",
            "must be between 1 and 500",
        ));
    }
    let monitor = q.monitor_id;
    Ok(web::Json(
        state
            .store
            .run(move |c| store::recent_state_changes(c, monitor, limit))
            .await?,
    ))
}
