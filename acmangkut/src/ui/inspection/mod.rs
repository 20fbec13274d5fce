//! The inspection center (巡检中心) in the console: the overview, risk events, tasks and their
//! runs, run reports (with a printable view), the catalog (rules, plugins, channels) and config
//! as code. Definitions are written by forms ([`forms`]), by YAML (`/inspection/config`) or
//! through the API, all three through the same engine functions.
//!
//! - [`overview`]: `/inspection`, tasks, the score chart, open risk events by level.
//! - [`risks`]: `/inspection/risks`, filters, acknowledge and resolve.
//! - [`tasks`]: `/inspection/tasks/{id}`, its definition and runs; run now.
//! - [`report`]: `/inspection/runs/{id}` and its printable view.
//! - [`catalog`]: rules, a rule's versions, plugins, channels.
//! - [`config`]: the exported YAML, and applying a pasted document.
//! - [`forms`]: create, edit and delete plugins, rules, tasks and channels.

pub mod catalog;
pub mod chart;
pub mod config;
pub mod forms;
pub mod overview;
pub mod report;
pub mod risks;
pub mod tasks;

use super::Ui;
use super::UiError;
use super::i18n::Tr;
use crate::iam::perm;
use crate::state::Authorized;
use shared::ApiError;
use shared::check::CheckStatus;
use shared::inspection::{Change, Level, RiskState, RunState};

/// Reading pages need `inspections:read`; running a task and acting on risk events
/// `inspections:run`; applying config `inspections:write`.
pub type Read = Authorized<perm::InspectionsRead>;
pub type Write = Authorized<perm::InspectionsWrite>;
pub type Run = Authorized<perm::InspectionsRun>;

/// An id from the path; anything that is not one is a (friendly) 404.
pub fn id_of(ui: &Ui, raw: &str, what: &str) -> Result<i64, UiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ui.fail(ApiError::not_found(format!("no such {what}"))))
}

/// The catalog's words for the inspection enums, looked up once per page (a report has a
/// thousand rows; each looks its labels up here, not in the catalog).
#[derive(Debug, Clone, Copy)]
pub struct Words {
    levels: [&'static str; 3],
    statuses: [&'static str; 3],
    changes: [&'static str; 3],
    run_states: [&'static str; 5],
    risk_states: [&'static str; 3],
}

pub const LEVEL_KEYS: [&str; 3] = ["insp.level.high", "insp.level.medium", "insp.level.low"];
pub const STATUS_KEYS: [&str; 3] = ["insp.status.pass", "insp.status.fail", "insp.status.error"];
pub const CHANGE_KEYS: [&str; 3] = [
    "insp.change.new",
    "insp.change.fixed",
    "insp.change.still_failing",
];
pub const RUN_STATE_KEYS: [&str; 5] = [
    "insp.run.queued",
    "insp.run.running",
    "insp.run.completed",
    "insp.run.timed_out",
    "insp.run.interrupted",
];
pub const RISK_STATE_KEYS: [&str; 3] = [
    "insp.risk.open",
    "insp.risk.acknowledged",
    "insp.risk.resolved",
];

fn level_index(l: Level) -> usize {
    match l {
        Level::High => 0,
        Level::Medium => 1,
        Level::Low => 2,
    }
}

fn status_index(s: CheckStatus) -> usize {
    match s {
        CheckStatus::Pass => 0,
        CheckStatus::Fail => 1,
        CheckStatus::Error => 2,
    }
}

fn change_index(c: Change) -> usize {
    match c {
        Change::New => 0,
        Change::Fixed => 1,
        Change::StillFailing => 2,
    }
}

fn run_state_index(s: RunState) -> usize {
    match s {
        RunState::Queued => 0,
        RunState::Running => 1,
        RunState::Completed => 2,
        RunState::TimedOut => 3,
        RunState::Interrupted => 4,
    }
}

fn risk_state_index(s: RiskState) -> usize {
    match s {
        RiskState::Open => 0,
        RiskState::Acknowledged => 1,
        RiskState::Resolved => 2,
    }
}

impl Words {
    pub fn new(t: Tr) -> Self {
        Self {
            levels: LEVEL_KEYS.map(|k| t.get(k)),
            statuses: STATUS_KEYS.map(|k| t.get(k)),
            changes: CHANGE_KEYS.map(|k| t.get(k)),
            run_states: RUN_STATE_KEYS.map(|k| t.get(k)),
            risk_states: RISK_STATE_KEYS.map(|k| t.get(k)),
        }
    }

    pub fn level(&self, l: Level) -> &'static str {
        self.levels[level_index(l)]
    }

    pub fn status(&self, s: CheckStatus) -> &'static str {
        self.statuses[status_index(s)]
    }

    pub fn change(&self, c: Change) -> &'static str {
        self.changes[change_index(c)]
    }

    pub fn run_state(&self, s: RunState) -> &'static str {
        self.run_states[run_state_index(s)]
    }

    pub fn risk_state(&self, s: RiskState) -> &'static str {
        self.risk_states[risk_state_index(s)]
    }
}

