//! Plan executions in the console, against the real application and its execution engine: the
//! start form on the plan's page (a parameter of the wrong type is refused naming it, nothing
//! started), the execution's page with its timeline fragment (a bar per step), the approvals
//! inbox (four eyes: the starter gets no form and is refused when posting anyway; a second
//! admin approves), a viewer who sees no action and is refused, the plan's list and RTO chart,
//! the list route, and both languages.

mod console;

use console::*;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;
use std::time::{Duration, Instant};

const PLAN: &str = "name: drill
rto_objective: 5m
parameters:
  - {name: who, type: string, default: ops}
  - {name: count, type: integer, default: 1}
stages:
  - name: gate
    steps:
      - name: approve
        approval: {roles: [admin]}
  - name: work
    steps:
      - name: settle
        wait: 1s
      - name: say
        check:
          gate: {check: command, command: echo, args: ['hello {{ params.who }} {{ params.count }}']}
";

fn location(r: &reqwest::Response) -> String {
    r.headers()[LOCATION].to_str().expect("ascii").to_string()
}

/// The id in `/prefix/{id}?…`.
fn id_in(url: &str, prefix: &str) -> String {
    url.strip_prefix(prefix)
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_else(|| panic!("{url} under {prefix}"))
        .to_string()
}

/// Polls the API until the execution is in `state` (the engine ticks every half second).
async fn until_state(app: &TestApp, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = app.api_get(&format!("/executions/{id}")).await;
        if e["state"] == state {
            return e;
        }
        assert!(Instant::now() < deadline, "never {state}: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_is_started_approved_by_a_second_admin_and_watched_on_its_timeline() {
    let app = inspection_app(|_| {}).await;
    app.user("bea", &["admin"]).await;
    let ada = app.signed_in("ada").await;
    let r = ada
        .post_from("/plans/new", "/plans/new", &[("yaml", PLAN)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let plan = id_in(&location(&r), "/plans/");
    let page = format!("/plans/{plan}");
    let start = format!("/plans/{plan}/executions");

    let (status, html) = ada.get(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"start-form\"") && html.contains("name=\"param.count\""),
        "{html}"
    );

    // A parameter of the wrong type: the page again naming it, what was typed kept, nothing
    // started.
    let r = ada
        .post_from(&page, &start, &[("param.count", "many"), ("comment", "x")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("page");
    assert!(html.contains("id=\"start-problem\""), "{html}");
    assert!(
        html.contains("count") && html.contains("value=\"many\""),
        "{html}"
    );
    let list = app.api_get(&format!("/plans/{plan}/executions")).await;
    assert_eq!(list["total"], 0, "{list}");

    let fields = [("param.who", "dba"), ("comment", "quarterly drill")];
    let r = ada.post_from(&page, &start, &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = id_in(&location(&r), "/executions/");
    let exec_page = format!("/executions/{id}");
    until_state(&app, &id, "waiting_approval").await;

    // The starter sees the execution but no approval form, and is refused posting one.
    let (status, html) = ada.get(&exec_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("quarterly drill") && html.contains("id=\"gantt-chart\""));
    assert!(html.contains("/static/timeline.js?v="), "the live script");
    assert!(html.contains("/executions/{id}/pause".replace("{id}", &id).as_str()));
    assert!(!html.contains("approve-form"), "four eyes: {html}");
    let approve = format!("/executions/{id}/approve");
    let r = ada
        .post_from(&exec_page, &approve, &[("comment", "me myself")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("id=\"action-problem\"")
    );
    let (_, inbox) = ada.get("/approvals").await;
    assert!(inbox.contains("id=\"no-approvals\""), "{inbox}");
    // The overview shows it in flight, and no approval waiting for its starter.
    let link = format!("href=\"/executions/{id}\"");
    let (_, home) = ada.get("/").await;
    let panel = |html: &str, id: &str| -> String {
        let from = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}"));
        html[from..]
            .split("</section>")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        panel(&home, "overview-executions").contains(&link),
        "{home}"
    );
    assert!(
        !panel(&home, "overview-approvals").contains(&link),
        "four eyes: {home}"
    );

    // A viewer reads it, has no forms, and is refused acting.
    let vic = app.signed_in("vic").await;
    let (status, html) = vic.get(&exec_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("id=\"actions\""), "{html}");
    let pause = format!("/executions/{id}/pause");
    let r = vic.post_from(&exec_page, &pause, &[("comment", "")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(vic.get("/approvals").await.0, StatusCode::FORBIDDEN);
    let (_, home) = vic.get("/").await;
    assert!(home.contains("id=\"overview-executions\""), "{home}");
    assert!(
        !home.contains("id=\"overview-approvals\""),
        "no plans:approve: {home}"
    );

    // A second admin approves from the inbox; a comment is required.
    let bea = app.signed_in("bea").await;
    let (status, inbox) = bea.get("/approvals").await;
    assert_eq!(status, StatusCode::OK);
    assert!(inbox.contains(&format!("approval-{id}-")), "{inbox}");
    let (_, home) = bea.get("/").await;
    assert!(panel(&home, "overview-approvals").contains(&link), "{home}");
    let r = bea
        .post_from(
            "/approvals",
            &approve,
            &[("comment", " "), ("back", "/approvals")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no comment");
    let r = bea
        .post_from(
            "/approvals",
            &approve,
            &[("comment", "looks right"), ("back", "/approvals")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/approvals"));
    let done = until_state(&app, &id, "succeeded").await;
    assert!(done["rto_ms"].as_i64().is_some(), "{done}");

    // The fragment: a bar per step, the event log with the approver's comment, no more polling.
    let (status, tl) = bea.get(&format!("/executions/{id}/timeline")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tl.starts_with("<div id=\"timeline\""), "a fragment: {tl}");
    assert!(tl.contains("data-live=\"false\""));
    for step in ["approve", "settle", "say"] {
        assert!(tl.contains(&format!(">{step}</text>")), "{step}: {tl}");
    }
    assert!(
        tl.matches("<rect class=\"bar bar-ok\"").count() >= 3,
        "{tl}"
    );
    assert!(
        tl.contains("looks right") && tl.contains("hello dba 1"),
        "{tl}"
    );

    // The plan's page lists it and charts its RTO against the objective.
    let (_, html) = ada.get(&page).await;
    assert!(html.contains(&format!("id=\"execution-{id}\"")), "{html}");
    assert!(html.contains("id=\"rto-chart\"") && html.contains("id=\"rto-objective\""));
    let list = app
        .api_get(&format!("/plans/{plan}/executions?per_page=5"))
        .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"].to_string(), id);
    assert_eq!(list["items"][0]["state"], "succeeded");

    // Both languages.
    let (_, zh) = bea.get(&format!("{exec_page}?lang=zh-CN")).await;
    assert!(zh.contains("时间线") && zh.contains("成功"), "{zh}");
    let (_, zh) = bea.get("/approvals?lang=zh-CN").await;
    assert!(zh.contains("待审批"), "{zh}");
}
