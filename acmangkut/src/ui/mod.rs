//! The browser console: server-rendered HTML pages over the same store the API uses.
//!
//! - [`i18n`]: the message catalog (English, 简体中文) and the choice of language.
//! - [`form`]: the monitor form and its parse into a `MonitorInput`.
//! - [`charts`]: chart geometry (plain functions), drawn as inline SVG by the templates.
//! - [`assets`]: the stylesheet, embedded in the binary and served under `/static/`.
//!
//! Handlers are thin: read the request, call the store, fill a view, render.

pub mod assets;
pub mod charts;
mod drills;
mod fields;
pub mod i18n;
pub mod iam;
mod inspection;
pub mod monitors;
mod operations;
mod overview;
mod plans;
pub mod refusals;
mod routes;
mod views;

/// The definition forms' kinds, as the route table names them.
use inspection::forms::{channels::Channels, plugins::Plugins, rules::Rules, tasks::Tasks};

use crate::iam::{Principal, Via};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use i18n::{Lang, Tr};
use shared::permissions::{PermSet, Permission};
use shared::{ApiError, ErrorCode};
use std::future::{Ready, ready};
use std::sync::Arc;

pub use routes::Route;

// The console's guarded routes: `ROUTES` (method, path, permission) and their registration are
// written from this one list. Each names the `perm` marker of its handler's `Authorized<perm::…>`
// (a test compares them); the handler's signature is what enforces it.
routes::console_routes! {
    "/" { GET SignedIn => overview::show }
    "/logout" { POST SignedIn => iam::signin::sign_out }
    "/monitors" {
        GET MonitorsRead => monitors::list::show,
        POST MonitorsWrite => monitors::edit::create,
    }
    "/monitors/new" {
        GET MonitorsWrite => monitors::edit::new_form,
        POST MonitorsWrite => monitors::edit::create,
    }
    "/monitors/{id}" { GET MonitorsRead => monitors::detail::show }
    "/monitors/{id}/edit" {
        GET MonitorsWrite => monitors::edit::edit_form,
        POST MonitorsWrite => monitors::edit::update,
    }
    "/monitors/{id}/delete" {
        GET MonitorsWrite => monitors::detail::confirm_delete,
        POST MonitorsWrite => monitors::detail::delete,
    }
    "/monitors/{id}/pause" { POST MonitorsWrite => monitors::detail::pause }
    "/monitors/{id}/resume" { POST MonitorsWrite => monitors::detail::resume }
    "/monitors/{id}/run" { POST MonitorsWrite => monitors::detail::run_now }
    "/audit" { GET AuditRead => iam::audit::show }
    "/tokens" {
        GET TokensRead => iam::tokens::show,
        POST TokensWrite => iam::tokens::create,
    }
    "/tokens/{id}/revoke" { POST TokensWrite => iam::tokens::revoke }
    "/admin/users" {
        GET UsersRead => iam::users::show,
        POST UsersWrite => iam::users::create,
    }
    "/admin/users/{id}/disable" { POST UsersWrite => iam::users::disable }
    "/admin/users/{id}/enable" { POST UsersWrite => iam::users::enable }
    "/admin/roles" { GET RolesRead => iam::roles::show }
    "/inspection" { GET InspectionsRead => inspection::overview::show }
    "/inspection/risks" { GET InspectionsRead => inspection::risks::show }
    "/inspection/risks/{id}/acknowledge" { POST InspectionsRun => inspection::risks::acknowledge }
    "/inspection/risks/{id}/resolve" { POST InspectionsRun => inspection::risks::resolve }
    "/inspection/tasks/new" {
        GET InspectionsWrite => inspection::forms::new_form::<Tasks>,
        POST InspectionsWrite => inspection::forms::create::<Tasks>,
    }
    "/inspection/tasks/{id}/edit" {
        GET InspectionsWrite => inspection::forms::edit_form::<Tasks>,
        POST InspectionsWrite => inspection::forms::update::<Tasks>,
    }
    "/inspection/tasks/{id}/delete" {
        GET InspectionsWrite => inspection::forms::confirm_delete::<Tasks>,
        POST InspectionsWrite => inspection::forms::delete::<Tasks>,
    }
    "/inspection/tasks/{id}" { GET InspectionsRead => inspection::tasks::show }
    "/inspection/tasks/{id}/run" { POST InspectionsRun => inspection::tasks::run_now }
    "/inspection/runs/{id}" { GET InspectionsRead => inspection::report::show }
    "/inspection/runs/{id}/print" { GET InspectionsRead => inspection::report::print }
    "/inspection/rules" { GET InspectionsRead => inspection::catalog::rules }
    "/inspection/rules/new" {
        GET InspectionsWrite => inspection::forms::new_form::<Rules>,
        POST InspectionsWrite => inspection::forms::create::<Rules>,
    }
    "/inspection/rules/{id}/edit" {
        GET InspectionsWrite => inspection::forms::edit_form::<Rules>,
        POST InspectionsWrite => inspection::forms::update::<Rules>,
    }
    "/inspection/rules/{id}/delete" {
        GET InspectionsWrite => inspection::forms::confirm_delete::<Rules>,
        POST InspectionsWrite => inspection::forms::delete::<Rules>,
    }
    "/inspection/plugins/new" {
        GET InspectionsWrite => inspection::forms::new_form::<Plugins>,
        POST InspectionsWrite => inspection::forms::create::<Plugins>,
    }
    "/inspection/plugins/{id}/edit" {
        GET InspectionsWrite => inspection::forms::edit_form::<Plugins>,
        POST InspectionsWrite => inspection::forms::update::<Plugins>,
    }
    "/inspection/plugins/{id}/delete" {
        GET InspectionsWrite => inspection::forms::confirm_delete::<Plugins>,
        POST InspectionsWrite => inspection::forms::delete::<Plugins>,
    }
    "/inspection/channels/new" {
        GET InspectionsWrite => inspection::forms::new_form::<Channels>,
        POST InspectionsWrite => inspection::forms::create::<Channels>,
    }
    "/inspection/channels/{id}/edit" {
        GET InspectionsWrite => inspection::forms::edit_form::<Channels>,
        POST InspectionsWrite => inspection::forms::update::<Channels>,
    }
    "/inspection/channels/{id}/delete" {
        GET InspectionsWrite => inspection::forms::confirm_delete::<Channels>,
        POST InspectionsWrite => inspection::forms::delete::<Channels>,
    }
    "/inspection/rules/{id}" { GET InspectionsRead => inspection::catalog::rule }
    "/inspection/plugins" { GET InspectionsRead => inspection::catalog::plugins }
    "/inspection/channels" { GET InspectionsRead => inspection::catalog::channels }
    "/inspection/config" {
        GET InspectionsRead => inspection::config::show,
        POST InspectionsWrite => inspection::config::apply,
    }
    "/operations" { GET PlansRead => operations::list }
    "/operations/new" {
        GET PlansWrite => operations::forms::new_form,
        POST PlansWrite => operations::forms::create,
    }
    "/operations/{code}" { GET PlansRead => operations::show }
    "/operations/{code}/edit" {
        GET PlansWrite => operations::forms::edit_form,
        POST PlansWrite => operations::forms::update,
    }
    "/operations/{code}/publish" { POST PlansWrite => operations::forms::publish }
    "/operations/{code}/deprecate" { POST PlansWrite => operations::forms::deprecate }
    "/operations/{code}/delete" { POST PlansWrite => operations::forms::delete }
    "/plans" { GET PlansRead => plans::list }
    "/plans/new" {
        GET PlansWrite => plans::new_form,
        POST PlansWrite => plans::create,
    }
    "/plans/{id}" { GET PlansRead => plans::show }
    "/plans/{id}/edit" {
        GET PlansWrite => plans::edit_form,
        POST PlansWrite => plans::update,
    }
    "/plans/{id}/preview" {
        GET PlansRead => plans::preview,
        POST PlansRead => plans::preview_post,
    }
    "/plans/{id}/executions" { POST PlansRun => plans::runs::start }
    "/executions/{id}" { GET PlansRead => plans::executions::show }
    "/executions/{id}/timeline" { GET PlansRead => plans::executions::fragment }
    "/executions/{id}/pause" { POST PlansRun => plans::executions::pause }
    "/executions/{id}/resume" { POST PlansRun => plans::executions::resume }
    "/executions/{id}/skip" { POST PlansRun => plans::executions::skip }
    "/executions/{id}/retry" { POST PlansRun => plans::executions::retry }
    "/executions/{id}/abort" { POST PlansRun => plans::executions::abort }
    "/executions/{id}/approve" { POST PlansApprove => plans::executions::approve }
    "/executions/{id}/reject" { POST PlansApprove => plans::executions::reject }
    "/approvals" { GET PlansApprove => plans::approvals::show }
    "/drills" { GET DrillsRead => drills::list }
    // Before `/drills/{id}`, which would otherwise take `lever` for an id.
    "/drills/lever" { POST DrillsRun => drills::lever::set }
    "/drills/{id}" { GET DrillsRead => drills::show }
    "/drills/{id}/dry-run" { POST DrillsRead => drills::dry_run }
    "/drills/{id}/runs" { POST DrillsRun => drills::start }
    "/drill-runs/{id}" { GET DrillsRead => drills::runs::show }
    "/drill-runs/{id}/stop" { POST DrillsRun => drills::runs::stop }
}

