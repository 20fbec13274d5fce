//! The atomic operations catalog over HTTP: versions, the lifecycle draft → published →
//! deprecated, what a plan version may pin, the 409 that keeps a referenced operation, the
//! audit trail, and a table of bad inputs each answered with problem+json naming the field and
//! writing nothing.

use acmangkut::engine::operations::pin;
use acmangkut::store::operations as store;
use has_tests::inspection::audit_count;
use has_tests::problems::{BadRequest, assert_each_refused};
use has_tests::{TestApp, TestDb, spawn::test_config, spawn_acmangkut};
use serde_json::{Value, json};

async fn app() -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    (spawn_acmangkut(config).await, db)
}

fn promote(code: &str) -> Value {
    json!({
        "code": code,
        "name": "Promote the standby",
        "kind": "plan",
        "parameters": [
            {"name": "standby", "type": "host", "required": true},
            {"name": "wait", "type": "duration", "default": "30s"}
        ],
        "do": {"action": "ssh", "host": "{{ standby }}", "command": "pg_ctl",
               "args": ["promote", "-t", "{{ wait }}"]},
        "undo": {"action": "http", "method": "POST", "url": "http://127.0.0.1:9/demote"}
    })
}

async fn create(app: &TestApp, body: &Value) -> Value {
    let (status, v) = app
        .send(reqwest::Method::POST, "/api/v1/operations", Some(body))
        .await;
    assert_eq!(status, 201, "create: {v}");
    v
}

