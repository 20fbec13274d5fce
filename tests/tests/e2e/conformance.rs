//! The OpenAPI document matches the API: schemathesis (PyPI, pinned in
//! `tests/conformance/requirements.txt`; `scripts/test` makes its venv) runs every operation of
//! `/api/openapi.json` against a real acmangkut with every check it has (server errors, status
//! codes, content types, response schemas and headers, negative and positive data, methods,
//! auth, use after delete, links), and must find nothing. `tests/conformance/schemathesis.toml`
//! says which data checks are off for which operations, and why.
//!
//! It signs in with the bootstrap token: the fuzzer deletes users, revokes tokens, unbinds
//! roles and applies IAM manifests, and an API token of a user it can delete would lock it out
//! half-way; the bootstrap token stays valid whatever it does, so no operation is left out.
//! The scheduler, the inspection engine and the execution engine are off: nothing the fuzzer
//! defines is probed, queried, notified or run (its targets are arbitrary hosts).

use has_tests::spawn::BOOTSTRAP_TOKEN;
use has_tests::{TestDb, spawn::test_config, spawn_acmangkut};
use std::process::Command;
use std::time::Instant;

/// Test cases per operation and phase: enough to reach every documented limit, small enough
/// for about two minutes on two cores.
const MAX_EXAMPLES: &str = "25";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_nor_any_mismatch_with_the_document() {
    let st = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/.venv/bin/schemathesis"
    );
    assert!(
        std::path::Path::new(st).exists(),
        "{st} is missing: run ./scripts/test, which installs it"
    );
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    config.plans.enabled = false;
    let app = spawn_acmangkut(config).await;
    let seed = std::env::var("HAS_CONFORMANCE_SEED").unwrap_or_else(|_| "20261207".into());
    let work = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/schemathesis.toml");
    let mut cmd = Command::new(st);
    cmd.current_dir(work.path())
        .args(["--config-file", config, "--no-color", "run"])
        .arg(app.url("/api/openapi.json"))
        .args([
            "--header",
            &format!("Authorization: Bearer {BOOTSTRAP_TOKEN}"),
        ])
        .args([
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            &seed,
            // One worker: with two, hypothesis's lambda-source parsing raced in CPython
            // 3.11's `ast` once ("AST constructor recursion depth mismatch", a CPython bug
            // with threads), an error of the tool rather than of the API.
            "--workers",
            "1",
        ])
        .args(["--generation-database", "none"]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("schemathesis runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}\nschemathesis ran {elapsed:.1?} (seed {seed})");
    app.handle.stop().await;
    assert!(
        out.status.success(),
        "schemathesis found problems (exit {:?}, seed {seed}); see its output above",
        out.status.code()
    );
}
