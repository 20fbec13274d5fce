//! The real binary, stopped with SIGTERM after browser probes, leaves nothing in its temp
//! directory: no Chromium profile, no browser temp files.

use crate::helpers::spawn_site;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The entries of `dir` (names), sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read temp dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits up to `limit` for `child` to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test]
async fn a_stopped_pageinspect_leaves_no_browser_profile_behind() {
    let site = spawn_site().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pageinspect"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TMPDIR", tmp.path())
        .env("HAS_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("HAS_AUTH__ALLOW_ANONYMOUS", "true")
        .env("HAS_LOG__DIR", "")
        .env("HAS_LOG__STDOUT", "false")
        .env("HAS_BROWSER__POOL_SIZE", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pageinspect starts");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "pageinspect answers /healthz");
    // Two at once, so that both browsers of the pool start.
    let spec = json!({ "kind": "browser", "target": site.url("/healthy"), "timeout_ms": 15000 });
    let batch = json!({ "probes": [spec.clone(), spec] });
    let answer: serde_json::Value = client
        .post(format!("{base}/api/v1/probes:batch"))
        .json(&batch)
        .send()
        .await
        .expect("pageinspect answers")
        .json()
        .await
        .expect("json");
    let results = answer["results"].as_array().expect("results");
    assert!(results.iter().all(|r| r["success"] == true), "{answer:#}");
    assert!(
        !entries(tmp.path()).is_empty(),
        "the browsers keep their profiles in TMPDIR while running"
    );

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = wait_exit(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
    }
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(entries(tmp.path()), Vec::<String>::new(), "left in TMPDIR");
}
