//! Fault drills end to end: the built-in `fault.http.switch` operation injected into and
//! recovered from a real HTTP server that records every call (a target with a fault switch),
//! steady state and stop conditions as real command checks (`test -e FILE`, so a test trips
//! one by removing the file). Recovery is timed from the moment the condition changes to the
//! moment the last target's recovery call arrives.

use acmangkut::config::AllowedCommand;
use has_tests::problems::{BadRequest, assert_each_refused};
use has_tests::webhook::WebhookReceiver;
use has_tests::{TestApp, TestDb, eventually, spawn::test_config, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};
use shared::chaostoolkit::{Journal, JournalStatus, RunStatus};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TARGETS: [&str; 3] = ["app-1", "app-2", "app-3"];

async fn app() -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    config.plans.builtin_faults = true;
    config.drills.tick_ms = 50;
    config.drills.max_fault_duration = shared::plan::Duration::from_millis(600_000);
    config.inspection.commands =
        [("test".to_string(), AllowedCommand::from("/usr/bin/test"))].into();
    (spawn_acmangkut(config).await, db)
}

/// A file whose presence is the steady state (and whose absence trips the stop condition).
pub(crate) fn marker() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("healthy");
    std::fs::write(&file, b"ok").expect("write the marker");
    (dir, file)
}

pub(crate) fn exists(file: &Path) -> Value {
    json!({"check": "command", "command": "test", "args": ["-e", file.to_str().expect("utf-8")],
           "timeout_ms": 2000})
}

/// A drill of the three targets, each a path of `receiver`, with the http fault switch.
fn drill(receiver: &WebhookReceiver, file: &Path, observe: &str) -> Value {
    drill_of(receiver, &TARGETS, file, observe)
}

/// A drill of `targets`, each a path of `receiver` (`/<target>`), with the http fault switch.
pub(crate) fn drill_of(
    receiver: &WebhookReceiver,
    targets: &[&str],
    file: &Path,
    observe: &str,
) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .map(|t| json!({"name": t, "vars": {"base": receiver.url(&format!("/{t}"))}}))
        .collect();
    json!({
        "name": format!("switch drill {}", uuid_ish()),
        "targets": targets,
        "blast_radius": "all",
        "steady_state": [exists(file)],
        "stop_conditions": {"checks": [exists(file)], "interval": "200ms"},
        "faults": [{
            "operation": "fault.http.switch",
            "parameters": {"inject_url": "{{ base }}/faults",
                           "recover_url": "{{ base }}/faults/{{ target }}"},
            "max_duration": "5m"
        }],
        "observe": observe
    })
}

pub(crate) fn uuid_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

async fn create(app: &TestApp, doc: &Value) -> i64 {
    let (status, body) = app.send(Method::POST, "/api/v1/drills", Some(doc)).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().expect("id")
}

async fn start(app: &TestApp, drill: i64) -> i64 {
    let path = format!("/api/v1/drills/{drill}/runs");
    let (status, body) = app.send(Method::POST, &path, Some(&json!({}))).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().expect("id")
}

async fn run(app: &TestApp, id: i64) -> Value {
    app.get_json(&format!("/api/v1/drill-runs/{id}")).await
}

/// The run once every target is observed `phase`.
async fn until_all(app: &TestApp, id: i64, phase: &str) -> Value {
    eventually(
        Duration::from_secs(15),
        &format!("every target {phase}"),
        || async {
            let r = run(app, id).await;
            let all = r["targets"]
                .as_array()
                .is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["observed"] == phase));
            all.then_some(r)
        },
    )
    .await
}

async fn until_state(app: &TestApp, id: i64, state: &str) -> Value {
    eventually(
        Duration::from_secs(15),
        &format!("run {id} {state}"),
        || async {
            let r = run(app, id).await;
            (r["state"] == state).then_some(r)
        },
    )
    .await
}

/// Calls of `method` the receiver had for `target`.
pub(crate) fn calls(receiver: &WebhookReceiver, method: &str, target: &str) -> usize {
    receiver
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.starts_with(&format!("/{target}/")))
        .count()
}