/// The public pages (sign-in, the identity provider's redirect, the stylesheet), then
/// [`ROUTES`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::serve)
        .service(
            web::resource("/login")
                .route(web::get().to(iam::signin::show))
                .route(web::post().to(iam::signin::submit)),
        )
        .service(web::resource("/auth/oidc/start").route(web::get().to(iam::signin::oidc_start)))
        .service(
            web::resource("/auth/oidc/callback").route(web::get().to(iam::signin::oidc_callback)),
        );
    guarded_routes(cfg);
}

/// The permission `GET path` needs, when `path` is a console page: `Some(None)` for "any
/// signed-in caller", `None` for a path not in [`ROUTES`].
pub fn page_permission(path: &str) -> Option<Option<Permission>> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == "GET" && *p == path)
        .map(|(_, _, perm)| perm.and_then(Permission::parse))
}

/// The navigation: `(active key, href, message key)`; an entry is shown only to callers
/// holding the permission [`ROUTES`] gives its page.
const NAV: [(&str, &str, &str); 13] = [
    ("dashboard", "/", "nav.dashboard"),
    ("monitors", "/monitors", "nav.monitors"),
    ("new", "/monitors/new", "nav.new"),
    ("inspection", "/inspection", "nav.inspection"),
    ("risks", "/inspection/risks", "nav.risks"),
    ("operations", "/operations", "nav.operations"),
    ("plans", "/plans", "nav.plans"),
    ("approvals", "/approvals", "nav.approvals"),
    ("drills", "/drills", "nav.drills"),
    ("audit", "/audit", "nav.audit"),
    ("tokens", "/tokens", "nav.tokens"),
    ("users", "/admin/users", "nav.users"),
    ("roles", "/admin/roles", "nav.roles"),
];

