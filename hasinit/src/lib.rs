//! hasinit, the HAS post-install job: seeds HAS's permission metadata.
//!
//! One run waits for acmangkut's `/readyz`, applies the permission manifest (the embedded
//! default or a file) through `POST /api/v1/iam/manifest:apply` with the bootstrap token, and
//! creates the first admin when no user holds the `admin` role. Idempotent: a second run changes
//! nothing and says so. See docs/hasinit.md and docs/iam.md.
//!
//! - [`config`]: the typed configuration ([`config::HasinitConfig`]).
//! - [`cli`]: the command line.
//! - [`manifest`]: the TOML manifest, its checks and the embedded default.
//! - [`client`]: the acmangkut calls (readyz wait with back-off, apply, users).
//! - [`report`]: what is printed on stdout.
//! - [`exit`]: the exit codes and which error ends with which.
//! - [`run`]: one run, in order.

pub mod cli;
pub mod client;
pub mod config;
pub mod exit;
pub mod manifest;
pub mod password;
pub mod report;
pub mod run;

pub use config::HasinitConfig;
pub use exit::{Error, Exit};
pub use run::{Options, run};
