//! Authentication middleware: every request outside the public paths carries a valid session
//! cookie or bearer token, or is answered 401 problem+json here (the console turns that into
//! its sign-in page: `ui::refusals`). The [`Principal`] goes into the request's extensions for
//! [`super::guard`].
//! Cookie-authenticated requests that change something must carry the session's CSRF token.

use super::Iam;
use super::oidc::Mode;
use super::principal::{Principal, Via};
use super::secrets::{same, sha256_hex};
use crate::store::audit;
use crate::store::iam::sessions;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use shared::permissions::PermSet;
use shared::{ApiError, ErrorCode};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "has_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "_csrf";
/// Prefix of API tokens, so they are told apart from JWTs without parsing.
pub const TOKEN_PREFIX: &str = "has_";

/// Paths open without credentials: probes and scrapers, the sign-in pages and their assets,
/// and the loopback-only emergency switch (which checks the peer itself).
pub fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/metrics" | "/login" | "/api/v1/auth/login"
    ) || path.starts_with("/static/")
        || path.starts_with("/auth/oidc/")
        || path
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case("/api/common/"))
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if is_public(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(iam) = req.app_data::<Iam>().cloned() else {
        let e = ApiError::new(ErrorCode::Internal, "application state missing");
        return Ok(req.into_response(e.error_response()));
    };
    let principal = match resolve(&iam, &req).await {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(unauthenticated(req, None)),
        Err(e) if e.code == ErrorCode::Unauthorized => return Ok(unauthenticated(req, Some(e))),
        Err(e) => return Ok(req.into_response(e.error_response())),
    };
    if principal.via.needs_csrf()
        && !is_safe(req.method())
        && let Err(e) = check_csrf(&mut req, &principal).await
    {
        return Ok(req.into_response(e.error_response()));
    }
    if principal.via == Via::Bootstrap
        && is_safe(req.method())
        && iam.bootstrap_read_due(&principal.peer)
    {
        let ev = principal
            .actor()
            .event("bootstrap.read", "api", None)
            .detail(format!(
                "{} {} (reads are audited once a minute per address)",
                req.method(),
                req.path()
            ));
        if let Err(e) = iam.store().run(move |c| audit::record(c, &ev)).await {
            return Ok(req.into_response(ApiError::from(e).error_response()));
        }
    }
    req.extensions_mut().insert(Arc::new(principal));
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// 401 problem+json with `WWW-Authenticate: Bearer` (a console page gets the sign-in form
/// instead, from the console's refusal handler).
fn unauthenticated(req: ServiceRequest, e: Option<ApiError>) -> ServiceResponse<BoxBody> {
    let e = e.unwrap_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "sign in, or send Authorization: Bearer <API token>",
        )
    });
    let mut res = e.error_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    req.into_response(res)
}

pub fn peer_of(req: &actix_web::HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn bearer(req: &ServiceRequest) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("");
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(ApiError::field(
            ErrorCode::Unauthorized,
            "Authorization",
            "use `Authorization: Bearer <token>`",
        )),
    }
}

pub fn session_cookie(req: &actix_web::HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

fn invalid(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, detail)
}

async fn resolve(iam: &Iam, req: &ServiceRequest) -> Result<Option<Principal>, ApiError> {
    let peer = peer_of(req.request());
    if let Some(token) = bearer(req)? {
        if let Some(boot) = &iam.config().bootstrap_token
            && same(&token, boot.expose())
        {
            return Ok(Some(Principal {
                name: "bootstrap".into(),
                display_name: "bootstrap token".into(),
                via: Via::Bootstrap,
                user_id: None,
                roles: vec!["admin".into()],
                permissions: PermSet::all(),
                break_glass: false,
                session: None,
                token_id: None,
                peer,
            }));
        }
        if token.starts_with(TOKEN_PREFIX) {
            return api_token(iam, &token, peer).await.map(Some);
        }
        return jwt(iam, &token, peer).await.map(Some);
    }
    let Some(cookie) = session_cookie(req.request()) else {
        return Ok(None);
    };
    let hash = sha256_hex(&cookie);
    let found = {
        let hash = hash.clone();
        iam.store().run(move |c| sessions::find(c, &hash)).await?
    };
    let Some(s) = found else {
        return Err(invalid("the session has ended; sign in again"));
    };
    usable(iam, s.user.disabled, s.user.break_glass)?;
    let access = iam.access().await?;
    let roles = access.roles_of(&s.user.username, &s.groups);
    Ok(Some(Principal {
        permissions: access.permissions_of_roles(&roles),
        roles,
        via: if s.user.source == "oidc" {
            Via::OidcSession
        } else {
            Via::Session
        },
        user_id: Some(s.user.id),
        break_glass: s.user.break_glass,
        session: Some((hash, s.csrf_token)),
        token_id: None,
        name: s.user.username,
        display_name: s.user.display_name,
        peer,
    }))
}

