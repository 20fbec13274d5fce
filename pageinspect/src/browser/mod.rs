//! The pool of headless Chromium processes that browser probes borrow pages from.
//!
//! `browser.pool_size` browsers, each serving at most `browser.max_concurrent_pages` probes at
//! once. A probe waits for a free page slot (within its own timeout), gets the least busy live
//! browser, and opens its page in a fresh browser context (cookies, storage and cache are not
//! shared between probes). Browsers start on first use.
//!
//! A browser is replaced, without failing probes on other browsers, when
//! - its DevTools connection closes (the process crashed or was killed): `crashed`;
//! - a cleanup call is not answered in time (the process hangs): `hung`;
//! - it has served `browser.recycle_after` probes, to bound memory: `recycled`.
//!
//! A replaced browser is killed once the last probe holding it lets go.

pub mod cdp;
mod instance;
pub mod memory;
pub mod proxy;

use crate::config::BrowserConfig;
use crate::egress::Guard;
use crate::metrics::Metrics;
use instance::Instance;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

pub use instance::{LaunchError, restart_for};

/// How often the pool's memory gauge is refreshed from /proc.
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_secs(2);

/// Why a browser was replaced; the `reason` label of `has_browser_restarts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Crashed,
    Hung,
    Recycled,
}

impl Restart {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crashed => "crashed",
            Self::Hung => "hung",
            Self::Recycled => "recycled",
        }
    }
}

pub struct BrowserPool {
    config: BrowserConfig,
    metrics: Arc<Metrics>,
    /// The egress guard each probe's proxy checks connections with.
    guard: Guard,
    /// The browsers' proxy outside any probe's context (what the default context loads).
    proxy: proxy::Proxy,
    slots: Vec<Slot>,
    /// One permit per page that may be open across the pool, so a probe holding one is sure to
    /// find a slot with a free page.
    pages: Arc<Semaphore>,
}

struct Slot {
    /// The browser in this slot; `None` until first use or after a failed launch.
    current: Mutex<Option<Arc<Instance>>>,
    pages: Arc<Semaphore>,
    in_use: AtomicUsize,
}

/// A page slot on a live browser, held by one probe. Dropping it frees the slot.
pub struct Lease {
    pub browser: Arc<Instance>,
    _count: LeaseCount,
    _slot_page: OwnedSemaphorePermit,
    _pool_page: OwnedSemaphorePermit,
}

/// Counts a slot's leases and the pool's pages in flight; decremented when a lease drops.
struct LeaseCount {
    pool: Arc<BrowserPool>,
    slot: usize,
}

impl Drop for LeaseCount {
    fn drop(&mut self) {
        if let Some(slot) = self.pool.slots.get(self.slot) {
            slot.in_use.fetch_sub(1, Ordering::Relaxed);
        }
        self.pool.metrics.browser_page_finished();
    }
}

impl Lease {
    /// Marks this lease's browser as broken, so the next probe on its slot starts a new one.
    pub fn browser_failed(&self, why: Restart) {
        self.browser.mark_broken(why);
    }
}

