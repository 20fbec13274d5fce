//! Command line: `acmangkut [--config FILE]`.

use clap::Parser;
use std::path::PathBuf;

/// HAS core: monitors, inspections, drills and plans, with their API and browser console.
#[derive(Debug, Parser)]
#[command(name = "acmangkut", version, about, long_about = None)]
pub struct Cli {
    /// TOML config file; environment variables HAS_… override it.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
