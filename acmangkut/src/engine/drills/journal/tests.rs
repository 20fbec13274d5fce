use super::*;
use chrono::{DateTime, TimeZone, Utc};
use shared::check::CheckOutcome;
use shared::drill::{RunSummary, Stage};

const DRILL: &str = r#"
name: checkout switch
targets:
  - {name: app-1, vars: {base: "http://127.0.0.1:1"}}
  - {name: app-2, vars: {base: "http://127.0.0.1:2"}}
steady_state:
  - {check: command, command: test, args: ["-e", "/tmp/ok"]}
faults:
  - operation: fault.http.switch
    parameters: {inject_url: "{{ base }}/faults", recover_url: "{{ base }}/faults/x"}
    max_duration: 5m
observe: 1m
"#;

fn doc() -> DrillDocument {
    shared::extract::parse_yaml(DRILL).expect("the drill reads")
}

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 250_000_000)
        .single()
        .expect("time")
}

fn event(s: i64, target: Option<&str>, what: &str, evidence: &str) -> RunEvent {
    RunEvent {
        at: at(s),
        target: target.map(str::to_string),
        what: what.into(),
        evidence: evidence.into(),
    }
}

fn check(s: i64, what: &str, status: CheckStatus) -> RunEvent {
    let r = CheckResult {
        subject: "command test -e /tmp/ok".into(),
        outcome: CheckOutcome {
            status,
            value: Some("0".into()),
            evidence: "x".repeat(5000),
            duration_ms: 120,
        },
    };
    event(s, None, what, &check_event(&r))
}

fn run(state: RunState, reason: &str, events: Vec<RunEvent>) -> RunView {
    RunView {
        summary: RunSummary {
            id: 7,
            drill_id: 1,
            drill: "checkout switch".into(),
            version: 1,
            state,
            stage: Stage::Done,
            reason: reason.into(),
            started_by: "alice".into(),
            created_at: at(0),
            injected_at: Some(at(2)),
            ended_at: Some(at(60)),
        },
        targets: Vec::new(),
        events,
    }
}

/// A run observed to the end: both targets injected and recovered, steady state held.
fn full(after: CheckStatus) -> Vec<RunEvent> {
    let mut e = vec![check(1, STEADY_STATE_BEFORE, CheckStatus::Pass)];
    for t in ["app-1", "app-2"] {
        e.push(event(2, Some(t), "inject", ""));
        e.push(event(3, Some(t), "injected", "fault.http.switch: 204"));
    }
    for t in ["app-1", "app-2"] {
        e.push(event(50, Some(t), "recover", ""));
        e.push(event(51, Some(t), "recovered", "fault.http.switch: 204"));
    }
    e.push(check(55, STEADY_STATE_AFTER, after));
    e
}

#[test]
fn a_run_ends_in_the_journal_as_chaos_run_would_end() {
    use JournalStatus::*;
    let stop = vec![
        check(1, STEADY_STATE_BEFORE, CheckStatus::Pass),
        check(9, STOP_CONDITION, CheckStatus::Fail),
    ];
    let table = [
        (
            run(
                RunState::Completed,
                "observed for 1m",
                full(CheckStatus::Pass),
            ),
            (Completed, false),
        ),
        (
            run(
                RunState::Failed,
                "the steady state did not hold",
                full(CheckStatus::Fail),
            ),
            (Completed, true),
        ),
        (
            run(RunState::Stopped, "a stop condition failed: …", stop),
            (Failed, true),
        ),
        (
            run(
                RunState::Stopped,
                "stopped by alice",
                full(CheckStatus::Pass),
            ),
            (Interrupted, false),
        ),
        (
            run(RunState::Cancelled, "the safety lever is engaged", vec![]),
            (Interrupted, false),
        ),
        (
            run(
                RunState::Failed,
                "the steady state does not hold, nothing injected",
                vec![check(1, STEADY_STATE_BEFORE, CheckStatus::Fail)],
            ),
            (Completed, false),
        ),
        (
            run(
                RunState::Failed,
                "the steady state does not hold, nothing injected",
                vec![check(1, STEADY_STATE_BEFORE, CheckStatus::Error)],
            ),
            (Failed, false),
        ),
        (
            run(
                RunState::Failed,
                "interrupted: the replica driving it stopped",
                vec![],
            ),
            (Interrupted, false),
        ),
        (
            run(RunState::Failed, "the injection failed on app-1: …", vec![]),
            (Aborted, false),
        ),
    ];
    for (r, want) in table {
        assert_eq!(
            outcome(&r),
            Some(want),
            "{}: {}",
            r.summary.state.as_str(),
            r.summary.reason
        );
    }
    for state in [
        RunState::Pending,
        RunState::Initiating,
        RunState::Running,
        RunState::Stopping,
    ] {
        let r = run(state, "", full(CheckStatus::Pass));
        assert_eq!(outcome(&r), None, "{}", state.as_str());
        assert!(journal(&doc(), &r).is_none());
    }
}

