//! Disaster-recovery plans over HTTP: each save a version, the line diff of two versions, the
//! preview (every step rendered, nothing called), and a table of bad plans each answered with
//! problem+json naming the field, with nothing written (rows counted before and after).

use acmangkut::config::AllowedCommand;
use has_tests::inspection::{audit_count, create as create_in_inspection, inspection_config};
use has_tests::problems::{BadRequest, assert_each_refused};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use serde_json::{Value, json};

/// An app whose allow-list has `touch` (so a preview that ran anything would leave a file).
async fn app() -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = inspection_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    config.inspection.commands = [(
        "touch".to_string(),
        AllowedCommand::Path("/usr/bin/touch".into()),
    )]
    .into();
    (spawn_acmangkut(config).await, db)
}

/// `POST /api/v1/plans` that must answer 201.
async fn create(app: &TestApp, doc: &Value) -> Value {
    let r = app.post_json("/api/v1/plans", doc).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "create plan: {body}");
    body
}

async fn put(app: &TestApp, id: i64, doc: &Value) -> (u16, Value) {
    let r = app
        .http
        .put(app.url(&format!("/api/v1/plans/{id}")))
        .json(doc)
        .send()
        .await
        .expect("PUT");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// A plan of two stages: an approval and a wait, then a gate over a group of two targets.
fn plan(name: &str, wait: &str) -> Value {
    json!({
        "name": name,
        "rto_objective": "10m",
        "parameters": [{"name": "marker", "type": "string", "default": "/tmp/has-never"}],
        "targets": [{"name": "dbs", "vars": {"dir": "/tmp"},
                     "members": [{"name": "db1"}, {"name": "db2", "vars": {"dir": "/var/tmp"}}]}],
        "stages": [
            {"name": "prepare", "steps": [
                {"name": "approve", "approval": {"roles": ["admin"], "expires": "30m"}},
                {"name": "settle", "wait": wait}
            ]},
            {"name": "verify", "max_parallelism": 1, "steps": [
                {"name": "gate", "check": {"targets": "dbs", "retry_interval": "2s",
                  "gate": {"check": "command", "command": "touch",
                           "args": ["{{ dir }}/{{ params.marker }}-{{ target }}"]}},
                 "timeout": "1m", "retries": 2, "retry_backoff": "5s"}
            ]}
        ]
    })
}

/// Plans, their versions (the latest of each, summed) and audit rows.
async fn counts(app: &TestApp) -> (usize, i64, i64) {
    let plans = app.get_json("/api/v1/plans").await;
    let plans = plans.as_array().cloned().unwrap_or_default();
    let versions = plans
        .iter()
        .map(|p| p["version"].as_i64().unwrap_or(0))
        .sum();
    (plans.len(), versions, audit_count(app, "").await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_save_of_a_plan_is_a_version_and_two_versions_diff_line_by_line() {
    let (app, _db) = app().await;

    let made = create(&app, &plan("failover", "30s")).await;
    let pid = id(&made);
    assert_eq!(made["version"], 1);
    let (status, same) = put(&app, pid, &plan("failover", "30s")).await;
    assert_eq!(
        (status, &same["version"]),
        (200, &json!(1)),
        "the same document adds none"
    );
    let (status, saved) = put(&app, pid, &plan("failover", "1m")).await;
    assert_eq!((status, &saved["version"]), (200, &json!(2)), "{saved}");

    let versions = app.get_json(&format!("/api/v1/plans/{pid}/versions")).await;
    let numbers: Vec<&Value> = versions
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)], "newest first");
    assert_eq!(
        versions[1]["document"]["stages"][0]["steps"][1]["wait"],
        "30s"
    );
    assert_eq!(versions[0]["created_by"], versions[1]["created_by"]);

    let diff = app
        .get_json(&format!("/api/v1/plans/{pid}/diff?from=1&to=2"))
        .await;
    let unified = diff["unified"].as_str().expect("unified");
    assert!(
        unified.starts_with("--- version 1\n+++ version 2\n"),
        "{unified}"
    );
    assert!(
        unified.contains("-    wait: 30s\n+    wait: 1m\n"),
        "{unified}"
    );
    let changed: Vec<&Value> = diff["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["tag"] != "equal")
        .collect();
    assert_eq!(changed.len(), 2, "one line out, one in: {changed:?}");
    let latest = app.get_json(&format!("/api/v1/plans/{pid}/diff")).await;
    assert_eq!((&latest["from"], &latest["to"]), (&json!(1), &json!(2)));

    assert_eq!(audit_count(&app, "plan.create").await, 1);
    assert_eq!(
        audit_count(&app, "plan.update").await,
        1,
        "the unchanged save is not one"
    );
    let ev = app
        .post_json(&format!("/api/v1/plans/{pid}/evaluate"), &Value::Null)
        .await;
    let ev: Value = ev.json().await.expect("evaluation");
    assert_eq!(ev["ok"], true, "{ev}");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_a_plan_notifies_keeps_its_name_until_no_plan_names_it() {
    let (app, _db) = app().await;
    let hook = |name: &str| {
        json!({"name": name, "spec": {"kind": "webhook",
                                                        "url": "http://127.0.0.1:9/"}})
    };
    let ops = id(&create_in_inspection(&app, "channels", &hook("ops")).await);
    let pager = id(&create_in_inspection(&app, "channels", &hook("pager")).await);
    let mut told = plan("told", "1s");
    told["notify"] = json!({"channels": ["ops"]});
    let told_id = id(&create(&app, &told).await);
    let mut stepped = plan("stepped", "1s");
    stepped["stages"][0]["steps"][1] =
        json!({"name": "tell", "notify": {"channels": ["pager"], "message": "hi"}});
    create(&app, &stepped).await;
    let channel = |id: i64| format!("/api/v1/inspection/channels/{id}");
    let before = audit_count(&app, "channel.").await;

    for (id, name, plan) in [(ops, "ops", "told"), (pager, "pager", "stepped")] {
        let renamed = app
            .http
            .put(app.url(&channel(id)))
            .json(&hook("renamed"))
            .send()
            .await
            .expect("PUT");
        assert_eq!(renamed.status(), 409, "renaming {name}");
        let body: Value = renamed.json().await.expect("problem");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(&format!("plans ({plan})")), "{body}");
        let deleted = app
            .http
            .delete(app.url(&channel(id)))
            .send()
            .await
            .expect("DELETE");
        assert_eq!(deleted.status(), 409, "deleting {name}");
        let body: Value = deleted.json().await.expect("problem");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(plan),
            "{body}"
        );
    }
    assert_eq!(
        audit_count(&app, "channel.").await,
        before,
        "nothing written"
    );
    assert_eq!(app.get_json(&channel(ops)).await["name"], "ops");

    // A new version that no longer names the channel frees it.
    told["notify"] = Value::Null;
    let (status, body) = put(&app, told_id, &told).await;
    assert_eq!(status, 200, "{body}");
    let deleted = app
        .http
        .delete(app.url(&channel(ops)))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_renders_every_step_for_every_target_and_runs_nothing() {
    let (app, _db) = app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut doc = plan("drill", "30s");
    doc["targets"][0]["vars"]["dir"] = json!(dir.path());
    doc["targets"][0]["members"][1]["vars"]["dir"] = json!(dir.path());
    let pid = id(&create(&app, &doc).await);

    let r = app
        .post_json(
            &format!("/api/v1/plans/{pid}/preview"),
            &json!({"params": {"marker": "touched"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.expect("preview");

    assert_eq!((&p["name"], &p["version"]), (&json!("drill"), &json!(1)));
    assert_eq!(p["params"]["marker"], "touched");
    let prepare = &p["stages"][0]["steps"];
    assert_eq!(prepare[0]["detail"], "approval by admin; expires after 30m");
    assert_eq!(prepare[1]["detail"], "wait 30s");
    let gate = &p["stages"][1]["steps"][0];
    assert_eq!(gate["field"], "stages[1].steps[0]");
    assert_eq!(
        (&gate["timeout"], &gate["retries"]),
        (&json!("1m"), &json!(2))
    );
    let calls = gate["calls"].as_array().expect("calls");
    let d = dir.path().display();
    let expected = [
        ("db1", format!("touch {d}/touched-db1")),
        ("db2", format!("touch {d}/touched-db2")),
    ];
    for (call, (target, line)) in calls.iter().zip(&expected) {
        assert_eq!(
            (&call["target"], &call["call"]),
            (&json!(target), &json!(line))
        );
    }
    assert_eq!(calls.len(), 2);
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "nothing ran: touch made no file"
    );

    // A parameter of the wrong type, and one the plan does not have.
    let r = app
        .post_json(
            &format!("/api/v1/plans/{pid}/preview"),
            &json!({"params": {"marker": 3}}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("problem");
    assert_eq!(body["field"], "params.marker", "{body}");
    app.handle.stop().await;
}

fn bad(
    why: &'static str,
    method: &'static str,
    path: String,
    body: String,
    field: &'static str,
) -> BadRequest {
    BadRequest {
        why,
        method,
        path,
        content_type: "application/json",
        body,
        status: 400,
        field: (!field.is_empty()).then_some(field),
    }
}

/// The plan with `f` applied to its JSON.
fn with(f: impl FnOnce(&mut Value)) -> String {
    let mut doc = plan("bad", "30s");
    f(&mut doc);
    doc.to_string()
}

fn step(doc: &mut Value, stage: usize, step: Value) {
    doc["stages"][stage]["steps"]
        .as_array_mut()
        .expect("steps")
        .push(step);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plans_get_problem_json_naming_the_field_and_write_nothing() {
    let (app, _db) = app().await;
    create_in_inspection(
        &app,
        "channels",
        &json!({"name": "ops", "spec": {"kind": "webhook", "url": "http://127.0.0.1:9/"}}),
    )
    .await;
    // `leaf` runs no sub-plan; `middle` runs `leaf`.
    let mut leaf = plan("leaf", "1s");
    leaf["parameters"] = json!([]);
    leaf["targets"] = json!([]);
    leaf["stages"] = json!([{"name": "s", "steps": [{"name": "w", "wait": "1s"}]}]);
    create(&app, &leaf).await;
    let mut middle = leaf.clone();
    middle["name"] = json!("middle");
    middle["stages"][0]["steps"] = json!([{"name": "run leaf", "plan": {"name": "leaf"}}]);
    let middle_id = id(&create(&app, &middle).await);
    let mut solo = leaf.clone();
    solo["name"] = json!("solo");
    create(&app, &solo).await;
    let leaf_id = id(&app.get_json("/api/v1/plans").await[0]);
    // An operation whose call names a secret the executor does not have.
    let op = json!({"code": "t.call", "name": "Call", "kind": "plan",
        "do": {"action": "http", "url": "http://127.0.0.1:9/",
               "headers": {"Authorization": "Bearer {{ secret.api_token }}"}}});
    let r = app.post_json("/api/v1/operations", &op).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let r = app
        .post_json("/api/v1/operations/t.call/publish", &Value::Null)
        .await;
    assert_eq!(r.status(), 200);
    let before = counts(&app).await;

    let post = |why, body, field| bad(why, "POST", "/api/v1/plans".into(), body, field);
    #[rustfmt::skip]
    let cases = vec![
        post("an operation the catalog does not have",
             with(|d| step(d, 0, json!({"name": "op", "operation": {"code": "db.nope"}}))),
             "stages[0].steps[2].operation.code"),
        post("a template naming a variable that is not defined",
             with(|d| d["stages"][1]["steps"][0]["check"]["gate"]["args"][0] =
                  json!("{{ params.nope }}")),
             "stages[1].steps[0].check.gate.args[0]"),
        post("a template naming a variable only one member defines",
             with(|d| {
                 d["targets"][0]["members"][1]["vars"]["only_one"] = json!("x");
                 d["stages"][1]["steps"][0]["check"]["gate"]["args"][0] = json!("{{ only_one }}");
             }),
             "stages[1].steps[0].check.gate.args[0]"),
        post("a parameter default of the wrong type",
             with(|d| d["parameters"][0] = json!({"name": "n", "type": "integer",
                                                  "default": "many"})),
             "parameters[0].default"),
        post("a gate running what the allow-list does not have",
             with(|d| d["stages"][1]["steps"][0]["check"]["gate"]["command"] = json!("rm")),
             "stages[1].steps[0].check.gate.command"),
        post("an approval that names no approver role",
             with(|d| d["stages"][0]["steps"][0]["approval"]["roles"] = json!([])),
             "stages[0].steps[0].approval.roles"),
        post("an approval by a role that does not exist",
             with(|d| d["stages"][0]["steps"][0]["approval"]["roles"] = json!(["nobody"])),
             "stages[0].steps[0].approval.roles[0]"),
        post("an approval whose roles cannot approve (no plans:approve)",
             with(|d| d["stages"][0]["steps"][0]["approval"]["roles"] = json!(["operator"])),
             "stages[0].steps[0].approval.roles"),
        post("a schedule that is not a cron expression",
             with(|d| d["triggers"] = json!({"schedule": {"cron": "61 * * * *"}})),
             "triggers.schedule.cron"),
        post("a schedule in a time zone that does not exist",
             with(|d| d["triggers"] = json!({"schedule": {"cron": "0 3 * * *",
                                                          "time_zone": "Mars/Olympus"}})),
             "triggers.schedule.time_zone"),
        post("a risk trigger naming an inspection rule that does not exist",
             with(|d| d["triggers"] = json!({"risk_events": [{"rule": "ghost"}]})),
             "triggers.risk_events[0].rule"),
        post("an operation calling with a secret the executor does not have",
             with(|d| step(d, 0, json!({"name": "call", "operation": {"code": "t.call"}}))),
             "stages[0].steps[2].operation.code"),
        post("a sub-plan that does not exist",
             with(|d| step(d, 0, json!({"name": "sub", "plan": {"name": "ghost"}}))),
             "stages[0].steps[2].plan.name"),
        post("a sub-plan that runs a sub-plan: two levels",
             with(|d| step(d, 0, json!({"name": "sub", "plan": {"name": "middle"}}))),
             "stages[0].steps[2].plan.name"),
        post("a plan that runs itself",
             with(|d| step(d, 0, json!({"name": "sub", "plan": {"name": "bad"}}))),
             "stages[0].steps[2].plan.name"),
        post("a sub-plan at a version it never had",
             with(|d| step(d, 0, json!({"name": "sub", "plan": {"name": "leaf", "version": 7}}))),
             "stages[0].steps[2].plan.version"),
        post("a sub-plan given a parameter it does not have",
             with(|d| step(d, 0, json!({"name": "sub", "plan": {"name": "leaf",
                                                                  "params": {"x": 1}}}))),
             "stages[0].steps[2].plan.params.x"),
        post("a channel that does not exist",
             with(|d| step(d, 0, json!({"name": "tell", "notify": {"channels": ["ops", "pager"],
                                                                  "message": "hi"}}))),
             "stages[0].steps[2].notify.channels[1]"),
        post("executions notifying a channel that does not exist",
             with(|d| d["notify"] = json!({"channels": ["ops", "pager"]})),
             "notify.channels[1]"),
        post("executions notified on no moment",
             with(|d| d["notify"] = json!({"channels": ["ops"], "on": []})),
             "notify.on"),
        post("a step timeout over a day",
             with(|d| d["stages"][1]["steps"][0]["timeout"] = json!("2d")),
             "stages[1].steps[0].timeout"),
        post("a step with two kinds",
             with(|d| d["stages"][0]["steps"][1]["approval"] = json!({"roles": ["admin"]})),
             "stages[0].steps[1]"),
        post("a target group that does not exist",
             with(|d| d["stages"][1]["steps"][0]["check"]["targets"] = json!("webs")),
             "stages[1].steps[0].check.targets"),
        post("an unknown field", with(|d| d["stages"][0]["steps"][1]["retires"] = json!(2)),
             "stages[0].steps[1].retires"),
        post("a duplicate step name",
             with(|d| d["stages"][1]["steps"][0]["name"] = json!("settle")),
             "stages[1].steps[0].name"),
        bad("a sub-plan (leaf) may not start running sub-plans while middle runs it", "PUT",
            format!("/api/v1/plans/{leaf_id}"),
            {
                let mut l = leaf.clone();
                l["stages"][0]["steps"] = json!([{"name": "w", "plan": {"name": "solo"}}]);
                l.to_string()
            },
            "stages[0].steps[0].plan.name"),
        bad("a preview parameter the plan does not have", "POST",
            format!("/api/v1/plans/{middle_id}/preview"),
            json!({"params": {"ghost": 1}}).to_string(), "params.ghost"),
        bad("evaluating a document that is not a plan (the fuzzer's case)", "POST",
            "/api/v1/plans:evaluate".into(),
            with(|d| d["stages"][1]["steps"][0]["timeout"] = json!("2d")),
            "stages[1].steps[0].timeout"),
        BadRequest { why: "a diff to the smallest version number (was an overflow: 500)",
                     method: "GET", path: format!("/api/v1/plans/{leaf_id}/diff?to=-2147483648"),
                     content_type: "application/json", body: String::new(), status: 404,
                     field: None },
        BadRequest { why: "a body over the size limit", method: "POST",
                     path: "/api/v1/plans".into(), content_type: "application/json",
                     body: with(|d| d["description"] = json!("x".repeat(300_000))),
                     status: 413, field: None },
        BadRequest { why: "JSON that does not parse", method: "POST",
                     path: "/api/v1/plans".into(), content_type: "application/json",
                     body: "{\"name\":".into(), status: 400, field: None },
    ];
    assert_each_refused(&app, cases).await;
    assert_eq!(counts(&app).await, before, "no bad request wrote a row");
    // Evaluation on demand names the missing secret and where it is used.
    let doc = with(|d| {
        step(
            d,
            0,
            json!({"name": "call", "operation": {"code": "t.call"}}),
        )
    });
    let doc: Value = serde_json::from_str(&doc).expect("json");
    let ev: Value = app
        .post_json("/api/v1/plans:evaluate", &doc)
        .await
        .json()
        .await
        .expect("json");
    let problem = &ev["problems"][0];
    assert_eq!(
        problem["field"], "stages[0].steps[2].operation.code",
        "{ev}"
    );
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("secret `api_token` is missing") && detail.contains("headers"),
        "{detail}"
    );
    app.handle.stop().await;
}

/// An app with `db1` in `executor.hosts` (pinned key; nothing connects to it here) and the
/// secret `proxy`.
async fn app_with_host() -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = inspection_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    let host = acmangkut::config::SshHost {
        address: "127.0.0.1".into(),
        port: 9,
        user: "has".into(),
        key_file: "/nonexistent/key".into(),
        host_key:
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
                .into(),
        max_concurrent: 1,
        commands: [(
            "pg_ctl".to_string(),
            AllowedCommand::Path("/usr/bin/pg_ctl".into()),
        )]
        .into(),
    };
    config.executor.hosts = [("db1".to_string(), host)].into();
    // The proxy's token: evaluation refuses calls naming a secret the executor lacks.
    config.executor.secrets = [("proxy".to_string(), shared::Secret::new("t0ken"))].into();
    (spawn_acmangkut(config).await, db)
}

/// Creates operation `body` (201) and, unless `draft`, publishes it.
async fn operation(app: &TestApp, body: Value, draft: bool) {
    let r = app.post_json("/api/v1/operations", &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    if !draft {
        let code = body["code"].as_str().expect("code");
        let r = app
            .post_json(&format!("/api/v1/operations/{code}/publish"), &Value::Null)
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
}

/// `db.promote` (ssh on `{{ standby }}`) and `proxy.switch` (POST `{{ url }}/switch`),
/// published, and `db.fence`, a draft.
async fn catalog(app: &TestApp) {
    let promote = json!({"code": "db.promote", "name": "Promote", "kind": "plan",
        "parameters": [{"name": "standby", "type": "host", "required": true}],
        "do": {"action": "ssh", "host": "{{ standby }}", "command": "pg_ctl",
               "args": ["promote"]}});
    operation(app, promote, false).await;
    let switch = json!({"code": "proxy.switch", "name": "Switch", "kind": "plan",
        "parameters": [{"name": "url", "type": "url", "required": true},
                       {"name": "to", "type": "string", "default": "db1"}],
        "do": {"action": "http", "method": "POST", "url": "{{ url }}/switch",
               "body": "{\"to\": \"{{ to }}\"}", "headers": {"X-Token": "{{ secret.proxy }}"}}});
    operation(app, switch, false).await;
    let fence = json!({"code": "db.fence", "name": "Fence", "kind": "plan",
        "do": {"action": "http", "url": "http://127.0.0.1:9/fence"}});
    operation(app, fence, true).await;
}

/// A failover over the catalog: promote on db1, then switch two proxies one at a time.
fn failover(base: &str) -> Value {
    json!({
        "name": "failover",
        "targets": [{"name": "proxies", "members": [
            {"name": "a", "vars": {"base": format!("{base}/a")}},
            {"name": "b", "vars": {"base": format!("{base}/b")}}]}],
        "stages": [
            {"name": "promote", "steps": [
                {"name": "promote", "operation": {"code": "db.promote",
                                                  "params": {"standby": "db1"}}}]},
            {"name": "switch", "steps": [
                {"name": "switch", "batches": {"code": "proxy.switch", "targets": "proxies",
                 "size": 1, "pause": "after_first", "params": {"url": "{{ base }}"}}}]}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_pins_published_operations_and_its_preview_shows_their_calls_unmade() {
    let (app, _db) = app_with_host().await;
    catalog(&app).await;
    // Where the proxies "are": a listener nobody must connect to.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let base = format!("http://{}", listener.local_addr().expect("addr"));

    let pid = id(&create(&app, &failover(&base)).await);
    let refs = app
        .get_json("/api/v1/operations/db.promote/references")
        .await;
    assert_eq!(
        refs,
        json!([{"plan_name": "failover", "plan_version": 1, "operation_version": 1}])
    );
    // A new version of the operation: the saved plan version keeps the one it pinned.
    let mut changed = app.get_json("/api/v1/operations/db.promote").await;
    changed["do"]["args"] = json!(["promote", "-w"]);
    let body = json!({"code": changed["code"], "name": changed["name"], "kind": "plan",
                      "parameters": changed["parameters"], "do": changed["do"]});
    let r = app
        .http
        .put(app.url("/api/v1/operations/db.promote"))
        .json(&body)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 200);

    let p: Value = app
        .post_json(&format!("/api/v1/plans/{pid}/preview"), &json!({}))
        .await
        .json()
        .await
        .expect("preview");
    let promote = &p["stages"][0]["steps"][0]["calls"][0];
    assert_eq!(promote["operation"], "db.promote@1", "{p:#}");
    assert_eq!(promote["call"], "db1: pg_ctl promote");
    let switch = p["stages"][1]["steps"][0]["calls"]
        .as_array()
        .expect("calls");
    let seen: Vec<(Value, Value, Value)> = switch
        .iter()
        .map(|c| (c["target"].clone(), c["batch"].clone(), c["call"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("a"), json!(1), json!(format!("POST {base}/a/switch"))),
            (json!("b"), json!(2), json!(format!("POST {base}/b/switch"))),
        ]
    );
    assert_eq!(
        switch[0]["spec"]["body"], "{\"to\": \"db1\"}",
        "defaults fill in"
    );
    assert_eq!(
        switch[0]["spec"]["headers"]["X-Token"],
        "{{ secret.proxy }}"
    );
    assert!(
        listener.accept().is_err(),
        "the preview called nothing: no connection reached the proxies"
    );

    // What a plan version pins cannot be deleted.
    let r = app
        .http
        .delete(app.url("/api/v1/operations/db.promote"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 409);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_operation_steps_get_problem_json_naming_the_field_and_write_nothing() {
    let (app, _db) = app_with_host().await;
    catalog(&app).await;
    let base = "http://127.0.0.1:9";
    let before = counts(&app).await;
    let refs = app
        .get_json("/api/v1/operations/db.promote/references")
        .await;
    let doc = |f: &dyn Fn(&mut Value)| {
        let mut d = failover(base);
        f(&mut d);
        d.to_string()
    };
    let post = |why, body, field| bad(why, "POST", "/api/v1/plans".into(), body, field);
    #[rustfmt::skip]
    let cases = vec![
        post("an operation that is still a draft",
             doc(&|d| d["stages"][0]["steps"][0]["operation"]["code"] = json!("db.fence")),
             "stages[0].steps[0].operation.code"),
        post("an operation version that does not exist",
             doc(&|d| d["stages"][0]["steps"][0]["operation"]["version"] = json!(9)),
             "stages[0].steps[0].operation.version"),
        post("a host that is not in executor.hosts",
             doc(&|d| d["stages"][0]["steps"][0]["operation"]["params"]["standby"] =
                 json!("db9")),
             "stages[0].steps[0].operation.params.standby"),
        post("a parameter of the wrong type (not a URL) for one target",
             doc(&|d| d["targets"][0]["members"][1]["vars"]["base"] = json!("ftp://x")),
             "stages[1].steps[0].batches.params.url"),
        post("a parameter the operation does not have",
             doc(&|d| d["stages"][0]["steps"][0]["operation"]["params"]["speed"] = json!(1)),
             "stages[0].steps[0].operation.params.speed"),
        post("a required parameter left out",
             doc(&|d| d["stages"][0]["steps"][0]["operation"]["params"] = json!({})),
             "stages[0].steps[0].operation.params.standby"),
    ];
    assert_each_refused(&app, cases).await;
    assert_eq!(counts(&app).await, before, "no bad request wrote a row");
    assert_eq!(
        app.get_json("/api/v1/operations/db.promote/references")
            .await,
        refs,
        "no reference was written"
    );
    app.handle.stop().await;
}
