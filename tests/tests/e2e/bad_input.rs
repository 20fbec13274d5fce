//! Every bad request is answered with problem+json naming what is wrong, and writes nothing.

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

struct Case {
    why: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: String,
    status: u16,
    field: Option<&'static str>,
}

fn case(why: &'static str, body: Value, status: u16, field: Option<&'static str>) -> Case {
    Case {
        why,
        method: "POST",
        path: "/api/v1/monitors",
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
        Case {
            why: "JSON that does not parse",
            method: "POST",
            path: "/api/v1/monitors",
            content_type: "application/json",
            body: "{\"name\":".into(),
            status: 400,
            field: None,
        },
        Case {
            why: "wrong content type",
            method: "POST",
            path: "/api/v1/monitors",
            content_type: "text/plain",
            body: valid().to_string(),
            status: 415,
            field: None,
        },
        Case {
            why: "oversize body",
            method: "POST",
            path: "/api/v1/monitors",
            content_type: "application/json",
            body: with(&["description"], json!("x".repeat(10_000))).to_string(),
            status: 413,
            field: None,
        },
        Case {
            why: "unknown id",
            method: "GET",
            path: "/api/v1/monitors/999999",
            content_type: "application/json",
            body: String::new(),
            status: 404,
            field: None,
        },
        Case {
            why: "non-numeric id",
            method: "GET",
            path: "/api/v1/monitors/abc",
            content_type: "application/json",
            body: String::new(),
            status: 404,
            field: Some("id"),
        },
        Case {
            why: "update of an unknown id",
            method: "PUT",
            path: "/api/v1/monitors/999999",
            content_type: "application/json",
            body: valid().to_string(),
            status: 404,
            field: None,
        },
        Case {
            why: "bad page size",
            method: "GET",
            path: "/api/v1/monitors?per_page=0",
            content_type: "application/json",
            body: String::new(),
            status: 400,
            field: Some("per_page"),
        },
        Case {
            why: "bad state filter",
            method: "GET",
            path: "/api/v1/monitors?state=sideways",
            content_type: "application/json",
            body: String::new(),
            status: 400,
            field: Some("state"),
        },
        Case {
            why: "unknown route",
            method: "GET",
            path: "/api/v1/nothing-here",
            content_type: "application/json",
            body: String::new(),
            status: 404,
            field: None,
        },
    ];

    for c in cases {
        let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
        let mut req = app.http.request(method, app.url(c.path));
        if !c.body.is_empty() {
            req = req
                .header("Content-Type", c.content_type)
                .body(c.body.clone());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, c.status, "{}: {body}", c.why);
        assert_eq!(ctype, "application/problem+json", "{}", c.why);
        assert_eq!(body["status"], c.status, "{}: {body}", c.why);
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://")),
            "{}: {body}",
            c.why
        );
        assert!(
            !body["detail"].as_str().unwrap_or("").is_empty(),
            "{}: {body}",
            c.why
        );
        if let Some(field) = c.field {
            assert_eq!(body["field"], field, "{}: {body}", c.why);
        }
    }
    assert_eq!(app.monitor_count().await, 1, "no bad request wrote a row");
    app.handle.stop().await;
}
