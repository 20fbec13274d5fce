//! acmangkut, the HAS core: monitors, their scheduler, the store, the API and the console.
//!
//! - [`api`]: HTTP handlers, one module per resource.
//! - [`ui`]: the server-rendered browser console.
//! - [`engine`]: background work (scheduler, retention, metric log) and its pure rules.
//! - [`store`]: diesel schema, rows and queries for SQLite and PostgreSQL.
//! - [`problem`]: store and engine errors as problem+json, at the HTTP edge only.
//! - [`state`]: what handlers share, and `Authorized<perm::X>`, the one way they reach it.
//! - [`iam`]: sign-in, permissions, the audit trail's actors and the IAM emergency switch.

pub mod api;
pub mod cli;
pub mod config;
pub mod engine;
pub mod iam;
pub mod metrics;
pub mod problem;
pub mod startup;
pub mod state;
pub mod store;
pub mod ui;

pub use config::Config;
pub use startup::{Application, Handle};
