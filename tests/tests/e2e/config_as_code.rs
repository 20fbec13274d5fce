//! Config as code across kinds (`/api/v1/config`): inspection rules, atomic operations (with
//! their lifecycle status) and plans in one YAML document. The export applies to an empty
//! installation and exports the same again; a second apply changes nothing; a changed plan adds
//! a version; a dry run writes nothing; a bad document applies nothing and names the field;
//! each kind needs its own permission. And the built-in fault operations: published once at
//! start-up, however many replicas start, never overwriting an operator's edit.

use has_tests::inspection::audit_count;
use has_tests::spawn::{bearer_client, test_config};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use serde_json::Value;

const DOCUMENT: &str = "\
rules:
- name: web-port
  plugin: tcp
  level: low
  params: {target: '127.0.0.1:9'}
operations:
- status: published
  operation:
    code: web.restart
    name: Restart the web tier
    kind: plan
    parameters:
    - {name: url, type: url, required: true}
    do: {action: http, method: POST, url: '{{ url }}/restart'}
    undo: {action: http, method: POST, url: '{{ url }}/start'}
- status: draft
  operation:
    code: web.drain
    name: Drain the web tier
    kind: plan
    do: {action: http, url: 'http://127.0.0.1:9/drain'}
- status: deprecated
  operation:
    code: web.old
    name: The old restart
    kind: plan
    do: {action: http, url: 'http://127.0.0.1:9/old'}
plans:
- name: web failover
  description: Restart the web tier
  rto_objective: 5m
  stages:
  - name: restart
    steps:
    - name: restart
      operation: {code: web.restart, params: {url: 'http://127.0.0.1:9'}}
    - name: settle
      wait: 1s
";

