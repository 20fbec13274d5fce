use super::*;
use proptest::prelude::*;

/// The failover plan of the docs, in the form authors write.
pub(crate) const FAILOVER: &str = r#"
name: db failover
description: Promote the standby and move the proxy to it
rto_objective: 5m
parameters:
  - name: reason
    type: string
    required: true
  - name: max_lag
    type: integer
    default: 10
targets:
  - name: proxies
    vars: {port: "8080"}
    members:
      - name: proxy-a
        vars: {url: "http://10.0.0.1"}
      - name: proxy-b
        vars: {url: "http://10.0.0.2", port: "9090"}
stages:
  - name: check
    steps:
      - name: standby lag
        check:
          gate: {check: sql, source: standby, query: "select 1",
                 condition: "< {{ params.max_lag }}"}
          retry_interval: 5s
        timeout: 2m
      - name: approve
        approval: {roles: [dba], expires: 30m}
  - name: switch
    max_parallelism: 2
    steps:
      - name: promote
        operation:
          code: db.promote-standby
          params: {why: "{{ params.reason }}", token: "{{ secret.api }}"}
        retries: 2
        retry_backoff: 10s
        on_failure: rollback
      - name: repoint
        batches:
          code: proxy.switch
          params: {url: "{{ url }}:{{ port }}/switch", name: "{{ target }}"}
          targets: proxies
          size: 1
          pause: after_first
      - name: settle
        wait: 30s
      - name: tell
        notify: {channels: [ops], message: "failover done: {{ params.reason }}"}
notify:
  channels: [oncall]
"#;

fn doc() -> PlanDocument {
    PlanDocument::from_yaml(FAILOVER).expect("the example reads")
}

#[test]
fn the_example_reads_validates_and_round_trips_in_yaml_and_json() {
    let d = doc();
    d.validate().expect("valid");
    assert_eq!(d.rto_objective, Some(Duration::from_millis(300_000)));
    assert_eq!(d.stages[1].steps.len(), 4);
    assert!(matches!(d.stages[1].steps[2].kind, StepKind::Wait(w) if w.as_millis() == 30_000));
    let notify = d.notify.as_ref().expect("executions notify");
    assert_eq!(notify.on, Notice::all(), "every moment when none is named");
    let back = PlanDocument::from_yaml(&d.to_yaml()).expect("what we write we read");
    assert_eq!(back, d);
    let json = serde_json::to_vec(&d).expect("json");
    assert_eq!(
        crate::extract::parse::<PlanDocument>(&json).expect("json reads"),
        d
    );
}

#[test]
fn durations_read_and_write_in_one_form() {
    for (text, ms, written) in [
        ("90s", 90_000, "1m30s"),
        ("1h30m", 5_400_000, "1h30m"),
        ("250ms", 250, "250ms"),
        ("2d", 172_800_000, "2d"),
        ("45", 45_000, "45s"),
    ] {
        let d = Duration::parse(text).expect(text);
        assert_eq!((d.as_millis(), d.to_string().as_str()), (ms, written));
    }
    for bad in ["", "m", "5x", "1.5h", "-1s", "99999999999999999999d"] {
        assert!(Duration::parse(bad).is_err(), "{bad}");
    }
}

