//! The HTTP API: one module per resource. Handlers are thin: parse, call the store, answer.
//! Every error is `application/problem+json` (see `docs/API.md`).

pub mod config;
pub mod drills;
pub mod health;
pub mod iam;
pub mod inspection;
pub mod monitors;
pub mod openapi;
pub mod operations;
pub mod plans;
pub mod routes;
pub mod standard;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::{ApiError, ErrorCode};

/// Refuses a request whose path or query decodes to a NUL character (`%00`) before any
/// handler (400 naming the parameter, or `path`): no field of ours means one, and PostgreSQL
/// cannot store or compare it, so it would surface as a server error.
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let field = shared::extract::nul_in_urlencoded(req.query_string().as_bytes())
        .or_else(|| req.uri().path().contains("%00").then(|| "path".to_string()));
    if let Some(field) = field {
        return Err(ApiError::invalid(field, shared::extract::NUL_DETAIL).into());
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Registers the API routes (the table below) and the problem+json error handlers of actix's
/// extractors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|e, req| {
        let literal = routes::literal_methods_at(req.path());
        if !literal.is_empty() {
            let refused = method_not_allowed(req, &literal);
            return actix_web::error::InternalError::from_response(e, refused).into();
        }
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
    }));
    table().register(cfg);
}

// Each API route, once: registration, OpenAPI operation and security scope (see `routes`).
// The tags are the ones the document always had (the `OpenApi` derive named them after the
// module paths of its `paths(...)` list). Order matters: actix tries routes in this order.
routes::api_routes! {
    undocumented {
        "/api/openapi.json" [GET] => openapi::document,
        "/api/common/{action}" [GET, POST] => iam::switch::common,
    }
    public "super::health" health { healthz, readyz, metrics }
    public "super::auth" iam::auth { login }
    guarded "super::auth" iam::auth { logout, me }
    guarded "super::iam" iam::roles {
        list_permissions, list_roles, get_role, put_role, delete_role
    }
    guarded "super::iam" iam::users { list_users, get_user, create_user, update_user, delete_user }
    guarded "super::iam" iam::bindings { list_bindings, create_binding, delete_binding }
    guarded "super::iam" iam::manifest { apply_manifest }
    guarded "super::tokens" iam::tokens { list, create, revoke }
    guarded "super::audit" iam::audit { list, export }
    guarded "super::settings" iam::settings { get_iam, put_iam }
    guarded "super::monitors" monitors::definitions { create, list }
    guarded "super::monitors" monitors::summaries { overview, state_changes }
    guarded "super::monitors" monitors::definitions {
        get, update, delete, pause, resume, run_now
    }
    guarded "super::monitors" monitors::results { list_results, screenshot }
    guarded "super::monitors" monitors::summaries { summary }
    guarded "super::inspection::plugins" inspection::plugins {
        list, get, create, update, delete
    }
    guarded "super::inspection::rules" inspection::rules {
        list, get, versions, create, update, delete
    }
    guarded "super::inspection::tasks" inspection::tasks {
        list, get, create, update, delete, run_now
    }
    guarded "super::inspection::runs" inspection::runs { list, get, report_handler, deliveries }
    guarded "super::inspection::risks" inspection::risks { list, get, acknowledge, resolve }
    guarded "super::inspection::channels" inspection::channels {
        list, get, create, update, delete, deliveries
    }
    guarded "super::inspection::config" inspection::config { export, apply }
    guarded "super::config" config { export, apply }
    guarded "super::operations" operations {
        list, create, get, update, delete, publish, deprecate, versions, version, references
    }
    guarded "super::plans" plans {
        list, evaluate_document, create, get, update, delete, versions, version, diff,
        evaluate_saved, preview
    }
    guarded "super::plans::executions" plans::executions {
        start, list, get, events, pause, resume, skip, retry, approve, reject, abort
    }
    guarded "super::drills" drills {
        get_lever, set_lever, list, create, get, update, delete, versions, version, preview
    }
    guarded "super::drills::runs" drills::runs {
        start, list, get, journal, stop, delete, cleanup
    }
}

/// 201 Created: the new resource as the body, and where it lives in `Location`.
pub fn created(location: String, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header(("Location", location))
        .json(body)
}

/// Unknown routes answer 404 problem+json, not an empty body; a method the API does not serve
/// on one of its paths 405, with the methods it does serve there in `Allow`.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // A path a literal route serves (`/drills/lever`) is that route's, not `/drills/{id}`'s.
    let mut allowed = routes::literal_methods_at(req.path());
    if allowed.is_empty() {
        allowed = routes::methods_at(req.path());
    }
    if allowed.is_empty() {
        return Err(ApiError::not_found(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    Ok(method_not_allowed(&req, &allowed))
}

/// 405 problem+json with the methods served at the path in `Allow`.
fn method_not_allowed(req: &HttpRequest, allowed: &[actix_web::http::Method]) -> HttpResponse {
    let allow: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
    let allow = allow.join(", ");
    let refused = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} {} is not served; use {allow}", req.method(), req.path()),
    );
    let mut resp = actix_web::ResponseError::error_response(&refused);
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    resp
}
