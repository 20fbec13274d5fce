//! An ended run as a Chaos Toolkit journal (`GET /api/v1/drill-runs/{id}/journal`), so the
//! tools that read `chaos run`'s journals read HAS's drills too.
//!
//! - `experiment`: the drill as an experiment: its steady-state checks are the hypothesis'
//!   probes, its faults the method's actions, their recoveries the rollbacks (provider type
//!   `has`, which only HAS runs).
//! - `steady_states.before` / `after`: the steady state checked before injecting and after
//!   recovering; `during`: the stop-condition evaluation that failed (passing evaluations are
//!   not kept).
//! - `run` / `rollbacks`: each target's injection and recovery, with times and evidence.
//! - `status` and `deviated` as `chaos run` ends ([`outcome`]).

use serde_json::{Value, json};
use shared::chaostoolkit::{
    Journal, JournalStatus, Run, RunStatus, SteadyState, SteadyStates, Timestamp,
};
use shared::check::CheckStatus;
use shared::drill::{CheckResult, DrillDocument, RunEvent, RunState, RunView};

/// Timeline events holding one check's result (JSON of a [`CheckResult`]) each.
pub const STEADY_STATE_BEFORE: &str = "steady state before";
pub const STEADY_STATE_AFTER: &str = "steady state after";
pub const STOP_CONDITION: &str = "stop condition";

/// A check result's evidence kept in an event: the event's whole evidence has room for the
/// rest of the result.
const CHECK_EVIDENCE_BYTES: usize = 2048;

/// The event evidence of a check result.
pub fn check_event(r: &CheckResult) -> String {
    let mut r = r.clone();
    if r.outcome.evidence.len() > CHECK_EVIDENCE_BYTES {
        let mut cut = CHECK_EVIDENCE_BYTES;
        while !r.outcome.evidence.is_char_boundary(cut) {
            cut -= 1;
        }
        r.outcome.evidence.truncate(cut);
        r.outcome.evidence.push('…');
    }
    serde_json::to_string(&r).unwrap_or_default()
}

/// The journal's `status` and `deviated` for an ended run, as `chaos run` would end:
/// - observed to the end, steady state back: `completed`;
/// - the steady state not holding before injection: `completed` (nothing ran), or `failed`
///   when a check errored rather than failed;
/// - not holding after recovery: `completed`, deviated;
/// - a stop condition failing: `failed`, deviated (chaos's `--fail-fast` on a deviation during
///   the method);
/// - an operator's stop, the safety lever, an interrupted replica, a cancelled run:
///   `interrupted`;
/// - an injection that failed: `aborted` (the method raised).
///
/// `None` while the run has not ended.
pub fn outcome(run: &RunView) -> Option<(JournalStatus, bool)> {
    let s = &run.summary;
    let checks = |what| checks(&run.events, what);
    let before = checks(STEADY_STATE_BEFORE);
    let after = checks(STEADY_STATE_AFTER);
    let failed = |rs: &[(RunEvent, CheckResult)]| {
        rs.iter()
            .any(|(_, r)| r.outcome.status != CheckStatus::Pass)
    };
    let errored = |rs: &[(RunEvent, CheckResult)]| {
        rs.iter()
            .any(|(_, r)| r.outcome.status == CheckStatus::Error)
    };
    Some(match s.state {
        RunState::Completed => (JournalStatus::Completed, false),
        RunState::Stopped if !checks(STOP_CONDITION).is_empty() => (JournalStatus::Failed, true),
        RunState::Stopped | RunState::Cancelled => (JournalStatus::Interrupted, false),
        RunState::Failed if failed(&after) => (JournalStatus::Completed, true),
        RunState::Failed if failed(&before) && errored(&before) => (JournalStatus::Failed, false),
        RunState::Failed if failed(&before) => (JournalStatus::Completed, false),
        RunState::Failed if s.reason.starts_with("interrupted") => {
            (JournalStatus::Interrupted, false)
        }
        RunState::Failed if s.reason.starts_with("the injection failed") => {
            (JournalStatus::Aborted, false)
        }
        RunState::Failed => (JournalStatus::Failed, false),
        RunState::Pending | RunState::Initiating | RunState::Running | RunState::Stopping => {
            return None;
        }
    })
}

/// The journal of ended run `run` of drill version `doc`; `None` while it has not ended.
pub fn journal(doc: &DrillDocument, run: &RunView) -> Option<Journal> {
    let (status, deviated) = outcome(run)?;
    let start = Timestamp::from(run.summary.created_at);
    let end = Timestamp::from(run.summary.ended_at.unwrap_or(run.summary.created_at));
    let steady = |what| {
        let rs = checks(&run.events, what);
        (!rs.is_empty()).then(|| SteadyState {
            steady_state_met: Some(
                rs.iter()
                    .all(|(_, r)| r.outcome.status == CheckStatus::Pass),
            ),
            probes: rs.iter().map(|(e, r)| probe_run(e, r)).collect(),
        })
    };
    Some(Journal {
        chaoslib_version: format!("has-{}", env!("CARGO_PKG_VERSION")),
        platform: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        node: "acmangkut".into(),
        experiment: experiment(doc),
        start,
        status,
        deviated,
        steady_states: SteadyStates {
            before: steady(STEADY_STATE_BEFORE),
            after: steady(STEADY_STATE_AFTER),
            during: steady(STOP_CONDITION).into_iter().collect(),
        },
        run: activities(run, ("inject", "injected", "inject failed")),
        rollbacks: activities(run, ("recover", "recovered", "recover failed")),
        end,
        duration: seconds(start, end),
    })
}

