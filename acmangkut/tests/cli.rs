//! The binary's command line: help, version, and config errors that name the key.

use std::process::Command;

fn acmangkut() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acmangkut"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HAS_")) {
        c.env_remove(k);
    }
    c
}

#[test]
fn help_and_version_work() {
    let help = acmangkut().arg("--help").output().expect("runs");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--config"), "{text}");
    let version = acmangkut().arg("--version").output().expect("runs");
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unknown_key_in_the_environment_stops_the_start_and_is_named() {
    let out = acmangkut()
        .env("HAS_SERVER__LISTN", "127.0.0.1:0")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listn"), "{err}");
}

#[test]
fn a_bad_value_in_the_file_is_named_by_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("has.toml");
    std::fs::write(&file, "[scheduler]\nlease_seconds = \"soon\"\n").expect("write");
    let out = acmangkut()
        .arg("--config")
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scheduler.lease_seconds"), "{err}");
}

#[test]
fn an_unknown_database_scheme_is_refused_and_creates_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = acmangkut()
        .current_dir(dir.path())
        .env("HAS_DATABASE__URL", "mysql://localhost/has")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database.url") && err.contains("mysql"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "no file was created"
    );
}

#[test]
fn the_secret_database_url_never_prints_in_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = acmangkut()
        .current_dir(dir.path())
        .env(
            "HAS_DATABASE__URL",
            "postgres://has:s3cr3tpw@127.0.0.1:1/has",
        )
        .env("HAS_LOG__DIR", "")
        .env("HAS_SERVER__LISTEN", "127.0.0.1:0")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cr3tpw"), "{all}");
}
