//! Inspection runs end to end: the real engine runs tasks of rules × targets through the real
//! pageinspect, a real Prometheus and PostgreSQL, writes reports (JSON, CSV) that compare with
//! the previous run, opens and clears risk events, notifies channels with retries, and keeps
//! what a run found when the replica running it dies.

use has_tests::inspection::{
    create, deliveries, finding, id, inspection_config, page_rule, report, risks, run_and_report,
    run_now, update, wait_run,
};
use has_tests::prometheus::TestPrometheus;
use has_tests::smtp::SmtpSink;
use has_tests::webhook::{WebhookReceiver, verify_has_signature};
use has_tests::{Targets, TestApp, TestDb, eventually, spawn_acmangkut, spawn_pageinspect};
use serde_json::{Value, json};
use shared::Secret;
use std::time::Duration;

const LOCAL_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// pageinspect, the local targets, and an acmangkut whose config `tweak` adjusts.
struct Env {
    app: TestApp,
    targets: Targets,
    db: TestDb,
    pageinspect: String,
    _pageinspect: actix_web::dev::ServerHandle,
}

async fn env(tweak: impl FnOnce(&mut acmangkut::Config)) -> Env {
    let (pageinspect, handle) = spawn_pageinspect(None).await;
    let targets = Targets::start().await;
    let db = TestDb::new();
    let mut config = inspection_config(&db, &pageinspect);
    config.scheduler.enabled = false;
    tweak(&mut config);
    Env {
        app: spawn_acmangkut(config).await,
        targets,
        db,
        pageinspect,
        _pageinspect: handle,
    }
}

fn target(name: &str, url: String) -> Value {
    json!({"name": name, "vars": {"url": url}})
}

fn statuses(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("rule_name"), s("target"), s("status"))
        })
        .collect()
}

