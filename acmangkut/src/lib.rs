//! acmangkut, the HAS core: monitors, their scheduler, the store, the API and the console.
//!
//! - [`api`]: HTTP handlers, one module per resource.
//! - [`ui`]: the server-rendered browser console.
//! - [`engine`]: background work (scheduler, retention, metric log) and its pure rules.
//! - [`store`]: diesel schema, rows and queries for SQLite and PostgreSQL.
//! - [`state`]: what handlers share (store, metrics, config, IAM), below `api`, `ui`, `iam`.
//! - [`iam`]: sign-in, permissions, the audit trail's actors and the IAM emergency switch.

pub mod api;
pub mod cli;
pub mod config;
pub mod engine;
pub mod iam;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod store;
pub mod ui;

pub use config::Config;
pub use startup::{Application, Handle};
