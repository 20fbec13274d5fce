//! The inspection console, driven over HTTP against the real application (port 0, fresh SQLite)
//! by a "browser" that keeps cookies and posts forms with their CSRF token: YAML apply (empty,
//! bad, dry run, real), run now, reports, risk acknowledge/resolve, and what a viewer may not do.

use acmangkut::{Application, Config};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use shared::Secret;
use std::collections::BTreeMap;
use std::sync::Mutex;

const BOOTSTRAP: &str = "ui-iam-test-bootstrap-token-0123";
const PASSWORD: &str = "correct-horse-battery-staple";

struct TestApp {
    base: String,
    /// Carries the bootstrap token: arranges users and monitors through the API.
    api: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.database.url = Secret::new(format!("sqlite://{}/has.db", dir.path().display()));
    config.scheduler.enabled = false;
    config.metric_log.dir = "".into();
    config.log.dir = "".into();
    config.server.listen = "127.0.0.1:0".into();
    config.server.workers = 2;
    config.iam.bootstrap_token = Some(Secret::new(BOOTSTRAP));
    config.inspection.tick_ms = 200;
    config
        .inspection
        .commands
        .insert("echo".into(), "/bin/echo".into());
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
    TestApp {
        base,
        api,
        _dir: dir,
    }
}

