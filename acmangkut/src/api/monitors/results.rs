//! `/api/v1/monitors/{id}/results`: how each probe went, and a failed browser probe's screenshot.

use crate::iam::perm;
use crate::state::Authorized;
use crate::store::monitors::results;
use actix_web::{HttpResponse, web};
use shared::monitor::MonitorResult;
use shared::page::{Page, PageQuery};
use shared::{ApiError, ErrorCode};

#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}/results",
    params(PageQuery),
    responses((status = 200, body = Page<MonitorResult>))
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}/results/{result_id}/screenshot",
    responses(
        (status = 200, content_type = "image/png"),
        (status = 404, body = shared::problem::Problem)
    )
)]
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
