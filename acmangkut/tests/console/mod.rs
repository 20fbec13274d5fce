//! The console test harness shared by `ui_iam.rs`, `ui_inspection.rs` and
//! `ui_inspection_forms.rs`: the real application on port 0 with a fresh database
//! (`has_test_db`: SQLite, or PostgreSQL per `HAS_TEST_DATABASE_URL`), an API client holding
//! the bootstrap token, and a
//! "browser": a client that keeps cookies, signs in through the form and posts forms with the
//! CSRF token it finds on the page. Each test binary uses part of it.
#![allow(dead_code)]

use acmangkut::{Application, Config};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use shared::Secret;
use std::collections::BTreeMap;
use std::sync::Mutex;

pub const BOOTSTRAP: &str = "ui-iam-test-bootstrap-token-0123";
pub const PASSWORD: &str = "correct-horse-battery-staple";

pub struct TestApp {
    pub base: String,
    /// Carries the bootstrap token: arranges users and monitors through the API.
    pub api: reqwest::Client,
    pub _db: has_test_db::TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The inspection console's app: `echo` allow-listed for command checks, `ada` (admin) and
/// `vic` (viewer); `adjust` applied to the config first.
pub async fn inspection_app(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let app = spawn_app_with(|c| {
        c.inspection
            .commands
            .insert("echo".into(), "/bin/echo".into());
        adjust(c);
    })
    .await;
    app.user("ada", &["admin"]).await;
    app.user("vic", &["viewer"]).await;
    app
}

/// [`spawn_app`] with `adjust` applied to the config first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db = has_test_db::TestDb::new();
    let mut config = Config::default();
    config.database.url = Secret::new(db.url.clone());
    config.scheduler.enabled = false;
    config.metric_log.dir = "".into();
    config.log.dir = "".into();
    config.server.listen = "127.0.0.1:0".into();
    config.server.workers = 2;
    config.iam.bootstrap_token = Some(Secret::new(BOOTSTRAP));
    config.plans.builtin_faults = false;
    adjust(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        format!("Bearer {BOOTSTRAP}").parse().expect("header"),
    );
    let api = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    TestApp { base, api, _db: db }
}

impl TestApp {
    /// A built-in account with `roles` and the test password.
    pub async fn user(&self, username: &str, roles: &[&str]) {
        let r = self
            .api
            .post(format!("{}/api/v1/iam/users", self.base))
            .json(&json!({"username": username, "password": PASSWORD, "roles": roles}))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::CREATED, "{username}");
    }

    pub async fn monitor(&self, name: &str) -> i64 {
        let r = self
            .api
            .post(format!("{}/api/v1/monitors", self.base))
            .json(&json!({"name": name, "interval_seconds": 60,
                          "probe": {"kind": "http", "target": "http://127.0.0.1:9/"}}))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    }

    pub async fn api_get(&self, path: &str) -> Value {
        self.api
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    pub async fn switch(&self, action: &str) {
        let r = reqwest::get(format!("{}/api/common/{action}", self.base))
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{action}");
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    /// A browser signed in as `username` through the sign-in form.
    pub async fn signed_in(&self, username: &str) -> Browser {
        let b = self.browser();
        let r = b.sign_in(username).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{username} signs in");
        b
    }
}

/// A client that keeps cookies as a browser does (`Set-Cookie` in, `Cookie` out).
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub jar: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().expect("jar").get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .expect("jar")
            .insert(name.into(), value.into());
    }

    pub fn keep_cookies(&self, r: &reqwest::Response) {
        let mut jar = self.jar.lock().expect("jar");
        for v in r.headers().get_all(SET_COOKIE) {
            let v = v.to_str().expect("ascii cookie");
            let Some((name, rest)) = v.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("");
            let removed = v.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            if removed {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }

    pub fn with_cookies(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let jar = self.jar.lock().expect("jar");
        if jar.is_empty() {
            return req;
        }
        let header = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        req.header(COOKIE, header)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .with_cookies(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("request");
        self.keep_cookies(&r);
        (r.status(), r.text().await.expect("body"))
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let r = self
            .with_cookies(self.http.post(format!("{}{path}", self.base)))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("encodes"))
            .send()
            .await
            .expect("request");
        self.keep_cookies(&r);
        r
    }

    /// Posts `fields` plus the `_csrf` token of the form on `page`.
    pub async fn post_from(
        &self,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let (status, html) = self.get(page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let token = csrf_of(&html);
        let mut all = fields.to_vec();
        all.push(("_csrf", &token));
        self.post(path, &all).await
    }

    /// `GET /login`, then the form with the token of its cookie and page.
    pub async fn sign_in(&self, username: &str) -> reqwest::Response {
        let (status, html) = self.get("/login").await;
        assert_eq!(status, StatusCode::OK);
        let token = csrf_of(&html);
        assert_eq!(self.cookie("has_login_csrf"), Some(token.clone()));
        self.post(
            "/login",
            &[
                ("username", username),
                ("password", PASSWORD),
                ("_csrf", &token),
                ("next", "/"),
            ],
        )
        .await
    }
}

/// The value of the first `_csrf` hidden field of a page.
pub fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="_csrf" value=""#)
        .unwrap_or_else(|| panic!("no _csrf field in {html}"))
        + r#"name="_csrf" value=""#.len();
    html[start..].split('"').next().expect("value").to_string()
}
