//! What crosses a process boundary between the HAS binaries; nothing here knows which binary it
//! runs in.
//!
//! - [`config`]: layered, typed configuration (defaults < TOML file < `HAS_…` environment).
//! - [`telemetry`]: tracing to stdout, `app-default.log` and `common-error.log`.
//! - [`problem`]: the one HTTP error type, rendered as `application/problem+json`.
//! - [`extract`]: JSON bodies parsed with errors that name the offending field (and, with the
//!   `actix` feature, the `Json` extractor).
//! - [`probe`], [`monitor`], [`inspection`], [`notify`], [`page`]: API types both sides of the
//!   wire agree on.
//! - [`condition`]: the probe condition language (`[STATUS] == 200`) and its results.
//! - [`action`]: actions (http, command, ssh) that plans and drills run through acmangkut's
//!   executor.
//! - [`operation`]: atomic operations (原子操作): typed parameters, `do`/`undo` actions, the
//!   lifecycle draft → published → deprecated.
//! - [`plan`]: disaster-recovery plan documents (stages, steps, parameters, targets).
//! - [`drill`]: fault drill documents (targets, blast radius, steady state, stop conditions,
//!   faults) and the views of their runs.
//! - [`execution`]: executions of disaster-recovery plans: the resolved plan they run, their
//!   states and views.
//! - [`chaostoolkit`]: Chaos Toolkit experiments (JSON, YAML), tolerances and journals.
//! - [`check`]: checks (probe, PromQL, SQL, command) and their outcomes; [`template`]: `{{ var }}`.
//! - [`permissions`]: the permission catalog and the built-in roles (acmangkut enforces them,
//!   hasinit seeds them).
//! - [`pageinspect_client`]: the pageinspect HTTP client acmangkut uses.
//! - [`oidc`]: the OpenID Connect client: token verification, browser sign-in, service tokens.
//! - [`outbound`]: the one builder of HTTP clients: marks HAS's requests, never calls itself.
//!
//! Features: `actix` (the HTTP server side: `ApiError` as an actix response, the `Json`
//! extractor, [`serve`]; acmangkut and pageinspect, not hasinit).

pub mod action;
pub mod chaostoolkit;
pub mod check;
pub mod condition;
pub mod config;
pub mod drill;
mod error_chain;
pub mod execution;
pub mod extract;
pub mod inspection;
pub mod monitor;
pub mod notify;
pub mod oidc;
pub mod operation;
pub mod outbound;
pub mod page;
pub mod pageinspect_client;
pub mod permissions;
pub mod plan;
pub mod probe;
pub mod problem;
pub mod schedule;
pub mod secret;
#[cfg(feature = "actix")]
pub mod serve;
pub mod telemetry;
pub mod template;

pub use problem::{ApiError, ErrorCode};
pub use secret::Secret;
