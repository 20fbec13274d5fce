//! The audit log: one row per change with its actor and before/after, none for a change that
//! fails, filters and pages, CSV and JSON exports with the same rows, and no way to edit or
//! delete a row through the API.

use has_tests::spawn::{Session, bearer_client, test_config};
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "audit-tests-password";

type Time = chrono::DateTime<chrono::Utc>;

/// An app without a scheduler, and an admin ("root") whose API token makes the changes and
/// reads the log (a token's reads are not audited; the bootstrap token's are).
async fn start() -> (TestApp, TestDb, Session, reqwest::Client) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    app.create_user("root", PASSWORD, &["admin"]).await;
    let session = app.sign_in("root", PASSWORD).await;
    let token = session.create_token("audit", 1, &[]).await;
    let root = bearer_client(token["secret"].as_str().expect("secret"));
    (app, db, session, root)
}

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let r = client.request(method, app.url(path));
    let r = match body {
        Some(b) => r.json(&b),
        None => r,
    };
    r.send().await.expect("request")
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> reqwest::Response {
    send(app, client, Method::GET, path, None).await
}

async fn rows(app: &TestApp, reader: &reqwest::Client, query: &str) -> Value {
    let r = get(app, reader, &format!("/api/v1/audit?{query}")).await;
    assert_eq!(r.status(), 200, "GET /api/v1/audit?{query}");
    r.json().await.expect("json")
}

/// `GET /api/v1/audit/export?…` as `reader`: content type, disposition and body.
async fn export(app: &TestApp, reader: &reqwest::Client, query: &str) -> [String; 3] {
    let r = get(app, reader, &format!("/api/v1/audit/export?{query}")).await;
    assert_eq!(r.status(), 200, "{query}");
    let header = |name: &str| r.headers()[name].to_str().expect("ascii").to_string();
    let (ctype, disposition) = (header("content-type"), header("content-disposition"));
    [ctype, disposition, r.text().await.expect("body")]
}

/// A sign-in with a wrong password (401).
async fn failed_sign_in(app: &TestApp, username: &str) {
    let attempt = json!({"username": username, "password": "not-the-password"});
    let r = app
        .anonymous
        .post(app.url("/api/v1/auth/login"))
        .json(&attempt);
    assert_eq!(r.send().await.expect("login").status(), 401, "{username}");
}

fn ids(page: &Value) -> Vec<i64> {
    let items = page["items"].as_array().expect("items");
    items
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect()
}

/// Reads the rows written since the last look.
struct Cursor<'a> {
    app: &'a TestApp,
    reader: &'a reqwest::Client,
    last: i64,
}

impl<'a> Cursor<'a> {
    async fn new(app: &'a TestApp, reader: &'a reqwest::Client) -> Self {
        let newest = ids(&rows(app, reader, "per_page=1").await);
        let last = newest.first().copied().unwrap_or(0);
        Self { app, reader, last }
    }

    async fn new_rows(&mut self) -> Vec<Value> {
        let page = rows(self.app, self.reader, "per_page=500").await;
        let items = page["items"].as_array().expect("items").iter();
        let mut new: Vec<Value> = items
            .filter(|e| e["id"].as_i64() > Some(self.last))
            .cloned()
            .collect();
        new.reverse();
        if let Some(e) = new.last() {
            self.last = e["id"].as_i64().expect("id");
        }
        new
    }

    /// The one row `what` wrote (panics on none or several).
    async fn one(&mut self, what: &str) -> Value {
        let new = self.new_rows().await;
        assert_eq!(
            new.len(),
            1,
            "{what} writes exactly one audit row: {new:#?}"
        );
        new.into_iter().next().expect("one")
    }
}

/// Checks a row's who and what.
fn check(row: &Value, action: &str, actor: &str, kind: &str) {
    assert_eq!(
        (&row["action"], &row["outcome"]),
        (&json!(action), &json!("success")),
        "{row}"
    );
    assert_eq!(
        (&row["actor"], &row["actor_kind"]),
        (&json!(actor), &json!(kind)),
        "{row}"
    );
    assert_eq!(row["peer"], "127.0.0.1", "{row}");
}

