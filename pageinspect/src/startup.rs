//! Building and running the HTTP server; `main` and the tests start it the same way.

use crate::auth::Authenticator;
use crate::config::PageinspectConfig;
use crate::routes;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, web};
use anyhow::Context;
use shared::extract::JsonLimit;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A bound, not yet running, pageinspect server.
pub struct Application {
    local_addr: SocketAddr,
    server: Server,
    /// Stopped with the server, so that no browser or profile directory outlives pageinspect.
    browser: Option<std::sync::Arc<crate::browser::BrowserPool>>,
}

impl Application {
    /// Binds `server.listen` (port 0 picks a free port) and prepares the server. Must be called
    /// inside a tokio runtime: probes run on it.
    pub async fn build(config: PageinspectConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.server.listen)
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let local_addr = listener.local_addr()?;
        let state = web::Data::new(AppState::new(&config)?);
        let browser = state.ctx.browser.clone();
        // pageinspect's own clients (its OIDC client): marked, and never to its own address.
        let outbound = shared::outbound::Outbound::new("pageinspect", &Default::default())
            .listening_on(local_addr);
        let auth = Authenticator::from_config(&config.auth, &outbound)?;
        if config.auth.allow_anonymous {
            tracing::warn!(
                "auth.allow_anonymous = true: /api/ runs probes for callers without a credential; \
                 for local experiments only"
            );
        }
        if let Some(oidc) = auth.oidc().cloned() {
            // Keys fetched now let tokens verify while the provider is briefly down later.
            tokio::spawn(async move {
                if let Err(e) = oidc.refresh_keys().await {
                    tracing::warn!(
                        error = %e,
                        "cannot fetch the identity provider's keys yet; will retry on the first \
                         token"
                    );
                }
            });
        }
        let accepts = auth.describe();
        let auth = web::Data::new(auth);
        let limit = JsonLimit(config.server.max_request_bytes);
        // actix's default shutdown timeout (30 s), with over-long request heads answered as
        // problem+json (`shared::serve`).
        let server = shared::serve::serve(
            listener,
            config.server.workers,
            Duration::from_secs(30),
            move || {
                App::new()
                    .wrap(from_fn(access_log))
                    .app_data(state.clone())
                    .app_data(auth.clone())
                    .app_data(limit)
                    .configure(routes::configure)
            },
        )?;
        tracing::info!(
            listen = %local_addr,
            location = %config.location,
            max_concurrency = config.probe.max_concurrency,
            max_batch = config.probe.max_batch,
            auth = %accepts,
            "pageinspect listening"
        );
        Ok(Self {
            local_addr,
            server,
            browser,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to stop the server gracefully (`handle().stop(true)`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (a signal, or [`ServerHandle::stop`]), then stops
    /// the browsers and removes their profile directories.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(pool) = self.browser {
            pool.shutdown().await;
        }
        served
    }
}

/// Access log through tracing: method, path, status and duration; never bodies or headers.
async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let res = next.call(req).await;
    let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    match &res {
        Ok(r) => tracing::info!(
            target: "pageinspect::access",
            %method, %path, status = r.status().as_u16(), duration_ms, "request"
        ),
        Err(e) => tracing::warn!(
            target: "pageinspect::access",
            %method, %path, error = %e, duration_ms, "request failed"
        ),
    }
    res
}
