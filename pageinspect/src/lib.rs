//! pageinspect, the HAS probe executor.
//!
//! Stateless: every probe it runs arrives in a request (`POST /api/v1/probe`,
//! `POST /api/v1/probes:batch`) and its result goes back in the response. Probes are http, tcp,
//! dns and tls, each bounded end to end by its `timeout_ms`, with per-phase timings named as in
//! Prometheus' blackbox_exporter.
//!
//! - [`config`]: the typed configuration ([`config::PageinspectConfig`]).
//! - [`startup`]: [`startup::Application`], built by `main` and by tests on port 0.
//! - [`routes`]: HTTP handlers; [`auth`]: the service-token check of `/api/`.
//! - [`executor`]: back-pressure and batch fan-out; [`probers`]: one module per probe kind.
//! - [`egress`]: the deny list of addresses probes must not reach; [`failure`]: why a probe
//!   failed.
//! - [`browser`]: the pool of headless Chromium processes browser probes run in.
//! - [`metrics`]: the Prometheus metrics.

pub mod auth;
pub mod browser;
pub mod cli;
pub mod config;
pub mod egress;
pub mod executor;
pub mod failure;
pub mod metrics;
pub mod probers;
pub mod routes;
pub mod startup;
pub mod state;

pub use config::PageinspectConfig;
pub use startup::Application;
