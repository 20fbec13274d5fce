//! Starting the real services in-process on port 0, exactly as their `main` does.

use crate::TestDb;
use acmangkut::{Config, Handle};
use serde_json::Value;
use shared::Secret;
use std::time::Duration;

/// Starts pageinspect on 127.0.0.1:0; returns its base URL and a handle to stop it.
pub async fn spawn_pageinspect(token: Option<&str>) -> (String, actix_web::dev::ServerHandle) {
    spawn_pageinspect_with(token, |_| {}).await
}

/// As [`spawn_pageinspect`], with the config adjusted by `tweak` first.
pub async fn spawn_pageinspect_with(
    token: Option<&str>,
    tweak: impl FnOnce(&mut pageinspect::config::PageinspectConfig),
) -> (String, actix_web::dev::ServerHandle) {
    let mut c = pageinspect::config::PageinspectConfig::defaults();
    c.server.listen = "127.0.0.1:0".into();
    c.server.workers = Some(2);
    c.log.dir = "".into();
    c.log.stdout = false;
    c.auth.service_token = token.map(Secret::new);
    c.auth.allow_anonymous = token.is_none();
    tweak(&mut c);
    let app = pageinspect::Application::build(c)
        .await
        .expect("pageinspect starts");
    let url = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (url, handle)
}

/// The bootstrap token every test acmangkut accepts; [`TestApp::http`] sends it.
pub const BOOTSTRAP_TOKEN: &str = "test-bootstrap-token-0123456789";

/// A client that sends `Authorization: Bearer <token>` with every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A running acmangkut and a client for it.
pub struct TestApp {
    pub address: String,
    /// Authenticated with [`BOOTSTRAP_TOKEN`] (every permission).
    pub http: reqwest::Client,
    /// No credentials at all.
    pub anonymous: reqwest::Client,
    pub handle: Handle,
    pub config: Config,
}

/// The test defaults: fast scheduler ticks, no log files, the given database and executor.
pub fn test_config(db: &TestDb, pageinspect_url: &str) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".into();
    c.server.workers = 2;
    c.database.url = Secret::new(db.url.clone());
    c.database.pool_size = 4;
    c.pageinspect.url = pageinspect_url.to_string();
    c.scheduler.tick_ms = 100;
    c.log.dir = "".into();
    c.log.stdout = false;
    c.metric_log.dir = "".into();
    c.iam.bootstrap_token = Some(Secret::new(BOOTSTRAP_TOKEN));
    // An empty catalog, as most tests expect; the built-ins' own tests turn it on.
    c.plans.builtin_faults = false;
    c
}

/// The usual monitor test bed: local targets, a pageinspect, and an acmangkut on a fresh
/// database (`test_config`) that probes through it. Keep every part alive for the test.
pub async fn probing() -> (
    crate::Targets,
    (String, actix_web::dev::ServerHandle),
    TestDb,
    TestApp,
) {
    let targets = crate::Targets::start().await;
    let (pi, handle) = spawn_pageinspect(None).await;
    let db = TestDb::new();
    let app = spawn_acmangkut(test_config(&db, &pi)).await;
    (targets, (pi, handle), db, app)
}

pub async fn spawn_acmangkut(config: Config) -> TestApp {
    shared::telemetry::init_for_tests();
    crate::logged::start_like_main(config).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// Sends `method path` (`body` as JSON, if any) with the app's client: the status and the
    /// JSON answered (null when none). An error status must come as problem+json.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        if status >= 400 {
            assert_eq!(
                r.headers()["content-type"],
                "application/problem+json",
                "{path}"
            );
        }
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Creates a built-in account with `roles`; panics unless 201. Returns its JSON.
    pub async fn create_user(&self, username: &str, password: &str, roles: &[&str]) -> Value {
        let r = self
            .post_json(
                "/api/v1/iam/users",
                &serde_json::json!({"username": username, "password": password, "roles": roles}),
            )
            .await;
        let status = r.status();
        let json: Value = r.json().await.expect("json");
        assert_eq!(status, 201, "create user: {json}");
        json
    }

    /// Creates a monitor and returns its JSON; panics unless 201.
    pub async fn create_monitor(&self, body: Value) -> Value {
        let r = self.post_json("/api/v1/monitors", &body).await;
        let status = r.status();
        let json: Value = r.json().await.expect("json");
        assert_eq!(status, 201, "create monitor: {json}");
        json
    }

    pub async fn monitor_count(&self) -> i64 {
        self.get_json("/api/v1/monitors?per_page=1").await["total"]
            .as_i64()
            .expect("total")
    }

    pub async fn results(&self, id: i64) -> Vec<Value> {
        let v = self
            .get_json(&format!("/api/v1/monitors/{id}/results?per_page=500"))
            .await;
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (20 s at most) until monitor `id` is in `state`; returns the monitor.
    pub async fn wait_for_state(&self, id: i64, state: &str) -> Value {
        crate::eventually(
            Duration::from_secs(20),
            &format!("monitor {id} to be {state}"),
            || async {
                let m = self.get_json(&format!("/api/v1/monitors/{id}")).await;
                (m["state"] == state).then_some(m)
            },
        )
        .await
    }

    /// The value of a metric line starting with `name` in `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        metric_sum(
            &self.get("/metrics").await.text().await.expect("metrics"),
            name,
        )
    }
}

