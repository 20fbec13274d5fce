//! What handlers share, and the one way they reach it: [`Authorized<perm::X>`], which checks
//! the caller's permission first (public handlers: `web::Data<AppState>`). It sits below `api`
//! and `ui` and above `engine`, `iam` and `store`: IAM's middleware reads only [`crate::iam::Iam`].

mod authorized;

pub use authorized::{Authorized, Guarded, needs};

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
    /// Runs actions; plans ask it whether what they would run is allowed.
    pub executor: Arc<crate::engine::executor::Executor>,
}

impl AppState {
    /// What plan evaluation and previews consult besides the database.
    pub fn plan_context(&self) -> crate::engine::plans::Context {
        crate::engine::plans::Context {
            executor: self.executor.clone(),
            checker: self.checker.clone(),
        }
    }
}
