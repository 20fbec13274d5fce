//! The documented example configuration loads, sets the defaults and documents every key.

use hasinit::HasinitConfig;
use std::path::Path;

#[test]
fn the_example_config_loads_sets_the_defaults_and_mentions_every_key() {
    let example = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/hasinit.example.toml"));
    let defaults = HasinitConfig::defaults();
    shared::config::check_example(&defaults, example).unwrap_or_else(|e| panic!("{e}"));
    defaults.validate().expect("and it is valid");
}
