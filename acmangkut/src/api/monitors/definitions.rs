//! `/api/v1/monitors` and `/api/v1/monitors/{id}`: define what to probe; pause, resume, run now.

use crate::api::created;
use crate::api::standard::read_by_id;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::monitors::{self as store, MonitorFilter};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::extract::Json;
use shared::monitor::{Monitor, MonitorInput, MonitorState};
use shared::page::{Page, PageQuery};
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<i64>,
    /// Label selector: `env=prod,team=web` (all must match).
    #[param(pattern = "^([^,]*=[^,]*(,[^,]*=[^,]*)*)?$")]
    pub label: Option<String>,
    /// `pending`, `up`, `down` or `paused`.
    #[param(pattern = "^(pending|up|down|paused)?$")]
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
#[utoipa::path(
    post,
    path = "/api/v1/monitors",
    request_body = MonitorInput,
    responses(
        (status = 201, body = Monitor),
        (status = 400, body = shared::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = shared::problem::Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    state: Authorized<perm::MonitorsWrite>,
    body: Json<MonitorInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    input.validate()?;
    let m = state
        .run_as(move |c, actor| store::create(c, actor, &input))
        .await?;
    tracing::info!(
        monitor.id = m.id,
        monitor.kind = m.probe.kind.as_str(),
        "monitor created"
    );
    Ok(created(format!("/api/v1/monitors/{}", m.id), &m))
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors",
    params(ListQuery),
    responses((status = 200, body = Page<Monitor>))
)]
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

read_by_id!(
    get: "/api/v1/monitors/{id}", MonitorsRead => (Monitor),
    |c, id| store::get(c, id)
);

/// Replace a monitor's definition; its state and history are kept.
#[utoipa::path(
    put,
    path = "/api/v1/monitors/{id}",
    request_body = MonitorInput,
    responses((status = 200, body = Monitor), (status = 404, body = shared::problem::Problem))
)]
pub async fn update(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
    body: Json<MonitorInput>,
) -> Result<web::Json<Monitor>, ApiError> {
    let (id, input) = (id.into_inner(), body.into_inner());
    input.validate()?;
    Ok(web::Json(
        state
            .run_as(move |c, actor| store::update(c, actor, id, &input))
            .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/monitors/{id}",
    responses((status = 204), (status = 404, body = shared::problem::Problem))
)]
pub async fn delete(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .run_as(move |c, actor| store::delete(c, actor, id))
        .await?;
    tracing::info!(monitor.id = id, "monitor deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/v1/monitors/{id}/pause",
    responses((status = 200, body = Monitor))
)]
pub async fn pause(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
) -> Result<web::Json<Monitor>, ApiError> {
    set_paused(state, id.into_inner(), true).await
}

#[utoipa::path(
    post,
    path = "/api/v1/monitors/{id}/resume",
    responses((status = 200, body = Monitor))
)]
pub async fn resume(
    state: Authorized<perm::MonitorsWrite>,
    id: web::Path<i64>,
) -> Result<web::Json<Monitor>, ApiError> {
    set_paused(state, id.into_inner(), false).await
}

async fn set_paused(
    state: Authorized<perm::MonitorsWrite>,
    id: i64,
    paused: bool,
) -> Result<web::Json<Monitor>, ApiError> {
    let m = state
        .run_as(move |c, actor| store::set_paused(c, actor, id, paused))
        .await?;
    Ok(web::Json(m))
}

/// Probe now instead of waiting for the interval (202: the result arrives in `/results`).
#[utoipa::path(
    post,
    path = "/api/v1/monitors/{id}/run",
    responses((status = 202, body = Monitor), (status = 409, body = shared::problem::Problem))
)]
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
