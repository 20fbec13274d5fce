//! The monitor scheduler: claim due monitors by lease, send them to pageinspect in batches,
//! record results in batches.
//!
//! Every replica runs one. Leases make each due run happen once across replicas. A lease is
//! short (`scheduler.lease_seconds`) and renewed by its owner while the probe is out, so a
//! replica that dies leaves leases that expire within seconds; another replica then claims
//! those monitors, logs the takeover and counts it (`has_scheduler_lease_takeovers_total`).
//! Failures to reach pageinspect are recorded as `executor_unavailable` (never as the page
//! being down) and counted in `has_controllermanager_failure_total`.
//!
//! A batch waits here for room among the probes out to its location's pageinspect
//! (`scheduler.max_probes_in_flight`) rather than send what pageinspect would refuse. A 429
//! that still comes (another replica shares that pageinspect) is retried after about its
//! Retry-After while the leases are held and renewed, so a run is late by the wait, counted as
//! lag from when it was due, and never moved off its monitor's interval grid: moving it would
//! shift every later run of that monitor too, and hide the delay from the lag metric.

use crate::config::DEFAULT_LOCATION;
use crate::config::SchedulerConfig;
use crate::engine::{Shutdown, stopped};
use crate::metrics::Metrics;
use crate::store::monitors::models::MonitorRow;
use crate::store::monitors::results;
use crate::store::monitors::results::Outcome;
use crate::store::{Store, leases, now_ms};
use shared::pageinspect_client::{ClientError, PageinspectClient};
use shared::probe::{FailureReason, ProbeResult};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tracing::Instrument;

pub struct Scheduler {
    store: Store,
    /// One client per location; `default` always exists.
    clients: BTreeMap<String, PageinspectClient>,
    metrics: Metrics,
    config: SchedulerConfig,
    /// This replica's name in leases and logs, the one every engine of the replica uses.
    owner: String,
    /// Monitors claimed and not yet recorded or given back: the leases to renew.
    leased: Mutex<HashSet<i64>>,
    /// Room for probes out to each location's pageinspect.
    room: BTreeMap<String, Arc<Semaphore>>,
}

/// How often a batch pageinspect answers 429 is sent again before its monitors are given back
/// (still due, on their grid).
const BUSY_RETRIES: u32 = 5;

impl Scheduler {
    pub fn new(
        store: Store,
        clients: BTreeMap<String, PageinspectClient>,
        metrics: Metrics,
        config: SchedulerConfig,
        owner: String,
    ) -> Self {
        let room = clients
            .keys()
            .map(|l| {
                (
                    l.clone(),
                    Arc::new(Semaphore::new(config.max_probes_in_flight)),
                )
            })
            .collect();
        Self {
            store,
            clients,
            metrics,
            config,
            owner,
            leased: Mutex::new(HashSet::new()),
            room,
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease_seconds * 1000).unwrap_or(i64::MAX / 2)
    }

