//! A run's report. Ending a run is pure: counts by level, the score, what changed since the
//! previous run, which risk events open or clear, and the notification each channel gets.
//! [`assemble`] reads a finished or running run's whole report back.

use crate::store::DbConn;
use crate::store::StoreError;
use crate::store::inspection::risks::{Raise, rule_key};
use crate::store::inspection::rules;
use crate::store::inspection::runs::{self, Ending, FindingRow, Previous};
use shared::check::CheckStatus;
use shared::inspection::{Change, Level, NotifyRule, NotifyWhen, Report, RunState, RunSummary};
use shared::notify::Message;
use std::collections::HashMap;

/// Summarises `findings`; `previous` holds (rule, target, status) of the task's last finished run.
pub fn ending(
    state: RunState,
    detail: Option<String>,
    findings: &[FindingRow],
    previous: Option<Previous>,
) -> Ending {
    let mut summary = RunSummary::default();
    let (mut passed, mut failed, mut errors) = (0, 0, 0);
    let (prev_id, prev_rows) = previous.map_or((None, Vec::new()), |(id, rows)| (Some(id), rows));
    let before: HashMap<(i64, &str), bool> = prev_rows
        .iter()
        .map(|(r, t, s)| ((*r, t.as_str()), s != "pass"))
        .collect();
    let mut changes = Vec::new();
    for f in findings {
        let status = f.status();
        let counts = summary.level_mut(f.level());
        counts.total += 1;
        match status {
            CheckStatus::Pass => {
                counts.passed += 1;
                passed += 1;
            }
            CheckStatus::Fail => {
                counts.failed += 1;
                failed += 1;
            }
            CheckStatus::Error => {
                counts.errors += 1;
                errors += 1;
            }
        }
        if prev_id.is_none() {
            continue;
        }
        let was_failing = before.get(&(f.rule_id, f.target.as_str())).copied();
        let change = match (status, was_failing) {
            (CheckStatus::Pass, Some(true)) => Some(Change::Fixed),
            (CheckStatus::Pass, _) => None,
            (_, Some(true)) => Some(Change::StillFailing),
            (_, _) => Some(Change::New),
        };
        if let Some(c) = change {
            match c {
                Change::New => summary.new += 1,
                Change::Fixed => summary.fixed += 1,
                Change::StillFailing => summary.still_failing += 1,
            }
            changes.push((f.seq, c));
        }
    }
    Ending {
        state,
        detail,
        summary,
        passed,
        failed,
        errors,
        previous_run_id: prev_id,
        changes,
    }
}

/// Risk events this run opens (failed high-level findings) and the keys it clears (passes).
/// Errors do neither: nobody could tell either way.
pub fn risks(
    task_id: i64,
    run_id: i64,
    task_name: &str,
    findings: &[FindingRow],
) -> (Vec<Raise>, Vec<String>) {
    let mut raise = Vec::new();
    let mut clear = Vec::new();
    for f in findings {
        match f.status() {
            CheckStatus::Fail if f.level() == Level::High => raise.push(Raise {
                key: rule_key(f.rule_id, &f.target),
                source: "inspection",
                level: Level::High,
                title: if f.target.is_empty() {
                    format!("{} failed", f.rule_name)
                } else {
                    format!("{} failed on {}", f.rule_name, f.target)
                },
                detail: format!("task {task_name}: {}", shared::check::excerpt(&f.evidence)),
                rule_id: Some(f.rule_id),
                target: Some(f.target.clone()),
                monitor_id: None,
                task_id: Some(task_id),
                run_id: Some(run_id),
            }),
            CheckStatus::Pass => clear.push(rule_key(f.rule_id, &f.target)),
            _ => {}
        }
    }
    (raise, clear)
}

/// Whether `rule` wants a message about this run.
pub fn wants(rule: &NotifyRule, findings: &[FindingRow]) -> bool {
    match rule.when {
        NotifyWhen::Always => true,
        NotifyWhen::Failures => findings
            .iter()
            .any(|f| f.status() != CheckStatus::Pass && f.level().at_least(rule.min_level)),
    }
}

