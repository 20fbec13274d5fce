//! Prometheus text exposition of pageinspect's own registry.

use crate::state::AppState;
use actix_web::{HttpResponse, web};
use shared::ApiError;

pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state.metrics.render().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
