//! Inspections as code: the YAML export applies to another installation, a second apply
//! changes nothing, a change updates just what changed (and versions the rule), a dry run
//! writes nothing, secrets never leave but survive a re-apply, and a bad document applies
//! nothing at all.

use has_tests::inspection::{audit_count, create, id, inspection_config};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use serde_json::{Value, json};

const SECRET: &str = "whsec_config_1";

async fn app(db: &TestDb) -> TestApp {
    let mut config = inspection_config(db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    spawn_acmangkut(config).await
}

async fn export(app: &TestApp) -> String {
    let r = app.get("/api/v1/inspection/config").await;
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(ctype.starts_with("application/yaml"), "{ctype}");
    r.text().await.expect("yaml")
}

/// `POST config:apply` of `yaml`; returns the status and the answer.
async fn apply(app: &TestApp, yaml: &str, dry_run: bool) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(&format!(
            "/api/v1/inspection/config:apply?dry_run={dry_run}"
        )))
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .expect("apply");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn names(outcome: &Value, what: &str) -> Vec<String> {
    outcome[what]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// (created, updated, unchanged) of each kind: plugins, channels, rules, tasks.
fn counts(result: &Value) -> [(usize, usize, usize); 4] {
    ["plugins", "channels", "rules", "tasks"].map(|k| {
        let o = &result[k];
        (
            names(o, "created").len(),
            names(o, "updated").len(),
            names(o, "unchanged").len(),
        )
    })
}

async fn rule(app: &TestApp, name: &str) -> Value {
    let all = app.get_json("/api/v1/inspection/rules").await;
    all.as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no rule {name}"))
}

async fn definitions(app: &TestApp) -> usize {
    let mut n = 0;
    for what in ["plugins", "rules", "tasks", "channels"] {
        n += app
            .get_json(&format!("/api/v1/inspection/{what}"))
            .await
            .as_array()
            .map_or(0, Vec::len);
    }
    n
}

/// The stored (unredacted) definition of channel `name`, read behind the API's back.
async fn stored_channel(app: &TestApp, name: &'static str) -> String {
    let store = app.open_store().await;
    store
        .run(move |c| {
            acmangkut::store::inspection::channels::row_by_name(c, name)
                .map(|r| r.map(|r| r.definition).unwrap_or_default())
        })
        .await
        .expect("read the channel")
}

/// One of each: a custom plugin, a signed webhook, a templated rule and a plain one, a
/// scheduled task that notifies.
async fn define(app: &TestApp) {
    create(
        app,
        "plugins",
        &json!({"name": "internal-http", "kind": "page_probe", "description": "our pages",
                "defaults": {"timeout_ms": 2000, "conditions": ["[STATUS] == 200"]}}),
    )
    .await;
    create(
        app,
        "channels",
        &json!({"name": "ops", "spec": {"kind": "webhook", "url": "https://hooks.example.com/has",
                "secret": SECRET, "headers": {"X-Team": "sre"}}}),
    )
    .await;
    create(
        app,
        "rules",
        &json!({"name": "home-up", "plugin": "internal-http", "level": "high",
                "params": {"target": "{{url}}"}, "suggestion": "restart the web tier",
                "labels": {"team": "web"}}),
    )
    .await;
    create(
        app,
        "rules",
        &json!({"name": "dns-port", "plugin": "tcp", "level": "low",
                "params": {"target": "127.0.0.1:53", "timeout_ms": 500}}),
    )
    .await;
    create(
        app,
        "tasks",
        &json!({"name": "nightly", "rules": ["home-up", "dns-port"], "schedule": "0 2 * * *",
                "timezone": "Asia/Shanghai", "concurrency": 4,
                "targets": [{"name": "web-1", "vars": {"url": "http://127.0.0.1:9/"}}],
                "notify": [{"channel": "ops", "min_level": "medium", "when": "always"}]}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_config_exports_yaml_that_applies_elsewhere_idempotently_and_keeps_secrets() {
    let (db_a, db_b) = (TestDb::new(), TestDb::new());
    let a = app(&db_a).await;
    let b = app(&db_b).await;
    define(&a).await;

    let yaml = export(&a).await;

    assert!(!yaml.contains(SECRET), "secrets never leave: {yaml}");
    assert!(
        yaml.contains("'******'") || yaml.contains("\"******\""),
        "{yaml}"
    );
    for name in [
        "internal-http",
        "ops",
        "home-up",
        "dns-port",
        "nightly",
        "X-Team",
    ] {
        assert!(yaml.contains(name), "{name} in {yaml}");
    }
    assert!(
        !yaml.contains("name: tcp"),
        "built-in plugins are not exported: {yaml}"
    );

    // A redacted secret cannot create a channel: the whole document is refused.
    let (status, problem) = apply(&b, &yaml, false).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "channels[0].spec.secret", "{problem}");
    assert_eq!(definitions(&b).await, 7, "only the built-in plugins");

    // With the secret filled in (from a vault, say), everything is created …
    let filled = yaml
        .replace("'******'", SECRET)
        .replace("\"******\"", SECRET);
    let (status, created) = apply(&b, &filled, false).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["dry_run"], false);
    assert_eq!(
        counts(&created),
        [(1, 0, 0), (1, 0, 0), (2, 0, 0), (1, 0, 0)],
        "{created:#}"
    );
    assert_eq!(
        export(&b).await,
        yaml,
        "the same definitions, the same export"
    );
    assert!(stored_channel(&b, "ops").await.contains(SECRET));
    let next = b.get_json("/api/v1/inspection/tasks").await[0]["next_run_at"].clone();
    assert!(
        next.as_str().is_some_and(|n| n.ends_with("T18:00:00Z")),
        "02:00 in Shanghai: {next}"
    );

    // … and applying it again, or the redacted export, changes nothing and keeps the secret.
    let audit_before = audit_count(&b, "").await;
    for doc in [&filled, &yaml] {
        let (status, again) = apply(&b, doc, false).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            counts(&again),
            [(0, 0, 1), (0, 0, 1), (0, 0, 2), (0, 0, 1)],
            "{again:#}"
        );
    }
    assert!(
        stored_channel(&b, "ops").await.contains(SECRET),
        "a redacted secret on re-apply keeps the stored one"
    );
    assert_eq!(audit_count(&b, "").await, audit_before, "nothing to audit");
    assert_eq!(rule(&b, "home-up").await["version"], 1);
    a.handle.stop().await;
    b.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_config_updates_only_changes_dry_runs_write_nothing_bad_documents_apply_none() {
    let db = TestDb::new();
    let app = app(&db).await;
    define(&app).await;
    let yaml = export(&app).await;
    assert!(yaml.contains("\n  level: low"), "{yaml}");

    // One rule changes: it alone is updated, and gets a new version.
    let changed = yaml.replace("\n  level: low", "\n  level: medium");
    let (status, result) = apply(&app, &changed, false).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(names(&result["rules"], "updated"), ["dns-port"]);
    assert_eq!(names(&result["rules"], "unchanged"), ["home-up"]);
    assert_eq!(
        counts(&result),
        [(0, 0, 1), (0, 0, 1), (0, 1, 1), (0, 0, 1)]
    );
    let dns = rule(&app, "dns-port").await;
    assert_eq!(
        (&dns["version"], &dns["level"]),
        (&json!(2), &json!("medium"))
    );
    let versions = app
        .get_json(&format!("/api/v1/inspection/rules/{}/versions", id(&dns)))
        .await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    let audited = app.get_json("/api/v1/audit?action=rule.update").await;
    assert_eq!(audited["total"], 1, "{audited}");

    // A dry run reports what would change and writes nothing.
    let audit_before = audit_count(&app, "").await;
    let more = changed
        .replace("\n  level: medium", "\n  level: high")
        .replace("name: nightly", "name: nightly-2");
    let (status, dry) = apply(&app, &more, true).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(names(&dry["rules"], "updated"), ["dns-port"]);
    assert_eq!(names(&dry["tasks"], "created"), ["nightly-2"]);
    assert_eq!(rule(&app, "dns-port").await["version"], 2, "not written");
    assert_eq!(
        app.get_json("/api/v1/inspection/tasks")
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(audit_count(&app, "").await, audit_before);

    // A document with one bad object applies none of it, and says where it is.
    let definitions_before = definitions(&app).await;
    let bad = changed
        .replace("\n  level: medium", "\n  level: high")
        .replacen(
            "\nrules:\n",
            concat!(
                "\nrules:\n- name: brand-new\n  plugin: tcp\n  level: low\n",
                "  params:\n    target: 127.0.0.1:1\n",
            ),
            1,
        )
        .replace("concurrency: 4", "concurrency: 0");
    assert!(
        bad.contains("brand-new") && bad.contains("concurrency: 0"),
        "{bad}"
    );
    let (status, problem) = apply(&app, &bad, false).await;
    assert_eq!(status, 400, "{problem}\n{bad}");
    assert_eq!(problem["field"], "tasks[0].concurrency", "{problem}");
    assert_eq!(
        definitions(&app).await,
        definitions_before,
        "nothing applied"
    );
    assert_eq!(rule(&app, "dns-port").await["version"], 2);
    assert_eq!(audit_count(&app, "").await, audit_before);
    app.handle.stop().await;
}
