//! The real database failover driven by a plan execution over HTTP: a PostgreSQL primary and
//! its streaming standby behind nginx, and a service writing through nginx (the fixture of
//! `failover_fixture`), and a real acmangkut with the operations of `deploy/operations`
//! published in its catalog. The saved plan gates on the standby's lag (an SQL check) and an
//! approval, fences the primary, promotes the standby, switches the proxy, and gates on a
//! write through the proxy. The starter cannot approve (four eyes), a second admin does, and
//! the execution succeeds with its RTO recorded; when the standby is lost before the promote,
//! the execution rolls back and the old primary serves writes again.

use acmangkut::config::{AllowedCommand, DataSource, RestrictedCommand};
use has_tests::failover::{Writer, allowed_commands, operations, operations_dir};
use has_tests::pg_pair::{LAG_SQL, PgPair};
use has_tests::spawn::{Session, test_config};
use has_tests::tcp_proxy::TcpProxy;
use has_tests::{TestApp, TestDb, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};
use shared::Secret;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PASSWORD: &str = "failover-password";
/// The lag the gate allows, in seconds.
const MAX_LAG_SECONDS: u32 = 5;
/// The execution's recorded RTO, at most.
const MAX_RTO: Duration = Duration::from_secs(30);

/// The pair, the proxy in front of its primary, the writer behind the proxy, and acmangkut
/// with the scripts allowed, the standby as an SQL source and the catalog published; `ada`
/// and `adam` are admins.
struct Fixture {
    pair: PgPair,
    proxy: TcpProxy,
    writer: Writer,
    app: TestApp,
    http: reqwest::Client,
    _db: TestDb,
}

impl Fixture {
    async fn start() -> Self {
        let pair = PgPair::start();
        let proxy = TcpProxy::start(&pair.primary.address());
        let url = format!("postgres://postgres@{}/postgres", proxy.address());
        let writer = Writer::start(&url).await;
        let db = TestDb::new();
        let mut config = test_config(&db, "http://127.0.0.1:9");
        config.scheduler.enabled = false;
        config.inspection.enabled = false;
        config.plans.tick_ms = 50;
        let mut commands = allowed_commands();
        // The last gate writes through the proxy: a request to the writer's /write.
        let curl = RestrictedCommand {
            path: "/usr/bin/curl".into(),
            args: vec![
                "-fsS".into(),
                r"http://127\.0\.0\.1:[0-9]{1,5}/write".into(),
            ],
        };
        commands.insert("curl".into(), AllowedCommand::Restricted(curl));
        config.inspection.commands = commands;
        let standby = DataSource {
            url: Secret::new(pair.standby.url()),
            max_rows: 10,
        };
        config.inspection.datasources = BTreeMap::from([("standby".to_string(), standby)]);
        let app = spawn_acmangkut(config).await;
        for user in ["ada", "adam"] {
            app.create_user(user, PASSWORD, &["admin"]).await;
        }
        publish_operations(&app).await;
        Self {
            pair,
            proxy,
            writer,
            app,
            http: reqwest::Client::new(),
            _db: db,
        }
    }

    /// Saves the failover plan; its id.
    async fn save_plan(&self) -> i64 {
        let (primary, standby) = (&self.pair.primary, &self.pair.standby);
        let data = |n: &has_tests::pg_pair::Node| n.data.display().to_string();
        let op = |name: &str, code: &str, params: Value| {
            json!({"name": name, "operation": {"code": code, "params": params},
                   "on_failure": "rollback"})
        };
        let lag = json!({"name": "standby lag", "timeout": "30s", "check": {
            "retry_interval": "1s",
            "gate": {"check": "sql", "source": "standby", "query": LAG_SQL,
                     "condition": format!("< {MAX_LAG_SECONDS}")}}});
        let approve = json!({"name": "approve", "approval": {"roles": ["admin"]}});
        let fence = op(
            "fence",
            "db.fence-primary",
            json!({"data_dir": data(primary)}),
        );
        let promote = op(
            "promote",
            "db.promote-standby",
            json!({"data_dir": data(standby)}),
        );
        let switch = op(
            "switch",
            "proxy.switch-upstream",
            json!({"upstream_file": self.proxy.upstream.display().to_string(),
                   "nginx_conf": self.proxy.conf.display().to_string(),
                   "to": standby.address(), "from": primary.address()}),
        );
        let written = json!({"name": "a write through the proxy", "timeout": "30s", "check": {
            "retry_interval": "1s",
            "gate": {"check": "command", "command": "curl",
                     "args": ["-fsS", self.writer.url()],
                     "stdout_contains": format!("\"server_port\":{}", standby.port)}}});
        let doc = json!({"name": "db failover", "rto_objective": "5m", "stages": [
            {"name": "check", "steps": [lag, approve]},
            {"name": "fence", "steps": [fence]},
            {"name": "promote", "steps": [promote]},
            {"name": "switch", "steps": [switch]},
            {"name": "verify", "steps": [written]}
        ]});
        let r = self.app.post_json("/api/v1/plans", &doc).await;
        let made: Value = r.json().await.expect("json");
        made["id"].as_i64().unwrap_or_else(|| panic!("{made}"))
    }

