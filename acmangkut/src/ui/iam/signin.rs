//! The sign-in page (built-in accounts, and the identity provider when one is configured),
//! sign-out, the OIDC redirect and callback, and the 401/403 pages of the console.
//!
//! The sign-in form is protected against login CSRF by a double-submit cookie: the page sets
//! `has_login_csrf` and the form carries the same value.

use crate::iam::{accounts, perm};
use crate::state::AppState;
use crate::state::Authorized;
use crate::store::iam::{sessions, users};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use shared::{ApiError, ErrorCode};

const LOGIN_CSRF_COOKIE: &str = "has_login_csrf";

#[derive(Template)]
#[template(path = "iam/signin.html")]
struct SignInPage {
    c: Chrome,
    t: Tr,
    error: Option<String>,
    sso: bool,
    csrf: String,
    next: String,
    next_q: String,
    username: String,
}

/// Only local paths: `next` must not send the browser to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_string()
        }
        _ => "/".into(),
    }
}

fn page(
    req: &HttpRequest,
    state: &AppState,
    ui: &Ui,
    status: StatusCode,
    next: &str,
    error: Option<String>,
    username: &str,
) -> HttpResponse {
    let t = ui.tr();
    // Kept while the browser has one: other requests (a favicon) must not replace the value
    // that a form already on screen carries.
    let csrf = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 16)
        .unwrap_or_else(|| crate::iam::secrets::random_token(18));
    let p = SignInPage {
        c: ui.chrome(t.get("signin.title"), ""),
        t,
        error,
        sso: state.iam.oidc().is_some() && !state.iam.degraded(),
        csrf: csrf.clone(),
        next: next.to_string(),
        next_q: serde_urlencoded::to_string([("", next)])
            .unwrap_or_default()
            .trim_start_matches('=')
            .to_string(),
        username: username.to_string(),
    };
    let body = p.render().unwrap_or_else(|e| e.to_string());
    let mut res = ui.html(status, body);
    // Path `/`: a 401 page of any path must see (and keep) the value already set.
    let cookie = Cookie::build(LOGIN_CSRF_COOKIE, csrf)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    let _ = res.add_cookie(&cookie);
    res
}

fn ui_of(req: &HttpRequest) -> Ui {
    Ui::of(req)
}

/// 401 with the sign-in form, for any console page asked for without a session.
pub fn unauthorized(req: &HttpRequest) -> HttpResponse {
    let ui = ui_of(req);
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return HttpResponse::Unauthorized().finish();
    };
    let next = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    page(
        req,
        state,
        &ui,
        StatusCode::UNAUTHORIZED,
        &safe_next(Some(&next)),
        None,
        "",
    )
}

/// The console's answer to a refused request: 401 → sign in, 403 → "not allowed".
pub fn refused(req: &HttpRequest, status: StatusCode) -> HttpResponse {
    if status == StatusCode::UNAUTHORIZED {
        return unauthorized(req);
    }
    let ui = ui_of(req);
    let t = ui.tr();
    let p = crate::ui::views::ErrorPage {
        c: ui.chrome(t.get("signin.forbidden_title"), ""),
        t,
        message: t.get("signin.forbidden"),
    };
    let body = p
        .render()
        .unwrap_or_else(|_| t.get("signin.forbidden").to_string());
    ui.html(StatusCode::FORBIDDEN, body)
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    ui: Ui,
    q: web::Query<NextQuery>,
) -> HttpResponse {
    let next = safe_next(q.next.as_deref());
    page(&req, &state, &ui, StatusCode::OK, &next, None, "")
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    ui: Ui,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, UiError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let cookie_csrf = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    if cookie_csrf
        .as_deref()
        .is_none_or(|c| !crate::iam::secrets::same(c, &form.csrf))
    {
        return Err(ui.fail(ApiError::new(
            ErrorCode::Forbidden,
            "sign-in form without a matching CSRF cookie",
        )));
    }
    match accounts::sign_in(&state.iam, &req, form.username.trim(), &form.password).await {
        Ok(started) => Ok(HttpResponse::SeeOther()
            .cookie(started.cookie)
            .insert_header((header::LOCATION, next))
            .finish()),
        Err(e) => {
            let t = ui.tr();
            let (status, msg) = match e.code {
                ErrorCode::TooManyRequests => {
                    (StatusCode::TOO_MANY_REQUESTS, t.get("signin.limited"))
                }
                ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, t.get("signin.failed")),
                _ => return Err(ui.fail(e)),
            };
            Ok(page(
                &req,
                &state,
                &ui,
                status,
                &next,
                Some(msg.into()),
                form.username.trim(),
            ))
        }
    }
}

