//! A request head too long to take (a URL of ~80 KB, a head over actix's 128 KiB) is answered
//! with problem+json naming what is too long, on a fresh or a kept-alive connection, by
//! acmangkut and pageinspect alike; bodies of any size are no head.

use has_tests::{TestDb, spawn::test_config, spawn_acmangkut, spawn_pageinspect};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer read off `stream`: status, content type and body (by `content-length`).
async fn read_answer(stream: &mut TcpStream) -> (u16, String, Value) {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "closed before an answer: {}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let status = head[9..12].parse().expect("status");
    let length: usize = header("content-length").parse().unwrap_or(0);
    while raw.len() < head_end + length {
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "closed inside the body");
        raw.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&raw[head_end..head_end + length]).unwrap_or(Value::Null);
    (status, header("content-type"), body)
}

/// Sends `request` on `stream` and reads the answer.
async fn ask(stream: &mut TcpStream, request: &[u8]) -> (u16, String, Value) {
    stream.write_all(request).await.expect("write");
    read_answer(stream).await
}

fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n{extra_headers}\r\n",
        has_tests::spawn::BOOTSTRAP_TOKEN
    )
    .into_bytes()
}

fn assert_problem(answer: (u16, String, Value), status: u16, field: &str) {
    let (got, ctype, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(ctype, "application/problem+json", "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["field"], field, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("longer") || d.contains("more")),
        "the detail names the limit: {body}"
    );
}

async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_heads_get_problem_json_naming_the_uri_or_the_headers() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    let long_url = format!("/api/v1/monitors?q={}", "x".repeat(80_000));

    // Fresh connections: an 80 KB URL (actix: an empty 400), a 200 KB header (actix: an
    // empty 431), 100 headers (actix takes 96).
    let mut s = connect(&app.address).await;
    assert_problem(ask(&mut s, &get(&long_url, "")).await, 414, "uri");
    let big_header = format!("X-Big: {}\r\n", "y".repeat(200_000));
    let mut s = connect(&app.address).await;
    assert_problem(
        ask(&mut s, &get("/readyz", &big_header)).await,
        431,
        "headers",
    );
    let many: String = (0..100).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let mut s = connect(&app.address).await;
    assert_problem(ask(&mut s, &get("/readyz", &many)).await, 431, "headers");

    // One kept-alive connection: a request with a 100 KB body (no head, however long its
    // line), then a normal one, then the long URL.
    let mut s = connect(&app.address).await;
    let body = format!("{{\"name\": \"{}\"}}", "n".repeat(100_000));
    let post = format!(
        "POST /api/v1/monitors HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        has_tests::spawn::BOOTSTRAP_TOKEN,
        body.len()
    );
    let (status, ctype, answer) = ask(&mut s, post.as_bytes()).await;
    assert_eq!(
        (status, ctype.as_str()),
        (400, "application/problem+json"),
        "the app judged the body: {answer}"
    );
    assert_ne!(answer["field"], "headers", "{answer}");
    let (status, _, _) = ask(&mut s, &get("/api/v1/monitors", "")).await;
    assert_eq!(status, 200, "the connection is still usable");
    assert_problem(ask(&mut s, &get(&long_url, "")).await, 414, "uri");

    // A URL under the limit is still the app's to judge.
    let fine = format!("/api/v1/monitors?q={}", "x".repeat(20_000));
    let mut s = connect(&app.address).await;
    assert_eq!(ask(&mut s, &get(&fine, "")).await.0, 200);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pageinspect_answers_an_over_long_url_with_problem_json() {
    let (url, handle) = spawn_pageinspect(Some("svc-token")).await;
    let mut s = connect(&url).await;
    let long_url = format!("/api/v1/probe?x={}", "x".repeat(80_000));
    assert_problem(ask(&mut s, &get(&long_url, "")).await, 414, "uri");
    handle.stop(true).await;
}
