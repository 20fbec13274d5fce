//! Summaries: a monitor's availability windows, the overview and the latest state changes.

use crate::engine::monitors::summary::windows;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::monitors as store;
use crate::store::monitors::results;
use crate::store::now_ms;
use actix_web::web;
use serde::Deserialize;
use shared::monitor::{MonitorSummary, StateChange};
use shared::{ApiError, ErrorCode};

/// Availability and latency percentiles over 1 h, 24 h and 7 d, from hourly rollups (windows
/// are widened to whole hours).
#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}/summary",
    responses((status = 200, body = MonitorSummary))
)]
pub async fn summary(
    state: Authorized<perm::MonitorsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<MonitorSummary>, ApiError> {
    let id = id.into_inner();
    let s = state
        .store
        .run(move |c| {
            let state = results::state_of(c, id)?;
            let windows = windows(c, id, now_ms())?;
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
#[utoipa::path(get, path = "/api/v1/overview", responses((status = 200, body = Overview)))]
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
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/state-changes",
    params(ChangesQuery),
    responses((status = 200, body = Vec<StateChange>))
)]
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
