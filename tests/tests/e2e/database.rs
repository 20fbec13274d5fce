//! Losing the database is a 503 problem, not a 500 or a hang; readiness says so too.
//! Always on PostgreSQL, where the database can be cut from outside.

use diesel::{Connection, PgConnection, RunQueryDsl};
use has_tests::{TestDb, spawn::test_config, spawn_acmangkut};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_answers_503_problem_json() {
    let base = TestDb::postgres_base();
    let db = TestDb::postgres(&base);
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    app.create_monitor(json!({"name": "m", "probe": {"kind": "tcp", "target": "127.0.0.1:9"}}))
        .await;

    let name = url::Url::parse(&db.url).expect("a URL").path()[1..].to_string();
    tokio::task::spawn_blocking(move || {
        let mut admin = PgConnection::establish(&base).expect("admin connection");
        diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .expect("drop");
    })
    .await
    .expect("cut");

    for path in ["/api/v1/monitors", "/readyz"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body: Value = r.json().await.expect("json");
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/unavailable")),
            "{body}"
        );
    }
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process itself is alive"
    );
    app.handle.kill().await;
}
