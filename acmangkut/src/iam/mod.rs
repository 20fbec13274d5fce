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
use crate::store::iam::tokens::{TokenRow, find as find_token};
use crate::store::iam::users::UserRow;
use shared::ApiError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How stale the in-memory copy of roles and bindings, and of the API tokens found in the
/// database, may be. Changes made on this replica apply at once; other replicas see them within
/// this time (a token revoked on one replica is refused by every other within 2 s).
pub const ACCESS_TTL: Duration = Duration::from_secs(2);

/// Most API tokens kept in memory at once; the cache starts over when it is full.
const TOKEN_CACHE_MAX: usize = 10_000;

/// A live API token and its owner, as [`crate::store::iam::tokens::find`] answers them.
pub type FoundToken = Arc<(TokenRow, UserRow)>;

/// API tokens found in the database, by the hash of their secret, with when they were read.
/// Only live tokens are kept (an unknown token is looked up every time, so one created on
/// another replica works at once). `generation` moves on every invalidation, so a lookup that
/// began before a revocation on this replica does not put the revoked token back.
#[derive(Default)]
struct TokenCache {
    generation: u64,
    found: HashMap<String, (Instant, FoundToken)>,
}

/// IAM state shared by every worker of one acmangkut instance.
#[derive(Clone)]
pub struct Iam {
    inner: Arc<Inner>,
}

struct Inner {
    config: IamConfig,
    access: RwLock<Option<(Instant, Arc<AccessSnapshot>)>>,
    tokens: RwLock<TokenCache>,
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
                tokens: RwLock::new(TokenCache::default()),
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

    /// After a change to roles, bindings, users or API tokens on this replica: the next
    /// request reads them from the database.
    pub fn invalidate_access(&self) {
        if let Ok(mut guard) = self.inner.access.write() {
            *guard = None;
        }
        if let Ok(mut cache) = self.inner.tokens.write() {
            cache.generation += 1;
            cache.found.clear();
        }
    }

    /// The live API token whose secret hashes to `hash`, and its owner: read from the database
    /// at most [`ACCESS_TTL`] ago (its expiry is compared with the clock on every call). An
    /// API client sends the same token on every request, and on PostgreSQL its lookup is one
    /// more round trip per request.
    pub async fn api_token(&self, hash: String) -> Result<Option<FoundToken>, ApiError> {
        let generation = match self.inner.tokens.read() {
            Ok(cache) => {
                if let Some((at, found)) = cache.found.get(&hash)
                    && at.elapsed() < ACCESS_TTL
                    && found.0.expires_at > crate::store::now_ms()
                {
                    return Ok(Some(found.clone()));
                }
                cache.generation
            }
            Err(_) => u64::MAX,
        };
        let key = hash.clone();
        let found = self
            .inner
            .store
            .run(move |c| find_token(c, &key))
            .await?
            .map(Arc::new);
        if let Ok(mut cache) = self.inner.tokens.write() {
            match &found {
                Some(f) if cache.generation == generation => {
                    if cache.found.len() >= TOKEN_CACHE_MAX {
                        cache.found.clear();
                    }
                    cache.found.insert(hash, (Instant::now(), f.clone()));
                }
                _ => {
                    cache.found.remove(&hash);
                }
            }
        }
        Ok(found)
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
