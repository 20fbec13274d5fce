//! `hasinit`: read config, start telemetry, run once, exit with a code that says how it went.

use clap::Parser;
use hasinit::{Exit, HasinitConfig, Options, cli::Cli};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match HasinitConfig::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hasinit: {e}");
            return Exit::BadInput.into();
        }
    };
    let _telemetry = match shared::telemetry::init(&config.log) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("hasinit: {e}");
            return Exit::BadInput.into();
        }
    };
    let options = Options {
        manifest: cli.manifest,
        dry_run: cli.dry_run,
    };
    match hasinit::run(&config, &options, &mut std::io::stdout()).await {
        Ok(()) => Exit::Done.into(),
        Err(e) => {
            let exit = e.exit();
            tracing::error!(error = %e, exit_code = exit.code(), "hasinit failed");
            eprintln!("hasinit: {e}");
            exit.into()
        }
    }
}
