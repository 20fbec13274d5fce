//! The command line: `pageinspect [--config FILE]`.

use clap::Parser;
use std::path::PathBuf;

/// HAS pageinspect: the stateless probe executor (http, tcp, dns, tls).
///
/// Configuration: built-in defaults < the TOML file given with --config < HAS_… environment
/// variables (HAS_SERVER__LISTEN, HAS_AUTH__SERVICE_TOKEN, …).
#[derive(Debug, Parser)]
#[command(name = "pageinspect", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file (see config.example.toml).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
