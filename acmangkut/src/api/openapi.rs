//! The OpenAPI 3 document, generated from the handlers' annotations.

use actix_web::{HttpResponse, get};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HAS acmangkut API",
        description = "Monitors, results and summaries. Errors are application/problem+json."
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::monitors::create,
        super::monitors::list,
        super::monitors::get,
        super::monitors::update,
        super::monitors::delete,
        super::monitors::pause,
        super::monitors::resume,
        super::monitors::run_now,
        super::monitors::list_results,
        super::monitors::screenshot,
        super::monitors::summary,
        super::monitors::overview,
        super::monitors::state_changes,
    )
)]
pub struct ApiDoc;

#[get("/api/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
