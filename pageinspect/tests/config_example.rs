//! The documented example configuration loads, and documents every key.

use pageinspect::PageinspectConfig;
use std::path::Path;

fn example() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
}

#[test]
fn the_example_config_loads_and_matches_the_defaults() {
    let config: PageinspectConfig = shared::config::load_with_env(
        &PageinspectConfig::defaults(),
        Some(example()),
        Vec::<(String, String)>::new(),
    )
    .expect("config.example.toml loads");
    config.validate().expect("and is valid");
    let defaults = PageinspectConfig::defaults();
    assert_eq!(config.server.listen, defaults.server.listen);
    assert_eq!(config.probe.max_batch, defaults.probe.max_batch);
    assert_eq!(config.probe.max_concurrency, defaults.probe.max_concurrency);
    assert_eq!(config.probe.max_body_bytes, defaults.probe.max_body_bytes);
    assert_eq!(config.location, defaults.location);
}

#[test]
fn the_example_mentions_every_key() {
    let text = std::fs::read_to_string(example()).expect("read");
    let keys = [
        "location",
        "[server]",
        "listen",
        "workers",
        "max_request_bytes",
        "[probe]",
        "max_batch",
        "max_concurrency",
        "max_body_bytes",
        "default_user_agent",
        "[auth]",
        "service_token",
        "[egress]",
        "deny_cidrs",
        "[browser]",
        "enabled",
        "executable",
        "pool_size",
        "max_concurrent_pages",
        "recycle_after",
        "secrets_dir",
        "max_screenshot_bytes",
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
            "config.example.toml does not mention {key}"
        );
    }
}