async fn post(app: &TestApp, path: &str) -> (u16, Value) {
    app.send(reqwest::Method::POST, path, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_versioned_and_move_draft_published_deprecated_one_way_with_an_audit_trail()
{
    let (app, _db) = app().await;
    let r = app
        .post_json("/api/v1/operations", &promote("db.promote-standby"))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"],
        "/api/v1/operations/db.promote-standby"
    );
    let made: Value = r.json().await.expect("json");
    assert_eq!(made["status"], "draft");
    assert_eq!(made["version"], 1);
    assert_eq!(made["references"], 0);
    assert_eq!(made["created_by"], "bootstrap");
    assert_eq!(made["parameters_schema"]["required"], json!(["standby"]));
    assert_eq!(
        made["parameters_schema"]["properties"]["wait"]["default"],
        "30s"
    );

    let (status, dup) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/operations",
            Some(&promote("db.promote-standby")),
        )
        .await;
    assert_eq!((status, &dup["field"]), (409, &json!("code")), "{dup}");

    // A change adds a version; the same document again adds none.
    let path = "/api/v1/operations/db.promote-standby";
    let mut changed = promote("db.promote-standby");
    changed["timeout_ms"] = json!(120_000);
    let (status, v) = app.send(reqwest::Method::PUT, path, Some(&changed)).await;
    assert_eq!((status, &v["version"]), (200, &json!(2)), "{v}");
    let (_, v) = app.send(reqwest::Method::PUT, path, Some(&changed)).await;
    assert_eq!(v["version"], 2, "unchanged: no version");
    let versions = app.get_json(&format!("{path}/versions")).await;
    let numbers: Vec<i64> = versions
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["version"].as_i64().expect("number"))
        .collect();
    assert_eq!(numbers, [2, 1], "newest first");
    let first = app.get_json(&format!("{path}/versions/1")).await;
    assert_eq!(
        first["operation"]["timeout_ms"], 30_000,
        "version 1 as it was"
    );
    let (status, _) = app
        .send(reqwest::Method::GET, &format!("{path}/versions/9"), None)
        .await;
    assert_eq!(status, 404);

    // draft → deprecated is not a step of the lifecycle.
    let (status, e) = post(&app, &format!("{path}/deprecate")).await;
    assert_eq!(status, 409, "{e}");
    assert!(
        e["detail"].as_str().expect("detail").contains("draft"),
        "{e}"
    );
    let (status, v) = post(&app, &format!("{path}/publish")).await;
    assert_eq!((status, &v["status"]), (200, &json!("published")), "{v}");
    assert_eq!(v["published_by"], "bootstrap");
    assert!(v["published_at"].is_string(), "{v}");
    let (status, _) = post(&app, &format!("{path}/publish")).await;
    assert_eq!(status, 409, "published twice");

    // A published operation still changes (new plan versions get the new version).
    changed["description"] = json!("pg_ctl promote on the standby");
    let (_, v) = app.send(reqwest::Method::PUT, path, Some(&changed)).await;
    assert_eq!(
        (&v["version"], &v["status"]),
        (&json!(3), &json!("published"))
    );

    let (status, v) = post(&app, &format!("{path}/deprecate")).await;
    assert_eq!((status, &v["status"]), (200, &json!("deprecated")), "{v}");
    assert_eq!(v["deprecated_by"], "bootstrap");
    changed["name"] = json!("Promote (old)");
    let (status, e) = app.send(reqwest::Method::PUT, path, Some(&changed)).await;
    assert_eq!(status, 409, "a deprecated operation no longer changes: {e}");
    let (status, _) = post(&app, &format!("{path}/publish")).await;
    assert_eq!(status, 409, "deprecated → published is refused");
    let (status, _) = post(&app, "/api/v1/operations/db.nothing/publish").await;
    assert_eq!(status, 404);

    // Filters: status, kind, text.
    let mut fault = promote("net.drop-packets");
    fault["kind"] = json!("fault");
    fault["name"] = json!("Drop packets");
    create(&app, &fault).await;
    let codes = |v: Value| -> Vec<String> {
        let list = v.as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|o| o["code"].as_str().expect("code").to_string())
            .collect()
    };
    let all = codes(app.get_json("/api/v1/operations").await);
    assert_eq!(
        all,
        ["net.drop-packets", "db.promote-standby"],
        "newest first"
    );
    let drafts = codes(app.get_json("/api/v1/operations?status=draft").await);
    assert_eq!(drafts, ["net.drop-packets"]);
    let faults = codes(app.get_json("/api/v1/operations?kind=fault").await);
    assert_eq!(faults, ["net.drop-packets"]);
    let found = codes(app.get_json("/api/v1/operations?q=PG_CTL").await);
    assert_eq!(
        found,
        ["db.promote-standby"],
        "the description matches, any case"
    );

    assert_eq!(audit_count(&app, "operation.create").await, 2);
    assert_eq!(audit_count(&app, "operation.update").await, 2);
    assert_eq!(audit_count(&app, "operation.publish").await, 1);
    assert_eq!(audit_count(&app, "operation.deprecate").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referenced_operation_cannot_be_deleted_and_only_published_ones_can_be_pinned() {
    let (app, _db) = app().await;
    let path = "/api/v1/operations/db.fence-primary";
    create(&app, &promote("db.fence-primary")).await;
    let spare = create(&app, &promote("db.spare")).await;
    let s = app.open_store().await;

    // A draft cannot be pinned by a plan version; the error names the plan's field.
    let field = "stages[0].steps[1].operation";
    let e = s
        .run(move |c| pin(c, "db.fence-primary", None, field))
        .await
        .expect_err("a draft");
    let (at, detail) = e.parts();
    assert_eq!(at.as_deref(), Some(field));
    assert!(detail.contains("only published"), "{detail}");
    let e = s
        .run(move |c| pin(c, "db.nope", None, field))
        .await
        .expect_err("unknown");
    assert_eq!(e.parts().0.as_deref(), Some(field));

    let (status, _) = post(&app, &format!("{path}/publish")).await;
    assert_eq!(status, 200);
    let pinned = s
        .run(move |c| pin(c, "db.fence-primary", Some(1), field))
        .await
        .expect("published");
    assert_eq!(pinned.version, 1);
    let e = s
        .run(move |c| pin(c, "db.fence-primary", Some(2), field))
        .await
        .expect_err("no version 2");
    assert_eq!(e.parts().0.as_deref(), Some(field));

    // What plans write when they save a version: read back as the reference count and list.
    s.run(|c| {
        let pins = [
            ("db.fence-primary".to_string(), 1),
            ("db.fence-primary".to_string(), 1),
        ];
        store::add_references(c, "failover-east", 1, &pins)?;
        store::add_references(c, "failover-east", 2, &pins[..1])?;
        store::add_references(c, "drill-west", 1, &pins[..1])
    })
    .await
    .expect("references written");
    let op = app.get_json(path).await;
    assert_eq!(op["references"], 2, "two plans: {op}");
    let refs = app.get_json(&format!("{path}/references")).await;
    assert_eq!(
        refs,
        json!([
            {"plan_name": "drill-west", "plan_version": 1, "operation_version": 1},
            {"plan_name": "failover-east", "plan_version": 2, "operation_version": 1},
            {"plan_name": "failover-east", "plan_version": 1, "operation_version": 1}
        ])
    );
    let listed = app.get_json("/api/v1/operations").await;
    let row = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|o| o["code"] == "db.fence-primary")
        .cloned()
        .expect("listed");
    assert_eq!(row["references"], 2);

    let (status, e) = app.send(reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, 409, "{e}");
    let detail = e["detail"].as_str().expect("detail");
    assert!(
        detail.contains("drill-west") && detail.contains("failover-east"),
        "the plans are named: {detail}"
    );
    assert_eq!(app.get(path).await.status(), 200, "still there");
    assert_eq!(audit_count(&app, "operation.delete").await, 0);

    // Deprecated: still runnable by the plan versions that pin it, never pinned anew.
    let (status, _) = post(&app, &format!("{path}/deprecate")).await;
    assert_eq!(status, 200);
    let e = s
        .run(move |c| pin(c, "db.fence-primary", None, field))
        .await
        .expect_err("deprecated");
    assert!(e.parts().1.contains("deprecated"), "{e}");
    let kept = s
        .run(|c| acmangkut::engine::operations::pinned(c, "db.fence-primary", 1))
        .await
        .expect("a pinned version stays readable");
    assert_eq!(kept.operation.code, "db.fence-primary");

    // An operation nobody references goes, with its versions.
    let spare_path = format!(
        "/api/v1/operations/{}",
        spare["code"].as_str().expect("code")
    );
    let (status, _) = app.send(reqwest::Method::DELETE, &spare_path, None).await;
    assert_eq!(status, 204);
    assert_eq!(app.get(&spare_path).await.status(), 404);
    assert_eq!(audit_count(&app, "operation.delete").await, 1);
}

