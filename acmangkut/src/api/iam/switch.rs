//! `GET|POST /api/common/{action}`: the IAM emergency switch of this instance (see
//! [`crate::iam::switch`]). Answered only when the TCP peer is loopback.

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
    let status = switch::run(&state.iam, &action, peer_of(&req), loopback).await?;
    Ok(HttpResponse::Ok().json(status))
}
