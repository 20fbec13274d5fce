//! End-to-end: the real acmangkut and pageinspect over real sockets, probing local targets.
//! Runs on SQLite by default and on PostgreSQL when `HAS_TEST_DATABASE_URL` is set.

mod bad_input;
mod browser;
mod browser_probe;
mod conformance;
mod crashes;
mod database;
mod executor;
mod executor_ssh;
mod failover_fixture;
mod hasinit;
mod iam_accounts;
mod iam_audit;
mod iam_routes;
mod iam_switch;
mod iam_switch_callers;
mod iam_tokens;
mod inspection_api;
mod inspection_checks;
mod inspection_config;
mod inspection_forms;
mod inspection_runs;
mod long_heads;
mod monitor_list;
mod monitors;
mod notify_channels;
mod oidc_signin;
mod oidc_tokens;
mod openapi;
mod operations_api;
mod pageinspect_auth;
mod plans;
mod policy;
mod problem_snapshots;
mod replicas;
mod risk_events;
