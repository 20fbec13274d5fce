//! Liveness and readiness.

use crate::state::AppState;
use actix_web::{HttpResponse, web};

/// Live: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready: a probe sent now would be accepted (not at the concurrency limit).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.accepting() {
        HttpResponse::Ok()
            .json(serde_json::json!({ "status": "ready", "location": state.location }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "busy", "location": state.location }))
    }
}