impl TestApp {
    /// A built-in account with `roles` and the test password.
    async fn user(&self, username: &str, roles: &[&str]) {
        let r = self
            .api
            .post(format!("{}/api/v1/iam/users", self.base))
            .json(&json!({"username": username, "password": PASSWORD, "roles": roles}))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::CREATED, "{username}");
    }

    async fn api_get(&self, path: &str) -> Value {
        self.api
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    fn browser(&self) -> Browser {
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
    async fn signed_in(&self, username: &str) -> Browser {
        let b = self.browser();
        let r = b.sign_in(username).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{username} signs in");
        b
    }
}

/// A client that keeps cookies as a browser does (`Set-Cookie` in, `Cookie` out).
struct Browser {
    base: String,
    http: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().expect("jar").get(name).cloned()
    }

    fn keep_cookies(&self, r: &reqwest::Response) {
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

    fn with_cookies(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
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

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .with_cookies(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("request");
        self.keep_cookies(&r);
        (r.status(), r.text().await.expect("body"))
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
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
    async fn post_from(
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
    async fn sign_in(&self, username: &str) -> reqwest::Response {
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
fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="_csrf" value=""#)
        .unwrap_or_else(|| panic!("no _csrf field in {html}"))
        + r#"name="_csrf" value=""#.len();
    html[start..].split('"').next().expect("value").to_string()
}

const YAML: &str = r#"
channels:
  - name: ops-hook
    spec:
      kind: webhook
      url: http://127.0.0.1:9/hook
rules:
  - name: echo-ok
    plugin: command
    level: high
    params: {command: echo, args: ["ok {{ target }}"], stdout_contains: ok}
    suggestion: Nothing to do.
  - name: echo-bad
    plugin: command
    level: high
    params: {command: echo, args: ["hello <b>"], stdout_contains: nope}
    suggestion: "Fix <it> & restart;\nthen check again."
    labels: {team: db}
  - name: echo-medium
    plugin: command
    level: medium
    params: {command: echo, args: ["x"], stdout_contains: y}
tasks:
  - name: nightly
    rules: [echo-ok, echo-bad, echo-medium]
    targets: [{name: db1, vars: {port: "5432"}}, {name: db2}]
    schedule: "0 2 * * *"
    timezone: Asia/Shanghai
    notify: [{channel: ops-hook, min_level: medium, when: always}]
"#;

#[tokio::test]
async fn the_inspection_console_applies_yaml_runs_tasks_shows_reports_and_acts_on_risks() {
    let app = spawn_app().await;
    app.user("ada", &["admin"]).await;
    app.user("vic", &["viewer"]).await;
    let b = app.signed_in("ada").await;

    let (s, html) = b.get("/inspection?lang=en").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("href=\"/inspection\"") && html.contains(">Risks<"),
        "nav"
    );

    // empty apply
    let r = b
        .post_from(
            "/inspection/config",
            "/inspection/config",
            &[("yaml", "  ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("present");
    assert!(body.contains("paste a YAML document"), "{body}");
    // bad YAML
    let r = b
        .post_from(
            "/inspection/config",
            "/inspection/config",
            &[(
                "yaml",
                "rules:\n  - name: a\n    plugin: tcp\n    level: urgent\n",
            )],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("present");
    assert!(body.contains("rules[0].level"), "{body}");
    // dry run
    let r = b
        .post_from(
            "/inspection/config",
            "/inspection/config",
            &[("yaml", YAML), ("dry_run", "on")],
        )
        .await;
    let st = r.status();
    let body = r.text().await.expect("present");
    assert_eq!(st, StatusCode::OK, "{body}");
    let v = app.api_get("/inspection/tasks").await;
    assert_eq!(
        v.as_array().expect("present").len(),
        0,
        "dry run changed nothing"
    );
    // apply
    let r = b
        .post_from(
            "/inspection/config",
            "/inspection/config",
            &[("yaml", YAML)],
        )
        .await;
    let st = r.status();
    let body = r.text().await.expect("present");
    assert_eq!(st, StatusCode::OK, "{body}");
    let v = app.api_get("/inspection/tasks").await;
    let task = v[0]["id"].as_i64().expect("present");

    let (s, html) = b.get(&format!("/inspection/tasks/{task}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("nightly"),
        "the task page names the task: {html}"
    );
    let r = b
        .post_from(
            &format!("/inspection/tasks/{task}"),
            &format!("/inspection/tasks/{task}/run"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = r.headers()[LOCATION].to_str().expect("present").to_string();
    let (s, html) = b.get(&loc).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("A run was queued"), "{html}");

    let mut run = 0;
    for _ in 0..100 {
        let v = app
            .api_get(&format!("/inspection/runs?task_id={task}"))
            .await;
        if v["items"][0]["state"] == "completed" {
            run = v["items"][0]["id"].as_i64().expect("present");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(run > 0, "run finished");
    // second run for changes + chart
    let r = b
        .post_from(
            &format!("/inspection/tasks/{task}"),
            &format!("/inspection/tasks/{task}/run"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut run2 = 0;
    for _ in 0..100 {
        let v = app
            .api_get(&format!("/inspection/runs?task_id={task}"))
            .await;
        if v["items"][0]["state"] == "completed"
            && v["items"][0]["id"].as_i64().expect("present") != run
        {
            run2 = v["items"][0]["id"].as_i64().expect("present");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(run2 > 0);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    for (_name, path) in [
        ("overview", "/inspection".to_string()),
        ("overview_zh", "/inspection?lang=zh-CN".to_string()),
        ("task", format!("/inspection/tasks/{task}?lang=en")),
        ("run", format!("/inspection/runs/{run2}")),
        ("run1", format!("/inspection/runs/{run}")),
        ("print", format!("/inspection/runs/{run2}/print")),
        ("rules", "/inspection/rules".to_string()),
        (
            "rules_filtered",
            "/inspection/rules?level=high&q=bad".to_string(),
        ),
        ("rules_bad", "/inspection/rules?level=urgent".to_string()),
        ("plugins", "/inspection/plugins".to_string()),
        ("channels", "/inspection/channels".to_string()),
        ("config", "/inspection/config".to_string()),
        ("risks", "/inspection/risks?lang=en".to_string()),
        ("risks_bad", "/inspection/risks?level=urgent".to_string()),
        ("risks_zh", "/inspection/risks?lang=zh-CN".to_string()),
    ] {
        let (s, html) = b.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
    }
    let rule = app.api_get("/inspection/rules").await[0]["id"]
        .as_i64()
        .expect("present");
    let (s, html) = b.get(&format!("/inspection/rules/{rule}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("echo-"),
        "the rule page names the rule: {html}"
    );
    for path in [
        "/inspection/runs/999999",
        "/inspection/tasks/abc",
        "/inspection/rules/0",
        "/inspection/runs/999/print",
    ] {
        let (s, _) = b.get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }

    let risks = app.api_get("/inspection/risks").await;
    let risk = risks["items"][0]["id"].as_i64().expect("a risk event");
    let back = "/inspection/risks?level=high";
    b.get("/inspection?lang=en").await;
    let r = b
        .post_from(
            back,
            &format!("/inspection/risks/{risk}/acknowledge"),
            &[("comment", " "), ("back", back)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.expect("present");
    assert!(body.contains("Say what was done"), "{body}");
    let r = b
        .post_from(
            back,
            &format!("/inspection/risks/{risk}/acknowledge"),
            &[("comment", "looking <into> it"), ("back", back)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        "/inspection/risks?level=high&notice=risk_acknowledged"
    );
    let r = b
        .post_from(
            back,
            &format!("/inspection/risks/{risk}/acknowledge"),
            &[("comment", "again"), ("back", back)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = b
        .post_from(
            back,
            &format!("/inspection/risks/{risk}/resolve"),
            &[("comment", "fixed"), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        "/inspection/risks?notice=risk_resolved"
    );
    let r = b
        .post_from(
            back,
            "/inspection/risks/999999/resolve",
            &[("comment", "fixed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, html) = b.get("/inspection/risks?state=all&lang=en").await;
    assert!(
        html.contains("fixed"),
        "the resolved event and its comment: {html}"
    );

    let v = app.signed_in("vic").await;
    let (s, html) = v.get(&format!("/inspection/tasks/{task}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("/run\""), "no run-now for a viewer");
    let (s, html) = v.get("/inspection/config").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !html.contains("name=\"yaml\""),
        "no apply form for a viewer"
    );
    let r = v
        .post_from(
            "/inspection/config",
            &format!("/inspection/tasks/{task}/run"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
