//! Building and running acmangkut: the HTTP server and its background engines, exactly as
//! `main` runs them and as tests start them on port 0.

use crate::api;
use crate::config::Config;
use crate::engine::metric_log;
use crate::engine::monitors::{retention, scheduler::Scheduler};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::store::Store;
use crate::ui;
use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{App, web};
use futures::FutureExt;
use shared::outbound::Outbound;
use shared::pageinspect_client::PageinspectClient;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Application {
    port: u16,
    server: Server,
    handle: Handle,
    state: AppState,
    replica: String,
}

/// Stops a running [`Application`]: gracefully (leases released) or as a crash would.
#[derive(Clone)]
pub struct Handle {
    server: ServerHandle,
    shutdown: Arc<watch::Sender<bool>>,
    engines: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Handle {
    /// Graceful stop: engines finish their batches and release their leases.
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        self.server.stop(true).await;
    }

    /// As if the process died: engines are aborted mid-flight, leases are left to expire.
    pub async fn kill(&self) {
        if let Ok(mut engines) = self.engines.lock() {
            for e in engines.drain(..) {
                e.abort();
            }
        }
        self.server.stop(false).await;
    }
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Also when the config was not loaded from a file (tests, embedders).
        config.iam.check_public_url()?;
        let db = config.database.clone();
        let store = tokio::task::spawn_blocking(move || {
            Store::open(db.url.expose(), db.pool_size, db.busy_timeout_ms)
        })
        .await??;
        let metrics = Metrics::new();
        let listener = TcpListener::bind(&config.server.listen).map_err(|e| {
            anyhow::anyhow!(
                "config key `server.listen`: cannot bind {}: {e}",
                config.server.listen
            )
        })?;
        let port = listener.local_addr()?.port();
        // Every client acmangkut makes: marked, and never to this listener.
        let outbound =
            Outbound::new("acmangkut", &config.outbound).listening_on(listener.local_addr()?);
        let iam = crate::iam::Iam::new(
            config.iam.clone(),
            metrics.clone(),
            store.clone(),
            &outbound,
        )?;
        let config = Arc::new(config);
        let credential = pageinspect_credential(&config, &iam);
        // The one executor: plan and drill actions and command checks, so each host's slots
        // are shared by all of them.
        let executor = Arc::new(crate::engine::executor::Executor::new(
            &config.inspection,
            &config.executor,
            &outbound,
        )?);
        let checker = Arc::new(crate::engine::checks::Checker::new(
            &config.inspection,
            PageinspectClient::with_credential(
                &config.pageinspect.url,
                credential.clone(),
                &outbound,
            )?,
            &outbound,
            executor.clone(),
        )?);
        store
            .run(crate::store::inspection::plugins::seed_builtins)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the built-in inspection plugins: {e}"))?;
        if config.plans.builtin_faults {
            let created = store
                .run(crate::engine::operations::builtin::seed)
                .await
                .map_err(|e| anyhow::anyhow!("publishing the built-in fault operations: {e}"))?;
            if !created.is_empty() {
                tracing::info!(count = created.len(), "built-in fault operations published");
            }
        }
        let state = AppState {
            store: store.clone(),
            metrics: metrics.clone(),
            config: config.clone(),
            iam: iam.clone(),
            checker: checker.clone(),
            executor: executor.clone(),
        };
        if !config.config.apply_dir.is_empty() {
            apply_config_dir(&state, &config.config.apply_dir).await?;
        }
        let server = http_server(listener, state.clone(), &config)?;