/// The sum of the samples of the metric lines starting with `name` in a `/metrics` text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A signed-in browser session of a built-in account: its `has_session` cookie and the CSRF
/// token `GET /api/v1/auth/me` hands out, sent the way the console's scripts send them.
#[derive(Clone)]
pub struct Session {
    pub address: String,
    pub username: String,
    /// The value of the `has_session` cookie.
    pub cookie: String,
    /// The whole `Set-Cookie` header of the sign-in answer.
    pub set_cookie: String,
    /// Sent as `X-CSRF-Token` by [`Session::request`].
    pub csrf: String,
    client: reqwest::Client,
}

/// A client that sends no credentials, follows no redirects and keeps no cookies.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl Session {
    /// A request with the session cookie and the CSRF token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_without_csrf(method, path)
            .header("X-CSRF-Token", &self.csrf)
    }

    /// A request with the session cookie only (what a forged cross-site request carries).
    pub fn request_without_csrf(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .header(
                reqwest::header::COOKIE,
                format!("{}={}", acmangkut::iam::authn::SESSION_COOKIE, self.cookie),
            )
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Creates an API token of this user (`POST /api/v1/tokens`); panics unless 201. Returns
    /// the create answer, which holds the `secret`.
    pub async fn create_token(&self, name: &str, days: u64, permissions: &[&str]) -> Value {
        let r = self
            .post_json(
                "/api/v1/tokens",
                &serde_json::json!({
                    "name": name,
                    "expires_in_days": days,
                    "permissions": permissions
                }),
            )
            .await;
        let status = r.status();
        let json: Value = r.json().await.expect("json");
        assert_eq!(status, 201, "create token for {}: {json}", self.username);
        json
    }
}

/// The value of cookie `name` in a `Set-Cookie` header, if that header sets it.
pub fn cookie_value<'a>(set_cookie: &'a str, name: &str) -> Option<&'a str> {
    let (k, rest) = set_cookie.split_once('=')?;
    (k.trim() == name).then(|| rest.split(';').next().unwrap_or("").trim())
}

impl TestApp {
    /// Signs a built-in account in through `POST /api/v1/auth/login`, keeps its cookie and
    /// fetches its CSRF token; panics unless both answer 200.
    pub async fn sign_in(&self, username: &str, password: &str) -> Session {
        let client = plain_client();
        let r = client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("POST login");
        let status = r.status();
        let set_cookie = r
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| cookie_value(v, acmangkut::iam::authn::SESSION_COOKIE).is_some())
            .map(str::to_string);
        let body = r.text().await.expect("body");
        assert_eq!(status, 200, "sign in as {username}: {body}");
        let set_cookie = set_cookie.expect("the sign-in answer sets the session cookie");
        let cookie = cookie_value(&set_cookie, acmangkut::iam::authn::SESSION_COOKIE)
            .expect("session cookie")
            .to_string();
        let mut session = Session {
            address: self.address.clone(),
            username: username.to_string(),
            cookie,
            set_cookie,
            csrf: String::new(),
            client,
        };
        let me = session.get("/api/v1/auth/me").await;
        assert_eq!(me.status(), 200, "GET /api/v1/auth/me as {username}");
        let me: Value = me.json().await.expect("json");
        session.csrf = me["csrf_token"]
            .as_str()
            .expect("a session has a CSRF token")
            .to_string();
        session
    }

    /// A store of its own on this app's database, for checks behind the API's back.
    pub async fn open_store(&self) -> acmangkut::store::Store {
        let url = self.config.database.url.expose().to_string();
        tokio::task::spawn_blocking(move || acmangkut::store::Store::open(&url, 1, 5_000))
            .await
            .expect("join")
            .expect("open the app's database")
    }
}
