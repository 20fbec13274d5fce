//! Monitors in config as code (`/api/v1/config`, section `monitors`): applied by name with a
//! dry run and created / updated / unchanged, exported with the probes' credentials redacted
//! (and applied back keeping them), refused whole naming the field, behind `monitors:read` /
//! `monitors:write`. And `config.apply_dir`: the real binary applies a directory of documents
//! at start-up, again unchanged at the next start, and refuses to start on a bad one, naming
//! the file and the field, with nothing applied.

use has_tests::inspection::audit_count;
use has_tests::process::{self, Process};
use has_tests::spawn::{bearer_client, test_config};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;

const SECRET: &str = "Bearer s3cr3t-monitor-token";

fn document() -> String {
    format!(
        "\
monitors:
- name: shop
  description: The shop's front page
  probe:
    kind: http
    target: 'http://probe:pa55word@127.0.0.1:9/health?api_key=k3y&lang=en'
    headers: {{Authorization: '{SECRET}', Accept: text/html}}
    conditions: ['[STATUS] == 200']
  interval_seconds: 300
  labels: {{team: web}}
- name: db
  probe: {{kind: tcp, target: '127.0.0.1:9'}}
  interval_seconds: 600
"
    )
}

async fn app(db: &TestDb) -> TestApp {
    let mut config = test_config(db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    config.plans.enabled = false;
    config.plans.builtin_faults = false;
    spawn_acmangkut(config).await
}

async fn apply(app: &TestApp, client: &reqwest::Client, yaml: &str, dry: bool) -> (u16, Value) {
    let r = client
        .post(app.url(&format!("/api/v1/config:apply?dry_run={dry}")))
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .expect("apply");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn export(app: &TestApp, client: &reqwest::Client) -> String {
    let r = client.get(app.url("/api/v1/config")).send().await;
    let r = r.expect("export");
    assert_eq!(r.status(), 200);
    r.text().await.expect("yaml")
}

/// (created, updated, unchanged) of the monitors.
fn counts(result: &Value) -> (usize, usize, usize) {
    let n = |k: &str| {
        result["monitors"][k]
            .as_array()
            .map_or(usize::MAX, Vec::len)
    };
    (n("created"), n("updated"), n("unchanged"))
}

async fn monitors(app: &TestApp) -> Vec<Value> {
    let page = app.get_json("/api/v1/monitors").await;
    page["items"].as_array().cloned().expect("items")
}

async fn monitor(app: &TestApp, name: &str) -> Value {
    monitors(app)
        .await
        .into_iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no monitor {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_apply_idempotently_and_export_with_their_credentials_redacted() {
    let (db_a, db_b) = (TestDb::new(), TestDb::new());
    let (a, b) = (app(&db_a).await, app(&db_b).await);
    let doc = document();

    let (status, dry) = apply(&a, &a.http, &doc, true).await;
    assert_eq!((status, counts(&dry)), (200, (2, 0, 0)), "{dry}");
    assert!(monitors(&a).await.is_empty(), "a dry run writes nothing");
    let (status, created) = apply(&a, &a.http, &doc, false).await;
    assert_eq!((status, counts(&created)), (200, (2, 0, 0)), "{created}");
    let shop = monitor(&a, "shop").await;
    assert_eq!(shop["probe"]["headers"]["Authorization"], SECRET);
    assert_eq!(shop["state"], "pending");
    assert_eq!(shop["labels"]["team"], "web");

    // The export hides the credentials, and applies back unchanged, keeping them.
    let yaml = export(&a, &a.http).await;
    assert!(
        yaml.contains("monitors:") && yaml.contains("******"),
        "{yaml}"
    );
    for secret in ["s3cr3t", "pa55word", "k3y"] {
        assert!(!yaml.contains(secret), "{secret} exported: {yaml}");
    }
    assert!(
        yaml.contains("lang=en") && yaml.contains("text/html"),
        "{yaml}"
    );
    let audits = audit_count(&a, "").await;
    let (status, again) = apply(&a, &a.http, &yaml, false).await;
    assert_eq!((status, counts(&again)), (200, (0, 0, 2)), "{again}");
    assert_eq!(audit_count(&a, "").await, audits, "nothing written");
    let kept = monitor(&a, "shop").await;
    assert_eq!(
        kept["probe"], shop["probe"],
        "the stored credentials are kept"
    );

    // A changed definition updates the monitor and leaves its pause switch alone.
    let id = shop["id"].as_i64().expect("id");
    a.post_json(&format!("/api/v1/monitors/{id}/pause"), &Value::Null)
        .await;
    let changed = doc.replace("interval_seconds: 300", "interval_seconds: 120");
    let (status, updated) = apply(&a, &a.http, &changed, false).await;
    assert_eq!((status, counts(&updated)), (200, (0, 1, 1)), "{updated}");
    let shop = monitor(&a, "shop").await;
    assert_eq!(
        (&shop["interval_seconds"], &shop["paused"]),
        (&120.into(), &true.into())
    );
    assert_eq!(audit_count(&a, "monitor.update").await, 1);

    // Elsewhere there is nothing to keep: the marker is refused, naming the field.
    let (status, problem) = apply(&b, &b.http, &yaml, false).await;
    assert_eq!(status, 400, "{problem}");
    let field = problem["field"].as_str().unwrap_or_default();
    assert!(field.starts_with("monitors[1].probe."), "{problem}");
    assert!(monitors(&b).await.is_empty(), "nothing applied");
    let (status, created) = apply(&b, &b.http, &doc, false).await;
    assert_eq!((status, counts(&created)), (200, (2, 0, 0)), "{created}");
    a.handle.stop().await;
    b.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_monitor_documents_apply_nothing_and_each_needs_the_monitor_permissions() {
    let db = TestDb::new();
    let app = app(&db).await;
    let doc = document();
    let cases = [
        (
            "an unknown kind",
            doc.replace("kind: tcp", "kind: smtp"),
            "monitors[1].probe.kind",
        ),
        (
            "an interval out of range",
            doc.replace("interval_seconds: 600", "interval_seconds: 0"),
            "monitors[1].interval_seconds",
        ),
        (
            "a bad condition",
            doc.replace("[STATUS] == 200", "[STATUZ] == 200"),
            "monitors[0].probe.conditions[0]",
        ),
        (
            "a name given twice",
            doc.replace("- name: db", "- name: shop"),
            "monitors[1].name",
        ),
        (
            "an unknown field",
            doc.replace("labels:", "colour: red\n  labels:"),
            "monitors[0]",
        ),
    ];
    for (why, yaml, field) in &cases {
        assert_ne!(yaml, &doc, "{why}");
        let (status, problem) = apply(&app, &app.http, yaml, false).await;
        let got = problem["field"].as_str().unwrap_or_default();
        assert!(
            status == 400 && got.starts_with(field),
            "{why}: {status} {problem}"
        );
        assert!(monitors(&app).await.is_empty(), "{why}: nothing applied");
    }

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
    let (status, problem) = apply(&app, &inspector, &doc, false).await;
    assert_eq!(
        (status, &problem["field"]),
        (403, &"monitors".into()),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("monitors:write"))
    );
    let (status, created) = apply(&app, &app.http, &doc, false).await;
    assert_eq!(status, 200, "{created}");
    assert!(!export(&app, &inspector).await.contains("monitors:"));
    let reader = token(&["monitors:read"]).await;
    assert!(export(&app, &reader).await.contains("name: shop"));
    let r = reader
        .get(app.url("/api/v1/config?kinds=monitors"))
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    let (status, _) = apply(&app, &reader, &doc, false).await;
    assert_eq!(status, 403);
    // The inspection endpoint applies the inspection kinds only.
    let r = app
        .http
        .post(app.url("/api/v1/inspection/config:apply"))
        .header("Content-Type", "application/yaml")
        .body(doc.clone())
        .send()
        .await
        .expect("apply");
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.expect("problem");
    assert_eq!(problem["field"], "monitors", "{problem}");
    app.handle.stop().await;
}

const OPERATION: &str = "\
operations:
- operation:
    code: web.restart
    name: Restart the web tier
    kind: plan
    do: {action: http, method: POST, url: 'http://127.0.0.1:9/restart'}
";

/// `dir` with the documents a deployment mounts: monitors, an operation, and what a
/// Kubernetes ConfigMap volume also holds (hidden `..data` entries), and a file that is not
/// YAML.
fn config_dir(dir: &Path) {
    std::fs::write(dir.join("10-monitors.yaml"), document()).expect("write");
    std::fs::write(dir.join("20-operations.yml"), OPERATION).expect("write");
    std::fs::write(dir.join("README"), "not: [a document").expect("write");
    std::fs::create_dir(dir.join("..data")).expect("mkdir");
    std::fs::write(dir.join("..data/99.yaml"), "not: [a document").expect("write");
}

fn settings(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("HAS_CONFIG__APPLY_DIR", dir.display().to_string()),
        ("HAS_SCHEDULER__ENABLED", "false".into()),
        ("HAS_INSPECTION__ENABLED", "false".into()),
        ("HAS_PLANS__ENABLED", "false".into()),
        ("HAS_PLANS__BUILTIN_FAULTS", "false".into()),
    ]
}

/// The totals of the last "config.apply_dir applied" line.
fn applied(p: &Process) -> (i64, i64, i64, i64) {
    let lines = p.log_lines("config.apply_dir applied");
    let l = lines.last().expect("an applied line");
    let n = |k: &str| l[k].as_i64().or_else(|| l["fields"][k].as_i64()).expect(k);
    (n("files"), n("created"), n("updated"), n("unchanged"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_applies_its_config_dir_at_every_start_and_refuses_a_bad_document() {
    let db = TestDb::new();
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path().join("config.d");
    std::fs::create_dir(&dir).expect("mkdir");
    config_dir(&dir);
    let log = work.path().join("acmangkut.log");

    // A bad document beside good ones: the start fails naming file and field, nothing applied.
    let bad = "monitors:\n- name: x\n  probe: {kind: tcp, target: '127.0.0.1:9'}\n  \
               interval_seconds: 0\n";
    std::fs::write(dir.join("30-bad.yaml"), bad).expect("write");
    let out = process::command("acmangkut")
        .env("HAS_SERVER__LISTEN", "127.0.0.1:0")
        .env("HAS_DATABASE__URL", &db.url)
        .env("HAS_LOG__DIR", "")
        .env("HAS_METRIC_LOG__DIR", "")
        .envs(settings(&dir))
        .stdin(Stdio::null())
        .output()
        .expect("run acmangkut");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("30-bad.yaml") && stderr.contains("`monitors[0].interval_seconds`"),
        "{stderr}"
    );
    std::fs::remove_file(dir.join("30-bad.yaml")).expect("rm");

    // Applied before the server answers: ready means the documents are in.
    let mut first = Process::start(&db.url, &settings(&dir), &log).await;
    assert_eq!(
        applied(&first),
        (2, 3, 0, 0),
        "nothing was left from the failed start"
    );
    let monitors = first.get_json("/api/v1/monitors").await;
    assert_eq!(monitors["total"], 2, "{monitors}");
    let op = first.get_json("/api/v1/operations/web.restart").await;
    assert_eq!(op["status"], "published");
    let audit = first.get_json("/api/v1/audit?action=monitor.create").await;
    assert!(audit.to_string().contains("system:config"), "{audit}");
    first.kill9();

    // The next start finds everything unchanged and writes nothing.
    let second = Process::start(&db.url, &settings(&dir), &log).await;
    assert_eq!(applied(&second), (2, 0, 0, 3));
    let again = second.get_json("/api/v1/monitors").await;
    assert_eq!(again["items"], monitors["items"]);
}