fn with(path: &[&str], value: Value) -> Value {
    let mut v = promote("db.restart");
    let mut cur = &mut v;
    for (i, key) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cur[*key] = value.clone();
        } else if let Ok(n) = key.parse::<usize>() {
            cur = &mut cur[n];
        } else {
            cur = &mut cur[*key];
        }
    }
    v
}

fn without(key: &str) -> Value {
    let mut v = promote("db.restart");
    v.as_object_mut().expect("object").remove(key);
    v
}

fn case(
    why: &'static str,
    method: &'static str,
    body: Value,
    status: u16,
    field: &'static str,
) -> BadRequest {
    let path = match method {
        "PUT" => "/api/v1/operations/db.taken".into(),
        _ => "/api/v1/operations".into(),
    };
    BadRequest {
        why,
        method,
        path,
        content_type: "application/json",
        body: body.to_string(),
        status,
        field: (!field.is_empty()).then_some(field),
    }
}

/// Rows the bad requests must not have written: (operations, versions of `db.taken`, audit).
async fn counts(app: &TestApp) -> (usize, usize, i64) {
    let ops = app.get_json("/api/v1/operations").await;
    let versions = app.get_json("/api/v1/operations/db.taken/versions").await;
    (
        ops.as_array().expect("list").len(),
        versions.as_array().expect("list").len(),
        audit_count(app, "").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_bad_input_gets_problem_json_naming_the_field_and_writes_nothing() {
    let (app, _db) = app().await;
    create(&app, &promote("db.taken")).await;
    let mut fault = promote("db.restart");
    fault["kind"] = json!("fault");
    fault.as_object_mut().expect("object").remove("undo");
    let before = counts(&app).await;

    #[rustfmt::skip]
    let mut cases = vec![
        case("an unknown field is a typo", "POST", with(&["colour"], json!("red")), 400, "colour"),
        case("a code is required", "POST", without("code"), 400, "code"),
        case("codes are lower-case dotted segments", "POST",
             with(&["code"], json!("DB Promote")), 400, "code"),
        case("a code segment starts with a letter", "POST",
             with(&["code"], json!("db.1st")), 400, "code"),
        case("a code is taken once", "POST", promote("db.taken"), 409, "code"),
        case("a blank name", "POST", with(&["name"], json!("  ")), 400, "name"),
        case("an unknown kind", "POST", with(&["kind"], json!("chaos")), 400, "kind"),
        case("an unknown parameter type", "POST",
             with(&["parameters", "0", "type"], json!("ipv6")), 400, "parameters[0].type"),
        case("a parameter name is a variable name", "POST",
             with(&["parameters", "0", "name"], json!("stand by")), 400, "parameters[0].name"),
        case("a parameter declared twice", "POST",
             with(&["parameters", "1", "name"], json!("standby")), 400, "parameters[1].name"),
        case("a default of the wrong type", "POST",
             with(&["parameters", "1", "default"], json!("soon")), 400, "parameters[1].default"),
        case("required with a default is a contradiction", "POST",
             with(&["parameters", "1", "required"], json!(true)), 400, "parameters[1].required"),
        case("the do action is required", "POST", without("do"), 400, "do"),
        case("an action names a variable that is no parameter", "POST",
             with(&["do", "args"], json!(["{{ primary }}"])), 400, "do.args[0]"),
        case("an unclosed template", "POST",
             with(&["undo", "url"], json!("http://{{ standby/x")), 400, "undo.url"),
        case("an ssh action needs its host", "POST",
             with(&["do", "host"], Value::Null), 400, "do.host"),
        case("an HTTP method we do not send", "POST",
             with(&["undo", "method"], json!("BREW")), 400, "undo.method"),
        case("a fault needs its recovery", "POST", fault, 400, "undo"),
        case("a timeout of 0", "POST", with(&["timeout_ms"], json!(0)), 400, "timeout_ms"),
        case("a timeout past an hour", "POST",
             with(&["timeout_ms"], json!(3_600_001)), 400, "timeout_ms"),
        case("the code of an operation never changes", "PUT",
             promote("db.renamed"), 400, "code"),
        case("a change is checked like a new one", "PUT",
             with(&["code"], json!("db.taken")).tap(|v| v["timeout_ms"] = json!(0)), 400,
             "timeout_ms"),
    ];
    cases.push(BadRequest {
        why: "a body that is not JSON",
        method: "POST",
        path: "/api/v1/operations".into(),
        content_type: "application/json",
        body: "{".into(),
        status: 400,
        field: None,
    });
    assert_each_refused(&app, cases).await;
    let bad_filter = app.get("/api/v1/operations?status=live").await;
    assert_eq!(bad_filter.status(), 400);
    let problem: Value = bad_filter.json().await.expect("problem");
    assert_eq!(problem["field"], "status");
    assert_eq!(counts(&app).await, before, "no bad request wrote a row");
}

/// `value.tap(|v| …)`: a changed copy, in a table row.
trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_walk_sees_every_catalog_route_with_the_plans_permissions() {
    let (app, _db) = app().await;
    let doc = app.get_json("/api/openapi.json").await;
    let scope = |path: &str, method: &str| {
        doc["paths"][path][method]["security"][0]["bearer"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} is documented with a scope"))
            .to_string()
    };
    #[rustfmt::skip]
    let api = [
        ("/api/v1/operations", "get", "plans:read"),
        ("/api/v1/operations", "post", "plans:write"),
        ("/api/v1/operations/{code}", "get", "plans:read"),
        ("/api/v1/operations/{code}", "put", "plans:write"),
        ("/api/v1/operations/{code}", "delete", "plans:write"),
        ("/api/v1/operations/{code}/publish", "post", "plans:write"),
        ("/api/v1/operations/{code}/deprecate", "post", "plans:write"),
        ("/api/v1/operations/{code}/versions", "get", "plans:read"),
        ("/api/v1/operations/{code}/versions/{version}", "get", "plans:read"),
        ("/api/v1/operations/{code}/references", "get", "plans:read"),
    ];
    for (path, method, permission) in api {
        assert_eq!(scope(path, method), permission, "{method} {path}");
    }
    let console: Vec<_> = acmangkut::ui::ROUTES
        .iter()
        .filter(|(_, path, _)| path.starts_with("/operations"))
        .collect();
    assert_eq!(console.len(), 9, "{console:?}");
    for (method, path, permission) in console {
        let expected = if *method == "GET" && !path.ends_with("/new") && !path.ends_with("/edit") {
            "plans:read"
        } else {
            "plans:write"
        };
        assert_eq!(*permission, Some(expected), "{method} {path}");
    }
}
