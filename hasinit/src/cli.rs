//! The command line: `hasinit [--config FILE] [--manifest FILE] [--dry-run]`.

use clap::Parser;
use std::path::PathBuf;

/// HAS hasinit: the one-shot post-install job that seeds HAS's permission metadata.
///
/// Waits for acmangkut's /readyz, applies the permission manifest (permissions, roles,
/// bindings) with the bootstrap token, and creates the first admin when none exists.
///
/// Configuration: built-in defaults < the TOML file given with --config < HAS_… environment
/// variables (HAS_ACMANGKUT__URL, HAS_ACMANGKUT__TOKEN, HAS_ADMIN__PASSWORD, …).
///
/// Exit codes: 0 done; 1 anything else; 2 bad config or manifest; 3 acmangkut not ready
/// within wait.max_seconds; 4 bootstrap token rejected.
#[derive(Debug, Parser)]
#[command(name = "hasinit", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file (see hasinit.example.toml).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Manifest to apply instead of the embedded default (overrides manifest.path).
    #[arg(short, long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Print what would change, write nothing (no manifest change, no admin created).
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