/// A task's `concurrency` bounds the requests its checks send at once, page probes included
/// (they go to pageinspect in batches, and a batch used to be one slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_s_concurrency_bounds_the_requests_its_page_probes_send_at_once() {
    let e = env(|_| {}).await;
    let (app, t) = (&e.app, &e.targets);
    page_rule(app, "held", "low", 1000).await;
    let targets: Vec<Value> = (0..24)
        .map(|i| target(&format!("t{i}"), t.url(&format!("/held?i={i}"))))
        .collect();
    let task = create(
        app,
        "tasks",
        &json!({"name": "bounded", "rules": ["held"], "concurrency": 3, "targets": targets}),
    )
    .await;
    let run = wait_run(app, run_now(app, id(&task)).await, Duration::from_secs(60)).await;
    assert_eq!(
        (&run["state"], &run["passed"]),
        (&json!("completed"), &json!(24)),
        "{run:#}"
    );
    let most: usize = reqwest::get(t.url("/held/most"))
        .await
        .expect("the target answers")
        .text()
        .await
        .expect("a count")
        .parse()
        .expect("a number");
    assert!(
        most <= 3,
        "{most} probes of a task with concurrency 3 reached the target at once"
    );
    assert!(
        most >= 2,
        "the task's checks ran one at a time ({most}): concurrency is unused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_report_every_rule_on_every_target_with_evidence_values_and_a_score() {
    let e = env(|c| {
        c.inspection.datasources.insert(
            "down".into(),
            acmangkut::config::DataSource {
                url: Secret::new("postgres://postgres@127.0.0.1:1/nothing"),
                max_rows: 10,
            },
        );
    })
    .await;
    let (app, t) = (&e.app, &e.targets);
    page_rule(app, "page-ok", "high", 1000).await;
    create(
        app,
        "rules",
        &json!({"name": "port-open", "plugin": "tcp", "level": "medium",
                "params": {"target": "{{hostport}}", "timeout_ms": 1000}}),
    )
    .await;
    create(
        app,
        "rules",
        &json!({"name": "db-reachable", "plugin": "sql", "level": "low",
                "params": {"source": "down", "query": "select 1", "condition": "== 1",
                           "timeout_ms": 2000}}),
    )
    .await;
    let up = t.base.trim_start_matches("http://").to_string();
    let refused = format!("127.0.0.1:{}", t.refused_port);
    let tgt = |name: &str, url: String, hostport: &str| {
        json!({"name": name,
               "vars": {"url": url, "hostport": hostport}})
    };
    let task = create(
        app,
        "tasks",
        &json!({"name": "estate", "rules": ["page-ok", "port-open", "db-reachable"],
        "concurrency": 4,
        "targets": [
            tgt("healthy", t.url("/healthy"), &up),
            tgt("broken", t.url("/500"), &up),
            tgt("refused", format!("http://{refused}/"), &refused),
            tgt("slow", t.url("/slow"), &up),
            tgt("loop", t.url("/loop"), &up),
        ]}),
    )
    .await;

    let run_id = run_now(app, id(&task)).await;
    let run = wait_run(app, run_id, Duration::from_secs(20)).await;

    assert_eq!(run["state"], "completed", "{run:#}");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["actor"], "bootstrap");
    assert_eq!(
        (
            &run["total"],
            &run["passed"],
            &run["failed"],
            &run["errors"]
        ),
        (&json!(15), &json!(5), &json!(5), &json!(5)),
        "{run:#}"
    );
    let s = &run["summary"];
    assert_eq!(
        s["high"],
        json!({"total": 5, "passed": 1, "failed": 4, "errors": 0})
    );
    assert_eq!(
        s["medium"],
        json!({"total": 5, "passed": 4, "failed": 1, "errors": 0})
    );
    assert_eq!(
        s["low"],
        json!({"total": 5, "passed": 0, "failed": 0, "errors": 5})
    );
    // (5·1 + 3·4) / (5·5 + 3·5 + 1·5) passed, by weight
    assert_eq!(run["score"], 37.8);
    assert!(run.get("previous_run_id").is_none(), "the first run");

    let r = report(app, run_id).await;
    let expected = [
        ("page-ok", "healthy", "pass"),
        ("page-ok", "broken", "fail"),
        ("page-ok", "refused", "fail"),
        ("page-ok", "slow", "fail"),
        ("page-ok", "loop", "fail"),
        ("port-open", "healthy", "pass"),
        ("port-open", "broken", "pass"),
        ("port-open", "refused", "fail"),
        ("port-open", "slow", "pass"),
        ("port-open", "loop", "pass"),
    ];
    let got = statuses(&r);
    for (rule, target, status) in expected {
        assert!(
            got.contains(&(rule.into(), target.into(), status.into())),
            "{rule} on {target} should be {status}: {got:?}"
        );
    }
    let ok = finding(&r, "page-ok", "healthy");
    assert_eq!(ok["value"], "200");
    assert_eq!(
        ok["subject"],
        format!("http {}", t.url("/healthy")),
        "the template rendered for the target"
    );
    assert_eq!(ok["rule_version"], 1);
    assert!(ok["duration_ms"].as_i64().is_some());
    let broken = finding(&r, "page-ok", "broken");
    assert_eq!(broken["value"], "500");
    assert!(
        broken["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("status code 500"),
        "{broken}"
    );
    let slow = finding(&r, "page-ok", "slow");
    assert!(
        slow["evidence"].as_str().unwrap_or("").contains("timeout"),
        "{slow}"
    );
    assert!(slow["duration_ms"].as_i64().unwrap_or(0) >= 900, "{slow}");
    let refused_tcp = finding(&r, "port-open", "refused");
    assert_eq!(refused_tcp["subject"], format!("tcp {refused}"));
    assert!(!refused_tcp["evidence"].as_str().unwrap_or("").is_empty());
    let db = finding(&r, "db-reachable", "loop");
    assert_eq!(
        db["status"], "error",
        "an unreachable source cannot tell: {db}"
    );
    assert_eq!(db["level"], "low");
    assert!(!db["evidence"].as_str().unwrap_or("").is_empty(), "{db}");
    let versions: Vec<&str> = r["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|v| v["rule"]["name"].as_str())
        .collect();
    assert_eq!(versions.len(), 3, "each rule as it ran: {versions:?}");

    // CSV: one row per finding, the same values, read by a real CSV parser.
    let csv = app
        .get(&format!(
            "/api/v1/inspection/runs/{run_id}/report?format=csv"
        ))
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let text = csv.text().await.expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} column in {headers:?}"))
    };
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 15);
    let row = rows
        .iter()
        .find(|r| &r[col("rule")] == "page-ok" && &r[col("target")] == "broken")
        .expect("row of page-ok on broken");
    assert_eq!(&row[col("status")], "fail");
    assert_eq!(&row[col("level")], "high");
    assert_eq!(&row[col("value")], "500");
    assert_eq!(&row[col("task")], "estate");
    assert_eq!(&row[col("suggestion")], "look at page-ok");
    assert!(row[col("evidence")].contains("status code 500"));
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_a_second_run_shows_what_is_new_fixed_and_still_failing() {
    let e = env(|_| {}).await;
    let (app, t) = (&e.app, &e.targets);
    page_rule(app, "page-ok", "medium", 1000).await;
    let refused = format!("http://127.0.0.1:{}/", e.targets.refused_port);
    let body = |shop: &str, blog: &str| {
        json!({"name": "pages", "rules": ["page-ok"], "targets": [
            target("shop", t.url(shop)), target("blog", t.url(blog)),
            target("wiki", refused.clone()), target("docs", t.url("/healthy"))]})
    };
    let task = create(app, "tasks", &body("/500", "/healthy")).await;
    let first = run_and_report(app, id(&task)).await;
    assert!(
        first["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f.get("change").is_none()),
        "nothing to compare the first run with"
    );

    // The shop is fixed, the blog breaks, the wiki stays down.
    update(app, "tasks", id(&task), &body("/healthy", "/500")).await;
    let second = run_and_report(app, id(&task)).await;

    assert_eq!(second["run"]["previous_run_id"], first["run"]["id"]);
    assert_eq!(finding(&second, "page-ok", "shop")["change"], "fixed");
    assert_eq!(finding(&second, "page-ok", "blog")["change"], "new");
    assert_eq!(
        finding(&second, "page-ok", "wiki")["change"],
        "still_failing"
    );
    assert!(finding(&second, "page-ok", "docs").get("change").is_none());
    let s = &second["run"]["summary"];
    assert_eq!(
        (&s["new"], &s["fixed"], &s["still_failing"]),
        (&json!(1), &json!(1), &json!(1))
    );
    let csv = app
        .get(&format!(
            "/api/v1/inspection/runs/{}/report?format=csv",
            second["run"]["id"]
        ))
        .await
        .text()
        .await
        .expect("csv");
    assert!(csv.contains(",fixed,"), "{csv}");
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_a_scheduled_task_runs_by_itself_every_second_in_its_time_zone() {
    let e = env(|_| {}).await;
    let app = &e.app;
    page_rule(app, "page-ok", "low", 1000).await;
    let mut body = json!({"name": "every-second", "rules": ["page-ok"],
        "targets": [target("home", e.targets.url("/healthy"))],
        "schedule": "*/1 * * * * *", "timezone": "Asia/Shanghai"});
    let task = create(app, "tasks", &body).await;

    let runs = eventually(Duration::from_secs(15), "two scheduled runs", || async {
        let page = app
            .get_json(&format!("/api/v1/inspection/runs?task_id={}", id(&task)))
            .await;
        let done: Vec<Value> = page["items"]
            .as_array()?
            .iter()
            .filter(|r| r["state"] == "completed")
            .cloned()
            .collect();
        (done.len() >= 2).then_some(done)
    })
    .await;

    for r in &runs {
        assert_eq!(r["trigger"], "schedule", "{r}");
        assert_eq!(r["passed"], 1, "{r}");
        assert!(r.get("actor").is_none(), "nobody started it: {r}");
    }
    let listed = app
        .get_json(&format!("/api/v1/inspection/tasks/{}", id(&task)))
        .await;
    assert!(listed["last_run"]["id"].is_i64(), "{listed}");
    let next = listed["next_run_at"].as_str().expect("next run");
    let next = chrono::DateTime::parse_from_rfc3339(next).expect("rfc3339");
    assert_eq!(
        next.timestamp_subsec_millis(),
        0,
        "slots are whole seconds: {next}"
    );

    body["enabled"] = json!(false);
    let disabled = update(app, "tasks", id(&task), &body).await;
    assert!(disabled.get("next_run_at").is_none(), "{disabled}");
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_a_run_past_its_timeout_is_timed_out_with_errors_for_what_was_not_checked()
{
    let e = env(|_| {}).await;
    let app = &e.app;
    create(
        app,
        "rules",
        &json!({"name": "slow-page", "plugin": "page_probe", "level": "high",
                "params": {"target": "{{url}}", "timeout_ms": 8000}}),
    )
    .await;
    page_rule(app, "fast-page", "low", 1000).await;
    let task = create(
        app,
        "tasks",
        &json!({"name": "impatient", "rules": ["fast-page", "slow-page"], "timeout_seconds": 2,
                "concurrency": 1,
                "targets": [target("a", e.targets.url("/healthy")),
                            target("b", e.targets.url("/slow"))]}),
    )
    .await;

    let started = std::time::Instant::now();
    let run_id = run_now(app, id(&task)).await;
    let run = wait_run(app, run_id, Duration::from_secs(15)).await;

    assert_eq!(run["state"], "timed_out", "{run:#}");
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "stopped at its timeout, not after the slow probe"
    );
    assert!(
        run["detail"].as_str().unwrap_or("").contains("2 s"),
        "{run}"
    );
    let r = report(app, run_id).await;
    assert_eq!(
        r["findings"].as_array().map(Vec::len),
        Some(4),
        "every check has a finding: {r:#}"
    );
    let not_checked = finding(&r, "slow-page", "b");
    assert_eq!(not_checked["status"], "error");
    assert!(
        not_checked["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("not checked"),
        "{not_checked}"
    );
    assert_eq!(
        run["errors"].as_i64(),
        Some(4 - run["passed"].as_i64().unwrap_or(0) - run["failed"].as_i64().unwrap_or(0))
    );
    assert!(run["errors"].as_i64().unwrap_or(0) >= 1, "{run}");
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_a_failing_high_finding_opens_one_risk_people_or_the_next_pass_resolve() {
    let e = env(|_| {}).await;
    let (app, t) = (&e.app, &e.targets);
    let rule = page_rule(app, "page-ok", "high", 1000).await;
    page_rule(app, "page-low", "low", 1000).await;
    let body = |shop: &str| {
        json!({"name": "shops", "rules": ["page-ok", "page-low"],
               "targets": [target("shop", t.url(shop)), target("blog", t.url("/500"))]})
    };
    let task = create(app, "tasks", &body("/500")).await;

    // Two failing runs: one event per rule and target, seen twice; low findings open none.
    run_and_report(app, id(&task)).await;
    let second = run_and_report(app, id(&task)).await;
    let open = risks(app, "source=inspection").await;
    assert_eq!(open.len(), 2, "{open:#?}");
    for ev in &open {
        assert_eq!(ev["state"], "open");
        assert_eq!(ev["level"], "high");
        assert_eq!(ev["occurrences"], 2, "{ev}");
        assert_eq!(ev["rule_id"], rule["id"]);
        assert_eq!(ev["task_id"], task["id"]);
        assert_eq!(ev["run_id"], second["run"]["id"]);
    }
    let event = |target: &str| {
        open.iter()
            .find(|e| e["target"] == target)
            .cloned()
            .unwrap_or_else(|| panic!("no event for {target}"))
    };
    let (shop, blog) = (event("shop"), event("blog"));
    assert_eq!(shop["title"], "page-ok failed on shop");
    assert!(shop["detail"].as_str().unwrap_or("").contains("shops"));

    // People acknowledge and resolve, with comments; both are audited.
    let ack = app
        .post_json(
            &format!("/api/v1/inspection/risks/{}/acknowledge", id(&shop)),
            &json!({"comment": "looking into the shop"}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    let ack: Value = ack.json().await.expect("json");
    assert_eq!(
        (&ack["state"], &ack["acknowledged_by"], &ack["comment"]),
        (
            &json!("acknowledged"),
            &json!("bootstrap"),
            &json!("looking into the shop")
        )
    );
    let resolved: Value = app
        .post_json(
            &format!("/api/v1/inspection/risks/{}/resolve", id(&blog)),
            &json!({"comment": "blog retired, accepted"}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&resolved["state"], &resolved["resolved_by"]),
        (&json!("resolved"), &json!("bootstrap"))
    );
    let again = app
        .post_json(
            &format!("/api/v1/inspection/risks/{}/acknowledge", id(&blog)),
            &json!({"comment": "too late"}),
        )
        .await;
    assert_eq!(again.status(), 409, "a resolved event is closed");
    let audit = app.get_json("/api/v1/audit?action=risk.").await;
    let mut audited: Vec<(String, String)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or("").to_string(),
                a["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    audited.sort();
    assert_eq!(
        audited,
        [
            ("risk.acknowledge".into(), "looking into the shop".into()),
            ("risk.resolve".into(), "blog retired, accepted".into())
        ]
    );

    // The shop passes: the system resolves its event. The blog fails again: a new event.
    update(app, "tasks", id(&task), &body("/healthy")).await;
    let third = run_and_report(app, id(&task)).await;
    let shop_now = app
        .get_json(&format!("/api/v1/inspection/risks/{}", id(&shop)))
        .await;
    assert_eq!(shop_now["state"], "resolved", "{shop_now}");
    assert_eq!(shop_now["resolved_by"], "system");
    assert!(
        shop_now["comment"]
            .as_str()
            .unwrap_or("")
            .contains(&third["run"]["id"].to_string()),
        "{shop_now}"
    );
    let open = risks(app, "source=inspection").await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["target"], "blog");
    assert_ne!(
        open[0]["id"], blog["id"],
        "a resolved event is not reopened"
    );
    assert_eq!(open[0]["occurrences"], 1);
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_a_monitor_going_down_opens_a_risk_event_and_its_recovery_resolves_it() {
    let e = env(|c| c.scheduler.enabled = true).await;
    let app = &e.app;
    let mut body = json!({"name": "payments", "interval_seconds": 1, "failure_threshold": 1,
        "success_threshold": 1,
        "probe": {"kind": "tcp", "target": format!("127.0.0.1:{}", e.targets.refused_port),
                  "timeout_ms": 1000}});
    let monitor = app.create_monitor(body.clone()).await;
    app.wait_for_state(id(&monitor), "down").await;

    let opened = eventually(Duration::from_secs(10), "a monitor risk event", || async {
        risks(app, "source=monitor").await.into_iter().next()
    })
    .await;
    assert_eq!(opened["monitor_id"], monitor["id"]);
    assert_eq!(opened["level"], "high");
    assert_eq!(opened["state"], "open");
    assert_eq!(opened["title"], "Monitor payments is down");

    body["probe"]["target"] = json!(e.targets.base.trim_start_matches("http://"));
    let r = app
        .http
        .put(app.url(&format!("/api/v1/monitors/{}", id(&monitor))))
        .json(&body)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 200);
    app.wait_for_state(id(&monitor), "up").await;
    let resolved = eventually(Duration::from_secs(10), "the event resolved", || async {
        let ev = app
            .get_json(&format!("/api/v1/inspection/risks/{}", id(&opened)))
            .await;
        (ev["state"] == "resolved").then_some(ev)
    })
    .await;
    assert_eq!(resolved["resolved_by"], "system");
    assert!(risks(app, "source=monitor").await.is_empty());
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_notify_a_signed_webhook_once_and_retry_a_failing_one_until_it_gives_up() {
    let e = env(|c| {
        c.inspection.notify.retry_base_seconds = 1;
        c.inspection.notify.max_attempts = 3;
        c.inspection.notify.timeout_ms = 2000;
    })
    .await;
    let app = &e.app;
    let good = WebhookReceiver::start().await;
    let bad = WebhookReceiver::start().await;
    bad.answer(500, "receiver is down");
    create(
        app,
        "channels",
        &json!({"name": "ops-hook", "spec": {"kind": "webhook", "url": good.url("/has"),
                "secret": "whsec_runs"}}),
    )
    .await;
    create(
        app,
        "channels",
        &json!({"name": "broken-hook", "spec": {"kind": "webhook", "url": bad.url("/has")}}),
    )
    .await;
    page_rule(app, "page-ok", "low", 1000).await;
    let task = create(
        app,
        "tasks",
        &json!({"name": "notified", "rules": ["page-ok"],
                "targets": [target("api", e.targets.url("/500"))],
                "notify": [{"channel": "ops-hook", "min_level": "low"},
                           {"channel": "broken-hook", "min_level": "low"},
                           {"channel": "ops-hook", "min_level": "high"}]}),
    )
    .await;

    let run_id = run_now(app, id(&task)).await;
    wait_run(app, run_id, Duration::from_secs(20)).await;

    let sent = eventually(Duration::from_secs(10), "the webhook delivered", || async {
        deliveries(app, run_id)
            .await
            .into_iter()
            .find(|d| d["channel"] == "ops-hook" && d["state"] == "sent")
    })
    .await;
    assert_eq!(sent["attempts"], 1);
    let log = sent["attempt_log"].as_array().expect("attempts");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (&log[0]["ok"], &log[0]["status_code"]),
        (&json!(true), &json!(200))
    );
    let req = good.single();
    let sig = req.header("x-has-signature").expect("signed");
    verify_has_signature("whsec_runs", sig, &req.body, 300).expect("the signature verifies");
    let event = req.json();
    assert_eq!(event["event"], "inspection.run.finished");
    assert_eq!(event["run_id"], run_id);
    assert_eq!(event["task"], "notified");
    assert_eq!(event["failed"], 1);
    assert_eq!(event["findings"][0]["target"], "api");
    assert_eq!(
        deliveries(app, run_id).await.len(),
        2,
        "the high-only rule had nothing to say"
    );

    let failed = eventually(
        Duration::from_secs(15),
        "the failing webhook to give up",
        || async {
            deliveries(app, run_id)
                .await
                .into_iter()
                .find(|d| d["channel"] == "broken-hook" && d["state"] == "failed")
        },
    )
    .await;
    assert_eq!(failed["attempts"], 3);
    let log = failed["attempt_log"].as_array().expect("attempts");
    assert_eq!(log.len(), 3, "{failed:#}");
    for (i, a) in log.iter().enumerate() {
        assert_eq!(a["attempt"], i + 1);
        assert_eq!((&a["ok"], &a["status_code"]), (&json!(false), &json!(500)));
    }
    let at = |i: usize| {
        chrono::DateTime::parse_from_rfc3339(log[i]["at"].as_str().expect("at"))
            .expect("rfc3339")
            .timestamp_millis()
    };
    assert!(at(1) - at(0) >= 900, "backs off 1 s: {log:?}");
    assert!(at(2) - at(1) >= 1900, "then 2 s: {log:?}");
    assert!(failed["last_error"].as_str().unwrap_or("").contains("500"));
    assert_eq!(bad.requests().len(), 3);
    let channel_history = app
        .get_json(&format!(
            "/api/v1/inspection/channels/{}/deliveries",
            id(&app.get_json("/api/v1/inspection/channels").await[0])
        ))
        .await;
    assert_eq!(channel_history.as_array().map(Vec::len), Some(1));
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_notify_by_email_through_a_real_smtp_server() {
    let e = env(|_| {}).await;
    let app = &e.app;
    let sink = SmtpSink::start().await;
    create(
        app,
        "channels",
        &json!({"name": "ops-mail",
                "spec": {"kind": "email", "host": "127.0.0.1", "port": sink.port, "tls": "none",
                         "from": "HAS <has@example.com>", "to": ["ops@example.com"]}}),
    )
    .await;
    page_rule(app, "page-ok", "high", 1000).await;
    let task = create(
        app,
        "tasks",
        &json!({"name": "mailed", "rules": ["page-ok"],
                "targets": [target("shop", e.targets.url("/500"))],
                "notify": [{"channel": "ops-mail"}]}),
    )
    .await;

    let run_id = run_now(app, id(&task)).await;
    wait_run(app, run_id, Duration::from_secs(20)).await;

    let mail = eventually(Duration::from_secs(10), "the mail", || async {
        sink.messages().into_iter().next()
    })
    .await;
    assert_eq!(mail.rcpt_tos, ["ops@example.com"]);
    assert!(
        mail.subject.contains("Inspection mailed"),
        "{}",
        mail.subject
    );
    assert!(mail.body.contains("page-ok"), "{}", mail.body);
    assert!(mail.body.contains("shop"), "{}", mail.body);
    let d = eventually(Duration::from_secs(5), "the delivery recorded", || async {
        deliveries(app, run_id)
            .await
            .into_iter()
            .find(|d| d["state"] == "sent")
    })
    .await;
    assert_eq!(
        (&d["channel_kind"], &d["attempts"]),
        (&json!("email"), &json!(1))
    );
    e.app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_a_run_whose_replica_dies_is_interrupted_and_keeps_its_findings() {
    // SQLite has one replica: the next one to start ends the run at once, whatever its lease.
    // PostgreSQL may have others still working: the run ends once its lease expires.
    let lease = if TestDb::is_postgres() { 2 } else { 600 };
    let e = env(|c| {
        c.inspection.lease_seconds = lease;
        c.inspection.probe_batch_size = 1;
        c.scheduler.replica_id = "replica-a".into();
    })
    .await;
    let (app, t) = (&e.app, &e.targets);
    create(
        app,
        "rules",
        &json!({"name": "page", "plugin": "page_probe", "level": "medium",
                "params": {"target": "{{url}}", "timeout_ms": 9000}}),
    )
    .await;
    let task = create(
        app,
        "tasks",
        &json!({"name": "long", "rules": ["page"], "concurrency": 1, "targets": [
            target("a", t.url("/healthy")), target("b", t.url("/healthy")),
            target("c", t.url("/slow")), target("d", t.url("/slow")),
            target("e", t.url("/slow"))]}),
    )
    .await;
    let run_id = run_now(app, id(&task)).await;
    eventually(
        Duration::from_secs(15),
        "the first findings written",
        || async {
            let r = report(app, run_id).await;
            (r["run"]["state"] == "running" && r["findings"].as_array()?.len() >= 2).then_some(())
        },
    )
    .await;

    e.app.handle.kill().await;
    let mut config = inspection_config(&e.db, &e.pageinspect);
    config.scheduler.enabled = false;
    config.inspection.lease_seconds = lease;
    config.scheduler.replica_id = "replica-b".into();
    let b = spawn_acmangkut(config).await;
    let started = std::time::Instant::now();
    let run = wait_run(&b, run_id, Duration::from_secs(15)).await;

    assert_eq!(run["state"], "interrupted", "{run:#}");
    let waited = started.elapsed();
    if !TestDb::is_postgres() {
        assert!(waited < Duration::from_secs(3), "at start: {waited:?}");
    }
    assert!(
        run["detail"].as_str().unwrap_or("").contains("replica-a"),
        "{run}"
    );
    assert_eq!(run["total"], 5);
    assert_eq!(
        run["score"],
        Value::Null,
        "part of the checks is no score: {run}"
    );
    let r = report(&b, run_id).await;
    let statuses = statuses(&r);
    assert!(
        statuses.contains(&("page".into(), "a".into(), "pass".into()))
            && statuses.contains(&("page".into(), "b".into(), "pass".into())),
        "the findings so far are kept: {statuses:?}"
    );
    assert!(
        statuses.len() < 5,
        "what was not checked has no finding: {statuses:?}"
    );
    assert_eq!(run["passed"], 2);
    b.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_runs_promql_and_sql_rules_run_through_a_task() {
    let prom = TestPrometheus::start().await;
    prom.set("has_test_disk_usage{disk=\"a\"}", 0.5);
    prom.set("has_test_disk_usage{disk=\"b\"}", 0.95);
    prom.wait_for("has_test_disk_usage").await;
    let prom_url = prom.url.clone();
    let e = env(move |c| {
        c.inspection.prometheus.insert(
            "default".into(),
            acmangkut::config::PrometheusSource {
                url: prom_url,
                bearer_token: None,
            },
        );
        c.inspection.datasources.insert(
            "local".into(),
            acmangkut::config::DataSource {
                url: Secret::new(LOCAL_PG),
                max_rows: 10,
            },
        );
    })
    .await;
    let app = &e.app;
    create(
        app,
        "rules",
        &json!({"name": "disk-below-90", "plugin": "promql", "level": "high",
                "params": {"query": "has_test_disk_usage{disk=\"{{disk}}\"}", "condition": "< 0.9"},
                "suggestion": "free some space"}),
    )
    .await;
    create(
        app,
        "rules",
        &json!({"name": "db-answers", "plugin": "sql", "level": "medium",
                "params": {"source": "local", "query": "select 1", "condition": "== 1"}}),
    )
    .await;
    create(
        app,
        "rules",
        &json!({"name": "no-stray-database", "plugin": "sql", "level": "low",
                "params": {"source": "local",
                           "query": "select count(*) from pg_database \
                                     where datname = '{{target}}'",
                           "condition": "== 0"}}),
    )
    .await;
    let task = create(
        app,
        "tasks",
        &json!({"name": "metrics-and-data",
                "rules": ["disk-below-90", "db-answers", "no-stray-database"],
                "targets": [{"name": "a", "vars": {"disk": "a"}},
                            {"name": "b", "vars": {"disk": "b"}},
                            {"name": "postgres", "vars": {"disk": "c"}}]}),
    )
    .await;

    let r = run_and_report(app, id(&task)).await;

    assert_eq!(r["run"]["state"], "completed", "{r:#}");
    let a = finding(&r, "disk-below-90", "a");
    assert_eq!((&a["status"], &a["value"]), (&json!("pass"), &json!("0.5")));
    let b = finding(&r, "disk-below-90", "b");
    assert_eq!(
        (&b["status"], &b["value"]),
        (&json!("fail"), &json!("0.95")),
        "{b}"
    );
    assert!(
        b["subject"].as_str().unwrap_or("").contains("disk=\"b\""),
        "{b}"
    );
    let none = finding(&r, "disk-below-90", "postgres");
    assert_eq!(none["status"], "fail", "no such disk: {none}");
    for target in ["a", "b", "postgres"] {
        let f = finding(&r, "db-answers", target);
        assert_eq!(
            (&f["status"], &f["value"]),
            (&json!("pass"), &json!("1")),
            "{f}"
        );
    }
    assert_eq!(finding(&r, "no-stray-database", "a")["status"], "pass");
    let stray = finding(&r, "no-stray-database", "postgres");
    assert_eq!(
        (&stray["status"], &stray["value"]),
        (&json!("fail"), &json!("1")),
        "{stray}"
    );
    let open = risks(app, "source=inspection").await;
    let titles: Vec<&str> = open.iter().filter_map(|e| e["title"].as_str()).collect();
    assert_eq!(
        titles.len(),
        2,
        "the high disk rule failed on b and postgres: {titles:?}"
    );
    e.app.handle.stop().await;
}
