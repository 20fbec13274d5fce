//! The documented example configuration loads, and documents every key.

use hasinit::HasinitConfig;
use std::path::Path;

fn example() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/hasinit.example.toml"))
}

#[test]
fn the_example_config_loads_and_matches_the_defaults() {
    let config: HasinitConfig = shared::config::load_with_env(
        &HasinitConfig::defaults(),
        Some(example()),
        Vec::<(String, String)>::new(),
    )
    .expect("hasinit.example.toml loads");
    config.validate().expect("and is valid");
    let defaults = HasinitConfig::defaults();
    assert_eq!(config.acmangkut.url, defaults.acmangkut.url);
    assert_eq!(config.wait.max_seconds, defaults.wait.max_seconds);
    assert_eq!(
        config.wait.initial_backoff_ms,
        defaults.wait.initial_backoff_ms
    );
    assert_eq!(config.admin.username, defaults.admin.username);
    assert_eq!(config.manifest.path, defaults.manifest.path);
    assert_eq!(config.log.dir, defaults.log.dir);
    assert_eq!(config.log.level, defaults.log.level);
    assert_eq!(config.log.stdout, defaults.log.stdout);
}

#[test]
fn the_example_mentions_every_key() {
    let text = std::fs::read_to_string(example()).expect("read");
    let keys = [
        "[acmangkut]",
        "url",
        "token",
        "token_file",
        "[wait]",
        "max_seconds",
        "initial_backoff_ms",
        "[manifest]",
        "path",
        "[admin]",
        "username",
        "password",
        "[log]",
        "dir",
        "level",
        "format",
        "stdout",
        "keep_days",
    ];
    for key in keys {
        assert!(
            text.contains(key),
            "hasinit.example.toml does not mention {key}"
        );
    }
}
