//! The HTTP API: one module per resource. Handlers are thin: parse, call the store, answer.
//! Every error is `application/problem+json` (see `docs/API.md`).

pub mod health;
pub mod iam;
pub mod inspection;
pub mod monitors;
pub mod openapi;

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
            .route(web::get().to(iam::switch::common))
            .route(web::post().to(iam::switch::common)),
    )
    .service(
        web::scope("/api/v1")
            .service(iam::auth::login)
            .service(iam::auth::logout)
            .service(iam::auth::me)
            .service(iam::roles::list_permissions)
            .service(iam::roles::list_roles)
            .service(iam::roles::get_role)
            .service(iam::roles::put_role)
            .service(iam::roles::delete_role)
            .service(iam::users::list_users)
            .service(iam::users::get_user)
            .service(iam::users::create_user)
            .service(iam::users::update_user)
            .service(iam::users::delete_user)
            .service(iam::bindings::list_bindings)
            .service(iam::bindings::create_binding)
            .service(iam::bindings::delete_binding)
            .service(iam::manifest::apply_manifest)
            .service(iam::tokens::list)
            .service(iam::tokens::create)
            .service(iam::tokens::revoke)
            .service(iam::audit::list)
            .service(iam::audit::export)
            .service(iam::settings::get_iam)
            .service(iam::settings::put_iam)
            .service(monitors::definitions::create)
            .service(monitors::definitions::list)
            .service(monitors::summaries::overview)
            .service(monitors::summaries::state_changes)
            .service(monitors::definitions::get)
            .service(monitors::definitions::update)
            .service(monitors::definitions::delete)
            .service(monitors::definitions::pause)
            .service(monitors::definitions::resume)
            .service(monitors::definitions::run_now)
            .service(monitors::results::list_results)
            .service(monitors::results::screenshot)
            .service(monitors::summaries::summary)
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
