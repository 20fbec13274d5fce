//! The reconcile loop of drill runs. Every replica runs a [`Driver`]; all state is in the
//! database (`store::drills::runs`):
//!
//! 1. active runs are claimed by lease (one replica drives a run) and the lease renewed;
//! 2. each claimed run is advanced stage by stage — prepare (the steady state must hold, else
//!    nothing is injected and the run fails with the reason), inject, observe (stop conditions
//!    every interval), recover, verify (the steady state again) — every change of state
//!    committed before the side effect it leads to;
//! 3. each target's record is driven from its observed phase towards its desired one through
//!    the executor (inject = the operation's `do`, recover = its `undo`; an intent row before
//!    and an outcome after each);
//! 4. **any** end — observed to the end, a stop condition, an operator's stop, the safety lever,
//!    a failed injection, an interruption — first sets every desired phase to `recovered` in
//!    one committed transaction (`runs::end`), then recovers;
//! 5. a run found `running` by a process that did not start it (acmangkut restarted, or took
//!    over an expired lease) is such an interruption: it ends `failed` and is recovered at once,
//!    at start-up too.

use super::journal;
use super::runs::{evaluate, first_failure};
use super::{Rendered, pinned_operations, render};
use crate::engine::checks::Checker;
use crate::engine::executor::Executor;
use crate::engine::{Error, Shutdown, stopped};
use crate::metrics::Metrics;
use crate::store::drills::{lever, runs as store};
use crate::store::leases::{self, Queue};
use crate::store::{Store, now_ms};
use futures::future::join_all;
use shared::check::CheckStatus;
use shared::drill::{CheckResult, DrillDocument, Phase, RunState, Stage};
use shared::operation::OperationVersion;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::Instrument;

/// How a replica works its runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A lease not renewed for this long is taken over by another replica.
    pub lease_ms: i64,
    /// How often runs are claimed, leases renewed and records reconciled.
    pub tick_ms: u64,
    /// Runs driven at once by this replica.
    pub max_runs: usize,
    /// The only replica (SQLite): every lease of an active run is given back at start.
    pub sole_replica: bool,
}

const PENDING: &[RunState] = &[RunState::Pending];
const INITIATING: &[RunState] = &[RunState::Initiating];

/// A failed recovery is tried again after this long (the target's guard is the backstop).
const RECOVERY_RETRY: Duration = Duration::from_secs(1);

pub struct Driver {
    store: Store,
    executor: Arc<Executor>,
    checker: Arc<Checker>,
    metrics: Metrics,
    owner: String,
    settings: Settings,
    active: Mutex<HashSet<i64>>,
    /// Runs this process moved out of `initiating`: a `running` run not in it was interrupted.
    started: Mutex<HashSet<i64>>,
}

enum Next {
    Now,
    Wait,
    Later(Duration),
    Stop,
}

/// What a run's steps need besides its rows: its document and pinned operations.
struct Ctx {
    id: i64,
    doc: DrillDocument,
    ops: Vec<OperationVersion>,
}

/// The subject of a target's fault actions in `action_runs`.
fn subject(run: i64, target: &str, fault: usize, what: &str) -> String {
    format!("drill-run:{run}:{target}:{fault}:{what}")
}

