//! What handlers share. It sits below `api`, `ui` and `iam`, which all reach it: handlers
//! through `iam::Authorized` (public handlers: `web::Data<AppState>`), the IAM middleware
//! and sign-in directly.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Metrics,
    pub config: Arc<Config>,
    pub iam: crate::iam::Iam,
    /// Validates and evaluates inspection checks (sources, commands, pageinspect).
    pub checker: Arc<crate::engine::checks::Checker>,
}
