//! The inspection engine. Every replica runs one; all state is in the database:
//!
//! 1. due tasks are queued as runs (one per task and slot, under a row lock);
//! 2. queued runs are claimed with a lease, planned (rules at their current versions), and
//!    their checks evaluated, findings written in batches as they complete;
//! 3. a run's end (summary, changes, risk events, notifications) commits in one transaction;
//! 4. runs whose replica stopped renewing their lease are ended as `interrupted`;
//! 5. the notification outbox is drained with retries; monitor risk events are reconciled.

pub mod define;
pub mod plan;
pub mod report;
pub mod save;
pub mod schedule;

use super::checks::Checker;
use super::notify::Sender;
use super::{Shutdown, stopped};
use crate::config::InspectionConfig;
use crate::engine::Error;
use crate::metrics::Metrics;
use crate::store::inspection::runs::{self, Ending, Guard, NewFinding};
use crate::store::inspection::{channels, risks, tasks};
use crate::store::leases::{self, Queue};
use crate::store::{DbConn, Store, now_ms};
use futures::StreamExt;
use shared::check::CheckOutcome;
use shared::inspection::RunState;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// Findings are written when this many are pending or this long has passed.
const FLUSH_EVERY: usize = 200;
const FLUSH_AFTER: Duration = Duration::from_millis(500);

pub struct Inspector {
    store: Store,
    checker: Arc<Checker>,
    sender: Sender,
    config: InspectionConfig,
    metrics: Metrics,
    owner: String,
    /// Base URL for links in notifications (`iam.public_url`); empty: no links.
    public_url: String,
    active: Mutex<HashSet<i64>>,
    sending: Arc<tokio::sync::Semaphore>,
}

impl Inspector {
    pub fn new(
        store: Store,
        checker: Arc<Checker>,
        config: InspectionConfig,
        metrics: Metrics,
        owner: String,
        public_url: String,
        sender: Sender,
    ) -> Self {
        Self {
            store,
            checker,
            sender,
            config,
            metrics,
            owner,
            public_url,
            active: Mutex::new(HashSet::new()),
            sending: Arc::new(tokio::sync::Semaphore::new(8)),
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease_seconds * 1000).unwrap_or(i64::MAX / 4)
    }

    fn active(&self) -> Vec<i64> {
        self.active
            .lock()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Runs until `shutdown` flips. Runs and sends in flight are tasks of this future's
    /// `JoinSet`: a graceful stop aborts them and ends this replica's runs as `interrupted` at
    /// once; an aborted engine (a crash) takes them down with it, and their leases expire.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut work = tokio::task::JoinSet::new();
        tracing::info!(replica = %self.owner, "inspection engine started");
        // A single SQLite replica that starts owns nothing still running, whichever replica
        // name (random by default) started it: end those runs now rather than after their lease.
        let single = self.store.backend() == crate::store::Backend::Sqlite;
        self.reap(single).await;
        let mut tick: u64 = 0;
        loop {
            tokio::select! {
                () = stopped(&mut shutdown) => break,
                () = tokio::time::sleep(Duration::from_millis(self.config.tick_ms)) => {}
            }
            tick += 1;
            self.schedule().await;
            while work.try_join_next().is_some() {}
            self.start_queued(&mut work).await;
            self.renew().await;
            self.reap(false).await;
            self.deliver(&mut work).await;
            if tick % 5 == 1 {
                self.reconcile_monitors().await;
            }
            if tick % 3600 == 1 {
                self.prune().await;
            }
        }
        work.shutdown().await;
        let stopped_runs = self.active();
        if let Ok(mut a) = self.active.lock() {
            a.clear();
        }
        if !stopped_runs.is_empty() {
            self.end_own(&stopped_runs).await;
        }
        tracing::info!(replica = %self.owner, "inspection engine stopped");
    }

    /// Counts and logs a failure once, with its cause chain.
    fn failed(&self, what: &str, e: impl Into<anyhow::Error>) {
        self.metrics.controllermanager_failure.inc();
        let e = e.into();
        tracing::error!(error = format!("{e:#}"), "inspection engine: {what} failed");
    }

    async fn schedule(&self) {
        let r = self
            .store
            .run(|c| tasks::queue_due(c, now_ms(), &schedule::next_slot))
            .await;
        match r {
            Ok(ids) if !ids.is_empty() => {
                tracing::info!(runs = ?ids, "scheduled inspection runs queued")
            }
            Ok(_) => {}
            Err(e) => self.failed("queueing due tasks", e),
        }
    }