/// Waits (polling every 5 ms) until every target has had a recovery call; the time it took.
async fn until_recovered(receiver: &WebhookReceiver, since: Instant, within: Duration) -> Duration {
    until_each_recovered(receiver, &TARGETS, since, within).await
}

/// As [`until_recovered`], for `targets`.
pub(crate) async fn until_each_recovered(
    receiver: &WebhookReceiver,
    targets: &[&str],
    since: Instant,
    within: Duration,
) -> Duration {
    loop {
        if targets.iter().all(|t| calls(receiver, "DELETE", t) > 0) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "not every target recovered within {within:?}: {:?}",
            receiver
                .requests()
                .iter()
                .map(|r| (&r.method, &r.path))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for gauge `name` to read `value`: the engine refreshes its gauges from the database
/// every tick, so they trail a state change by up to one.
async fn gauge(app: &TestApp, name: &str, value: f64) {
    eventually(Duration::from_secs(5), name, || async {
        (app.metric(name).await == value).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_a_stop_condition_tripping_recovers_every_target_within_a_second() {
    let (app, _db) = app().await;
    let receiver = WebhookReceiver::start().await;
    let (_dir, file) = marker();
    let id = start(&app, create(&app, &drill(&receiver, &file, "1m")).await).await;
    until_all(&app, id, "injected").await;
    for t in TARGETS {
        assert_eq!(calls(&receiver, "POST", t), 1, "{t} injected once");
        assert_eq!(calls(&receiver, "DELETE", t), 0, "{t} not recovered yet");
    }

    let (status, body) = app
        .send(
            Method::GET,
            &format!("/api/v1/drill-runs/{id}/journal"),
            None,
        )
        .await;
    assert_eq!((status, &body["field"]), (409, &json!("state")), "{body}");

    let tripped = Instant::now();
    std::fs::remove_file(&file).expect("remove the marker");
    let took = until_recovered(&receiver, tripped, Duration::from_secs(5)).await;
    eprintln!(
        "drill recovery after a stop condition tripped: {} ms",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(1), "recovered in {took:?}");

    let r = until_state(&app, id, "stopped").await;
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("stop condition")),
        "{r}"
    );
    for t in r["targets"].as_array().expect("targets") {
        assert_eq!(t["desired"], "recovered", "{t}");
        assert_eq!(t["observed"], "recovered", "{t}");
        assert_eq!(
            (t["injects"].as_i64(), t["recovers"].as_i64()),
            (Some(1), Some(1)),
            "{t}"
        );
    }
    gauge(&app, "has_drill_faults_injected", 0.0).await;

    // As `chaos run --fail-fast` ends on a deviation during the method.
    let j = journal(&app, id).await;
    assert_eq!((j.status, j.deviated), (JournalStatus::Failed, true));
    assert_eq!(
        j.steady_states.before.as_ref().map(|s| s.steady_state_met),
        Some(Some(true))
    );
    let during: Vec<_> = j
        .steady_states
        .during
        .iter()
        .map(|s| s.steady_state_met)
        .collect();
    assert_eq!(during, [Some(false)]);
    assert_eq!((j.run.len(), j.rollbacks.len()), (3, 3));
    let succeeded = |a: &shared::chaostoolkit::Run| a.status == Some(RunStatus::Succeeded);
    assert!(
        j.run.iter().chain(&j.rollbacks).all(succeeded),
        "{}",
        j.to_json()
    );
}

/// The run's Chaos Toolkit journal, read as `chaos` writes one.
async fn journal(app: &TestApp, id: i64) -> Journal {
    let resp = app.get(&format!("/api/v1/drill-runs/{id}/journal")).await;
    assert_eq!(resp.status(), 200);
    Journal::parse(&resp.text().await.expect("body")).expect("a Chaos Toolkit journal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_steady_state_failing_injects_nothing() {
    let (app, _db) = app().await;
    let receiver = WebhookReceiver::start().await;
    let (_dir, file) = marker();
    std::fs::remove_file(&file).expect("no steady state");
    let id = start(&app, create(&app, &drill(&receiver, &file, "1m")).await).await;
    let r = until_state(&app, id, "failed").await;
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("steady state")),
        "{r}"
    );
    assert!(
        receiver.requests().is_empty(),
        "nothing may be called: {:?}",
        receiver.requests()
    );
    for t in r["targets"].as_array().expect("targets") {
        assert_eq!(t["observed"], "recovered", "{t}");
        assert_eq!(t["injects"], 0, "{t}");
    }
    // As `chaos run` ends when the hypothesis does not hold before the method.
    let j = journal(&app, id).await;
    assert_eq!(
        (j.status, j.deviated, j.exit_code()),
        (JournalStatus::Completed, false, 0)
    );
    assert_eq!(
        j.steady_states.before.as_ref().map(|s| s.steady_state_met),
        Some(Some(false))
    );
    assert!(
        j.run.is_empty() && j.rollbacks.is_empty(),
        "{}",
        j.to_json()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_the_safety_lever_stops_running_drills_and_refuses_new_ones() {
    let (app, _db) = app().await;
    let receiver = WebhookReceiver::start().await;
    let (_dir, file) = marker();
    let drill_id = create(&app, &drill(&receiver, &file, "1m")).await;
    let id = start(&app, drill_id).await;
    until_all(&app, id, "injected").await;

    let pulled = Instant::now();
    let (status, body) = app
        .send(
            Method::POST,
            "/api/v1/drills/lever",
            Some(&json!({"engaged": true,
            "comment": "incident in progress"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stopped"], json!([id]));
    let took = until_recovered(&receiver, pulled, Duration::from_secs(5)).await;
    eprintln!(
        "drill recovery after the safety lever: {} ms",
        took.as_millis()
    );
    let r = until_state(&app, id, "stopped").await;
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("safety lever")),
        "{r}"
    );
    gauge(&app, "has_drill_safety_lever", 1.0).await;

    // The lever's path is not a drill id: other methods there are a 405 naming its two only.
    for method in [Method::PUT, Method::DELETE, Method::OPTIONS] {
        let (status, body) = app
            .send(method.clone(), "/api/v1/drills/lever", Some(&json!({})))
            .await;
        assert_eq!(status, 405, "{method} {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.ends_with("use GET, POST"), "{method} {body}");
    }

    let path = format!("/api/v1/drills/{drill_id}/runs");
    let (status, body) = app.send(Method::POST, &path, Some(&json!({}))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["field"], "lever", "{body}");
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/drills/lever",
            Some(&json!({"engaged": false})),
        )
        .await;
    assert_eq!(status, 200);
    let again = start(&app, drill_id).await;
    assert!(again > id);
    let audit = app.get_json("/api/v1/audit?action=setting.set").await;
    assert!(audit.to_string().contains("drills.lever"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_a_run_is_deleted_only_once_every_target_is_recovered() {
    let (app, _db) = app().await;
    let receiver = WebhookReceiver::start().await;
    let (_dir, file) = marker();
    let id = start(&app, create(&app, &drill(&receiver, &file, "1m")).await).await;
    until_all(&app, id, "injected").await;
    let path = format!("/api/v1/drill-runs/{id}");
    let (status, body) = app.send(Method::DELETE, &path, None).await;
    assert_eq!(status, 409, "{body}");

    // Recoveries fail (the target answers 500) until the operator cleans up a gone target.
    receiver.answer(500, r#"{"error":"down"}"#);
    let (status, body) = app
        .send(
            Method::POST,
            &format!("{path}/stop"),
            Some(&json!({"comment": "enough"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = run(&app, id).await;
    assert_eq!(r["state"], "stopping", "{r}");
    let (status, body) = app.send(Method::DELETE, &path, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("app-1")),
        "{body}"
    );

    for t in TARGETS {
        let cleanup = format!("{path}/targets/{t}/cleanup");
        let (status, body) = app
            .send(
                Method::POST,
                &cleanup,
                Some(&json!({"comment": "host decommissioned"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    until_state(&app, id, "stopped").await;
    let (status, body) = app.send(Method::DELETE, &path, None).await;
    assert_eq!(status, 204, "{body}");
    let audit = app
        .get_json("/api/v1/audit?action=drill.run.force_cleanup")
        .await;
    assert_eq!(
        audit.to_string().matches("host decommissioned").count(),
        3,
        "{audit}"
    );
}

#[tokio::test]
async fn drills_bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    let (app, _db) = app().await;
    let receiver = WebhookReceiver::start().await;
    let (_dir, file) = marker();
    let good = drill(&receiver, &file, "1m");
    let with = |path: &[&str], v: Value| {
        let mut d = good.clone();
        let mut at = &mut d;
        for (i, k) in path.iter().enumerate() {
            if i + 1 == path.len() {
                at[*k] = v.clone();
            } else {
                at = match k.parse::<usize>() {
                    Ok(n) => &mut at[n],
                    Err(_) => &mut at[*k],
                };
            }
        }
        d.to_string()
    };
    let bad = |why, body: String, field| BadRequest {
        why,
        method: "POST",
        path: "/api/v1/drills".into(),
        content_type: "application/json",
        body,
        status: 400,
        field: Some(field),
    };
    let mut unknown = good.clone();
    unknown["radius"] = json!(2);
    let mut no_recover = good.clone();
    no_recover["faults"][0]["parameters"]
        .as_object_mut()
        .expect("parameters")
        .remove("recover_url");
    let cases = vec![
        bad("an unknown field", unknown.to_string(), "radius"),
        bad("no targets", with(&["targets"], json!([])), "targets"),
        bad(
            "more targets hit than listed",
            with(&["blast_radius"], json!({"fixed": 4})),
            "blast_radius.fixed",
        ),
        bad(
            "a fault longer than drills.max_fault_duration",
            with(&["faults", "0", "max_duration"], json!("1h")),
            "faults[0].max_duration",
        ),
        bad(
            "an operation nobody published",
            with(&["faults", "0", "operation"], json!("fault.nope")),
            "faults[0].operation",
        ),
        bad(
            "a parameter the operation lacks",
            with(&["faults", "0", "parameters", "nope"], json!("x")),
            "faults[0].parameters.nope",
        ),
        bad(
            "a required parameter missing",
            no_recover.to_string(),
            "faults[0].parameters.recover_url",
        ),
        bad(
            "a fault id set by hand",
            with(&["faults", "0", "parameters", "fault_id"], json!("x")),
            "faults[0].parameters.fault_id",
        ),
        bad(
            "a stop condition every 10 ms",
            with(&["stop_conditions", "interval"], json!("10ms")),
            "stop_conditions.interval",
        ),
        bad(
            "a template of a variable no target has",
            with(
                &["faults", "0", "parameters", "inject_url"],
                json!("{{ nope }}/x"),
            ),
            "faults[0].parameters.inject_url",
        ),
    ];
    assert_each_refused(&app, cases).await;
    assert_eq!(app.get_json("/api/v1/drills").await, json!([]));
    let audit = app.get_json("/api/v1/audit?action=drill.create").await;
    assert!(!audit.to_string().contains("drill.create"), "{audit}");
}

#[tokio::test]
async fn drills_a_dry_run_shows_the_selection_and_injects_nothing() {
    let (app, _db) = app().await;
    let receiver = WebhookReceiver::start().await;
    let (_dir, file) = marker();
    let mut doc = drill(&receiver, &file, "1m");
    doc["blast_radius"] = json!({"percent": 50});
    let id = create(&app, &doc).await;
    let path = format!("/api/v1/drills/{id}/runs");
    let (status, p) = app
        .send(Method::POST, &path, Some(&json!({"dry_run": true})))
        .await;
    assert_eq!(status, 200, "{p}");
    let selected: Vec<&str> = p["selected"]
        .as_array()
        .expect("selected")
        .iter()
        .filter_map(|t| t["target"].as_str())
        .collect();
    assert_eq!(
        selected,
        ["app-1", "app-2"],
        "50 % of 3, rounded up, in order: {p}"
    );
    assert_eq!(p["not_selected"], json!(["app-3"]));
    let inject = p["selected"][0]["faults"][0]["inject"]
        .as_str()
        .unwrap_or("");
    assert!(inject.contains(&receiver.url("/app-1/faults")), "{p}");
    assert_eq!(p["steady_state_holds"], true, "{p}");
    assert!(receiver.requests().is_empty());
    assert_eq!(app.get_json(&path).await, json!([]), "no run was written");
}
