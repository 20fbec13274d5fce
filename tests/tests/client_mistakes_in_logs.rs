//! A client's mistakes are not errors of the service: a burst of malformed, unauthenticated,
//! refused and unknown requests leaves `common-error.log` empty (anyone who reaches the port
//! could otherwise fill it), while the default log still records them. A test binary of its own
//! for the reason given in `has_tests::logged`.

use has_tests::TestDb;
use has_tests::logged::start_logging_to_files;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_bad_requests_writes_no_error_line() {
    let db = TestDb::new();
    let (logs, guard, app) = start_logging_to_files(&db, |c| c.server.max_body_bytes = 4096).await;

    let long_query = "x".repeat(20_000);
    let mut statuses = std::collections::BTreeSet::new();
    for i in 0..100 {
        let anonymous = &app.anonymous;
        let requests = [
            anonymous.get(app.url("/api/v1/monitors")),
            anonymous
                .post(app.url("/api/v1/auth/login"))
                .body("{not json"),
            app.http
                .post(app.url("/api/v1/monitors"))
                .header("Content-Type", "application/json")
                .body(format!("{{\"name\": {i}")),
            app.http
                .post(app.url("/api/v1/monitors"))
                .header("Content-Type", "application/json")
                .body("x".repeat(10_000)),
            app.http.get(app.url(&format!("/api/v1/monitors/{i}x"))),
            app.http.get(app.url("/api/v1/monitors?per_page=0")),
            app.http
                .get(app.url(&format!("/api/v1/monitors?state={long_query}"))),
            anonymous.get(app.url(&format!("/nothing/{i}"))),
        ];
        for r in requests {
            let status = r.send().await.expect("request").status().as_u16();
            assert!((400..500).contains(&status), "a client error: {status}");
            statuses.insert(status);
        }
    }
    app.handle.stop().await;
    drop(guard);

    let errors = std::fs::read_to_string(logs.path().join("common-error.log")).unwrap_or_default();
    assert_eq!(
        errors, "",
        "800 client mistakes are no error of the service"
    );
    let default_log =
        std::fs::read_to_string(logs.path().join("app-default.log")).expect("default log");
    assert!(default_log.contains("acmangkut listening"), "{default_log}");
    assert!(
        statuses.len() >= 4,
        "several kinds of refusal were tried: {statuses:?}"
    );
}
