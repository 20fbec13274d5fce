//! acmangkut started as `main` starts it, with its log files: the process-wide subscriber of
//! `shared::telemetry::init` first, then `Application::build`. A test binary doing this holds
//! one such test (the subscriber is installed once per process; nextest runs a process per test
//! and `cargo test` one per binary).

use crate::TestDb;
use crate::spawn::{BOOTSTRAP_TOKEN, TestApp, bearer_client, test_config};
use shared::telemetry::{LogFormat, TelemetryGuard};
use std::time::Duration;

/// acmangkut on `db` (scheduler off) logging at debug, as text, into a fresh folder only, with
/// the process-wide subscriber of `main`; `tweak` changes the config before it starts. Keep
/// the folder and the guard (it flushes the files) while reading them.
pub async fn start_logging_to_files(
    db: &TestDb,
    tweak: impl FnOnce(&mut acmangkut::Config),
) -> (tempfile::TempDir, TelemetryGuard, TestApp) {
    let logs = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.log.dir = logs.path().to_path_buf();
    config.log.level = "debug".into();
    config.log.format = LogFormat::Text;
    config.log.stdout = false;
    tweak(&mut config);
    let guard = shared::telemetry::init(&config.log).expect("telemetry starts");
    (logs, guard, start_like_main(config).await)
}

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
