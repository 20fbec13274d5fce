//! Service-token authentication of `/api/`: `Authorization: Bearer <auth.service_token>`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use shared::{ApiError, ErrorCode, Secret};

/// The expected token, as app data; `None` means authentication is off.
#[derive(Clone)]
pub struct ServiceToken(pub Option<Secret>);

/// Middleware for the `/api` scope: a request without the right token is answered 401 and
/// never reaches a handler, so no probe runs.
pub async fn require_service_token<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let expected = req
        .app_data::<web::Data<ServiceToken>>()
        .and_then(|t| t.0.clone());
    let Some(expected) = expected else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let problem = match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body);
        }
        Some(_) => "the bearer token is not valid",
        None => "send Authorization: Bearer <service token>",
    };
    tracing::warn!(path = req.path(), "rejected an unauthenticated API request");
    let mut response = ApiError::new(ErrorCode::Unauthorized, problem).error_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Ok(req.into_response(response).map_into_right_body())
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn only_equal_tokens_match() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