/// A run's state as a badge: CSS class and label.
pub fn run_badge(w: &Words, s: RunState) -> (&'static str, &'static str) {
    let class = match s {
        RunState::Queued => "s-pending",
        RunState::Running => "s-running",
        RunState::Completed => "s-up",
        RunState::TimedOut => "s-down",
        RunState::Interrupted => "s-paused",
    };
    (class, w.run_state(s))
}

/// `87.5`, or `–` for a run without checks (or not finished).
pub fn score_text(score: Option<f64>) -> String {
    score.map_or_else(|| "–".into(), |s| format!("{s:.1}"))
}

/// How a score reads: good from 90, a warning from 70, bad below; grey without one.
pub fn score_class(score: Option<f64>) -> &'static str {
    match score {
        None => "a-none",
        Some(s) if s >= 90.0 => "a-good",
        Some(s) if s >= 70.0 => "a-warn",
        Some(_) => "a-bad",
    }
}

/// The first `n` characters of `s`, with `…` when cut.
pub fn shorten(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

/// `a=b, c=d` for labels and template variables.
pub fn pairs_text<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    map.into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::{Lang, assert_in_every_catalog};

    #[test]
    fn every_label_the_pages_look_up_by_value_is_in_both_catalogs() {
        let keys = LEVEL_KEYS
            .iter()
            .chain(&STATUS_KEYS)
            .chain(&CHANGE_KEYS)
            .chain(&RUN_STATE_KEYS)
            .chain(&RISK_STATE_KEYS)
            .chain(&risks::DYNAMIC_KEYS)
            .chain(&config::DYNAMIC_KEYS);
        assert_in_every_catalog(keys);
    }

    #[test]
    fn words_follow_the_enum_they_name() {
        let w = Words::new(Tr(Lang::En));
        assert_eq!(w.level(Level::Medium), "Medium");
        assert_eq!(w.status(CheckStatus::Error), "Error");
        assert_eq!(w.change(Change::StillFailing), "Still failing");
        assert_eq!(w.run_state(RunState::TimedOut), "Timed out");
        assert_eq!(w.risk_state(RiskState::Acknowledged), "Acknowledged");
        let zh = Words::new(Tr(Lang::ZhCn));
        assert_eq!(zh.level(Level::High), "高");
    }

    #[test]
    fn scores_read_as_one_decimal_with_a_class() {
        assert_eq!(score_text(Some(87.25)), "87.2");
        assert_eq!(score_text(Some(100.0)), "100.0");
        assert_eq!(score_text(None), "–");
        assert_eq!(score_class(Some(95.0)), "a-good");
        assert_eq!(score_class(Some(70.0)), "a-warn");
        assert_eq!(score_class(Some(12.0)), "a-bad");
        assert_eq!(score_class(None), "a-none");
    }

    #[test]
    fn shorten_cuts_on_characters_not_bytes() {
        assert_eq!(shorten("巡检中心报告", 4), "巡检中心…");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("", 3), "");
    }
}
