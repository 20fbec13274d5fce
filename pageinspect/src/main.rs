//! `pageinspect`: read config, start telemetry, serve until stopped.

use clap::Parser;
use pageinspect::{Application, PageinspectConfig, cli::Cli};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match PageinspectConfig::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pageinspect: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match shared::telemetry::init(&config.log) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("pageinspect: {e}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "pageinspect failed to start");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "pageinspect stopped with an error");
            ExitCode::FAILURE
        }
    }
}
