//! Identity and access: who is calling ([`authn`]), what they may do ([`permissions`],
//! [`guard`]), and the IAM emergency switch ([`switch`]).
//!
//! - [`authn`]: the middleware that turns a cookie or bearer token into a [`Principal`], and
//!   checks CSRF tokens of cookie-authenticated forms.
//! - [`guard`]: `Authorized<perm::X>`, the extractor that puts a handler's permission in its
//!   signature and is the only way for a handler to reach the application state.
//! - [`oidc`]: browser sign-in through the external provider and bearer JWTs.
//! - [`switch`]: `closeIam` / `openiam`, this instance's and the cluster's degrade switch.
//! - [`tokens`]: API tokens: checking and building a new one.
//! - [`audit`]: the audit log's query as callers write it.

pub mod accounts;
pub mod audit;
pub mod authn;
pub mod oidc;
pub mod permissions;
pub mod principal;
pub mod ratelimit;
pub mod secrets;
pub mod switch;
pub mod tokens;

pub use permissions::perm;
pub use principal::{Principal, Via};

use crate::config::IamConfig;
use crate::engine::{Shutdown, stopped};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::iam::access::AccessSnapshot;
use shared::ApiError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How stale the in-memory copy of roles and bindings may be. Changes made on this replica
/// apply at once; other replicas see them within this time.
const ACCESS_TTL: Duration = Duration::from_secs(2);

/// IAM state shared by every worker of one acmangkut instance.
#[derive(Clone)]
pub struct Iam {
    inner: Arc<Inner>,
}

struct Inner {
    config: IamConfig,
    access: RwLock<Option<(Instant, Arc<AccessSnapshot>)>>,
    /// This instance's switch (`closeIam`), as the original procedure expects per instance.
    local_degraded: AtomicBool,
    /// The cluster-wide switch, refreshed from the database.
    cluster_degraded: AtomicBool,
    limiter: ratelimit::SignInLimiter,
    /// Last use of API tokens, written to the database in batches.
    token_uses: Mutex<HashMap<i64, i64>>,
    /// When a bootstrap-token read was last audited, per peer address.
    bootstrap_reads: Mutex<HashMap<String, Instant>>,
    oidc: Option<oidc::Provider>,
    metrics: Metrics,
    /// Where users, sessions, tokens, roles and the audit trail are.
    store: Store,
}

impl Iam {
    pub fn new(
        config: IamConfig,
        metrics: Metrics,
        store: Store,
        outbound: &shared::outbound::Outbound,
    ) -> anyhow::Result<Self> {
        let oidc = config
            .oidc
            .clone()
            .map(|c| oidc::Provider::new(c, outbound))
            .transpose()?;
        let iam = Self {
            inner: Arc::new(Inner {
                limiter: ratelimit::SignInLimiter::new(
                    config.sign_in_per_account_per_minute,
                    config.sign_in_per_address_per_minute,
                ),
                local_degraded: AtomicBool::new(config.start_degraded),
                cluster_degraded: AtomicBool::new(false),
                config,
                access: RwLock::new(None),
                token_uses: Mutex::new(HashMap::new()),
                bootstrap_reads: Mutex::new(HashMap::new()),
                oidc,
                metrics,
                store,
            }),
        };
        iam.publish_degraded();
        Ok(iam)
    }

    pub fn config(&self) -> &IamConfig {
        &self.inner.config
    }

    pub fn oidc(&self) -> Option<&oidc::Provider> {
        self.inner.oidc.as_ref()
    }

