//! The one evaluator of checks ([`shared::check::Check`]): inspections, and later drills and
//! plans, hand their checks here and get a [`CheckOutcome`] back; none re-implements a kind.
//!
//! `fail` means the thing inspected is wrong; `error` that the check could not tell (source
//! down, timeout, bad query, pageinspect unreachable). Peers' bad answers end as `error`, never
//! as a panic.

mod command;
mod probe;
mod promql;
mod sql;

use crate::config::InspectionConfig;
use crate::engine::Error;
use crate::engine::executor::Executor;
use futures::stream::{BoxStream, StreamExt};
use shared::check::{Check, CheckOutcome};
use shared::outbound::Outbound;
use shared::pageinspect_client::PageinspectClient;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Slack on top of a check's own timeout before the evaluator gives up on it: each kind
/// enforces its timeout itself, this only bounds a peer that ignores it.
const GRACE: Duration = Duration::from_secs(2);

pub struct Checker {
    pageinspect: PageinspectClient,
    probe_batch_size: usize,
    prometheus: promql::Prometheus,
    sql: sql::Sources,
    /// Runs command checks, here or on their host: the process's one executor.
    executor: Arc<Executor>,
}

impl Checker {
    /// `outbound` builds the clients of the checks that call out themselves (PromQL);
    /// `executor` runs the command checks (its allow-lists are `inspection.commands` and each
    /// host's `commands`).
    pub fn new(
        config: &InspectionConfig,
        pageinspect: PageinspectClient,
        outbound: &Outbound,
        executor: Arc<Executor>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pageinspect,
            probe_batch_size: config.probe_batch_size.max(1),
            prometheus: promql::Prometheus::new(&config.prometheus, outbound)?,
            sql: sql::Sources::new(&config.datasources),
            executor,
        })
    }

    /// Validates `check` and that what it names is configured; errors name the parameter as
    /// `{prefix}field`.
    pub fn validate(&self, check: &Check, prefix: &str) -> Result<(), Error> {
        check.validate(prefix)?;
        let field = |name: &str| format!("{prefix}{name}");
        match check {
            Check::Probe(_) => Ok(()),
            Check::Promql(p) => self.prometheus.knows(&p.source, &field("source")),
            Check::Sql(s) => self.sql.knows(&s.source, &field("source")),
            Check::Command(c) => self.executor.validate_argv(&c.action(), prefix),
        }
    }

    /// Evaluates `checks`, yielding `(index into checks, outcome)` as each completes. At most
    /// `concurrency` checks are in progress at once, page probes included: they go to
    /// pageinspect in batches of at most `probe_batch_size` and `concurrency`, and a batch holds
    /// one of the `concurrency` permits per probe, so targets never see more at once.
    pub fn evaluate_all(
        self: &Arc<Self>,
        checks: Vec<Check>,
        concurrency: usize,
    ) -> BoxStream<'static, (usize, CheckOutcome)> {
        type Unit = (
            u32,
            futures::future::BoxFuture<'static, Vec<(usize, CheckOutcome)>>,
        );
        let limit = concurrency.max(1);
        let mut probes = Vec::new();
        let mut units: Vec<Unit> = Vec::new();
        for (i, check) in checks.into_iter().enumerate() {
            if let Err(e) = self.validate(&check, "") {
                let out = refused(&e);
                units.push((0, Box::pin(async move { vec![(i, out)] })));
                continue;
            }
            match check {
                Check::Probe(spec) => probes.push((i, spec)),
                other => {
                    let me = Arc::clone(self);
                    units.push((1, Box::pin(async move { vec![(i, me.run(&other).await)] })));
                }
            }
        }
        // pageinspect runs a batch's probes at once: a batch holds a permit per probe.
        for chunk in probes.chunks(self.probe_batch_size.min(limit)) {
            let (idx, specs): (Vec<usize>, Vec<_>) = chunk.iter().cloned().unzip();
            let me = Arc::clone(self);
            let weight = u32::try_from(specs.len()).unwrap_or(u32::MAX);
            units.push((
                weight,
                Box::pin(async move {
                    let outs = probe::run_batch(&me.pageinspect, &specs).await;
                    idx.into_iter().zip(outs).collect()
                }),
            ));
        }
        let permits = Arc::new(tokio::sync::Semaphore::new(limit));
        futures::stream::iter(units)
            .map(move |(weight, unit)| {
                let permits = Arc::clone(&permits);
                async move {
                    // Never closed, so acquiring only waits.
                    let _held = permits.acquire_many_owned(weight).await.ok();
                    unit.await
                }
            })
            .buffer_unordered(limit)
            .flat_map(futures::stream::iter)
            .boxed()
    }

    /// Evaluates one check (validating it first: an invalid check is an `error`).
    pub async fn evaluate(&self, check: &Check) -> CheckOutcome {
        if let Err(e) = self.validate(check, "") {
            return refused(&e);
        }
        self.run(check).await
    }

    /// Runs a validated check, timing it.
    async fn run(&self, check: &Check) -> CheckOutcome {
        let started = Instant::now();
        let limit = Duration::from_millis(check.timeout_ms()) + GRACE;
        let work = async {
            match check {
                Check::Probe(spec) => {
                    probe::run_batch(&self.pageinspect, std::slice::from_ref(spec))
                        .await
                        .pop()
                        .unwrap_or_else(|| {
                            CheckOutcome::error("executor unavailable: no result", 0)
                        })
                }
                Check::Promql(p) => self.prometheus.evaluate(p).await,
                Check::Sql(s) => self.sql.evaluate(s).await,
                Check::Command(c) => command::evaluate(&self.executor, c).await,
            }
        };
        let mut out = match tokio::time::timeout(limit, work).await {
            Ok(out) => out,
            Err(_) => CheckOutcome::error(format!("timed out after {} ms", check.timeout_ms()), 0),
        };
        // Probes report pageinspect's own timing; the rest are timed here.
        if !matches!(check, Check::Probe(_)) || out.duration_ms == 0 {
            out.duration_ms = elapsed_ms(started);
        }
        out
    }
}

/// An invalid check's outcome: `error`, saying which parameter is wrong and why.
fn refused(e: &Error) -> CheckOutcome {
    match e.parts() {
        (Some(field), detail) => CheckOutcome::error(format!("{field}: {detail}"), 0),
        (None, detail) => CheckOutcome::error(detail, 0),
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
