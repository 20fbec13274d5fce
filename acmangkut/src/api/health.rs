//! Liveness, readiness and metrics: open to all, as probes and scrapers expect.

use crate::state::AppState;
use actix_web::HttpResponse;
use actix_web::web;
use shared::ApiError;

/// Live: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready: the database answers and its migrations were applied at start.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "ready"),
        (status = 503, description = "database unavailable")
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format"))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
