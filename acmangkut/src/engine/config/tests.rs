use super::*;

/// As the client sees it.
fn answer(e: Error) -> shared::ApiError {
    shared::ApiError::from(e)
}

const OPERATION: &str = "\
operations:
- status: published
  operation:
    code: web.restart
    name: Restart the web tier
    kind: plan
    parameters:
    - {name: url, type: url, required: true}
    do: {action: http, method: POST, url: '{{ url }}/restart'}
";

#[test]
fn yaml_errors_name_the_field_and_line() {
    let e = answer(
        parse(b"rules:\n  - name: a\n    plugin: tcp\n    level: urgent\n").expect_err("bad level"),
    );
    assert_eq!(e.field.as_deref(), Some("rules[0].level"));
    assert!(e.detail.contains("line 4"), "{}", e.detail);
    let e = answer(parse(b"rulez: []\n").expect_err("unknown key"));
    assert!(e.detail.contains("rulez"), "{}", e.detail);
    assert_eq!(parse(b"").expect("empty"), Document::default());
    assert!(parse(b"\xff\xfe").is_err());
}

#[test]
fn operations_and_plans_parse_and_their_errors_name_the_field() {
    let doc = parse(OPERATION.as_bytes()).expect("parses");
    assert_eq!(doc.operations[0].operation.code, "web.restart");
    assert_eq!(
        doc.operations[0].status,
        shared::operation::OperationStatus::Published
    );
    let no_status = OPERATION.replace("- status: published\n  operation:", "- operation:");
    let doc = parse(no_status.as_bytes()).expect("status defaults");
    assert_eq!(
        doc.operations[0].status,
        shared::operation::OperationStatus::Published
    );
    for (yaml, field) in [
        (
            OPERATION.replace("status: published", "status: live"),
            "operations[0].status",
        ),
        (
            OPERATION.replace("kind: plan", "kind: nope"),
            "operations[0].operation.kind",
        ),
        (
            OPERATION.replace("    kind: plan\n", "    kind: plan\n    colour: red\n"),
            "operations[0].operation",
        ),
        ("plans:\n- name: p\n  stages: 3\n".into(), "plans[0].stages"),
    ] {
        let e = answer(parse(yaml.as_bytes()).expect_err(&yaml));
        let got = e.field.unwrap_or_default();
        assert!(got.starts_with(field), "{yaml}: {got}: {}", e.detail);
    }
}

#[test]
fn only_inspection_names_the_first_other_section() {
    let doc = parse(OPERATION.as_bytes()).expect("parses");
    let e = answer(only_inspection(&doc).expect_err("operations"));
    assert_eq!(e.field.as_deref(), Some("operations"));
    assert!(only_inspection(&Document::default()).is_ok());
    assert_eq!(Kind::Inspection.section_in(&doc), None);
    assert_eq!(Kind::Operations.section_in(&doc), Some("operations"));
}

#[test]
fn monitors_parse_and_their_errors_name_the_field() {
    let yaml = "monitors:\n- name: web\n  probe: {kind: http, target: 'http://x/'}\n";
    let doc = parse(yaml.as_bytes()).expect("parses");
    assert_eq!(doc.monitors[0].interval_seconds, 60, "the API's default");
    assert_eq!(Kind::Monitors.section_in(&doc), Some("monitors"));
    assert_eq!(Kind::parse("monitors"), Some(Kind::Monitors));
    let e = answer(only_inspection(&doc).expect_err("monitors"));
    assert_eq!(e.field.as_deref(), Some("monitors"));
    for (bad, field) in [
        (
            yaml.replace("kind: http", "kind: smtp"),
            "monitors[0].probe.kind",
        ),
        (
            yaml.replace("  probe:", "  colour: red\n  probe:"),
            "monitors[0]",
        ),
        (
            format!("{yaml}  interval_seconds: soon\n"),
            "monitors[0].interval_seconds",
        ),
    ] {
        let e = answer(parse(bad.as_bytes()).expect_err(&bad));
        let got = e.field.unwrap_or_default();
        assert!(got.starts_with(field), "{bad}: {got}: {}", e.detail);
    }
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(s in ".{0,200}") {
        let _ = parse(s.as_bytes());
    }

    #[test]
    fn parse_never_panics_on_near_documents(
        head in proptest::sample::select(vec!["operations", "plans", "rules", "tasks"]),
        body in "[-a-z:{}\\[\\], \n]{0,120}",
    ) {
        let _ = parse(format!("{head}:\n{body}").as_bytes());
    }

    #[test]
    fn exported_documents_parse_back(
        name in "[a-z][a-z0-9-]{0,20}",
        target in "[a-z0-9.:]{1,30}",
        code in "[a-z][a-z0-9_-]{0,10}(\\.[a-z][a-z0-9_-]{0,10}){0,2}",
        status in proptest::sample::select(shared::operation::OperationStatus::ALL.to_vec()),
        seconds in 1u64..3600,
    ) {
        let mut doc = parse(OPERATION.as_bytes()).expect("parses");
        doc.operations[0].operation.code = code.clone();
        doc.operations[0].status = status;
        let plan = format!(
            "name: {name}\nstages:\n- name: s\n  steps:\n  - name: w\n    wait: {seconds}s\n  \
             - name: o\n    operation: {{code: {code}, params: {{url: 'http://{target}'}}}}\n"
        );
        doc.plans = vec![shared::plan::PlanDocument::from_yaml(&plan).expect("a plan")];
        let mut monitor: shared::monitor::MonitorInput = serde_json::from_value(serde_json::json!({
            "name": name,
            "probe": {"kind": "tcp", "target": target},
            "interval_seconds": seconds,
            "labels": {"code": code},
        }))
        .expect("a monitor");
        monitor.probe.headers.insert("X-Api-Key".into(), code.clone());
        doc.monitors = vec![monitor];
        doc.rules = vec![RuleInput {
            name: name.clone(),
            plugin: "tcp".into(),
            params: serde_json::json!({"target": target}),
            level: shared::inspection::Level::High,
            suggestion: "restart it".into(),
            description: String::new(),
            labels: Default::default(),
        }];
        let text = render(&doc).expect("renders");
        proptest::prop_assert_eq!(parse(text.as_bytes()).expect("parses"), doc);
    }
}
