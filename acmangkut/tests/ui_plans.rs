//! The plans console over HTTP against the real application: the list in both languages, the
//! YAML editor (a refused document is shown again naming its field, nothing saved; a good one
//! saves a version), the plan page with its versions and their diff, the preview, and what a
//! viewer may not do.

mod console;

use console::*;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

const PLAN: &str = "name: failover
description: move the traffic
rto_objective: 5m
parameters:
  - {name: who, type: string, default: ops}
stages:
  - name: prepare
    steps:
      - name: approve
        approval: {roles: [admin]}
      - name: settle
        wait: 30s
  - name: verify
    steps:
      - name: gate
        check:
          gate: {check: command, command: echo, args: ['hello {{ params.who }}']}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_written_in_yaml_saved_as_versions_compared_and_previewed() {
    let app = inspection_app(|_| {}).await;
    let ada = app.signed_in("ada").await;

    // A refused document comes back with its field, and nothing is saved.
    let bad = PLAN.replace("roles: [admin]", "roles: []");
    let r = ada
        .post_from("/plans/new", "/plans/new", &[("yaml", &bad)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("page");
    assert!(html.contains("stages[0].steps[0].approval.roles"), "{html}");
    assert!(
        html.contains("name: failover"),
        "the document is given back"
    );
    assert_eq!(app.api_get("/plans").await, serde_json::json!([]));

    // A good one is saved; a second save with a change is version 2.
    let r = ada
        .post_from("/plans/new", "/plans/new", &[("yaml", PLAN)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[LOCATION].to_str().expect("ascii").to_string();
    let id = to
        .strip_prefix("/plans/")
        .and_then(|rest| rest.split('?').next())
        .expect("an id")
        .to_string();
    let edit = format!("/plans/{id}/edit");
    let changed = PLAN.replace("wait: 30s", "wait: 1m");
    let r = ada.post_from(&edit, &edit, &[("yaml", &changed)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (status, html) = ada.get(&format!("/plans/{id}?from=1&to=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<tr class=\"del\">"), "a line out: {html}");
    assert!(
        html.contains("wait: 30s") && html.contains("wait: 1m"),
        "{html}"
    );
    assert!(html.contains("id=\"evaluation\""));

    let (status, html) = ada.get("/plans?lang=zh-CN").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("容灾预案") && html.contains("failover"),
        "{html}"
    );

    let preview = format!("/plans/{id}/preview");
    let r = ada
        .post_from(&preview, &preview, &[("params", "who: dba")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("page");
    assert!(html.contains("echo hello dba"), "{html}");

    // A viewer reads, previews, but may not edit.
    let vic = app.signed_in("vic").await;
    assert_eq!(vic.get(&format!("/plans/{id}")).await.0, StatusCode::OK);
    assert_eq!(vic.get(&edit).await.0, StatusCode::FORBIDDEN);
}
