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
    c
}

pub async fn spawn_acmangkut(config: Config) -> TestApp {
    shared::telemetry::init_for_tests();
    let app = acmangkut::Application::build(config.clone())
        .await
        .expect("acmangkut starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let http = bearer_client(BOOTSTRAP_TOKEN);
    let anonymous = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        http,
        anonymous,
        handle,
        config,
    }
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
        let text = self.get("/metrics").await.text().await.expect("metrics");
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
