//! HTTP routes: the probe API under `/api/v1` (behind the service token), and the
//! unauthenticated `/healthz`, `/readyz` and `/metrics`.

mod health;
mod metrics;
mod probe;

use crate::auth;
use actix_web::{HttpResponse, middleware::from_fn, web};
use shared::{ApiError, ErrorCode};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .service(
            web::scope("/api")
                .wrap(from_fn(auth::require_service_token))
                .route("/v1/probe", web::post().to(probe::probe))
                .route("/v1/probes:batch", web::post().to(probe::batch))
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, "no such route"))
}
