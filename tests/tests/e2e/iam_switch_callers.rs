//! Issue 11, item 1: the IAM switch answers only a person on the host. HAS itself calls out
//! from loopback (webhooks, monitors, inspection probes, browser probes) and any browser on the
//! host calls loopback for the pages it shows; none of them may close the switch. Each path is
//! aimed at `http://127.0.0.1:PORT/api/common/closeIam` of the acmangkut under test and
//! `has_iam_degraded` stays 0; the documented `curl localhost:PORT/api/common/closeIam` still
//! closes it.

use has_tests::inspection::{
    create, deliveries, finding, id, inspection_config, page_rule, run_and_report, run_now,
    wait_run,
};
use has_tests::spawn::test_config;
use has_tests::{Targets, TestApp, TestDb, eventually, spawn_acmangkut, spawn_pageinspect};
use serde_json::{Value, json};
use std::time::Duration;

fn port_of(app: &TestApp) -> u16 {
    let port = app.address.rsplit(':').next().expect("port");
    port.parse().expect("a port number")
}

/// The switch of `app` as a client on the host would write it.
fn switch_url(app: &TestApp) -> String {
    format!("http://127.0.0.1:{}/api/common/closeIam", port_of(app))
}

async fn assert_switch_open(app: &TestApp, after: &str) {
    assert_eq!(
        app.metric("has_iam_degraded").await,
        0.0,
        "IAM degraded after {after}"
    );
}

/// Refusals of `closeIam` the audit trail holds (each says why in its detail).
async fn refusals(app: &TestApp) -> Vec<Value> {
    let events = app
        .get_json("/api/v1/audit?action=iam.switch.closeiam&outcome=denied&per_page=100")
        .await;
    events["items"].as_array().cloned().unwrap_or_default()
}

