use acmangkut::{Application, Config, cli::Cli};
use clap::Parser;
use std::process::ExitCode;

// JSON responses allocate many small strings; mimalloc halves the allocator's share of a request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("acmangkut: {e}");
            return ExitCode::from(2);
        }
    };
    let _guard = match shared::telemetry::init(&config.log) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("acmangkut: {e}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "acmangkut failed to start");
            eprintln!("acmangkut: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "acmangkut stopped with an error");
            ExitCode::FAILURE
        }
    }
}