impl Driver {
    pub fn new(
        store: Store,
        (executor, checker): (Arc<Executor>, Arc<Checker>),
        metrics: Metrics,
        owner: String,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            executor,
            checker,
            metrics,
            owner,
            settings,
            active: Mutex::new(HashSet::new()),
            started: Mutex::new(HashSet::new()),
        }
    }

    fn set(set: &Mutex<HashSet<i64>>, id: i64, on: bool) {
        if let Ok(mut s) = set.lock() {
            match on {
                true => s.insert(id),
                false => s.remove(&id),
            };
        }
    }

    fn has(set: &Mutex<HashSet<i64>>, id: i64) -> bool {
        set.lock().map(|s| s.contains(&id)).unwrap_or(false)
    }

    fn active(&self) -> Vec<i64> {
        self.active
            .lock()
            .map(|a| a.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Counts and logs a failure once, with its cause chain.
    fn failed(&self, what: &str, e: impl Into<anyhow::Error>) {
        self.metrics.controllermanager_failure.inc();
        let e = e.into();
        tracing::error!(error = format!("{e:#}"), "drill engine: {what} failed");
    }

    /// Runs until `shutdown` flips; runs in flight are tasks of this future.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut work = JoinSet::new();
        tracing::info!(replica = %self.owner, "drill engine started");
        // This process starts nothing it finds running: what an earlier one held (under this
        // name, or any name when it is the only replica) is claimed now and recovered.
        let owner = (!self.settings.sole_replica).then(|| self.owner.clone());
        match self
            .store
            .run(move |c| store::release_held(c, owner.as_deref()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(runs = n, "taking over active drill runs"),
            Err(e) => self.failed("taking over drill runs at start", e),
        }
        loop {
            while work.try_join_next().is_some() {}
            self.claim(&mut work).await;
            self.renew().await;
            self.gauges().await;
            tokio::select! {
                () = stopped(&mut shutdown) => break,
                () = tokio::time::sleep(Duration::from_millis(self.settings.tick_ms)) => {}
            }
        }
        work.shutdown().await;
        for id in self.active() {
            let owner = self.owner.clone();
            if let Err(e) = self.store.run(move |c| store::release(c, id, &owner)).await {
                self.failed("giving back a drill run lease", e);
            }
        }
        tracing::info!(replica = %self.owner, "drill engine stopped");
    }

    /// The lever and the faults in place, cluster-wide, as `/metrics` shows them.
    async fn gauges(&self) {
        let read = self
            .store
            .run(|c| Ok::<_, Error>((lever::get(c)?.engaged, store::injected_count(c)?)))
            .await;
        match read {
            Ok((engaged, injected)) => {
                self.metrics.drill_safety_lever.set(i64::from(engaged));
                self.metrics.drill_faults_injected.set(injected);
            }
            Err(e) => self.failed("reading the drill gauges", e),
        }
    }

    async fn claim(self: &Arc<Self>, work: &mut JoinSet<()>) {
        let room = self.settings.max_runs.saturating_sub(self.active().len());
        if room == 0 {
            return;
        }
        let (owner, lease) = (self.owner.clone(), self.settings.lease_ms);
        let claimed = self
            .store
            .run(move |c| {
                let limit = i64::try_from(room).unwrap_or(i64::MAX);
                leases::claim(c, Queue::DrillRuns, &owner, now_ms(), limit, lease)
            })
            .await;
        let ids = match claimed {
            Ok(ids) => ids,
            Err(e) => return self.failed("claiming drill runs", e),
        };
        for id in ids {
            Self::set(&self.active, id, true);
            let me = Arc::clone(self);
            work.spawn(
                async move {
                    if let Err(e) = me.drive(id).await {
                        me.failed(&format!("drill run {id}"), e);
                    }
                    Self::set(&me.active, id, false);
                }
                .instrument(tracing::info_span!("drill_run", run.id = id)),
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
            .run(move |c| leases::renew(c, Queue::DrillRuns, &owner, &ids, until))
            .await;
        if let Err(e) = r {
            self.failed("renewing drill run leases", e);
        }
    }

    /// Advances run `id` (claimed by this replica) until it ends or its lease is lost.
    async fn drive(self: &Arc<Self>, id: i64) -> Result<(), Error> {
        let ctx = self
            .store
            .run(move |c| {
                let doc = store::row(c, id)?.document()?;
                let ops = pinned_operations(c, &doc)?;
                Ok::<_, Error>(Ctx { id, doc, ops })
            })
            .await;
        let ctx = match ctx {
            Ok(ctx) => ctx,
            // A run whose faults cannot be resolved any more cannot be recovered by this
            // loop either: it ends failed (nothing was injected if it never ran).
            Err(e) => {
                let reason = format!("cannot resolve its faults: {e}");
                self.store
                    .run(move |c| store::end(c, id, RunState::Failed, &reason))
                    .await?;
                return Err(e);
            }
        };
        loop {
            let wait = match self.step(&ctx).await {
                Ok(Next::Stop) => return Ok(()),
                Ok(Next::Now) => continue,
                Ok(Next::Wait) => Duration::from_millis(self.settings.tick_ms),
                Ok(Next::Later(d)) => d,
                Err(e) => {
                    self.failed(&format!("advancing drill run {id}"), e);
                    Duration::from_millis(self.settings.tick_ms)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn end(&self, id: i64, outcome: RunState, reason: String) -> Result<Next, Error> {
        tracing::info!(outcome = outcome.as_str(), reason = %reason, "drill run ending");
        self.store
            .run(move |c| store::end(c, id, outcome, &reason))
            .await?;
        Ok(Next::Now)
    }

    /// One look at the run's rows, and what follows from them.
    async fn step(self: &Arc<Self>, ctx: &Ctx) -> Result<Next, Error> {
        let id = ctx.id;
        let run = self.store.run(move |c| store::row(c, id)).await?;
        if run.lease_owner.as_deref() != Some(self.owner.as_str()) || run.state().ended() {
            return Ok(Next::Stop);
        }
        match run.state() {
            RunState::Pending => {
                let change = (PENDING, RunState::Initiating, Stage::Prepare);
                let what = ("prepare", "verifying the steady state");
                self.store
                    .run(move |c| store::set_state(c, id, change, what))
                    .await?;
                Ok(Next::Now)
            }
            RunState::Initiating => self.prepare(ctx).await,
            RunState::Running if !Self::has(&self.started, id) => {
                let reason = "interrupted: the replica driving it stopped (restart or lease \
                              takeover); recovering every target";
                self.end(id, RunState::Failed, reason.into()).await
            }
            RunState::Running => self.running(ctx, &run).await,
            RunState::Stopping => self.stopping(ctx, &run).await,
            _ => Ok(Next::Stop),
        }
    }

    /// Prepare: the lever released and the steady state holding, every target's desired
    /// phase becomes `injected` with the run `running`, in one transaction.
    async fn prepare(&self, ctx: &Ctx) -> Result<Next, Error> {
        let id = ctx.id;
        if self.store.run(lever::get).await?.engaged {
            return self
                .end(
                    id,
                    RunState::Cancelled,
                    "the safety lever is engaged".into(),
                )
                .await;
        }
        let results = evaluate(&self.checker, &ctx.doc.steady_state).await;
        self.checked(id, journal::STEADY_STATE_BEFORE, &results)
            .await?;
        if let Some(f) = first_failure(&results) {
            let reason = format!("the steady state does not hold, nothing injected: {f}");
            return self.end(id, RunState::Failed, reason).await;
        }
        let moved = self
            .store
            .run(move |c| {
                crate::store::write(c, |c| {
                    let change = (INITIATING, RunState::Running, Stage::Inject);
                    let what = ("inject", "the steady state holds");
                    let moved = store::set_state(c, id, change, what)?;
                    if moved {
                        store::desire_all(c, id, Phase::Injected)?;
                    }
                    Ok::<_, crate::store::StoreError>(moved)
                })
            })
            .await?;
        if moved {
            Self::set(&self.started, id, true);
        }
        Ok(Next::Now)
    }

    async fn running(self: &Arc<Self>, ctx: &Ctx, run: &store::RunRow) -> Result<Next, Error> {
        let id = ctx.id;
        let (injects, _) = self.reconcile(ctx).await?;
        if let Some((target, why)) = injects {
            let reason = format!("the injection failed on {target}: {why}");
            return self.end(id, RunState::Failed, reason).await;
        }
        let now = now_ms();
        let ms = |d: shared::plan::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        match run.stage() {
            Stage::Inject => {
                let targets = self.store.run(move |c| store::targets(c, id)).await?;
                if targets.iter().all(|t| t.observed() == Phase::Injected) {
                    let until = now.saturating_add(ms(ctx.doc.observe));
                    let check = now.saturating_add(ms(ctx.doc.stop_conditions.interval));
                    self.store
                        .run(move |c| {
                            store::set_times(
                                c,
                                id,
                                Stage::Observe,
                                (Some(now), Some(until), Some(check)),
                            )?;
                            store::event(c, id, None, "observe", "every target injected")
                        })
                        .await?;
                    return Ok(Next::Now);
                }
                Ok(Next::Wait)
            }
            Stage::Observe => {
                if run.observe_until.is_some_and(|u| now >= u) {
                    let reason = format!("observed for {}", ctx.doc.observe);
                    return self.end(id, RunState::Completed, reason).await;
                }
                let checks = &ctx.doc.stop_conditions.checks;
                if checks.is_empty() || run.next_check_at.is_some_and(|n| now < n) {
                    return Ok(Next::Wait);
                }
                let results = evaluate(&self.checker, checks).await;
                if let Some(f) = first_failure(&results) {
                    self.checked(id, journal::STOP_CONDITION, &results).await?;
                    return self
                        .end(
                            id,
                            RunState::Stopped,
                            format!("a stop condition failed: {f}"),
                        )
                        .await;
                }
                let next = now_ms().saturating_add(ms(ctx.doc.stop_conditions.interval));
                let times = (run.injected_at, run.observe_until, Some(next));
                self.store
                    .run(move |c| store::set_times(c, id, Stage::Observe, times))
                    .await?;
                Ok(Next::Wait)
            }
            _ => Ok(Next::Wait),
        }
    }

    /// Recovering: once every target is recovered, verify (a run observed to the end) and end.
    async fn stopping(self: &Arc<Self>, ctx: &Ctx, run: &store::RunRow) -> Result<Next, Error> {
        let id = ctx.id;
        let (_, recovers) = self.reconcile(ctx).await?;
        let targets = self.store.run(move |c| store::targets(c, id)).await?;
        if !targets.iter().all(|t| t.observed() == Phase::Recovered) {
            return Ok(match recovers {
                Some(_) => Next::Later(RECOVERY_RETRY),
                None => Next::Wait,
            });
        }
        let (mut outcome, mut reason) = (run.outcome(), run.reason.clone());
        if outcome == RunState::Completed {
            self.store
                .run(move |c| store::set_stage(c, id, Stage::Verify, "verify"))
                .await?;
            let results = evaluate(&self.checker, &ctx.doc.steady_state).await;
            self.checked(id, journal::STEADY_STATE_AFTER, &results)
                .await?;
            if let Some(f) = first_failure(&results) {
                outcome = RunState::Failed;
                reason = format!("the steady state did not hold after recovery: {f}");
            }
        }
        let owner = self.owner.clone();
        self.store
            .run(move |c| store::finish(c, id, &owner, outcome, &reason))
            .await?;
        Self::set(&self.started, id, false);
        tracing::info!(state = outcome.as_str(), "drill run ended");
        Ok(Next::Stop)
    }

    /// Drives every target whose observed phase is not its desired one, all at once. Returns
    /// the first failed injection and the first failed recovery: `(target, evidence)`.
    async fn reconcile(self: &Arc<Self>, ctx: &Ctx) -> Result<(Failure, Failure), Error> {
        let id = ctx.id;
        let targets = self.store.run(move |c| store::targets(c, id)).await?;
        let work = targets
            .into_iter()
            .filter(|t| t.desired() != t.observed())
            .map(|t| {
                let me = Arc::clone(self);
                async move {
                    let vars = t.variables()?;
                    let faults = render(&ctx.doc, &ctx.ops, &vars, &t.fault_id)?;
                    let desired = t.desired();
                    let out = match desired {
                        Phase::Injected => me.inject(id, &t, &faults).await?,
                        _ => me.recover(id, &t, &faults).await?,
                    };
                    Ok::<_, Error>(out.map(|why| (desired, t.target.clone(), why)))
                }
            });
        let (mut injects, mut recovers) = (None, None);
        for done in join_all(work).await {
            match done? {
                Some((Phase::Injected, target, why)) => {
                    injects.get_or_insert((target, why));
                }
                Some((_, target, why)) => {
                    recovers.get_or_insert((target, why));
                }
                None => {}
            }
        }
        Ok((injects, recovers))
    }

    /// Injects every fault into `t`, in order; the evidence of the first that fails.
    async fn inject(
        &self,
        id: i64,
        t: &store::TargetRow,
        faults: &[Rendered],
    ) -> Result<Option<String>, Error> {
        let name = t.target.clone();
        self.observe(
            id,
            &name,
            Phase::Unknown,
            Some(Phase::Injected),
            "inject",
            "",
        )
        .await?;
        let mut said = Vec::new();
        for (i, f) in faults.iter().enumerate() {
            let subject = subject(id, &name, i, "inject");
            let (_, out) = self
                .executor
                .run_recorded(&self.store, (&subject, &self.owner), &f.inject, &f.vars)
                .await?;
            said.push(format!("{}: {}", f.operation, out.evidence));
            if out.status != CheckStatus::Pass {
                let why = format!("{}: {}: {}", f.operation, out.status.as_str(), out.evidence);
                self.observe(id, &name, Phase::Unknown, None, "inject failed", &why)
                    .await?;
                return Ok(Some(why));
            }
        }
        self.observe(
            id,
            &name,
            Phase::Injected,
            None,
            "injected",
            &said.join("\n"),
        )
        .await?;
        Ok(None)
    }

    /// Recovers every fault of `t`, in reverse order; the evidence of the first that fails
    /// (the record keeps its phase and is tried again).
    async fn recover(
        &self,
        id: i64,
        t: &store::TargetRow,
        faults: &[Rendered],
    ) -> Result<Option<String>, Error> {
        let (name, was) = (t.target.clone(), t.observed());
        self.observe(id, &name, was, Some(Phase::Recovered), "recover", "")
            .await?;
        let mut said = Vec::new();
        for (i, f) in faults.iter().enumerate().rev() {
            let subject = subject(id, &name, i, "recover");
            let (_, out) = self
                .executor
                .run_recorded(&self.store, (&subject, &self.owner), &f.recover, &f.vars)
                .await?;
            said.push(format!("{}: {}", f.operation, out.evidence));
            if out.status != CheckStatus::Pass {
                let why = format!("{}: {}: {}", f.operation, out.status.as_str(), out.evidence);
                self.observe(id, &name, was, None, "recover failed", &why)
                    .await?;
                return Ok(Some(why));
            }
        }
        self.observe(
            id,
            &name,
            Phase::Recovered,
            None,
            "recovered",
            &said.join("\n"),
        )
        .await?;
        Ok(None)
    }

    /// Records check results as timeline events `what`, one per check (the journal's steady
    /// states are read from them).
    async fn checked(
        &self,
        id: i64,
        what: &'static str,
        results: &[CheckResult],
    ) -> Result<(), Error> {
        let rows: Vec<String> = results.iter().map(journal::check_event).collect();
        self.store
            .run(move |c| {
                crate::store::write(c, |c| {
                    rows.iter()
                        .try_for_each(|r| store::event(c, id, None, what, r))
                })
            })
            .await?;
        Ok(())
    }

    async fn observe(
        &self,
        id: i64,
        target: &str,
        phase: Phase,
        attempt: Option<Phase>,
        what: &'static str,
        evidence: &str,
    ) -> Result<(), Error> {
        let (target, evidence) = (target.to_string(), evidence.to_string());
        self.store
            .run(move |c| store::observe(c, id, &target, phase, attempt, (what, &evidence)))
            .await?;
        Ok(())
    }
}

/// A target that failed, and why.
type Failure = Option<(String, String)>;
