//! pageinspect's API tests: one binary (faster to link), real sockets, real local targets.

mod auth;
mod backpressure;
mod bad_input;
mod batch;
mod dns_probe;
mod egress;
mod health_and_metrics;
mod helpers;
mod http_probe;
mod retries;
mod tcp_probe;
mod tls_probe;
