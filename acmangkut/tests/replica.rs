//! One replica, one name: the scheduler leases monitors under the name the application
//! reports, the same value it hands to the inspection engine (they once generated a random
//! suffix each, so one replica showed under two names).

use acmangkut::store::schema::monitors;
use acmangkut::store::{Store, monitors as monitor_rows};
use acmangkut::{Application, Config};
use diesel::prelude::*;
use shared::Secret;
use shared::monitor::MonitorInput;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_leases_under_the_replica_name_the_application_reports() {
    // Arrange: a pageinspect that accepts connections and never answers, so a claimed monitor
    // keeps its lease for the probe's whole timeout; no replica_id, so the name is generated.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let db = has_test_db::TestDb::new();
    let url = db.url.clone();
    let mut config = Config::default();
    config.database.url = Secret::new(url.clone());
    config.metric_log.dir = "".into();
    config.log.dir = "".into();
    config.server.listen = "127.0.0.1:0".into();
    config.server.workers = 1;
    config.scheduler.replica_id = String::new();
    config.scheduler.tick_ms = 20;
    config.pageinspect.url = format!("http://{}", silent.local_addr().expect("addr"));
    let app = Application::build(config).await.expect("app builds");
    let replica = app.replica().to_string();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let store = Store::open(&url, 1, 5_000).expect("store");
    let input: MonitorInput = serde_json::from_value(serde_json::json!({
        "name": "m", "probe": {"kind": "tcp", "target": "127.0.0.1:9", "timeout_ms": 20000}
    }))
    .expect("input");
    let actor = acmangkut::store::audit::Actor {
        name: "test".into(),
        kind: "user",
        peer: "127.0.0.1".into(),
    };
    store
        .run(move |c| monitor_rows::create(c, &actor, &input))
        .await
        .expect("create");

    // Act: wait for the scheduler to claim the monitor.
    let deadline = Instant::now() + Duration::from_secs(15);
    let owner = loop {
        let owner = store
            .run(|c| {
                acmangkut::db!(c, |c| monitors::table
                    .select(monitors::lease_owner)
                    .first::<Option<String>>(c))
            })
            .await
            .expect("read the lease");
        if let Some(owner) = owner {
            break owner;
        }
        assert!(Instant::now() < deadline, "the monitor was never claimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Assert
    assert_eq!(owner, replica);
    assert!(!replica.is_empty());
    handle.kill().await;
}
