//! What starts plans besides people: a schedule (cron in a time zone) fires each due slot once,
//! skips slots while an execution is active (said on its timeline) and, after a restart, fires
//! a slot missed while down once rather than replaying them; a risk event raised by a real
//! inspection run proposes an execution per answering plan that waits for a `plans:approve`
//! holder (once, however often the event is seen again), which runs when approved and ends
//! when rejected.

use acmangkut::config::AllowedCommand;
use acmangkut::store::plans::triggers::executions_of;
use chrono::{Duration as Span, Timelike, Utc};
use has_tests::inspection::{
    create as create_in_inspection, id, inspection_config, run_and_report,
};
use has_tests::{TestApp, TestDb, eventually, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "triggers-password";

fn config(db: &TestDb, plans: bool, inspection: bool) -> acmangkut::Config {
    let mut c = inspection_config(db, "http://127.0.0.1:9");
    c.scheduler.enabled = false;
    c.inspection.enabled = inspection;
    c.plans.enabled = plans;
    c.plans.tick_ms = 50;
    c.inspection.commands = [
        ("echo".to_string(), AllowedCommand::from("/bin/echo")),
        ("sh".to_string(), AllowedCommand::from("/bin/sh")),
    ]
    .into();
    c
}

async fn create_plan(app: &TestApp, doc: &Value) -> i64 {
    let r = app.post_json("/api/v1/plans", doc).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "create plan: {body}");
    id(&body)
}

/// Plan `plan`'s executions as the API shows them, oldest first.
async fn executions(app: &TestApp, plan: &str) -> Vec<Value> {
    let store = app.open_store().await;
    let plan = plan.to_string();
    let ids = store
        .run(move |c| executions_of(c, &plan))
        .await
        .expect("executions");
    let mut out = Vec::new();
    for i in ids {
        out.push(app.get_json(&format!("/api/v1/executions/{i}")).await);
    }
    out
}

async fn events(app: &TestApp, id: i64) -> Vec<Value> {
    let v = app
        .get_json(&format!("/api/v1/executions/{id}/events"))
        .await;
    v.as_array().cloned().unwrap_or_default()
}

async fn until_state(app: &TestApp, id: i64, state: &str) -> Value {
    eventually(Duration::from_secs(20), state, || async {
        let v = app.get_json(&format!("/api/v1/executions/{id}")).await;
        (v["state"] == state).then_some(v)
    })
    .await
}

/// The slots (Unix ms) the `schedule.skipped` events of execution `id` name.
async fn skipped_slots(app: &TestApp, id: i64) -> Vec<i64> {
    events(app, id)
        .await
        .iter()
        .filter(|e| e["what"] == "schedule.skipped")
        .map(|e| {
            let text = e["comment"].as_str().unwrap_or_default();
            let slot = text
                .strip_prefix("slot ")
                .and_then(|t| t.split(' ').next())
                .unwrap_or_else(|| panic!("no slot in {text}"));
            chrono::DateTime::parse_from_rfc3339(slot)
                .unwrap_or_else(|e| panic!("{slot}: {e}"))
                .timestamp_millis()
        })
        .collect()
}

fn wait_plan(name: &str, cron: &str, tz: &str) -> Value {
    json!({"name": name, "rto_objective": "1m",
           "triggers": {"schedule": {"cron": cron, "time_zone": tz}},
           "stages": [{"name": "s", "steps": [{"name": "settle", "wait": "1s"}]}]})
}