    /// Ends this replica's runs `ids` as interrupted (it is stopping).
    async fn end_own(&self, ids: &[i64]) {
        let (owner, ids) = (self.owner.clone(), ids.to_vec());
        let r = self
            .store
            .run(move |c| {
                for run in runs::rows(c, &ids)? {
                    let detail = format!("interrupted: replica {owner} stopped");
                    end_run(
                        c,
                        &run,
                        RunState::Interrupted,
                        Some(detail),
                        Guard::Owner(&owner),
                        "",
                    )?;
                }
                Ok::<_, Error>(())
            })
            .await;
        if let Err(e) = r {
            self.failed("ending runs at shutdown", e);
        }
    }

    async fn start_queued(self: &Arc<Self>, work: &mut tokio::task::JoinSet<()>) {
        let room = self
            .config
            .max_concurrent_runs
            .saturating_sub(self.active().len());
        if room == 0 {
            return;
        }
        let (owner, lease) = (self.owner.clone(), self.lease_ms());
        let claimed = self
            .store
            .run(move |c| {
                leases::claim(
                    c,
                    Queue::InspectionRuns,
                    &owner,
                    now_ms(),
                    room as i64,
                    lease,
                )
            })
            .await;
        let ids = match claimed {
            Ok(ids) => ids,
            Err(e) => return self.failed("claiming queued runs", e),
        };
        for id in ids {
            if let Ok(mut a) = self.active.lock() {
                a.insert(id);
            }
            let me = self.clone();
            work.spawn(
                async move {
                    if let Err(e) = me.execute(id).await {
                        me.failed(&format!("run {id}"), e);
                    }
                    if let Ok(mut a) = me.active.lock() {
                        a.remove(&id);
                    }
                }
                .instrument(tracing::info_span!("inspection_run", run.id = id)),
            );
        }
    }

    async fn renew(&self) {
        let ids = self.active();
        if ids.is_empty() {
            return;
        }
        let (owner, until) = (self.owner.clone(), now_ms() + self.lease_ms());
        if let Err(e) = self
            .store
            .run(move |c| leases::renew(c, Queue::InspectionRuns, &owner, &ids, until))
            .await
        {
            self.failed("renewing run leases", e);
        }
    }

