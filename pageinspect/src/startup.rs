//! Building and running the HTTP server; `main` and the tests start it the same way.

use crate::auth::ServiceToken;
use crate::config::PageinspectConfig;
use crate::routes;
use crate::state::AppState;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use shared::extract::JsonLimit;
use std::net::{SocketAddr, TcpListener};

/// A bound, not yet running, pageinspect server.
pub struct Application {
    local_addr: SocketAddr,
    server: Server,
}

impl Application {
    /// Binds `server.listen` (port 0 picks a free port) and prepares the server. Must be called
    /// inside a tokio runtime: probes run on it.
    pub async fn build(config: PageinspectConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.server.listen)
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let local_addr = listener.local_addr()?;
        let state = web::Data::new(AppState::new(&config)?);
        let token = web::Data::new(ServiceToken(config.auth.service_token.clone()));
        let limit = JsonLimit(config.server.max_request_bytes);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(tracing_actix_logger())
                .app_data(state.clone())
                .app_data(token.clone())
                .app_data(limit)
                .configure(routes::configure)
        })
        .listen(listener)?;
        if let Some(workers) = config.server.workers {
            server = server.workers(workers);
        }
        tracing::info!(
            listen = %local_addr,
            location = %config.location,
            max_concurrency = config.probe.max_concurrency,
            max_batch = config.probe.max_batch,
            auth = config.auth.service_token.is_some(),
            "pageinspect listening"
        );
        Ok(Self {
            local_addr,
            server: server.run(),
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

    /// Serves until the server is stopped (a signal, or [`ServerHandle::stop`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Access log: method, path, status and duration; never bodies or headers.
fn tracing_actix_logger() -> actix_web::middleware::Logger {
    actix_web::middleware::Logger::new("%r %s %Dms").log_target("pageinspect::access")
}
