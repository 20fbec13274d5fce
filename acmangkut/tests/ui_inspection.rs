//! The inspection console, driven over HTTP against the real application (port 0, fresh SQLite)
//! by a "browser" that keeps cookies and posts forms with their CSRF token: YAML apply (empty,
//! bad, dry run, real), run now, reports, risk acknowledge/resolve, and what a viewer may not do.

mod console;

use console::*;

use reqwest::StatusCode;
use reqwest::header::LOCATION;

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
    let app = inspection_app(|c| c.inspection.tick_ms = 200).await;
    let b = app.signed_in("ada").await;

    let (s, html) = b.get("/inspection?lang=en").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("href=\"/inspection\"") && html.contains(">Risks<"),
        "nav"
    );

    // Posts the config form; the answer's status and page.
    let apply = |fields: &'static [(&'static str, &'static str)]| {
        let b = &b;
        async move {
            let r = b
                .post_from("/inspection/config", "/inspection/config", fields)
                .await;
            let status = r.status();
            (status, r.text().await.expect("present"))
        }
    };
    let (st, body) = apply(&[("yaml", "  ")]).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("paste a YAML document"), "{body}");
    const BAD: &str = "rules:\n  - name: a\n    plugin: tcp\n    level: urgent\n";
    let (st, body) = apply(&[("yaml", BAD)]).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("rules[0].level"), "{body}");
    let (st, body) = apply(&[("yaml", YAML), ("dry_run", "on")]).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v = app.api_get("/inspection/tasks").await;
    let tasks = v.as_array().expect("present").len();
    assert_eq!(tasks, 0, "dry run changed nothing");
    let (st, body) = apply(&[("yaml", YAML)]).await;
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

    // The platform overview: the task's latest run, and the risk events open (none resolved).
    let (_, home) = b.get("/").await;
    let scores = home
        .split("id=\"overview-scores\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        scores.contains(&format!("href=\"/inspection/runs/{run2}\"")),
        "{home}"
    );
    let open = app.api_get("/inspection/risks").await["total"]
        .as_i64()
        .expect("total");
    assert!(open > 0);
    assert!(
        home.contains(&format!("data-level=\"total\">{open}<")),
        "{home}"
    );

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
