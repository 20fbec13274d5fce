//! The browser console, driven over HTTP against the real application (port 0, a fresh database
//! from `has_test_db`: SQLite, or PostgreSQL per `HAS_TEST_DATABASE_URL`).

use acmangkut::store::monitors::results::{self, Outcome};
use acmangkut::store::schema::monitors;
use acmangkut::{Application, Config};
use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use shared::Secret;
use shared::probe::{
    BrowserReport, FailureReason, PhaseTimings, ProbeKind, ProbeResult, StepReport,
};

/// Every request of these tests carries the bootstrap token (bearer: no CSRF token needed).
const BOOTSTRAP: &str = "ui-test-bootstrap-token-0123";

struct TestApp {
    base: String,
    http: reqwest::Client,
    app_state: acmangkut::state::AppState,
    _db: has_test_db::TestDb,
}

async fn spawn_app() -> TestApp {
    let db = has_test_db::TestDb::new();
    let mut config = Config::default();
    config.database.url = Secret::new(db.url.clone());
    config.scheduler.enabled = false;
    config.metric_log.dir = "".into();
    config.log.dir = "".into();
    config.server.listen = "127.0.0.1:0".into();
    config.server.workers = 2;
    config.iam.bootstrap_token = Some(Secret::new(BOOTSTRAP));
    config
        .pageinspect
        .locations
        .insert("eu-west".into(), "http://127.0.0.1:9".into());
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let app_state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_static(concat!(
            "Bearer ",
            "ui-test-bootstrap-token-0123"
        )),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client");
    TestApp {
        base,
        http,
        app_state,
        _db: db,
    }
}

impl TestApp {
    async fn create(&self, body: Value) -> i64 {
        let r = self
            .http
            .post(format!("{}/api/v1/monitors", self.base))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::CREATED, "{body}");
        r.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id")
    }

    async fn api(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/api/v1{path}", self.base))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        self.get_with(path, &[]).await
    }

    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        if status != StatusCode::NOT_MODIFIED {
            let ct = r
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            assert!(ct.starts_with("text/html"), "{path}: {ct}");
        }
        (status, r.text().await.expect("body"))
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("encodes"))
            .send()
            .await
            .expect("request")
    }

    /// Records probe results for `id` as the scheduler would (through a lease of our own):
    /// `(minutes ago, latency in ms, success)`.
    async fn record(&self, id: i64, points: &[(i64, f64, bool)]) {
        let runs = points
            .iter()
            .map(|&(minutes_ago, ms, ok)| vec![probe_result(None, minutes_ago, ms, ok)])
            .collect();
        self.record_runs(id, runs).await;
    }

    /// Records runs of `id`, each with one final result per location.
    async fn record_runs(&self, id: i64, runs: Vec<Vec<ProbeResult>>) {
        let now = chrono::Utc::now();
        let outcomes: Vec<Outcome> = runs
            .into_iter()
            .map(|results| Outcome {
                monitor_id: id,
                scheduled_at: now.timestamp_millis(),
                results,
            })
            .collect();
        self.app_state
            .store
            .run(move |conn| {
                acmangkut::db!(&mut *conn, |c| diesel::update(monitors::table.find(id))
                    .set(monitors::lease_owner.eq(Some("ui-test")))
                    .execute(c))?;
                results::record_batch(conn, "ui-test", &outcomes)
            })
            .await
            .expect("recorded");
    }
}

/// An http result `minutes_ago`, from `location` (`None`: the default).
fn probe_result(location: Option<&str>, minutes_ago: i64, ms: f64, ok: bool) -> ProbeResult {
    ProbeResult {
        kind: ProbeKind::Http,
        target: "http://127.0.0.1:9/".into(),
        success: ok,
        failure_reason: (!ok).then_some(FailureReason::ConnectionRefused),
        error: (!ok).then(|| "connection refused by peer".into()),
        started_at: chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
        duration_seconds: ms / 1000.0,
        phases: PhaseTimings::default(),
        status_code: ok.then_some(200),
        certificate_expiry: None,
        resolved_ip: None,
        conditions: Vec::new(),
        location: location.map(str::to_string),
        attempt: 1,
        previous_attempts: Vec::new(),
        browser: None,
        screenshot_png_base64: None,
    }
}

/// A 1×1 PNG.
const TINY_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA\
    60e6kgAAAABJRU5ErkJggg==";

