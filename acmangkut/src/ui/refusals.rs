//! The console's one refusal handler: a 401 or 403 problem+json answered to a console path
//! (by the authentication middleware, a CSRF check or an `Authorized<perm::X>` extractor)
//! becomes the sign-in form or the "not allowed" page. IAM itself only returns errors.

use super::iam::signin;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;

/// Whether `path` is the console's (everything but the API under `/api/`).
pub fn is_console(path: &str) -> bool {
    !path.starts_with("/api/")
}

/// Middleware wrapped outside authentication, so it sees every refusal.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let console = is_console(req.path());
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if !console
        || !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        || !is_problem(&res)
    {
        return Ok(res);
    }
    let (http, _) = res.into_parts();
    let page = signin::refused(&http, status);
    Ok(ServiceResponse::new(http, page))
}

fn is_problem(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}
