//! Signing in and out, shared by the API and the console: rate limits, password checks,
//! break-glass rules, sessions and their cookie, and the audit rows of each attempt.

use super::Iam;
use super::authn::SESSION_COOKIE;
use super::secrets::{dummy_hash, random_token, sha256_hex, verify_password};
use crate::store::audit::{self, Actor};
use crate::store::iam::sessions::{self, NewSession};
use crate::store::iam::users;
use crate::store::now_ms;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};
use shared::{ApiError, ErrorCode};

/// Shortest password of a built-in account, in characters.
pub const MIN_PASSWORD: usize = 12;
/// Longest password, in bytes (argon2 hashes whatever it is given).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The rule for built-in usernames, shared by the API and the console.
pub fn valid_username(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

pub fn valid_password(p: &str) -> bool {
    p.chars().count() >= MIN_PASSWORD && p.len() <= MAX_PASSWORD_BYTES
}

/// argon2id off the async workers (it takes tens of milliseconds on purpose).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || super::secrets::hash_password(&password))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("cannot hash the password: {e}"),
            )
        })
}

/// A started session: the cookie to set and who signed in.
pub struct Started {
    pub cookie: Cookie<'static>,
    pub username: String,
}

fn attempt_actor(username: &str, peer: &str) -> Actor {
    Actor {
        name: username.to_string(),
        kind: "user",
        peer: peer.to_string(),
    }
}

/// Checks a built-in account's password and starts a session. Every attempt is audited;
/// failures say only "wrong username or password", whatever the reason.
pub async fn sign_in(
    iam: &Iam,
    req: &HttpRequest,
    username: &str,
    password: &str,
) -> Result<Started, ApiError> {
    let peer = super::authn::peer_of(req);
    let actor = attempt_actor(username, &peer);
    let metrics = iam.metrics().clone();
    if let Err(wait) = iam.limiter().check(username, &peer) {
        metrics.sign_ins.with_label_values(&["rate_limited"]).inc();
        let ev = actor
            .event("auth.sign_in", "session", None)
            .outcome("rate_limited");
        iam.store().run(move |c| audit::record(c, &ev)).await?;
        let mut e = ApiError::new(
            ErrorCode::TooManyRequests,
            "too many sign-in attempts; wait before trying again",
        );
        e.retry_after_seconds = Some(wait.as_secs().max(1));
        return Err(e);
    }
    let name = username.to_string();
    let user = iam
        .store()
        .run(move |c| users::find_by_username(c, &name))
        .await?;
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let pw = password.to_string();
    let matches = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    let refusal = match &user {
        _ if !matches => Some("wrong password or unknown account"),
        Some(u) if u.source != "local" => Some("not a built-in account"),
        Some(u) if u.disabled => Some("account disabled"),
        Some(u) if u.break_glass && !iam.degraded() => {
            Some("break-glass account while IAM is not degraded")
        }
        None => Some("unknown account"),
        Some(_) => None,
    };
    let (Some(user), None) = (user, refusal) else {
        metrics.sign_ins.with_label_values(&["failure"]).inc();
        let ev = actor
            .event("auth.sign_in", "session", None)
            .outcome("failure")
            .detail(refusal.unwrap_or_default());
        iam.store().run(move |c| audit::record(c, &ev)).await?;
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "wrong username or password",
        ));
    };
    metrics.sign_ins.with_label_values(&["success"]).inc();
    let started = start_session(iam, req, user.id, &user.username, &[], "auth.sign_in").await?;
    Ok(started)
}

/// Creates a session for `user_id` (a built-in account after its password, or an OIDC user
/// after the provider's callback) and audits it.
pub async fn start_session(
    iam: &Iam,
    req: &HttpRequest,
    user_id: i64,
    username: &str,
    groups: &[String],
    action: &str,
) -> Result<Started, ApiError> {
    let peer = super::authn::peer_of(req);
    let id = random_token(32);
    let ttl_ms = iam.config().session_hours as i64 * 3_600_000;
    let now = now_ms();
    let row = NewSession {
        id_hash: sha256_hex(&id),
        user_id,
        csrf_token: random_token(24),
        groups: serde_json::to_string(groups).unwrap_or_else(|_| "[]".into()),
        peer: peer.clone(),
        created_at: now,
        expires_at: now + ttl_ms,
    };
    let ev = attempt_actor(username, &peer)
        .event(action, "session", Some(user_id.to_string()))
        .detail(if groups.is_empty() {
            String::new()
        } else {
            format!("groups: {}", groups.join(", "))
        });
    iam.store()
        .run(move |c| {
            sessions::create(c, &row)?;
            users::touch_sign_in(c, user_id)?;
            audit::record(c, &ev)
        })
        .await?;
    Ok(Started {
        cookie: session_cookie(req, id, time::Duration::milliseconds(ttl_ms)),
        username: username.to_string(),
    })
}

fn session_cookie(req: &HttpRequest, value: String, max_age: time::Duration) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(req.connection_info().scheme() == "https")
        .max_age(max_age)
        .finish()
}

/// Ends the session server-side; the answer's cookie clears the browser's copy.
pub async fn sign_out(
    iam: &Iam,
    req: &HttpRequest,
    principal: &super::Principal,
) -> Result<Cookie<'static>, ApiError> {
    if let Some((hash, _)) = principal.session.clone() {
        let ev = principal.actor().event(
            "auth.sign_out",
            "session",
            principal.user_id.map(|i| i.to_string()),
        );
        iam.store()
            .run(move |c| {
                sessions::delete(c, &hash)?;
                audit::record(c, &ev)
            })
            .await?;
    }
    let mut c = session_cookie(req, String::new(), time::Duration::ZERO);
    c.make_removal();
    Ok(c)
}