async fn app(db: &TestDb, builtin_faults: bool) -> TestApp {
    let mut config = test_config(db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    config.plans.enabled = false;
    config.plans.builtin_faults = builtin_faults;
    spawn_acmangkut(config).await
}

async fn export(app: &TestApp, client: &reqwest::Client, query: &str) -> (u16, String) {
    let r = client
        .get(app.url(&format!("/api/v1/config{query}")))
        .send()
        .await
        .expect("export");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn exported(app: &TestApp) -> String {
    let (status, yaml) = export(app, &app.http, "").await;
    assert_eq!(status, 200, "{yaml}");
    yaml
}

/// `POST path?dry_run=…` of `yaml` with `client`; the status and the answer.
async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    yaml: &str,
    dry_run: bool,
) -> (u16, Value) {
    let r = client
        .post(app.url(&format!("{path}?dry_run={dry_run}")))
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .expect("apply");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn apply(app: &TestApp, yaml: &str, dry_run: bool) -> (u16, Value) {
    post(app, &app.http, "/api/v1/config:apply", yaml, dry_run).await
}

/// (created, updated, unchanged) of rules, operations and plans.
fn counts(result: &Value) -> [(usize, usize, usize); 3] {
    let n = |o: &Value, k: &str| o[k].as_array().map_or(usize::MAX, Vec::len);
    ["rules", "operations", "plans"].map(|k| {
        let o = &result[k];
        (n(o, "created"), n(o, "updated"), n(o, "unchanged"))
    })
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().expect("a list")
}

async fn plan(app: &TestApp, name: &str) -> Value {
    list(&app.get_json("/api/v1/plans").await)
        .into_iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no plan {name}"))
}

/// What a refused document must not have changed: operations, plans, the versions of
/// `web.restart` and of the plan, and the audit log.
async fn state(app: &TestApp) -> (usize, usize, Value, Value, i64) {
    (
        list(&app.get_json("/api/v1/operations").await).len(),
        list(&app.get_json("/api/v1/plans").await).len(),
        app.get_json("/api/v1/operations/web.restart").await["version"].clone(),
        plan(app, "web failover").await["version"].clone(),
        audit_count(app, "").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_exports_operations_and_plans_that_apply_elsewhere_idempotently() {
    let (db_a, db_b) = (TestDb::new(), TestDb::new());
    let (a, b) = (app(&db_a, true).await, app(&db_b, true).await);

    let (status, created) = apply(&a, DOCUMENT, false).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        counts(&created),
        [(1, 0, 0), (3, 0, 0), (1, 0, 0)],
        "{created:#}"
    );
    let op = |code: &'static str| {
        let a = &a;
        async move { a.get_json(&format!("/api/v1/operations/{code}")).await }
    };
    assert_eq!(op("web.restart").await["status"], "published");
    assert_eq!(op("web.drain").await["status"], "draft");
    assert_eq!(op("web.old").await["status"], "deprecated");

    let yaml = exported(&a).await;
    for part in [
        "web-port",
        "web.restart",
        "status: deprecated",
        "web failover",
    ] {
        assert!(yaml.contains(part), "{part} in {yaml}");
    }
    assert!(
        !yaml.contains("fault."),
        "built-in operations as shipped are not exported: {yaml}"
    );

    // An empty installation: everything is created, and exports the same document.
    let (status, result) = apply(&b, &yaml, false).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        counts(&result),
        [(1, 0, 0), (3, 0, 0), (1, 0, 0)],
        "{result:#}"
    );
    assert_eq!(
        exported(&b).await,
        yaml,
        "the same definitions, the same export"
    );

    // Again: all unchanged, nothing written.
    let before = state(&b).await;
    let (status, again) = apply(&b, &yaml, false).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        counts(&again),
        [(0, 0, 1), (0, 0, 3), (0, 0, 1)],
        "{again:#}"
    );
    assert_eq!(state(&b).await, before, "nothing to write, nothing audited");

    // A dry run reports a changed plan and a new operation, and writes nothing.
    let changed = yaml
        .replace(
            "description: Restart the web tier",
            "description: Restart it",
        )
        .replace("status: draft", "status: published");
    assert_ne!(changed, yaml);
    let (status, dry) = apply(&b, &changed, true).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry), [(0, 0, 1), (0, 1, 2), (0, 1, 0)], "{dry:#}");
    assert_eq!(state(&b).await, before, "a dry run writes nothing");
    assert_eq!(
        b.get_json("/api/v1/operations/web.drain").await["status"],
        "draft"
    );

    // For real: the plan gets version 2, the draft is published.
    let (status, real) = apply(&b, &changed, false).await;
    assert_eq!(status, 200, "{real}");
    assert_eq!(counts(&real), [(0, 0, 1), (0, 1, 2), (0, 1, 0)], "{real:#}");
    assert_eq!(plan(&b, "web failover").await["version"], 2);
    assert_eq!(
        b.get_json("/api/v1/operations/web.drain").await["status"],
        "published"
    );
    assert_eq!(audit_count(&b, "plan.update").await, 1);
    a.handle.stop().await;
    b.handle.stop().await;
}

