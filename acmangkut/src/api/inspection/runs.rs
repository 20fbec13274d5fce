//! Runs and their reports (JSON, CSV; the console prints HTML), and their notifications.

use crate::api::standard::read_by_id;
use crate::engine::inspection::report;
use crate::iam::perm;
use crate::state::Authorized;
use crate::store::inspection::channels::{self, Delivery};
use crate::store::inspection::runs as store;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::inspection::{Report, Run};
use shared::page::{Page, PageQuery};
use shared::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    pub task_id: Option<i64>,
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/inspection/runs",
    params(RunQuery),
    responses((status = 200, body = Page<Run>))
)]
pub async fn list(
    state: Authorized<perm::InspectionsRead>,
    query: web::Query<RunQuery>,
) -> Result<web::Json<Page<Run>>, ApiError> {
    let q = query.into_inner();
    let page = PageQuery {
        page: q.page,
        per_page: q.per_page,
    }
    .limit_offset()?;
    Ok(web::Json(
        state
            .store
            .run(move |c| store::list(c, q.task_id, page))
            .await?,
    ))
}

read_by_id!(
    get: "/api/v1/inspection/runs/{id}", InspectionsRead => (Run),
    |c, id| store::row(c, id)?.to_api()
);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// A run's report as JSON or CSV (one row per finding).
#[utoipa::path(
    get,
    path = "/api/v1/inspection/runs/{id}/report",
    params(ReportQuery),
    responses((status = 200, body = Report), (status = 404, body = shared::problem::Problem))
)]
pub async fn report_handler(
    state: Authorized<perm::InspectionsRead>,
    id: web::Path<i64>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::field(
                ErrorCode::InvalidQuery,
                "format",
                format!("`{other}`: use json or csv"),
            ));
        }
    };
    let r = state.store.run(move |c| report::assemble(c, id)).await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"inspection-run-{id}.csv\""),
            ))
            .body(to_csv(&r)));
    }
    Ok(HttpResponse::Ok().json(r))
}

/// One row per finding; cells a spreadsheet would run as formulas are defused.
pub fn to_csv(r: &Report) -> String {
    use crate::api::iam::audit::cell;
    let mut out = String::from(concat!(
        "run_id,task,rule,rule_version,target,level,status,change,value,duration_ms,",
        "checked_at,subject,evidence,suggestion\r\n",
    ));
    for f in &r.findings {
        let suggestion = r
            .rules
            .iter()
            .find(|v| v.rule_id == f.rule_id && v.version == f.rule_version)
            .map(|v| v.rule.suggestion.clone())
            .unwrap_or_default();
        let row = [
            r.run.id.to_string(),
            r.run.task_name.clone(),
            f.rule_name.clone(),
            f.rule_version.to_string(),
            f.target.clone(),
            f.level.as_str().to_string(),
            f.status.as_str().to_string(),
            f.change.map(|c| c.as_str().to_string()).unwrap_or_default(),
            f.value.clone().unwrap_or_default(),
            f.duration_ms.to_string(),
            f.checked_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            f.subject.clone(),
            f.evidence.clone(),
            suggestion,
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// Notifications a run caused, with every delivery attempt.
#[utoipa::path(
    get,
    path = "/api/v1/inspection/runs/{id}/deliveries",
    responses((status = 200, body = Vec<Delivery>), (status = 404, body = shared::problem::Problem))
)]
pub async fn deliveries(
    state: Authorized<perm::InspectionsRead>,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<Delivery>>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state
            .store
            .run(move |c| {
                store::row(c, id)?;
                channels::history(c, Some(id), None, 200)
            })
            .await?,
    ))
}