fn monitor(name: &str, interval: i64) -> Value {
    json!({"name": name, "interval_seconds": interval,
           "probe": {"kind": "tcp", "target": "127.0.0.1:9"}})
}

/// `before.key` and `after.key` of a row.
fn before_after(row: &Value, key: &str) -> (Value, Value) {
    (row["before"][key].clone(), row["after"][key].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_writes_exactly_one_audit_row_with_its_actor_and_before_and_after() {
    let (app, _db, _root_session, root) = start().await;
    let mut log = Cursor::new(&app, &root).await;
    // A change by root's token that must succeed; its answer.
    let change = |method: Method, path: String, body: Value| {
        let (app, root) = (&app, &root);
        async move {
            let body = (!body.is_null()).then_some(body);
            let r = send(app, root, method.clone(), &path, body).await;
            let status = r.status();
            let json: Value = r.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{method} {path}: {status} {json}");
            json
        }
    };
    let (post, put, delete) = (Method::POST, Method::PUT, Method::DELETE);

    // Monitors.
    let m = change(
        post.clone(),
        "/api/v1/monitors".into(),
        monitor("audited", 3600),
    )
    .await;
    let path = format!("/api/v1/monitors/{}", m["id"]);
    let row = log.one("monitor create").await;
    check(&row, "monitor.create", "root", "token");
    assert_eq!(
        (&row["resource"], &row["resource_id"]),
        (&json!("monitor"), &json!(m["id"].to_string()))
    );
    assert_eq!(before_after(&row, "name"), (Value::Null, json!("audited")));
    change(put.clone(), path.clone(), monitor("audited", 600)).await;
    let row = log.one("monitor update").await;
    check(&row, "monitor.update", "root", "token");
    assert_eq!(
        before_after(&row, "interval_seconds"),
        (json!(3600), json!(600))
    );
    for (verb, from, to) in [
        ("pause", "pending", "paused"),
        ("resume", "paused", "pending"),
    ] {
        change(post.clone(), format!("{path}/{verb}"), Value::Null).await;
        let row = log.one(verb).await;
        check(&row, &format!("monitor.{verb}"), "root", "token");
        assert_eq!(before_after(&row, "state"), (json!(from), json!(to)));
    }
    change(delete.clone(), path.clone(), Value::Null).await;
    let row = log.one("monitor delete").await;
    check(&row, "monitor.delete", "root", "token");
    assert_eq!(before_after(&row, "name"), (json!("audited"), Value::Null));

    // Users: never a password or its hash in the row.
    let new_password = "a-brand-new-password";
    let dora = json!({"username": "dora", "password": PASSWORD, "roles": ["viewer"]});
    let u = change(post.clone(), "/api/v1/iam/users".into(), dora).await;
    let row = log.one("user create").await;
    check(&row, "user.create", "root", "token");
    assert_eq!(
        (&row["after"]["username"], &row["after"]["roles"]),
        (&json!("dora"), &json!(["viewer"]))
    );
    let update = json!({"password": new_password, "display_name": "Dora"});
    change(
        put.clone(),
        format!("/api/v1/iam/users/{}", u["id"]),
        update,
    )
    .await;
    let row = log.one("user update").await;
    check(&row, "user.update", "root", "token");
    assert_eq!(
        before_after(&row, "display_name"),
        (json!("dora"), json!("Dora"))
    );
    assert_eq!(row["detail"], "password changed");

    // Roles and bindings.
    let role = "/api/v1/iam/roles/watcher".to_string();
    change(
        put.clone(),
        role.clone(),
        json!({"permissions": ["monitors:read"]}),
    )
    .await;
    let row = log.one("role create").await;
    check(&row, "role.put", "root", "token");
    assert_eq!(
        before_after(&row, "permissions"),
        (Value::Null, json!(["monitors:read"]))
    );
    let wider = json!({"permissions": ["monitors:read", "audit:read"]});
    change(put.clone(), role.clone(), wider).await;
    let row = log.one("role replace").await;
    let expected = (
        json!(["monitors:read"]),
        json!(["audit:read", "monitors:read"]),
    );
    assert_eq!(before_after(&row, "permissions"), expected);
    for role in ["watcher", "auditor"] {
        // `auditor` is built in and not stored yet: the binding stores it, in the same row.
        let binding = json!({"subject_kind": "group", "subject": "sre", "role": role});
        let b = change(post.clone(), "/api/v1/iam/bindings".into(), binding.clone()).await;
        let row = log.one(&format!("binding to {role}")).await;
        check(&row, "binding.create", "root", "token");
        assert_eq!(
            row["after"],
            json!({"id": b["id"], "subject_kind": "group", "subject": "sre", "role": role})
        );
        change(
            delete.clone(),
            format!("/api/v1/iam/bindings/{}", b["id"]),
            Value::Null,
        )
        .await;
        let row = log.one("binding delete").await;
        check(&row, "binding.delete", "root", "token");
        assert_eq!(before_after(&row, "role"), (json!(role), Value::Null));
    }
    change(delete.clone(), role, Value::Null).await;
    let row = log.one("role delete").await;
    check(&row, "role.delete", "root", "token");
    assert_eq!(before_after(&row, "name"), (json!("watcher"), Value::Null));

    // Tokens: never the secret.
    let token = json!({"name": "second", "expires_in_days": 1, "permissions": ["monitors:read"]});
    let t = change(post.clone(), "/api/v1/tokens".into(), token).await;
    let row = log.one("token create").await;
    check(&row, "token.create", "root", "token");
    assert_eq!(before_after(&row, "name"), (Value::Null, json!("second")));
    assert!(
        !row.to_string()
            .contains(t["secret"].as_str().expect("secret"))
    );
    change(
        delete.clone(),
        format!("/api/v1/tokens/{}", t["id"]),
        Value::Null,
    )
    .await;
    check(
        &log.one("token revoke").await,
        "token.revoke",
        "root",
        "token",
    );

    // The manifest.
    let manifest = json!({"roles": [{"name": "night-shift", "permissions": ["monitors:read"]}]});
    change(post.clone(), "/api/v1/iam/manifest:apply".into(), manifest).await;
    let row = log.one("manifest apply").await;
    check(&row, "manifest.apply", "root", "token");
    assert_eq!(row["after"][0]["name"], "night-shift", "{row}");
    assert_eq!(row["detail"], "1 created, 0 updated, 0 unchanged");

    // The cluster-wide setting, then this instance's switch from loopback.
    for (degraded, before) in [(true, Value::Null), (false, json!("true"))] {
        let body = json!({ "degraded": degraded });
        change(put.clone(), "/api/v1/settings/iam".into(), body).await;
        let row = log.one("settings put").await;
        check(&row, "setting.set", "root", "token");
        assert_eq!(row["resource_id"], "iam.degraded");
        assert_eq!(
            (&row["before"], &row["after"]),
            (&before, &json!(degraded.to_string()))
        );
    }
    for (action, audited, was) in [("closeIam", "close", false), ("openiam", "open", true)] {
        change(Method::GET, format!("/api/common/{action}"), Value::Null).await;
        let row = log.one(action).await;
        check(
            &row,
            &format!("iam.switch.{audited}"),
            "loopback",
            "loopback",
        );
        assert_eq!(
            before_after(&row, "instance_degraded"),
            (json!(was), json!(!was))
        );
    }
    change(Method::GET, "/api/common/iamStatus".into(), Value::Null).await;
    assert!(
        log.new_rows().await.is_empty(),
        "reading the switch changes nothing"
    );

    // Signing in and out.
    let wrong = json!({"username": "dora", "password": PASSWORD});
    let r = app
        .anonymous
        .post(app.url("/api/v1/auth/login"))
        .json(&wrong)
        .send()
        .await;
    assert_eq!(r.expect("login").status(), 401);
    let row = log.one("failed sign-in").await;
    assert_eq!(
        (&row["action"], &row["actor"]),
        (&json!("auth.sign_in"), &json!("dora"))
    );
    assert_eq!(row["outcome"], "failure");
    let session = app.sign_in("dora", new_password).await;
    let row = log.one("sign-in").await;
    check(&row, "auth.sign_in", "dora", "user");
    assert_eq!(row["resource_id"], u["id"].to_string());
    let out = session.request(post, "/api/v1/auth/logout").send().await;
    assert_eq!(out.expect("logout").status(), 204);
    check(&log.one("sign-out").await, "auth.sign_out", "dora", "user");

    // Reads write nothing; no row anywhere holds a password.
    change(Method::GET, "/api/v1/monitors".into(), Value::Null).await;
    change(Method::GET, "/api/v1/iam/users".into(), Value::Null).await;
    assert!(log.new_rows().await.is_empty());
    let all = rows(&app, &root, "per_page=500").await.to_string();
    assert!(!all.contains(PASSWORD) && !all.contains(new_password) && !all.contains("$argon2"));
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_fails_writes_no_audit_row() {
    let (app, _db, _s, root) = start().await;
    let m = app.create_monitor(monitor("taken", 3600)).await;
    let update = format!("/api/v1/monitors/{}", m["id"]);
    let bad_monitor = json!({"name": "x", "probe": {"kind": "tcp", "target": ""}});
    let taken_user = json!({"username": "root", "password": PASSWORD});
    let short_password = json!({"username": "eve", "password": "short"});
    let no_such_permission = json!({"permissions": ["nope:x"]});
    let ghost_binding = json!({"subject_kind": "user", "subject": "root", "role": "ghost"});
    let ghost_manifest =
        json!({"bindings": [{"subject_kind": "group", "subject": "x", "role": "ghost"}]});
    let none = Value::Null;
    #[rustfmt::skip]
    let cases: Vec<(String, Value, u16, &str)> = vec![
        ("POST /api/v1/monitors".into(), monitor("taken", 60), 409, "duplicate monitor name"),
        ("POST /api/v1/monitors".into(), bad_monitor, 400, "invalid monitor"),
        (format!("PUT {update}"), monitor("", 60), 400, "invalid update"),
        ("DELETE /api/v1/monitors/999999".into(), none.clone(), 404, "unknown monitor"),
        ("POST /api/v1/monitors/999999/pause".into(), none.clone(), 404, "pause unknown monitor"),
        ("POST /api/v1/iam/users".into(), taken_user, 409, "username taken"),
        ("POST /api/v1/iam/users".into(), short_password, 400, "password too short"),
        ("PUT /api/v1/iam/roles/bad".into(), no_such_permission, 400, "no such permission"),
        ("DELETE /api/v1/iam/roles/admin".into(), none.clone(), 409, "built-in role"),
        ("POST /api/v1/iam/bindings".into(), ghost_binding, 400, "binding to an unknown role"),
        ("DELETE /api/v1/iam/bindings/999999".into(), none.clone(), 404, "unknown binding"),
        ("DELETE /api/v1/tokens/999999".into(), none, 404, "unknown token"),
        ("POST /api/v1/iam/manifest:apply".into(), ghost_manifest, 400, "manifest, unknown role"),
        ("PUT /api/v1/settings/iam".into(), json!({"degraded": "yes"}), 400, "wrong type"),
    ];
    let mut log = Cursor::new(&app, &root).await;

    for (request, body, status, why) in cases {
        let (method, path) = request.split_once(' ').expect("METHOD path");
        let method: Method = method.parse().expect("method");
        let r = send(&app, &root, method, path, (!body.is_null()).then_some(body)).await;

        assert_eq!(r.status().as_u16(), status, "{why}");
        let new = log.new_rows().await;
        assert!(new.is_empty(), "{why} wrote {new:#?}");
    }
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_filters_by_actor_action_outcome_and_time_and_pages_newest_first() {
    let (app, _db, _s, root) = start().await;
    app.create_user("ann", PASSWORD, &["operator"]).await;
    let ann = app.sign_in("ann", PASSWORD).await;
    for i in 0..3 {
        app.create_monitor(monitor(&format!("boot-{i}"), 3600))
            .await;
    }
    let r = ann
        .post_json("/api/v1/monitors", &monitor("ann-1", 3600))
        .await;
    assert_eq!(r.status(), 201);
    for _ in 0..2 {
        failed_sign_in(&app, "mallory").await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Whole milliseconds, the resolution of the log's times.
    let mark_q = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mark: Time = mark_q.parse().expect("RFC 3339");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = ann
        .post_json("/api/v1/monitors", &monitor("ann-2", 3600))
        .await;
    let later: Value = later.json().await.expect("json");
    let path = format!("/api/v1/monitors/{}", later["id"]);
    let r = ann
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    let everything = rows(&app, &root, "per_page=500").await;
    let all: Vec<Value> = everything["items"].as_array().cloned().expect("items");
    let at = |e: &Value| -> Time { serde_json::from_value(e["at"].clone()).expect("RFC 3339") };
    let monitor_action = |e: &Value| {
        e["action"]
            .as_str()
            .is_some_and(|a| a.starts_with("monitor."))
    };
    type Pick = Box<dyn Fn(&Value) -> bool>;
    #[rustfmt::skip]
    let cases: Vec<(String, Pick)> = vec![
        ("actor=ann".into(), Box::new(|e| e["actor"] == "ann")),
        ("action=monitor.".into(), Box::new(monitor_action)),
        ("action=monitor.create".into(), Box::new(|e| e["action"] == "monitor.create")),
        ("outcome=failure".into(), Box::new(|e| e["outcome"] == "failure")),
        ("resource=session".into(), Box::new(|e| e["resource"] == "session")),
        (
            "actor=ann&action=monitor.".into(),
            Box::new(move |e| e["actor"] == "ann" && monitor_action(e)),
        ),
        (format!("since={mark_q}"), Box::new(move |e| at(e) >= mark)),
        (format!("until={mark_q}"), Box::new(move |e| at(e) < mark)),
    ];

    for (query, pick) in cases {
        let got = ids(&rows(&app, &root, &format!("{query}&per_page=500")).await);

        let expected = all
            .iter()
            .filter(|e| pick(e))
            .map(|e| e["id"].as_i64().expect("id"));
        let expected: Vec<i64> = expected.collect();
        assert!(!expected.is_empty(), "{query} selects something");
        assert_eq!(got, expected, "{query}");
    }
    let count = |q: &'static str| async { ids(&rows(&app, &root, q).await).len() };
    assert_eq!(count("action=monitor.create&per_page=500").await, 5);
    assert_eq!(count("outcome=failure&per_page=500").await, 2);
    // A prefix matches as exactly as a whole action does, on either database: letter case
    // counts and `_` is a character like any other.
    assert_eq!(count("action=Monitor.create").await, 0);
    assert_eq!(
        count("action=Monitor.").await,
        0,
        "prefixes are case-sensitive too"
    );
    assert_eq!(
        count("action=auth.sign_in").await,
        4,
        "root, ann, mallory twice"
    );
    assert_eq!(
        count("action=auth.sign_").await,
        0,
        "a prefix ends with `.`"
    );
    assert_eq!(count("action=auth_").await, 0);
    assert_eq!(count("action=a_th.").await, 0, "`_` is no wildcard");

    // Pages of 3 cover everything once, newest first, each with the same total.
    let all_ids = ids(&everything);
    assert!(
        all_ids.windows(2).all(|w| w[0] > w[1]),
        "newest first: {all_ids:?}"
    );
    let mut paged = Vec::new();
    for page in 1.. {
        let p = rows(&app, &root, &format!("per_page=3&page={page}")).await;
        let expected = (json!(all_ids.len()), json!(page));
        assert_eq!((p["total"].clone(), p["page"].clone()), expected);
        let got = ids(&p);
        if got.is_empty() {
            break;
        }
        paged.extend(got);
    }
    assert_eq!(paged, all_ids);
    #[rustfmt::skip]
    let bad = [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
    ];
    for (query, field) in bad {
        let r = get(&app, &root, &format!("/api/v1/audit?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["field"], field, "{query}");
    }
    app.handle.stop().await;
}

/// The CSV columns that hold plain text, with their JSON names.
const TEXT_COLUMNS: [(usize, &str); 8] = [
    (2, "actor"),
    (3, "actor_kind"),
    (4, "action"),
    (5, "resource"),
    (6, "resource_id"),
    (7, "outcome"),
    (8, "peer"),
    (11, "detail"),
];
const CSV_HEADER: &str =
    "id,at,actor,actor_kind,action,resource,resource_id,outcome,peer,before,after,detail";

/// A CSV cell as the export writes it: spreadsheet formulas are defused with a leading `'`.
fn as_csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// A `before`/`after` cell: JSON text, or empty for none.
fn json_cell(cell: &str) -> Value {
    if cell.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(cell).expect("JSON cell")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_json_exports_carry_the_same_rows() {
    let (app, _db, _s, root) = start().await;
    let awkward = "report, \"weekly\"; with 'quotes'";
    app.create_monitor(monitor(awkward, 3600)).await;
    let formula = "=HYPERLINK(\"http://evil\")";
    for name in [formula, "+1+1", "-2+3", "@SUM(A1)", "comma,name"] {
        failed_sign_in(&app, name).await;
    }

    for filter in ["", "&outcome=failure"] {
        let [json_type, json_file, json_body] =
            export(&app, &root, &format!("format=json{filter}")).await;
        let [csv_type, csv_file, csv_body] =
            export(&app, &root, &format!("format=csv{filter}")).await;

        assert!(json_type.starts_with("application/json"), "{json_type}");
        assert!(csv_type.starts_with("text/csv"), "{csv_type}");
        for (file, ext) in [(json_file, "json"), (csv_file, "csv")] {
            assert!(
                file.starts_with("attachment; filename=\"has-audit-"),
                "{file}"
            );
            assert!(file.ends_with(&format!(".{ext}\"")), "{file}");
        }
        let events: Vec<Value> = serde_json::from_str(&json_body).expect("json array");
        let mut reader = csv::Reader::from_reader(csv_body.as_bytes());
        let header = reader
            .headers()
            .expect("header")
            .iter()
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(header, CSV_HEADER);
        let records: Vec<csv::StringRecord> = reader
            .records()
            .collect::<Result<_, _>>()
            .expect("RFC 4180 rows");
        assert_eq!(records.len(), events.len(), "filter `{filter}`");
        assert!(!events.is_empty());
        for (r, e) in records.iter().zip(&events) {
            assert_eq!(r[0].parse::<i64>().ok(), e["id"].as_i64());
            let csv_at: Time = r[1].parse().expect("RFC 3339");
            let json_at: Time = serde_json::from_value(e["at"].clone()).expect("RFC 3339");
            assert_eq!(csv_at, json_at);
            for (i, k) in TEXT_COLUMNS {
                let text = e[k].as_str().map(as_csv_cell).unwrap_or_default();
                assert_eq!(r[i], text, "{k} of {e}");
            }
            assert_eq!(
                (json_cell(&r[9]), json_cell(&r[10])),
                (e["before"].clone(), e["after"].clone())
            );
        }
        let row_of =
            |key: &str, value: &str| events.iter().position(|e| e[key] == value).expect("row");
        if filter.is_empty() {
            let created = &records[row_of("action", "monitor.create")];
            assert_eq!(json_cell(&created[10])["name"], awkward);
        }
        let defused = &records[row_of("actor", formula)][2];
        assert_eq!(defused, format!("'{formula}"), "the formula is defused");
    }
    let xml = get(&app, &root, "/api/v1/audit/export?format=xml").await;
    assert_eq!(xml.status(), 400);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_edits_or_deletes_audit_rows() {
    let (app, _db, _s, root) = start().await;
    app.create_monitor(monitor("m", 3600)).await;
    let [_, _, before] = export(&app, &root, "format=json").await;
    let first: Vec<Value> = serde_json::from_str(&before).expect("json");
    let id = first.last().expect("a row")["id"].clone();
    let paths = [
        "/api/v1/audit".into(),
        format!("/api/v1/audit/{id}"),
        "/api/v1/audit/export".into(),
    ];

    let mut answers = Vec::new();
    for path in paths {
        for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
            // The bootstrap token has every permission there is.
            let body = Some(json!({"actor": "nobody"}));
            let r = send(&app, &app.http, method.clone(), &path, body).await;
            answers.push((format!("{method} {path}"), r.status().as_u16()));
        }
    }

    for (what, status) in &answers {
        assert!([404, 405].contains(status), "{what}: {status}");
    }
    let [_, _, after] = export(&app, &root, "format=json").await;
    let after: Vec<Value> = serde_json::from_str(&after).expect("json");
    let kept: Vec<&Value> = after
        .iter()
        .filter(|e| e["action"] != "bootstrap.read")
        .collect();
    assert_eq!(
        kept,
        first.iter().collect::<Vec<_>>(),
        "every row as it was"
    );
    app.handle.stop().await;
}