/// A bad document, the status it gets and the field it names (a prefix where the engine's
/// path goes deeper).
struct Bad {
    why: &'static str,
    yaml: String,
    status: u16,
    field: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_refuses_bad_documents_whole_naming_the_field_and_checks_each_kinds_permission() {
    let db = TestDb::new();
    let app = app(&db, false).await;
    let (status, created) = apply(&app, DOCUMENT, false).await;
    assert_eq!(status, 200, "{created}");
    let step =
        "name: restart\n      operation: {code: web.restart, params: {url: 'http://127.0.0.1:9'}}";
    assert!(DOCUMENT.contains(step));
    let with_step =
        |s: &str| DOCUMENT.replace(step, &format!("name: restart\n      operation: {s}"));
    let second_plan =
        "- name: web failover\n  stages:\n  - name: s\n    steps:\n    - {name: w, wait: 1s}\n";
    let cases = [
        Bad {
            why: "a status cannot go back",
            yaml: DOCUMENT.replacen("status: published", "status: draft", 1),
            status: 400,
            field: "operations[0].status",
        },
        Bad {
            why: "a malformed code",
            yaml: DOCUMENT.replace("code: web.drain", "code: Web.Drain"),
            status: 400,
            field: "operations[1].operation.code",
        },
        Bad {
            why: "an unknown field",
            yaml: DOCUMENT.replace("    kind: plan\n", "    kind: plan\n    colour: red\n"),
            status: 400,
            field: "operations[0].operation",
        },
        Bad {
            why: "an unknown operation",
            yaml: with_step("{code: web.nothing}"),
            status: 400,
            field: "plans[0].stages[0].steps[0]",
        },
        Bad {
            why: "a draft operation",
            yaml: with_step("{code: web.drain}"),
            status: 400,
            field: "plans[0].stages[0].steps[0]",
        },
        Bad {
            why: "a parameter of the wrong type",
            yaml: with_step("{code: web.restart, params: {url: 12}}"),
            status: 400,
            field: "plans[0].stages[0].steps[0]",
        },
        Bad {
            why: "a plan defined twice",
            yaml: format!("{DOCUMENT}{second_plan}"),
            status: 400,
            field: "plans[1].name",
        },
        Bad {
            why: "a deprecated operation no longer changes",
            yaml: DOCUMENT.replace("name: The old restart", "name: The older restart"),
            status: 409,
            field: "operations[2].operation",
        },
    ];
    let before = state(&app).await;
    for case in &cases {
        let (status, problem) = apply(&app, &case.yaml, false).await;
        let field = problem["field"].as_str().unwrap_or("");
        assert!(
            status == case.status && field.starts_with(case.field),
            "{}: {status} {problem}\n{}",
            case.why,
            case.yaml
        );
        assert_eq!(state(&app).await, before, "{}: nothing applied", case.why);
    }

    // The inspection endpoint applies the inspection kinds only.
    let (status, problem) = post(
        &app,
        &app.http,
        "/api/v1/inspection/config:apply",
        DOCUMENT,
        false,
    )
    .await;
    assert_eq!(
        (status, &problem["field"]),
        (400, &"operations".into()),
        "{problem}"
    );

    // Each kind its own permission.
    app.create_user("ada", "config-password-1", &["admin"])
        .await;
    let ada = app.sign_in("ada", "config-password-1").await;
    let token = |perms: &'static [&'static str]| {
        let ada = &ada;
        async move {
            let t = ada.create_token(perms[0], 1, perms).await;
            bearer_client(t["secret"].as_str().expect("secret"))
        }
    };
    let inspector = token(&["inspections:read", "inspections:write"]).await;
    let (status, problem) = post(&app, &inspector, "/api/v1/config:apply", DOCUMENT, false).await;
    assert_eq!(
        (status, &problem["field"]),
        (403, &"operations".into()),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("plans:write"))
    );
    let rules_only = DOCUMENT.split("operations:").next().expect("rules");
    let (status, result) = post(&app, &inspector, "/api/v1/config:apply", rules_only, false).await;
    assert_eq!(status, 200, "{result}");
    let (status, yaml) = export(&app, &inspector, "").await;
    assert!(
        status == 200 && yaml.contains("web-port") && !yaml.contains("web.restart"),
        "{yaml}"
    );
    let planner = token(&["plans:read"]).await;
    let (status, yaml) = export(&app, &planner, "").await;
    assert!(
        status == 200 && !yaml.contains("web-port") && yaml.contains("web.restart"),
        "{yaml}"
    );
    let (status, yaml) = export(&app, &planner, "?kinds=plans").await;
    assert!(status == 200 && !yaml.contains("operations:") && yaml.contains("web failover"));
    let (status, _) = export(&app, &planner, "?kinds=inspection").await;
    assert_eq!(status, 403);
    let (status, _) = export(&app, &planner, "?kinds=drills").await;
    assert_eq!(status, 400);
    app.handle.stop().await;
}