    fn leased(&self) -> Vec<i64> {
        self.leased
            .lock()
            .map(|l| l.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Renews the leases of the monitors in flight every third of the lease, until aborted.
    async fn renew_leases(self: Arc<Self>) {
        let every = Duration::from_millis(u64::try_from(self.lease_ms() / 3).unwrap_or(1_000));
        loop {
            tokio::time::sleep(every).await;
            let ids = self.leased();
            if ids.is_empty() {
                continue;
            }
            let (owner, until) = (self.owner.clone(), now_ms() + self.lease_ms());
            if let Err(e) = self
                .store
                .run(move |c| leases::renew_monitors(c, &owner, &ids, until))
                .await
            {
                self.metrics.controllermanager_failure.inc();
                tracing::error!(
                    error = crate::engine::chain(e),
                    "renewing monitor leases failed"
                );
            }
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until `shutdown` flips, then waits for in-flight batches and drops its leases.
    pub async fn run(self, mut shutdown: Shutdown) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.config.max_in_flight));
        tracing::info!(replica = %this.owner, "scheduler started");
        let renewing = tokio::spawn(this.clone().renew_leases().in_current_span());
        let mut idle = false;
        loop {
            if idle {
                tokio::select! {
                    () = stopped(&mut shutdown) => break,
                    () = tokio::time::sleep(Duration::from_millis(this.config.tick_ms)) => {}
                }
            } else if *shutdown.borrow() {
                break;
            }
            let capacity = permits.available_permits() * this.config.batch_size;
            if capacity == 0 {
                // Wait for a batch to finish rather than spin.
                tokio::select! {
                    () = stopped(&mut shutdown) => break,
                    p = permits.clone().acquire_owned() => drop(p),
                }
                continue;
            }
            let limit = this.config.claim_limit.min(capacity as i64);
            let claimed = this.claim(limit).await;
            idle = (claimed.len() as i64) < limit;
            for chunk in claimed.chunks(this.config.batch_size) {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let me = this.clone();
                let chunk = chunk.to_vec();
                tokio::spawn(
                    async move {
                        let ids: Vec<i64> = chunk.iter().map(|r| r.id).collect();
                        me.dispatch(chunk).await;
                        if let Ok(mut l) = me.leased.lock() {
                            for id in ids {
                                l.remove(&id);
                            }
                        }
                        drop(permit);
                    }
                    .in_current_span(),
                );
            }
        }
        // Let in-flight batches finish (each is bounded by its probes' timeouts).
        let all = u32::try_from(this.config.max_in_flight).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(Duration::from_secs(70), permits.acquire_many(all)).await;
        renewing.abort();
        let owner = this.owner.clone();
        if let Err(e) = this
            .store
            .run(move |c| leases::release_all(c, &owner))
            .await
        {
            tracing::warn!(
                error = crate::engine::chain(e),
                "could not release leases at shutdown"
            );
        }
        tracing::info!(replica = %this.owner, "scheduler stopped");
    }

    async fn claim(&self, limit: i64) -> Vec<MonitorRow> {
        let owner = self.owner.clone();
        let lease_ms = self.lease_ms();
        let now = now_ms();
        match self
            .store
            .run(move |c| leases::claim_due_monitors(c, &owner, now, limit, lease_ms))
            .await
        {
            Ok(claimed) => {
                self.took_over(&claimed);
                if let Ok(mut l) = self.leased.lock() {
                    l.extend(claimed.iter().map(|c| c.monitor.id));
                }
                claimed.into_iter().map(|c| c.monitor).collect()
            }
            Err(e) => {
                self.metrics.controllermanager_failure.inc();
                tracing::error!(
                    error = crate::engine::chain(e),
                    "claiming due monitors failed"
                );
                Vec::new()
            }
        }
    }

    /// Logs and counts the claimed monitors whose expired lease another owner held.
    fn took_over(&self, claimed: &[leases::Claimed]) {
        let mut from: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for c in claimed {
            if let Some(previous) = &c.previous_owner {
                from.entry(previous).or_default().push(c.monitor.id);
            }
        }
        for (previous, ids) in from {
            self.metrics.lease_takeovers.inc_by(ids.len() as u64);
            tracing::warn!(
                replica = %self.owner,
                previous_owner = %previous,
                monitors = ids.len(),
                ids = ?ids,
                "took over monitors whose lease expired (their replica stopped renewing it)"
            );
        }
    }

    #[tracing::instrument(skip_all, fields(batch.size = rows.len()))]
    async fn dispatch(&self, rows: Vec<MonitorRow>) {
        let _in_flight = InFlight::new(&self.metrics);
        let timer = self.metrics.dispatch_duration.start_timer();
        let specs: Vec<_> = rows.iter().map(MonitorRow::probe).collect();
        // Which rows each location probes: a monitor without locations uses the default.
        let mut plan: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            let mut locations = row.locations();
            if locations.is_empty() {
                locations.push(DEFAULT_LOCATION.to_string());
            }
            for l in locations {
                plan.entry(l).or_default().push(i);
            }
        }
        let calls = plan.iter().map(|(location, idx)| {
            let batch: Vec<_> = idx.iter().map(|&i| specs[i].clone()).collect();
            async move {
                let (sent_at, answer) = self.send(location, &batch).await;
                (location, idx, batch, sent_at, answer)
            }
        });
        let answers = futures::future::join_all(calls).await;
        if answers
            .iter()
            .any(|(_, _, _, _, a)| matches!(a, Err(ClientError::Busy(_))))
        {
            self.defer(&rows).await;
            return;
        }
        let mut per_row: Vec<Vec<ProbeResult>> = vec![Vec::new(); rows.len()];
        for (location, idx, batch, sent_at, answer) in answers {
            if let Ok(results) = &answer {
                for (&i, r) in idx.iter().zip(results) {
                    self.observe_lag(rows[i].next_run_at, sent_at, r);
                }
            } else {
                for &i in idx {
                    self.observe_lag_ms(sent_at - rows[i].next_run_at);
                }
            }
            let results = match answer {
                Ok(results) => results,
                Err(e) => {
                    self.metrics.controllermanager_failure.inc();
                    tracing::error!(
                        error = %e, location = %location,
                        "dispatch to pageinspect failed"
                    );
                    let why = e.to_string();
                    batch
                        .iter()
                        .map(|s| {
                            ProbeResult::failed(s, FailureReason::ExecutorUnavailable, why.clone())
                        })
                        .collect()
                }
            };
            for (i, mut r) in idx.iter().zip(results) {
                r.location = Some(location.clone());
                per_row[*i].push(r);
            }
        }
        let outcomes: Vec<Outcome> = rows
            .iter()
            .zip(per_row)
            .map(|(row, results)| Outcome {
                monitor_id: row.id,
                scheduled_at: row.next_run_at,
                results,
            })
            .collect();
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        for r in outcomes.iter().flat_map(|o| &o.results) {
            let label = match (r.success, r.failure_reason) {
                (true, _) => "success",
                (false, Some(FailureReason::ExecutorUnavailable)) => "executor_unavailable",
                (false, _) => "failure",
            };
            *counts.entry(label).or_default() += 1;
        }
        let owner = self.owner.clone();
        match self
            .store
            .run(move |c| results::record_batch(c, &owner, &outcomes))
            .await
        {
            Ok(rec) => {
                // Counted once stored: a lost write must not look like work done.
                for (label, n) in counts {
                    self.metrics
                        .probes_recorded
                        .with_label_values(&[label])
                        .inc_by(n);
                }
                if rec.stale > 0 {
                    self.metrics.leases_lost.inc_by(rec.stale as u64);
                    tracing::warn!(
                        stale = rec.stale,
                        "results dropped: lease taken over by another replica"
                    );
                }
            }
            Err(e) => {
                self.metrics.controllermanager_failure.inc();
                tracing::error!(
                    error = crate::engine::chain(e),
                    "recording probe results failed; the run is due again now"
                );
                // Give the monitors back at once rather than leaving them leased until expiry.
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let owner = self.owner.clone();
                if let Err(e) = self
                    .store
                    .run(move |c| leases::release(c, &owner, &ids))
                    .await
                {
                    tracing::error!(
                        error = crate::engine::chain(e),
                        "could not release the batch's leases"
                    );
                }
            }
        }
        timer.observe_duration();
    }

