//! The built-in fault operations (`deploy/operations/faults/operations.yaml`) stay valid:
//! each is a `kind: fault` document that shared::operation's validation accepts, with a
//! required `max_duration` duration and an undo; and each command it runs, rendered with
//! example values, is one the allow-list next to it (`commands.toml`) lets the executor run on
//! a host, naming a script of that directory. (The e2e suite's `faults` runs them for real.)

use acmangkut::config::{AllowedCommand, ExecutorConfig, SshHost};
use acmangkut::engine::executor::Executor;
use serde_json::{Map, Value, json};
use shared::action::Action;
use shared::operation::{OperationInput, OperationKind, ParamType, template_vars};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/operations/faults")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A value for each required parameter without a default, by name.
fn example(name: &str) -> Value {
    match name {
        "host" => json!("db-1"),
        "fault_id" => json!("drill-7-db-1"),
        "max_duration" => json!("5m"),
        "dev" => json!("eth0"),
        "latency" => json!("100ms"),
        "rate" => json!("10mbit"),
        "percent" => json!(2.5),
        "peer" => json!("10.0.0.0/24"),
        "target" => json!("/run/postgresql/15-main.pid"),
        "size" => json!("512M"),
        "path" => json!("/var/lib/postgresql"),
        "inject_url" => json!("https://app:8443/faults"),
        "recover_url" => json!("https://app:8443/faults/drill-7"),
        "proxy" => json!("db"),
        "latency_ms" => json!(300),
        other => panic!("no example value for the parameter `{other}`: add one here"),
    }
}

fn executor(commands: &BTreeMap<String, AllowedCommand>) -> Executor {
    let host = SshHost {
        address: "192.0.2.10".into(),
        port: 22,
        user: "has".into(),
        key_file: "/etc/has/id_ed25519".into(),
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1".into(),
        max_concurrent: 1,
        commands: commands.clone(),
    };
    let config = ExecutorConfig {
        hosts: [("db-1".to_string(), host)].into(),
        ..Default::default()
    };
    let inspection = acmangkut::Config::default().inspection;
    let outbound = shared::outbound::Outbound::new("acmangkut", &Default::default());
    Executor::new(&inspection, &config, &outbound).expect("the allow-list compiles")
}

fn render(action: &Action, vars: &BTreeMap<String, String>) -> Action {
    let value = serde_json::to_value(action).expect("json");
    let rendered = shared::template::render_json(&value, vars).expect("renders");
    serde_json::from_value(rendered).expect("an action")
}

#[test]
fn every_built_in_fault_validates_and_runs_only_what_its_allow_list_names() {
    let catalog: Vec<OperationInput> =
        serde_yaml_ng::from_str(&read("operations.yaml")).expect("operations.yaml reads");
    let commands: BTreeMap<String, AllowedCommand> =
        toml::from_str(&read("commands.toml")).expect("commands.toml reads");
    let executor = executor(&commands);
    let mut codes = BTreeSet::new();
    let mut used = BTreeSet::new();
    for op in &catalog {
        let code = &op.code;
        assert!(codes.insert(code.clone()), "{code} twice");
        op.validate()
            .unwrap_or_else(|e| panic!("{code}: {}: {}", e.field.unwrap_or_default(), e.detail));
        assert_eq!(op.kind, OperationKind::Fault, "{code}");
        let max = op.parameters.iter().find(|p| p.name == "max_duration");
        assert!(
            max.is_some_and(|p| p.kind == ParamType::Duration && p.required),
            "{code}: a required max_duration duration"
        );
        let values: Map<String, Value> = op
            .parameters
            .iter()
            .filter(|p| p.required)
            .map(|p| (p.name.clone(), example(&p.name)))
            .collect();
        let checked = op
            .check_values(&values, "parameters.")
            .unwrap_or_else(|e| panic!("{code}: {}: {}", e.field.unwrap_or_default(), e.detail));
        let vars = template_vars(&op.parameters, &checked);
        let undo = op.undo.as_ref().expect("validated: a fault has an undo");
        for (step, action) in [("do.", &op.do_action), ("undo.", undo)] {
            let rendered = render(action, &vars);
            executor
                .validate(&rendered, step)
                .unwrap_or_else(|e| panic!("{code} {step}: {e:?}"));
            if let Action::Ssh(c) | Action::Command(c) = &rendered {
                used.insert(c.command.clone());
                assert!(action.idempotent(), "{code} {step}: retried after a crash");
            }
        }
    }
    for (name, c) in &commands {
        assert!(
            used.contains(name),
            "commands.toml: {name} is used by no operation"
        );
        let script = c.path().file_name().expect("a file name");
        assert!(dir().join(script).is_file(), "{name}: no script {script:?}");
    }
    assert!(catalog.len() >= 12, "{} operations", catalog.len());
}