fn approval_plan(name: &str, cron: &str) -> Value {
    json!({"name": name,
           "triggers": {"schedule": {"cron": cron, "time_zone": "UTC"}},
           "stages": [{"name": "s", "steps": [{"name": "go", "approval": {"roles": ["admin"]}}]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_triggers_a_schedule_fires_once_at_its_slot_and_skips_slots_while_active() {
    let db = TestDb::new();
    let app = spawn_acmangkut(config(&db, true, false)).await;
    // One slot, three seconds from now, written in Shanghai's wall-clock time (UTC+8).
    let due = (Utc::now() + Span::seconds(3))
        .with_nanosecond(0)
        .expect("a time");
    let wall = due + Span::hours(8);
    let cron = wall.format("%S %M %H %d %m *").to_string();
    create_plan(&app, &wait_plan("practice", &cron, "Asia/Shanghai")).await;
    // And a plan every second whose execution waits for an approval meanwhile.
    create_plan(&app, &approval_plan("drill", "* * * * * *")).await;

    let first = eventually(Duration::from_secs(10), "the slot fired", || async {
        executions(&app, "practice").await.into_iter().next()
    })
    .await;
    let created = chrono::DateTime::parse_from_rfc3339(first["created_at"].as_str().expect("at"))
        .expect("a time");
    let late = created.timestamp_millis() - due.timestamp_millis();
    assert!((0..1500).contains(&late), "fired {late} ms after its slot");
    assert_eq!(
        (&first["comment"], &first["started_by"]),
        (&json!("scheduled"), &json!("system:schedule")),
        "{first}"
    );
    let done = until_state(&app, id(&first), "succeeded").await;
    assert_eq!(done["rto_met"], true, "{done}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        executions(&app, "practice").await.len(),
        1,
        "one slot, one execution"
    );

    // The drill's first execution waits; the slots after it are skipped, on its timeline.
    let drills = executions(&app, "drill").await;
    assert_eq!(
        drills.len(),
        1,
        "later slots are skipped, not queued: {drills:?}"
    );
    let waiting = until_state(&app, id(&drills[0]), "waiting_approval").await;
    let skipped = eventually(Duration::from_secs(10), "two skipped slots", || async {
        let s = skipped_slots(&app, id(&waiting)).await;
        (s.len() >= 2).then_some(s)
    })
    .await;
    assert!(
        skipped.windows(2).all(|w| w[1] - w[0] == 1000),
        "each slot once, in order: {skipped:?}"
    );
    assert!(app.metric("has_plan_schedule_skipped_total").await >= 2.0);
    assert!(app.metric("has_plan_execution_rto_seconds_count").await >= 1.0);

    // Aborted: the next slot starts one execution, not one per skipped slot.
    let r = app
        .post_json(
            &format!("/api/v1/executions/{}/abort", id(&waiting)),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    eventually(Duration::from_secs(10), "the next slot", || async {
        (executions(&app, "drill").await.len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(executions(&app, "drill").await.len(), 2);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_triggers_after_a_restart_a_missed_slot_fires_once() {
    let db = TestDb::new();
    // Down for the slots: the plan is saved with the execution engine off.
    let first = spawn_acmangkut(config(&db, false, false)).await;
    create_plan(&first, &approval_plan("nightly", "* * * * * *")).await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    first.handle.stop().await;

    let restarted_at = Utc::now().timestamp_millis();
    let app = spawn_acmangkut(config(&db, true, false)).await;
    let fired = eventually(Duration::from_secs(10), "the missed slot fired", || async {
        executions(&app, "nightly").await.into_iter().next()
    })
    .await;
    let waiting = until_state(&app, id(&fired), "waiting_approval").await;
    eventually(Duration::from_secs(10), "a slot skipped", || async {
        (!skipped_slots(&app, id(&waiting)).await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(executions(&app, "nightly").await.len(), 1);
    let skipped = skipped_slots(&app, id(&waiting)).await;
    // Whole seconds: the first slot after the restart may start within the second it began.
    assert!(
        skipped.iter().all(|s| *s >= restarted_at - 1000),
        "no slot missed while down was replayed (restart at {restarted_at}): {skipped:?}"
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_triggers_two_replicas_racing_for_every_slot_handle_each_once() {
    // Two replicas on PostgreSQL claim the same schedule every second; SQLite has one replica
    // by design. The plan waits for an approval, so its first slot starts the execution and
    // each later slot is skipped on its timeline: a slot handled twice shows there twice.
    let db = TestDb::new();
    let replica = |name: &str| {
        let mut c = config(&db, true, false);
        c.scheduler.replica_id = name.into();
        c
    };
    let a = spawn_acmangkut(replica("replica-a")).await;
    let b = match TestDb::is_postgres() {
        true => Some(spawn_acmangkut(replica("replica-b")).await),
        false => None,
    };
    create_plan(&a, &approval_plan("raced", "* * * * * *")).await;
    let fired = eventually(Duration::from_secs(10), "the first slot fired", || async {
        executions(&a, "raced").await.into_iter().next()
    })
    .await;
    let waiting = until_state(&a, id(&fired), "waiting_approval").await;
    let skipped = eventually(Duration::from_secs(15), "five skipped slots", || async {
        let s = skipped_slots(&a, id(&waiting)).await;
        (s.len() >= 5).then_some(s)
    })
    .await;
    assert_eq!(executions(&a, "raced").await.len(), 1, "one execution");
    assert!(
        skipped.windows(2).all(|w| w[1] > w[0]),
        "no slot handled twice: {skipped:?}"
    );
    let gaps = skipped.windows(2).filter(|w| w[1] - w[0] != 1000).count();
    assert!(gaps <= 1, "the slots follow each other: {skipped:?}");
    let mut counted = a.metric("has_plan_schedule_skipped_total").await;
    if let Some(b) = &b {
        counted += b.metric("has_plan_schedule_skipped_total").await;
    }
    let seen = skipped_slots(&a, id(&waiting)).await.len() as f64;
    assert!(
        counted <= seen,
        "each replica counts only the slots it skipped"
    );
    if let Some(b) = b {
        b.handle.stop().await;
    }
    a.handle.stop().await;
}

/// An operation appending `line` to `file` (so the test sees whether it ran).
async fn appender(app: &TestApp, file: &std::path::Path) {
    let op = json!({
        "code": "t.append", "name": "Append a line", "kind": "plan",
        "parameters": [{"name": "line", "type": "string", "required": true}],
        "do": {"action": "command", "command": "sh",
               "args": ["-c", format!("echo {{{{ line }}}} >> {}", file.display())]}
    });
    let r = app.post_json("/api/v1/operations", &op).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let r = app
        .post_json("/api/v1/operations/t.append/publish", &Value::Null)
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_triggers_a_risk_event_proposes_an_execution_that_waits_for_approval() {
    let db = TestDb::new();
    let app = spawn_acmangkut(config(&db, true, true)).await;
    for (user, role) in [("adam", "admin"), ("vic", "viewer")] {
        app.create_user(user, PASSWORD, &[role]).await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("log");
    appender(&app, &file).await;
    create_in_inspection(
        &app,
        "rules",
        &json!({"name": "disk-full", "plugin": "command", "level": "high",
                "params": {"command": "echo", "args": ["91%"], "stdout_contains": "ok"}}),
    )
    .await;
    let task = create_in_inspection(
        &app,
        "tasks",
        &json!({"name": "disks", "rules": ["disk-full"]}),
    )
    .await;
    let answer = |name: &str, min_level: &str| {
        json!({"name": name,
               "triggers": {"risk_events": [{"rule": "disk-full", "min_level": min_level}]},
               "stages": [{"name": "clean", "steps": [{"name": "clean", "operation":
                   {"code": "t.append", "params": {"line": name}}}]}]})
    };
    create_plan(&app, &answer("free-disk", "high")).await;
    create_plan(&app, &answer("page-someone", "medium")).await;
    let mut other = answer("other-rule", "low");
    other["triggers"]["risk_events"][0] = json!({"monitor": "web"});
    let r = app.post_json("/api/v1/plans", &other).await;
    assert_eq!(r.status(), 400, "a monitor that does not exist");
    let problem: Value = r.json().await.expect("json");
    assert_eq!(
        problem["field"], "triggers.risk_events[0].monitor",
        "{problem}"
    );

    run_and_report(&app, id(&task)).await;
    let risk = eventually(Duration::from_secs(10), "the risk event", || async {
        let page = app.get_json("/api/v1/inspection/risks").await;
        page["items"].as_array()?.first().cloned()
    })
    .await;
    let proposed = eventually(Duration::from_secs(10), "a proposal per plan", || async {
        let a = executions(&app, "free-disk").await.into_iter().next()?;
        let b = executions(&app, "page-someone").await.into_iter().next()?;
        Some((a, b))
    })
    .await;
    let (free, page) = proposed;
    for p in [&free, &page] {
        assert_eq!(p["state"], "waiting_approval", "{p}");
        assert_eq!(p["started_by"], "system:risk-events");
        let comment = p["comment"].as_str().expect("comment");
        assert!(
            comment.contains(&format!("risk event {}", id(&risk))),
            "{comment}"
        );
        assert_eq!(
            (&p["steps"][0]["id"], &p["steps"][0]["state"]),
            (&json!("proposal"), &json!("waiting_approval"))
        );
        assert_eq!(p["steps"][1]["state"], "pending", "nothing ran: {p}");
    }
    assert!(!file.exists(), "no step ran before the approval");

    // Seen again by the next run: still one proposal per plan.
    run_and_report(&app, id(&task)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(executions(&app, "free-disk").await.len(), 1);
    assert_eq!(executions(&app, "page-someone").await.len(), 1);

    let approve = |ex: &Value, what: &str| format!("/api/v1/executions/{}/{what}", id(ex));
    let vic = app.sign_in("vic", PASSWORD).await;
    let r = vic
        .request(Method::POST, &approve(&free, "approve"))
        .json(&json!({"comment": "go"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 403, "a viewer lacks plans:approve");
    let adam = app.sign_in("adam", PASSWORD).await;
    let r = adam
        .request(Method::POST, &approve(&free, "approve"))
        .json(&json!({"comment": "disk at 91%, clean it"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    until_state(&app, id(&free), "succeeded").await;
    let r = adam
        .request(Method::POST, &approve(&page, "reject"))
        .json(&json!({"comment": "not needed"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let rejected = until_state(&app, id(&page), "aborted").await;
    assert_eq!(rejected["steps"][1]["state"], "pending", "{rejected}");
    let lines = std::fs::read_to_string(&file).expect("the approved plan ran");
    assert_eq!(lines.lines().collect::<Vec<_>>(), ["free-disk"]);
    app.handle.stop().await;
}
