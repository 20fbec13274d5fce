//! The execution engine: drives plan executions to their end, durably. Every replica runs a
//! [`Driver`]; all state is in the database (`store::plans::executions`):
//!
//! 1. runnable executions (pending, running, waiting for an approval, rolling back) are claimed
//!    by lease and the lease renewed while this replica works on them;
//! 2. each claimed execution is advanced by reading its rows and doing the next thing, every
//!    change of state committed before the side effect it leads to: stages in order, the steps
//!    of a stage in parallel (at most `max_parallelism` at once), each step's action through
//!    the [`Executor`] (an intent before, the outcome after), with timeout, retries and
//!    back-off;
//! 3. a failed step pauses the execution, is ignored, or starts a rollback (its `on_failure`);
//!    a rollback runs the `undo` of completed steps in reverse order of completion, one at a
//!    time, itself durable;
//! 4. an execution taken over (its replica died) resumes where its rows say: completed steps
//!    never run again; an attempt with an intent and no outcome runs again only when its action
//!    is idempotent, otherwise the step is `outcome_unknown` and the execution paused for the
//!    operator ([`operate`]: retry or skip);
//! 5. the steps of a plan step that runs in order within its stage (a `batches` step, a
//!    sub-plan) begin phase by phase ([`phases`]), pausing where the plan says;
//! 6. the plan's `notify` channels hear of the start, approvals, failures and the end through
//!    the outbox ([`notices`]).

mod notices;
pub mod operate;
mod phases;
mod send;
mod steps;

use super::super::checks::Checker;
use super::super::executor::Executor;
use super::super::notify::Sender;
use super::super::{Shutdown, stopped};
use crate::engine::Error;
use crate::metrics::Metrics;
use crate::store::actions;
use crate::store::leases::{self, Queue};
use crate::store::plans::executions::{self as store, By, Event, Snapshot, StepChange, StepRow};
use crate::store::{Store, now_ms};
use notices::Happened;
use shared::execution::{ExecutionState, OnFailure, ResolvedPlan, StepKind, StepState};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::Instrument;

/// How a replica works its executions.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A lease not renewed for this long is taken over by another replica.
    pub lease_ms: i64,
    /// How often executions are claimed, leases renewed, and operators' changes looked at.
    pub tick_ms: u64,
    /// Executions driven at once by this replica.
    pub max_executions: usize,
    /// The only replica (SQLite): leases of unended executions are given back at start, so
    /// what the previous process (by another name) held continues at once.
    pub sole_replica: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease_ms: 30_000,
            tick_ms: 250,
            max_executions: 32,
            sole_replica: false,
        }
    }
}

pub struct Driver {
    store: Store,
    executor: Arc<Executor>,
    checker: Arc<Checker>,
    sender: Sender,
    metrics: Metrics,
    owner: String,
    settings: Settings,
    active: Mutex<HashSet<i64>>,
}

/// The subject of a step's actions in `action_runs`: `execution:7:s1.fence` (its `do`) and
/// `execution:7:s1.fence:undo`.
pub fn subject(execution: i64, step: &str, undo: bool) -> String {
    match undo {
        false => format!("execution:{execution}:{step}"),
        true => format!("execution:{execution}:{step}:undo"),
    }
}