pub async fn sign_out(
    auth: Authorized<perm::SignedIn>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let cookie = accounts::sign_out(&auth.iam, &req, &auth.principal).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, "/login"))
        .finish())
}

/// `<iam.public_url>/auth/oidc/callback`: never from the request (`Host`, `X-Forwarded-*`),
/// which its sender chooses; startup refuses OIDC without `iam.public_url`.
fn redirect_uri(state: &AppState) -> String {
    let base = state.iam.config().public_url.trim_end_matches('/');
    format!("{base}/auth/oidc/callback")
}

/// Leaves for the identity provider (not while IAM is degraded).
pub async fn oidc_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    ui: Ui,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, UiError> {
    let Some(provider) = state.iam.oidc().cloned() else {
        return Err(ui.fail(ApiError::not_found("no identity provider is configured")));
    };
    if state.iam.degraded() {
        return Ok(page(
            &req,
            &state,
            &ui,
            StatusCode::SERVICE_UNAVAILABLE,
            "/",
            Some(ui.tr().get("signin.degraded").into()),
            "",
        ));
    }
    let next = safe_next(q.next.as_deref());
    let (url, login) = match provider.start(&redirect_uri(&state), &next).await {
        Ok(v) => v,
        Err(_) => {
            return Ok(page(
                &req,
                &state,
                &ui,
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                Some(ui.tr().get("signin.provider_down").into()),
                "",
            ));
        }
    };
    state
        .store
        .run(move |c| sessions::start_oidc_login(c, &login))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Back from the identity provider: check `state`, redeem the code, start a session.
pub async fn oidc_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    ui: Ui,
    q: web::Query<Callback>,
) -> Result<HttpResponse, UiError> {
    let Some(provider) = state.iam.oidc().cloned() else {
        return Err(ui.fail(ApiError::not_found("no identity provider is configured")));
    };
    let q = q.into_inner();
    let (Some(code), Some(st)) = (q.code, q.state) else {
        let why = q
            .error
            .unwrap_or_else(|| "the provider sent no code".into());
        return Ok(page(
            &req,
            &state,
            &ui,
            StatusCode::UNAUTHORIZED,
            "/",
            Some(why),
            "",
        ));
    };
    let login = state
        .store
        .run(move |c| sessions::take_oidc_login(c, &st))
        .await
        .map_err(|e| ui.fail(e))?;
    let Some(login) = login else {
        return Ok(page(
            &req,
            &state,
            &ui,
            StatusCode::UNAUTHORIZED,
            "/",
            Some(ui.tr().get("signin.failed").into()),
            "",
        ));
    };
    let claims = match provider.finish(&code, &redirect_uri(&state), &login).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e.detail, "OIDC sign-in refused");
            return Ok(page(
                &req,
                &state,
                &ui,
                StatusCode::UNAUTHORIZED,
                &login.next_url,
                Some(e.detail),
                "",
            ));
        }
    };
    let (name, display) = (
        claims.username.clone(),
        claims
            .raw
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or(&claims.username)
            .to_string(),
    );
    let user = state
        .store
        .run(move |c| users::upsert_oidc(c, &name, &display))
        .await
        .map_err(|e| ui.fail(e))?;
    if user.disabled {
        return Ok(page(
            &req,
            &state,
            &ui,
            StatusCode::FORBIDDEN,
            "/",
            Some(ui.tr().get("signin.forbidden").into()),
            "",
        ));
    }
    let started = accounts::start_session(
        &state.iam,
        &req,
        user.id,
        &user.username,
        &claims.groups,
        "auth.sign_in_oidc",
    )
    .await
    .map_err(|e| ui.fail(e))?;
    Ok(HttpResponse::SeeOther()
        .cookie(started.cookie)
        .insert_header((header::LOCATION, safe_next(Some(&login.next_url))))
        .finish())
}
