//! acmangkut started as `main` starts it, with its log files: the process-wide subscriber of
//! `shared::telemetry::init` first, then `Application::build`. A test binary doing this holds
//! one such test (the subscriber is installed once per process; nextest runs a process per test
//! and `cargo test` one per binary).

use crate::spawn::{BOOTSTRAP_TOKEN, TestApp, bearer_client};
use std::time::Duration;

/// Starts acmangkut with `config` (telemetry already initialised by the caller); a [`TestApp`]
/// for it.
pub async fn start_like_main(config: acmangkut::Config) -> TestApp {
    let app = acmangkut::Application::build(config.clone())
        .await
        .expect("acmangkut starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let anonymous = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        http: bearer_client(BOOTSTRAP_TOKEN),
        anonymous,
        handle,
        config,
    }
}
