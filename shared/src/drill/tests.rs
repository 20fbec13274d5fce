use super::*;
use proptest::prelude::*;

const DRILL: &str = r#"
name: checkout latency
targets:
  - name: app-1
    vars: {base: "http://10.0.0.1:8080"}
  - name: app-2
    vars: {base: "http://10.0.0.2:8080"}
blast_radius: one
steady_state:
  - {check: command, command: test, args: ["-e", "/tmp/ok"]}
stop_conditions:
  checks:
    - {check: command, command: test, args: ["-e", "/tmp/ok"]}
  interval: 200ms
faults:
  - operation: fault.http.switch
    parameters:
      inject_url: "{{ base }}/faults"
      recover_url: "{{ base }}/faults/{{ target }}"
    max_duration: 5m
observe: 2m
"#;

fn drill() -> DrillDocument {
    crate::extract::parse_yaml(DRILL).expect("the example reads")
}

/// The field a document is refused at.
fn refused(doc: &DrillDocument) -> String {
    doc.validate()
        .expect_err("must be refused")
        .field
        .unwrap_or_default()
}

#[test]
fn the_example_reads_validates_and_round_trips() {
    let d = drill();
    d.validate().expect("valid");
    assert_eq!(d.blast_radius, BlastRadius::One);
    assert_eq!(d.selected().len(), 1);
    assert_eq!(d.selected()[0].name, "app-1");
    let json = serde_json::to_string(&d).expect("json");
    let back: DrillDocument = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, d);
}

#[test]
fn blast_radius_counts_the_first_targets() {
    assert_eq!(BlastRadius::One.count(5), 1);
    assert_eq!(BlastRadius::All.count(5), 5);
    assert_eq!(BlastRadius::Fixed(3).count(5), 3);
    assert_eq!(BlastRadius::Percent(50).count(5), 3, "rounded up");
    assert_eq!(BlastRadius::Percent(1).count(5), 1);
    assert_eq!(BlastRadius::Percent(100).count(5), 5);
    let read = |s: &str| serde_json::from_str::<BlastRadius>(s).expect(s);
    assert_eq!(read(r#""one""#), BlastRadius::One);
    assert_eq!(read(r#"{"percent": 20}"#), BlastRadius::Percent(20));
    let yaml = |s: &str| serde_yaml_ng::from_str::<BlastRadius>(s);
    assert_eq!(yaml("{fixed: 2}").expect("flow map"), BlastRadius::Fixed(2));
    assert_eq!(
        yaml("percent: 50").expect("block map"),
        BlastRadius::Percent(50)
    );
    assert_eq!(yaml("all").expect("word"), BlastRadius::All);
    for bad in [
        "{fixed: -1}",
        "{fixed: 1, percent: 2}",
        "{some: 1}",
        "many",
        "{fixed: x}",
    ] {
        let e = yaml(bad).expect_err(bad).to_string();
        assert!(e.contains("`{fixed: n}`"), "{bad}: {e}");
    }
    let back = serde_json::to_value(BlastRadius::Fixed(2)).expect("json");
    assert_eq!(
        back,
        serde_json::json!({"fixed": 2}),
        "written as it is read"
    );
}

/// Each bad document, the field it must be refused at, and why.
#[test]
fn bad_documents_are_refused_naming_the_field() {
    type Spoil = fn(&mut DrillDocument);
    let table: &[(&str, Spoil, &str)] = &[
        ("an empty name", |d| d.name.clear(), "name"),
        ("no targets", |d| d.targets.clear(), "targets"),
        (
            "a target twice",
            |d| d.targets[1].name = "app-1".into(),
            "targets[1].name",
        ),
        (
            "more targets hit than listed",
            |d| d.blast_radius = BlastRadius::Fixed(3),
            "blast_radius.fixed",
        ),
        (
            "a share over 100 %",
            |d| d.blast_radius = BlastRadius::Percent(101),
            "blast_radius.percent",
        ),
        (
            "a steady-state check without a command",
            |d| {
                if let Check::Command(c) = &mut d.steady_state[0] {
                    c.command.clear();
                }
            },
            "steady_state[0].command",
        ),
        (
            "stop conditions evaluated too often",
            |d| d.stop_conditions.interval = Duration::from_millis(10),
            "stop_conditions.interval",
        ),
        ("no faults", |d| d.faults.clear(), "faults"),
        (
            "an operation code that is not one",
            |d| d.faults[0].operation = "Fault!".into(),
            "faults[0].operation",
        ),
        (
            "a fault without a maximum duration",
            |d| d.faults[0].max_duration = Duration::from_millis(0),
            "faults[0].max_duration",
        ),
        (
            "a fault shorter than the observation",
            |d| d.faults[0].max_duration = Duration::from_millis(60_000),
            "faults[0].max_duration",
        ),
        (
            "a fault id given by the document",
            |d| {
                d.faults[0].parameters.insert("fault_id".into(), "x".into());
            },
            "faults[0].parameters.fault_id",
        ),
        (
            "a variable only one target defines",
            |d| {
                d.targets[1].vars.clear();
            },
            "faults[0].parameters.inject_url",
        ),
        (
            "no observation",
            |d| d.observe = Duration::from_millis(0),
            "observe",
        ),
        (
            "a linked plan with no name",
            |d| d.plan = Some(" ".into()),
            "plan",
        ),
    ];
    for (why, spoil, field) in table {
        let mut d = drill();
        spoil(&mut d);
        assert_eq!(refused(&d), *field, "{why}");
    }
}

#[test]
fn unknown_fields_are_refused_by_name() {
    let e = crate::extract::parse_yaml::<DrillDocument>(&format!("{DRILL}\nradius: 3\n"))
        .expect_err("unknown field");
    assert!(e.detail.contains("radius"), "{}", e.detail);
}

#[test]
fn fault_ids_are_what_the_scripts_accept() {
    assert_eq!(fault_id(7, "App-1.example:80"), "drill-7-app-1_example_80");
}

#[test]
fn run_states_and_phases_read_back() {
    for s in RunState::ALL {
        assert_eq!(RunState::parse(s.as_str()), Some(s));
    }
    for s in Stage::ALL {
        assert_eq!(Stage::parse(s.as_str()), Some(s));
    }
    for p in Phase::ALL {
        assert_eq!(Phase::parse(p.as_str()), Some(p));
    }
    assert!(RunState::Cancelled.ended() && !RunState::Stopping.ended());
}

proptest! {
    /// Any text either reads and validates or is refused with a field; nothing panics.
    #[test]
    fn any_document_text_is_read_or_refused(text in "\\PC{0,400}") {
        if let Ok(d) = crate::extract::parse_yaml::<DrillDocument>(&text) {
            let _ = d.validate();
        }
    }

    /// A valid blast radius hits at least one target and never more than there are.
    #[test]
    fn a_valid_blast_radius_hits_between_one_and_all(n in 1usize..50, k in 0u32..150,
                                                     kind in 0u8..4) {
        let radius = match kind {
            0 => BlastRadius::One,
            1 => BlastRadius::All,
            2 => BlastRadius::Fixed(k),
            _ => BlastRadius::Percent(k),
        };
        if radius.validate(n, "blast_radius").is_ok() {
            let hit = radius.count(n);
            prop_assert!(hit >= 1 && hit <= n);
        }
    }

    /// Fault ids keep to the scripts' characters whatever the target's name.
    #[test]
    fn fault_ids_keep_to_safe_characters(run in 0i64..1_000_000, name in "\\PC{1,100}") {
        let id = fault_id(run, &name);
        prop_assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()
            || c == '-' || c == '_'));
    }
}