/// The built-in fault operations, by code: (status, version, created_by).
async fn builtins(app: &TestApp) -> Vec<(String, Value, Value, Value)> {
    let faults = app.get_json("/api/v1/operations?kind=fault").await;
    let mut out: Vec<_> = list(&faults)
        .into_iter()
        .map(|o| {
            let code = o["code"].as_str().expect("code").to_string();
            (
                code,
                o["status"].clone(),
                o["version"].clone(),
                o["created_by"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_faults_are_published_once_and_an_operators_edit_survives_a_restart() {
    let db = TestDb::new();
    let first = app(&db, true).await;
    let listed = builtins(&first).await;
    assert_eq!(listed.len(), 12, "{listed:?}");
    for (code, status, version, by) in &listed {
        assert!(code.starts_with("fault."), "{code}");
        assert_eq!(
            (status, version, by),
            (&"published".into(), &1.into(), &"system".into())
        );
    }
    // An operator's edit: a new version.
    let path = "/api/v1/operations/fault.net.latency";
    let stored = first.get_json(path).await;
    let mut body = serde_json::Map::new();
    for key in [
        "code",
        "name",
        "kind",
        "parameters",
        "do",
        "undo",
        "timeout_ms",
    ] {
        body.insert(key.into(), stored[key].clone());
    }
    body.insert("description".into(), "Ours: only on eth1".into());
    let body = Value::Object(body);
    let (status, answer) = first.send(reqwest::Method::PUT, path, Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    first.handle.stop().await;

    let again = app(&db, true).await;
    let after = builtins(&again).await;
    assert_eq!(after.len(), 12, "no duplicates after a restart");
    assert_eq!(audit_count(&again, "operation.create").await, 12);
    let kept = again.get_json(path).await;
    assert_eq!(
        (&kept["version"], &kept["description"]),
        (&2.into(), &"Ours: only on eth1".into())
    );
    // The edited one is exported, the others as shipped are not.
    let yaml = exported(&again).await;
    assert!(
        yaml.contains("fault.net.latency") && yaml.matches("fault.").count() == 1,
        "{yaml}"
    );
    again.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_faults_are_created_once_by_two_replicas_starting_on_one_postgres() {
    let db = TestDb::always_postgres();
    let (a, b) = tokio::join!(app(&db, true), app(&db, true));
    assert_eq!(builtins(&a).await.len(), 12);
    assert_eq!(builtins(&b).await, builtins(&a).await);
    assert_eq!(
        audit_count(&a, "operation.create").await,
        12,
        "each created once"
    );
    assert_eq!(
        audit_count(&a, "operation.publish").await,
        12,
        "each published once"
    );
    a.handle.stop().await;
    b.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_documents_are_limited_by_the_configured_body_size_with_problem_json() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.plans.builtin_faults = false;
    config.server.max_body_bytes = 1024 * 1024;
    let app = spawn_acmangkut(config).await;
    // Over actix's own 256 KiB default for raw bodies, within the configured limit: applied.
    let padded = |bytes: usize| format!("rules: []\n# {}\n", "x".repeat(bytes));
    for path in ["/api/v1/config:apply", "/api/v1/inspection/config:apply"] {
        let (status, result) = post(&app, &app.http, path, &padded(400_000), true).await;
        assert_eq!(status, 200, "{path}: {result}");
        let r = app
            .http
            .post(app.url(path))
            .header("Content-Type", "application/yaml")
            .body(padded(1024 * 1024))
            .send()
            .await
            .expect("apply");
        assert_eq!(r.status().as_u16(), 413, "{path}");
        let kind = r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert_eq!(kind, "application/problem+json", "{path}");
        let problem: Value = r.json().await.expect("problem");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("1048576 bytes"), "{path}: {problem}");
    }
}