fn seconds(from: Timestamp, to: Timestamp) -> f64 {
    let micros = (to.0 - from.0).num_microseconds().unwrap_or(0).max(0);
    // Journals keep seconds as a float; a run's microseconds fit f64's 53 bits.
    #[allow(clippy::cast_precision_loss)]
    let s = micros as f64 / 1e6;
    s
}

/// The check results recorded as `what` events, oldest first.
fn checks(events: &[RunEvent], what: &str) -> Vec<(RunEvent, CheckResult)> {
    events
        .iter()
        .filter(|e| e.what == what)
        .filter_map(|e| Some((e.clone(), serde_json::from_str(&e.evidence).ok()?)))
        .collect()
}

fn probe(subject: &str) -> Value {
    json!({"type": "probe", "name": subject, "tolerance": true,
           "provider": {"type": "has", "check": subject}})
}

/// A check as a hypothesis probe's run: its output the check's status, value and evidence;
/// met when it passed; an errored check failed to run (no verdict).
fn probe_run(e: &RunEvent, r: &CheckResult) -> Run {
    let end = Timestamp::from(e.at);
    let took = chrono::Duration::milliseconds(i64::try_from(r.outcome.duration_ms).unwrap_or(0));
    let start = Timestamp::from(e.at - took);
    let errored = r.outcome.status == CheckStatus::Error;
    Run {
        activity: probe(&r.subject),
        output: json!({"status": r.outcome.status.as_str(), "value": r.outcome.value,
                       "evidence": r.outcome.evidence}),
        start,
        status: Some(if errored {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        }),
        exception: errored.then(|| vec![r.outcome.evidence.clone()]),
        end,
        duration: seconds(start, end),
        tolerance_met: (!errored).then_some(r.outcome.status == CheckStatus::Pass),
    }
}

/// Each target's attempts `(began, done, failed)` as journal activities: from the attempt's
/// event to the event that ended it; an attempt nothing ended (the run was interrupted) has
/// no status, as chaos writes an interrupted activity.
fn activities(run: &RunView, (began, done, failed): (&str, &str, &str)) -> Vec<Run> {
    let mut out = Vec::new();
    let mut open: Vec<(String, Timestamp)> = Vec::new();
    let name = |target: &str| format!("{target}: {began}");
    for e in &run.events {
        let Some(target) = e.target.as_deref() else {
            continue;
        };
        let at = Timestamp::from(e.at);
        if e.what == began {
            open.push((target.to_string(), at));
            continue;
        }
        let status = match e.what.as_str() {
            w if w == done => RunStatus::Succeeded,
            w if w == failed => RunStatus::Failed,
            _ => continue,
        };
        let Some(i) = open.iter().position(|(t, _)| t == target) else {
            continue;
        };
        let (_, start) = open.remove(i);
        out.push(Run {
            activity: action(&name(target), target),
            output: json!(e.evidence),
            start,
            status: Some(status),
            exception: (status == RunStatus::Failed).then(|| vec![e.evidence.clone()]),
            end: at,
            duration: seconds(start, at),
            tolerance_met: None,
        });
    }
    out.extend(open.into_iter().map(|(target, start)| Run {
        activity: action(&name(&target), &target),
        output: Value::Null,
        start,
        status: None,
        exception: None,
        end: start,
        duration: 0.0,
        tolerance_met: None,
    }));
    out
}

fn action(name: &str, target: &str) -> Value {
    json!({"type": "action", "name": name, "provider": {"type": "has", "target": target}})
}

/// The drill as an experiment, for the journal's `experiment`.
fn experiment(doc: &DrillDocument) -> Value {
    let faults: Vec<Value> = doc
        .faults
        .iter()
        .map(|f| {
            json!({"type": "action", "name": f.operation,
                   "provider": {"type": "has", "operation": f.operation,
                                "parameters": f.parameters,
                                "max_duration": f.max_duration}})
        })
        .collect();
    let rollbacks: Vec<Value> = doc
        .faults
        .iter()
        .rev()
        .map(|f| {
            json!({"type": "action", "name": format!("recover {}", f.operation),
                   "provider": {"type": "has", "operation": f.operation, "undo": true}})
        })
        .collect();
    let probes: Vec<Value> = doc
        .steady_state
        .iter()
        .map(|c| probe(&c.subject()))
        .collect();
    let mut method = faults;
    method.push(json!({"type": "action", "name": "observe",
                       "provider": {"type": "has", "observe": doc.observe},
                       "pauses": {"after": doc.observe.as_millis() / 1000}}));
    json!({
        "title": doc.name,
        "description": doc.description,
        "tags": ["has-drill"],
        "steady-state-hypothesis": {"title": "steady state", "probes": probes},
        "method": method,
        "rollbacks": rollbacks,
        "dry": null,
    })
}

#[cfg(test)]
mod tests;