impl BrowserPool {
    /// A pool that starts its browsers on first use; also starts the memory sampler and the
    /// browsers' default proxy (see [`proxy`]).
    pub fn new(
        config: BrowserConfig,
        metrics: Arc<Metrics>,
        guard: Guard,
    ) -> std::io::Result<Arc<Self>> {
        let pages_per_browser = config.max_concurrent_pages;
        let slots = (0..config.pool_size)
            .map(|_| Slot {
                current: Mutex::new(None),
                pages: Arc::new(Semaphore::new(pages_per_browser)),
                in_use: AtomicUsize::new(0),
            })
            .collect();
        let pool = Arc::new(Self {
            pages: Arc::new(Semaphore::new(config.pool_size * pages_per_browser)),
            config,
            metrics,
            proxy: proxy::Proxy::start(guard.clone())?,
            guard,
            slots,
        });
        let weak = Arc::downgrade(&pool);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MEMORY_SAMPLE_INTERVAL);
            loop {
                tick.tick().await;
                let Some(pool) = weak.upgrade() else { break };
                pool.sample_memory().await;
            }
        });
        Ok(pool)
    }

    pub fn config(&self) -> &BrowserConfig {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A proxy for one probe's browser context, checking with the pool's guard.
    pub fn probe_proxy(&self) -> std::io::Result<proxy::Proxy> {
        proxy::Proxy::start(self.guard.clone())
    }

    /// Stops every browser now and removes its profile directory (at shutdown, so that a stop
    /// or restart leaves nothing behind in the temp directory).
    pub async fn shutdown(&self) {
        for slot in &self.slots {
            let browser = slot.current.lock().await.take();
            if let Some(browser) = browser {
                browser.stop().await;
            }
        }
        self.metrics.set_browsers(0);
    }

    /// Waits for a free page slot and returns it on a live browser, starting or replacing the
    /// browser of that slot when needed. The caller bounds the wait with its timeout.
    pub async fn acquire(self: &Arc<Self>) -> Result<Lease, LaunchError> {
        let pool_page = self
            .pages
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| LaunchError::new("the browser pool is closed"))?;
        let (index, slot_page) = loop {
            // Least busy slot first; the pool permit guarantees one has a free page.
            let mut order: Vec<usize> = (0..self.slots.len()).collect();
            order.sort_by_key(|&i| self.slots[i].in_use.load(Ordering::Relaxed));
            let found = order.into_iter().find_map(|i| {
                self.slots[i]
                    .pages
                    .clone()
                    .try_acquire_owned()
                    .ok()
                    .map(|p| (i, p))
            });
            if let Some(found) = found {
                break found;
            }
            tokio::task::yield_now().await;
        };
        let slot = &self.slots[index];
        slot.in_use.fetch_add(1, Ordering::Relaxed);
        self.metrics.browser_page_started();
        let count = LeaseCount {
            pool: self.clone(),
            slot: index,
        };
        // Started in a task of its own so that a probe timing out mid-launch does not leave a
        // half-started browser: the launch finishes and the slot keeps it.
        let pool = self.clone();
        let browser = tokio::spawn(async move { pool.live_browser(index).await })
            .await
            .map_err(|e| LaunchError::new(format!("browser launch task failed: {e}")))??;
        browser.served();
        Ok(Lease {
            browser,
            _count: count,
            _slot_page: slot_page,
            _pool_page: pool_page,
        })
    }

    /// The browser of slot `index`, started or replaced as needed.
    async fn live_browser(&self, index: usize) -> Result<Arc<Instance>, LaunchError> {
        let slot = &self.slots[index];
        let mut current = slot.current.lock().await;
        if let Some(browser) = current.as_ref() {
            let why = browser.broken().or_else(|| {
                (browser.probes_served() >= self.config.recycle_after).then_some(Restart::Recycled)
            });
            match why {
                None => return Ok(browser.clone()),
                Some(why) => {
                    tracing::info!(
                        slot = index,
                        pid = browser.pid(),
                        reason = why.as_str(),
                        probes_served = browser.probes_served(),
                        "replacing browser"
                    );
                    self.metrics.browser_restarted(why.as_str());
                    *current = None;
                    self.metrics
                        .set_browsers(self.live_count_except(index) as i64);
                }
            }
        }
        let browser = Arc::new(Instance::launch(&self.config, &self.proxy.url()).await?);
        tracing::info!(slot = index, pid = browser.pid(), "browser started");
        *current = Some(browser.clone());
        drop(current);
        self.metrics
            .set_browsers((self.live_count_except(index) + 1) as i64);
        Ok(browser)
    }

    /// Browsers in slots other than `index` (whose lock the caller holds).
    fn live_count_except(&self, index: usize) -> usize {
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .filter(|(_, s)| s.current.try_lock().map(|c| c.is_some()).unwrap_or(true))
            .count()
    }

    /// Process ids of the browsers now in the pool (tests kill one to check replacement).
    pub async fn pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for slot in &self.slots {
            if let Some(b) = slot.current.lock().await.as_ref() {
                pids.push(b.pid());
            }
        }
        pids
    }

    async fn sample_memory(&self) {
        let pids = self.pids().await;
        let bytes = tokio::task::spawn_blocking(move || memory::tree_rss_bytes(&pids))
            .await
            .unwrap_or(0);
        self.metrics
            .set_browser_memory_bytes(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}