    /// Ends runs whose replica is gone as `interrupted`, keeping their findings; with `all`,
    /// every run still marked running (see [`Self::run`]).
    async fn reap(&self, all: bool) {
        let active = self.active();
        let r = self
            .store
            .run(move |c| {
                let now = now_ms();
                let mut n = 0;
                for run in runs::orphaned(c, now, all)? {
                    if active.contains(&run.id) {
                        continue;
                    }
                    let detail = format!(
                        "interrupted: replica {} stopped before the run finished",
                        run.lease_owner.as_deref().unwrap_or("?")
                    );
                    let guard = if all {
                        Guard::Running
                    } else {
                        Guard::ExpiredBefore(now)
                    };
                    end_run(c, &run, RunState::Interrupted, Some(detail), guard, "")?;
                    n += 1;
                }
                Ok::<_, Error>(n)
            })
            .await;
        match r {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "marked inspection runs interrupted"),
            Err(e) => self.failed("marking interrupted runs", e),
        }
    }

    /// One run, from plan to report.
    async fn execute(&self, run_id: i64) -> Result<(), Error> {
        let started = tokio::time::Instant::now();
        let run = self.store.run(move |c| runs::row(c, run_id)).await?;
        let task_id = run.task_id;
        let planned = self.store.run(move |c| plan::build(c, task_id)).await;
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                let detail = format!("could not plan the run: {}", e.parts().1);
                return self
                    .end(run, RunState::Interrupted, Some(detail), String::new())
                    .await;
            }
        };
        let items = plan.items();
        let total = i32::try_from(items.len()).unwrap_or(i32::MAX);
        {
            let (o, p) = (self.owner.clone(), plan.clone());
            self.store
                .run(move |c| runs::set_plan(c, run_id, &o, &p, total))
                .await?;
        }
        tracing::info!(task = %plan.task.name, checks = items.len(), "inspection run started");
        let deadline = started + Duration::from_secs(plan.task.timeout_seconds);
        let timed_out = self.check_all(run_id, &plan, &items, deadline).await?;
        let state = if timed_out {
            RunState::TimedOut
        } else {
            RunState::Completed
        };
        let detail = timed_out.then(|| {
            format!(
                "stopped after {} s (the task's timeout)",
                plan.task.timeout_seconds
            )
        });
        let link = if self.public_url.is_empty() {
            String::new()
        } else {
            format!(
                "{}/inspection/runs/{run_id}",
                self.public_url.trim_end_matches('/')
            )
        };
        let run = self.store.run(move |c| runs::row(c, run_id)).await?;
        self.end(run, state, detail, link).await?;
        self.metrics.inspection_runs.inc();
        tracing::info!(task = %plan.task.name, state = state.as_str(), "inspection run ended");
        Ok(())
    }

    /// Evaluates the plan's checks until all have a finding or `deadline` passes (then those
    /// left get an error finding); findings are written in batches as they come. Returns
    /// whether the deadline passed.
    async fn check_all(
        &self,
        run_id: i64,
        plan: &plan::RunPlan,
        items: &[plan::Item],
        deadline: tokio::time::Instant,
    ) -> Result<bool, Error> {
        let finding = |slot: &Slot<'_>, outcome| new_finding(run_id, plan, slot, outcome);
        let mut pending: Vec<NewFinding> = Vec::new();
        // The checks to evaluate, in the order the checker numbers its outcomes.
        let mut slots = Vec::new();
        for item in items {
            match &item.check {
                Ok(check) => slots.push(Slot::new(item, check.subject())),
                Err(why) => {
                    let error = format!("cannot build the check: {why}");
                    let slot = Slot::new(item, String::new());
                    pending.push(finding(&slot, CheckOutcome::error(error, 0)));
                }
            }
        }
        let checks = items.iter().filter_map(|i| i.check.clone().ok()).collect();
        let mut stream = self.checker.evaluate_all(checks, plan.task.concurrency);
        let mut last_flush = tokio::time::Instant::now();
        let mut timed_out = false;
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                () = tokio::time::sleep_until(deadline) => { timed_out = true; None }
                () = tokio::time::sleep(FLUSH_AFTER), if !pending.is_empty() => {
                    self.flush(run_id, &mut pending).await?;
                    last_flush = tokio::time::Instant::now();
                    continue;
                }
            };
            let Some((index, outcome)) = next else { break };
            let Some(slot) = slots.get_mut(index) else {
                continue;
            };
            slot.done = true;
            pending.push(finding(slot, outcome));
            if pending.len() >= FLUSH_EVERY || last_flush.elapsed() >= FLUSH_AFTER {
                self.flush(run_id, &mut pending).await?;
                last_flush = tokio::time::Instant::now();
            }
        }
        drop(stream);
        if timed_out {
            let why = format!(
                "not checked: the task's timeout of {} s passed",
                plan.task.timeout_seconds
            );
            for slot in slots.iter().filter(|s| !s.done) {
                pending.push(finding(slot, CheckOutcome::error(why.clone(), 0)));
            }
        }
        self.flush(run_id, &mut pending).await?;
        Ok(timed_out)
    }

    /// Ends `run` (owned by this replica) as `state`.
    async fn end(
        &self,
        run: runs::RunRow,
        state: RunState,
        detail: Option<String>,
        link: String,
    ) -> Result<(), Error> {
        let owner = self.owner.clone();
        self.store
            .run(move |c| end_run(c, &run, state, detail, Guard::Owner(&owner), &link))
            .await
    }

    async fn flush(&self, run_id: i64, pending: &mut Vec<NewFinding>) -> Result<(), Error> {
        if pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(pending);
        let owner = self.owner.clone();
        self.store
            .run(move |c| runs::add_findings(c, &owner, run_id, &batch))
            .await?;
        Ok(())
    }

    async fn deliver(self: &Arc<Self>, work: &mut tokio::task::JoinSet<()>) {
        let room = self.sending.available_permits();
        if room == 0 {
            return;
        }
        let (owner, lease) = (
            self.owner.clone(),
            i64::try_from(self.config.notify.timeout_ms * 3).unwrap_or(60_000),
        );
        let claimed = self
            .store
            .run(move |c| {
                let ids =
                    leases::claim(c, Queue::Deliveries, &owner, now_ms(), room as i64, lease)?;
                channels::deliveries(c, &ids)
            })
            .await;
        let rows = match claimed {
            Ok(r) => r,
            Err(e) => return self.failed("claiming notifications", e),
        };
        for (delivery, channel) in rows {
            let Ok(permit) = self.sending.clone().acquire_owned().await else {
                return;
            };
            let me = self.clone();
            work.spawn(async move {
                me.send_one(delivery, channel).await;
                drop(permit);
            });
        }
    }

    async fn send_one(&self, d: channels::DeliveryRow, ch: channels::ChannelRow) {
        let attempt = d.attempts + 1;
        let outcome = match (
            serde_json::from_str::<shared::notify::ChannelSpec>(&ch.definition),
            serde_json::from_str::<shared::notify::Message>(&d.message),
        ) {
            (Ok(spec), Ok(msg)) => {
                let a = self
                    .sender
                    .send(
                        &spec,
                        &msg,
                        Duration::from_millis(self.config.notify.timeout_ms),
                    )
                    .await;
                channels::AttemptRecord {
                    ok: a.ok,
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                }
            }
            _ => channels::AttemptRecord {
                ok: false,
                status_code: None,
                error: Some("the stored channel or message is unreadable".into()),
                duration_ms: 0,
            },
        };
        let retry_at = (!outcome.ok
            && u32::try_from(attempt).unwrap_or(u32::MAX) < self.config.notify.max_attempts)
            .then(|| {
                let backoff = self
                    .config
                    .notify
                    .retry_base_seconds
                    .saturating_mul(1 << (attempt - 1).clamp(0, 16));
                now_ms() + i64::try_from(backoff * 1000).unwrap_or(i64::MAX / 4)
            });
        if !outcome.ok {
            tracing::warn!(
                channel = %ch.name, attempt, error = ?outcome.error,
                "notification attempt failed"
            );
            if retry_at.is_none() {
                self.metrics.controllermanager_failure.inc();
            }
        }
        let owner = self.owner.clone();
        if let Err(e) = self
            .store
            .run(move |c| channels::record_attempt(c, &owner, d.id, attempt, &outcome, retry_at))
            .await
        {
            self.failed("recording a notification attempt", e);
        }
    }

    async fn reconcile_monitors(&self) {
        match self.store.run(risks::reconcile_monitors).await {
            Ok((0, 0)) => {}
            Ok((opened, resolved)) => {
                tracing::info!(opened, resolved, "monitor risk events reconciled")
            }
            Err(e) => self.failed("reconciling monitor risk events", e),
        }
    }

    async fn prune(&self) {
        let before = now_ms() - i64::from(self.config.report_days) * 86_400_000;
        match self.store.run(move |c| runs::prune(c, before, 500)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "old inspection reports pruned"),
            Err(e) => self.failed("pruning reports", e),
        }
    }
}