#[test]
fn the_journal_reads_back_as_chaos_writes_it_with_every_activity_and_check() {
    let r = run(
        RunState::Completed,
        "observed for 1m",
        full(CheckStatus::Pass),
    );
    let j = journal(&doc(), &r).expect("ended");
    let back = Journal::parse(&j.to_json()).expect("a journal reads back");
    assert_eq!(back, j);
    assert_eq!(
        (j.status, j.deviated, j.exit_code()),
        (JournalStatus::Completed, false, 0)
    );
    assert_eq!(j.duration, 60.0);
    let before = j.steady_states.before.expect("before");
    assert_eq!(before.steady_state_met, Some(true));
    assert_eq!(before.probes.len(), 1);
    assert_eq!(before.probes[0].tolerance_met, Some(true));
    assert!(
        (before.probes[0].duration - 0.12).abs() < 1e-9,
        "{}",
        before.probes[0].duration
    );
    let evidence = before.probes[0].output["evidence"]
        .as_str()
        .expect("evidence");
    assert!(
        evidence.len() <= CHECK_EVIDENCE_BYTES + '…'.len_utf8(),
        "cut to fit the event"
    );
    assert!(j.steady_states.after.is_some() && j.steady_states.during.is_empty());
    assert_eq!(j.run.len(), 2);
    assert_eq!(j.rollbacks.len(), 2);
    assert!(
        j.run
            .iter()
            .all(|a| a.status == Some(RunStatus::Succeeded) && a.duration == 1.0)
    );
    assert_eq!(j.rollbacks[0].activity["name"], "app-1: recover");
    assert_eq!(j.experiment["title"], "checkout switch");
    assert_eq!(j.experiment["method"][0]["name"], "fault.http.switch");
    assert_eq!(
        j.experiment["steady-state-hypothesis"]["probes"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn an_attempt_nothing_ended_has_no_status_and_a_failed_one_its_evidence() {
    let events = vec![
        event(2, Some("app-1"), "inject", ""),
        event(
            3,
            Some("app-1"),
            "inject failed",
            "fault.http.switch: fail: 500",
        ),
        event(4, Some("app-2"), "recover", ""),
    ];
    let r = run(
        RunState::Failed,
        "the injection failed on app-1: 500",
        events,
    );
    let j = journal(&doc(), &r).expect("ended");
    assert_eq!(j.status, JournalStatus::Aborted);
    assert_eq!(j.run.len(), 1);
    assert_eq!(j.run[0].status, Some(RunStatus::Failed));
    assert_eq!(
        j.run[0].exception.as_deref(),
        Some(&["fault.http.switch: fail: 500".to_string()][..])
    );
    assert_eq!(j.rollbacks.len(), 1);
    assert_eq!(
        j.rollbacks[0].status, None,
        "interrupted: no status, as chaos writes one"
    );
    assert!(j.steady_states.before.is_none());
}
