//! The HTTP API: one module per resource. Handlers are thin: parse, call the store, answer.
//! Every error is `application/problem+json` (see `docs/API.md`).

pub mod audit;
pub mod auth;
pub mod health;
pub mod iam;
pub mod inspection;
pub mod monitors;
pub mod openapi;
pub mod settings;
pub mod tokens;

use actix_web::{HttpRequest, HttpResponse, web};
use shared::{ApiError, ErrorCode};

/// Registers the API routes and the problem+json error handlers of actix's extractors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|e, _| {
        ApiError::field(ErrorCode::NotFound, "id", format!("no such resource: {e}")).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        let detail = e.to_string();
        let field = detail
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "query".into());
        ApiError::field(ErrorCode::InvalidQuery, field, detail).into()
    }))
    .service(health::healthz)
    .service(health::readyz)
    .service(health::metrics)
    .service(openapi::document)
    .service(
        web::resource("/api/common/{action}")
            .route(web::get().to(crate::iam::switch::common))
            .route(web::post().to(crate::iam::switch::common)),
    )
    .service(
        web::scope("/api/v1")
            .service(auth::login)
            .service(auth::logout)
            .service(auth::me)
            .service(iam::list_permissions)
            .service(iam::list_roles)
            .service(iam::get_role)
            .service(iam::put_role)
            .service(iam::delete_role)
            .service(iam::list_users)
            .service(iam::get_user)
            .service(iam::create_user)
            .service(iam::update_user)
            .service(iam::delete_user)
            .service(iam::list_bindings)
            .service(iam::create_binding)
            .service(iam::delete_binding)
            .service(iam::apply_manifest)
            .service(tokens::list)
            .service(tokens::create)
            .service(tokens::revoke)
            .service(audit::list)
            .service(audit::export)
            .service(settings::get_iam)
            .service(settings::put_iam)
            .service(monitors::create)
            .service(monitors::list)
            .service(monitors::overview)
            .service(monitors::state_changes)
            .service(monitors::get)
            .service(monitors::update)
            .service(monitors::delete)
            .service(monitors::pause)
            .service(monitors::resume)
            .service(monitors::run_now)
            .service(monitors::list_results)
            .service(monitors::screenshot)
            .service(monitors::summary)
            .configure(inspection::configure),
    );
}

/// Unknown routes answer 404 problem+json, not an empty body.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