/// Where the emergency switch stands, as this instance sees it.
#[derive(Debug, Clone, Copy, Default)]
struct Switch {
    instance: bool,
    cluster: bool,
}

/// The request as the console sees it: the chosen language and where the switch links go.
#[derive(Debug, Clone)]
pub struct Ui {
    pub lang: Lang,
    /// `?lang=` was given: answer with a `Set-Cookie` so the choice sticks.
    set_cookie: bool,
    path: String,
    /// The query without `lang`.
    query: Vec<(String, String)>,
    /// Who is signed in (the same principal the `Authorized` extractor hands the handler).
    principal: Option<Arc<Principal>>,
    switch: Switch,
}

impl FromRequest for Ui {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

impl Ui {
    /// The console's view of a request (never fails: English is the fallback).
    pub fn of(req: &HttpRequest) -> Self {
        let mut query: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let asked = query
            .iter()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.clone());
        query.retain(|(k, _)| k != "lang");
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let cookie = header(header::COOKIE).and_then(|c| {
            c.split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == i18n::COOKIE)
                .map(|(_, v)| v)
        });
        let (lang, set_cookie) =
            i18n::negotiate(asked.as_deref(), cookie, header(header::ACCEPT_LANGUAGE));
        let switch = req
            .app_data::<web::Data<AppState>>()
            .map(|s| Switch {
                instance: s.iam.local_degraded(),
                cluster: s.iam.cluster_degraded(),
            })
            .unwrap_or_default();
        Self {
            lang,
            set_cookie,
            path: req.path().to_string(),
            query,
            principal: req.extensions().get::<Arc<Principal>>().cloned(),
            switch,
        }
    }

    /// The signed-in caller, when the middleware found one.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_deref()
    }

    /// The session's CSRF token for the page's forms ("" for bearer callers, who need none).
    pub fn csrf(&self) -> String {
        self.principal()
            .and_then(Principal::csrf_token)
            .unwrap_or_default()
            .to_string()
    }

    pub fn tr(&self) -> Tr {
        Tr(self.lang)
    }

    /// The `?page=` of a paged list: 1 (also for anything unreadable) to 1,000,000.
    pub fn page(&self) -> i64 {
        self.param("page")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, 1_000_000)
    }

    /// A query parameter (other than `lang`).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The current page in another language.
    fn switch_url(&self, lang: Lang) -> String {
        let mut q = self.query.clone();
        q.push(("lang".into(), lang.code().into()));
        format!(
            "{}?{}",
            self.path,
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    }

    /// What the layout needs: title, active nav entry, language links, the notice, who is
    /// signed in, and the banner while IAM is degraded.
    pub fn chrome(&self, title: impl Into<String>, active: &'static str) -> views::Chrome {
        let t = self.tr();
        let notice = self
            .param("notice")
            .and_then(|n| {
                NOTICES
                    .iter()
                    .find(|k| k.strip_prefix("notice.") == Some(n))
            })
            .map(|k| self.lang.t(k).to_string());
        let perms = self
            .principal()
            .map_or_else(PermSet::default, |p| p.permissions);
        let nav = match self.principal() {
            None => Vec::new(),
            Some(_) => NAV
                .iter()
                .filter(|(_, href, _)| {
                    page_permission(href).is_some_and(|p| p.is_none_or(|p| perms.contains(p)))
                })
                .map(|(key, href, label)| views::NavLink {
                    href,
                    label: t.get(label),
                    current: *key == active,
                })
                .collect(),
        };
        views::Chrome {
            title: title.into(),
            active,
            lang: self.lang.code(),
            langs: Lang::ALL
                .into_iter()
                .map(|l| views::LangLink {
                    code: l.code(),
                    name: match l {
                        Lang::En => "English",
                        Lang::ZhCn => "简体中文",
                    },
                    url: self.switch_url(l),
                    current: l == self.lang,
                })
                .collect(),
            css: assets::stylesheet_url(),
            notice,
            nav,
            user: self.principal().map(|p| user_view(t, p)),
            csrf: self.csrf(),
            degraded: self.degraded_banner(),
            perms,
        }
    }

    /// The banner's text while IAM is degraded: which switch, and what that allows.
    fn degraded_banner(&self) -> Option<views::Banner> {
        let t = self.tr();
        let which = match (self.switch.instance, self.switch.cluster) {
            (false, false) => return None,
            (true, false) => t.get("banner.degraded_instance"),
            (false, true) => t.get("banner.degraded_cluster"),
            (true, true) => t.get("banner.degraded_both"),
        };
        Some(views::Banner {
            title: t.get("banner.degraded_title"),
            which,
            note: t.get("banner.break_glass"),
        })
    }

    /// An HTML answer with `status`, setting the language cookie when asked to.
    pub fn html(&self, status: StatusCode, body: String) -> HttpResponse {
        let mut r = HttpResponse::build(status);
        r.content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::VARY, "Accept-Language, Cookie"));
        if self.set_cookie {
            r.insert_header((
                header::SET_COOKIE,
                format!(
                    "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                    i18n::COOKIE,
                    self.lang.code()
                ),
            ));
        }
        r.body(body)
    }

    pub fn render(&self, page: &impl askama::Template) -> Result<HttpResponse, UiError> {
        self.render_status(StatusCode::OK, page)
    }

    pub fn render_status(
        &self,
        status: StatusCode,
        page: &impl askama::Template,
    ) -> Result<HttpResponse, UiError> {
        let body = page
            .render()
            .map_err(|e| self.fail(ApiError::internal(e)))?;
        Ok(self.html(status, body))
    }

    /// Wraps a store error so it is answered as a page in this language.
    pub fn fail(&self, error: impl Into<ApiError>) -> UiError {
        UiError(Box::new((self.clone(), error.into())))
    }

    /// `303 See Other` to `to` (after a successful POST).
    pub fn redirect(&self, to: String) -> HttpResponse {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to))
            .finish()
    }
}

