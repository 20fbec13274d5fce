//! `GET|POST /api/common/{action}`: the IAM emergency switch of this instance (see
//! [`crate::iam::switch`]). Answered only when the TCP peer is loopback and the request is not
//! one HAS or a web page sent (see [`switch::refusal`]).

use crate::iam::authn::peer_of;
use crate::iam::switch;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use shared::ApiError;

/// `closeIam`, `openiam` or `iamStatus`, in any letter case.
pub async fn common(
    req: HttpRequest,
    action: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let action = action.into_inner().to_ascii_lowercase();
    // The TCP peer, never a forwarded-for header.
    let loopback = req.peer_addr().is_some_and(|a| switch::is_loopback(a.ip()));
    let refused = if loopback {
        switch::refusal(|name| {
            // Present but not text still counts as present.
            let value = req
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("(not text)"));
            // HTTP/2 carries the host in the URI, not in a header.
            value.or_else(|| (name == "host").then(|| req.uri().host()).flatten())
        })
    } else {
        Some("the switch answers loopback callers only".to_string())
    };
    let status = switch::run(&state.iam, &action, peer_of(&req), refused).await?;
    Ok(HttpResponse::Ok().json(status))
}
