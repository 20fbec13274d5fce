//! acmangkut's Prometheus metrics, owned by one struct with its own registry.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Edges of `has_scheduler_lag_seconds`: fine below 1 s, so a p99 under the 1 s target is read
/// from an edge close to it rather than interpolated across a wide bucket.
pub const SCHEDULER_LAG_BUCKETS: [f64; 22] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.5, 2.0,
    3.0, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Every failed background job (dispatch to pageinspect, result write, claim, prune);
    /// mirrored once a minute to the `controllermanager.failure` metric log.
    pub controllermanager_failure: IntCounter,
    pub probes_recorded: IntCounterVec,
    pub scheduler_lag: Histogram,
    pub dispatch_duration: Histogram,
    pub backoffs: IntCounter,
    pub leases_lost: IntCounter,
    /// Monitors claimed whose lease another replica (or an earlier process) had let expire.
    pub lease_takeovers: IntCounter,
    pub pruned_rows: IntCounter,
    pub in_flight_batches: IntGauge,
    /// 1 while IAM is degraded on this instance (its switch or the cluster-wide one closed).
    pub iam_degraded: IntGauge,
    /// Sign-in attempts by outcome (`success`, `failure`, `rate_limited`).
    pub sign_ins: IntCounterVec,
    /// Inspection runs ended by this replica (completed or timed out).
    pub inspection_runs: IntCounter,
    /// The RTO of each plan execution that succeeded on this replica.
    pub plan_rto: Histogram,
    /// Succeeded executions whose RTO exceeded their plan's `rto_objective`.
    pub plan_rto_missed: IntCounter,
    /// Scheduled slots of plans skipped because an execution was active.
    pub plan_schedule_skipped: IntCounter,
    /// The execution engine's own time per plan step: from the step's dispatch (committed as
    /// running) to its outcome committed, minus the action's time and back-off.
    pub plan_step_overhead: Histogram,
    /// 1 while the drill safety lever is engaged (cluster-wide, read from the database).
    pub drill_safety_lever: IntGauge,
    /// Drill targets whose faults are (or may be) in place, cluster-wide.
    pub drill_faults_injected: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let controllermanager_failure = IntCounter::new(
            "has_controllermanager_failure_total",
            "Failed background jobs (dispatch, result write, claim, prune).",
        )
        .expect("valid metric");
        let probes_recorded = IntCounterVec::new(
            Opts::new(
                "has_scheduler_probes_total",
                "Probe results recorded, by outcome.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let scheduler_lag = Histogram::with_opts(
            HistogramOpts::new(
                "has_scheduler_lag_seconds",
                "Delay between a probe being due and the probe starting.",
            )
            .buckets(SCHEDULER_LAG_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let dispatch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "has_scheduler_dispatch_seconds",
                "Time for one batch: probe and record.",
            )
            .buckets(vec![
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
        )
        .expect("valid metric");
        let backoffs = IntCounter::new(
            "has_scheduler_backoffs_total",
            "Batches deferred because pageinspect answered 429.",
        )
        .expect("valid metric");
        let leases_lost = IntCounter::new(
            "has_scheduler_leases_lost_total",
            "Results dropped because another replica had taken over the lease.",
        )
        .expect("valid metric");
        let lease_takeovers = IntCounter::new(
            "has_scheduler_lease_takeovers_total",
            "Monitors claimed after the lease of the replica that held them expired.",
        )
        .expect("valid metric");
        let pruned_rows = IntCounter::new(
            "has_retention_pruned_rows_total",
            "Rows deleted by retention.",
        )
        .expect("valid metric");
        let in_flight_batches = IntGauge::new(
            "has_scheduler_in_flight_batches",
            "Batches being probed now.",
        )
        .expect("valid metric");
        let iam_degraded = IntGauge::new(
            "has_iam_degraded",
            "1 while the IAM emergency switch is closed (no calls to the identity provider).",
        )
        .expect("valid metric");
        let sign_ins = IntCounterVec::new(
            Opts::new("has_sign_ins_total", "Sign-in attempts, by outcome."),
            &["outcome"],
        )
        .expect("valid metric");
        let inspection_runs = IntCounter::new(
            "has_inspection_runs_total",
            "Inspection runs this replica carried to their end.",
        )
        .expect("valid metric");
        let plan_rto = Histogram::with_opts(
            HistogramOpts::new(
                "has_plan_execution_rto_seconds",
                "Recovery time of succeeded plan executions: start to the last step's success.",
            )
            .buckets(vec![
                1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0,
            ]),
        )
        .expect("valid metric");
        let plan_rto_missed = IntCounter::new(
            "has_plan_rto_objective_missed_total",
            "Succeeded plan executions whose RTO exceeded the plan's rto_objective.",
        )
        .expect("valid metric");
        let plan_schedule_skipped = IntCounter::new(
            "has_plan_schedule_skipped_total",
            "Scheduled plan slots skipped because the plan had an active execution.",
        )
        .expect("valid metric");
        let plan_step_overhead = Histogram::with_opts(
            HistogramOpts::new(
                "has_plan_step_overhead_seconds",
                "Execution engine time per plan step: dispatch to outcome committed, minus the \
                 action's own time.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
                2.5, 5.0,
            ]),
        )
        .expect("valid metric");
        let drill_safety_lever = IntGauge::new(
            "has_drill_safety_lever",
            "1 while the drill safety lever is engaged: running drills stopped, none may start.",
        )
        .expect("valid metric");
        let drill_faults_injected = IntGauge::new(
            "has_drill_faults_injected",
            "Drill targets whose faults are in place or not yet known to be recovered.",
        )
        .expect("valid metric");
        for c in [
            Box::new(drill_safety_lever.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(drill_faults_injected.clone()),
            Box::new(plan_step_overhead.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(inspection_runs.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(plan_rto.clone()),
            Box::new(plan_rto_missed.clone()),
            Box::new(plan_schedule_skipped.clone()),
            Box::new(controllermanager_failure.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(probes_recorded.clone()),
            Box::new(scheduler_lag.clone()),
            Box::new(dispatch_duration.clone()),
            Box::new(backoffs.clone()),
            Box::new(leases_lost.clone()),
            Box::new(lease_takeovers.clone()),
            Box::new(pruned_rows.clone()),
            Box::new(in_flight_batches.clone()),
            Box::new(iam_degraded.clone()),
            Box::new(sign_ins.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            controllermanager_failure,
            probes_recorded,
            scheduler_lag,
            dispatch_duration,
            backoffs,
            leases_lost,
            lease_takeovers,
            pruned_rows,
            in_flight_batches,
            iam_degraded,
            sign_ins,
            inspection_runs,
            plan_rto,
            plan_rto_missed,
            plan_schedule_skipped,
            plan_step_overhead,
            drill_safety_lever,
            drill_faults_injected,
        }
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Below the 1 s target the lag buckets are at most 0.15 s wide, and each edge is exported.
    #[test]
    fn scheduler_lag_has_fine_buckets_below_one_second() {
        let m = Metrics::new();
        let below: Vec<f64> = SCHEDULER_LAG_BUCKETS
            .iter()
            .copied()
            .filter(|&e| e <= 1.0)
            .collect();
        assert!(below.len() >= 14, "{below:?}");
        assert_eq!(below.last(), Some(&1.0));
        for pair in below.windows(2) {
            assert!(pair[1] - pair[0] <= 0.15 + 1e-9, "{pair:?}");
        }
        m.scheduler_lag.observe(0.33);
        let text = m.render();
        for le in [
            "0.005", "0.25", "0.3", "0.4", "0.5", "0.6", "0.75", "0.9", "1", "1.5",
        ] {
            let line = format!("has_scheduler_lag_seconds_bucket{{le=\"{le}\"}}");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        // A lag of 0.33 s is counted from the 0.4 s edge on, not only from 0.5 s.
        assert!(
            text.contains("has_scheduler_lag_seconds_bucket{le=\"0.3\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("has_scheduler_lag_seconds_bucket{le=\"0.4\"} 1\n"),
            "{text}"
        );
    }
}
