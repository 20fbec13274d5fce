//! The fault drills console over HTTP against the real application: the list, a drill's page
//! and a run's page in English and 简体中文; a dry run; a run started and stopped through the
//! console; the safety lever pulled and released with a required comment (audited, a banner
//! on every drill page and the overview while engaged); and what a viewer and a caller
//! without any drills permission see.

mod console;

use console::*;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use std::time::Duration;

/// Three targets behind the built-in application fault switch; `fixed: 2` selects two.
fn drill_doc(name: &str) -> Value {
    let targets: Vec<Value> = ["app-1", "app-2", "app-3"]
        .iter()
        .map(|t| json!({"name": t, "vars": {"base": format!("http://127.0.0.1:9/{t}")}}))
        .collect();
    json!({
        "name": name,
        "description": "the switch of each app",
        "targets": targets,
        "blast_radius": {"fixed": 2},
        "faults": [{
            "operation": "fault.http.switch",
            "parameters": {"inject_url": "{{ base }}/faults",
                           "recover_url": "{{ base }}/faults/{{ target }}"},
            "max_duration": "5m"
        }],
        "observe": "1m"
    })
}

/// The app with the built-in fault operations; `engine`: whether the reconcile loop runs.
async fn drills_app(engine: bool) -> TestApp {
    let app = spawn_app_with(|c| {
        c.plans.builtin_faults = true;
        c.drills.enabled = engine;
        c.drills.tick_ms = 50;
    })
    .await;
    app.user("ada", &["admin"]).await;
    app.user("vic", &["viewer"]).await;
    app
}

async fn create_drill(app: &TestApp, name: &str) -> i64 {
    let r = app
        .api
        .post(format!("{}/api/v1/drills", app.base))
        .json(&drill_doc(name))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

fn location(r: &reqwest::Response) -> String {
    let to = r
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().expect("ascii"));
    to.unwrap_or_default().to_string()
}