/// The message about a run: a short text for chat robots and email, and the full event (with
/// the failing findings at or above the channel's level) for generic webhooks.
pub fn message(
    run_id: i64,
    task_name: &str,
    e: &Ending,
    findings: &[FindingRow],
    min_level: Level,
    link: Option<String>,
) -> Message {
    let score = e
        .summary
        .score()
        .map_or("-".to_string(), |s| format!("{s:.1}"));
    let worst = findings
        .iter()
        .filter(|f| f.status() != CheckStatus::Pass)
        .map(|f| f.level())
        .min();
    let title = format!(
        "[HAS] Inspection {task_name}: {} failed, {} errors (score {score})",
        e.failed, e.errors
    );
    let relevant: Vec<&FindingRow> = findings
        .iter()
        .filter(|f| f.status() != CheckStatus::Pass && f.level().at_least(min_level))
        .collect();
    let mut text = format!(
        "Run {run_id} of {task_name} ended {}: {} passed, {} failed, {} errors; \
         {} new, {} fixed, {} still failing.\n",
        e.state.as_str(),
        e.passed,
        e.failed,
        e.errors,
        e.summary.new,
        e.summary.fixed,
        e.summary.still_failing
    );
    for f in relevant.iter().take(20) {
        text.push_str(&format!(
            "- [{}] {} {} {}: {}\n",
            f.level().as_str(),
            f.rule_name,
            f.target,
            f.status,
            first_line(&f.evidence)
        ));
    }
    if relevant.len() > 20 {
        text.push_str(&format!("… and {} more\n", relevant.len() - 20));
    }
    if let Some(l) = &link {
        text.push_str(l);
    }
    let payload = serde_json::json!({
        "event": "inspection.run.finished",
        "run_id": run_id,
        "task": task_name,
        "state": e.state.as_str(),
        "score": e.summary.score(),
        "summary": e.summary,
        "passed": e.passed,
        "failed": e.failed,
        "errors": e.errors,
        "findings": relevant.iter().take(200).map(|f| serde_json::json!({
            "rule": f.rule_name,
            "rule_version": f.rule_version,
            "target": f.target,
            "level": f.level,
            "status": f.status,
            "value": f.value,
            "evidence": f.evidence,
        })).collect::<Vec<_>>(),
        "link": link,
    });
    Message {
        title,
        text,
        level: worst.map(|l| l.as_str().to_string()),
        link,
        payload,
    }
}

fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(160) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// The whole report of run `id`: the run, every finding, each rule as it was when the run
/// used it, and what the previous run found that this one did not. The API and the console
/// both show it.
pub fn assemble(conn: &mut DbConn, id: i64) -> Result<Report, StoreError> {
    let run = runs::row(conn, id)?;
    let findings = runs::findings(conn, id)?;
    let mut pairs: Vec<(i64, i32)> = findings
        .iter()
        .map(|f| (f.rule_id, f.rule_version))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut gone = Vec::new();
    if let (Some(prev), RunState::Completed | RunState::TimedOut) =
        (run.previous_run_id, run.state())
    {
        let now: std::collections::HashSet<(i64, &str)> = findings
            .iter()
            .map(|f| (f.rule_id, f.target.as_str()))
            .collect();
        for (rule_id, rule_name, target) in runs::keys(conn, prev)? {
            if !now.contains(&(rule_id, target.as_str())) {
                gone.push(if target.is_empty() {
                    rule_name
                } else {
                    format!("{rule_name} on {target}")
                });
            }
        }
    }
    Ok(Report {
        run: run.to_api()?,
        rules: rules::versions_of(conn, &pairs)?,
        findings: findings.iter().map(FindingRow::to_api).collect(),
        gone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(seq: i32, rule: i64, target: &str, level: &str, status: &str) -> FindingRow {
        FindingRow {
            seq,
            rule_id: rule,
            rule_version: 1,
            rule_name: format!("r{rule}"),
            target: target.into(),
            level: level.into(),
            status: status.into(),
            value: None,
            evidence: "why".into(),
            subject: "s".into(),
            duration_ms: 1,
            change_kind: None,
            checked_at: 0,
        }
    }

    #[test]
    fn changes_compare_with_the_previous_run() {
        let now = vec![
            finding(0, 1, "a", "high", "fail"),
            finding(1, 1, "b", "high", "pass"),
            finding(2, 2, "a", "low", "error"),
            finding(3, 2, "b", "low", "pass"),
        ];
        let prev = vec![
            (1, "a".to_string(), "fail".to_string()),
            (1, "b".to_string(), "fail".to_string()),
            (2, "a".to_string(), "pass".to_string()),
        ];
        let e = ending(RunState::Completed, None, &now, Some((7, prev)));
        assert_eq!(
            e.changes,
            vec![
                (0, Change::StillFailing),
                (1, Change::Fixed),
                (2, Change::New)
            ]
        );
        assert_eq!((e.passed, e.failed, e.errors), (2, 1, 1));
        assert_eq!(e.summary.high.failed, 1);
        assert_eq!(e.previous_run_id, Some(7));
        let first = ending(RunState::Completed, None, &now, None);
        assert!(first.changes.is_empty());
        let (raise, clear) = risks(1, 2, "t", &now);
        assert_eq!(raise.len(), 1);
        assert_eq!(clear, vec![rule_key(1, "b"), rule_key(2, "b")]);
    }

    #[test]
    fn notify_rules_respect_level_and_when() {
        let f = vec![finding(0, 1, "a", "medium", "fail")];
        let rule = |min_level, when| NotifyRule {
            channel: "c".into(),
            min_level,
            when,
        };
        assert!(!wants(&rule(Level::High, NotifyWhen::Failures), &f));
        assert!(wants(&rule(Level::Medium, NotifyWhen::Failures), &f));
        assert!(wants(&rule(Level::High, NotifyWhen::Always), &f));
    }
}