        let (tx, rx) = watch::channel(false);
        let mut engines = Vec::new();
        // One name for this replica in every engine's leases and logs.
        let replica = replica_name(&config.scheduler.replica_id);
        if config.inspection.enabled {
            let inspector = crate::engine::inspection::Inspector::new(
                store.clone(),
                checker.clone(),
                config.inspection.clone(),
                metrics.clone(),
                replica.clone(),
                config.iam.public_url.clone(),
                crate::engine::notify::Sender::new(&outbound)?,
            );
            engines.push(tokio::spawn(Arc::new(inspector).run(rx.clone())));
        }
        if config.plans.enabled {
            let settings = crate::engine::plans::executions::Settings {
                lease_ms: i64::try_from(config.plans.lease_seconds.saturating_mul(1000))
                    .unwrap_or(i64::MAX / 4),
                tick_ms: config.plans.tick_ms,
                max_executions: config.plans.max_executions,
                // A single SQLite replica that starts owns every execution, whichever name
                // (random by default) it had before: no waiting for the old leases.
                sole_replica: store.backend() == crate::store::Backend::Sqlite,
            };
            let driver = crate::engine::plans::executions::Driver::new(
                store.clone(),
                (
                    executor.clone(),
                    checker.clone(),
                    crate::engine::notify::Sender::new(&outbound)?,
                ),
                metrics.clone(),
                replica.clone(),
                settings,
            );
            engines.push(tokio::spawn(Arc::new(driver).run(rx.clone())));
        }
        if config.drills.enabled {
            let settings = crate::engine::drills::reconcile::Settings {
                lease_ms: i64::try_from(config.drills.lease_seconds.saturating_mul(1000))
                    .unwrap_or(i64::MAX / 4),
                tick_ms: config.drills.tick_ms,
                max_runs: config.drills.max_runs,
                sole_replica: store.backend() == crate::store::Backend::Sqlite,
            };
            let driver = crate::engine::drills::reconcile::Driver::new(
                store.clone(),
                (executor.clone(), checker.clone()),
                metrics.clone(),
                replica.clone(),
                settings,
            );
            engines.push(tokio::spawn(Arc::new(driver).run(rx.clone())));
        }
        if config.scheduler.enabled {
            let mut clients = std::collections::BTreeMap::new();
            for (location, url) in config.pageinspect.endpoints() {
                let client =
                    PageinspectClient::with_credential(&url, credential.clone(), &outbound)?;
                clients.insert(location, client);
            }
            let scheduler = Scheduler::new(
                store.clone(),
                clients,
                metrics.clone(),
                config.scheduler.clone(),
                replica.clone(),
            );
            engines.push(tokio::spawn(scheduler.run(rx.clone())));
        }
        engines.push(tokio::spawn(iam.run(rx.clone())));
        engines.push(tokio::spawn(retention::run(
            store.clone(),
            config.retention.clone(),
            metrics.clone(),
            rx.clone(),
        )));
        if !config.metric_log.dir.as_os_str().is_empty() {
            engines.push(tokio::spawn(metric_log::run(
                config.metric_log.dir.clone(),
                Duration::from_secs(config.metric_log.interval_seconds),
                metrics.clone(),
                rx,
            )));
        }
        let handle = Handle {
            server: server.handle(),
            shutdown: Arc::new(tx),
            engines: Arc::new(std::sync::Mutex::new(engines)),
        };
        tracing::info!(port, backend = ?store.backend(), "acmangkut listening");
        Ok(Self {
            port,
            server,
            handle,
            state,
            replica,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// This replica's name: the owner of its leases, as its engines and logs show it.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Serves until stopped (signal or [`Handle`]), then stops the engines and waits for them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let _ = self.handle.shutdown.send(true);
        let engines: Vec<JoinHandle<()>> = self
            .handle
            .engines
            .lock()
            .map(|mut e| e.drain(..).collect())
            .unwrap_or_default();
        for e in engines {
            let _ = e.await;
        }
        result
    }
}

/// This replica's name: `replica_id` when configured (stable across restarts, so a restarted
/// replica recognises its own runs), else hostname plus a random suffix. Generated once per
/// process, here, and handed to every engine.
fn replica_name(replica_id: &str) -> String {
    if replica_id.is_empty() {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "acmangkut".into());
        format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    } else {
        replica_id.to_string()
    }
}