/// Disabled accounts never work; break-glass accounts only while IAM is degraded.
fn usable(iam: &Iam, disabled: bool, break_glass: bool) -> Result<(), ApiError> {
    if disabled {
        return Err(invalid("this account is disabled"));
    }
    if break_glass && !iam.degraded() {
        return Err(invalid(
            "break-glass accounts work only while IAM is degraded (closeIam)",
        ));
    }
    Ok(())
}

async fn api_token(iam: &Iam, token: &str, peer: String) -> Result<Principal, ApiError> {
    let Some(found) = iam.api_token(sha256_hex(token)).await? else {
        return Err(invalid("the API token is unknown, expired or revoked"));
    };
    let (t, user) = &*found;
    usable(iam, user.disabled, user.break_glass)?;
    let access = iam.access().await?;
    let roles = access.roles_of(&user.username, &[]);
    let own = PermSet::parse(t.permission_names().iter().map(String::as_str)).unwrap_or_default();
    iam.note_token_use(t.id);
    Ok(Principal {
        // A token never has more than its owner has now.
        permissions: access.permissions_of_roles(&roles).intersect(own),
        roles,
        via: Via::ApiToken,
        user_id: Some(user.id),
        break_glass: user.break_glass,
        session: None,
        token_id: Some(t.id),
        name: user.username.clone(),
        display_name: user.display_name.clone(),
        peer,
    })
}

async fn jwt(iam: &Iam, token: &str, peer: String) -> Result<Principal, ApiError> {
    let Some(provider) = iam.oidc() else {
        return Err(invalid(
            "unknown bearer token (no OIDC provider is configured)",
        ));
    };
    let mode = if iam.degraded() {
        Mode::Offline
    } else {
        Mode::Online
    };
    let claims = provider.verify_access_token(token, mode).await?;
    let access = iam.access().await?;
    let roles = access.roles_of(&claims.username, &claims.groups);
    Ok(Principal {
        permissions: access.permissions_of_roles(&roles),
        roles,
        via: Via::Bearer,
        user_id: None,
        break_glass: false,
        session: None,
        token_id: None,
        display_name: claims.username.clone(),
        name: claims.username,
        peer,
    })
}

/// The CSRF token of a cookie session: header `X-CSRF-Token`, or the `_csrf` field of a form
/// (the body is read here and handed back to the handler unchanged).
async fn check_csrf(req: &mut ServiceRequest, p: &Principal) -> Result<(), ApiError> {
    let expected = p.csrf_token().unwrap_or_default().to_string();
    let missing = || {
        ApiError::field(
            ErrorCode::Forbidden,
            CSRF_FIELD,
            "missing or wrong CSRF token: reload the page and try again",
        )
    };
    if let Some(h) = req.headers().get(CSRF_HEADER) {
        return if same(h.to_str().unwrap_or(""), &expected) {
            Ok(())
        } else {
            Err(missing())
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(missing());
    }
    let body = req
        .extract::<web::Bytes>()
        .await
        .map_err(|e| ApiError::new(ErrorCode::PayloadTooLarge, e.to_string()))?;
    let given = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|kv| {
            kv.into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
        });
    req.set_payload(actix_web::dev::Payload::from(body));
    match given {
        Some(g) if same(&g, &expected) => Ok(()),
        _ => Err(missing()),
    }
}
