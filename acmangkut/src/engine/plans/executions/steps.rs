//! One step, run by the replica holding its execution's lease. Each begins by reading what its
//! earlier attempts left in `action_runs` (this replica's, or a dead one's), so a step resumed
//! after a takeover continues its round of attempts rather than starting it again.

use super::{Driver, subject};
use crate::engine::Error;
use crate::engine::executor::{Interrupted, after_crash};
use crate::store::actions::{self, ActionRun};
use crate::store::now_ms;
use crate::store::plans::executions::{self as store, By, Event, StepChange, StepRow};
use shared::action::Action;
use shared::check::{Check, CheckOutcome, CheckStatus};
use shared::execution::{ResolvedStep, StepKind, StepState};
use std::collections::BTreeMap;
use std::time::Duration;

/// The `value` of an attempt closed because its replica died: not counted as a try.
const INTERRUPTED: &str = "interrupted";
/// Back-off never grows past this.
const MAX_BACKOFF_MS: u64 = 600_000;

const RUNNING: &[StepState] = &[StepState::Running];
const UNDOING: &[StepState] = &[StepState::RollingBack];

impl Driver {
    /// Runs a step that is `running` to its end (succeeded, failed, outcome unknown);
    /// `fresh`: its round of attempts was begun just now, by this replica, so it has none yet.
    pub(super) async fn run_step(
        &self,
        (id, plan): (i64, &str),
        step: &ResolvedStep,
        row: &StepRow,
        vars: &BTreeMap<String, String>,
        fresh: bool,
    ) -> Result<(), Error> {
        match &step.kind {
            StepKind::Action { run, .. } => {
                let work = Work::Action(run);
                self.attempts(id, step, row, work, vars, (false, fresh))
                    .await
            }
            StepKind::Notify { channels, message } => {
                let work = Work::Notify(plan, channels, message);
                self.attempts(id, step, row, work, vars, (false, fresh))
                    .await
            }
            StepKind::Wait { ms } => {
                let ms = i64::try_from(*ms).unwrap_or(i64::MAX);
                let until = row.started_at.unwrap_or_else(now_ms).saturating_add(ms);
                let left = u64::try_from(until - now_ms()).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(left)).await;
                let done = (StepState::Succeeded, None);
                self.end_step((id, &step.id), RUNNING, done, "step.succeeded")
                    .await
                    .map(drop)
            }
            StepKind::Check {
                check,
                retry_interval_ms,
            } => self.gate(id, step, row, check, *retry_interval_ms).await,
            // Approvals wait for a person (`operate::approve`), never for a task.
            StepKind::Approval { .. } => Ok(()),
        }
    }

    /// Runs the undo of a step that is `rolling_back` to its end (`fresh` as for
    /// [`Driver::run_step`]).
    pub(super) async fn undo_step(
        &self,
        id: i64,
        step: &ResolvedStep,
        row: &StepRow,
        vars: &BTreeMap<String, String>,
        fresh: bool,
    ) -> Result<(), Error> {
        match step.undo() {
            Some(undo) => {
                let work = Work::Action(undo);
                self.attempts(id, step, row, work, vars, (true, fresh))
                    .await
            }
            None => {
                let done = (StepState::RolledBack, None);
                self.end_step((id, &step.id), UNDOING, done, "undo.succeeded")
                    .await
                    .map(drop)
            }
        }
    }

    /// The attempts of an action (a step's `do`, or its `undo`) or of a notify step in the
    /// current round: the first, then up to `retries` more after a back-off that doubles each
    /// time. Each attempt is two commits: its intent before, and after it its outcome with its
    /// count and, when it settles the step, the step's end.
    async fn attempts(
        &self,
        id: i64,
        step: &ResolvedStep,
        row: &StepRow,
        work: Work<'_>,
        vars: &BTreeMap<String, String>,
        (undo, fresh): (bool, bool),
    ) -> Result<(), Error> {
        let subject = subject(id, &step.id, undo);
        // (states it moves from, its success, the events of success, failure, unknown)
        let (from, done, [ok, failed, unknown], what) = match undo {
            false => (
                RUNNING,
                StepState::Succeeded,
                ["step.succeeded", "step.failed", "step.outcome_unknown"],
                "step",
            ),
            true => (
                UNDOING,
                StepState::RolledBack,
                ["undo.succeeded", "undo.failed", "undo.outcome_unknown"],
                "undo",
            ),
        };
        let action = match work {
            Work::Action(a) => Some(with_timeout(a, step.timeout_ms.min(a.timeout_ms()))),
            Work::Notify(..) => None,
        };
        // The action's own time and the back-off, which the overhead metric leaves out.
        let mut acting_ms: u64 = 0;
        // The attempts of the round so far, when known without reading them: none yet in a
        // round begun just now.
        let mut known: Option<Vec<ActionRun>> = fresh.then(Vec::new);
        loop {
            let runs = match known.take() {
                Some(runs) => runs,
                None => self.round(&subject, row.round_start).await?,
            };
            if let Some(last) = runs.last() {
                if last.finished_at.is_none() {
                    match after_crash(last) {
                        Interrupted::Rerun => {
                            self.close_interrupted(last.id).await?;
                            continue;
                        }
                        Interrupted::Ask => {
                            let why = format!(
                                "attempt {} was interrupted before its outcome was recorded \
                                 and is not idempotent: retry or skip",
                                last.attempt
                            );
                            let end = (StepState::OutcomeUnknown, Some(why));
                            self.end_step((id, &step.id), from, end, unknown).await?;
                            return Ok(());
                        }
                    }
                }
                if last.status.as_deref() == Some(CheckStatus::Pass.as_str()) {
                    let end = (done, None);
                    self.end_step((id, &step.id), from, end, ok).await?;
                    self.overhead(row, undo, acting_ms);
                    return Ok(());
                }
            }
            let tries = runs
                .iter()
                .filter(|r| r.value.as_deref() != Some(INTERRUPTED))
                .count();
            if tries > step.retries as usize {
                let error = runs.last().and_then(|r| r.evidence.clone());
                let end = (StepState::Failed, error);
                self.end_step((id, &step.id), from, end, failed).await?;
                self.overhead(row, undo, acting_ms);
                return Ok(());
            }
            if tries > 0 {
                let wait = backoff(step.backoff_ms, tries);
                acting_ms += u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                tokio::time::sleep(wait).await;
            }
            let (run, outcome) = match (&action, work) {
                (Some(action), _) => {
                    self.executor
                        .run_intended(&self.store, (&subject, &self.owner), action, vars)
                        .await?
                }
                (None, Work::Notify(plan, channels, message)) => {
                    let to = (plan, &channels[..], message.as_str());
                    self.send_once((id, &subject), step, to).await?
                }
                (None, Work::Action(_)) => return Ok(()),
            };
            tracing::info!(
                attempt = run.attempt,
                status = outcome.status.as_str(),
                duration_ms = outcome.duration_ms,
                "{what} attempt recorded"
            );
            acting_ms = acting_ms.saturating_add(outcome.duration_ms);
            // What the loop would read back next: a pass ends the step, and so does a failure
            // that leaves no try (an attempt counts unless it is an interrupted one).
            let counts = outcome.value.as_deref() != Some(INTERRUPTED);
            let end = match outcome.status {
                CheckStatus::Pass => Some(((done, None), ok)),
                _ if tries + usize::from(counts) > step.retries as usize => {
                    let error = Some(outcome.evidence.clone());
                    Some(((StepState::Failed, error), failed))
                }
                _ => None,
            };
            let settles = end.is_some();
            self.settle((id, &step.id), (&run, &outcome), from, end)
                .await?;
            if settles {
                self.overhead(row, undo, acting_ms);
                return Ok(());
            }
        }
    }

    /// Commits an attempt's outcome and count and, with `end`, the step's end as
    /// [`Driver::end_step`] does, in one transaction (`store::settle_attempt`).
    async fn settle(
        &self,
        (id, step): (i64, &str),
        (run, outcome): (&ActionRun, &CheckOutcome),
        from: &'static [StepState],
        end: Option<((StepState, Option<String>), &'static str)>,
    ) -> Result<(), Error> {
        let (owner, step, outcome) = (self.owner.clone(), step.to_string(), outcome.clone());
        let (run, attempt) = (run.id, run.attempt);
        self.store
            .run(move |c| {
                let end = end.as_ref().map(|((to, error), what)| {
                    let change = StepChange {
                        error: error.as_deref(),
                        ..StepChange::end(*to)
                    };
                    (
                        By::Lease(&owner),
                        from,
                        change,
                        Event::new(what).step(&step),
                    )
                });
                store::settle_attempt(c, (id, &step), (run, attempt, &outcome), end)
            })
            .await?;
        Ok(())
    }

    /// Observes `has_plan_step_overhead_seconds` for a forward step just ended: from its
    /// dispatch (`started_at`) to now, its outcome committed, less `acting_ms`.
    fn overhead(&self, row: &StepRow, undo: bool, acting_ms: u64) {
        let Some(started) = row.started_at.filter(|_| !undo) else {
            return;
        };
        let total = u64::try_from(now_ms().saturating_sub(started)).unwrap_or(0);
        let own = total.saturating_sub(acting_ms) as f64 / 1000.0;
        self.metrics.plan_step_overhead.observe(own);
    }

    /// A check gate: tried every `interval_ms` until it passes or the step's timeout passes.
    /// Checks only read, so an attempt a crash interrupted is simply tried again.
    async fn gate(
        &self,
        id: i64,
        step: &ResolvedStep,
        row: &StepRow,
        check: &Check,
        interval_ms: u64,
    ) -> Result<(), Error> {
        let subject = subject(id, &step.id, false);
        let timeout = i64::try_from(step.timeout_ms).unwrap_or(i64::MAX);
        let deadline = row
            .started_at
            .unwrap_or_else(now_ms)
            .saturating_add(timeout);
        for run in self.round(&subject, row.round_start).await? {
            if run.finished_at.is_none() {
                self.close_interrupted(run.id).await?;
            }
        }
        loop {
            let (s, summary, owner) = (subject.clone(), check.subject(), self.owner.clone());
            let intent = self
                .store
                .run(move |c| actions::intend(c, &s, &summary, true, &owner))
                .await?;
            let outcome = self.checker.evaluate(check).await;
            let recorded = outcome.clone();
            self.store
                .run(move |c| actions::record(c, intent.id, &recorded))
                .await?;
            self.count(id, &step.id, intent.attempt).await?;
            if outcome.status == CheckStatus::Pass {
                let end = (StepState::Succeeded, None);
                self.end_step((id, &step.id), RUNNING, end, "step.succeeded")
                    .await?;
                return Ok(());
            }
            let interval = i64::try_from(interval_ms).unwrap_or(i64::MAX);
            if now_ms().saturating_add(interval) >= deadline {
                let end = (StepState::Failed, Some(outcome.evidence));
                self.end_step((id, &step.id), RUNNING, end, "step.failed")
                    .await?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(interval_ms)).await;
        }
    }

    /// The attempts of `subject` after the first `round_start`, oldest first.
    async fn round(&self, subject: &str, round_start: i32) -> Result<Vec<ActionRun>, Error> {
        let s = subject.to_string();
        let runs = self.store.run(move |c| actions::attempts(c, &s)).await?;
        Ok(runs
            .into_iter()
            .filter(|r| r.attempt > round_start)
            .collect())
    }

    /// Gives an attempt its replica never finished an outcome, so it is neither counted as a
    /// try nor seen as interrupted again.
    async fn close_interrupted(&self, run: i64) -> Result<(), Error> {
        let outcome = CheckOutcome {
            value: Some(INTERRUPTED.into()),
            ..CheckOutcome::error("interrupted: the replica running it stopped; run again", 0)
        };
        self.store
            .run(move |c| actions::record(c, run, &outcome))
            .await?;
        tracing::warn!(
            action_run = run,
            "an interrupted idempotent attempt runs again"
        );
        Ok(())
    }

    async fn count(&self, id: i64, step: &str, attempts: i32) -> Result<(), Error> {
        let step = step.to_string();
        Ok(self
            .store
            .run(move |c| store::count_attempts(c, id, &step, attempts))
            .await?)
    }
}

/// What a round of attempts runs.
#[derive(Clone, Copy)]
enum Work<'a> {
    Action(&'a Action),
    /// The plan's name, the channels, the message.
    Notify(&'a str, &'a Vec<String>, &'a String),
}

/// `action` bounded by the step's timeout: the executor enforces it, so the outcome of an
/// attempt that takes too long is still recorded.
fn with_timeout(action: &Action, ms: u64) -> Action {
    let mut action = action.clone();
    match &mut action {
        Action::Http(h) => h.timeout_ms = ms,
        Action::Command(c) | Action::Ssh(c) => c.timeout_ms = ms,
    }
    action
}

/// `base` before the first retry, doubled before each one after.
fn backoff(base_ms: u64, tries: usize) -> Duration {
    let doublings = u32::try_from(tries.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    Duration::from_millis(base_ms.saturating_mul(1 << doublings).min(MAX_BACKOFF_MS))
}