/// Messages that may be shown through `?notice=`; anything else is ignored.
const NOTICES: [&str; 22] = [
    "notice.run_queued",
    "notice.paused_no_run",
    "notice.saved",
    "notice.created",
    "notice.deleted",
    "notice.paused",
    "notice.resumed",
    "notice.token_revoked",
    "notice.user_created",
    "notice.user_disabled",
    "notice.user_enabled",
    "notice.inspection_queued",
    "notice.risk_acknowledged",
    "notice.risk_resolved",
    "notice.operation_published",
    "notice.operation_deprecated",
    "notice.execution_started",
    "notice.execution_changed",
    "notice.drill_started",
    "notice.drill_stopping",
    "notice.lever_pulled",
    "notice.lever_released",
];

/// The signed-in caller as the layout shows them.
fn user_view(t: Tr, p: &Principal) -> views::UserView {
    views::UserView {
        name: p.name.clone(),
        display_name: p.display_name.clone(),
        roles: if p.roles.is_empty() {
            t.get("user.no_roles").to_string()
        } else {
            p.roles.join(", ")
        },
        via: t.get(match p.via {
            Via::Session => "user.via_session",
            Via::OidcSession => "user.via_oidc_session",
            Via::ApiToken => "user.via_token",
            Via::Bearer => "user.via_bearer",
            Via::Bootstrap => "user.via_bootstrap",
        }),
        break_glass: p.break_glass,
        can_sign_out: p.session.is_some(),
    }
}