/// Each mistake, and the field the answer must name.
#[test]
fn each_mistake_names_its_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("step timeout over a day", "timeout: 2m", "timeout: 2d"),
        (
            "zero retries interval",
            "retry_interval: 5s",
            "retry_interval: 0s",
        ),
        ("approval with no role", "roles: [dba]", "roles: []"),
        (
            "unknown template variable",
            "why: \"{{ params.reason",
            "why: \"{{ params.nope",
        ),
        (
            "member-only variable",
            "vars: {url: \"http://10.0.0.1\"}",
            "vars: {}",
        ),
        ("unknown target group", "targets: proxies", "targets: nope"),
        ("retries over ten", "retries: 2", "retries: 11"),
        ("default of the wrong type", "default: 10", "default: ten"),
        (
            "two kinds in a step",
            "wait: 30s",
            "wait: 30s\n        approval: {roles: [x]}",
        ),
        ("batches of zero", "size: 1", "size: 0"),
        (
            "parallelism zero",
            "max_parallelism: 2",
            "max_parallelism: 0",
        ),
        (
            "bad operation code",
            "code: db.promote-standby",
            "code: DB.promote",
        ),
        ("unknown field", "retries: 2", "retires: 2"),
        (
            "executions notify no channel",
            "channels: [oncall]",
            "channels: []",
        ),
        (
            "executions notify on nothing",
            "channels: [oncall]",
            "channels: [oncall]\n  on: []",
        ),
    ];
    let expected = [
        "stages[0].steps[0].timeout",
        "stages[0].steps[0].check.retry_interval",
        "stages[0].steps[1].approval.roles",
        "stages[1].steps[0].operation.params.why",
        "stages[1].steps[1].batches.params.url",
        "stages[1].steps[1].batches.targets",
        "stages[1].steps[0].retries",
        "parameters[1].default",
        "stages[1].steps[2]",
        "stages[1].steps[1].batches.size",
        "stages[1].max_parallelism",
        "stages[1].steps[0].operation.code",
        "stages[1].steps[0].retires",
        "notify.channels",
        "notify.on",
    ];
    for ((why, from, to), field) in cases.iter().zip(expected) {
        assert!(
            FAILOVER.contains(from),
            "{why}: `{from}` not in the example"
        );
        let text = FAILOVER.replacen(from, to, 1);
        let e = PlanDocument::from_yaml(&text).and_then(|d| d.validate());
        let e = e.expect_err(why);
        assert_eq!(e.field.as_deref(), Some(field), "{why}: {}", e.detail);
    }
}

#[test]
fn step_names_are_unique_in_the_plan() {
    let mut d = doc();
    d.stages[1].steps[3].name = "promote".into();
    let e = d.validate().expect_err("twice");
    assert_eq!(e.field.as_deref(), Some("stages[1].steps[3].name"));
}

#[test]
fn parameter_values_are_typed_and_defaulted() {
    let d = doc();
    let given = serde_json::json!({"reason": "drill"});
    let v = d
        .parameter_values(given.as_object().expect("map"))
        .expect("ok");
    assert_eq!(v["max_lag"], serde_json::json!(10));
    let e = d
        .parameter_values(serde_json::json!({}).as_object().expect("map"))
        .expect_err("reason is required");
    assert_eq!(e.field.as_deref(), Some("params.reason"));
    let bad = serde_json::json!({"reason": "x", "max_lag": "ten"});
    let e = d
        .parameter_values(bad.as_object().expect("map"))
        .expect_err("type");
    assert_eq!(e.field.as_deref(), Some("params.max_lag"));
}

#[test]
fn rendering_fills_parameters_and_member_variables_and_keeps_secrets() {
    let d = doc();
    let params = d
        .parameter_values(
            serde_json::json!({"reason": "drill"})
                .as_object()
                .expect("m"),
        )
        .expect("ok");
    let g = &d.targets[0];
    let vars = d.variables(&params, Some((g, &g.members[1])));
    let v = serde_json::json!({"u": "{{ url }}:{{ port }} {{ target }}/{{ group }}",
        "t": "{{ secret.api }}", "n": "{{ params.max_lag }}"});
    let out = render(&v, &vars, "x").expect("renders");
    assert_eq!(out["u"], "http://10.0.0.2:9090 proxy-b/proxies");
    assert_eq!(out["t"], "{{ secret.api }}");
    assert_eq!(out["n"], "10");
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9 ]{0,10}[a-z0-9]"
}

fn duration() -> impl Strategy<Value = Duration> {
    (1u64..MAX_STEP_MS).prop_map(Duration::from_millis)
}

