//! The inspection center's definitions over HTTP: plugins, versioned rules, tasks and channels,
//! what may not be changed or deleted, who may do what, the audit trail, and a table of bad
//! inputs that are each answered with problem+json naming the field and write nothing.

use acmangkut::config::{AllowedCommand, RestrictedCommand};
use has_tests::inspection::{audit_count, create, id, inspection_config, update};
use has_tests::problems::{BadRequest, assert_each_refused};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

const PASSWORD: &str = "correct horse battery staple";

async fn app() -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = inspection_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    let greet = RestrictedCommand {
        path: PathBuf::from("/bin/echo"),
        args: vec!["hello|bye".into()],
    };
    config.inspection.commands = [
        ("echo".to_string(), AllowedCommand::Path("/bin/echo".into())),
        ("greet".to_string(), AllowedCommand::Restricted(greet)),
    ]
    .into();
    (spawn_acmangkut(config).await, db)
}

async fn list(app: &TestApp, what: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/inspection/{what}"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_api_lists_the_seven_built_in_plugins_with_schemas_and_keeps_them_read_only() {
    let (app, _db) = app().await;

    let plugins = list(&app, "plugins").await;

    let kinds: BTreeSet<&str> = plugins.iter().filter_map(|p| p["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "page_probe",
            "tcp",
            "dns",
            "tls",
            "promql",
            "sql",
            "command"
        ])
    );
    assert_eq!(plugins.len(), 7, "{plugins:#?}");
    for p in &plugins {
        assert_eq!(p["builtin"], true, "{p}");
        assert_eq!(
            p["name"], p["kind"],
            "a built-in plugin is named after its kind"
        );
        assert!(!p["description"].as_str().unwrap_or("").is_empty(), "{p}");
        assert!(
            p["schema"]["properties"].is_object() || p["schema"]["oneOf"].is_array(),
            "{} has a parameter schema: {}",
            p["name"],
            p["schema"]
        );
    }
    let promql = plugins
        .iter()
        .find(|p| p["kind"] == "promql")
        .expect("promql");
    assert!(promql["schema"]["properties"]["condition"].is_object());

    let tcp = id(plugins.iter().find(|p| p["kind"] == "tcp").expect("tcp"));
    let changed = app
        .http
        .put(app.url(&format!("/api/v1/inspection/plugins/{tcp}")))
        .json(&json!({"name": "tcp", "kind": "tcp", "description": "mine now"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(changed.status(), 409);
    assert_eq!(
        changed.headers()["content-type"],
        "application/problem+json"
    );
    let (status, body) = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/inspection/plugins/{tcp}"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("built-in"));
    assert_eq!(list(&app, "plugins").await, plugins, "nothing changed");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_api_creates_reads_updates_and_deletes_plugins_rules_tasks_and_channels() {
    let (app, _db) = app().await;

    // Create: a custom plugin, a rule of it, a channel, a task running the rule.
    let plugin = create(
        &app,
        "plugins",
        &json!({"name": "internal-http", "kind": "page_probe", "description": "our pages",
                "defaults": {"timeout_ms": 2000, "conditions": ["[STATUS] == 200"]}}),
    )
    .await;
    assert_eq!(
        (plugin["builtin"].clone(), plugin["rules"].clone()),
        (json!(false), json!(0))
    );
    let rule_body = json!({"name": "home-up", "plugin": "internal-http", "level": "high",
        "params": {"target": "http://{{host}}/"}, "suggestion": "restart the web tier",
        "labels": {"team": "web"}});
    let rule = create(&app, "rules", &rule_body).await;
    assert_eq!(rule["version"], 1);
    assert_eq!(rule["plugin_kind"], "page_probe");
    assert_eq!(rule["suggestion"], "restart the web tier");
    let channel = create(
        &app,
        "channels",
        &json!({"name": "ops", "spec": {"kind": "webhook", "url": "http://127.0.0.1:9/hook",
                "secret": "whsec_api"}}),
    )
    .await;
    assert_eq!(
        channel["spec"]["secret"], "******",
        "secrets are write-only"
    );
    let task_body = json!({"name": "nightly", "rules": ["home-up"],
        "targets": [{"name": "web-1", "vars": {"host": "127.0.0.1:9"}}],
        "schedule": "0 8 * * *", "timezone": "Asia/Shanghai",
        "notify": [{"channel": "ops", "min_level": "medium"}]});
    let task = create(&app, "tasks", &task_body).await;
    let next = task["next_run_at"]
        .as_str()
        .expect("a scheduled task has a next run");
    assert!(
        next.ends_with("T00:00:00Z"),
        "08:00 in Shanghai is midnight UTC: {next}"
    );
    assert_eq!(task["concurrency"], 8);
    assert_eq!(task["timeout_seconds"], 600);

    // Read: by id, and lists with filters.
    let got = app
        .get_json(&format!("/api/v1/inspection/rules/{}", id(&rule)))
        .await;
    assert_eq!(got["tasks"], 1, "the task runs it");
    let by_level = app.get_json("/api/v1/inspection/rules?level=high").await;
    assert_eq!(by_level.as_array().map(Vec::len), Some(1));
    let by_plugin = app.get_json("/api/v1/inspection/rules?plugin=tcp").await;
    assert_eq!(by_plugin.as_array().map(Vec::len), Some(0));
    let p = app
        .get_json(&format!("/api/v1/inspection/plugins/{}", id(&plugin)))
        .await;
    assert_eq!(p["rules"], 1);
    assert_eq!(list(&app, "tasks").await.len(), 1);
    assert_eq!(list(&app, "channels").await[0]["name"], "ops");

    // Update: a rule change adds a version; the old one stays readable.
    let mut changed = rule_body.clone();
    changed["level"] = json!("medium");
    changed["params"]["timeout_ms"] = json!(1500);
    let rule = update(&app, "rules", id(&rule), &changed).await;
    assert_eq!(rule["version"], 2);
    let same = update(&app, "rules", id(&rule), &changed).await;
    assert_eq!(same["version"], 2, "an identical update adds no version");
    let versions = app
        .get_json(&format!("/api/v1/inspection/rules/{}/versions", id(&rule)))
        .await;
    let versions = versions.as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{versions:#?}");
    assert_eq!(
        (
            versions[0]["version"].clone(),
            versions[0]["rule"]["level"].clone()
        ),
        (json!(2), json!("medium"))
    );
    assert_eq!(
        (
            versions[1]["version"].clone(),
            versions[1]["rule"]["level"].clone()
        ),
        (json!(1), json!("high"))
    );
    let mut task_changed = task_body.clone();
    task_changed["schedule"] = Value::Null;
    let task = update(&app, "tasks", id(&task), &task_changed).await;
    assert!(task.get("next_run_at").is_none(), "on demand only: {task}");
    let channel = update(
        &app,
        "channels",
        id(&channel),
        &json!({"name": "ops", "spec": {"kind": "webhook", "url": "http://127.0.0.1:9/hook",
                "secret": "******"}}),
    )
    .await;
    assert_eq!(channel["spec"]["secret"], "******");

    // Delete: what is in use cannot go, and says what uses it.
    let delete = |what: &str, id: i64| {
        let path = format!("/api/v1/inspection/{what}/{id}");
        let app = &app;
        async move { app.send(reqwest::Method::DELETE, &path, None).await }
    };
    let (status, body) = delete("plugins", id(&plugin)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("home-up"),
        "names the rules: {body}"
    );
    let (status, body) = delete("rules", id(&rule)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("nightly"),
        "names the tasks: {body}"
    );
    for (what, obj) in [
        ("tasks", &task),
        ("rules", &rule),
        ("plugins", &plugin),
        ("channels", &channel),
    ] {
        let (status, body) = delete(what, id(obj)).await;
        assert_eq!(status, 204, "delete {what}: {body}");
        let (status, _) = app
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/inspection/{what}/{}", id(obj)),
                None,
            )
            .await;
        assert_eq!(status, 404, "{what} is gone");
    }

    // Every change was audited under the bootstrap actor; the secret never was.
    let audit = app.get_json("/api/v1/audit?action=rule.&per_page=50").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["rule.delete", "rule.update", "rule.create"],
        "newest first; the identical update wrote nothing"
    );
    for prefix in ["plugin.", "task.", "channel."] {
        assert!(audit_count(&app, prefix).await >= 2, "{prefix} audited");
    }
    let channels = app.get("/api/v1/audit?action=channel.&per_page=50").await;
    let text = channels.text().await.expect("text");
    assert!(!text.contains("whsec_api"), "{text}");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_api_lets_a_viewer_read_but_not_define_or_run_and_an_operator_do_both() {
    let (app, _db) = app().await;
    let rule = create(
        &app,
        "rules",
        &json!({"name": "echo-ok", "plugin": "command", "level": "low",
                "params": {"command": "echo", "args": ["ok"]}}),
    )
    .await;
    let task = create(&app, "tasks", &json!({"name": "t", "rules": ["echo-ok"]})).await;
    app.create_user("vera", PASSWORD, &["viewer"]).await;
    app.create_user("otto", PASSWORD, &["operator"]).await;
    let viewer = app.sign_in("vera", PASSWORD).await;
    let operator = app.sign_in("otto", PASSWORD).await;
    let new_rule = json!({"name": "by-viewer", "plugin": "tcp", "level": "low",
                          "params": {"target": "127.0.0.1:9"}});

    let read = viewer.get("/api/v1/inspection/rules").await;
    assert_eq!(read.status(), 200);
    for (path, body) in [
        ("/api/v1/inspection/rules", new_rule.clone()),
        (
            &*format!("/api/v1/inspection/tasks/{}/run", id(&task)),
            Value::Null,
        ),
        ("/api/v1/inspection/config:apply", Value::Null),
        (
            "/api/v1/inspection/plugins",
            json!({"name": "x", "kind": "tcp"}),
        ),
    ] {
        let r = viewer.post_json(path, &body).await;
        assert_eq!(r.status(), 403, "viewer POST {path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let r = viewer
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/inspection/rules/{}", id(&rule)),
        )
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 403);

    let r = operator
        .post_json("/api/v1/inspection/rules", &new_rule)
        .await;
    assert_eq!(r.status(), 201, "an operator defines rules");
    let r = operator
        .post_json(
            &format!("/api/v1/inspection/tasks/{}/run", id(&task)),
            &Value::Null,
        )
        .await;
    assert_eq!(r.status(), 202, "and runs tasks");
    let run: Value = r.json().await.expect("json");
    assert_eq!(run["actor"], "otto");
    let names: Vec<String> = list(&app, "rules")
        .await
        .iter()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    assert_eq!(
        names,
        ["by-viewer", "echo-ok"],
        "only the operator's rule was added"
    );
    let audit = app.get_json("/api/v1/audit?action=rule.create").await;
    let actors: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["actor"].as_str())
        .collect();
    assert!(actors.contains(&"otto"), "{audit}");
    app.handle.stop().await;
}

fn post(
    why: &'static str,
    what: &str,
    body: Value,
    status: u16,
    field: &'static str,
) -> BadRequest {
    BadRequest {
        why,
        method: "POST",
        path: format!("/api/v1/inspection/{what}"),
        content_type: "application/json",
        body: body.to_string(),
        status,
        field: (!field.is_empty()).then_some(field),
    }
}

fn yaml(why: &'static str, doc: &str, field: &'static str) -> BadRequest {
    BadRequest {
        why,
        method: "POST",
        path: "/api/v1/inspection/config:apply".into(),
        content_type: "application/yaml",
        body: doc.into(),
        status: 400,
        field: (!field.is_empty()).then_some(field),
    }
}

fn rule(plugin: &str, params: Value) -> Value {
    json!({"name": "new-rule", "plugin": plugin, "level": "high", "params": params})
}

fn task(extra: Value) -> Value {
    let mut t = json!({"name": "new-task", "rules": ["web-up"],
                       "targets": [{"name": "a", "vars": {"host": "127.0.0.1:9"}}]});
    for (k, v) in extra.as_object().expect("object") {
        t[k] = v.clone();
    }
    t
}

/// Rows the bad requests must not have written: (plugins, rules, tasks, channels, audit).
async fn counts(app: &TestApp) -> (usize, usize, usize, usize, i64) {
    (
        list(app, "plugins").await.len(),
        list(app, "rules").await.len(),
        list(app, "tasks").await.len(),
        list(app, "channels").await.len(),
        app.get_json("/api/v1/audit?per_page=1").await["total"]
            .as_i64()
            .expect("total"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_api_bad_input_gets_problem_json_naming_the_field_and_writes_nothing() {
    let (app, _db) = app().await;
    create(
        &app,
        "rules",
        &json!({"name": "web-up", "plugin": "page_probe", "level": "high",
                "params": {"target": "http://{{host}}/"}}),
    )
    .await;
    create(
        &app,
        "channels",
        &json!({"name": "ops", "spec": {"kind": "webhook", "url": "http://127.0.0.1:9/"}}),
    )
    .await;
    let before = counts(&app).await;

    #[rustfmt::skip]
    let cases = vec![
        // plugins
        post("an unknown plugin kind", "plugins", json!({"name": "p", "kind": "ftp"}), 400, "kind"),
        post("defaults of the wrong type", "plugins",
             json!({"name": "p", "kind": "tcp", "defaults": {"timeout_ms": "slow"}}),
             400, "defaults.timeout_ms"),
        post("a default the kind does not take", "plugins",
             json!({"name": "p", "kind": "promql", "defaults": {"querry": "up"}}),
             400, "defaults.querry"),
        post("a custom plugin may not take a built-in's name", "plugins",
             json!({"name": "tcp", "kind": "tcp"}), 409, ""),
        // rules
        post("an unknown plugin", "rules", rule("nope", json!({})), 400, "plugin"),
        post("a level that does not exist", "rules",
             json!({"name": "r", "plugin": "tcp", "level": "urgent", "params": {"target": "h:1"}}),
             400, "level"),
        post("a parameter of the wrong type", "rules",
             rule("tcp", json!({"target": 5})), 400, "params.target"),
        post("a parameter the plugin does not take", "rules",
             rule("tcp", json!({"target": "h:1", "colour": "red"})), 400, "params.colour"),
        post("a threshold that does not parse", "rules",
             rule("promql", json!({"query": "up", "condition": "~ 1"})), 400, "params.condition"),
        post("a template that is never closed", "rules",
             rule("tcp", json!({"target": "{{host:80"})), 400, "params.target"),
        post("a probe condition that does not parse", "rules",
             rule("page_probe", json!({"target": "http://x/", "conditions": ["[STATUS] = 200"]})),
             400, "params.conditions[0]"),
        post("a command that is not allow-listed", "rules",
             rule("command", json!({"command": "rm"})), 400, "params.command"),
        post("an argument the command's allow-list entry does not allow", "rules",
             rule("command", json!({"command": "greet", "args": ["$(id)"]})),
             400, "params.args[0]"),
        post("more arguments than the command's entry has patterns", "rules",
             rule("command", json!({"command": "greet", "args": ["hello", "world"]})),
             400, "params.args"),
        post("an SQL source that is not configured", "rules",
             rule("sql", json!({"source": "warehouse", "query": "select 1", "condition": "== 1"})),
             400, "params.source"),
        post("a Prometheus that is not configured", "rules",
             rule("promql", json!({"source": "nope", "query": "up", "condition": "< 1"})),
             400, "params.source"),
        post("a blank name", "rules",
             json!({"name": " ", "plugin": "tcp", "level": "low", "params": {"target": "h:1"}}),
             400, "name"),
        post("a field the API does not know", "rules",
             json!({"name": "r", "plugin": "tcp", "level": "low", "params": {"target": "h:1"},
                    "colour": 1}),
             400, "colour"),
        post("rule names are unique", "rules",
             json!({"name": "web-up", "plugin": "tcp", "level": "low",
                    "params": {"target": "h:1"}}),
             409, ""),
        // tasks
        post("a variable the target does not define", "tasks",
             task(json!({"targets": [{"name": "a", "vars": {"hots": "x"}}]})), 400, "targets[0]"),
        post("a schedule that is not cron", "tasks",
             task(json!({"schedule": "61 8 * * *"})), 400, "schedule"),
        post("a time zone that does not exist", "tasks",
             task(json!({"schedule": "0 8 * * *", "timezone": "Mars/Olympus"})), 400, "timezone"),
        post("zero concurrency would never run", "tasks",
             task(json!({"concurrency": 0})), 400, "concurrency"),
        post("a timeout of zero", "tasks",
             task(json!({"timeout_seconds": 0})), 400, "timeout_seconds"),
        post("a rule listed twice", "tasks",
             task(json!({"rules": ["web-up", "web-up"]})), 400, "rules[1]"),
        post("a rule that does not exist", "tasks",
             task(json!({"rules": ["web-up", "nope"]})), 400, "rules[1]"),
        post("no rules at all", "tasks", task(json!({"rules": []})), 400, "rules"),
        post("a channel that does not exist", "tasks",
             task(json!({"notify": [{"channel": "pager"}]})), 400, "notify[0].channel"),
        post("a target listed twice", "tasks",
             task(json!({"targets": [{"name": "a", "vars": {"host": "h"}},
                                     {"name": "a", "vars": {"host": "h"}}]})),
             400, "targets[1].name"),
        // channels
        post("a URL that is not http(s)", "channels",
             json!({"name": "c", "spec": {"kind": "webhook", "url": "ftp://example.com/"}}),
             400, "spec.url"),
        post("an address that is not one", "channels",
             json!({"name": "c", "spec": {"kind": "email", "host": "127.0.0.1",
                    "from": "has@example.com", "to": ["ops at example.com"]}}),
             400, "spec.to[0]"),
        post("an empty signing secret", "channels",
             json!({"name": "c",
                    "spec": {"kind": "webhook", "url": "https://example.com/", "secret": ""}}),
             400, "spec.secret"),
        post("channel names are unique", "channels",
             json!({"name": "ops",
                    "spec": {"kind": "slack", "url": "https://hooks.slack.com/services/x"}}),
             409, ""),
        // risks
        BadRequest { why: "acknowledging needs a comment", method: "POST",
               path: "/api/v1/inspection/risks/1/acknowledge".into(),
               content_type: "application/json",
               body: json!({"comment": "   "}).to_string(), status: 400, field: Some("comment") },
        BadRequest { why: "resolving needs a comment too", method: "POST",
               path: "/api/v1/inspection/risks/1/resolve".into(), content_type: "application/json",
               body: json!({"comment": ""}).to_string(), status: 400, field: Some("comment") },
        BadRequest { why: "a risk state that does not exist", method: "GET",
               path: "/api/v1/inspection/risks?state=sideways".into(),
               content_type: "application/json",
               body: String::new(), status: 400, field: Some("state") },
        BadRequest { why: "a report format we do not write", method: "GET",
               path: "/api/v1/inspection/runs/1/report?format=xml".into(),
               content_type: "application/json",
               body: String::new(), status: 400, field: Some("format") },
        // config:apply
        yaml("YAML that does not parse", "rules: [\n  - name: a\n", "rules"),
        yaml("a key the document does not have",
             "rules:\n  - name: a\n    plugin: tcp\n    level: high\n    colour: red\n",
             "rules[0].colour"),
        yaml("a wrong type deep inside",
             concat!("tasks:\n  - name: t\n    rules: [web-up]\n",
                     "    targets:\n      - name: a\n        vars: [1, 2]\n"),
             "tasks[0].targets[0].vars"),
        yaml("a level that does not exist",
             "rules:\n  - name: a\n    plugin: tcp\n    level: urgent\n", "rules[0].level"),
        yaml("an invalid rule among valid ones applies nothing",
             concat!("rules:\n",
                     "  - name: fine\n    plugin: tcp\n    level: low\n",
                     "    params: {target: 'h:1'}\n",
                     "  - name: bad\n    plugin: tcp\n    level: low\n    params: {target: 7}\n"),
             "rules[1].params.target"),
        yaml("a task naming a rule that does not exist",
             "tasks:\n  - name: t\n    rules: [nope]\n", "tasks[0].rules[0]"),
        yaml("a name defined twice",
             concat!("channels:\n",
                     "  - name: x\n    spec: {kind: slack, url: 'https://hooks.slack.com/a'}\n",
                     "  - name: x\n    spec: {kind: slack, url: 'https://hooks.slack.com/b'}\n"),
             "channels[1].name"),
        // bodies
        BadRequest { why: "JSON that does not parse", method: "POST",
               path: "/api/v1/inspection/rules".into(),
               content_type: "application/json", body: "{\"name\":".into(),
               status: 400, field: None },
        BadRequest { why: "not JSON at all", method: "POST",
               path: "/api/v1/inspection/tasks".into(), content_type: "text/plain",
               body: "run everything".into(), status: 415, field: None },
        BadRequest { why: "update of a rule that does not exist", method: "PUT",
               path: "/api/v1/inspection/rules/999999".into(),
               content_type: "application/json",
               body: json!({"name": "r", "plugin": "tcp", "level": "low",
                            "params": {"target": "h:1"}}).to_string(),
               status: 404, field: None },
    ];
    assert!(cases.len() >= 22);

    assert_each_refused(&app, cases).await;
    assert_eq!(counts(&app).await, before, "no bad request wrote a row");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_api_refuses_renames_and_deletes_that_would_break_what_refers_by_name() {
    // Definitions refer to each other by name (so they apply anywhere as code): a rule names
    // its plugin, a task its rules and channels.
    let (app, _db) = app().await;
    let plugin_body = json!({"name": "echoes", "kind": "command", "defaults": {"command": "echo"}});
    let plugin = create(&app, "plugins", &plugin_body).await;
    let rule_body = json!({"name": "says-ok", "plugin": "echoes", "level": "low",
                           "params": {"args": ["ok"], "stdout_contains": "ok"}});
    let rule = create(&app, "rules", &rule_body).await;
    let channel_body = json!({"name": "ops", "spec": {"kind": "slack",
                              "url": "https://hooks.slack.com/services/T/B/x"}});
    let channel = create(&app, "channels", &channel_body).await;
    create(
        &app,
        "tasks",
        &json!({"name": "daily", "rules": ["says-ok"], "notify": [{"channel": "ops"}]}),
    )
    .await;
    let put = |what: &'static str, id: i64, body: Value| {
        let app = &app;
        async move {
            let r = app
                .http
                .put(app.url(&format!("/api/v1/inspection/{what}/{id}")))
                .json(&body)
                .send()
                .await
                .expect("PUT");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let renamed = |body: &Value, name: &str| {
        let mut b = body.clone();
        b["name"] = json!(name);
        b
    };

    let (status, body) = put("plugins", id(&plugin), renamed(&plugin_body, "echo-2")).await;
    assert_eq!(status, 409, "rules name the plugin: {body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("says-ok"),
        "{body}"
    );
    let (status, body) = put("rules", id(&rule), renamed(&rule_body, "says-yes")).await;
    assert_eq!(status, 409, "tasks name the rule: {body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("daily"),
        "{body}"
    );
    let (status, body) = put("channels", id(&channel), renamed(&channel_body, "ops-2")).await;
    assert_eq!(status, 409, "tasks name the channel: {body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("daily"),
        "{body}"
    );
    let (status, body) = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/inspection/channels/{}", id(&channel)),
            None,
        )
        .await;
    assert_eq!(status, 409, "tasks notify the channel: {body}");

    // Changes that keep the name are fine, and the task still runs the rule it names.
    let mut kept = rule_body.clone();
    kept["level"] = json!("medium");
    assert_eq!(put("rules", id(&rule), kept).await.0, 200);
    let mut kept = plugin_body.clone();
    kept["description"] = json!("echo things");
    assert_eq!(put("plugins", id(&plugin), kept).await.0, 200);
    let rules = list(&app, "rules").await;
    assert_eq!(rules[0]["plugin"], "echoes");
    assert_eq!(list(&app, "channels").await[0]["name"], "ops");
    app.handle.stop().await;
}
