//! The crate every HAS binary links: nothing here knows which binary it runs in.
//!
//! - [`config`]: layered, typed configuration (defaults < TOML file < `HAS_…` environment).
//! - [`telemetry`]: tracing to stdout, `app-default.log` and `common-error.log`.
//! - [`problem`]: the one HTTP error type, rendered as `application/problem+json`.
//! - [`extract`]: a JSON extractor whose errors name the offending field.
//! - [`probe`], [`monitor`]: API types both sides of the wire agree on.
//! - [`condition`]: the probe condition language (`[STATUS] == 200`).
//! - [`check`]: checks (probe, PromQL, SQL, command) and their outcomes; [`template`]: `{{ var }}`.
//! - [`client`]: the pageinspect HTTP client acmangkut uses.
//! - [`iam`]: the OpenID Connect client: token verification, browser sign-in, service tokens.

pub mod check;
pub mod client;
pub mod condition;
pub mod config;
pub mod extract;
pub mod iam;
pub mod inspection;
pub mod monitor;
pub mod notify;
pub mod page;
pub mod probe;
pub mod problem;
pub mod secret;
pub mod telemetry;
pub mod template;

pub use problem::{ApiError, ErrorCode};
pub use secret::Secret;