impl Driver {
    pub fn new(
        store: Store,
        (executor, checker, sender): (Arc<Executor>, Arc<Checker>, Sender),
        metrics: Metrics,
        owner: String,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            executor,
            checker,
            sender,
            metrics,
            owner,
            settings,
            active: Mutex::new(HashSet::new()),
        }
    }

    fn active(&self) -> Vec<i64> {
        self.active
            .lock()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default()
    }

    fn set_active(&self, id: i64, on: bool) {
        if let Ok(mut a) = self.active.lock() {
            match on {
                true => a.insert(id),
                false => a.remove(&id),
            };
        }
    }

    /// Counts and logs a failure once, with its cause chain.
    fn failed(&self, what: &str, e: impl Into<anyhow::Error>) {
        self.metrics.controllermanager_failure.inc();
        let e = e.into();
        tracing::error!(error = format!("{e:#}"), "execution engine: {what} failed");
    }

    /// Runs until `shutdown` flips. Executions in flight are tasks of this future: dropping it
    /// (a crash) takes them down, and their leases expire; a graceful stop gives them back.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut work = JoinSet::new();
        tracing::info!(replica = %self.owner, "execution engine started");
        if self.settings.sole_replica {
            match self.store.run(store::release_all).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(executions = n, "taking over unended executions"),
                Err(e) => self.failed("taking over executions at start", e),
            }
        }
        loop {
            while work.try_join_next().is_some() {}
            let lease = self.settings.lease_ms;
            super::triggers::tick(&self.store, &self.metrics, &self.owner, lease).await;
            self.claim(&mut work).await;
            self.renew().await;
            tokio::select! {
                () = stopped(&mut shutdown) => break,
                () = tokio::time::sleep(Duration::from_millis(self.settings.tick_ms)) => {}
            }
        }
        work.shutdown().await;
        for id in self.active() {
            let owner = self.owner.clone();
            if let Err(e) = self.store.run(move |c| store::release(c, id, &owner)).await {
                self.failed("giving back a lease", e);
            }
        }
        tracing::info!(replica = %self.owner, "execution engine stopped");
    }

    async fn claim(self: &Arc<Self>, work: &mut JoinSet<()>) {
        let room = self
            .settings
            .max_executions
            .saturating_sub(self.active().len());
        if room == 0 {
            return;
        }
        let (owner, lease) = (self.owner.clone(), self.settings.lease_ms);
        let claimed = self
            .store
            .run(move |c| {
                let limit = i64::try_from(room).unwrap_or(i64::MAX);
                leases::claim(c, Queue::Executions, &owner, now_ms(), limit, lease)
            })
            .await;
        let ids = match claimed {
            Ok(ids) => ids,
            Err(e) => return self.failed("claiming executions", e),
        };
        for id in ids {
            self.set_active(id, true);
            let me = Arc::clone(self);
            work.spawn(
                async move {
                    if let Err(e) = me.drive(id).await {
                        me.failed(&format!("execution {id}"), e);
                    }
                    me.set_active(id, false);
                }
                .instrument(tracing::info_span!("plan_execution", execution.id = id)),
            );
        }
    }

    async fn renew(&self) {
        let ids = self.active();
        if ids.is_empty() {
            return;
        }
        let (owner, until) = (self.owner.clone(), now_ms() + self.settings.lease_ms);
        let r = self
            .store
            .run(move |c| leases::renew(c, Queue::Executions, &owner, &ids, until))
            .await;
        if let Err(e) = r {
            self.failed("renewing execution leases", e);
        }
    }

    /// Advances execution `id` (claimed by this replica) until it ends, waits for an operator
    /// with nothing in flight, or its lease is lost. A failure along the way (the database
    /// gone for a moment) is logged and the next look tried a tick later: the steps in flight
    /// keep running meanwhile.
    pub async fn drive(self: &Arc<Self>, id: i64) -> Result<(), Error> {
        let first = self.store.run(move |c| store::snapshot(c, id)).await?;
        let ctx = Ctx {
            id,
            plan: Arc::new(first.execution.plan()?),
            vars: Arc::new(variables(&first.execution.parameters()?)),
        };
        let mut flight = Flight::default();
        loop {
            match self.advance(&ctx, &mut flight).await {
                Ok(Next::Stop) => return Ok(()),
                Ok(Next::Now) => continue,
                Ok(Next::Wait) => {}
                Err(e) => self.failed(&format!("advancing execution {id}"), e),
            }
            flight.wait(self.settings.tick_ms).await;
        }
    }

    /// One look at the execution's rows, and what follows from them.
    async fn advance(self: &Arc<Self>, ctx: &Ctx, flight: &mut Flight) -> Result<Next, Error> {
        let id = ctx.id;
        let snap = self.store.run(move |c| store::snapshot(c, id)).await?;
        let state = snap.execution.state();
        let mine = snap.execution.lease_owner.as_deref() == Some(self.owner.as_str());
        if (state.ended() || !mine) && flight.is_empty() {
            return Ok(Next::Stop);
        }
        match state {
            _ if !mine => {}
            ExecutionState::Pending => {
                let change = (&[ExecutionState::Pending][..], ExecutionState::Running);
                self.transition(ctx, change, None, ("started", None))
                    .await?;
                return Ok(Next::Now);
            }
            ExecutionState::Running | ExecutionState::WaitingApproval => {
                self.forward(ctx, &snap, flight).await?;
            }
            ExecutionState::RollingBack => self.backward(ctx, &snap, flight).await?,
            ExecutionState::Paused if flight.is_empty() => {
                let owner = self.owner.clone();
                self.store
                    .run(move |c| store::release(c, id, &owner))
                    .await?;
                return Ok(Next::Stop);
            }
            _ => {}
        }
        Ok(Next::Wait)
    }

    /// Moves the execution from one of `from` to `to` as this replica, with `detail` and the
    /// timeline event `what` (of `step`); the notice it makes is queued with it.
    async fn transition(
        &self,
        ctx: &Ctx,
        (from, to): (&[ExecutionState], ExecutionState),
        detail: Option<String>,
        (what, step): (&'static str, Option<&str>),
    ) -> Result<bool, Error> {
        let (id, owner, from) = (ctx.id, self.owner.clone(), from.to_vec());
        let (step, plan) = (step.map(str::to_string), Arc::clone(&ctx.plan));
        let changed = self
            .store
            .run(move |c| {
                crate::store::write(c, |c| {
                    let by = By::Lease(&owner);
                    let ev = Event {
                        what,
                        step: step.as_deref(),
                        comment: if what == phases::PAUSED {
                            detail.as_deref().unwrap_or("")
                        } else {
                            ""
                        },
                    };
                    let changed = store::set_state(c, id, by, (&from, to), detail.as_deref(), ev)?;
                    if let Some(notice) = notices::for_transition(to, what)
                        && changed
                    {
                        let h = Happened {
                            notice,
                            state: to,
                            step: step.as_deref(),
                            detail: detail.as_deref().unwrap_or(""),
                        };
                        notices::enqueue(c, &plan, id, &h)?;
                    }
                    Ok::<_, crate::store::StoreError>(changed)
                })
            })
            .await?;
        if changed {
            tracing::info!(state = to.as_str(), "execution state changed");
        }
        Ok(changed)
    }

    /// Counts a succeeded execution's RTO, and whether it missed its plan's objective.
    async fn record_rto(&self, ctx: &Ctx) -> Result<(), Error> {
        let id = ctx.id;
        let snap = self.store.run(move |c| store::snapshot(c, id)).await?;
        let Some(rto) = snap.execution.rto_ms else {
            return Ok(());
        };
        self.metrics.plan_rto.observe(rto as f64 / 1000.0);
        let objective = ctx.plan.rto_objective_ms;
        if shared::execution::rto_met(Some(rto), objective) == Some(false) {
            self.metrics.plan_rto_missed.inc();
            tracing::warn!(
                rto_ms = rto,
                objective_ms = objective,
                "RTO objective missed"
            );
        }
        Ok(())
    }

    /// Ends `step` (from one of `from`) as `to`, with `error`, as this replica.
    async fn end_step(
        &self,
        (id, step): (i64, &str),
        from: &'static [StepState],
        (to, error): (StepState, Option<String>),
        what: &'static str,
    ) -> Result<bool, Error> {
        let (owner, step) = (self.owner.clone(), step.to_string());
        Ok(self
            .store
            .run(move |c| {
                let ev = Event::new(what).step(&step);
                let change = StepChange {
                    error: error.as_deref(),
                    ..StepChange::end(to)
                };
                store::set_step(c, (id, &step), By::Lease(&owner), from, change, ev)
            })
            .await?)
    }

    /// Running forward: applies failures, ends the execution when every stage is settled, and
    /// otherwise starts (or, after a takeover, resumes) the steps of the current stage.
    async fn forward(
        self: &Arc<Self>,
        ctx: &Ctx,
        snap: &Snapshot,
        flight: &mut Flight,
    ) -> Result<(), Error> {
        let id = ctx.id;
        let state = snap.execution.state();
        let active = [ExecutionState::Running, ExecutionState::WaitingApproval];
        for row in &snap.steps {
            let Some(step) = ctx.plan.step(&row.step) else {
                continue;
            };
            let (to, what) = match (row.state(), step.on_failure) {
                (StepState::Failed, OnFailure::Pause) => (ExecutionState::Paused, "paused"),
                (StepState::OutcomeUnknown, _) => (ExecutionState::Paused, "paused"),
                (StepState::Failed, OnFailure::Rollback) => {
                    (ExecutionState::RollingBack, "rolling_back")
                }
                _ => continue,
            };
            let detail = format!(
                "step `{}` {}: {}",
                row.step,
                row.state().as_str(),
                row.error.as_deref().unwrap_or("")
            );
            let ev = (what, Some(row.step.as_str()));
            self.transition(ctx, (&active, to), Some(detail), ev)
                .await?;
            return Ok(());
        }
        self.expire_approvals(ctx, snap).await?;
        let settled = |row: &StepRow| match row.state() {
            StepState::Succeeded | StepState::Skipped => true,
            StepState::Failed => ctx
                .plan
                .step(&row.step)
                .is_some_and(|s| s.on_failure == OnFailure::Continue),
            _ => false,
        };
        let Some(stage) = snap.steps.iter().find(|r| !settled(r)).map(|r| r.stage) else {
            if !flight.is_empty() {
                return Ok(());
            }
            let failed = snap.steps.iter().any(|r| r.state() == StepState::Failed);
            let to = match failed {
                true => ExecutionState::Failed,
                false => ExecutionState::Succeeded,
            };
            let ended = self
                .transition(ctx, (&active, to), None, (to.as_str(), None))
                .await?;
            if ended && to == ExecutionState::Succeeded {
                self.record_rto(ctx).await?;
            }
            return Ok(());
        };
        let paused = match phases::pausing(&ctx.plan) {
            true => {
                let what = phases::PAUSED;
                self.store
                    .run(move |c| store::event_steps(c, id, what))
                    .await?
            }
            false => HashMap::new(),
        };
        let gate = phases::Gate::new(&ctx.plan, &snap.steps, settled, &paused);
        if let Some(p) = gate.pause {
            let detail = format!("{} done: resume to go on with the next", p.label());
            let ev = (phases::PAUSED, Some(p.of.as_str()));
            self.transition(ctx, (&active, ExecutionState::Paused), Some(detail), ev)
                .await?;
            return Ok(());
        }
        let waiting = snap
            .steps
            .iter()
            .any(|r| r.state() == StepState::WaitingApproval);
        let shown = match waiting {
            true => ExecutionState::WaitingApproval,
            false => ExecutionState::Running,
        };
        if shown != state {
            self.transition(ctx, (&[state], shown), None, (shown.as_str(), None))
                .await?;
        }
        let current: Vec<&StepRow> = snap.steps.iter().filter(|r| r.stage == stage).collect();
        let limit = ctx
            .plan
            .stages
            .get(usize::try_from(stage).unwrap_or(usize::MAX))
            .and_then(|s| s.max_parallelism)
            .map_or(usize::MAX, |m| m as usize);
        let running: Vec<&StepRow> = current
            .iter()
            .copied()
            .filter(|r| r.state() == StepState::Running)
            .collect();
        for row in &running {
            if !flight.has(&row.step) {
                self.spawn(ctx, row, (false, false), flight);
            }
        }
        let pending = current
            .iter()
            .copied()
            .filter(|r| r.state() == StepState::Pending);
        let startable = phases::startable(&ctx.plan, &gate, &running, pending);
        for row in startable
            .into_iter()
            .take(limit.saturating_sub(running.len()))
        {
            self.begin(ctx, row, flight).await?;
        }
        Ok(())
    }

    /// Starts a pending step: an approval waits for its approver; the rest run.
    async fn begin(
        self: &Arc<Self>,
        ctx: &Ctx,
        row: &StepRow,
        flight: &mut Flight,
    ) -> Result<(), Error> {
        let Some(step) = ctx.plan.step(&row.step) else {
            return Ok(());
        };
        let (to, what) = match step.kind {
            StepKind::Approval { .. } => (StepState::WaitingApproval, "approval.requested"),
            _ => (StepState::Running, "step.started"),
        };
        let subject = subject(ctx.id, &row.step, false);
        let (owner, id, name) = (self.owner.clone(), ctx.id, row.step.clone());
        let plan = Arc::clone(&ctx.plan);
        let begun = self
            .store
            .run(move |c| {
                crate::store::write(c, |c| {
                    let round = i32::try_from(actions::attempts(c, &subject)?.len()).unwrap_or(0);
                    let change = StepChange::begin(to, round);
                    let ev = Event::new(what).step(&name);
                    let (by, from) = (By::Lease(&owner), &[StepState::Pending]);
                    let begun = store::set_step(c, (id, &name), by, from, change, ev)?;
                    if begun && to == StepState::WaitingApproval {
                        let detail = format!("step `{name}` waits for an approver");
                        let h = Happened {
                            notice: shared::plan::Notice::Approval,
                            state: ExecutionState::WaitingApproval,
                            step: Some(&name),
                            detail: &detail,
                        };
                        notices::enqueue(c, &plan, id, &h)?;
                    }
                    Ok::<_, crate::store::StoreError>(begun.then_some(round))
                })
            })
            .await?;
        if let Some(round) = begun
            && to == StepState::Running
        {
            let row = StepRow {
                state: to.as_str().into(),
                round_start: round,
                attempts: round,
                started_at: Some(now_ms()),
                ..row.clone()
            };
            self.spawn(ctx, &row, (false, true), flight);
        }
        Ok(())
    }

    /// Refuses approvals that waited longer than their step allows.
    async fn expire_approvals(&self, ctx: &Ctx, snap: &Snapshot) -> Result<(), Error> {
        let now = now_ms();
        for row in &snap.steps {
            let Some(StepKind::Approval {
                expires_after_ms: Some(ms),
                ..
            }) = ctx.plan.step(&row.step).map(|s| &s.kind)
            else {
                continue;
            };
            let since = row.started_at.unwrap_or(now);
            let ms = i64::try_from(*ms).unwrap_or(i64::MAX);
            if row.state() == StepState::WaitingApproval && now >= since.saturating_add(ms) {
                let change = (StepState::Failed, Some("the approval expired".into()));
                let from = &[StepState::WaitingApproval];
                let ev = "approval.expired";
                self.end_step((ctx.id, &row.step), from, change, ev).await?;
            }
        }
        Ok(())
    }

    /// Rolling back: once nothing runs forward, undoes completed steps one at a time, the
    /// last completed first; pauses when an undo fails or its outcome is unknown.
    async fn backward(
        self: &Arc<Self>,
        ctx: &Ctx,
        snap: &Snapshot,
        flight: &mut Flight,
    ) -> Result<(), Error> {
        let id = ctx.id;
        if !flight.is_empty() {
            return Ok(());
        }
        let mut done: Vec<&StepRow> = snap
            .steps
            .iter()
            .filter(|r| r.completed.is_some())
            .collect();
        done.sort_by_key(|r| std::cmp::Reverse(r.completed));
        let rolling = [ExecutionState::RollingBack];
        for row in done {
            let undo = ctx.plan.step(&row.step).and_then(|s| s.undo());
            match row.state() {
                StepState::Failed | StepState::OutcomeUnknown => {
                    let detail = format!(
                        "the undo of step `{}` {}: {}",
                        row.step,
                        row.state().as_str(),
                        row.error.as_deref().unwrap_or("")
                    );
                    let ev = ("paused", Some(row.step.as_str()));
                    let to = ExecutionState::Paused;
                    self.transition(ctx, (&rolling, to), Some(detail), ev)
                        .await?;
                    return Ok(());
                }
                StepState::RollingBack => {
                    self.spawn(ctx, row, (true, false), flight);
                    return Ok(());
                }
                StepState::Succeeded if undo.is_some() => {
                    let subject = subject(id, &row.step, true);
                    let (owner, name) = (self.owner.clone(), row.step.clone());
                    let round = self
                        .store
                        .run(move |c| {
                            let round =
                                i32::try_from(actions::attempts(c, &subject)?.len()).unwrap_or(0);
                            let change = StepChange::begin(StepState::RollingBack, round);
                            let ev = Event::new("undo.started").step(&name);
                            let from = &[StepState::Succeeded];
                            let by = By::Lease(&owner);
                            store::set_step(c, (id, &name), by, from, change, ev)
                                .map(|begun| begun.then_some(round))
                        })
                        .await?;
                    if let Some(round) = round {
                        let row = StepRow {
                            round_start: round,
                            started_at: Some(now_ms()),
                            ..row.clone()
                        };
                        self.spawn(ctx, &row, (true, true), flight);
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
        let ev = ("rolled_back", None);
        self.transition(ctx, (&rolling, ExecutionState::RolledBack), None, ev)
            .await?;
        Ok(())
    }

    /// Runs `row`'s step (its undo when `undo`) as a task of `flight`; `fresh`: its round of
    /// attempts was begun just now by this replica.
    fn spawn(
        self: &Arc<Self>,
        ctx: &Ctx,
        row: &StepRow,
        (undo, fresh): (bool, bool),
        flight: &mut Flight,
    ) {
        let Some(step) = ctx.plan.step(&row.step).cloned() else {
            return;
        };
        let me = Arc::clone(self);
        let (id, vars, row) = (ctx.id, Arc::clone(&ctx.vars), row.clone());
        let (name, plan) = (row.step.clone(), Arc::clone(&ctx.plan));
        let task = flight.tasks.spawn(
            async move {
                let r = match undo {
                    false => {
                        let at = (id, plan.plan.as_str());
                        me.run_step(at, &step, &row, &vars, fresh).await
                    }
                    true => me.undo_step(id, &step, &row, &vars, fresh).await,
                };
                if let Err(e) = r {
                    me.failed(&format!("step {}", step.id), e);
                }
            }
            .instrument(tracing::info_span!("step", step.id = %name.clone())),
        );
        flight.steps.insert(task.id(), name);
    }
}

/// What [`Driver::advance`] leaves the drive to do.
enum Next {
    Stop,
    /// Look again at once (the state just changed).
    Now,
    /// Look again when a step ends or a tick passes.
    Wait,
}

/// What a drive needs to run a step.
struct Ctx {
    id: i64,
    plan: Arc<ResolvedPlan>,
    vars: Arc<BTreeMap<String, String>>,
}

/// The steps of one execution running on this replica.
#[derive(Default)]
struct Flight {
    tasks: JoinSet<()>,
    steps: HashMap<tokio::task::Id, String>,
}

impl Flight {
    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn has(&self, step: &str) -> bool {
        self.steps.values().any(|s| s == step)
    }

    /// Until a step task ends or `tick_ms` passes (an operator may have changed something).
    async fn wait(&mut self, tick_ms: u64) {
        let tick = tokio::time::sleep(Duration::from_millis(tick_ms));
        if self.tasks.is_empty() {
            return tick.await;
        }
        tokio::select! {
            Some(done) = self.tasks.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                self.steps.remove(&id);
            }
            () = tick => {}
        }
    }
}

/// The execution's parameters as template variables (text as is, the rest as JSON).
fn variables(parameters: &serde_json::Value) -> BTreeMap<String, String> {
    let Some(map) = parameters.as_object() else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k.clone(), text)
        })
        .collect()
}