    /// Sends one location's share of a batch once there is room for it, again after each 429
    /// (up to [`BUSY_RETRIES`]). Returns when the answered request was sent, and the answer.
    async fn send(
        &self,
        location: &str,
        batch: &[shared::probe::ProbeSpec],
    ) -> (i64, Result<Vec<ProbeResult>, ClientError>) {
        let (Some(client), Some(room)) = (self.clients.get(location), self.room.get(location))
        else {
            let why = format!("no pageinspect is configured for location `{location}`");
            return (now_ms(), Err(ClientError::Unreachable(why)));
        };
        let wanted = batch.len().clamp(1, self.config.max_probes_in_flight);
        let _room = room
            .clone()
            .acquire_many_owned(u32::try_from(wanted).unwrap_or(u32::MAX))
            .await;
        let mut retries = 0;
        loop {
            let sent_at = now_ms();
            match client.batch(batch).await {
                Err(ClientError::Busy(after)) if retries < BUSY_RETRIES => {
                    retries += 1;
                    self.metrics.backoffs.inc();
                    tracing::warn!(
                        location,
                        retry_after_ms = after.as_millis() as u64,
                        "pageinspect busy; sending the batch again after its Retry-After"
                    );
                    // Spread over half to one and a half Retry-Afters: batches refused together
                    // would otherwise come back together and be refused together again.
                    tokio::time::sleep(after.mul_f64(rand::random_range(0.5..1.5))).await;
                }
                answer => return (sent_at, answer),
            }
        }
    }

    /// Observes how late a probe started after it was due: at the later of the moment its batch
    /// was sent and the moment pageinspect started its first attempt, so waiting for a batch
    /// slot here and for a probe slot in pageinspect both count (a pageinspect clock behind
    /// ours cannot hide the first).
    fn observe_lag(&self, due_ms: i64, sent_ms: i64, result: &ProbeResult) {
        let first = result.previous_attempts.first().unwrap_or(result);
        self.observe_lag_ms(sent_ms.max(first.started_at.timestamp_millis()) - due_ms);
    }

    fn observe_lag_ms(&self, lag_ms: i64) {
        self.metrics
            .scheduler_lag
            .observe(lag_ms.max(0) as f64 / 1000.0);
    }

    /// pageinspect stayed at its limit through every retry: give the batch back, still due at
    /// the time it was due, so the next claim takes it again. Not a failure of the page, nor of
    /// the dispatch.
    async fn defer(&self, rows: &[MonitorRow]) {
        tracing::warn!(
            monitors = rows.len(),
            "pageinspect still busy after {BUSY_RETRIES} retries; giving the batch back"
        );
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let owner = self.owner.clone();
        if let Err(e) = self
            .store
            .run(move |c| leases::release(c, &owner, &ids))
            .await
        {
            self.metrics.controllermanager_failure.inc();
            tracing::error!(error = crate::engine::chain(e), "could not defer batch");
        }
    }
}

/// Keeps `has_scheduler_in_flight_batches` right even when a dispatch returns early.
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.in_flight_batches.inc();
        Self(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight_batches.dec();
    }
}
