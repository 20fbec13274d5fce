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
pub mod form;
pub mod i18n;

mod dashboard;
mod detail;
mod edit;
mod list;
pub mod signin;
mod views;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use i18n::{Lang, Tr};
use shared::{ApiError, ErrorCode};
use std::future::{Ready, ready};

/// Reading pages need `monitors:read`; forms that change monitors `monitors:write`.
pub type Read = crate::iam::Authorized<crate::iam::perm::MonitorsRead>;
pub type Write = crate::iam::Authorized<crate::iam::perm::MonitorsWrite>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(assets::serve)
        .service(
            web::resource("/login")
                .route(web::get().to(signin::show))
                .route(web::post().to(signin::submit)),
        )
        .service(web::resource("/logout").route(web::post().to(signin::sign_out)))
        .service(web::resource("/auth/oidc/start").route(web::get().to(signin::oidc_start)))
        .service(web::resource("/auth/oidc/callback").route(web::get().to(signin::oidc_callback)))
        .service(web::resource("/").route(web::get().to(dashboard::show)))
        .service(
            web::resource("/monitors")
                .route(web::get().to(list::show))
                .route(web::post().to(edit::create)),
        )
        .service(
            web::resource("/monitors/new")
                .route(web::get().to(edit::new_form))
                .route(web::post().to(edit::create)),
        )
        .service(web::resource("/monitors/{id}").route(web::get().to(detail::show)))
        .service(
            web::resource("/monitors/{id}/edit")
                .route(web::get().to(edit::edit_form))
                .route(web::post().to(edit::update)),
        )
        .service(
            web::resource("/monitors/{id}/delete")
                .route(web::get().to(detail::confirm_delete))
                .route(web::post().to(detail::delete)),
        )
        .service(web::resource("/monitors/{id}/pause").route(web::post().to(detail::pause)))
        .service(web::resource("/monitors/{id}/resume").route(web::post().to(detail::resume)))
        .service(web::resource("/monitors/{id}/run").route(web::post().to(detail::run_now)));
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
        Self {
            lang,
            set_cookie,
            path: req.path().to_string(),
            query,
        }
    }

    pub fn tr(&self) -> Tr {
        Tr(self.lang)
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

    /// What the layout needs: title, active nav entry, language links, the notice.
    pub fn chrome(&self, title: impl Into<String>, active: &'static str) -> views::Chrome {
        let notice = self
            .param("notice")
            .and_then(|n| {
                NOTICES
                    .iter()
                    .find(|k| k.strip_prefix("notice.") == Some(n))
            })
            .map(|k| self.lang.t(k).to_string());
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
        }
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
    pub fn fail(&self, error: ApiError) -> UiError {
        UiError(Box::new((self.clone(), error)))
    }

    /// `303 See Other` to `to` (after a successful POST).
    pub fn redirect(&self, to: String) -> HttpResponse {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to))
            .finish()
    }
}

/// Messages that may be shown through `?notice=`; anything else is ignored.
const NOTICES: [&str; 7] = [
    "notice.run_queued",
    "notice.paused_no_run",
    "notice.saved",
    "notice.created",
    "notice.deleted",
    "notice.paused",
    "notice.resumed",
];

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
        self.0.1.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let (ui, error) = &*self.0;
        let (title, message) = match error.code {
            ErrorCode::NotFound => ("err.not_found_title", "err.not_found"),
            ErrorCode::Forbidden => ("err.title", "err.forbidden"),
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

/// A monitor id from the path; anything that is not one is a (friendly) 404.
pub fn monitor_id(ui: &Ui, raw: &str) -> Result<i64, UiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ui.fail(ApiError::not_found("no such monitor")))
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

/// A state's CSS name and its label in this language.
pub fn state_label(ui: &Ui, s: shared::monitor::MonitorState) -> (&'static str, &'static str) {
    let key = match s {
        shared::monitor::MonitorState::Pending => "state.pending",
        shared::monitor::MonitorState::Up => "state.up",
        shared::monitor::MonitorState::Degraded => "state.degraded",
        shared::monitor::MonitorState::Down => "state.down",
        shared::monitor::MonitorState::Paused => "state.paused",
    };
    (s.as_str(), ui.lang.t(key))
}

pub fn change_views(ui: &Ui, changes: &[shared::monitor::StateChange]) -> Vec<views::ChangeView> {
    changes
        .iter()
        .map(|c| {
            let (from, from_label) = state_label(ui, c.from_state);
            let (to, to_label) = state_label(ui, c.to_state);
            views::ChangeView {
                monitor_id: c.monitor_id,
                monitor_name: c.monitor_name.clone(),
                from,
                from_label,
                to,
                to_label,
                at: when(ui, Some(c.at)),
                reason: c.reason.clone().unwrap_or_default(),
            }
        })
        .collect()
}