    /// Starts plan `pid` as `ada`, waits until it asks for an approval, and checks that the
    /// starter cannot give it; the execution's id and `adam`'s session.
    async fn start_until_approval(&self, pid: i64) -> (i64, Session) {
        let ada = self.app.sign_in("ada", PASSWORD).await;
        let path = format!("/api/v1/plans/{pid}/executions");
        let r = ada.post_json(&path, &json!({"comment": "drill"})).await;
        assert_eq!(r.status(), 201);
        let started: Value = r.json().await.expect("json");
        let id = started["id"].as_i64().expect("id");
        let view = self.until(id, "waiting_approval").await;
        assert_eq!(view["started_by"], "ada", "{view}");
        let r = approve(&ada, id, "me myself").await;
        assert_eq!(r.status(), 403, "four eyes: the starter cannot approve");
        (id, self.app.sign_in("adam", PASSWORD).await)
    }

    /// The execution once its step `step` is `state` (`None`: the execution is).
    async fn until_step(&self, id: i64, step: Option<usize>, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let view = self.app.get_json(&format!("/api/v1/executions/{id}")).await;
            let now = match step {
                Some(i) => &view["steps"][i]["state"],
                None => &view["state"],
            };
            if now == state {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "never {state}: {view}\nproxy: {}",
                self.proxy.errors()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn until(&self, id: i64, state: &str) -> Value {
        self.until_step(id, None, state).await
    }
}

/// Creates and publishes the operations of `deploy/operations/operations.json`.
async fn publish_operations(app: &TestApp) {
    for op in operations().into_values() {
        let parameters: Vec<Value> = op
            .parameters
            .iter()
            .map(|p| json!({"name": p, "type": "string", "required": true}))
            .collect();
        let body = json!({"code": op.code, "name": op.name, "description": op.description,
            "kind": "plan", "parameters": parameters, "do": op.act, "undo": op.undo});
        let r = app.post_json("/api/v1/operations", &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let publish = format!("/api/v1/operations/{}/publish", op.code);
        let r = app.post_json(&publish, &Value::Null).await;
        assert_eq!(r.status(), 200, "{}", op.code);
    }
}

async fn approve(session: &Session, id: i64, comment: &str) -> reqwest::Response {
    session
        .request(Method::POST, &format!("/api/v1/executions/{id}/approve"))
        .json(&json!({"comment": comment}))
        .send()
        .await
        .expect("POST")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_plan_over_http_moves_writes_to_the_standby_within_the_rto() {
    let f = Fixture::start().await;
    let (primary, standby) = (&f.pair.primary, &f.pair.standby);
    assert_eq!(f.writer.write(&f.http).await, Ok(primary.port));
    let pid = f.save_plan().await;
    let (id, adam) = f.start_until_approval(pid).await;
    let r = approve(&adam, id, "lag below the bound").await;
    assert_eq!(r.status(), 200);

    let view = f.until(id, "succeeded").await;
    let states: Vec<&Value> = view["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| &s["state"])
        .collect();
    assert!(states.iter().all(|s| *s == "succeeded"), "{view}");
    assert_eq!(
        f.writer.write(&f.http).await,
        Ok(standby.port),
        "a write through the proxy lands on the former standby"
    );
    assert_eq!(f.pair.in_recovery(standby), Ok(false), "promoted");
    let rto = view["rto_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no RTO: {view}"));
    eprintln!("failover plan over HTTP: recorded RTO {rto} ms");
    assert!(Duration::from_millis(rto) < MAX_RTO, "{rto} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_plan_over_http_rolls_back_when_the_promote_fails() {
    let f = Fixture::start().await;
    let (primary, standby) = (&f.pair.primary, &f.pair.standby);
    let pid = f.save_plan().await;
    let (id, adam) = f.start_until_approval(pid).await;
    f.until_step(id, Some(0), "succeeded").await;
    // The standby is lost after the lag gate passed: the promote has nothing to promote.
    let stopped = std::process::Command::new(operations_dir().join("pg-fence.sh"))
        .arg(&standby.data)
        .status()
        .expect("run pg-fence.sh");
    assert!(stopped.success(), "the standby stopped");
    let r = approve(&adam, id, "go").await;
    assert_eq!(r.status(), 200);

    let view = f.until(id, "rolled_back").await;
    let by_name = |name: &str| {
        view["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {view}"))["state"]
            .clone()
    };
    assert_eq!(by_name("promote"), "failed", "{view}");
    assert_eq!(f.pair.in_recovery(primary), Ok(false));
    let port = has_tests::eventually(Duration::from_secs(30), "a write", || async {
        f.writer.write(&f.http).await.ok()
    })
    .await;
    assert_eq!(port, primary.port, "the old primary serves writes again");
}