/// An error answered as a friendly HTML page (not problem+json) in the request's language.
#[derive(Debug)]
pub struct UiError(Box<(Ui, ApiError)>);

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.1.fmt(f)
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        self.0.1.code.http_status()
    }

    fn error_response(&self) -> HttpResponse {
        let (ui, error) = &*self.0;
        error.log();
        let (title, message) = match error.code {
            ErrorCode::NotFound => ("err.not_found_title", "err.not_found"),
            ErrorCode::Forbidden => ("err.title", "err.forbidden"),
            ErrorCode::Conflict => ("err.title", "err.conflict"),
            _ => ("err.title", "err.internal"),
        };
        let t = ui.tr();
        let page = views::ErrorPage {
            c: ui.chrome(t.get(title), ""),
            t,
            message: t.get(message),
        };
        let body = askama::Template::render(&page).unwrap_or_else(|_| t.get(message).into());
        ui.html(self.status_code(), body)
    }
}

/// Refuses form posts from other sites: a browser names the page's origin in `Origin`, which
/// must then be this host. (Clients that send no `Origin`, like curl, are let through.)
pub fn same_origin(ui: &Ui, req: &HttpRequest) -> Result<(), UiError> {
    let headers = req.headers();
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .map(HeaderValue::to_str)
        .and_then(Result::ok)
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(ui.fail(ApiError::new(ErrorCode::Forbidden, "cross-site form post")))
    }
}

/// `2024-05-01 10:00:00 UTC`, or the catalog's "never".
pub fn when(ui: &Ui, t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || ui.lang.t("never").to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// `30 s`, `5 min`, `2 h` for an interval in seconds.
pub fn interval(ui: &Ui, seconds: i64) -> String {
    let t = ui.tr();
    match seconds {
        s if s > 0 && s % 3600 == 0 => format!("{} {}", s / 3600, t.get("unit.h")),
        s if s > 0 && s % 60 == 0 => format!("{} {}", s / 60, t.get("unit.min")),
        s => format!("{s} {}", t.get("unit.s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_the_permission_its_handler_demands() {
        let from_handlers = handler_permissions();
        assert_eq!(from_handlers.len(), ROUTES.len());
        for ((method, path, written), (_, _, demanded)) in ROUTES.iter().zip(from_handlers) {
            assert_eq!(
                *written,
                demanded.map(Permission::as_str),
                "{method} {path}: ROUTES and the handler's Authorized<perm::…> disagree"
            );
        }
    }

    #[test]
    fn routes_are_unique_and_public_paths_are_not_among_them() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, _) in ROUTES {
            assert!(seen.insert((method, path)), "{method} {path} twice");
            assert!(
                !crate::iam::authn::is_public(path),
                "{path} is public: it has no place in ROUTES"
            );
        }
    }

    #[test]
    fn every_navigation_entry_is_a_page_of_the_table() {
        for (_, href, _) in NAV {
            assert!(page_permission(href).is_some(), "{href}");
        }
        assert_eq!(page_permission("/audit"), Some(Some(Permission::AuditRead)));
        assert_eq!(page_permission("/login"), None);
    }
}