/// acmangkut with the inspection engine and pageinspect; the scheduler as `scheduler` says.
/// The database lives as long as the returned `TestDb` (a PostgreSQL one is dropped with it).
async fn app_with_pageinspect(scheduler: bool) -> (TestApp, actix_web::dev::ServerHandle, TestDb) {
    let (pi, handle) = spawn_pageinspect(None).await;
    let db = TestDb::new();
    let mut c = inspection_config(&db, &pi);
    c.scheduler.enabled = scheduler;
    c.inspection.notify.max_attempts = 1;
    c.inspection.notify.timeout_ms = 3_000;
    (spawn_acmangkut(c).await, handle, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_channel_at_the_switch_url_never_reaches_it() {
    let (app, _pi, _db) = app_with_pageinspect(false).await;
    create(
        &app,
        "channels",
        &json!({"name": "self", "spec": {"kind": "webhook", "url": switch_url(&app)}}),
    )
    .await;
    page_rule(&app, "page", "high", 2000).await;
    let task = create(
        &app,
        "tasks",
        &json!({"name": "notifies-itself", "rules": ["page"],
                "targets": [{"name": "closed", "vars": {"url": "http://127.0.0.1:9/"}}],
                "notify": [{"channel": "self", "min_level": "low"}]}),
    )
    .await;

    let run_id = run_now(&app, id(&task)).await;
    wait_run(&app, run_id, Duration::from_secs(20)).await;
    let delivery = eventually(Duration::from_secs(15), "the delivery to end", || async {
        let all = deliveries(&app, run_id).await;
        all.into_iter().find(|d| d["state"] != "pending")
    })
    .await;

    assert_eq!(delivery["state"], "failed", "{delivery:#}");
    let error = delivery["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("own listen address"), "{delivery:#}");
    assert_switch_open(&app, "a webhook to the switch").await;
    assert!(refusals(&app).await.is_empty(), "the request never arrived");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_monitor_at_the_switch_url_is_refused_by_it() {
    let (app, _pi, _db) = app_with_pageinspect(true).await;
    let monitor = app
        .create_monitor(json!({"name": "switch", "interval_seconds": 3600,
            "probe": {"kind": "http", "target": switch_url(&app), "timeout_ms": 3000}}))
        .await;
    let id = id(&monitor);

    let result = eventually(Duration::from_secs(20), "the first check", || async {
        app.results(id).await.into_iter().next()
    })
    .await;

    assert_eq!(result["status_code"], 403, "{result:#}");
    assert_switch_open(&app, "a monitor of the switch").await;
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 1, "{refused:#?}");
    let why = refused[0]["detail"].as_str().unwrap_or_default();
    assert!(why.contains("X-HAS-Origin: pageinspect"), "{why}");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspection_probe_at_the_switch_url_is_refused_by_it() {
    let (app, _pi, _db) = app_with_pageinspect(false).await;
    create(
        &app,
        "rules",
        &json!({"name": "switch-page", "plugin": "page_probe", "level": "low",
                "params": {"target": switch_url(&app), "timeout_ms": 3000,
                           "conditions": ["[STATUS] == 200"]}}),
    )
    .await;
    let task = create(
        &app,
        "tasks",
        &json!({"name": "probes-the-switch", "rules": ["switch-page"]}),
    )
    .await;

    let report = run_and_report(&app, id(&task)).await;

    let all = report["findings"].as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 1, "{report:#}");
    let target = all[0]["target"].as_str().unwrap_or_default().to_string();
    let f = finding(&report, "switch-page", &target);
    assert_eq!(f["status"], "fail", "{f:#}");
    assert_switch_open(&app, "an inspection probe of the switch").await;
    assert_eq!(refusals(&app).await.len(), 1);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_browser_sends_for_a_web_page_or_has_sends_is_refused_with_the_reason() {
    let db = TestDb::new();
    let app = spawn_acmangkut(test_config(&db, "http://127.0.0.1:9")).await;
    // Each row: the headers a caller adds, and what the refusal names.
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("origin", "https://evil.example")], "origin"),
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "no-cors"),
                ("sec-fetch-dest", "image"),
            ],
            "sec-fetch-site: cross-site",
        ),
        (&[("sec-fetch-dest", "image")], "sec-fetch-dest: image"),
        (&[("referer", "https://evil.example/page")], "referer"),
        // A page whose name was rebound to 127.0.0.1.
        (&[("host", "evil.example")], "evil.example"),
        (&[("x-has-origin", "acmangkut")], "X-HAS-Origin"),
        (&[("sec-fetch-mode", "cors")], "sec-fetch-mode: cors"),
    ];
    for (headers, why) in cases {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let mut req = app.anonymous.request(method.clone(), switch_url(&app));
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let r = req.send().await.expect("request");
            assert_eq!(r.status(), 403, "{method} {headers:?}");
            let kind = r.headers()["content-type"].to_str().unwrap_or_default();
            assert_eq!(kind, "application/problem+json", "{headers:?}");
            let problem: Value = r.json().await.expect("json");
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains(why), "{headers:?}: {problem}");
            assert_switch_open(&app, &format!("{method} with {headers:?}")).await;
        }
    }
    assert_eq!(refusals(&app).await.len(), 14, "every refusal is audited");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_probes_of_a_page_with_the_switch_as_an_image_or_of_the_switch_are_refused() {
    let (app, _pi, _db) = app_with_pageinspect(true).await;
    let targets = Targets::start().await;
    let page = targets.url(&format!("/page/image?src={}", switch_url(&app)));
    let browser = |name: &str, target: String| {
        json!({"name": name, "interval_seconds": 3600,
               "probe": {"kind": "browser", "target": target, "timeout_ms": 20000}})
    };
    let with_image = id(&app.create_monitor(browser("cats", page)).await);
    let direct = id(&app
        .create_monitor(browser("switch", switch_url(&app)))
        .await);

    eventually(Duration::from_secs(60), "both browser probes", || async {
        let done =
            !app.results(with_image).await.is_empty() && !app.results(direct).await.is_empty();
        done.then_some(())
    })
    .await;

    assert_switch_open(&app, "browser probes of the switch").await;
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 2, "the image and the page: {refused:#?}");
    for r in &refused {
        let why = r["detail"].as_str().unwrap_or_default();
        assert!(why.contains("X-HAS-Origin: pageinspect"), "{why}");
    }
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_curl_on_the_host_still_closes_the_switch() {
    let db = TestDb::new();
    let app = spawn_acmangkut(test_config(&db, "http://127.0.0.1:9")).await;
    let url = format!("localhost:{}/api/common/closeIam", port_of(&app));

    let out = tokio::process::Command::new("curl")
        .args(["-s", "--max-time", "10", &url])
        .output()
        .await
        .expect("curl runs (the documented procedure uses it)");

    let body: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(body["degraded"], true, "{body}");
    assert_eq!(app.metric("has_iam_degraded").await, 1.0);
    app.handle.stop().await;
}