/// One check of a run: its place in the plan, what it checks, and whether it has a finding.
struct Slot<'a> {
    item: &'a plan::Item,
    /// What the check looked at (empty when the check could not be built).
    subject: String,
    done: bool,
}

impl<'a> Slot<'a> {
    fn new(item: &'a plan::Item, subject: String) -> Self {
        Self {
            item,
            subject,
            done: false,
        }
    }
}

/// The finding `outcome` makes for `slot`'s check.
fn new_finding(run_id: i64, plan: &plan::RunPlan, slot: &Slot<'_>, o: CheckOutcome) -> NewFinding {
    let rule = &plan.rules[slot.item.rule];
    NewFinding {
        run_id,
        seq: slot.item.seq,
        rule_id: rule.id,
        rule_version: rule.version,
        rule_name: rule.name.clone(),
        target: slot.item.target.clone(),
        level: rule.level.as_str().into(),
        status: o.status.as_str().into(),
        value: o.value,
        evidence: o.evidence,
        subject: slot.subject.clone(),
        duration_ms: i64::try_from(o.duration_ms).unwrap_or(i64::MAX),
        checked_at: now_ms(),
    }
}

/// Ends a run in one transaction: its summary and changes, the risk events it opens and clears,
/// and the notifications its task asks for.
fn end_run(
    c: &mut DbConn,
    run: &runs::RunRow,
    state: RunState,
    detail: Option<String>,
    guard: Guard<'_>,
    link: &str,
) -> Result<(), Error> {
    let findings = runs::findings(c, run.id)?;
    let previous = runs::previous(c, run.task_id, run.id)?;
    let e: Ending = report::ending(state, detail, &findings, previous);
    let notify = serde_json::from_str::<plan::RunPlan>(&run.plan)
        .map(|p| p.task.notify)
        .or_else(|_| {
            tasks::row(c, run.task_id)
                .and_then(|t| t.input())
                .map(|t| t.notify)
        })
        .unwrap_or_default();
    let mut outbox = Vec::new();
    for rule in &notify {
        if !report::wants(rule, &findings) {
            continue;
        }
        let Some(channel) = channels::row_by_name(c, &rule.channel)? else {
            tracing::warn!(
                channel = %rule.channel,
                "a task notifies a channel that no longer exists"
            );
            continue;
        };
        let link = (!link.is_empty()).then(|| link.to_string());
        let msg = report::message(run.id, &run.task_name, &e, &findings, rule.min_level, link);
        outbox.push((
            channel.id,
            serde_json::to_string(&msg).map_err(Error::internal)?,
        ));
    }
    // Even an interrupted run's passes clear events: each is a real pass; what it did not
    // check clears nothing.
    let (raise, clear) = report::risks(run.task_id, run.id, &run.task_name, &findings);
    crate::store::write(c, |c| {
        runs::finish(c, run.id, guard, &e)?;
        for r in &raise {
            risks::raise(c, r)?;
        }
        risks::clear(c, &clear, &format!("run {} passed", run.id))?;
        for (channel_id, msg) in &outbox {
            channels::enqueue(c, *channel_id, Some(run.id), msg)?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(())
}
