//! What the handlers share: the probe context, the metrics and the in-flight limiter.

use crate::browser::BrowserPool;
use crate::config::PageinspectConfig;
use crate::metrics::Metrics;
use crate::probers::{ProbeContext, tls::TlsConnectors};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub struct AppState {
    pub ctx: Arc<ProbeContext>,
    pub metrics: Arc<Metrics>,
    /// One permit per probe in flight, across all requests.
    pub limiter: Arc<Semaphore>,
    pub max_concurrency: usize,
    pub max_batch: usize,
    /// The runtime probes run on (the multi-threaded one of `main`), so they spread over all
    /// cores rather than the actix worker that received the request.
    pub runtime: tokio::runtime::Handle,
    pub location: String,
}

impl AppState {
    pub fn new(config: &PageinspectConfig) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new()?);
        let egress = config
            .egress
            .guard()?
            .with_resolver(config.resolver.resolver()?);
        let browser = config
            .browser
            .enabled
            .then(|| BrowserPool::new(config.browser.clone(), metrics.clone(), egress.clone()))
            .transpose()?;
        let ctx = ProbeContext {
            tls: TlsConnectors::new()?,
            max_body_bytes: config.probe.max_body_bytes,
            user_agent: config.probe.default_user_agent.clone(),
            egress,
            browser,
        };
        Ok(Self {
            ctx: Arc::new(ctx),
            metrics,
            limiter: Arc::new(Semaphore::new(config.probe.max_concurrency)),
            max_concurrency: config.probe.max_concurrency,
            max_batch: config.probe.max_batch,
            runtime: tokio::runtime::Handle::current(),
            location: config.location.clone(),
        })
    }

    /// Whether a new probe would be accepted right now.
    pub fn accepting(&self) -> bool {
        self.limiter.available_permits() > 0
    }
}