fn http_monitor(name: &str) -> Value {
    json!({
        "name": name,
        "probe": {"kind": "http", "target": "http://127.0.0.1:9/"},
        "interval_seconds": 60
    })
}

#[tokio::test]
async fn the_dashboard_counts_monitors_by_state_and_draws_them() {
    let app = spawn_app().await;
    let (_, empty) = app.get("/").await;
    assert!(empty.contains(r#"data-state="total">0<"#), "{empty}");
    for name in ["a", "b", "c"] {
        app.create(http_monitor(name)).await;
    }
    let id = app.create(http_monitor("d")).await;
    let r = app.post_form(&format!("/monitors/{id}/pause"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (status, html) = app.get("/").await;

    assert_eq!(status, StatusCode::OK);
    for (state, n) in [
        ("total", 4),
        ("pending", 3),
        ("paused", 1),
        ("up", 0),
        ("down", 0),
    ] {
        assert!(
            html.contains(&format!(r#"data-state="{state}">{n}<"#)),
            "{state}: {html}"
        );
    }
    assert!(html.contains(r#"<svg class="chart bars""#));
    assert!(html.contains("<title>Monitors by state</title>"));
    assert!(
        html.contains("Pending: 3, Up: 0, Degraded: 0, Down: 0, Paused: 1"),
        "text fallback"
    );
    assert!(html.contains("Recent state changes"));
}

#[tokio::test]
async fn the_list_filters_by_state_labels_and_text_and_pages() {
    let app = spawn_app().await;
    let with_env = |name: &str, env: &str| {
        json!({"name": name, "labels": {"env": env},
               "probe": {"kind": "tcp", "target": format!("{name}.internal:443")}})
    };
    app.create(with_env("web", "prod")).await;
    app.create(with_env("db", "dev")).await;
    let api = app.create(with_env("api", "prod")).await;
    app.post_form(&format!("/monitors/{api}/pause"), &[]).await;
    let names = |html: &str| {
        ["web", "db", "api"]
            .into_iter()
            .filter(|n| html.contains(&format!(">{n}</a>")))
            .collect::<Vec<_>>()
    };

    let cases = [
        ("/monitors", vec!["web", "db", "api"]),
        ("/monitors?label=env%3Dprod", vec!["web", "api"]),
        ("/monitors?q=db.internal", vec!["db"]),
        ("/monitors?state=paused", vec!["api"]),
        ("/monitors?state=pending&label=env%3Dprod", vec!["web"]),
        ("/monitors?q=nothing-like-this", vec![]),
    ];
    for (path, want) in cases {
        let (status, html) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(names(&html), want, "{path}");
    }
    let (_, html) = app.get("/monitors").await;
    assert!(html.contains("db.internal:443") && html.contains("<span class=\"kind\">tcp</span>"));
    assert!(html.contains(r#"class="badge s-paused""#));
    let (status, html) = app.get("/monitors?label=broken").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("key=value pairs"),
        "a bad selector is explained"
    );

    for i in 0..24 {
        app.create(http_monitor(&format!("bulk-{i:02}"))).await;
    }
    let (_, first) = app.get("/monitors").await;
    assert!(first.contains("1–25") && first.contains(r#"rel="next" href="/monitors?page=2""#));
    let (_, second) = app.get("/monitors?page=2").await;
    assert!(second.contains("26–27") && second.contains(r#"rel="prev""#));
    assert!(!second.contains(r#"rel="next""#));
}

#[tokio::test]
async fn the_detail_page_shows_the_definition_charts_and_results() {
    let app = spawn_app().await;
    let id = app
        .create(json!({"name": "checkout", "description": "the shop",
            "labels": {"team": "pay"},
            "probe": {"kind": "http", "target": "https://shop.example/health",
                      "conditions": ["[STATUS] == 200"], "method": "HEAD"}}))
        .await;
    let mut points: Vec<(i64, f64, bool)> = (0..30)
        .map(|i| (i * 4, 40.0 + i as f64, i % 7 != 3))
        .collect();
    points.push((200, 500.0, false));
    app.record(id, &points).await;

    let (status, html) = app.get(&format!("/monitors/{id}")).await;

    assert_eq!(status, StatusCode::OK);
    for needle in [
        "checkout",
        "the shop",
        "https://shop.example/health",
        "[STATUS] == 200",
        "team=pay",
        "HEAD",
        // latency chart: accessible, with axes in ms and failures marked
        r#"<svg class="chart latency" id="latency-chart""#,
        r#"aria-labelledby="latency-title latency-desc""#,
        r#"<polyline class="series" points=""#,
        r#"<circle class="failure""#,
        "500 ms</text>",
        "0 ms</text>",
        r#"<details class="fallback">"#,
        // availability bars
        r#"id="bar24""#,
        r#"id="bar7d""#,
        r#"class="seg a-none""#,
        // summary windows and results
        ">1h<",
        ">24h<",
        ">7d<",
        "connection_refused: connection refused by peer",
        "Recent state changes",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let failures = points.iter().filter(|p| !p.2).count();
    assert_eq!(html.matches(r#"<circle class="failure""#).count(), failures);
    let bar24 = html
        .split(r#"id="bar24""#)
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .unwrap_or("");
    assert_eq!(
        bar24.matches("<rect class=\"seg").count(),
        24,
        "one segment per hour"
    );
    assert!(
        bar24.contains("seg a-good") || bar24.contains("seg a-bad") || bar24.contains("seg a-warn"),
        "hours with checks are coloured"
    );
    let bar7d = html
        .split(r#"id="bar7d""#)
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .unwrap_or("");
    assert_eq!(bar7d.matches("<rect class=\"seg").count(), 168);
    for action in ["pause", "run", "delete", "edit"] {
        assert!(
            html.contains(&format!("/monitors/{id}/{action}")),
            "{action}"
        );
    }
}

#[tokio::test]
async fn an_unknown_monitor_is_a_friendly_page_in_the_chosen_language() {
    let app = spawn_app().await;
    for path in [
        "/monitors/4242",
        "/monitors/not-a-number",
        "/monitors/4242/edit",
        "/monitors/0/delete",
    ] {
        let (status, html) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            html.contains("Not found") && html.contains(r#"href="/monitors""#),
            "{path}"
        );
    }
    let (status, html) = app
        .get_with("/monitors/4242", &[("accept-language", "zh-CN,zh;q=0.9")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("未找到"), "{html}");
    let r = app.post_form("/monitors/4242/pause", &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

fn good_form(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.to_string()),
        ("kind", "http".into()),
        ("target", "http://127.0.0.1:9/health".into()),
        ("timeout_ms", "3000".into()),
        ("interval_seconds", "30".into()),
        ("failure_threshold", "2".into()),
        ("success_threshold", "1".into()),
        ("conditions", "[STATUS] == 200\r\n".into()),
        ("labels", "env=prod\r\nteam=web".into()),
        ("headers", "Accept: text/html".into()),
        ("method", "GET".into()),
        ("ip_preference", "any".into()),
    ]
}

fn with(
    form: &[(&'static str, String)],
    key: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    let mut f: Vec<_> = form.iter().filter(|(k, _)| *k != key).cloned().collect();
    f.push((key, value.to_string()));
    f
}

fn as_refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_bad_form_is_shown_again_with_the_error_beside_the_field_and_saves_nothing() {
    let app = spawn_app().await;
    let base = good_form("shop");
    // (field to change, bad value, field that must carry the error, why it must fail)
    let cases = [
        (
            "target",
            "not a url",
            "target",
            "an http target must be an absolute URL",
        ),
        (
            "interval_seconds",
            "soon",
            "interval_seconds",
            "not a number",
        ),
        (
            "interval_seconds",
            "0",
            "interval_seconds",
            "below the minimum",
        ),
        ("timeout_ms", "600000", "timeout_ms", "above the maximum"),
        (
            "conditions",
            "[STATUS] == 200\n\n[STATUS] = 1",
            "conditions",
            "the second condition does not parse",
        ),
        (
            "labels",
            "env=prod\nBad=1",
            "labels",
            "label keys are lower case",
        ),
        ("labels", "env prod", "labels", "a label line needs ="),
        (
            "headers",
            "Accept text/html",
            "headers",
            "a header line needs :",
        ),
        ("kind", "ftp", "kind", "unknown probe kind"),
        ("name", "   ", "name", "the name is blank"),
        ("max_redirects", "99", "max_redirects", "too many redirects"),
    ];
    for (key, bad, field, why) in cases {
        let form = with(&base, key, bad);
        let r = app.post_form("/monitors", &as_refs(&form)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let html = r.text().await.expect("body");
        let marker = format!(r#"<p class="field-error" id="e-{field}" data-field="{field}">"#);
        assert!(html.contains(&marker), "{why}: no error at {field}");
        assert!(
            html.contains(&format!(r#"aria-describedby="e-{field}""#)),
            "{why}: the input points at its error"
        );
        assert!(
            html.contains("http://127.0.0.1:9/health") || key == "target",
            "{why}: values are kept"
        );
        if key == "conditions" {
            assert!(html.contains("line 3: "), "the error names the line");
            assert!(
                html.contains("[STATUS] = 1</textarea>"),
                "the textarea keeps the input"
            );
        }
    }
    let page = app.api("/monitors").await;
    assert_eq!(page["total"], 0, "nothing was written");
}

#[tokio::test]
async fn a_good_form_creates_the_monitor_and_a_duplicate_name_is_refused() {
    let app = spawn_app().await;
    let r = app
        .post_form("/monitors/new", &as_refs(&good_form("shop")))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().expect("ascii").to_string();
    assert!(location.starts_with("/monitors/"), "{location}");

    let page = app.api("/monitors").await;
    assert_eq!(page["total"], 1);
    let m = &page["items"][0];
    assert_eq!(m["name"], "shop");
    assert_eq!(m["interval_seconds"], 30);
    assert_eq!(m["failure_threshold"], 2);
    assert_eq!(m["labels"], json!({"env": "prod", "team": "web"}));
    assert_eq!(m["probe"]["headers"], json!({"Accept": "text/html"}));
    assert_eq!(m["probe"]["conditions"], json!(["[STATUS] == 200"]));
    let (status, html) = app.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Monitor created."));

    let r = app
        .post_form("/monitors", &as_refs(&good_form("shop")))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("body");
    assert!(
        html.contains(r#"id="e-name" data-field="name">a monitor with this name already exists"#),
        "{html}"
    );
    assert_eq!(app.api("/monitors").await["total"], 1);
}

#[tokio::test]
async fn the_edit_form_shows_the_monitor_and_saves_changes() {
    let app = spawn_app().await;
    let id = app
        .create(json!({"name": "dns", "labels": {"env": "prod"},
            "probe": {"kind": "dns", "target": "example.com", "record_type": "AAAA"}}))
        .await;
    let (status, html) = app.get(&format!("/monitors/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"value="example.com""#) && html.contains(r#"value="AAAA""#));
    assert!(html.contains(r#"<option value="dns" selected>"#));
    assert!(html.contains(">env=prod</textarea>"));

    let form = [
        ("name", "dns"),
        ("kind", "dns"),
        ("target", "example.org"),
        ("interval_seconds", "120"),
        ("record_type", "A"),
        ("labels", "env=staging"),
    ];
    let r = app.post_form(&format!("/monitors/{id}/edit"), &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let m = app.api(&format!("/monitors/{id}")).await;
    assert_eq!(m["probe"]["target"], "example.org");
    assert_eq!(m["interval_seconds"], 120);
    assert_eq!(m["labels"], json!({"env": "staging"}));

    let r = app
        .post_form(
            &format!("/monitors/{id}/edit"),
            &[("name", "dns"), ("kind", "dns"), ("target", "a/b")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains(r#"data-field="target""#)
    );
}

#[tokio::test]
async fn the_buttons_pause_resume_run_and_delete() {
    let app = spawn_app().await;
    let id = app.create(http_monitor("btn")).await;
    let state = |m: Value| m["state"].as_str().unwrap_or("").to_string();

    let r = app.post_form(&format!("/monitors/{id}/pause"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(app.api(&format!("/monitors/{id}")).await), "paused");
    let (_, html) = app.get(&format!("/monitors/{id}?notice=paused")).await;
    assert!(html.contains("Monitor paused.") && html.contains(&format!("/monitors/{id}/resume")));

    let r = app.post_form(&format!("/monitors/{id}/run"), &[]).await;
    assert_eq!(
        r.headers()[LOCATION],
        format!("/monitors/{id}?notice=paused_no_run").as_str()
    );

    app.post_form(&format!("/monitors/{id}/resume"), &[]).await;
    assert_eq!(state(app.api(&format!("/monitors/{id}")).await), "pending");
    let r = app.post_form(&format!("/monitors/{id}/run"), &[]).await;
    assert_eq!(
        r.headers()[LOCATION],
        format!("/monitors/{id}?notice=run_queued").as_str()
    );

    let (status, html) = app.get(&format!("/monitors/{id}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("cannot be undone") && html.contains(r#"method="post""#));
    let r = app.post_form(&format!("/monitors/{id}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.api("/monitors").await["total"], 0);
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    let app = spawn_app().await;
    let id = app.create(http_monitor("victim")).await;
    let r = app
        .http
        .post(format!("{}/monitors/{id}/delete", app.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.api("/monitors").await["total"], 1);
}

#[tokio::test]
async fn the_language_follows_the_browser_and_the_switch_sticks() {
    let app = spawn_app().await;
    let (_, html) = app
        .get_with("/", &[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")])
        .await;
    assert!(
        html.contains(r#"<html lang="zh-CN">"#)
            && html.contains("运行总览")
            && html.contains("新建监控")
    );

    let r = app
        .http
        .get(format!("{}/monitors?lang=en", app.base))
        .header(ACCEPT_LANGUAGE, "zh-CN")
        .send()
        .await
        .expect("request");
    let cookie = r.headers()[SET_COOKIE].to_str().expect("ascii").to_string();
    assert!(
        cookie.starts_with("lang=en;") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let html = r.text().await.expect("body");
    assert!(
        html.contains(r#"<html lang="en">"#)
            && html.contains("Monitors")
            && !html.contains("运行总览")
    );
    assert!(
        html.contains(r#"href="/monitors?lang=zh-CN""#),
        "the switch keeps the page"
    );

    let (_, html) = app
        .get_with(
            "/",
            &[
                (ACCEPT_LANGUAGE.as_str(), "zh-CN"),
                (COOKIE.as_str(), "lang=en"),
            ],
        )
        .await;
    assert!(html.contains("Overview"), "the cookie beats the header");
    let (_, html) = app.get_with("/monitors/new?lang=zh-CN", &[]).await;
    assert!(html.contains("创建监控") && html.contains("探测类型"));
    let (_, html) = app
        .get_with("/", &[(ACCEPT_LANGUAGE.as_str(), "fr-FR,de")])
        .await;
    assert!(html.contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_binary_with_a_cache_header() {
    let app = spawn_app().await;
    let (_, html) = app.get("/").await;
    let href = html
        .split(r#"<link rel="stylesheet" href=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a stylesheet link")
        .to_string();
    assert!(href.starts_with("/static/has.css?v="), "{href}");
    let r = app
        .http
        .get(format!("{}{href}", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/css")
    );
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("max-age=")
    );
    let etag = r.headers()["etag"].clone();
    assert!(r.text().await.expect("body").contains(".badge"));
    let r = app
        .http
        .get(format!("{}/static/has.css", app.base))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = app
        .http
        .get(format!("{}/static/nope.js", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

fn browser_form(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.to_string()),
        ("kind", "browser".into()),
        ("target", "https://app.example/".into()),
        ("timeout_ms", "20000".into()),
        ("interval_seconds", "300".into()),
        ("failure_threshold", "2".into()),
        ("success_threshold", "1".into()),
        ("conditions", "".into()),
        ("labels", "".into()),
        ("ip_preference", "any".into()),
        ("locations", "default".into()),
        ("locations", "eu-west".into()),
        ("location_failure_threshold", "2".into()),
        ("degraded_threshold_ms", "1500".into()),
        ("retries", "2".into()),
        ("retry_delay_ms", "250".into()),
        (
            "steps",
            "goto /login\r\nfill #user = alice\r\nfill #password secret:login-password\r\n\
             click button[type=submit]\r\nwait_for_navigation\r\nwait_for #welcome"
                .into(),
        ),
        (
            "console_error_allow",
            "*favicon.ico*\r\nThird party *".into(),
        ),
        ("network_idle_quiet_ms", "800".into()),
        ("screenshot_on_failure", "on".into()),
    ]
}

#[tokio::test]
async fn the_form_sets_locations_thresholds_retries_and_browser_steps_and_edits_keep_them() {
    let app = spawn_app().await;
    let (_, html) = app.get("/monitors/new").await;
    for needle in [
        r#"name="locations" value="default""#,
        r#"name="locations" value="eu-west""#,
        r#"name="location_failure_threshold""#,
        r#"name="degraded_threshold_ms""#,
        r#"name="retries""#,
        r#"name="retry_delay_ms""#,
        r#"<textarea id="f-steps" name="steps""#,
        r#"name="console_error_allow""#,
        r#"name="screenshot_on_failure" value="on" checked"#,
        r#"<option value="browser">"#,
    ] {
        assert!(html.contains(needle), "the new form has {needle}");
    }

    let form = browser_form("login");
    let r = app.post_form("/monitors", &as_refs(&form)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().expect("ascii").to_string();
    let id: i64 = location
        .trim_start_matches("/monitors/")
        .split('?')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let want_steps = json!([
        {"action": "goto", "url": "/login"},
        {"action": "fill", "selector": "#user", "value": "alice"},
        {"action": "fill", "selector": "#password", "secret": "login-password"},
        {"action": "click", "selector": "button[type=submit]"},
        {"action": "wait_for_navigation"},
        {"action": "wait_for", "selector": "#welcome"},
    ]);
    let check = |m: &Value| {
        assert_eq!(m["locations"], json!(["default", "eu-west"]), "{m}");
        assert_eq!(m["location_failure_threshold"], 2);
        assert_eq!(m["degraded_threshold_ms"], 1500);
        assert_eq!(m["probe"]["kind"], "browser");
        assert_eq!(m["probe"]["retries"], 2);
        assert_eq!(m["probe"]["retry_delay_ms"], 250);
        assert_eq!(m["probe"]["network_idle_quiet_ms"], 800);
        assert_eq!(m["probe"]["steps"], want_steps);
        assert_eq!(
            m["probe"]["console_error_allow"],
            json!(["*favicon.ico*", "Third party *"])
        );
        assert_eq!(
            m["probe"].get("screenshot_on_failure"),
            None,
            "the default (true) is not written out"
        );
    };
    let before = app.api(&format!("/monitors/{id}")).await;
    check(&before);

    // The edit form shows every value; posting it back unchanged changes nothing.
    let (status, html) = app.get(&format!("/monitors/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    for needle in [
        r#"name="locations" value="default" checked"#,
        r#"name="locations" value="eu-west" checked"#,
        r#"name="location_failure_threshold" type="number" value="2""#,
        r#"name="degraded_threshold_ms" type="number" value="1500""#,
        r#"name="retries" type="number" value="2""#,
        r#"name="retry_delay_ms" type="number" value="250""#,
        r#"name="network_idle_quiet_ms" type="number" value="800""#,
        "fill #password secret:login-password\nclick button[type=submit]",
        "*favicon.ico*\nThird party *</textarea>",
        r#"<option value="browser" selected>"#,
    ] {
        assert!(html.contains(needle), "the edit form has {needle}");
    }
    let r = app
        .post_form(&format!("/monitors/{id}/edit"), &as_refs(&form))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = app.api(&format!("/monitors/{id}")).await;
    check(&after);

    // Unticking a location and the screenshot box is saved.
    let edited: Vec<_> = form
        .iter()
        .filter(|(k, v)| !(*k == "locations" && v == "eu-west") && *k != "screenshot_on_failure")
        .cloned()
        .collect();
    let edited = with(
        &with(&edited, "location_failure_threshold", "1"),
        "degraded_threshold_ms",
        "",
    );
    let r = app
        .post_form(&format!("/monitors/{id}/edit"), &as_refs(&edited))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let m = app.api(&format!("/monitors/{id}")).await;
    assert_eq!(m["locations"], json!(["default"]));
    // Clearing degraded_threshold_ms is not checked here: the store's `MonitorUpdate` changeset
    // skips `None` (diesel's default), so a cleared threshold is kept — for the JSON API too.
    assert_eq!(m["probe"]["screenshot_on_failure"], false);

    // The definition shows them.
    let (_, html) = app.get(&format!("/monitors/{id}")).await;
    for needle in [
        "a check fails when 1 of 1 fail",
        "Retries after a failed attempt",
        "fill #password with secret:login-password",
    ] {
        assert!(html.contains(needle), "the definition shows {needle}");
    }
    assert!(!html.contains("alice"), "step values are not shown");
}

#[tokio::test]
async fn bad_steps_and_new_fields_are_shown_beside_their_field() {
    let app = spawn_app().await;
    let base = browser_form("login");
    let cases = [
        ("steps", "goto /login\nhover #menu", "steps", Some(2)),
        ("steps", "goto /\n\nfill #user", "steps", Some(3)),
        ("steps", "click x\nfill #p secret:../etc", "steps", Some(2)),
        ("retries", "9", "retries", None),
        ("retry_delay_ms", "soon", "retry_delay_ms", None),
        ("degraded_threshold_ms", "0", "degraded_threshold_ms", None),
        (
            "location_failure_threshold",
            "3",
            "location_failure_threshold",
            None,
        ),
    ];
    for (key, bad, field, line) in cases {
        let form = with(&base, key, bad);
        let r = app.post_form("/monitors", &as_refs(&form)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{key}={bad}");
        let html = r.text().await.expect("body");
        let marker = format!(r#"<p class="field-error" id="e-{field}" data-field="{field}">"#);
        let error = html
            .split(&marker)
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .unwrap_or_else(|| panic!("{key}={bad}: no error at {field}"));
        if let Some(n) = line {
            assert!(
                error.starts_with(&format!("line {n}: ")),
                "{key}={bad}: {error}"
            );
        }
        assert!(
            html.contains(r#"name="locations" value="eu-west" checked"#),
            "ticks are kept"
        );
    }
    let form = with(&base, "steps", "goto /\njump");
    let r = app
        .http
        .post(format!("{}/monitors?lang=zh-CN", app.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(as_refs(&form)).expect("encodes"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("body").contains("行 2: 未知步骤"));
    assert_eq!(
        app.api("/monitors").await["total"],
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn the_detail_page_shows_locations_side_by_side_with_the_browser_report_and_screenshot() {
    let app = spawn_app().await;
    let id = app
        .create(json!({"name": "shop", "locations": ["default", "eu-west"],
            "location_failure_threshold": 2, "degraded_threshold_ms": 800,
            "probe": {"kind": "browser", "target": "https://shop.example/",
                      "steps": [{"action": "click", "selector": "#buy"}], "retries": 1}}))
        .await;
    let browser = |ok: bool| BrowserReport {
        title: Some("Shop – home".into()),
        load_time_ms: Some(412.0),
        network_idle_ms: Some(900.0),
        js_errors: if ok {
            vec![]
        } else {
            vec!["TypeError: x is undefined".into()]
        },
        console_errors: vec!["404 favicon".into(), "CSP violation".into()],
        failed_requests: vec![],
        steps: vec![StepReport {
            step: "click #buy".into(),
            success: ok,
            duration_seconds: 0.05,
            error: (!ok).then(|| "no element matches #buy".into()),
        }],
    };
    let mut runs = Vec::new();
    for i in (1..=4).rev() {
        let mut d = probe_result(Some("default"), i * 5, 300.0, true);
        d.kind = ProbeKind::Browser;
        d.browser = Some(browser(true));
        let mut eu = probe_result(Some("eu-west"), i * 5, 700.0, i % 2 == 0);
        eu.kind = ProbeKind::Browser;
        eu.browser = Some(browser(i % 2 == 0));
        runs.push(vec![d, eu]);
    }
    // The newest run: eu-west failed twice (a retry), keeping a screenshot.
    let mut d = probe_result(Some("default"), 0, 320.0, true);
    d.kind = ProbeKind::Browser;
    d.browser = Some(browser(true));
    let mut first = probe_result(Some("eu-west"), 0, 650.0, false);
    first.kind = ProbeKind::Browser;
    first.browser = Some(browser(false));
    let mut last = first.clone();
    last.attempt = 2;
    last.started_at = first.started_at + chrono::Duration::seconds(1);
    last.failure_reason = Some(FailureReason::StepFailed);
    last.error = Some("click #buy: no element matches #buy".into());
    last.screenshot_png_base64 = Some(TINY_PNG.into());
    last.previous_attempts = vec![first];
    runs.push(vec![d, last]);
    app.record_runs(id, runs).await;

    let (status, html) = app.get(&format!("/monitors/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let panel = html
        .split(r#"<section class="panel" id="by-location">"#)
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("a by-location panel");
    let column = |name: &str| {
        panel
            .split(&format!(r#"data-location="{name}">"#))
            .nth(1)
            .and_then(|s| s.split("</article>").next())
            .unwrap_or_else(|| panic!("a column for {name}"))
            .to_string()
    };
    let (default, eu) = (column("default"), column("eu-west"));
    assert!(panel.find(r#"data-location="default""#) < panel.find(r#"data-location="eu-west""#));
    assert!(
        default.contains(r#"badge s-up"#) && default.contains("320 ms"),
        "{default}"
    );
    assert!(
        default.contains("100.0 %") || default.contains("100 %"),
        "{default}"
    );
    assert!(default.contains("(5 checks)"), "{default}");
    assert!(
        eu.contains(r#"badge s-down"#) && eu.contains("step_failed: click #buy"),
        "{eu}"
    );
    // 5 runs at eu-west, 2 of them passed; the retried first attempt is not a check.
    assert!(eu.contains("(5 checks)") && eu.contains("40"), "{eu}");
    for needle in [
        "Shop – home",
        "412 ms",
        r#"<dd data-count="js_errors">1</dd>"#,
        r#"<dd data-count="console_errors">2</dd>"#,
        "no element matches #buy",
        "step-fail",
    ] {
        assert!(eu.contains(needle), "eu-west shows {needle}: {eu}");
    }
    assert!(
        default.contains(r#"<dd data-count="js_errors">0</dd>"#) && default.contains("step-ok")
    );

    // The results table names location and attempt and links the screenshot.
    let results = app.api(&format!("/monitors/{id}/results")).await;
    let shot = results["items"]
        .as_array()
        .expect("items")
        .iter()
        .find_map(|r| r["screenshot_url"].as_str())
        .expect("a result with a screenshot")
        .to_string();
    assert!(
        html.contains(&format!(r#"<a class="shot" href="{shot}">screenshot</a>"#)),
        "{html}"
    );
    assert!(
        html.contains("<td>eu-west</td><td>2</td>") && html.contains("<td>eu-west</td><td>1</td>")
    );
    let img = format!(r#"<img src="{shot}" alt="Screenshot of the page when the check failed at"#);
    assert!(
        html.contains(&img),
        "the newest failure's screenshot is shown inline"
    );
    assert!(html.contains(r#"alt="Screenshot"#) && html.contains("(Location: eu-west)"));
    let r = app
        .http
        .get(format!("{}{shot}", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "image/png");
    assert!(r.bytes().await.expect("body").starts_with(b"\x89PNG"));

    // The definition: locations with k-of-n, degraded threshold, retries.
    for needle in [
        "default, eu-west (a check fails when 2 of 2 fail)",
        "800 ms",
        "click #buy",
    ] {
        assert!(html.contains(needle), "the definition shows {needle}");
    }
    let (_, zh) = app
        .get_with(&format!("/monitors/{id}?lang=zh-CN"), &[])
        .await;
    assert!(zh.contains("按位置") && zh.contains("2 个位置中 2 个失败即判定检查失败"));
}

#[tokio::test]
async fn a_degraded_monitor_is_counted_filtered_and_shown_amber() {
    let app = spawn_app().await;
    let id = app
        .create(json!({"name": "slow", "degraded_threshold_ms": 100,
            "probe": {"kind": "http", "target": "http://127.0.0.1:9/"}}))
        .await;
    app.create(http_monitor("other")).await;
    app.record(id, &[(1, 450.0, true)]).await;
    assert_eq!(
        app.api(&format!("/monitors/{id}")).await["state"],
        "degraded"
    );

    let (_, dash) = app.get("/").await;
    assert!(dash.contains(r#"data-state="degraded">1<"#), "{dash}");
    assert!(dash.contains(r#"class="card c-degraded" href="/monitors?state=degraded""#));
    let (_, list) = app.get("/monitors?state=degraded").await;
    assert!(list.contains(">slow</a>") && !list.contains(">other</a>"));
    assert!(list.contains(r#"<span class="badge s-degraded">Degraded</span>"#));
    assert!(list.contains(r#"<option value="degraded" selected>"#));
    let (_, detail) = app.get(&format!("/monitors/{id}")).await;
    assert!(detail.contains(r#"class="badge s-degraded" id="state""#));
    let css = app
        .http
        .get(format!("{}/static/has.css", app.base))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(css.contains(".s-degraded") && css.contains(".card.c-degraded"));
}