/// The run id of a `/drill-runs/{id}?…` redirect.
fn run_of(r: &reqwest::Response) -> i64 {
    let to = location(r);
    to.strip_prefix("/drill-runs/")
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a run's page: {to}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_are_listed_dry_run_started_and_stopped_through_the_console_in_both_languages() {
    let app = drills_app(false).await;
    let id = create_drill(&app, "checkout switch").await;
    let ada = app.signed_in("ada").await;

    let (status, html) = ada.get("/drills?lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/drills""#), "the nav entry: {html}");
    assert!(
        html.contains("checkout switch") && html.contains("fixed 2 · 2/3"),
        "{html}"
    );
    assert!(html.contains("never run") && html.contains(r#"id="lever-form""#));
    let (_, zh) = ada.get("/drills?lang=zh-CN").await;
    assert!(zh.contains("故障演练") && zh.contains("安全总闸") && zh.contains("从未运行"));

    // The drill's page: its document, versions, the dry run and start forms.
    let page = format!("/drills/{id}");
    let (status, html) = ada.get(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("operation: fault.http.switch"),
        "YAML: {html}"
    );
    for id_attr in ["dry-run-form", "start-form", "versions", "lever"] {
        assert!(html.contains(&format!(r#"id="{id_attr}""#)), "{id_attr}");
    }

    // A dry run renders each selected target's fault and leaves the third out.
    let r = ada
        .post_from(&page, &format!("/drills/{id}/dry-run"), &[("version", "1")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("page");
    assert!(
        html.contains("drill-0-app-1") && html.contains("drill-0-app-2"),
        "{html}"
    );
    assert!(
        html.contains(r#"<span id="not-selected">app-3</span>"#),
        "{html}"
    );
    assert!(
        html.contains("POST http://127.0.0.1:9/app-1/faults"),
        "{html}"
    );
    assert!(
        app.api_get(&format!("/drills/{id}/runs")).await == json!([]),
        "nothing run"
    );

    // Start: the run's page, pending (no replica drives runs in this test).
    let r = ada
        .post_from(&page, &format!("/drills/{id}/runs"), &[("version", "1")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let run = run_of(&r);
    let (status, html) = ada.get(&format!("/drill-runs/{run}?lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-state="pending""#) && html.contains("stop-form"));
    assert!(html.contains(r#"id="target-app-2""#), "{html}");
    assert!(
        !html.contains(r#"id="target-app-3""#),
        "outside the blast radius"
    );
    let (_, zh) = ada.get(&format!("/drill-runs/{run}?lang=zh-CN")).await;
    assert!(zh.contains("待开始") && zh.contains("期望阶段") && zh.contains("停止运行"));

    let (_, overview) = ada.get("/?lang=en").await;
    assert!(overview.contains(r#"<span class="count" id="drill-runs-active">1</span>"#));
    assert!(overview.contains(r#"id="overview-drills""#) && overview.contains("lever-form"));

    // Stop: audited; a run that injected nothing ends cancelled.
    let run_page = format!("/drill-runs/{run}");
    let r = ada
        .post_from(
            &run_page,
            &format!("{run_page}/stop"),
            &[("comment", "enough")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", location(&r));
    assert_eq!(app.api_get(&run_page).await["state"], "cancelled");
    let audit = app.api_get("/audit?action=drill.run.stop").await;
    assert!(audit.to_string().contains("enough"), "{audit}");
    let (_, html) = ada.get(&run_page).await;
    assert!(html.contains(r#"data-state="cancelled""#) && !html.contains("stop-form"));
    // Stopping it again is a conflict, said on the page.
    let r = ada
        .post(&format!("{run_page}/stop"), &[("_csrf", &csrf_of(&html))])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.expect("page").contains("stop-problem"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safety_lever_is_pulled_and_released_from_the_console_with_a_comment() {
    let app = drills_app(false).await;
    let id = create_drill(&app, "lever drill").await;
    let ada = app.signed_in("ada").await;
    let page = format!("/drills/{id}");
    let r = ada
        .post_from(&page, &format!("/drills/{id}/runs"), &[])
        .await;
    let run = run_of(&r);

    // No comment: refused naming the field, the lever untouched.
    let r = ada
        .post_from(
            &page,
            "/drills/lever",
            &[("engaged", "true"), ("comment", " ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("page");
    assert!(html.contains(r#"id="lever-problem""#) && html.contains("<code>comment</code>"));
    assert_eq!(app.api_get("/drills/lever").await["engaged"], false);

    // Pulled: back on the drill's page with the banner; the active run is stopped.
    let fields = [
        ("engaged", "true"),
        ("comment", "incident on prod"),
        ("next", &page),
    ];
    let r = ada.post_from(&page, "/drills/lever", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{page}?notice=lever_pulled"));
    assert_eq!(app.api_get("/drills/lever").await["engaged"], true);
    assert_eq!(
        app.api_get(&format!("/drill-runs/{run}")).await["state"],
        "cancelled"
    );
    for shown in [page.as_str(), "/drills", &format!("/drill-runs/{run}"), "/"] {
        let (status, html) = ada.get(shown).await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert!(html.contains(r#"id="lever-banner""#), "{shown}: {html}");
        assert!(html.contains("incident on prod"), "{shown}");
    }
    let (_, zh) = ada.get("/?lang=zh-CN").await;
    assert!(
        zh.contains("安全总闸已拉下") && zh.contains("释放总闸"),
        "{zh}"
    );

    // While engaged the page offers no start, and a start posted anyway is refused (409).
    let (_, html) = ada.get(&page).await;
    assert!(!html.contains(r#"id="start-form""#));
    let r = ada
        .post(&format!("/drills/{id}/runs"), &[("_csrf", &csrf_of(&html))])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.expect("page").contains("<code>lever</code>"));

    // Released from the overview, back there; both changes are in the audit log.
    let fields = [
        ("engaged", "false"),
        ("comment", "all clear"),
        ("next", "/"),
    ];
    let r = ada.post_from("/", "/drills/lever", &fields).await;
    assert_eq!(location(&r), "/?notice=lever_released");
    let (_, html) = ada.get("/").await;
    assert!(!html.contains("lever-banner"));
    let audit = app.api_get("/audit?action=setting.set").await.to_string();
    assert!(
        audit.contains("incident on prod") && audit.contains("all clear"),
        "{audit}"
    );

    // A form naming another site comes back to the drills list instead.
    let fields = [
        ("engaged", "false"),
        ("comment", "x"),
        ("next", "https://evil.example/"),
    ];
    let r = ada.post_from("/", "/drills/lever", &fields).await;
    assert_eq!(location(&r), "/drills?notice=lever_released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_pages_follow_the_callers_permissions() {
    let app = drills_app(false).await;
    let id = create_drill(&app, "perm drill").await;
    app.user("nobody", &[]).await;

    // A viewer reads everything but has no start, stop or lever control, and is refused them.
    let vic = app.signed_in("vic").await;
    let (status, html) = vic.get(&format!("/drills/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/drills""#) && html.contains("dry-run-form"));
    assert!(!html.contains("start-form") && !html.contains("lever-form"));
    let (_, overview) = vic.get("/").await;
    assert!(overview.contains("overview-drills") && !overview.contains("lever-form"));
    let csrf = csrf_of(&html);
    for path in [format!("/drills/{id}/runs"), "/drills/lever".into()] {
        let fields = [
            ("_csrf", csrf.as_str()),
            ("engaged", "true"),
            ("comment", "x"),
        ];
        let r = vic.post(&path, &fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.api_get("/drills/lever").await["engaged"], false);

    // No drills permission: no nav entry, no overview panel, 403 on the pages.
    let nobody = app.signed_in("nobody").await;
    let (status, overview) = nobody.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!overview.contains(r#"href="/drills""#) && !overview.contains("overview-drills"));
    for path in ["/drills".to_string(), format!("/drills/{id}")] {
        assert_eq!(nobody.get(&path).await.0, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_driven_by_the_engine_shows_each_targets_fault_on_the_timeline() {
    // Nothing listens on the targets' port: the injections fail and the run stops to recover
    // every target (which keeps being retried here); the page shows what happened to each.
    let app = drills_app(true).await;
    let id = create_drill(&app, "unreachable switch").await;
    let ada = app.signed_in("ada").await;
    let page = format!("/drills/{id}");
    let r = ada
        .post_from(&page, &format!("/drills/{id}/runs"), &[])
        .await;
    let run = run_of(&r);
    let path = format!("/drill-runs/{run}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let v = app.api_get(&path).await;
        let events = v["events"].to_string();
        if v["state"] == "stopping" && events.contains("inject failed") {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "run {run}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        failed["reason"].to_string().contains("injection failed"),
        "{failed}"
    );
    let (status, html) = ada.get(&format!("{path}?lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="fault-chart""#), "the timeline: {html}");
    assert!(
        html.contains("bar-failed") && html.contains("inject failed"),
        "{html}"
    );
    assert!(html.contains(r#"data-desired="recovered""#), "{html}");
    assert!(html.contains("injection failed"), "the reason: {html}");
    assert!(!html.contains("stop-form"), "a stopping run offers no stop");
}