    pub fn limiter(&self) -> &ratelimit::SignInLimiter {
        &self.inner.limiter
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Degraded: this instance's switch or the cluster-wide one is closed.
    pub fn degraded(&self) -> bool {
        self.local_degraded() || self.inner.cluster_degraded.load(Ordering::Relaxed)
    }

    pub fn local_degraded(&self) -> bool {
        self.inner.local_degraded.load(Ordering::Relaxed)
    }

    pub fn cluster_degraded(&self) -> bool {
        self.inner.cluster_degraded.load(Ordering::Relaxed)
    }

    /// Flips this instance's switch; answers the previous position.
    pub fn set_local_degraded(&self, degraded: bool) -> bool {
        let was = self.inner.local_degraded.swap(degraded, Ordering::Relaxed);
        self.publish_degraded();
        was
    }

    pub fn set_cluster_degraded(&self, degraded: bool) {
        self.inner
            .cluster_degraded
            .store(degraded, Ordering::Relaxed);
        self.publish_degraded();
    }

    fn publish_degraded(&self) {
        self.inner
            .metrics
            .iam_degraded
            .set(i64::from(self.degraded()));
    }

    /// Roles and bindings, at most [`ACCESS_TTL`] old.
    pub async fn access(&self) -> Result<Arc<AccessSnapshot>, ApiError> {
        if let Ok(guard) = self.inner.access.read()
            && let Some((at, snap)) = guard.as_ref()
            && at.elapsed() < ACCESS_TTL
        {
            return Ok(snap.clone());
        }
        let snap = Arc::new(self.inner.store.run(AccessSnapshot::load).await?);
        if let Ok(mut guard) = self.inner.access.write() {
            *guard = Some((Instant::now(), snap.clone()));
        }
        Ok(snap)
    }

    /// After a change to roles or bindings on this replica.
    pub fn invalidate_access(&self) {
        if let Ok(mut guard) = self.inner.access.write() {
            *guard = None;
        }
    }

    pub fn note_token_use(&self, token_id: i64) {
        if let Ok(mut uses) = self.inner.token_uses.lock() {
            uses.insert(token_id, crate::store::now_ms());
        }
    }

    /// Reads with the bootstrap token are audited once a minute per address (each write is
    /// audited with its change): true when this read should write an audit row.
    pub fn bootstrap_read_due(&self, peer: &str) -> bool {
        let Ok(mut seen) = self.inner.bootstrap_reads.lock() else {
            return true;
        };
        match seen.get(peer) {
            Some(at) if at.elapsed() < Duration::from_secs(60) => false,
            _ => {
                seen.insert(peer.to_string(), Instant::now());
                true
            }
        }
    }

    /// Housekeeping every two seconds: the cluster-wide switch, token last-use times, expired
    /// sessions and pending sign-ins, and the rate limiter's memory.
    pub async fn run(self, mut shutdown: Shutdown) {
        let store = self.inner.store.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut rounds: u64 = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stopped(&mut shutdown) => {
                    self.flush_token_uses(&store).await;
                    return;
                }
            }
            rounds += 1;
            match store
                .run(|c| crate::store::settings::get(c, crate::store::settings::IAM_DEGRADED))
                .await
            {
                Ok(v) => self.set_cluster_degraded(v.as_deref() == Some("true")),
                Err(e) => {
                    let error = format!("{:#}", anyhow::Error::from(e));
                    tracing::warn!(error, "cannot read the cluster-wide IAM switch")
                }
            }
            self.flush_token_uses(&store).await;
            // Keys fetched ahead of need, so that bearer tokens already issued still verify
            // from the cache if IAM is degraded before any token came along.
            if let Some(p) = self.oidc()
                && !self.degraded()
                && p.client().stats().cached_keys == 0
                && (rounds == 1 || rounds.is_multiple_of(15))
                && let Err(e) = p.client().refresh_keys().await
            {
                tracing::warn!(error = %e, "cannot fetch the identity provider's keys yet");
            }
            if rounds.is_multiple_of(30) {
                if let Err(e) = store.run(crate::store::iam::sessions::prune).await {
                    let error = format!("{:#}", anyhow::Error::from(e));
                    tracing::warn!(error, "cannot prune expired sessions");
                }
                self.inner.limiter.shrink();
            }
        }
    }

    async fn flush_token_uses(&self, store: &Store) {
        let used: Vec<(i64, i64)> = match self.inner.token_uses.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(_) => return,
        };
        if used.is_empty() {
            return;
        }
        if let Err(e) = store
            .run(move |c| crate::store::iam::tokens::touch(c, &used))
            .await
        {
            let error = format!("{:#}", anyhow::Error::from(e));
            tracing::warn!(error, "cannot record API token use");
        }
    }
}