fn kind() -> impl Strategy<Value = StepKind> {
    prop_oneof![
        duration().prop_map(StepKind::Wait),
        ("[a-z.]{1,12}", proptest::option::of(1i32..9), "\\PC{0,12}").prop_map(|(code, v, p)| {
            let mut params = serde_json::Map::new();
            params.insert("p".into(), Value::String(p));
            StepKind::Operation(OperationStep {
                code,
                version: v,
                params,
                targets: None,
            })
        }),
        (
            proptest::collection::vec(name(), 0..3),
            proptest::option::of(duration())
        )
            .prop_map(|(roles, expires)| StepKind::Approval(ApprovalStep {
                roles,
                instructions: String::new(),
                expires,
            })),
        (name(), "\\PC{0,20}").prop_map(|(c, message)| StepKind::Notify(NotifyStep {
            channels: vec![c],
            message,
        })),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        name(),
        kind(),
        proptest::option::of(duration()),
        0u32..20,
        prop_oneof![
            Just(OnFailure::Pause),
            Just(OnFailure::Continue),
            Just(OnFailure::Rollback)
        ],
    )
        .prop_map(|(name, kind, timeout, retries, on_failure)| Step {
            name,
            kind,
            timeout,
            retries,
            retry_backoff: None,
            on_failure,
        })
}

fn document() -> impl Strategy<Value = PlanDocument> {
    (
        name(),
        "\\PC{0,30}",
        proptest::option::of(duration()),
        proptest::collection::vec((name(), proptest::collection::vec(step(), 1..4)), 1..4),
        triggers(),
        proptest::option::of((
            proptest::collection::vec(name(), 0..3),
            proptest::sample::subsequence(Notice::all(), 0..4),
        )),
    )
        .prop_map(
            |(name, description, rto, stages, triggers, notify)| PlanDocument {
                name,
                description,
                rto_objective: rto,
                parameters: vec![],
                targets: vec![],
                stages: stages
                    .into_iter()
                    .map(|(name, steps)| Stage {
                        name,
                        max_parallelism: None,
                        steps,
                    })
                    .collect(),
                triggers,
                notify: notify.map(|(channels, on)| PlanNotify { channels, on }),
            },
        )
}

/// Triggers with any cron text and time zone (valid or not), and risk triggers.
fn triggers() -> impl Strategy<Value = Triggers> {
    let schedule = ("[0-9*/,\\- ]{0,20}", "[A-Za-z/_]{0,16}")
        .prop_map(|(cron, time_zone)| ScheduleTrigger { cron, time_zone });
    let level = prop_oneof![
        Just(crate::inspection::Level::High),
        Just(crate::inspection::Level::Medium),
        Just(crate::inspection::Level::Low)
    ];
    let risk = (
        proptest::option::of(name()),
        proptest::option::of(name()),
        level,
    )
        .prop_map(|(rule, monitor, min_level)| RiskTrigger {
            rule,
            monitor,
            min_level,
        });
    (
        proptest::option::of(schedule),
        proptest::collection::vec(risk, 0..3),
    )
        .prop_map(|(schedule, risk_events)| Triggers {
            schedule,
            risk_events,
        })
}

proptest! {
    /// What we write, in YAML or JSON, we read back unchanged; validation never panics.
    #[test]
    fn documents_round_trip(d in document()) {
        let _ = d.validate();
        let yaml = PlanDocument::from_yaml(&d.to_yaml()).expect("yaml reads back");
        prop_assert_eq!(&yaml, &d);
        let json: PlanDocument = serde_json::from_str(&serde_json::to_string(&d).expect("json"))
            .expect("json reads back");
        prop_assert_eq!(json, d);
    }

    /// Any text is read or refused, never a panic; what reads validates without panicking.
    #[test]
    fn any_text_is_read_or_refused(cut in 0usize..2000, junk in "\\PC{0,20}") {
        let at = FAILOVER.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(FAILOVER.len());
        let text = format!("{}{junk}{}", &FAILOVER[..at], &FAILOVER[at..]);
        if let Ok(d) = PlanDocument::from_yaml(&text) {
            let _ = d.validate();
            let _ = d.parameter_values(&serde_json::Map::new());
        }
    }

    #[test]
    fn durations_round_trip(ms in 0u64..u64::MAX / 2) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(Duration::parse(&d.to_string()).expect("reads"), d);
    }
}
