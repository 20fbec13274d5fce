//! The metrics pageinspect exports, owned by one struct with its own registry (not the global
//! one, so tests starting several applications in one process do not collide).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use shared::probe::{ProbeKind, ProbeResult};

pub struct Metrics {
    registry: Registry,
    probes_total: IntCounterVec,
    probe_failures_total: IntCounterVec,
    probe_duration_seconds: HistogramVec,
    probes_in_flight: IntGauge,
    batch_size: Histogram,
    browser_pool_browsers: IntGauge,
    browser_restarts_total: IntCounterVec,
    browser_pages_in_flight: IntGauge,
    browser_memory_bytes: IntGauge,
    browser_load_fallbacks_total: IntCounter,
    probe_attempts_total: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let probes_total = IntCounterVec::new(
            Opts::new(
                "has_probes_total",
                "Probes run, by kind and result (success|failure).",
            ),
            &["kind", "result"],
        )?;
        let probe_failures_total = IntCounterVec::new(
            Opts::new(
                "has_probe_failures_total",
                "Failed probes, by kind and failure reason.",
            ),
            &["kind", "reason"],
        )?;
        let probe_duration_seconds = HistogramVec::new(
            HistogramOpts::new("has_probe_duration_seconds", "Probe duration, end to end.")
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ]),
            &["kind"],
        )?;
        let probes_in_flight = IntGauge::new("has_probes_in_flight", "Probes running right now.")?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("has_probe_batch_size", "Probes per batch request.").buckets(vec![
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 256.0, 512.0, 1024.0,
            ]),
        )?;
        registry.register(Box::new(probes_total.clone()))?;
        registry.register(Box::new(probe_failures_total.clone()))?;
        registry.register(Box::new(probe_duration_seconds.clone()))?;
        registry.register(Box::new(probes_in_flight.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        let probe_attempts_total = IntCounterVec::new(
            Opts::new(
                "has_probe_attempts_total",
                "Probe attempts run (retries included), by kind and result (success|failure).",
            ),
            &["kind", "result"],
        )?;
        registry.register(Box::new(probe_attempts_total.clone()))?;
        let browser_pool_browsers = IntGauge::new(
            "has_browser_pool_browsers",
            "Headless Chromium processes in the browser pool.",
        )?;
        let browser_restarts_total = IntCounterVec::new(
            Opts::new(
                "has_browser_restarts_total",
                "Browsers replaced, by reason (crashed|hung|recycled).",
            ),
            &["reason"],
        )?;
        let browser_pages_in_flight = IntGauge::new(
            "has_browser_pages_in_flight",
            "Browser probes holding a page slot right now.",
        )?;
        let browser_memory_bytes = IntGauge::new(
            "has_browser_memory_bytes",
            "Resident memory of the browser pool's process trees (from /proc).",
        )?;
        registry.register(Box::new(browser_pool_browsers.clone()))?;
        registry.register(Box::new(browser_restarts_total.clone()))?;
        registry.register(Box::new(browser_pages_in_flight.clone()))?;
        registry.register(Box::new(browser_memory_bytes.clone()))?;
        let browser_load_fallbacks_total = IntCounter::new(
            "has_browser_load_fallbacks_total",
            "Page loads taken from the page's own state after 1 s without a DevTools load event.",
        )?;
        registry.register(Box::new(browser_load_fallbacks_total.clone()))?;
        for reason in ["crashed", "hung", "recycled"] {
            browser_restarts_total.with_label_values(&[reason]);
        }
        // Every kind shows up at zero before the first probe, so dashboards have a series.
        for kind in ProbeKind::ALL {
            for result in ["success", "failure"] {
                probes_total.with_label_values(&[kind.as_str(), result]);
            }
            probe_duration_seconds.with_label_values(&[kind.as_str()]);
        }
        Ok(Self {
            registry,
            probes_total,
            probe_failures_total,
            probe_duration_seconds,
            probes_in_flight,
            batch_size,
            browser_pool_browsers,
            browser_restarts_total,
            browser_pages_in_flight,
            browser_memory_bytes,
            browser_load_fallbacks_total,
            probe_attempts_total,
        })
    }

    pub fn probe_started(&self) {
        self.probes_in_flight.inc();
    }

    pub fn probe_finished(&self, result: &ProbeResult) {
        self.probes_in_flight.dec();
        let kind = result.kind.as_str();
        let outcome = if result.success { "success" } else { "failure" };
        self.probes_total.with_label_values(&[kind, outcome]).inc();
        if let Some(reason) = result.failure_reason {
            self.probe_failures_total
                .with_label_values(&[kind, reason.as_str()])
                .inc();
        }
        self.probe_duration_seconds
            .with_label_values(&[kind])
            .observe(result.duration_seconds);
    }

    /// One attempt of a probe finished (a probe with retries has several).
    pub fn attempt_finished(&self, attempt: &ProbeResult) {
        let outcome = if attempt.success {
            "success"
        } else {
            "failure"
        };
        self.probe_attempts_total
            .with_label_values(&[attempt.kind.as_str(), outcome])
            .inc();
    }

    pub fn set_browsers(&self, n: i64) {
        self.browser_pool_browsers.set(n);
    }

    pub fn browser_restarted(&self, reason: &str) {
        self.browser_restarts_total
            .with_label_values(&[reason])
            .inc();
    }

    pub fn browser_page_started(&self) {
        self.browser_pages_in_flight.inc();
    }

    pub fn browser_page_finished(&self) {
        self.browser_pages_in_flight.dec();
    }

    /// `n` loads of a probe's page were taken from the page after waiting for their event.
    pub fn browser_load_fallbacks(&self, n: u64) {
        self.browser_load_fallbacks_total.inc_by(n);
    }

    pub fn set_browser_memory_bytes(&self, bytes: i64) {
        self.browser_memory_bytes.set(bytes);
    }

    pub fn batch_received(&self, size: usize) {
        self.batch_size.observe(size as f64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
