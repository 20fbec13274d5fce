//! Every bad request is answered with problem+json naming what is wrong, and writes nothing.

use has_tests::problems::{BadRequest, assert_each_refused};
use has_tests::{TestDb, spawn::test_config, spawn_acmangkut};
use serde_json::{Value, json};

fn valid() -> Value {
    json!({"name": "web",
           "probe": {"kind": "http", "target": "http://127.0.0.1:9/",
                     "conditions": ["[STATUS] == 200"]}})
}

fn with(path: &[&str], value: Value) -> Value {
    let mut v = valid();
    let mut cur = &mut v;
    for (i, key) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cur[*key] = value.clone();
        } else {
            cur = &mut cur[*key];
        }
    }
    v
}

fn case(why: &'static str, body: Value, status: u16, field: Option<&'static str>) -> BadRequest {
    BadRequest {
        why,
        method: "POST",
        path: "/api/v1/monitors".into(),
        content_type: "application/json",
        body: body.to_string(),
        status,
        field,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_problem_json_naming_the_field_and_writes_nothing() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.server.max_body_bytes = 4096;
    let app = spawn_acmangkut(config).await;
    app.create_monitor(json!({"name": "taken", "probe": {"kind": "tcp", "target": "127.0.0.1:9"}}))
        .await;

    let mut unknown = valid();
    unknown["colour"] = json!("red");
    let cases = vec![
        case(
            "an unknown field is a typo, not something to ignore",
            unknown,
            400,
            Some("colour"),
        ),
        case(
            "an unknown probe field too",
            with(&["probe", "verb"], json!("GET")),
            400,
            Some("probe.verb"),
        ),
        case(
            "interval must be a number",
            with(&["interval_seconds"], json!("often")),
            400,
            Some("interval_seconds"),
        ),
        case(
            "interval 0 would probe in a loop",
            with(&["interval_seconds"], json!(0)),
            400,
            Some("interval_seconds"),
        ),
        case(
            "a URL needs a scheme",
            with(&["probe", "target"], json!("example.com/health")),
            400,
            Some("probe.target"),
        ),
        case(
            "a condition must parse",
            with(
                &["probe", "conditions"],
                json!(["[STATUS] == 200", "[STATUS] = 200"]),
            ),
            400,
            Some("probe.conditions[1]"),
        ),
        case(
            "an unknown placeholder",
            with(&["probe", "conditions"], json!(["[STATSU] == 200"])),
            400,
            Some("probe.conditions[0]"),
        ),
        case(
            "an unknown probe kind",
            with(&["probe", "kind"], json!("icmp")),
            400,
            Some("probe.kind"),
        ),
        case(
            "a timeout of 0",
            with(&["probe", "timeout_ms"], json!(0)),
            400,
            Some("probe.timeout_ms"),
        ),
        case(
            "thresholds are at least 1",
            with(&["failure_threshold"], json!(0)),
            400,
            Some("failure_threshold"),
        ),
        case(
            "label keys are restricted",
            with(&["labels"], json!({"Bad Key": "x"})),
            400,
            Some("labels.Bad Key"),
        ),
        case(
            "a name is required",
            with(&["name"], json!("  ")),
            400,
            Some("name"),
        ),
        case(
            "names are unique",
            with(&["name"], json!("taken")),
            409,
            None,
        ),
        BadRequest {
            why: "JSON that does not parse",
            method: "POST",
            path: "/api/v1/monitors".into(),
            content_type: "application/json",
            body: "{\"name\":".into(),
            status: 400,
            field: None,
        },
        BadRequest {
            why: "wrong content type",
            method: "POST",
            path: "/api/v1/monitors".into(),
            content_type: "text/plain",
            body: valid().to_string(),
            status: 415,
            field: None,
        },
        BadRequest {
            why: "oversize body",
            method: "POST",
            path: "/api/v1/monitors".into(),
            content_type: "application/json",
            body: with(&["description"], json!("x".repeat(10_000))).to_string(),
            status: 413,
            field: None,
        },
        BadRequest {
            why: "unknown id",
            method: "GET",
            path: "/api/v1/monitors/999999".into(),
            content_type: "application/json",
            body: String::new(),
            status: 404,
            field: None,
        },
        BadRequest {
            why: "non-numeric id",
            method: "GET",
            path: "/api/v1/monitors/abc".into(),
            content_type: "application/json",
            body: String::new(),
            status: 404,
            field: Some("id"),
        },
        BadRequest {
            why: "update of an unknown id",
            method: "PUT",
            path: "/api/v1/monitors/999999".into(),
            content_type: "application/json",
            body: valid().to_string(),
            status: 404,
            field: None,
        },
        BadRequest {
            why: "bad page size",
            method: "GET",
            path: "/api/v1/monitors?per_page=0".into(),
            content_type: "application/json",
            body: String::new(),
            status: 400,
            field: Some("per_page"),
        },
        BadRequest {
            why: "bad state filter",
            method: "GET",
            path: "/api/v1/monitors?state=sideways".into(),
            content_type: "application/json",
            body: String::new(),
            status: 400,
            field: Some("state"),
        },
        case(
            "a NUL character cannot be stored (PostgreSQL's text refuses it)",
            with(&["name"], json!("web\u{0}")),
            400,
            Some("name"),
        ),
        BadRequest {
            why: "a NUL in a query filter",
            method: "GET",
            path: "/api/v1/audit?action=x%00y".into(),
            content_type: "application/json",
            body: String::new(),
            status: 400,
            field: Some("action"),
        },
        BadRequest {
            why: "a NUL in the path",
            method: "GET",
            path: "/api/v1/iam/roles/a%00b".into(),
            content_type: "application/json",
            body: String::new(),
            status: 400,
            field: Some("path"),
        },
        BadRequest {
            why: "a NUL in a sign-in name",
            method: "POST",
            path: "/api/v1/auth/login".into(),
            content_type: "application/json",
            body: json!({"username": "ada\u{0}", "password": "x"}).to_string(),
            status: 400,
            field: Some("username"),
        },
        BadRequest {
            why: "unknown route",
            method: "GET",
            path: "/api/v1/nothing-here".into(),
            content_type: "application/json",
            body: String::new(),
            status: 404,
            field: None,
        },
    ];

    assert_each_refused(&app, cases).await;
    assert_eq!(app.monitor_count().await, 1, "no bad request wrote a row");
    app.handle.stop().await;
}