/// What the scheduler presents to pageinspect: a client-credentials token of `iam.oidc`'s
/// client when `pageinspect.oidc_resource` is set (never fetched while IAM is degraded;
/// `pageinspect.token` as the fallback), else `pageinspect.token`, else nothing.
fn pageinspect_credential(
    config: &Config,
    iam: &crate::iam::Iam,
) -> shared::pageinspect_client::Credential {
    use shared::pageinspect_client::{Credential, ServiceTokens};
    let token = config.pageinspect.token.clone();
    match (&config.pageinspect.oidc_resource, iam.oidc()) {
        (Some(resource), Some(provider)) => {
            let iam = iam.clone();
            Credential::ClientCredentials(
                ServiceTokens::new(provider.client().clone(), resource.clone())
                    .with_fallback(token)
                    .with_offline(move || iam.degraded()),
            )
        }
        _ => token.map_or(Credential::None, Credential::Token),
    }
}

fn http_server(listener: TcpListener, state: AppState, config: &Config) -> std::io::Result<Server> {
    let iam = state.iam.clone();
    let data = web::Data::new(state);
    let limit = config.server.max_body_bytes;
    let workers = Some(config.server.workers);
    shared::serve::serve(listener, workers, Duration::from_secs(10), move || {
        App::new()
            .wrap_fn(|req, srv| {
                let (method, path) = (req.method().clone(), req.path().to_string());
                let started = std::time::Instant::now();
                srv.call(req).map(move |res| {
                    if let Ok(r) = &res {
                        tracing::debug!(
                            http.method = %method,
                            http.path = %path,
                            http.status = r.status().as_u16(),
                            duration_ms = started.elapsed().as_millis() as u64, "request"
                        );
                    }
                    res
                })
            })
            .wrap(actix_web::middleware::from_fn(
                crate::iam::authn::middleware,
            ))
            .wrap(actix_web::middleware::from_fn(ui::refusals::middleware))
            .wrap(actix_web::middleware::from_fn(api::refuse_nul))
            .app_data(data.clone())
            .app_data(iam.clone())
            .app_data(shared::extract::JsonLimit(limit))
            // The console's forms read raw bodies too: the same limit, not actix's 256 KiB.
            .app_data(web::PayloadConfig::new(limit))
            .configure(api::configure)
            .configure(ui::configure)
            .default_service(web::to(api::not_found))
    })
}

/// `config.apply_dir` (`engine::config::dir`), before the server answers. Once more on a
/// conflict: a replica starting at the same time may have created the same objects first, and
/// the second attempt finds them (unchanged, or updated to this document).
async fn apply_config_dir(state: &AppState, dir: &str) -> anyhow::Result<()> {
    use crate::engine::config::dir;
    let path = std::path::PathBuf::from(dir);
    let docs = Arc::new(tokio::task::spawn_blocking(move || dir::read(&path)).await??);
    let mut retried = false;
    loop {
        let (docs, engines) = (docs.clone(), state.plan_context());
        match state
            .store
            .run(move |c| dir::apply(c, &engines, &docs))
            .await
        {
            Ok(results) => {
                let (mut created, mut updated, mut unchanged) = (0, 0, 0);
                for (c, u, n) in results.iter().map(|r| r.totals()) {
                    (created, updated, unchanged) = (created + c, updated + u, unchanged + n);
                }
                tracing::info!(
                    files = results.len(),
                    created,
                    updated,
                    unchanged,
                    "config.apply_dir applied"
                );
                return Ok(());
            }
            Err(e) if !retried && conflict(&e) => retried = true,
            Err(e) => return Err(dir::describe(&e)),
        }
    }
}

fn conflict(e: &crate::engine::Error) -> bool {
    use crate::engine::Error;
    match e {
        Error::At { inner, .. } => conflict(inner),
        Error::Store(crate::store::StoreError::Conflict(_)) => true,
        _ => false,
    }
}
