//! The binary's command line, run as a real process.

use std::io::Write;
use std::process::Command;

fn pageinspect() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pageinspect"));
    cmd.env_remove("HAS_AUTH__SERVICE_TOKEN");
    cmd
}

#[test]
fn help_describes_the_config_flag() {
    let out = pageinspect().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--config"), "{text}");
}

#[test]
fn version_prints_the_crate_version() {
    let out = pageinspect().arg("--version").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn an_unknown_config_key_stops_the_binary_naming_the_key() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "[server]\nlisten = \"127.0.0.1:0\"\nlisen_typo = 1").expect("write");
    let out = pageinspect()
        .arg("--config")
        .arg(file.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lisen_typo"), "{err}");
}

#[test]
fn a_bad_value_stops_the_binary_naming_the_key() {
    let out = pageinspect()
        .env("HAS_PROBE__MAX_BATCH", "lots")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("probe.max_batch"), "{err}");
}
